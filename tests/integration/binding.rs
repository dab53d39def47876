//! An answer is bound to its request, on the real service in front of a hand-made upstream that
//! holds genuine ZOLOZ-signed answers: a recorded answer replayed for another transaction is
//! refused (Connect bodies name no transaction, so only the signature can tell), so is one
//! signed before its request was sent; and a terminal answer that contradicts the one held for
//! its transaction is answered REVIEW_REQUIRED with UPSTREAM_INCONSISTENT, counted and kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tonic::Code;
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::zoloz::signing;

use crate::harness::{request, spawn_service};
use crate::upstream_answers::{BODY, answer, now, server_with, zoloz_signature};

/// Distinct bodies for each group of answers: two answers signed in the same second over the
/// same body are the same bytes, which the service cannot tell from a replay.
const FRESH: &[u8] = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":96.0}}"#;
const FLIP: &[u8] = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":97.0}}"#;

/// A Connect answer that rejects (a liveness attack), for the same transaction.
const REJECTING: &[u8] = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","extFaceInfo":{"faceAttack":true,"faceScore":95.0}}"#;

fn signed_at(time: &str, body: &[u8]) -> Vec<u8> {
    answer(
        &[
            ("Content-Type", "application/json; charset=UTF-8".into()),
            ("Response-Time", time.to_string()),
            ("Signature", zoloz_signature(time, body)),
        ],
        body,
    )
}

fn transaction_of(request: &[u8]) -> String {
    let body: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    body["transactionId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn replayed_and_contradicting_answers_are_not_taken() {
    // One genuine answer recorded now, replayed for whatever transaction is asked; one signed
    // 30 s ago (inside the 5 min freshness window); fresh answers for "fresh-*"; and for
    // "flip", APPROVED first and a signed REJECTED after.
    let recorded = signed_at(&now(), BODY);
    let old_time =
        signing::format_wire_time(time::OffsetDateTime::now_utc() - time::Duration::seconds(30));
    let old = signed_at(&old_time, BODY);
    let flips = Arc::new(AtomicU32::new(0));
    let flips_seen = Arc::clone(&flips);
    let (base, _) = server_with(move |body| {
        let transaction = transaction_of(body);
        match transaction.as_str() {
            "old" => old.clone(),
            "flip" => {
                let body = if flips_seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    FLIP
                } else {
                    REJECTING
                };
                signed_at(&now(), body)
            }
            t if t.starts_with("fresh") => signed_at(&now(), FRESH),
            _ => recorded.clone(),
        }
    })
    .await;
    let upstream = base.clone();
    let service = spawn_service(
        |_| {},
        move |c| {
            for tenant in c.tenants.by_name.values_mut() {
                tenant.client.base_url = upstream.parse().unwrap();
            }
        },
    )
    .await;
    let mut client = service.client();
    let get = |id: &str| request(Product::Connect, id);

    // The recorded answer is genuine: it approves T1.
    let first = client.get_verification_result(get("T1")).await.unwrap();
    assert_eq!(first.get_ref().decision(), pb::Decision::Approved);
    // Replayed as the answer for T2: refused, never cached, never a verdict. (Refused as a
    // replay, retried a second later, and by then also signed before the retry was sent.)
    for _ in 0..2 {
        let status = client.get_verification_result(get("T2")).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal, "{status:?}");
        assert_eq!(reason(&status), "UPSTREAM_SIGNATURE_INVALID");
        assert!(
            status.message().contains("another transaction")
                || status.message().contains("before the request was sent"),
            "{}",
            status.message()
        );
    }

    // A fresh answer measures the clock offset; an answer signed 30 s before its request was
    // sent is then refused, though it is inside the freshness window.
    let fresh = client
        .get_verification_result(get("fresh-1"))
        .await
        .unwrap();
    assert_eq!(fresh.get_ref().decision(), pb::Decision::Approved);
    let status = client
        .get_verification_result(get("old"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "UPSTREAM_SIGNATURE_INVALID", "{status:?}");
    assert!(
        status.message().contains("before the request was sent"),
        "{}",
        status.message()
    );

    // A terminal answer contradicting the held one: REVIEW_REQUIRED, then held that way.
    let approved = client.get_verification_result(get("flip")).await.unwrap();
    assert_eq!(approved.get_ref().decision(), pb::Decision::Approved);
    let mut again = get("flip");
    again.bypass_cache = true;
    for (round, req) in [again.clone(), get("flip"), again].into_iter().enumerate() {
        let result = client
            .get_verification_result(req)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            result.decision(),
            pb::Decision::ReviewRequired,
            "round {round}: {result:?}"
        );
        assert!(
            result
                .reasons
                .iter()
                .any(|r| r.code() == pb::ReasonCode::UpstreamInconsistent),
            "round {round}: {result:?}"
        );
    }
    let metrics = service.scrape_metrics().await;
    assert!(
        metrics.contains(r#"zoloz_verdict_upstream_inconsistent_total{product="connect"} 1"#),
        "{metrics}"
    );
}

