//! Hostile input, bounded for `cargo test`: the fuzz targets' checks (`fuzz/fuzz_targets/
//! checks.rs`, the same file) on proptest-generated and seed-mutated inputs, and 10,000
//! generated bad gRPC requests, each answered `INVALID_ARGUMENT` without an upstream call. The
//! long runs are the fuzzers (`fuzz/`, BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tonic::Code;
use tonic_types::StatusExt as _;
use zoloz_verdict::pb;

use crate::harness::{root, spawn_service};

#[path = "../../fuzz/fuzz_targets/checks.rs"]
mod checks;

/// Checkresult bodies to start from: the fixtures and the documentation seeds.
fn seed_bodies() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for dir in ["tests/fixtures", "tests/fixtures/seeds"] {
        let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|e| e == "json")
                    && !p.to_string_lossy().ends_with(".request.json")
            })
            .collect();
        paths.sort();
        out.extend(paths.into_iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(out.len() >= 8, "fixtures missing");
    out
}

/// A body with a few random byte edits (overwrite, insert, delete, splice in a JSON token).
fn mutate(rng: &mut StdRng, body: &[u8]) -> Vec<u8> {
    const TOKENS: [&[u8]; 14] = [
        b"null",
        b"true",
        b"false",
        b"\"\"",
        b"{}",
        b"[]",
        b"-1",
        b"1e999",
        b"\"N\"",
        b"\"Success\"",
        b"\"PROCESSING\"",
        b"\"\\u0000\"",
        b"\"99.5\"",
        b"\"/9j/\"",
    ];
    let mut out = body.to_vec();
    for _ in 0..rng.random_range(1..6) {
        let at = rng.random_range(0..=out.len());
        match rng.random_range(0..4) {
            0 if at < out.len() => out[at] = rng.random(),
            1 => out.insert(at, rng.random()),
            2 if at < out.len() => {
                out.remove(at);
            }
            _ => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
        }
    }
    out
}

#[test]
fn response_checks_hold_on_mutated_seeds() {
    let seeds = seed_bodies();
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..3000 {
        let body = &seeds[round % seeds.len()];
        let mut input = vec![rng.random::<u8>()];
        input.extend(if round < seeds.len() * 16 {
            body.clone()
        } else {
            mutate(&mut rng, body)
        });
        checks::response(&input);
    }
}

/// JSON values of every shape, biased toward ZOLOZ's field names and values.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("result".to_string()),
        Just("resultCode".to_string()),
        Just("resultStatus".to_string()),
        Just("extInfo".to_string()),
        Just("extFaceInfo".to_string()),
        Just("connectResult".to_string()),
        Just("faceCaptureResult".to_string()),
        Just("recognitionResult".to_string()),
        Just("spoofResult".to_string()),
        Just("samePerson".to_string()),
        Just("score".to_string()),
        Just("faceAttack".to_string()),
        Just("deviceRisk".to_string()),
        Just("riskLevel".to_string()),
        Just("imageContent".to_string()),
        "[a-zA-Z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        prop_oneof![
            Just("SUCCESS"),
            Just("S"),
            Just("F"),
            Just("PROCESSING"),
            Just("Success"),
            Just("Failure"),
            Just("Y"),
            Just("N"),
            Just("99.1"),
            Just("/9j/4AAQ"),
        ]
        .prop_map(serde_json::Value::from),
        ".{0,16}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn response_checks_hold_on_generated_json(selector: u8, value in json_value()) {
        let mut input = vec![selector];
        input.extend(serde_json::to_vec(&value).unwrap());
        checks::response(&input);
    }

    #[test]
    fn response_checks_hold_on_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        checks::response(&data);
    }

    #[test]
    fn header_checks_hold(data in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::headers(&data);
    }

    #[test]
    fn header_checks_hold_on_header_like_text(
        text in r"((algorithm|signature|symmetricKey|keyVersion)=[A-Za-z0-9+/=%_ -]{0,40}, ?){0,4}",
    ) {
        checks::headers(text.as_bytes());
    }

    #[test]
    fn header_checks_hold_on_time_like_text(
        text in r"[0-9+-]{0,5}-[0-9]{1,2}-[0-9]{1,2}T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}([+-][0-9:]{2,5}|Z)?",
    ) {
        checks::headers(text.as_bytes());
    }

    #[test]
    fn config_checks_hold_on_toml_like_text(
        text in r"(\[(server|policies\.[a-z]{1,3}|policies\.[a-z]{1,3}\.effects|tenants\.[a-z]{1,3}|cache|retry|audit)\]\n|[a-zA-Z_]{1,24} = ([0-9.-]{1,6}|true|false|[A-Z_]{1,20}|.{0,12}|[0-9]{1,4}(ms|s|m|h))\n){0,12}",
    ) {
        checks::config(text.as_bytes());
    }

    #[test]
    fn config_checks_hold_on_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        checks::config(&data);
    }
}

