//! The ZOLOZ client against the real simulator on a loopback port: every product, plain and
//! encrypted and AK/SK; every fault scenario mapped to the right typed error; nothing accepted
//! from an unsigned, wrongly signed or stale response; retries only where allowed (counted at
//! the simulator); deadlines honoured.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::time::Instant;
use zoloz_verdict::domain::{Product, UpstreamFailure};
use zoloz_verdict::error::ErrorReason;
use zoloz_verdict::simulator::{RunningSimulator, SimulatorConfig};
use zoloz_verdict::zoloz::aksk::SecretKey;
use zoloz_verdict::zoloz::api::Api;
use zoloz_verdict::zoloz::client::{
    Auth, CheckResultRequest, ClientConfig, Clock, NoopObserver, RetryConfig, ZolozClient,
    ZolozKeys,
};
use zoloz_verdict::zoloz::error::UpstreamError;
use zoloz_verdict::zoloz::keys::PrivateKey;

use crate::harness::{CLIENT_ID, sim_keys, start_simulator};

fn rsa_auth() -> Auth {
    let keys = sim_keys();
    Auth::Rsa {
        merchant_key: Arc::clone(&keys.merchant_private),
        zoloz_keys: Arc::new(ZolozKeys::single(keys.zoloz_public())),
    }
}

fn config(sim: &RunningSimulator, auth: Auth) -> ClientConfig {
    let mut config = ClientConfig::new(
        sim.base_url().parse().unwrap(),
        CLIENT_ID.parse().unwrap(),
        auth,
    );
    // Quick retries so that the tests count calls without waiting.
    config.retry = RetryConfig {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        budget_ratio: 1.0,
        budget_min_per_sec: 1000,
    };
    config
}

fn client(sim: &RunningSimulator) -> ZolozClient {
    ZolozClient::new(config(sim, rsa_auth())).unwrap()
}

fn request(id: &str) -> CheckResultRequest {
    CheckResultRequest {
        transaction_id: id.parse().unwrap(),
        biz_id: Some("biz-client-test".parse().unwrap()),
        return_images: false,
        extra_images: Vec::new(),
    }
}

fn id(product: Product, scenario: &str) -> String {
    format!("sim-{}-{scenario}", product.slug())
}

async fn get(
    client: &ZolozClient,
    product: Product,
    scenario: &str,
) -> Result<zoloz_verdict::zoloz::client::VerifiedResponse, UpstreamError> {
    client
        .checkresult(product, &request(&id(product, scenario)), None)
        .await
}

#[tokio::test]
async fn every_product_plain_and_encrypted() {
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    let plain = client(&sim);
    let mut encrypted_config = config(&sim, rsa_auth());
    encrypted_config.encrypt = true;
    let encrypted = ZolozClient::new(encrypted_config).unwrap();
    for product in Product::ALL {
        for (mode, client) in [("plain", &plain), ("encrypted", &encrypted)] {
            let response = get(client, product, "approve").await.unwrap();
            assert_eq!(response.result_code, "SUCCESS", "{product} {mode}");
            assert_eq!(response.attempts, 1);
            // The body is the decrypted JSON, ready for the product reader.
            let parsed = zoloz_verdict::zoloz::products::parse(product, &response.body, false)
                .unwrap_or_else(|e| panic!("{product} {mode}: {e}"));
            assert!(parsed.facts.envelope.result_code.is("SUCCESS"));
        }
    }
    // The older Face Capture API is a different path, and the credentials probe works.
    let mut v1 = config(&sim, rsa_auth());
    v1.face_capture_api = zoloz_verdict::zoloz::api::FaceCaptureApi::V1;
    let v1 = ZolozClient::new(v1).unwrap();
    let response = get(&v1, Product::FaceCapture, "v1-approve").await.unwrap();
    assert_eq!(response.api, Api::FaceCaptureV1);
    let probe = plain.authentication_test(None).await.unwrap();
    assert_eq!(probe.result_code, "SUCCESS");
}

#[tokio::test]
async fn aksk_mode_round_trip() {
    let secret_text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let mut sim_config = SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    );
    sim_config.aksk = Some(("AK-TEST".into(), SecretKey::parse(secret_text).unwrap()));
    let sim = start_simulator(sim_config).await;
    let aksk = |secret: &str| Auth::AkSk {
        access_key: "AK-TEST".into(),
        secret: Arc::new(SecretKey::parse(secret).unwrap()),
    };
    let good = ZolozClient::new(config(&sim, aksk(secret_text))).unwrap();
    for product in Product::ALL {
        assert_eq!(
            get(&good, product, "approve").await.unwrap().result_code,
            "SUCCESS"
        );
    }
    // A wrong secret: the simulator answers SIGNATURE_INVALID, which is not retried; even its
    // HMAC cannot verify under our (wrong) secret, so the answer is refused first.
    let bad = ZolozClient::new(config(&sim, aksk("AAAA"))).unwrap();
    let err = get(&bad, Product::Connect, "approve").await.unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamSignatureInvalid, "{err}");
    // Encryption with AK/SK is refused when the client is built.
    let mut encrypting = config(&sim, aksk(secret_text));
    encrypting.encrypt = true;
    assert!(ZolozClient::new(encrypting).is_err());
}

