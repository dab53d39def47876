//! The gRPC service end to end, on real ports: the service (`app::start`) in front of the real
//! simulator. Every RPC, every product, every simulator scenario against its expected outcome,
//! validation, tenants and policies, cache and single-flight (counting upstream calls), Watch,
//! deadlines, load shedding, health, reflection, and a drain that loses nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;
use tonic::Code;
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::simulator::{Expected, catalogue};

use crate::harness::{request, spawn_service};
use crate::names::decision_name;

fn reason_names(result: &pb::VerificationResult) -> BTreeSet<String> {
    crate::names::reason_names(result)
        .map(str::to_string)
        .collect()
}

fn error_reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

#[tokio::test]
async fn every_simulator_scenario_gets_its_expected_outcome() {
    let service = spawn_service(|sim| sim.slow_delay = Duration::from_millis(1500), |_| {}).await;
    let mut client = service.client();
    let mut failures = Vec::new();
    for scenario in catalogue() {
        let id = scenario.transaction_id();
        let mut outcome = None;
        for _ in 0..scenario.final_poll() {
            let mut req = request(scenario.product, &id);
            if scenario.needs_face_capture_v1() {
                req.tenant = "v1".into();
            }
            let mut req = tonic::Request::new(req);
            // `slow` expects a caller deadline shorter than the simulator's delay.
            req.set_timeout(Duration::from_millis(if scenario.name == "slow" {
                400
            } else {
                10_000
            }));
            outcome = Some(client.get_verification_result(req).await);
        }
        let outcome = outcome.unwrap();
        let ok = match (&scenario.expected, &outcome) {
            (Expected::Decision { decision, reasons }, Ok(result)) => {
                let result = result.get_ref();
                let want: BTreeSet<String> = reasons.iter().map(|r| r.to_string()).collect();
                decision_name(result) == *decision && reason_names(result) == want
            }
            (Expected::Error { reason }, Err(status)) => {
                let code = zoloz_verdict::grpc::status::code_for(
                    zoloz_verdict::error::ErrorReason::ALL
                        .into_iter()
                        .find(|r| r.as_str() == *reason)
                        .unwrap(),
                );
                error_reason(status) == *reason && status.code() == code
            }
            _ => false,
        };
        if !ok {
            let got = match &outcome {
                Ok(r) => format!(
                    "{} {:?}",
                    decision_name(r.get_ref()),
                    reason_names(r.get_ref())
                ),
                Err(s) => format!("error {} {:?}: {}", error_reason(s), s.code(), s.message()),
            };
            failures.push(format!("{id}: expected {}, got {got}", scenario.expected));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenarios differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_product_approves_with_its_signals_and_images_when_asked() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    for product in Product::ALL {
        let id = format!("sim-{}-approve", product.slug());
        let result = client
            .get_verification_result(request(product, &id))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(result.decision(), pb::Decision::Approved, "{product}");
        assert_eq!(result.transaction_id, id);
        assert_eq!(result.tenant, "default");
        assert_eq!(result.policy.as_ref().unwrap().name, "default");
        assert!(
            result
                .policy
                .as_ref()
                .unwrap()
                .version
                .starts_with("sha256:")
        );
        assert!(result.evaluate_time.is_some());
        assert!(result.images.is_empty(), "no images unless asked");
        assert_eq!(result.upstream.as_ref().unwrap().result_code, "SUCCESS");
    }
    // Large images (about 3 MB per result) pass the message limits, and are never cached.
    for product in [
        Product::FaceCapture,
        Product::Connect,
        Product::IdRecognition,
    ] {
        let id = format!("sim-{}-large-images", product.slug());
        let mut req = request(product, &id);
        req.image_options = Some(pb::ImageOptions {
            return_images: true,
            extra_images: Vec::new(),
        });
        for round in 0..2 {
            let result = client
                .get_verification_result(req.clone())
                .await
                .unwrap()
                .into_inner();
            let bytes: usize = result.images.iter().map(|i| i.content.len()).sum();
            assert!(bytes > 2_000_000, "{product}: {bytes} bytes of images");
            assert!(
                !result.from_cache,
                "{product} round {round}: images are never cached"
            );
            assert!(
                result
                    .images
                    .iter()
                    .all(|i| i.kind() != pb::ImageKind::Unspecified)
            );
        }
        assert_eq!(service.sim.calls(&id), 2);
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_field_violations_and_no_upstream_call() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    let good = request(Product::Connect, "sim-connect-approve");
    let cases: Vec<(pb::GetVerificationResultRequest, &str)> = vec![
        (
            pb::GetVerificationResultRequest {
                product: 0,
                ..good.clone()
            },
            "product",
        ),
        (
            pb::GetVerificationResultRequest {
                product: 17,
                ..good.clone()
            },
            "product",
        ),
        (
            pb::GetVerificationResultRequest {
                transaction_id: String::new(),
                ..good.clone()
            },
            "transaction_id",
        ),
        (
            pb::GetVerificationResultRequest {
                transaction_id: "x".repeat(65),
                ..good.clone()
            },
            "transaction_id",
        ),
        (
            pb::GetVerificationResultRequest {
                transaction_id: "sim connect".into(),
                ..good.clone()
            },
            "transaction_id",
        ),
        (
            pb::GetVerificationResultRequest {
                transaction_id: "sim-\u{e9}".into(),
                ..good.clone()
            },
            "transaction_id",
        ),
        (
            pb::GetVerificationResultRequest {
                biz_id: "b".repeat(33),
                ..good.clone()
            },
            "biz_id",
        ),
        (
            pb::GetVerificationResultRequest {
                tenant: "no such/tenant".into(),
                ..good.clone()
            },
            "tenant",
        ),
        (
            pb::GetVerificationResultRequest {
                policy: "p p".into(),
                ..good.clone()
            },
            "policy",
        ),
        (
            pb::GetVerificationResultRequest {
                image_options: Some(pb::ImageOptions {
                    return_images: false,
                    extra_images: vec!["CROPPED_FACE".into()],
                }),
                ..good.clone()
            },
            "image_options.extra_images",
        ),
    ];
    for (req, field) in cases {
        let status = client.get_verification_result(req).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "INVALID_REQUEST");
        assert_eq!(details.error_info().unwrap().domain, "zoloz-verdict");
        let violations = &details.bad_request().unwrap().field_violations;
        assert!(
            violations.iter().any(|v| v.field == field),
            "{field}: {violations:?}"
        );
    }
    // Unknown tenant and policy: their own reasons.
    let status = client
        .get_verification_result(pb::GetVerificationResultRequest {
            tenant: "acme".into(),
            ..good.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), error_reason(&status).as_str()),
        (Code::InvalidArgument, "UNKNOWN_TENANT")
    );
    let status = client
        .get_verification_result(pb::GetVerificationResultRequest {
            policy: "nope".into(),
            ..good.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), error_reason(&status).as_str()),
        (Code::InvalidArgument, "UNKNOWN_POLICY")
    );
    // Watch and Evaluate validate too.
    let status = client
        .watch_verification_result(pb::WatchVerificationResultRequest {
            product: pb::Product::Connect as i32,
            transaction_id: "t".into(),
            max_wait: Some(prost_types::Duration {
                seconds: -5,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
            product: pb::Product::Connect as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(service.sim.total_calls(), 0, "no bad request reached ZOLOZ");
}

#[tokio::test]
async fn terminal_results_are_cached_as_facts_and_policies_apply_at_read() {
    let service = spawn_service(
        |_| {},
        |config| {
            let strict = r#"
[policies.strict]
face_match_min_score = 80.0
"#;
            config.policies = zoloz_verdict::config::parse_policies(strict, "test").unwrap();
        },
    )
    .await;
    let mut client = service.client();
    let id = "sim-connect-low-score";
    let first = client
        .get_verification_result(request(Product::Connect, id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.decision(), pb::Decision::Approved);
    assert!(!first.from_cache);
    let second = client
        .get_verification_result(request(Product::Connect, id))
        .await
        .unwrap()
        .into_inner();
    assert!(second.from_cache);
    assert_eq!(second.decision(), pb::Decision::Approved);
    // Another policy over the same cached facts: no new upstream call, another decision.
    let strict = client
        .get_verification_result(pb::GetVerificationResultRequest {
            policy: "strict".into(),
            ..request(Product::Connect, id)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(strict.from_cache);
    assert_eq!(strict.decision(), pb::Decision::Rejected);
    assert_eq!(strict.policy.as_ref().unwrap().name, "strict");
    assert!(reason_names(&strict).contains("FACE_SCORE_BELOW_THRESHOLD"));
    let reason = strict
        .reasons
        .iter()
        .find(|r| r.code() == pb::ReasonCode::FaceScoreBelowThreshold)
        .unwrap();
    assert_eq!((reason.score, reason.threshold), (Some(55.0), Some(80.0)));
    assert_eq!(service.sim.calls(id), 1);
    // bypass_cache calls again.
    let bypass = client
        .get_verification_result(pb::GetVerificationResultRequest {
            bypass_cache: true,
            ..request(Product::Connect, id)
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!bypass.from_cache);
    assert_eq!(service.sim.calls(id), 2);
    // PENDING is never cached.
    let pending = "sim-connect-pending";
    for _ in 0..3 {
        let r = client
            .get_verification_result(request(Product::Connect, pending))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.decision(), pb::Decision::Pending);
        assert!(!r.from_cache);
    }
    assert_eq!(service.sim.calls(pending), 3);
}

#[tokio::test]
async fn a_terminal_result_never_turns_back_into_pending() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    // pending-then-approve: two PENDING polls, then APPROVED.
    let id = "sim-face-compare-pending-then-approve";
    let decisions: Vec<pb::Decision> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                client
                    .get_verification_result(request(Product::FaceCompare, id))
                    .await
                    .unwrap()
                    .into_inner()
                    .decision(),
            );
        }
        v
    };
    assert_eq!(
        decisions,
        [
            pb::Decision::Pending,
            pb::Decision::Pending,
            pb::Decision::Approved
        ]
    );
    // The simulator starts over (PROCESSING again); a bypassing read must not go back.
    service.sim.reset_counts();
    let again = client
        .get_verification_result(pb::GetVerificationResultRequest {
            bypass_cache: true,
            ..request(Product::FaceCompare, id)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.decision(), pb::Decision::Approved);
    assert!(again.from_cache);
    assert_eq!(service.sim.calls(id), 1, "it did ask ZOLOZ");
}

#[tokio::test]
async fn concurrent_identical_requests_share_one_upstream_call() {
    let service = spawn_service(|sim| sim.slow_delay = Duration::from_millis(400), |_| {}).await;
    let id = "sim-id-recognition-slow";
    let mut handles = Vec::new();
    for _ in 0..24 {
        let mut client = service.client();
        handles.push(tokio::spawn(async move {
            client
                .get_verification_result(request(Product::IdRecognition, id))
                .await
                .map(|r| r.into_inner().decision())
        }));
    }
    for handle in handles {
        assert_eq!(handle.await.unwrap().unwrap(), pb::Decision::Approved);
    }
    assert_eq!(service.sim.calls(id), 1, "24 callers, one upstream call");
}

#[tokio::test]
async fn the_caller_deadline_is_answered_with_deadline_exceeded_in_time() {
    let service = spawn_service(|sim| sim.slow_delay = Duration::from_secs(20), |_| {}).await;
    let mut client = service.client();
    let started = Instant::now();
    let mut req = tonic::Request::new(request(Product::Connect, "sim-connect-slow"));
    req.set_timeout(Duration::from_millis(500));
    let status = client.get_verification_result(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        error_reason(&status),
        "UPSTREAM_TIMEOUT",
        "answered by the service, not tonic"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn watch_follows_pending_to_approved_and_ends() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    for product in Product::ALL {
        let id = format!("sim-{}-pending-then-approve", product.slug());
        let mut stream = client
            .watch_verification_result(pb::WatchVerificationResultRequest {
                product: zoloz_verdict::grpc::convert::product_to_pb(product) as i32,
                transaction_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let mut decisions = Vec::new();
        while let Some(result) = stream.message().await.unwrap() {
            decisions.push(result.decision());
        }
        assert_eq!(
            decisions,
            [pb::Decision::Pending, pb::Decision::Approved],
            "{id}"
        );
        assert_eq!(
            service.sim.calls(&id),
            3,
            "{id}: polled until terminal, then stopped"
        );
    }
    // max_wait ends a watch that never resolves, cleanly, after telling the caller PENDING.
    let mut stream = client
        .watch_verification_result(pb::WatchVerificationResultRequest {
            product: pb::Product::Connect as i32,
            transaction_id: "sim-connect-pending".into(),
            max_wait: Some(prost_types::Duration {
                seconds: 0,
                nanos: 400_000_000,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut decisions = Vec::new();
    while let Some(result) = stream.message().await.unwrap() {
        decisions.push(result.decision());
    }
    assert_eq!(decisions, [pb::Decision::Pending]);
    assert!(
        service.sim.calls("sim-connect-pending") >= 2,
        "it kept polling"
    );
    // A watch on a failing transaction reports the error.
    let mut stream = client
        .watch_verification_result(pb::WatchVerificationResultRequest {
            product: pb::Product::Connect as i32,
            transaction_id: "sim-connect-bad-signature".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = stream.message().await.unwrap_err();
    assert_eq!(error_reason(&status), "UPSTREAM_SIGNATURE_INVALID");
}

#[tokio::test]
async fn evaluate_normalizes_a_body_without_calling_zoloz() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    let fixture = |name: &str| {
        std::fs::read(
            crate::harness::root()
                .join("tests/fixtures/seeds")
                .join(name),
        )
        .unwrap()
    };
    let cases = [
        (
            pb::Product::Connect,
            "connect.response.json",
            pb::Decision::Approved,
        ),
        (
            pb::Product::FaceCompare,
            "facecompare.response.json",
            pb::Decision::Approved,
        ),
        (
            pb::Product::IdRecognition,
            "idrecognition.response.corrected.json",
            pb::Decision::Rejected,
        ),
    ];
    for (product, file, decision) in cases {
        let result = client
            .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
                product: product as i32,
                response_body: fixture(file).into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(result.decision(), decision, "{file}");
        assert!(!result.from_cache);
    }
    // A byte order mark (some proxies add one) is skipped, as `explain` skips it.
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(fixture("connect.response.json"));
    let result = client
        .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
            product: pb::Product::Connect as i32,
            response_body: with_bom.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(result.decision(), pb::Decision::Approved);
    // The seed's documentation typo is not JSON: a malformed response, not a verdict.
    let status = client
        .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
            product: pb::Product::IdRecognition as i32,
            response_body: fixture("idrecognition.response.verbatim.json").into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), error_reason(&status).as_str()),
        (Code::Internal, "UPSTREAM_MALFORMED_RESPONSE")
    );
    // A repeated key (attack, then none) is refused, not read as its last value.
    let status = client
        .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
            product: pb::Product::Connect as i32,
            response_body: br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"extInfo":{"faceAttack":true,"faceAttack":false,"faceScore":95}}"#
                .to_vec()
                .into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), error_reason(&status).as_str()),
        (Code::Internal, "UPSTREAM_MALFORMED_RESPONSE")
    );
    assert!(
        status.message().contains("repeats a key"),
        "{}",
        status.message()
    );
    // A failure result code in the body maps to its error.
    let status = client
        .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
            product: pb::Product::Connect as i32,
            response_body: br#"{"result":{"resultCode":"SYSTEM_ERROR","resultStatus":"U"}}"#
                .to_vec()
                .into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata["upstream_code"], "SYSTEM_ERROR");
    assert_eq!(service.sim.total_calls(), 0);
}

#[tokio::test]
async fn evaluate_applies_the_rule_of_the_named_or_configured_face_capture_api() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    // The v1 seed: no faceCaptureResult, faceAttack false with a quality score.
    let v1_body = std::fs::read(
        crate::harness::root().join("tests/fixtures/seeds/facecapture-v1.response.json"),
    )
    .unwrap();
    let evaluate = |product: pb::Product, api: i32| pb::EvaluateVerificationResultRequest {
        product: product as i32,
        response_body: v1_body.clone().into(),
        face_capture_api: api,
        ..Default::default()
    };
    // Named, the API decides; unnamed, the tenant's configured API does (the default tenant
    // calls v1a, the `v1` tenant v1).
    for (tenant, api, decision) in [
        (
            "",
            pb::FaceCaptureApi::Unspecified,
            pb::Decision::ReviewRequired,
        ),
        (
            "v1",
            pb::FaceCaptureApi::Unspecified,
            pb::Decision::Approved,
        ),
        ("", pb::FaceCaptureApi::V1, pb::Decision::Approved),
        ("", pb::FaceCaptureApi::V1a, pb::Decision::ReviewRequired),
        ("v1", pb::FaceCaptureApi::V1a, pb::Decision::ReviewRequired),
    ] {
        let request = pb::EvaluateVerificationResultRequest {
            tenant: tenant.into(),
            ..evaluate(pb::Product::FaceCapture, api as i32)
        };
        let result = client
            .evaluate_verification_result(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(result.decision(), decision, "{tenant:?} {api:?}");
        if decision == pb::Decision::ReviewRequired {
            assert_eq!(result.reasons[0].code(), pb::ReasonCode::IncompleteResult);
            assert_eq!(result.reasons[0].field, "/faceCaptureResult");
        }
    }
    // The API of another product, or one this service does not know: INVALID_ARGUMENT naming
    // the field, and no verdict.
    for (product, api, description) in [
        (
            pb::Product::Connect,
            pb::FaceCaptureApi::V1a as i32,
            "applies to PRODUCT_FACE_CAPTURE only",
        ),
        (pb::Product::FaceCapture, 7, "unknown value 7"),
    ] {
        let status = client
            .evaluate_verification_result(evaluate(product, api))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(error_reason(&status), "INVALID_REQUEST");
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, "face_capture_api");
        assert_eq!(violations[0].description, description);
    }
    assert_eq!(service.sim.total_calls(), 0);
}

#[tokio::test]
async fn upstream_errors_carry_the_raw_code_in_error_info() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    let status = client
        .get_verification_result(request(
            Product::FaceCapture,
            "sim-face-capture-quota-exceeded",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "UPSTREAM_QUOTA_EXHAUSTED");
    assert_eq!(info.metadata["upstream_code"], "PRODUCT_QUOTA_LIMIT");
    assert_eq!(info.metadata["upstream_status"], "F");
}

#[tokio::test]
async fn calls_beyond_max_in_flight_are_shed() {
    let service = spawn_service(
        |sim| sim.slow_delay = Duration::from_millis(2500),
        |config| config.server.max_in_flight = 2,
    )
    .await;
    let mut handles = Vec::new();
    for product in [Product::Connect, Product::FaceCompare] {
        let mut client = service.client();
        let id = format!("sim-{}-slow", product.slug());
        handles.push(tokio::spawn(async move {
            client.get_verification_result(request(product, &id)).await
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.sim.calls("sim-connect-slow") + service.sim.calls("sim-face-compare-slow") < 2 {
        assert!(
            Instant::now() < deadline,
            "the slow calls never reached the simulator"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = service
        .client()
        .get_verification_result(request(
            Product::IdRecognition,
            "sim-id-recognition-approve",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(error_reason(&status), "OVERLOADED");
    for handle in handles {
        assert!(handle.await.unwrap().is_ok(), "admitted calls complete");
    }
}

#[tokio::test]
async fn health_reflection_and_a_drain_that_loses_nothing() {
    let mut service =
        spawn_service(|sim| sim.slow_delay = Duration::from_millis(700), |_| {}).await;
    let channel = service.channel.clone();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for name in ["", "zoloz.verdict.v1.VerdictService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: name.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{name:?}"
        );
    }
    // Reflection, both versions, lists the service.
    use tonic_reflection::pb::v1 as r1;
    use tonic_reflection::pb::v1alpha as r1a;
    let mut v1 = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut responses = v1
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let listed = format!("{:?}", responses.message().await.unwrap().unwrap());
    assert!(
        listed.contains("zoloz.verdict.v1.VerdictService"),
        "{listed}"
    );
    let mut v1alpha = r1a::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1a::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut responses = v1alpha
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let listed = format!("{:?}", responses.message().await.unwrap().unwrap());
    assert!(
        listed.contains("zoloz.verdict.v1.VerdictService"),
        "{listed}"
    );

    // A health watch sees SERVING, then NOT_SERVING when the drain starts.
    let mut watch = health
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    // A call in flight when the drain starts completes with its verdict.
    let mut client = service.client();
    let in_flight = tokio::spawn(async move {
        client
            .get_verification_result(crate::harness::request(
                Product::Connect,
                "sim-connect-slow",
            ))
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while service.sim.calls("sim-connect-slow") == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.running.as_mut().unwrap().begin_shutdown();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        tonic_health::pb::health_check_response::ServingStatus::NotServing
    );
    drop(watch);
    let verdict = in_flight
        .await
        .unwrap()
        .expect("the in-flight call is not lost");
    assert_eq!(verdict.into_inner().decision(), pb::Decision::Approved);
    service.running.take().unwrap().wait().await.unwrap();
    // New connections are refused once drained.
    assert!(
        tonic::transport::Endpoint::from_shared(format!("http://{}", service.addr))
            .unwrap()
            .connect()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn metrics_count_verdicts_cache_and_upstream_calls() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut client = service.client();
    for _ in 0..2 {
        client
            .get_verification_result(request(Product::Connect, "sim-connect-approve"))
            .await
            .unwrap();
    }
    let _ = client
        .get_verification_result(request(Product::Connect, "sim-connect-http-500"))
        .await;
    let text = service.scrape_metrics().await;
    for needle in [
        r#"zoloz_verdict_verdicts_total{product="connect",decision="APPROVED"} 2"#,
        r#"zoloz_verdict_cache_lookups_total{result="hit"} 1"#,
        r#"zoloz_verdict_upstream_attempts_total{api="connect",outcome="ok"} 1"#,
        r#"zoloz_verdict_upstream_attempts_total{api="connect",outcome="http_5xx"} 3"#,
        r#"zoloz_verdict_upstream_retries_total{api="connect"} 2"#,
        r#"zoloz_verdict_rpcs_total{method="get",outcome="UPSTREAM_UNAVAILABLE",caller="unauthenticated"} 1"#,
        "zoloz_verdict_upstream_latency_seconds_count",
        "zoloz_verdict_in_flight 0",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
}

#[tokio::test]
async fn answers_that_do_not_fit_the_request_are_not_verdicts() {
    // A signed Face Compare answer that names another transaction (a replay by someone in the
    // path) is refused; one that names ours, or a masked form of it, is accepted.
    let dir = tempfile::tempdir().unwrap();
    let body = |id: &str| {
        format!(
            r#"{{"transactionId":"{id}","face1ImageQualityResult":"PASS","face2ImageQualityResult":"PASS","score":91.0,"samePerson":true,"result":{{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"}}}}"#
        )
    };
    std::fs::write(dir.path().join("T-replayed.json"), body("T-other-one")).unwrap();
    std::fs::write(dir.path().join("T-honest.json"), body("T-honest")).unwrap();
    std::fs::write(dir.path().join("T-masked-0001.json"), body("T-masked-****")).unwrap();
    // Masked beyond half its length, an id matches any transaction of that length: it binds
    // the answer to none.
    std::fs::write(dir.path().join("T-hidden-01.json"), body("T-*********")).unwrap();
    let scenarios = dir.path().to_path_buf();
    let service = spawn_service(move |sim| sim.scenarios_dir = Some(scenarios), |_| {}).await;
    let mut client = service.client();
    for id in ["T-replayed", "T-hidden-01"] {
        let status = client
            .get_verification_result(request(Product::FaceCompare, id))
            .await
            .unwrap_err();
        assert_eq!(error_reason(&status), "UPSTREAM_MALFORMED_RESPONSE", "{id}");
    }
    for id in ["T-honest", "T-masked-0001"] {
        let result = client
            .get_verification_result(request(Product::FaceCompare, id))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(result.decision(), pb::Decision::Approved, "{id}");
    }

    // The v1 Face Capture shape (no faceCaptureResult) answered by the v1a API lacks the state
    // the decision needs: review, not approval. The same body from the v1 API approves.
    let v1a = client
        .get_verification_result(request(Product::FaceCapture, "sim-face-capture-v1-approve"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1a.decision(), pb::Decision::ReviewRequired);
    assert!(reason_names(&v1a).contains("INCOMPLETE_RESULT"));
    let v1 = client
        .get_verification_result(pb::GetVerificationResultRequest {
            tenant: "v1".into(),
            ..request(Product::FaceCapture, "sim-face-capture-v1-approve")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.decision(), pb::Decision::Approved);
}