/// One invalid Get, Watch or Evaluate: every request has at least one bad field (several, in
/// some); the others are random but valid.
fn bad_request(rng: &mut StdRng) -> BadRequest {
    let mut get = pb::GetVerificationResultRequest {
        product: rng.random_range(1..=4),
        transaction_id: format!("sim-connect-approve.{}", rng.random::<u32>()),
        ..Default::default()
    };
    let faults = rng.random_range(1..=3);
    for _ in 0..faults {
        match rng.random_range(0..14) {
            0 => get.product = 0,
            1 => get.product = rng.random_range(5..i32::MAX),
            2 => get.product = rng.random_range(i32::MIN..0),
            3 => get.transaction_id = String::new(),
            4 => get.transaction_id = "t".repeat(rng.random_range(65..300)),
            5 => {
                let bad = [' ', '\n', '\t', '\u{7f}', 'é', '中', '\0'];
                let bad = bad[rng.random_range(0..bad.len())];
                if rng.random_bool(0.5) {
                    get.transaction_id.insert(0, bad);
                } else {
                    get.transaction_id.push(bad);
                }
            }
            6 => get.biz_id = "b".repeat(rng.random_range(33..100)),
            7 => get.biz_id = "biz id".into(),
            8 => {
                get.tenant = ["a b", "ten/ant", "ü", &"t".repeat(65)][rng.random_range(0..4)].into()
            }
            9 => get.policy = ["p p", "pol*", "ü", &"p".repeat(65)][rng.random_range(0..4)].into(),
            10 => get.tenant = format!("unknown-tenant-{}", rng.random::<u16>()),
            11 => get.policy = format!("unknown-policy-{}", rng.random::<u16>()),
            12 => {
                get.image_options = Some(pb::ImageOptions {
                    return_images: false,
                    extra_images: vec!["CROPPED_FACE".into()],
                })
            }
            _ => {
                let names = ["", "lower", "WITH SPACE", &"X".repeat(65), "É"];
                let count = rng.random_range(1..=20);
                get.image_options = Some(pb::ImageOptions {
                    return_images: true,
                    extra_images: (0..count)
                        .map(|i| {
                            if i == 0 || rng.random_bool(0.5) {
                                names[rng.random_range(0..names.len())].to_string()
                            } else {
                                "CROPPED_FACE".to_string()
                            }
                        })
                        .collect(),
                })
            }
        }
    }
    match rng.random_range(0..10) {
        0..=6 => BadRequest::Get(get),
        7 | 8 => BadRequest::Watch(pb::WatchVerificationResultRequest {
            product: get.product,
            transaction_id: get.transaction_id,
            biz_id: get.biz_id,
            tenant: get.tenant,
            policy: get.policy,
            image_options: get.image_options,
            bypass_cache: get.bypass_cache,
            max_wait: match rng.random_range(0..3) {
                0 => Some(prost_types::Duration {
                    seconds: -rng.random_range(1..1000),
                    nanos: 0,
                }),
                1 => Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 1_000_000_000 + rng.random_range(0..1000),
                }),
                _ => None,
            },
        }),
        _ => {
            // A bad product, or a good one with a Face Capture API it cannot have (another
            // product's, or a value the enum does not know).
            let (product, face_capture_api) = match rng.random_range(0..3) {
                0 => ([0, 9, -1][rng.random_range(0..3)], rng.random_range(-1..=3)),
                1 => (rng.random_range(2..=4), rng.random_range(1..=2)),
                _ => (rng.random_range(1..=4), [3, 99, -1][rng.random_range(0..3)]),
            };
            BadRequest::Evaluate(pb::EvaluateVerificationResultRequest {
                product,
                response_body: if rng.random_bool(0.5) {
                    Default::default()
                } else {
                    br#"{"result":{"resultCode":"SUCCESS"}}"#.to_vec().into()
                },
                tenant: get.tenant,
                policy: get.policy,
                face_capture_api,
            })
        }
    }
}

