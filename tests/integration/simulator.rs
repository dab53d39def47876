//! The ZOLOZ simulator on real loopback ports, driven by hand-signed requests (the signer of
//! `zoloz::signing`, not the service's client): both signature directions, `RSA_AES`, AK/SK,
//! scripted and fault scenarios, recorded responses, counts, every catalogue scenario, h2c,
//! concurrency, graceful shutdown, the real binary and the scenario table of docs/simulator.md.

use std::io::BufRead as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use zoloz_verdict::domain::Product;
use zoloz_verdict::simulator::{
    Expected, RunningSimulator, Simulator, SimulatorConfig, SimulatorKeys, catalogue,
    markdown_table,
};
use zoloz_verdict::zoloz::aksk::{self, SecretKey};
use zoloz_verdict::zoloz::keys::{PrivateKey, PublicKey};
use zoloz_verdict::zoloz::{envelope, signing};

use crate::harness::{binary, root, vector_path};

const CLIENT_ID: &str = "2089012345678900";
const AUTH_TEST: &str = "/api/v1/zoloz/authentication/test";

fn path_of(product: Product) -> &'static str {
    match product {
        Product::FaceCapture => "/api/v1a/zoloz/facecapture/checkresult",
        Product::FaceCompare => "/api/v1/zoloz/facecompare/asynccheckresult",
        Product::Connect => "/api/v1/zoloz/connect/checkresult",
        Product::IdRecognition => "/api/v1/zoloz/idrecognition/checkresult",
    }
}

fn checkresult_body(product: Product, transaction_id: &str) -> Value {
    if product.requires_biz_id() {
        json!({ "bizId": "biz-0001", "transactionId": transaction_id })
    } else {
        json!({ "transactionId": transaction_id })
    }
}

/// The test vectors' key pairs: merchant (M) and a stand-in ZOLOZ pair (Z).
fn vector_keys() -> SimulatorKeys {
    let read = |name: &str| PrivateKey::parse(&std::fs::read(vector_path(name)).unwrap()).unwrap();
    SimulatorKeys {
        merchant_private: Arc::new(read("merchant_private.pk8.b64")),
        zoloz_private: Arc::new(read("zoloz_private.pk8.b64")),
    }
}

async fn start(config: SimulatorConfig) -> RunningSimulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

/// How a test request is authenticated.
#[derive(Clone, Copy, Default)]
enum Auth<'a> {
    /// RSA with the merchant key.
    #[default]
    Rsa,
    /// RSA with a key the simulator does not know.
    WrongKey,
    /// No `Signature` header.
    Unsigned,
    /// AK/SK with this access key and secret.
    Aksk(&'a str, &'a SecretKey),
}

#[derive(Clone, Copy, Default)]
struct Options<'a> {
    auth: Auth<'a>,
    encrypt: bool,
    client_id: Option<&'a str>,
    request_time: Option<&'a str>,
}