/// What each fault scenario must produce, and how many upstream calls it may take
/// (`max_attempts` is 3).
#[tokio::test]
async fn fault_scenarios_give_typed_errors_and_retry_only_what_is_retryable() {
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    let client = client(&sim);
    let cases: &[(&str, ErrorReason, u64)] = &[
        ("bad-signature", ErrorReason::UpstreamSignatureInvalid, 1),
        ("unsigned", ErrorReason::UpstreamSignatureInvalid, 1),
        ("stale-response", ErrorReason::UpstreamSignatureInvalid, 1),
        ("truncated", ErrorReason::UpstreamMalformedResponse, 1),
        ("malformed-json", ErrorReason::UpstreamMalformedResponse, 1),
        ("html-waf", ErrorReason::UpstreamUnavailable, 1),
        ("http-500", ErrorReason::UpstreamUnavailable, 3),
        ("http-429", ErrorReason::UpstreamRateLimited, 3),
        ("system-error", ErrorReason::UpstreamUnavailable, 3),
        ("process-timeout", ErrorReason::UpstreamUnavailable, 3),
        ("rate-limited", ErrorReason::UpstreamRateLimited, 3),
        ("quota-exceeded", ErrorReason::UpstreamQuotaExhausted, 1),
        ("invalid-argument", ErrorReason::UpstreamInvalidArgument, 1),
    ];
    for product in Product::ALL {
        for (scenario, reason, calls) in cases {
            let transaction = id(product, scenario);
            let err = get(&client, product, scenario)
                .await
                .expect_err(&transaction);
            assert_eq!(err.reason(), *reason, "{transaction}: {err}");
            assert_eq!(
                sim.calls(&transaction),
                *calls,
                "{transaction}: upstream calls"
            );
            assert_eq!(u64::from(err.attempts()), *calls, "{transaction}: attempts");
        }
        // A transient failure followed by success: one retry, then the answer.
        for scenario in ["system-error-then-approve", "http-500-then-approve"] {
            let transaction = id(product, scenario);
            let response = get(&client, product, scenario).await.unwrap();
            assert_eq!(response.result_code, "SUCCESS", "{transaction}");
            assert_eq!(response.attempts, 2, "{transaction}");
            assert_eq!(sim.calls(&transaction), 2, "{transaction}");
        }
    }
    // The failure kinds carry the raw upstream code for ErrorInfo metadata.
    match get(&client, Product::Connect, "system-error")
        .await
        .unwrap_err()
    {
        UpstreamError::Failure {
            failure,
            code,
            status,
            ..
        } => {
            assert_eq!(failure, UpstreamFailure::Unavailable);
            assert_eq!(code, "SYSTEM_ERROR");
            assert_eq!(status, "U");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_response_signed_by_another_key_is_never_accepted() {
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    // We trust the merchant key as if it were ZOLOZ's: every answer must be refused.
    let keys = sim_keys();
    let wrong = Auth::Rsa {
        merchant_key: Arc::clone(&keys.merchant_private),
        zoloz_keys: Arc::new(ZolozKeys::single(keys.merchant_public())),
    };
    let client = ZolozClient::new(config(&sim, wrong)).unwrap();
    for product in Product::ALL {
        let err = get(&client, product, "approve").await.unwrap_err();
        assert_eq!(err.reason(), ErrorReason::UpstreamSignatureInvalid, "{err}");
    }
    // A keyVersion the client does not know is refused too (unit-level: the simulator sends
    // none); and a merchant key ZOLOZ does not know gets SIGNATURE_INVALID, not retried.
    let stranger = PrivateKey::parse(
        &std::fs::read(crate::harness::vector_path("zoloz_private.pk8.b64")).unwrap(),
    )
    .unwrap();
    let refused = Auth::Rsa {
        merchant_key: Arc::new(stranger),
        zoloz_keys: Arc::new(ZolozKeys::single(keys.zoloz_public())),
    };
    let client = ZolozClient::new(config(&sim, refused)).unwrap();
    let transaction = id(Product::Connect, "approve");
    sim.reset_counts();
    let err = client
        .checkresult(Product::Connect, &request(&transaction), None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamAuthRejected, "{err}");
    assert_eq!(sim.calls(&transaction), 1);
}

/// A clock ten minutes ahead of the simulator's: every (fresh) answer looks stale.
#[derive(Debug)]
struct SkewedClock(time::Duration);

impl Clock for SkewedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.0
    }
}

#[tokio::test]
async fn freshness_window_refuses_answers_far_from_the_local_clock() {
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    let skewed = ZolozClient::with_parts(
        config(&sim, rsa_auth()),
        Arc::new(SkewedClock(time::Duration::minutes(10))),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let err = get(&skewed, Product::Connect, "approve").await.unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamSignatureInvalid);
    assert!(err.to_string().contains("Response-Time"), "{err}");
    // A wider window accepts the same answer.
    let mut wide = config(&sim, rsa_auth());
    wide.freshness_window = Duration::from_secs(900);
    let tolerant = ZolozClient::with_parts(
        wide,
        Arc::new(SkewedClock(time::Duration::minutes(10))),
        Arc::new(NoopObserver),
    )
    .unwrap();
    assert!(get(&tolerant, Product::Connect, "approve").await.is_ok());
}

#[tokio::test]
async fn the_deadline_bounds_the_call_and_its_retries() {
    let mut sim_config = SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    );
    // Far beyond the deadline, so that answering in time can only mean the deadline worked.
    sim_config.slow_delay = Duration::from_secs(30);
    let sim = start_simulator(sim_config).await;
    let client = client(&sim);
    let started = Instant::now();
    let err = client
        .checkresult(
            Product::Connect,
            &request(&id(Product::Connect, "slow")),
            Some(Instant::now() + Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamTimeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // Retries stop when the next backoff would pass the deadline: with a long backoff and a
    // short deadline, a 500 is tried once and reported as such (not as a timeout).
    let mut slow_backoff = config(&sim, rsa_auth());
    slow_backoff.retry.base_delay = Duration::from_secs(60);
    slow_backoff.retry.max_delay = Duration::from_secs(60);
    let client = ZolozClient::new(slow_backoff).unwrap();
    let transaction = id(Product::Connect, "http-500");
    let mut attempts_seen = Vec::new();
    for _ in 0..3 {
        sim.reset_counts();
        let err = client
            .checkresult(
                Product::Connect,
                &request(&transaction),
                Some(Instant::now() + Duration::from_secs(2)),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), ErrorReason::UpstreamUnavailable, "{err}");
        attempts_seen.push(sim.calls(&transaction));
    }
    // Full jitter may pick a short delay now and then; it can never exceed the deadline.
    assert!(
        attempts_seen.iter().all(|&n| (1..=3).contains(&n)),
        "{attempts_seen:?}"
    );

    // A deadline already past: no call at all.
    sim.reset_counts();
    let err = client
        .checkresult(
            Product::Connect,
            &request(&transaction),
            Some(Instant::now()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamTimeout);
    assert_eq!(sim.calls(&transaction), 0);
}

#[tokio::test]
async fn the_retry_budget_caps_retries() {
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    let mut no_budget = config(&sim, rsa_auth());
    no_budget.retry.budget_ratio = 0.0;
    no_budget.retry.budget_min_per_sec = 0;
    let client = ZolozClient::new(no_budget).unwrap();
    let transaction = id(Product::IdRecognition, "http-500");
    let err = client
        .checkresult(Product::IdRecognition, &request(&transaction), None)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), ErrorReason::UpstreamUnavailable);
    assert_eq!(sim.calls(&transaction), 1, "no budget, no retry");
}