#[derive(Debug)]
enum BadRequest {
    Get(pb::GetVerificationResultRequest),
    Watch(pb::WatchVerificationResultRequest),
    Evaluate(pb::EvaluateVerificationResultRequest),
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_bad_requests_are_invalid_argument_without_an_upstream_call() {
    const REQUESTS: u64 = 10_000;
    const CALLERS: u64 = 16;
    let service = spawn_service(|_| {}, |_| {}).await;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let mut client = service.client();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(caller);
            let mut failures = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                let request = bad_request(&mut rng);
                let status = match &request {
                    BadRequest::Get(r) => client.get_verification_result(r.clone()).await.err(),
                    // A Watch with an unknown tenant or policy learns it at its first poll:
                    // the status then ends the stream before any message.
                    BadRequest::Watch(r) => match client.watch_verification_result(r.clone()).await
                    {
                        Err(status) => Some(status),
                        Ok(response) => response.into_inner().message().await.err(),
                    },
                    BadRequest::Evaluate(r) => {
                        client.evaluate_verification_result(r.clone()).await.err()
                    }
                };
                let reason = status
                    .as_ref()
                    .and_then(|s| s.get_details_error_info())
                    .map(|i| i.reason);
                let ok = status
                    .as_ref()
                    .is_some_and(|s| s.code() == Code::InvalidArgument)
                    && matches!(
                        reason.as_deref(),
                        Some("INVALID_REQUEST" | "UNKNOWN_TENANT" | "UNKNOWN_POLICY")
                    );
                if !ok && failures.len() < 5 {
                    failures.push(format!(
                        "{request:?}: {:?} {reason:?}",
                        status.map(|s| (s.code(), s.message().to_string()))
                    ));
                }
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.unwrap());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(service.sim.total_calls(), 0, "a bad request reached ZOLOZ");
}

/// Request bytes as they are: the caller's encoder, whatever it wrote.
#[derive(Debug, Default, Clone, Copy)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = bytes::Buf::copy_to_bytes(buf, bytes::Buf::remaining(buf));
        Ok(Some(bytes.to_vec()))
    }
}

/// Sends `bytes` as the request message of `method`; the status it ends with (a Watch that
/// answers is read to its end).
async fn raw_call(
    grpc: &mut tonic::client::Grpc<tonic::transport::Channel>,
    method: &'static str,
    bytes: Vec<u8>,
) -> Option<tonic::Status> {
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(method);
    if method.ends_with("/WatchVerificationResult") {
        match grpc
            .server_streaming(tonic::Request::new(bytes), path, RawCodec)
            .await
        {
            Err(status) => Some(status),
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(_)) => {}
                        Ok(None) => return None,
                        Err(status) => return Some(status),
                    }
                }
            }
        }
    } else {
        grpc.unary(tonic::Request::new(bytes), path, RawCodec)
            .await
            .err()
    }
}

#[tokio::test]
async fn requests_that_do_not_decode_are_invalid_argument_with_error_info() {
    const GET: &str = "/zoloz.verdict.v1.VerdictService/GetVerificationResult";
    const WATCH: &str = "/zoloz.verdict.v1.VerdictService/WatchVerificationResult";
    const EVALUATE: &str = "/zoloz.verdict.v1.VerdictService/EvaluateVerificationResult";
    let service = spawn_service(|_| {}, |_| {}).await;
    let mut grpc = tonic::client::Grpc::new(service.channel.clone());
    // Messages prost cannot decode, and the field each one names.
    let cases: [(&'static str, Vec<u8>, &str); 6] = [
        // product = 3, transaction_id (2) holding bytes that are not UTF-8.
        (
            GET,
            vec![0x08, 0x03, 0x12, 0x02, 0xff, 0xfe],
            "transaction_id",
        ),
        // tenant (4) not UTF-8, in a Watch.
        (WATCH, vec![0x08, 0x02, 0x22, 0x01, 0xc3], "tenant"),
        // product's varint cut short.
        (EVALUATE, vec![0x08, 0xff], "product"),
        // A field key cut short: prost names no field.
        (EVALUATE, vec![0x80], "request"),
        // transaction_id says 10 bytes, 2 follow.
        (GET, vec![0x12, 0x0a, b'T', b'1'], "transaction_id"),
        // image_options (6) holding a field whose wire type is invalid (7).
        (GET, vec![0x32, 0x01, 0x0f], "image_options"),
    ];
    for (method, bytes, field) in cases {
        let status = raw_call(&mut grpc, method, bytes.clone())
            .await
            .unwrap_or_else(|| panic!("{method} {bytes:02x?} was answered"));
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{method} {bytes:02x?}: {status:?}"
        );
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INVALID_REQUEST", "zoloz-verdict")
        );
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, field, "{method} {bytes:02x?}");
    }
    // Random bytes: whether they decode or not, every call is refused as bad input.
    let mut rng = StdRng::seed_from_u64(7);
    for i in 0..300 {
        let len = rng.random_range(0..48);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let method = [GET, WATCH, EVALUATE][i % 3];
        let status = raw_call(&mut grpc, method, bytes.clone())
            .await
            .unwrap_or_else(|| panic!("{method} {bytes:02x?} was answered"));
        let reason = status.get_details_error_info().map(|i| i.reason);
        assert!(
            status.code() == Code::InvalidArgument
                && matches!(
                    reason.as_deref(),
                    Some("INVALID_REQUEST" | "UNKNOWN_TENANT" | "UNKNOWN_POLICY")
                ),
            "{method} {bytes:02x?}: {status:?}"
        );
    }
    assert_eq!(service.sim.total_calls(), 0, "a bad request reached ZOLOZ");
}
