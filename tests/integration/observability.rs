//! The real `serve` binary with full logging, audit records and OTLP tracing on, in front of the
//! simulator: an OTLP receiver sees the RPC span (child of the caller's `traceparent`) and the
//! upstream child span, with no sensitive attribute; logs are JSON lines with the trace id;
//! nothing the service wrote holds an image, an OCR value, a key or a signature; and every
//! audit record replays through `explain` to the same decision.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;
use tokio::time::Instant;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::simulator::SimulatorConfig;

use crate::harness::{CLIENT_ID, binary, request, sim_keys, start_simulator, vector_path};

#[derive(Default, Clone)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn attribute_text(span: &Span) -> Vec<(String, String)> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// Strings that must never appear in anything the service writes.
fn secrets() -> Vec<String> {
    let merchant_b64 = std::fs::read_to_string(vector_path("merchant_private.pk8.b64")).unwrap();
    vec![
        // OCR values of the simulator's ID Recognition bodies.
        "E00000000".into(),
        "SIMULATED PERSON".into(),
        "1990-01-01".into(),
        // The start of every simulated JPEG, Base64-encoded.
        "/9j/4AAQ".into(),
        // Key material and signatures.
        merchant_b64.trim()[40..80].to_string(),
        "PRIVATE KEY".into(),
        "signature=".into(),
        "symmetricKey=".into(),
    ]
}

