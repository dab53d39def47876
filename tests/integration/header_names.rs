//! Header names spelled as ZOLOZ spells them, on the wire. HTTP says names are case-insensitive,
//! but ZOLOZ's own SDK looks answer headers up by exact name (`Signature`, `Response-Time`,
//! `Encrypt`) in a case-sensitive map. The simulator's raw HTTP/1.1 answers are read byte by byte
//! in each mode (RSA, RSA_AES, AK/SK), and the service's raw requests are recorded by a relay,
//! direct and through an HTTP proxy.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use zoloz_verdict::domain::Product;
use zoloz_verdict::zoloz::aksk::{self, SecretKey};
use zoloz_verdict::zoloz::api::Api;
use zoloz_verdict::zoloz::client::{
    Auth, CheckResultRequest, ClientConfig, ProxyUrl, RetryConfig, ZolozClient, ZolozKeys,
};
use zoloz_verdict::zoloz::{envelope, signing};

use crate::harness::{CLIENT_ID, sim_keys, start_simulator};

const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const ACCESS_KEY: &str = "AK-HEADERS-1";
const PATH: &str = "/api/v1/zoloz/connect/checkresult";
const BODY: &str = r#"{"bizId":"b1","transactionId":"sim-connect-approve","isReturnImage":"N"}"#;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Rsa,
    RsaAes,
    AkSk,
}

fn secret() -> SecretKey {
    SecretKey::parse(SECRET).unwrap()
}

/// A message's head and body, split from its raw bytes.
struct Raw {
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let at = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        Raw {
            head: String::from_utf8(bytes[..at].to_vec()).unwrap(),
            body: bytes[at + 4..].to_vec(),
        }
    }

    /// The header names as written, in order.
    fn names(&self) -> Vec<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':').map(|(name, _)| name))
            .collect()
    }

    /// The value of the header written exactly as `name`.
    fn exact(&self, name: &str) -> Option<&str> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
    }

    /// Asserts every `expected` name appears exactly so, and no other spelling of it does.
    fn assert_names(&self, expected: &[&str], context: &str) {
        let names = self.names();
        for name in expected {
            assert!(
                names.contains(name),
                "{context}: no header written as {name:?} in\n{}",
                self.head
            );
            assert!(
                !names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name) && n != name),
                "{context}: {name} is also spelled otherwise in\n{}",
                self.head
            );
        }
    }
}

/// One request written by hand, signed (and sealed) as ZOLOZ's SDK does; the raw answer.
async fn raw_exchange(addr: SocketAddr, mode: Mode, path: &str, json: &str) -> Raw {
    let keys = sim_keys();
    let time = signing::format_wire_time(time::OffsetDateTime::now_utc());
    let mut headers = vec![
        ("Host".to_string(), addr.to_string()),
        ("User-Agent".into(), "header-names-test/1".into()),
        ("Client-Id".into(), CLIENT_ID.into()),
        ("Request-Time".into(), time.clone()),
    ];
    let body = match mode {
        Mode::RsaAes => {
            let sealed = envelope::seal(&keys.zoloz_public(), json.as_bytes()).unwrap();
            headers.push(("Content-Type".into(), "text/plain; charset=UTF-8".into()));
            headers.push(("Encrypt".into(), sealed.encrypt_header));
            sealed.body.into_bytes()
        }
        _ => {
            headers.push((
                "Content-Type".into(),
                "application/json; charset=UTF-8".into(),
            ));
            json.as_bytes().to_vec()
        }
    };
    let signature = match mode {
        Mode::AkSk => {
            headers.push(("Auth-Type".into(), "AKSK".into()));
            headers.push(("Access-Key".into(), ACCESS_KEY.into()));
            aksk::sign(&secret(), path, CLIENT_ID, &time, &body)
        }
        _ => signing::sign(&keys.merchant_private, path, CLIENT_ID, &time, &body),
    };
    headers.push(("Signature".into(), signature));
    headers.push(("Content-Length".into(), body.len().to_string()));
    headers.push(("Connection".into(), "close".into()));
    let mut request = format!("POST {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(&body);

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the simulator answers and closes")
        .unwrap();
    Raw::parse(&answer)
}

async fn simulator() -> zoloz_verdict::simulator::RunningSimulator {
    let mut config = sim_keys().config(CLIENT_ID);
    config.aksk = Some((ACCESS_KEY.into(), secret()));
    start_simulator(config).await
}

#[tokio::test]
async fn simulator_answers_name_their_headers_as_zoloz_does() {
    let sim = simulator().await;
    let keys = sim_keys();
    for mode in [Mode::Rsa, Mode::RsaAes, Mode::AkSk] {
        let raw = raw_exchange(sim.addr(), mode, PATH, BODY).await;
        let context = format!("{mode:?}");
        assert!(
            raw.head.starts_with("HTTP/1.1 200 "),
            "{context}: {}",
            raw.head
        );
        let mut expected = vec![
            "Signature",
            "Response-Time",
            "Content-Type",
            "Content-Length",
        ];
        if mode == Mode::RsaAes {
            expected.push("Encrypt");
        }
        raw.assert_names(&expected, &context);
        // The exact names carry the signature over exactly these body bytes.
        let time = raw.exact("Response-Time").unwrap();
        let signature = raw.exact("Signature").unwrap();
        match mode {
            Mode::AkSk => assert!(
                aksk::verify(&secret(), PATH, CLIENT_ID, time, &raw.body, signature),
                "{context}"
            ),
            _ => signing::verify(
                &keys.zoloz_public(),
                PATH,
                CLIENT_ID,
                time,
                &raw.body,
                &signing::parse_signature_header(signature).unwrap(),
            )
            .unwrap(),
        }
        let plaintext = match mode {
            Mode::RsaAes => {
                assert_eq!(raw.exact("Content-Type"), Some("text/plain; charset=UTF-8"));
                envelope::open(
                    &keys.merchant_private,
                    raw.exact("Encrypt").unwrap(),
                    &raw.body,
                )
                .unwrap()
            }
            _ => {
                assert_eq!(
                    raw.exact("Content-Type"),
                    Some("application/json; charset=UTF-8")
                );
                raw.body.clone()
            }
        };
        let json: serde_json::Value = serde_json::from_slice(&plaintext).unwrap();
        assert_eq!(json["result"]["resultCode"], "SUCCESS", "{context}");
    }
    // Refusals and the echo are spelled the same way.
    let raw = raw_exchange(
        sim.addr(),
        Mode::Rsa,
        "/api/v1/zoloz/authentication/test",
        "{}",
    )
    .await;
    raw.assert_names(&["Signature", "Response-Time", "Content-Type"], "echo");
    sim.shutdown().await;
}

/// A relay to `target` that records the head of every request it carries; as an HTTP proxy
/// for an http URL it works the same (the simulator takes the absolute-form target).
async fn recording_relay(target: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&heads);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let mut outbound = TcpStream::connect(target).await.unwrap();
                let (mut in_read, mut in_write) = inbound.split();
                let (mut out_read, mut out_write) = outbound.split();
                let upstream = async {
                    let mut buffer = vec![0u8; 64 * 1024];
                    let mut seen = Vec::new();
                    loop {
                        let n = in_read.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            let _ = out_write.shutdown().await;
                            return;
                        }
                        seen.extend_from_slice(&buffer[..n]);
                        while let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            recorded
                                .lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&seen[..at]).into_owned());
                            // Requests are small and sent whole: drop this head and its body.
                            seen.clear();
                        }
                        if out_write.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let downstream = tokio::io::copy(&mut out_read, &mut in_write);
                let _ = tokio::join!(upstream, downstream);
            });
        }
    });
    (addr, heads)
}

