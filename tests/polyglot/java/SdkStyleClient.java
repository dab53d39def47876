// A ZOLOZ client written the way ZOLOZ's Java SDK talks to the gateway, against the real
// `zoloz-verdict simulator`: HttpURLConnection, answer headers looked up by exact name in
// getHeaderFields() (a case-sensitive map: "Signature", "Response-Time", "Encrypt"), and the
// answer's SHA256withRSA signature verified with java.security over the content the SDK builds,
// "POST <path>\n<Client-Id>.<Response-Time>.<body>". Plain RSA and RSA_AES (AES-256/ECB/PKCS5,
// the key wrapped with RSA/ECB/PKCS1Padding), AK/SK (HmacSHA256, base64url), and the
// authentication/test echo. No dependency beyond the JDK.
//
// Run by `bash ci/polyglot.sh` with ZOLOZ_VERDICT_BIN and ZOLOZ_VERDICT_ROOT set. It prints one
// line per check and closes with "N passed, N failed"; it exits 1 when any check failed.

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class SdkStyleClient {
  private static final String CLIENT_ID = "2089012345678900";
  private static final String ACCESS_KEY = "AK-JAVA-1";
  private static final String SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  private static final String CONNECT = "/api/v1/zoloz/connect/checkresult";
  private static final String AUTH_TEST = "/api/v1/zoloz/authentication/test";

  private static int passed;
  private static int failed;

  private static void check(String what, boolean ok) {
    if (ok) {
      passed++;
      System.out.println("ok   " + what);
    } else {
      failed++;
      System.out.println("FAIL " + what);
    }
  }

  /** What came back, as the SDK sees it. */
  private static final class Answer {
    int status;
    Map<String, List<String>> headers;
    byte[] body;
  }

  private enum Mode { RSA, RSA_AES, AKSK }

  private final String base;
  private final PrivateKey merchantPrivate;
  private final PublicKey zolozPublic;

  private SdkStyleClient(String base, PrivateKey merchantPrivate, PublicKey zolozPublic) {
    this.base = base;
    this.merchantPrivate = merchantPrivate;
    this.zolozPublic = zolozPublic;
  }

  private static String now() {
    return ZonedDateTime.now().format(DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ssZ"));
  }

  private static String content(String path, String time, String body) {
    return "POST " + path + "\n" + CLIENT_ID + "." + time + "." + body;
  }

  /** The pairs of a composed header (`algorithm=RSA256, signature=…`), as the SDK splits them. */
  private static Map<String, String> pairs(String value) {
    Map<String, String> map = new HashMap<>();
    for (String pair : value.split(",")) {
      String[] kv = pair.trim().split("=");
      if (kv.length == 2) {
        map.put(kv[0].trim(), kv[1].trim());
      }
    }
    return map;
  }

  /** The first value of a header, looked up by exact name as the SDK does; null if absent. */
  private static String header(Answer answer, String name) {
    List<String> values = answer.headers.get(name);
    return values == null || values.isEmpty() ? null : values.get(0);
  }

  private Answer post(Mode mode, String path, String json) throws Exception {
    String time = now();
    String body;
    HttpURLConnection conn = (HttpURLConnection) URI.create(base + path).toURL().openConnection();
    conn.setRequestMethod("POST");
    conn.setDoOutput(true);
    conn.setRequestProperty("Client-Id", CLIENT_ID);
    conn.setRequestProperty("Request-Time", time);
    if (mode == Mode.RSA_AES) {
      byte[] key = new byte[32];
      new SecureRandom().nextBytes(key);
      Cipher aes = Cipher.getInstance("AES/ECB/PKCS5Padding");
      aes.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "AES"));
      body = Base64.getEncoder().encodeToString(aes.doFinal(json.getBytes(StandardCharsets.UTF_8)));
      Cipher rsa = Cipher.getInstance("RSA/ECB/PKCS1Padding");
      rsa.init(Cipher.ENCRYPT_MODE, zolozPublic);
      String wrapped = Base64.getEncoder().encodeToString(rsa.doFinal(key));
      conn.setRequestProperty("Content-Type", "text/plain; charset=UTF-8");
      conn.setRequestProperty(
          "Encrypt",
          "algorithm=RSA_AES, symmetricKey=" + URLEncoder.encode(wrapped, StandardCharsets.UTF_8));
    } else {
      body = json;
      conn.setRequestProperty("Content-Type", "application/json; charset=UTF-8");
    }
    if (mode == Mode.AKSK) {
      conn.setRequestProperty("Auth-Type", "AKSK");
      conn.setRequestProperty("Access-Key", ACCESS_KEY);
      conn.setRequestProperty("Signature", hmac(content(path, time, body)));
    } else {
      Signature signer = Signature.getInstance("SHA256withRSA");
      signer.initSign(merchantPrivate);
      signer.update(content(path, time, body).getBytes(StandardCharsets.UTF_8));
      String signature = Base64.getEncoder().encodeToString(signer.sign());
      conn.setRequestProperty(
          "Signature",
          "algorithm=RSA256, signature=" + URLEncoder.encode(signature, StandardCharsets.UTF_8));
    }
    try (OutputStream out = conn.getOutputStream()) {
      out.write(body.getBytes(StandardCharsets.UTF_8));
    }
    Answer answer = new Answer();
    answer.status = conn.getResponseCode();
    answer.headers = conn.getHeaderFields();
    try (InputStream in = answer.status < 400 ? conn.getInputStream() : conn.getErrorStream()) {
      answer.body = in == null ? new byte[0] : in.readAllBytes();
    }
    return answer;
  }

  private static String hmac(String content) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(Base64.getUrlDecoder().decode(SECRET), "HmacSHA256"));
    byte[] tag = mac.doFinal(content.getBytes(StandardCharsets.UTF_8));
    return Base64.getUrlEncoder().withoutPadding().encodeToString(tag);
  }

  /** The SDK's check: the Signature header, by exact name, over the body as received. */
  private boolean verifies(Mode mode, String path, Answer answer, byte[] body) throws Exception {
    String signature = header(answer, "Signature");
    String time = header(answer, "Response-Time");
    if (signature == null || time == null) {
      return false;
    }
    String text = content(path, time, new String(body, StandardCharsets.UTF_8));
    if (mode == Mode.AKSK) {
      return hmac(text).equals(signature.trim());
    }
    String value = pairs(signature).get("signature");
    if (value == null) {
      return false;
    }
    Signature verifier = Signature.getInstance("SHA256withRSA");
    verifier.initVerify(zolozPublic);
    verifier.update(text.getBytes(StandardCharsets.UTF_8));
    return verifier.verify(
        Base64.getDecoder().decode(URLDecoder.decode(value, StandardCharsets.UTF_8)));
  }

  /** The SDK's decryption: whenever an Encrypt header (by exact name) is there. */
  private String open(Answer answer) throws Exception {
    String encrypt = header(answer, "Encrypt");
    String body = new String(answer.body, StandardCharsets.UTF_8);
    if (encrypt == null) {
      return body;
    }
    String wrapped = URLDecoder.decode(pairs(encrypt).get("symmetricKey"), StandardCharsets.UTF_8);
    Cipher rsa = Cipher.getInstance("RSA/ECB/PKCS1Padding");
    rsa.init(Cipher.DECRYPT_MODE, merchantPrivate);
    byte[] key = rsa.doFinal(Base64.getDecoder().decode(wrapped));
    Cipher aes = Cipher.getInstance("AES/ECB/PKCS5Padding");
    aes.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"));
    return new String(aes.doFinal(Base64.getDecoder().decode(body.trim())), StandardCharsets.UTF_8);
  }

  private void run() throws Exception {
    for (Mode mode : Mode.values()) {
      String request =
          "{\"bizId\":\"java-1\",\"transactionId\":\"sim-connect-approve\",\"isReturnImage\":\"N\"}";
      Answer answer = post(mode, CONNECT, request);
      check(mode + ": HTTP 200", answer.status == 200);
      for (String name : new String[] {"Signature", "Response-Time", "Content-Type"}) {
        check(mode + ": getHeaderFields().get(\"" + name + "\") finds it", header(answer, name) != null);
      }
      if (mode == Mode.RSA_AES) {
        check(mode + ": getHeaderFields().get(\"Encrypt\") finds it", header(answer, "Encrypt") != null);
      }
      check(mode + ": the answer's signature verifies", verifies(mode, CONNECT, answer, answer.body));
      byte[] tampered = answer.body.clone();
      tampered[tampered.length / 2] ^= 1;
      check(mode + ": one changed byte does not verify", !verifies(mode, CONNECT, answer, tampered));
      String plaintext = open(answer);
      check(
          mode + ": the answer reads resultCode SUCCESS, connectResult Success",
          plaintext.contains("\"resultCode\":\"SUCCESS\"")
              && plaintext.contains("\"connectResult\":\"Success\""));

      Answer echo = post(mode, AUTH_TEST, "{\"foo\":\"bar\"}");
      check(mode + ": authentication/test verifies", verifies(mode, AUTH_TEST, echo, echo.body));
      String echoed = open(echo);
      check(
          mode + ": authentication/test has status S, code SUCCESS and the posted JSON in resultMessage",
          echoed.contains("\"resultStatus\":\"S\"")
              && echoed.contains("\"resultCode\":\"SUCCESS\"")
              && echoed.contains("\"resultMessage\":\"{\\\"foo\\\":\\\"bar\\\"}\""));
    }
  }

  private static byte[] der(Path file) throws Exception {
    return Base64.getDecoder().decode(Files.readString(file).trim());
  }

  public static void main(String[] args) throws Exception {
    String bin = System.getenv("ZOLOZ_VERDICT_BIN");
    Path root = Path.of(System.getenv("ZOLOZ_VERDICT_ROOT"));
    Path vectors = root.resolve("tests/vectors");
    Path secret = Files.createTempFile("sdk-style-secret", ".b64url");
    Files.writeString(secret, SECRET + "\n");
    KeyFactory rsa = KeyFactory.getInstance("RSA");
    PrivateKey merchant =
        rsa.generatePrivate(new PKCS8EncodedKeySpec(der(vectors.resolve("merchant_private.pk8.b64"))));
    PublicKey zoloz =
        rsa.generatePublic(new X509EncodedKeySpec(der(vectors.resolve("zoloz_public.spki.b64"))));

    Process simulator =
        new ProcessBuilder(
                bin, "simulator", "--listen", "127.0.0.1:0",
                "--merchant-public-key", vectors.resolve("merchant_public.spki.b64").toString(),
                "--zoloz-private-key", vectors.resolve("zoloz_private.pk8.b64").toString(),
                "--access-key", ACCESS_KEY, "--secret-key", secret.toString())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
    try {
      BufferedReader out =
          new BufferedReader(new InputStreamReader(simulator.getInputStream(), StandardCharsets.UTF_8));
      String base = null;
      for (String line; (line = out.readLine()) != null; ) {
        if (line.startsWith("listening on ")) {
          base = line.substring("listening on ".length()).trim();
          break;
        }
      }
      if (base == null) {
        throw new IllegalStateException("the simulator printed no address");
      }
      // Drain the rest of its output so that it never blocks on a full pipe.
      Thread drain = new Thread(() -> {
        try {
          out.transferTo(java.io.Writer.nullWriter());
        } catch (java.io.IOException e) {
          // The simulator is gone.
        }
      });
      drain.setDaemon(true);
      drain.start();
      new SdkStyleClient(base, merchant, zoloz).run();
    } finally {
      simulator.destroy();
      simulator.waitFor(10, TimeUnit.SECONDS);
      Files.deleteIfExists(secret);
    }
    System.out.println(passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
