//! One verdict on every path: every engine-table row decided under the default policy is handed
//! to Evaluate (gRPC), to `zoloz-verdict explain` (the real binary), and served signed by the
//! simulator as a recorded response and fetched by the service's real client (Get); the three
//! answers (decision, retryable, reason codes with their fields, or the error reason) must be
//! the same. Face Capture rows are compared under each API, named to all three paths alike.

use std::process::{Command, Stdio};

use serde_json::Value;
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::grpc::convert::product_to_pb;
use zoloz_verdict::pb;

use crate::engine_table::default_policy_rows;
use crate::harness::{binary, spawn_service};

/// The masked id of ZOLOZ's Face Compare sample: each row's body names its own transaction.
const SAMPLE_ID: &[u8] = b"\"G000000005FID2020030400000000000157****\"";

/// What a path answered, in one comparable form.
fn from_result(result: &pb::VerificationResult) -> String {
    let reasons: Vec<String> = result
        .reasons
        .iter()
        .map(|r| format!("{}@{}", r.code().as_str_name(), r.field))
        .collect();
    format!(
        "{} retryable={} [{}]",
        result.decision().as_str_name(),
        result.retryable,
        reasons.join(", ")
    )
}

fn from_status(status: &tonic::Status) -> String {
    let reason = status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default();
    format!("error {reason}")
}

fn from_explain(value: &Value) -> String {
    if let Some(error) = value.get("error") {
        return format!("error {}", error["reason"].as_str().unwrap_or_default());
    }
    let reasons: Vec<String> = value["reasons"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            format!(
                "{}@{}",
                r["code"].as_str().unwrap_or_default(),
                r["field"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!(
        "{} retryable={} [{}]",
        value["decision"].as_str().unwrap_or_default(),
        value["retryable"].as_bool().unwrap_or(false),
        reasons.join(", ")
    )
}

fn product_arg(product: Product) -> &'static str {
    match product {
        Product::FaceCapture => "face-capture",
        Product::FaceCompare => "face-compare",
        Product::Connect => "connect",
        Product::IdRecognition => "id-recognition",
    }
}

fn explain(product: Product, api: Option<&str>, body: &[u8]) -> String {
    use std::io::Write as _;
    let mut command = Command::new(binary());
    command.args(["explain", "--product", product_arg(product)]);
    if let Some(api) = api {
        command.args(["--face-capture-api", api]);
    }
    let mut child = command
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "explain: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    from_explain(&serde_json::from_slice(&output.stdout).unwrap())
}

/// The Face Capture API each path is told of: Evaluate's field, `explain`'s flag, and the
/// tenant Get calls through (the test service's `v1` tenant calls `/api/v1/`).
struct Api {
    evaluate: pb::FaceCaptureApi,
    explain: Option<&'static str>,
    tenant: &'static str,
}

const NOT_FACE_CAPTURE: Api = Api {
    evaluate: pb::FaceCaptureApi::Unspecified,
    explain: None,
    tenant: "",
};

const FACE_CAPTURE_APIS: [Api; 2] = [
    Api {
        evaluate: pb::FaceCaptureApi::V1a,
        explain: Some("v1a"),
        tenant: "",
    },
    Api {
        evaluate: pb::FaceCaptureApi::V1,
        explain: Some("v1"),
        tenant: "v1",
    },
];

#[tokio::test]
async fn every_engine_table_row_gets_one_verdict_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (index, (name, product, body)) in default_policy_rows().into_iter().enumerate() {
        let id = format!("agree-{index:03}");
        let body = replace(&body, SAMPLE_ID, format!("\"{id}\"").as_bytes());
        // Recorded responses are text; every row is.
        assert!(std::str::from_utf8(&body).is_ok(), "{name} is not UTF-8");
        std::fs::write(dir.path().join(format!("{id}.json")), &body).unwrap();
        cases.push((name, product, id, body));
    }
    assert!(cases.len() > 150, "only {} rows", cases.len());
    let service = spawn_service(
        |sim| sim.scenarios_dir = Some(dir.path().to_path_buf()),
        |_| {},
    )
    .await;
    let mut client = service.client();

    let mut failures = Vec::new();
    let mut compared = 0;
    for (name, product, id, body) in &cases {
        let apis: &[Api] = if *product == Product::FaceCapture {
            &FACE_CAPTURE_APIS
        } else {
            std::slice::from_ref(&NOT_FACE_CAPTURE)
        };
        for api in apis {
            let evaluated = match client
                .evaluate_verification_result(pb::EvaluateVerificationResultRequest {
                    product: product_to_pb(*product) as i32,
                    response_body: body.clone().into(),
                    face_capture_api: api.evaluate as i32,
                    ..Default::default()
                })
                .await
            {
                Ok(answer) => from_result(answer.get_ref()),
                Err(status) => from_status(&status),
            };
            let explained = explain(*product, api.explain, body);
            let fetched = match client
                .get_verification_result(pb::GetVerificationResultRequest {
                    product: product_to_pb(*product) as i32,
                    transaction_id: id.clone(),
                    tenant: api.tenant.to_string(),
                    ..Default::default()
                })
                .await
            {
                Ok(answer) => from_result(answer.get_ref()),
                Err(status) => from_status(&status),
            };
            compared += 1;
            // Evaluate cannot be handed an empty body: proto3 does not tell it from no body, so
            // the request itself is refused. The other two paths read it as malformed.
            let evaluated = if body.is_empty() {
                assert_eq!(evaluated, "error INVALID_REQUEST", "{name}");
                explained.clone()
            } else {
                evaluated
            };
            if evaluated != explained || evaluated != fetched {
                failures.push(format!(
                    "{name} ({:?}):\n  evaluate: {evaluated}\n  explain:  {explained}\n  get:      \
                     {fetched}",
                    api.explain
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} comparisons disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `body` with every `from` replaced by `to`.
fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}