#[tokio::test]
async fn an_unreachable_host_is_a_transport_error_after_retries() {
    let port = crate::harness::free_port();
    let mut config = ClientConfig::new(
        format!("http://127.0.0.1:{port}").parse().unwrap(),
        CLIENT_ID.parse().unwrap(),
        rsa_auth(),
    );
    config.retry.base_delay = Duration::from_millis(1);
    config.retry.max_delay = Duration::from_millis(2);
    let client = ZolozClient::new(config).unwrap();
    let err = client
        .checkresult(Product::Connect, &request("T-unreachable"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpstreamError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.reason(), ErrorReason::UpstreamUnavailable);
}

#[test]
fn debug_output_of_the_client_shows_no_key() {
    let keys = sim_keys();
    let config = ClientConfig::new(
        "http://127.0.0.1:1".parse().unwrap(),
        CLIENT_ID.parse().unwrap(),
        Auth::Rsa {
            merchant_key: Arc::clone(&keys.merchant_private),
            zoloz_keys: Arc::new(ZolozKeys::single(keys.zoloz_public())),
        },
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains("MII"), "{shown}");
    let pem = keys.merchant_private.to_pkcs8_pem();
    let body: String = pem.lines().nth(1).unwrap().chars().take(40).collect();
    assert!(!shown.contains(&body));
}