#[tokio::test]
async fn traces_logs_and_audit_records_are_useful_and_leak_nothing() {
    // The OTLP receiver.
    let receiver = Receiver::default();
    let otlp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp_addr = otlp.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(receiver.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(otlp));
    tokio::spawn(server);

    // The simulator, and the real binary in front of it.
    let sim = start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
allow_unauthenticated = true
[server]
listen = "127.0.0.1:{port}"
metrics_listen = "off"
shutdown_grace = "5s"
[telemetry]
log_format = "json"
log_level = "trace"
[audit]
enabled = true
[tenants.default]
client_id = "{CLIENT_ID}"
base_url = "{base}"
merchant_private_key_file = "{m}"
zoloz_public_key_file = "{z}"
encrypt = true
[policies.lax.effects]
LIVENESS_ATTACK = "info"
DOC_TAMPERED = "info"
DEEPFAKE_DETECTED = "review"
"#,
            base = sim.base_url(),
            m = vector_path("merchant_private.pk8.b64").display(),
            z = vector_path("zoloz_public.spki.b64").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp_addr}"))
        .env("OTEL_SERVICE_NAME", "zoloz-verdict-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("http://127.0.0.1:{port}");
    let channel = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tonic::transport::Endpoint::from_shared(addr.clone())
                .unwrap()
                .connect()
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(Instant::now() < deadline, "the service did not start: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    let mut client = pb::verdict_service_client::VerdictServiceClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024);

    // Calls carrying the caller's trace context; images travel through too.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent_span}-01");
    let calls = [
        (Product::IdRecognition, "sim-id-recognition-approve", true),
        (Product::IdRecognition, "sim-id-recognition-tampered", false),
        (Product::Connect, "sim-connect-large-images", true),
        (
            Product::FaceCapture,
            "sim-face-capture-device-risk-medium",
            true,
        ),
        // The v1 shape from the v1a API (the default): REVIEW_REQUIRED, which the record's
        // body replays to only when the API is named.
        (Product::FaceCapture, "sim-face-capture-v1-approve", false),
        (Product::FaceCompare, "sim-face-compare-mismatch", false),
    ];
    for (product, id, images) in calls {
        let mut req = request(product, id);
        if images {
            req.image_options = Some(pb::ImageOptions {
                return_images: true,
                extra_images: Vec::new(),
            });
        }
        let mut req = tonic::Request::new(req);
        req.metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
        let result = client
            .get_verification_result(req)
            .await
            .unwrap()
            .into_inner();
        assert_ne!(result.decision(), pb::Decision::Unspecified);
        if id == "sim-face-capture-v1-approve" {
            assert_eq!(result.decision(), pb::Decision::ReviewRequired);
        }
    }
    let mut req = tonic::Request::new(request(Product::Connect, "sim-connect-bad-signature"));
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    assert!(client.get_verification_result(req).await.is_err());

    // SIGTERM: the service drains, flushes its spans, exits 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        let mut stderr = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stdout, stderr)
    })
    .await
    .unwrap();
    let (status, stdout, stderr) = status;
    assert!(status.success(), "exit {status:?}\n{stderr}");

    // Nothing the service wrote holds a secret.
    for secret in secrets() {
        assert!(!stdout.contains(&secret), "stdout holds {secret:?}");
        assert!(!stderr.contains(&secret), "stderr holds {secret:?}");
    }

    // Logs: JSON lines, the RPC's lines carry the caller's trace id.
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let logs: Vec<&Value> = lines.iter().filter(|l| l["type"] != "audit").collect();
    assert!(
        logs.iter()
            .any(|l| l["span"]["trace_id"] == trace_id && l["message"] == "verdict"),
        "no verdict log line with the trace id"
    );

    // A policy that lets attack signals through is named at start, with those signals only.
    let warnings: Vec<&&Value> = logs
        .iter()
        .filter(|l| l["level"] == "WARN" && l["policy"] == "lax")
        .collect();
    assert_eq!(warnings.len(), 1, "{logs:#?}");
    assert_eq!(warnings[0]["reasons"], "LIVENESS_ATTACK,DOC_TAMPERED");

    // Audit records: one per verdict, with the trace id, and each replays through explain.
    let audits: Vec<&Value> = lines.iter().filter(|l| l["type"] == "audit").collect();
    assert_eq!(audits.len(), calls.len(), "one audit record per verdict");
    for record in &audits {
        assert_eq!(record["traceId"], trace_id);
        assert!(
            record["policy"]["version"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        let body_file = dir.path().join("replay.json");
        std::fs::write(&body_file, record["body"].to_string()).unwrap();
        let product = record["product"].as_str().unwrap();
        let mut explain = Command::new(binary());
        explain.args(["explain", "--product", product]);
        if product == "face-capture" {
            assert_eq!(
                record["faceCaptureApi"], "v1a",
                "the tenant's API is recorded"
            );
            explain.args(["--face-capture-api", "v1a"]);
        } else {
            assert!(record.get("faceCaptureApi").is_none());
        }
        let out = explain.arg(&body_file).output().unwrap();
        assert!(out.status.success());
        let replayed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            replayed["decision"]
                .as_str()
                .unwrap()
                .trim_start_matches("DECISION_"),
            record["decision"].as_str().unwrap(),
            "{}",
            record["transactionId"]
        );
        let codes = |v: &Value, key: &str, prefix: &str| -> Vec<String> {
            let mut codes: Vec<String> = v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            r["code"]
                                .as_str()
                                .unwrap()
                                .trim_start_matches(prefix)
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            codes.sort();
            codes
        };
        assert_eq!(
            codes(&replayed, "reasons", "REASON_CODE_"),
            codes(record, "reasons", "")
        );
    }
    let id_record = audits
        .iter()
        .find(|r| r["transactionId"] == "sim-id-recognition-approve")
        .unwrap();
    let removed: Vec<&str> = id_record["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for pointer in ["/extInfo/imageContent", "/extInfo/ocrResult"] {
        assert!(removed.contains(&pointer), "{removed:?}");
    }

    // Spans: the RPC span is a child of the caller's span; the upstream call is its child.
    let deadline = Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans = receiver.spans.lock().unwrap().clone();
        if spans.iter().any(|s| s.name == "zoloz.call") || Instant::now() > deadline {
            break spans;
        }
        drop(spans);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| hex::encode(&s.trace_id) == trace_id)
        .collect();
    let rpc = ours
        .iter()
        .find(|s| s.name.ends_with("GetVerificationResult"))
        .unwrap_or_else(|| {
            panic!(
                "no RPC span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(hex::encode(&rpc.parent_span_id), parent_span);
    let rpc_attributes = attribute_text(rpc);
    for key in ["product", "decision", "tenant"] {
        assert!(
            rpc_attributes.iter().any(|(k, _)| k == key),
            "RPC span lacks {key}: {rpc_attributes:?}"
        );
    }
    let upstream: Vec<&&Span> = ours.iter().filter(|s| s.name == "zoloz.call").collect();
    assert!(!upstream.is_empty(), "no upstream span");
    let rpc_ids: Vec<&Vec<u8>> = ours
        .iter()
        .filter(|s| s.name.ends_with("GetVerificationResult"))
        .map(|s| &s.span_id)
        .collect();
    for call in &upstream {
        assert!(
            rpc_ids.contains(&&call.parent_span_id),
            "upstream span is not a child of an RPC span"
        );
        let attributes = attribute_text(call);
        for key in ["api", "attempt", "outcome"] {
            assert!(
                attributes.iter().any(|(k, _)| k == key),
                "upstream span lacks {key}"
            );
        }
    }
    for span in &spans {
        for (key, value) in attribute_text(span) {
            for secret in secrets() {
                assert!(
                    !value.contains(&secret),
                    "span {} attribute {key} holds {secret:?}",
                    span.name
                );
            }
            assert!(
                value.len() < 512,
                "span {} attribute {key} is {} bytes",
                span.name,
                value.len()
            );
        }
    }
}
