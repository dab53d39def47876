// A load driver shaped like an integration of ZOLOZ's official Java SDK (`OpenApiClient` with
// signed = true, plain bodies): what a merchant runs when it calls ZOLOZ itself instead of this
// service. Per call, as the SDK does: the keys are decoded from their Base64 text, the content
// "POST <path>\n<clientId>.<Request-Time>.<body>" is signed with SHA256withRSA, the request goes
// out over HttpURLConnection with Client-Id / Request-Time / Signature / Content-Type, the body
// is read line by line, and the answer's Signature is verified over
// "POST <path>\n<clientId>.<Response-Time>.<body>". A call counts only when the answer is
// HTTP 200 with a valid signature and resultStatus S.
//
// `cargo bench --bench service -- --peer` compiles and runs it (BENCHMARKS.md). Usage:
//   java SdkShapedLoad BASE_URL CLIENT_ID MERCHANT_PRIVATE_PEM ZOLOZ_PUBLIC_PEM THREADS WARMUP_S SECONDS
// It prints "measuring" when the warm-up ends and, at the end, one line
// "done calls=N errors=N p50_us=N".

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

public final class SdkShapedLoad {
    private static final String PATH = "/api/v1/zoloz/connect/checkresult";
    private static final DateTimeFormatter WIRE_TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ssZ");

    private final String baseUrl;
    private final String clientId;
    private final String merchantPrivateKey;
    private final String zolozPublicKey;

    private SdkShapedLoad(String baseUrl, String clientId, String merchantPrivateKey, String zolozPublicKey) {
        this.baseUrl = baseUrl;
        this.clientId = clientId;
        this.merchantPrivateKey = merchantPrivateKey;
        this.zolozPublicKey = zolozPublicKey;
    }

    /** The Base64 body of a PEM file, as the SDK takes keys (one string, no armour). */
    private static String base64Key(String file) throws Exception {
        StringBuilder key = new StringBuilder();
        for (String line : Files.readAllLines(Path.of(file))) {
            if (!line.startsWith("-----")) {
                key.append(line.trim());
            }
        }
        return key.toString();
    }

    private String sign(String content) throws Exception {
        KeyFactory factory = KeyFactory.getInstance("RSA");
        byte[] der = Base64.getDecoder().decode(merchantPrivateKey);
        Signature signer = Signature.getInstance("SHA256withRSA");
        signer.initSign(factory.generatePrivate(new PKCS8EncodedKeySpec(der)));
        signer.update(content.getBytes(StandardCharsets.UTF_8));
        return Base64.getEncoder().encodeToString(signer.sign());
    }

    private boolean verify(String content, String signature) throws Exception {
        KeyFactory factory = KeyFactory.getInstance("RSA");
        byte[] der = Base64.getDecoder().decode(zolozPublicKey);
        Signature verifier = Signature.getInstance("SHA256withRSA");
        verifier.initVerify(factory.generatePublic(new X509EncodedKeySpec(der)));
        verifier.update(content.getBytes(StandardCharsets.UTF_8));
        return verifier.verify(Base64.getDecoder().decode(signature));
    }

    /** The value of `name=` in a header such as `algorithm=RSA256, signature=…`. */
    private static String part(String header, String name) {
        for (String pair : header.split(",")) {
            String[] kv = pair.trim().split("=", 2);
            if (kv.length == 2 && kv[0].trim().equals(name)) {
                return kv[1].trim();
            }
        }
        return null;
    }

    /** One checkresult call; true when the answer is signed, valid and successful. */
    private boolean call(String transactionId) throws Exception {
        String body = "{\"bizId\":\"peer\",\"transactionId\":\"" + transactionId + "\",\"isReturnImage\":\"N\"}";
        String requestTime = ZonedDateTime.now().format(WIRE_TIME);
        String signature = sign("POST " + PATH + "\n" + clientId + "." + requestTime + "." + body);
        HttpURLConnection conn = (HttpURLConnection) URI.create(baseUrl + PATH).toURL().openConnection();
        conn.setRequestMethod("POST");
        conn.setRequestProperty("Content-Type", "application/json; charset=UTF-8");
        conn.setRequestProperty("Client-Id", clientId);
        conn.setRequestProperty("Request-Time", requestTime);
        conn.setRequestProperty("Signature",
                "algorithm=RSA256, signature=" + URLEncoder.encode(signature, StandardCharsets.UTF_8));
        conn.setDoOutput(true);
        try (OutputStreamWriter out = new OutputStreamWriter(conn.getOutputStream(), StandardCharsets.UTF_8)) {
            out.write(body);
        }
        if (conn.getResponseCode() != 200) {
            return false;
        }
        StringBuilder answer = new StringBuilder();
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(conn.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                answer.append(line);
            }
        }
        Map<String, List<String>> headers = conn.getHeaderFields();
        List<String> signed = headers.get("Signature");
        List<String> responseTime = headers.get("Response-Time");
        if (signed == null || responseTime == null) {
            return false;
        }
        String value = part(signed.get(0), "signature");
        if (value == null) {
            return false;
        }
        String content = "POST " + PATH + "\n" + clientId + "." + responseTime.get(0) + "." + answer;
        return verify(content, URLDecoder.decode(value, StandardCharsets.UTF_8))
                && answer.indexOf("\"resultStatus\":\"S\"") >= 0;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 7) {
            System.err.println("usage: SdkShapedLoad BASE_URL CLIENT_ID MERCHANT_PRIVATE_PEM ZOLOZ_PUBLIC_PEM THREADS WARMUP_S SECONDS");
            System.exit(2);
        }
        SdkShapedLoad client = new SdkShapedLoad(args[0], args[1], base64Key(args[2]), base64Key(args[3]));
        int threads = Integer.parseInt(args[4]);
        long warmupNanos = Long.parseLong(args[5]) * 1_000_000_000L;
        long measureNanos = Long.parseLong(args[6]) * 1_000_000_000L;
        AtomicBoolean measuring = new AtomicBoolean(false);
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicLong calls = new AtomicLong();
        AtomicLong errors = new AtomicLong();
        AtomicLong next = new AtomicLong();
        List<List<Long>> latencies = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        String run = Long.toString(System.nanoTime(), 36);
        for (int t = 0; t < threads; t++) {
            List<Long> mine = new ArrayList<>();
            latencies.add(mine);
            Thread worker = new Thread(() -> {
                while (!stop.get()) {
                    long started = System.nanoTime();
                    boolean ok;
                    try {
                        ok = client.call("peer-" + run + "-" + next.incrementAndGet());
                    } catch (Exception e) {
                        ok = false;
                    }
                    if (measuring.get()) {
                        if (ok) {
                            calls.incrementAndGet();
                            mine.add((System.nanoTime() - started) / 1000);
                        } else {
                            errors.incrementAndGet();
                        }
                    }
                }
            });
            worker.start();
            workers.add(worker);
        }
        Thread.sleep(warmupNanos / 1_000_000L);
        measuring.set(true);
        System.out.println("measuring");
        System.out.flush();
        Thread.sleep(measureNanos / 1_000_000L);
        measuring.set(false);
        System.out.println("measured");
        System.out.flush();
        stop.set(true);
        for (Thread worker : workers) {
            worker.join();
        }
        List<Long> all = new ArrayList<>();
        for (List<Long> mine : latencies) {
            all.addAll(mine);
        }
        Collections.sort(all);
        long p50 = all.isEmpty() ? 0 : all.get(all.size() / 2);
        System.out.println("done calls=" + calls.get() + " errors=" + errors.get() + " p50_us=" + p50);
        System.out.flush();
    }
}
