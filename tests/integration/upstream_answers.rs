//! Hand-made HTTP answers from a raw loopback socket to the real `ZolozClient`: the answers a
//! simulator never sends. An answer whose signed headers are ambiguous (a header twice, a pair
//! twice) is refused before anything is parsed; with an `Encrypt` header, a body that is not a
//! JSON object is decrypted whatever its `Content-Type`, and a JSON object is read as plain JSON; a request the configuration
//! cannot build is never sent and never retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use zoloz_verdict::domain::Product;
use zoloz_verdict::error::ErrorReason;
use zoloz_verdict::zoloz::aksk::SecretKey;
use zoloz_verdict::zoloz::client::{
    Auth, CheckResultRequest, ClientConfig, RetryConfig, ZolozClient, ZolozKeys,
};
use zoloz_verdict::zoloz::error::UpstreamError;
use zoloz_verdict::zoloz::keys::{PrivateKey, PublicKey};
use zoloz_verdict::zoloz::{envelope, signing};

use crate::harness::{CLIENT_ID, vector_path};

pub(crate) const PATH: &str = "/api/v1/zoloz/connect/checkresult";
pub(crate) const BODY: &[u8] = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":95.0}}"#;

fn private(name: &str) -> PrivateKey {
    PrivateKey::from_file(&vector_path(name)).unwrap()
}

fn public(name: &str) -> PublicKey {
    PublicKey::from_file(&vector_path(name)).unwrap()
}

pub(crate) fn now() -> String {
    signing::format_wire_time(time::OffsetDateTime::now_utc())
}

/// ZOLOZ's signature over `body`, answered at `time`, for the Connect path.
pub(crate) fn zoloz_signature(time: &str, body: &[u8]) -> String {
    signing::sign(
        &private("zoloz_private.pk8.b64"),
        PATH,
        CLIENT_ID,
        time,
        body,
    )
}

/// An HTTP/1.1 answer with these headers (in this order, repeats kept) and body.
pub(crate) fn answer(headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A loopback server that reads each request whole and writes `reply()`; counts requests.
async fn server(reply: impl Fn() -> Vec<u8> + Send + Sync + 'static) -> (String, Arc<AtomicU32>) {
    server_with(move |_| reply()).await
}

/// A loopback server that reads each request whole and writes `reply(request body)`; counts
/// requests.
pub(crate) async fn server_with(
    reply: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
) -> (String, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let (reply, counted) = (Arc::new(reply), Arc::clone(&calls));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (reply, counted) = (Arc::clone(&reply), Arc::clone(&counted));
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&request);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&request);
                let start = text.find("\r\n\r\n").map_or(request.len(), |e| e + 4);
                let _ = socket.write_all(&reply(&request[start..])).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), calls)
}

fn rsa() -> Auth {
    Auth::Rsa {
        merchant_key: Arc::new(private("merchant_private.pk8.b64")),
        zoloz_keys: Arc::new(ZolozKeys::single(public("zoloz_public.spki.b64"))),
    }
}

async fn call(base_url: &str, auth: Auth, encrypt: bool) -> Result<String, UpstreamError> {
    let mut config = ClientConfig::new(base_url.parse().unwrap(), CLIENT_ID.parse().unwrap(), auth);
    config.encrypt = encrypt;
    config.retry = RetryConfig {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        budget_ratio: 1.0,
        budget_min_per_sec: 1000,
    };
    let client = ZolozClient::new(config).unwrap();
    let request = CheckResultRequest {
        transaction_id: "T1".parse().unwrap(),
        biz_id: Some("B1".parse().unwrap()),
        return_images: false,
        extra_images: Vec::new(),
    };
    client
        .checkresult(Product::Connect, &request, None)
        .await
        .map(|verified| verified.result_code)
}