/// What came back.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    elapsed: Duration,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn code(&self) -> String {
        self.json()["result"]["resultCode"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A hand-rolled ZOLOZ client: signs requests with the merchant key, verifies answers with
/// the ZOLOZ public key, opens sealed answers with the merchant key.
struct Client {
    http: reqwest::Client,
    base: String,
    merchant: Arc<PrivateKey>,
    zoloz_public: PublicKey,
}

impl Client {
    fn new(base: String, keys: &SimulatorKeys) -> Self {
        Self::with_http(base, keys, reqwest::Client::builder())
    }

    fn with_http(base: String, keys: &SimulatorKeys, builder: reqwest::ClientBuilder) -> Self {
        Self {
            http: builder
                .no_proxy()
                .user_agent("zoloz-verdict-tests/1")
                .build()
                .unwrap(),
            base,
            merchant: Arc::clone(&keys.merchant_private),
            zoloz_public: keys.zoloz_public(),
        }
    }

    async fn post(&self, path: &str, json: &[u8], options: Options<'_>) -> Reply {
        let client_id = options.client_id.unwrap_or(CLIENT_ID);
        let now = signing::format_wire_time(time::OffsetDateTime::now_utc());
        let time = options.request_time.unwrap_or(&now);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Client-Id", client_id)
            .header("Request-Time", time);
        let body = if options.encrypt {
            let sealed = envelope::seal(&self.zoloz_public, json).unwrap();
            request = request
                .header("Content-Type", "text/plain; charset=UTF-8")
                .header("Encrypt", sealed.encrypt_header);
            sealed.body.into_bytes()
        } else {
            request = request.header("Content-Type", "application/json; charset=UTF-8");
            json.to_vec()
        };
        request = match options.auth {
            Auth::Rsa => request.header(
                "Signature",
                signing::sign(&self.merchant, path, client_id, time, &body),
            ),
            Auth::WrongKey => {
                let other = PrivateKey::parse(
                    &std::fs::read(vector_path("zoloz_private.pk8.b64")).unwrap(),
                )
                .unwrap();
                request.header(
                    "Signature",
                    signing::sign(&other, path, client_id, time, &body),
                )
            }
            Auth::Unsigned => request,
            Auth::Aksk(access_key, secret) => request
                .header("Auth-Type", "AKSK")
                .header("Access-Key", access_key)
                .header(
                    "Signature",
                    aksk::sign(secret, path, client_id, time, &body),
                ),
        };
        let started = Instant::now();
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        Reply {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        }
    }

    async fn checkresult(&self, product: Product, transaction_id: &str) -> Reply {
        let body = checkresult_body(product, transaction_id).to_string();
        self.post(path_of(product), body.as_bytes(), Options::default())
            .await
    }

    /// Whether the answer's RSA signature verifies with the ZOLOZ public key.
    fn verifies(&self, path: &str, reply: &Reply) -> bool {
        let (Some(time), Some(signature)) =
            (reply.header("response-time"), reply.header("signature"))
        else {
            return false;
        };
        let Ok(header) = signing::parse_signature_header(signature) else {
            return false;
        };
        signing::verify(
            &self.zoloz_public,
            path,
            CLIENT_ID,
            time,
            &reply.body,
            &header,
        )
        .is_ok()
    }

    fn open(&self, reply: &Reply) -> Value {
        let plaintext = envelope::open(
            &self.merchant,
            reply.header("encrypt").unwrap(),
            &reply.body,
        )
        .unwrap();
        serde_json::from_slice(&plaintext).unwrap()
    }
}

async fn fixture() -> (RunningSimulator, Client) {
    let keys = vector_keys();
    let mut config = keys.config(CLIENT_ID);
    config.slow_delay = Duration::from_millis(200);
    let sim = start(config).await;
    let client = Client::new(sim.base_url(), &keys);
    (sim, client)
}

#[tokio::test]
async fn each_product_answers_a_signed_request_with_a_signed_answer() {
    let (sim, client) = fixture().await;
    for product in Product::ALL {
        let reply = client
            .checkresult(product, "G000000005FID20200304000000000001570702")
            .await;
        assert_eq!(reply.status, 200, "{product}");
        assert!(client.verifies(path_of(product), &reply), "{product}");
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(reply.code(), "SUCCESS", "{product}");
        let time = reply.header("response-time").unwrap();
        assert!(time.ends_with("+0800"), "{time}");
        let age = time::OffsetDateTime::now_utc() - signing::parse_wire_time(time).unwrap();
        assert!(age.whole_seconds().abs() < 60, "{time}");
    }
    // Face Compare echoes the transaction id; Face Capture is served at v1 too.
    let reply = client.checkresult(Product::FaceCompare, "T-42").await;
    assert_eq!(reply.json()["transactionId"], "T-42");
    let v1 = "/api/v1/zoloz/facecapture/checkresult";
    let body = checkresult_body(Product::FaceCapture, "T-43").to_string();
    let reply = client.post(v1, body.as_bytes(), Options::default()).await;
    assert!(client.verifies(v1, &reply));
    assert_eq!(reply.code(), "SUCCESS");
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_test_echoes_the_posted_json() {
    let (sim, client) = fixture().await;
    let body = br#"{"title":"hello","description":"just for demonstration."}"#;
    let reply = client.post(AUTH_TEST, body, Options::default()).await;
    assert!(client.verifies(AUTH_TEST, &reply));
    assert_eq!(
        std::str::from_utf8(&reply.body).unwrap(),
        r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"{\"title\":\"hello\",\"description\":\"just for demonstration.\"}"},"title":"hello","description":"just for demonstration."}"#
    );
    // What ZOLOZ's SDK reads: status S, code SUCCESS, and the posted JSON back from
    // resultMessage, in each mode (sealed answers opened first).
    let secret = SecretKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let mut config = vector_keys().config(CLIENT_ID);
    config.aksk = Some(("AK-ECHO".into(), secret.clone()));
    let aksk_sim = start(config).await;
    let aksk_client = Client::new(aksk_sim.base_url(), &vector_keys());
    for (client, options) in [
        (&client, Options::default()),
        (
            &client,
            Options {
                encrypt: true,
                ..Options::default()
            },
        ),
        (
            &aksk_client,
            Options {
                auth: Auth::Aksk("AK-ECHO", &secret),
                ..Options::default()
            },
        ),
    ] {
        let reply = client.post(AUTH_TEST, br#"{"foo":"bar"}"#, options).await;
        let json = if options.encrypt {
            client.open(&reply)
        } else {
            reply.json()
        };
        assert_eq!(json["result"]["resultStatus"], "S");
        assert_eq!(json["result"]["resultCode"], "SUCCESS");
        let echoed: Value =
            serde_json::from_str(json["result"]["resultMessage"].as_str().unwrap()).unwrap();
        assert_eq!(echoed, json!({"foo": "bar"}));
    }
    aksk_sim.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn the_gateway_refuses_bad_credentials_with_signed_answers() {
    let (sim, client) = fixture().await;
    let path = path_of(Product::Connect);
    let body = checkresult_body(Product::Connect, "T-1").to_string();
    let cases = [
        (
            Options {
                auth: Auth::WrongKey,
                ..Options::default()
            },
            "SIGNATURE_INVALID",
        ),
        (
            Options {
                auth: Auth::Unsigned,
                ..Options::default()
            },
            "SIGNATURE_INVALID",
        ),
        (
            Options {
                encrypt: true,
                auth: Auth::WrongKey,
                ..Options::default()
            },
            "SIGNATURE_INVALID",
        ),
        (
            Options {
                client_id: Some("2089000000000000"),
                ..Options::default()
            },
            "KEY_NOT_FOUND",
        ),
        (
            Options {
                request_time: Some("2020-01-01T08:00:00+08:00"),
                ..Options::default()
            },
            "PARAM_ILLEGAL",
        ),
        (
            Options {
                request_time: Some("2020-01-01T00:00:00Z"),
                ..Options::default()
            },
            "PARAM_ILLEGAL",
        ),
    ];
    for (options, code) in cases {
        let reply = client.post(path, body.as_bytes(), options).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.code(), code);
        assert_eq!(reply.json()["result"]["resultStatus"], "F");
        // Gateway refusals are plain JSON, even to an encrypted request.
        assert!(reply.header("encrypt").is_none());
        if options.client_id.is_none() {
            assert!(client.verifies(path, &reply), "{code} is signed");
        }
    }
    // An old but well-formed Request-Time is accepted (the test vectors are from 2020).
    let reply = client
        .post(
            path,
            body.as_bytes(),
            Options {
                request_time: Some("2020-01-01T08:00:00+0800"),
                ..Options::default()
            },
        )
        .await;
    assert_eq!(reply.code(), "SUCCESS");
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_are_validated_like_zoloz() {
    let (sim, client) = fixture().await;
    let connect = path_of(Product::Connect);
    let code = |reply: Reply| reply.code();
    let post = |path: &'static str, body: &'static str| {
        client.post(path, body.as_bytes(), Options::default())
    };
    assert_eq!(code(post(connect, "not json").await), "MSG_PARSE_ERROR");
    assert_eq!(code(post(connect, "[1]").await), "MSG_PARSE_ERROR");
    assert_eq!(
        code(post(connect, r#"{"bizId":"b"}"#).await),
        "PARAM_MISSING"
    );
    assert_eq!(
        code(post(connect, r#"{"transactionId":"t"}"#).await),
        "PARAM_MISSING"
    );
    assert_eq!(
        code(post(path_of(Product::FaceCompare), r#"{"transactionId":"t"}"#).await),
        "SUCCESS"
    );
    assert_eq!(
        code(
            post(
                connect,
                r#"{"bizId":"b","transactionId":"sim-face-capture-approve"}"#
            )
            .await
        ),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(
            post(
                connect,
                r#"{"bizId":"b","transactionId":"sim-connect-no-such"}"#
            )
            .await
        ),
        "INVALID_ARGUMENT"
    );
    let missing = post("/api/v1/zoloz/nothing/checkresult", "{}").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.code(), "NO_INTERFACE_DEF");
    let get = client
        .http
        .get(format!("{}{connect}", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_request_without_user_agent_meets_the_waf() {
    let (sim, _) = fixture().await;
    let bare = reqwest::Client::builder().no_proxy().build().unwrap();
    let reply = bare
        .post(format!("{}{AUTH_TEST}", sim.base_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 403);
    assert!(reply.text().await.unwrap().contains("<html>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_encrypted_request_gets_an_encrypted_signed_answer() {
    let (sim, client) = fixture().await;
    for product in Product::ALL {
        let body = checkresult_body(product, &format!("sim-{}-approve", product.slug()));
        let options = Options {
            encrypt: true,
            ..Options::default()
        };
        let reply = client
            .post(path_of(product), body.to_string().as_bytes(), options)
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; charset=UTF-8")
        );
        // The signature covers the Base64 ciphertext.
        assert!(client.verifies(path_of(product), &reply), "{product}");
        assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
        let opened = client.open(&reply);
        assert_eq!(opened["result"]["resultCode"], "SUCCESS", "{product}");
    }
    // Business refusals after decryption are encrypted too.
    let reply = client
        .post(
            path_of(Product::Connect),
            br#"{"transactionId":"t"}"#,
            Options {
                encrypt: true,
                ..Options::default()
            },
        )
        .await;
    assert_eq!(client.open(&reply)["result"]["resultCode"], "PARAM_MISSING");
    sim.shutdown().await;
}

#[tokio::test]
async fn aksk_round_trip() {
    let keys = vector_keys();
    let secret = SecretKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let mut config = keys.config(CLIENT_ID);
    config.aksk = Some(("AK-TEST-1".into(), secret.clone()));
    let sim = start(config).await;
    let client = Client::new(sim.base_url(), &keys);
    let path = path_of(Product::IdRecognition);
    let body = checkresult_body(Product::IdRecognition, "sim-id-recognition-approve").to_string();
    let aksk_options = |ak, secret| Options {
        auth: Auth::Aksk(ak, secret),
        ..Options::default()
    };

    let reply = client
        .post(path, body.as_bytes(), aksk_options("AK-TEST-1", &secret))
        .await;
    assert_eq!(reply.code(), "SUCCESS");
    let signature = reply.header("signature").unwrap();
    assert!(
        !signature.contains("algorithm="),
        "a bare HMAC: {signature}"
    );
    assert!(aksk::verify(
        &secret,
        path,
        CLIENT_ID,
        reply.header("response-time").unwrap(),
        &reply.body,
        signature
    ));

    let wrong_secret = SecretKey::from_bytes(b"wrong");
    let reply = client
        .post(
            path,
            body.as_bytes(),
            aksk_options("AK-TEST-1", &wrong_secret),
        )
        .await;
    assert_eq!(reply.code(), "SIGNATURE_INVALID");
    let reply = client
        .post(path, body.as_bytes(), aksk_options("AK-OTHER", &secret))
        .await;
    assert_eq!(reply.code(), "KEY_NOT_FOUND");
    // RSA requests keep working next to AK/SK.
    let reply = client.post(path, body.as_bytes(), Options::default()).await;
    assert!(client.verifies(path, &reply));
    assert_eq!(reply.code(), "SUCCESS");
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_then_approve_counts_polls_per_transaction() {
    let (sim, client) = fixture().await;
    let id = "sim-connect-pending-then-approve";
    let codes = async || {
        let mut codes = Vec::new();
        for _ in 0..4 {
            codes.push(client.checkresult(Product::Connect, id).await.code());
        }
        codes
    };
    assert_eq!(
        codes().await,
        ["PROCESSING", "PROCESSING", "SUCCESS", "SUCCESS"]
    );
    assert_eq!(sim.calls(id), 4);
    // Another transaction id has its own count; a refused request is a call, not a poll.
    let other = "sim-connect-pending-then-reject";
    let body = checkresult_body(Product::Connect, other).to_string();
    let refused = client
        .post(
            path_of(Product::Connect),
            body.as_bytes(),
            Options {
                auth: Auth::WrongKey,
                ..Options::default()
            },
        )
        .await;
    assert_eq!(refused.code(), "SIGNATURE_INVALID");
    assert_eq!(sim.calls(other), 1);
    assert_eq!(
        client.checkresult(Product::Connect, other).await.code(),
        "PROCESSING"
    );
    assert_eq!(sim.calls(other), 2);
    assert_eq!(sim.total_calls(), 6);

    sim.reset_counts();
    assert_eq!(sim.calls(id), 0);
    assert_eq!(sim.total_calls(), 0);
    assert_eq!(
        codes().await,
        ["PROCESSING", "PROCESSING", "SUCCESS", "SUCCESS"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn fault_scenarios_behave_as_documented() {
    let (sim, client) = fixture().await;
    let product = Product::FaceCapture;
    let path = path_of(product);
    let call = async |name: &str| {
        client
            .checkresult(product, &format!("sim-face-capture-{name}"))
            .await
    };

    let reply = call("bad-signature").await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("signature").is_some());
    assert!(!client.verifies(path, &reply));
    assert_eq!(reply.code(), "SUCCESS");

    let reply = call("unsigned").await;
    assert!(reply.header("signature").is_none());
    assert!(reply.header("response-time").is_some());

    let reply = call("stale-response").await;
    assert!(client.verifies(path, &reply));
    let time = signing::parse_wire_time(reply.header("response-time").unwrap()).unwrap();
    let age = time::OffsetDateTime::now_utc() - time;
    assert!((59..=61).contains(&age.whole_minutes()), "{age}");

    let reply = call("truncated").await;
    assert!(client.verifies(path, &reply), "signed over the cut bytes");
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
    let full = call("approve").await;
    assert_eq!(reply.body.len(), full.body.len() / 2);
    assert_eq!(&full.body[..reply.body.len()], &reply.body[..]);

    let reply = call("malformed-json").await;
    assert!(client.verifies(path, &reply));
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());

    let reply = call("http-500").await;
    assert_eq!(reply.status, 500);
    assert!(reply.header("signature").is_none());

    let reply = call("http-429").await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));

    let reply = call("html-waf").await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=UTF-8")
    );
    assert!(String::from_utf8_lossy(&reply.body).contains("403 Forbidden"));

    let reply = call("slow").await;
    assert!(
        reply.elapsed >= Duration::from_millis(200),
        "{:?}",
        reply.elapsed
    );
    assert!(client.verifies(path, &reply));

    let reply = call("system-error").await;
    assert_eq!(reply.code(), "SYSTEM_ERROR");
    assert_eq!(reply.json()["result"]["resultStatus"], "U");

    for (name, first) in [
        ("system-error-then-approve", 200),
        ("http-500-then-approve", 500),
    ] {
        let reply = call(name).await;
        assert_eq!(reply.status, first, "{name}");
        let reply = call(name).await;
        assert_eq!(reply.code(), "SUCCESS", "{name}");
        assert!(client.verifies(path, &reply));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn images_only_when_asked_and_large_ones_are_large() {
    let (sim, client) = fixture().await;
    let with_images = |product: Product, id: &str, flag: Option<&str>| {
        let mut body = checkresult_body(product, id);
        if let Some(flag) = flag {
            body["isReturnImage"] = json!(flag);
        }
        body.to_string()
    };
    let post = async |product: Product, body: String| {
        let reply = client
            .post(path_of(product), body.as_bytes(), Options::default())
            .await;
        assert!(client.verifies(path_of(product), &reply));
        reply
    };

    let reply = post(
        Product::Connect,
        with_images(Product::Connect, "sim-connect-large-images", Some("Y")),
    )
    .await;
    assert!(reply.body.len() > 2_900_000, "{}", reply.body.len());
    let body = reply.json();
    let alive = body["extFaceInfo"]["aliveImage"].as_str().unwrap();
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, alive).unwrap();
    assert_eq!(&decoded[..3], &[0xFF, 0xD8, 0xFF]);

    let reply = post(
        Product::Connect,
        with_images(Product::Connect, "sim-connect-large-images", None),
    )
    .await;
    assert!(reply.body.len() < 1000, "{}", reply.body.len());
    assert!(reply.json()["extFaceInfo"].get("aliveImage").is_none());

    // ID Recognition returns images unless told not to, as ZOLOZ does.
    let reply = post(
        Product::IdRecognition,
        with_images(Product::IdRecognition, "G-1", None),
    )
    .await;
    assert_eq!(
        reply.json()["extInfo"]["imageContent"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let reply = post(
        Product::IdRecognition,
        with_images(Product::IdRecognition, "G-1", Some("N")),
    )
    .await;
    assert!(reply.json()["extInfo"].get("imageContent").is_none());

    // Large images arrive encrypted too.
    let body = with_images(
        Product::FaceCapture,
        "sim-face-capture-large-images",
        Some("Y"),
    );
    let reply = client
        .post(
            path_of(Product::FaceCapture),
            body.as_bytes(),
            Options {
                encrypt: true,
                ..Options::default()
            },
        )
        .await;
    assert!(client.verifies(path_of(Product::FaceCapture), &reply));
    let opened = client.open(&reply);
    assert!(
        opened["extInfo"]["extraImages"]["FACE_EYE_CLOSE"]
            .as_str()
            .unwrap()
            .len()
            > 1_000_000
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn recorded_responses_are_replayed_and_take_precedence() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","recorded":true}"#;
    std::fs::write(dir.path().join("G-REC-1.json"), recorded).unwrap();
    std::fs::write(dir.path().join("sim-connect-reject.json"), recorded).unwrap();
    let keys = vector_keys();
    let mut config = keys.config(CLIENT_ID);
    config.scenarios_dir = Some(dir.path().to_path_buf());
    let sim = start(config).await;
    let client = Client::new(sim.base_url(), &keys);
    for id in ["G-REC-1", "sim-connect-reject"] {
        let reply = client.checkresult(Product::Connect, id).await;
        assert!(client.verifies(path_of(Product::Connect), &reply));
        assert_eq!(std::str::from_utf8(&reply.body).unwrap(), recorded, "{id}");
    }
    let reply = client
        .post(
            path_of(Product::Connect),
            checkresult_body(Product::Connect, "G-REC-1")
                .to_string()
                .as_bytes(),
            Options {
                encrypt: true,
                ..Options::default()
            },
        )
        .await;
    assert_eq!(client.open(&reply)["recorded"], true);
    sim.shutdown().await;

    // A directory that is missing or holds a binary file stops the start.
    let mut config = keys.config(CLIENT_ID);
    config.scenarios_dir = Some(dir.path().join("missing"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = Simulator::start(config, listener).await.unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    std::fs::write(dir.path().join("G-BIN.json"), [0x80, 0x81]).unwrap();
    let mut config = keys.config(CLIENT_ID);
    config.scenarios_dir = Some(dir.path().to_path_buf());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = Simulator::start(config, listener).await.unwrap_err();
    assert!(error.to_string().contains("G-BIN.json"), "{error}");
}

/// Loops over the whole catalogue: every scenario answers, and what it answers is consistent
/// with its expected outcome.
#[tokio::test]
async fn every_catalogue_scenario_answers_consistently_with_its_expectation() {
    let (sim, client) = fixture().await;
    for scenario in catalogue() {
        let id = scenario.transaction_id();
        let path = path_of(scenario.product);
        let mut reply = None;
        for _ in 0..scenario.final_poll() {
            reply = Some(client.checkresult(scenario.product, &id).await);
        }
        let reply = reply.unwrap();
        let what = format!("{id}: expected {}", scenario.expected);
        let verified = reply.status == 200 && client.verifies(path, &reply);
        let parsed = serde_json::from_slice::<Value>(&reply.body).ok();
        let code = parsed
            .as_ref()
            .and_then(|v| v["result"]["resultCode"].as_str())
            .unwrap_or_default()
            .to_string();
        match scenario.expected {
            Expected::Error { reason } => match reason {
                "UPSTREAM_SIGNATURE_INVALID" => {
                    let stale = reply
                        .header("response-time")
                        .and_then(signing::parse_wire_time)
                        .is_some_and(|t| {
                            (time::OffsetDateTime::now_utc() - t).whole_minutes() >= 50
                        });
                    assert!(reply.status == 200 && (!verified || stale), "{what}");
                }
                "UPSTREAM_MALFORMED_RESPONSE" => {
                    assert!(verified && parsed.is_none(), "{what}");
                }
                "UPSTREAM_UNAVAILABLE" => assert!(
                    reply.status >= 500
                        || reply.status == 403
                        || (verified
                            && ["SYSTEM_ERROR", "PROCESS_TIMEOUT"].contains(&code.as_str())),
                    "{what}"
                ),
                "UPSTREAM_RATE_LIMITED" => assert!(
                    reply.status == 429 || (verified && code == "REQUEST_TRAFFIC_EXCEED_LIMIT"),
                    "{what}"
                ),
                "UPSTREAM_QUOTA_EXHAUSTED" => {
                    assert!(verified && code == "PRODUCT_QUOTA_LIMIT", "{what}")
                }
                "UPSTREAM_INVALID_ARGUMENT" => {
                    assert!(verified && code == "INVALID_ARGUMENT", "{what}")
                }
                "UPSTREAM_TIMEOUT" => assert!(
                    verified && reply.elapsed >= Duration::from_millis(200),
                    "{what}"
                ),
                other => panic!("{what}: no check for {other}"),
            },
            Expected::Decision { decision, .. } => {
                assert!(verified, "{what}");
                let body = parsed.unwrap_or_else(|| panic!("{what}: not JSON"));
                let state = body
                    .get("faceCaptureResult")
                    .or_else(|| body.get("connectResult"))
                    .and_then(Value::as_str);
                match decision {
                    "PENDING" => assert_eq!(code, "PROCESSING", "{what}"),
                    "APPROVED" => {
                        assert_eq!(code, "SUCCESS", "{what}");
                        assert!(matches!(state, None | Some("Success")), "{what}");
                    }
                    "EXPIRED" => assert_eq!(state, Some("VoidTimeout"), "{what}"),
                    "REJECTED" | "REVIEW_REQUIRED" => assert_ne!(code, "PROCESSING", "{what}"),
                    other => panic!("{what}: unknown decision {other}"),
                }
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn h2c_and_many_concurrent_connections_are_served() {
    let keys = vector_keys();
    let sim = start(keys.config(CLIENT_ID)).await;
    let h2 = Client::with_http(
        sim.base_url(),
        &keys,
        reqwest::Client::builder().http2_prior_knowledge(),
    );
    let reply = h2
        .checkresult(Product::Connect, "sim-connect-approve")
        .await;
    assert!(h2.verifies(path_of(Product::Connect), &reply));

    // 256 callers at once, each on its own HTTP/1.1 connection.
    let client = Arc::new(Client::new(sim.base_url(), &keys));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..256 {
        let client = Arc::clone(&client);
        tasks.spawn(async move {
            let product = Product::ALL[i % 4];
            let reply = client.checkresult(product, &format!("G-LOAD-{i}")).await;
            assert!(client.verifies(path_of(product), &reply));
            assert_eq!(reply.code(), "SUCCESS");
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(sim.total_calls(), 257);
    sim.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_an_answer_in_flight_finish() {
    let keys = vector_keys();
    let mut config = keys.config(CLIENT_ID);
    config.slow_delay = Duration::from_millis(300);
    let sim = start(config).await;
    let base = sim.base_url();
    let client = Client::new(base.clone(), &keys);
    let slow = tokio::spawn(async move {
        client
            .checkresult(Product::Connect, "sim-connect-slow")
            .await
            .code()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.shutdown().await;
    assert_eq!(slow.await.unwrap(), "SUCCESS");
    // Down afterwards.
    let after = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}{AUTH_TEST}"))
        .send()
        .await;
    assert!(after.is_err());
}

#[test]
fn generated_keys_are_written_as_pem_with_private_files_0600() {
    let dir = tempfile::tempdir().unwrap();
    let keys = SimulatorKeys::generate().unwrap();
    let files = keys.write_to(&dir.path().join("keys")).unwrap();
    let merchant = PrivateKey::from_file(&files.merchant_private).unwrap();
    assert_eq!(
        merchant.public_key().spki_der(),
        PublicKey::from_file(&files.merchant_public)
            .unwrap()
            .spki_der()
    );
    let zoloz = PrivateKey::from_file(&files.zoloz_private).unwrap();
    assert_eq!(
        zoloz.public_key().spki_der(),
        PublicKey::from_file(&files.zoloz_public)
            .unwrap()
            .spki_der()
    );
    assert_ne!(
        merchant.public_key().spki_der(),
        zoloz.public_key().spki_der()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.merchant_private), 0o600);
        assert_eq!(mode(&files.zoloz_private), 0o600);
        assert_eq!(mode(&files.zoloz_public), 0o644);
    }
}

/// Starts the real binary with `args` and returns it with the base URL it printed.
fn spawn_binary(args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(binary())
        .arg("simulator")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let base = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the simulator prints its address");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_string();
        }
    };
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.ends_with(":0"), "{base}");
    (child, base)
}

/// Sends SIGTERM and expects a clean exit.
async fn terminate(mut child: std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the simulator did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit}");
}

/// The real binary: `simulator --listen 127.0.0.1:0 --write-keys DIR` prints the bound
/// address, answers with the keys it wrote, and stops cleanly on SIGTERM.
#[tokio::test]
async fn the_binary_serves_with_the_keys_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let (child, base) = spawn_binary(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--write-keys".as_ref(),
        keys_dir.as_os_str(),
    ]);
    let keys = SimulatorKeys {
        merchant_private: Arc::new(
            PrivateKey::from_file(&keys_dir.join("merchant_private.pem")).unwrap(),
        ),
        zoloz_private: Arc::new(
            PrivateKey::from_file(&keys_dir.join("zoloz_private.pem")).unwrap(),
        ),
    };
    let client = Client::new(base, &keys);
    let reply = client
        .checkresult(Product::IdRecognition, "sim-id-recognition-tampered")
        .await;
    assert!(client.verifies(path_of(Product::IdRecognition), &reply));
    assert_eq!(reply.json()["extInfo"]["spoofResult"]["TAMPER_CHECK"], "N");
    terminate(child).await;
}

/// The real binary with given keys (the vectors' bare Base64 DER), another client id, AK/SK
/// and recorded responses; and exit 64 for a scenarios directory that does not exist.
#[tokio::test]
async fn the_binary_takes_keys_aksk_and_recordings_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir.path().join("recorded");
    std::fs::create_dir(&recorded).unwrap();
    std::fs::write(
        recorded.join("G-REC-9.json"),
        r#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"recorded"}}"#,
    )
    .unwrap();
    let secret_file = dir.path().join("secret.b64url");
    std::fs::write(
        &secret_file,
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
    )
    .unwrap();
    let merchant_public = vector_path("merchant_public.spki.b64");
    let zoloz_private = vector_path("zoloz_private.pk8.b64");
    let (child, base) = spawn_binary(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--client-id".as_ref(),
        CLIENT_ID.as_ref(),
        "--merchant-public-key".as_ref(),
        merchant_public.as_os_str(),
        "--zoloz-private-key".as_ref(),
        zoloz_private.as_os_str(),
        "--access-key".as_ref(),
        "AK-CLI".as_ref(),
        "--secret-key".as_ref(),
        secret_file.as_os_str(),
        "--scenarios".as_ref(),
        recorded.as_os_str(),
    ]);
    let client = Client::new(base, &vector_keys());
    let reply = client.checkresult(Product::Connect, "G-REC-9").await;
    assert!(client.verifies(path_of(Product::Connect), &reply));
    assert_eq!(reply.json()["result"]["resultMessage"], "recorded");
    let secret = SecretKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    let body = checkresult_body(Product::Connect, "G-1").to_string();
    let reply = client
        .post(
            path_of(Product::Connect),
            body.as_bytes(),
            Options {
                auth: Auth::Aksk("AK-CLI", &secret),
                ..Options::default()
            },
        )
        .await;
    assert_eq!(reply.code(), "SUCCESS");
    terminate(child).await;

    // A rotated key: answers signed with the version-2 key, named in the Signature header (the
    // vectors' merchant pair stands in for ZOLOZ's second key).
    let rotated = vector_path("merchant_private.pk8.b64");
    let version_flag = format!("2={}", rotated.display());
    let (child, base) = spawn_binary(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--merchant-public-key".as_ref(),
        merchant_public.as_os_str(),
        "--zoloz-private-key".as_ref(),
        zoloz_private.as_os_str(),
        "--zoloz-key-version".as_ref(),
        version_flag.as_ref(),
        "--sign-with-key-version".as_ref(),
        "2".as_ref(),
    ]);
    let client = Client::new(base, &vector_keys());
    let reply = client.checkresult(Product::Connect, "G-ROT-1").await;
    let header = signing::parse_signature_header(reply.header("Signature").unwrap()).unwrap();
    assert_eq!(header.key_version.as_deref(), Some("2"));
    assert!(
        !client.verifies(path_of(Product::Connect), &reply),
        "not the unversioned key"
    );
    signing::verify(
        &vector_keys().merchant_public(),
        path_of(Product::Connect),
        CLIENT_ID,
        reply.header("Response-Time").unwrap(),
        &reply.body,
        &header,
    )
    .unwrap();
    terminate(child).await;

    let output = std::process::Command::new(binary())
        .args(["simulator", "--listen", "127.0.0.1:0", "--write-keys"])
        .arg(dir.path().join("keys"))
        .arg("--scenarios")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn the_simulator_page_lists_every_scenario() {
    const BEGIN: &str = "<!-- simulator-scenarios:begin -->\n";
    const END: &str = "<!-- simulator-scenarios:end -->";
    let page = std::fs::read_to_string(root().join("docs/simulator.md")).unwrap();
    let start = page
        .find(BEGIN)
        .expect("docs/simulator.md has the scenario table markers")
        + BEGIN.len();
    let end = page[start..].find(END).unwrap() + start;
    assert_eq!(
        &page[start..end],
        markdown_table(),
        "the scenario table of docs/simulator.md is stale: paste the output of \
         `cargo run -- simulator --list-scenarios` between the markers"
    );
}