/// `serve` refuses a plain `http://` base URL off loopback (exit 64, naming the way out), and
/// takes it with `upstream.allow_insecure_http = true`.
#[test]
fn plain_http_off_loopback_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &str| {
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "allow_unauthenticated = true\n[server]\nlisten = \"127.0.0.1:0\"\n\
                 metrics_listen = \"off\"\n{extra}\n[tenants.default]\n\
                 client_id = \"2089012345678900\"\nbase_url = \"http://10.20.30.40:8080\"\n\
                 merchant_private_key_file = {:?}\nzoloz_public_key_file = {:?}\n",
                crate::harness::vector_path("merchant_private.pk8.b64"),
                crate::harness::vector_path("zoloz_public.spki.b64"),
            ),
        )
        .unwrap();
        path
    };
    let check = |path: &std::path::Path| {
        std::process::Command::new(crate::harness::binary())
            .args(["serve", "--check-config", "--config"])
            .arg(path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let refused = check(&config(""));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("tenants.default.base_url") && stderr.contains("allow_insecure_http"),
        "{stderr}"
    );
    let allowed = check(&config("[upstream]\nallow_insecure_http = true"));
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

/// Two transactions answered in the same second with the same body are the same signed bytes:
/// the second is refused as a replay and retried a second later, when ZOLOZ signs it anew; it
/// is never taken as it is.
#[tokio::test]
async fn identical_answers_in_one_second_are_retried() {
    use zoloz_verdict::zoloz::client::{
        Auth, CheckResultRequest, ClientConfig, RetryConfig, ZolozClient, ZolozKeys,
    };
    use zoloz_verdict::zoloz::keys::{PrivateKey, PublicKey};
    let calls = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&calls);
    let (base, _) = server_with(move |body| {
        seen.lock().unwrap().push(transaction_of(body));
        signed_at(&now(), BODY)
    })
    .await;
    let vectors = crate::harness::vector_path;
    let mut config = ClientConfig::new(
        base.parse().unwrap(),
        crate::harness::CLIENT_ID.parse().unwrap(),
        Auth::Rsa {
            merchant_key: Arc::new(
                PrivateKey::from_file(&vectors("merchant_private.pk8.b64")).unwrap(),
            ),
            zoloz_keys: Arc::new(ZolozKeys::single(
                PublicKey::from_file(&vectors("zoloz_public.spki.b64")).unwrap(),
            )),
        },
    );
    config.retry = RetryConfig {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        budget_ratio: 1.0,
        budget_min_per_sec: 1000,
    };
    let client = ZolozClient::new(config).unwrap();
    let ask = |id: &str| CheckResultRequest {
        transaction_id: id.parse().unwrap(),
        biz_id: Some("B1".parse().unwrap()),
        return_images: false,
        extra_images: Vec::new(),
    };
    // Start just after a second begins, so that both answers are stamped in it.
    let into_second = time::OffsetDateTime::now_utc().nanosecond();
    tokio::time::sleep(Duration::from_nanos(
        u64::from(1_000_000_000 - into_second) + 20_000_000,
    ))
    .await;
    let first = client
        .checkresult(Product::Connect, &ask("T1"), None)
        .await
        .unwrap();
    assert_eq!(first.attempts, 1);
    let started = std::time::Instant::now();
    let second = client
        .checkresult(Product::Connect, &ask("T2"), None)
        .await
        .unwrap();
    assert_eq!(second.attempts, 2, "refused once, then signed anew");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "the retry waits for a new second: {:?}",
        started.elapsed()
    );
    assert_eq!(*calls.lock().unwrap(), ["T1", "T2", "T2"]);
}