#[tokio::test]
async fn ambiguous_signed_headers_are_refused() {
    // The unambiguous answer verifies: the server and the signatures are right.
    let (base, _) = server(|| {
        let time = now();
        answer(
            &[
                ("Response-Time", time.clone()),
                ("Signature", zoloz_signature(&time, BODY)),
            ],
            BODY,
        )
    })
    .await;
    assert_eq!(call(&base, rsa(), false).await.unwrap(), "SUCCESS");

    type Reply = fn() -> Vec<u8>;
    let cases: [(&str, Reply); 4] = [
        ("a second Signature header after the valid one", || {
            let time = now();
            answer(
                &[
                    ("Response-Time", time.clone()),
                    ("Signature", zoloz_signature(&time, BODY)),
                    ("Signature", "algorithm=RSA256, signature=AAAA".into()),
                ],
                BODY,
            )
        }),
        ("a second Response-Time header after the signed one", || {
            let time = now();
            answer(
                &[
                    ("Response-Time", time.clone()),
                    ("Response-Time", "2020-01-01T00:00:00+0000".into()),
                    ("Signature", zoloz_signature(&time, BODY)),
                ],
                BODY,
            )
        }),
        ("a signature pair twice in the header", || {
            let time = now();
            let header = format!("{}, signature=AAAA", zoloz_signature(&time, BODY));
            answer(
                &[("Response-Time", time.clone()), ("Signature", header)],
                BODY,
            )
        }),
        ("an algorithm pair twice in the header", || {
            let time = now();
            let header = format!("{}, algorithm=SHA1", zoloz_signature(&time, BODY));
            answer(
                &[("Response-Time", time.clone()), ("Signature", header)],
                BODY,
            )
        }),
    ];
    for (what, reply) in cases {
        let (base, calls) = server(reply).await;
        let err = call(&base, rsa(), false).await.unwrap_err();
        assert_eq!(
            err.reason(),
            ErrorReason::UpstreamSignatureInvalid,
            "{what}: {err}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{what}: retried");
    }
}

/// A signed plain answer that still carries an `Encrypt` header, labelled `content_type`.
fn plain_under_encrypt(content_type: &str, body: &'static [u8]) -> Vec<u8> {
    let time = now();
    let sealed = envelope::seal(&public("merchant_public.spki.b64"), b"{}").unwrap();
    answer(
        &[
            ("Content-Type", content_type.into()),
            ("Encrypt", sealed.encrypt_header),
            ("Response-Time", time.clone()),
            ("Signature", zoloz_signature(&time, body)),
        ],
        body,
    )
}

#[tokio::test]
async fn encrypted_or_not_is_read_from_the_body_under_encrypt() {
    // A gateway's plain JSON error to an encrypted request, with an Encrypt header left on it:
    // its own code (SYSTEM_ERROR, retried), not a body that does not decrypt.
    let error =
        br#"{"result":{"resultCode":"SYSTEM_ERROR","resultStatus":"F","resultMessage":"busy"}}"#;
    let (base, calls) =
        server(move || plain_under_encrypt("application/json; charset=UTF-8", error)).await;
    let err = call(&base, rsa(), true).await.unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamUnavailable, "{err}");
    assert!(err.to_string().contains("SYSTEM_ERROR"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "SYSTEM_ERROR is retried");

    // The same plain error labelled text/plain is still read as JSON.
    let (base, _) = server(move || plain_under_encrypt("text/plain; charset=UTF-8", error)).await;
    let err = call(&base, rsa(), true).await.unwrap_err();
    assert!(err.to_string().contains("SYSTEM_ERROR"), "{err}");

    // An encrypted answer opens whatever its label: text/plain, none, or application/json (ZOLOZ's
    // SDK decrypts whenever Encrypt is there and never reads Content-Type).
    for content_type in [
        Some("text/plain; charset=UTF-8"),
        None,
        Some("application/json; charset=UTF-8"),
    ] {
        let (base, _) = server(move || {
            let time = now();
            let sealed = envelope::seal(&public("merchant_public.spki.b64"), BODY).unwrap();
            let mut headers = vec![
                ("Encrypt", sealed.encrypt_header.clone()),
                ("Response-Time", time.clone()),
                ("Signature", zoloz_signature(&time, sealed.body.as_bytes())),
            ];
            if let Some(content_type) = content_type {
                headers.push(("Content-Type", content_type.into()));
            }
            answer(&headers, sealed.body.as_bytes())
        })
        .await;
        assert_eq!(
            call(&base, rsa(), true).await.unwrap(),
            "SUCCESS",
            "{content_type:?}"
        );
    }

    // Fail closed: a sealed answer labelled application/json is checked against its signature
    // over the received bytes before it is opened.
    let (base, calls) = server(move || {
        let time = now();
        let sealed = envelope::seal(&public("merchant_public.spki.b64"), BODY).unwrap();
        answer(
            &[
                ("Content-Type", "application/json; charset=UTF-8".into()),
                ("Encrypt", sealed.encrypt_header.clone()),
                ("Response-Time", time.clone()),
                ("Signature", zoloz_signature(&time, b"other bytes")),
            ],
            sealed.body.as_bytes(),
        )
    })
    .await;
    let err = call(&base, rsa(), true).await.unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamSignatureInvalid, "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_the_configuration_cannot_build_is_never_sent_or_retried() {
    let (base, calls) = server(|| answer(&[], b"")).await;
    let auth = Auth::AkSk {
        access_key: "AK\u{1}X".into(),
        secret: Arc::new(SecretKey::from_bytes(&[7; 32])),
    };
    let err = call(&base, auth, false).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(err.reason(), ErrorReason::UpstreamAuthRejected, "{err}");
    assert_eq!(err.label(), "request");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