fn client(base: &str, mode: Mode, proxy: Option<String>) -> ZolozClient {
    let keys = sim_keys();
    let auth = match mode {
        Mode::AkSk => Auth::AkSk {
            access_key: ACCESS_KEY.into(),
            secret: Arc::new(secret()),
        },
        _ => Auth::Rsa {
            merchant_key: Arc::clone(&keys.merchant_private),
            zoloz_keys: Arc::new(ZolozKeys::single(keys.zoloz_public())),
        },
    };
    let mut config = ClientConfig::new(base.parse().unwrap(), CLIENT_ID.parse().unwrap(), auth);
    config.encrypt = mode == Mode::RsaAes;
    config.http_proxy = proxy.map(ProxyUrl);
    config.retry = RetryConfig {
        max_attempts: 1,
        ..RetryConfig::default()
    };
    ZolozClient::new(config).unwrap()
}

#[tokio::test]
async fn the_service_names_its_request_headers_as_zoloz_sdk_does() {
    let sim = simulator().await;
    let (relay, heads) = recording_relay(sim.addr()).await;
    let request = CheckResultRequest {
        transaction_id: "sim-connect-approve".parse().unwrap(),
        biz_id: Some("b1".parse().unwrap()),
        return_images: false,
        extra_images: Vec::new(),
    };
    for mode in [Mode::Rsa, Mode::RsaAes, Mode::AkSk] {
        for proxied in [false, true] {
            // Direct: the relay is the base URL. Proxied: the simulator is, through the relay.
            let client = if proxied {
                client(&sim.base_url(), mode, Some(format!("http://{relay}")))
            } else {
                client(&format!("http://{relay}"), mode, None)
            };
            let context = format!("{mode:?}, proxied {proxied}");
            heads.lock().unwrap().clear();
            let answer = client
                .checkresult(Product::Connect, &request, None)
                .await
                .unwrap_or_else(|e| panic!("{context}: {e}"));
            assert_eq!(answer.result_code, "SUCCESS", "{context}");
            let echo = client.call(Api::AuthenticationTest, b"{}", None).await;
            assert!(echo.is_ok(), "{context}: {echo:?}");
            let recorded = heads.lock().unwrap().clone();
            assert_eq!(recorded.len(), 2, "{context}: {recorded:?}");
            let mut expected = vec!["Client-Id", "Request-Time", "Signature", "Content-Type"];
            match mode {
                Mode::RsaAes => expected.push("Encrypt"),
                Mode::AkSk => expected.extend(["Auth-Type", "Access-Key"]),
                Mode::Rsa => {}
            }
            for head in &recorded {
                let raw = Raw {
                    head: head.clone(),
                    body: Vec::new(),
                };
                raw.assert_names(&expected, &context);
            }
        }
    }
    sim.shutdown().await;
}
