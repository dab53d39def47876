//! `zoloz-verdict explain`, the real binary on fixtures: proto3 JSON on stdout and exit 0 for a
//! verdict or an error; 66 for an unreadable file, 64 for a bad configuration, 2 for bad
//! arguments.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use zoloz_verdict::pb;

use crate::harness::{binary, fixture, fixture_path};

fn explain(args: &[&str]) -> Output {
    Command::new(binary())
        .arg("explain")
        .args(args)
        .output()
        .unwrap()
}

fn json_out(output: &Output) -> Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn path(name: &str) -> String {
    fixture_path(name).display().to_string()
}

#[test]
fn verdicts_print_as_canonical_proto3_json() {
    for (product, name, decision) in [
        (
            "face-capture",
            "seeds/facecapture-v1.response.json",
            "DECISION_APPROVED",
        ),
        (
            "face-capture",
            "seeds/facecapture-v1a.response.json",
            "DECISION_APPROVED",
        ),
        (
            "face-compare",
            "seeds/facecompare.response.json",
            "DECISION_APPROVED",
        ),
        (
            "connect",
            "seeds/connect.response.json",
            "DECISION_APPROVED",
        ),
        (
            "connect",
            "connect-not-same-person.json",
            "DECISION_REJECTED",
        ),
        (
            "id-recognition",
            "seeds/idrecognition.response.corrected.json",
            "DECISION_REJECTED",
        ),
    ] {
        let output = explain(&["--product", product, &path(name)]);
        let text = String::from_utf8(output.stdout.clone()).unwrap();
        assert!(text.starts_with("{\n  \""), "pretty, two spaces: {text}");
        let value = json_out(&output);
        assert_eq!(value["decision"], decision, "{name}");
        assert!(
            value["policy"]["version"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        // The output is the canonical JSON of a VerificationResult: it parses back and
        // prints identically.
        let message: pb::VerificationResult = pb::from_json(&text).unwrap();
        assert_eq!(pb::to_json(&message), value);
        assert!(value.get("evaluateTime").is_some());
        assert!(value.get("fromCache").is_none(), "false is omitted");
    }
    let value = json_out(&explain(&[
        "--product",
        "face-compare",
        &path("seeds/facecompare.response.json"),
    ]));
    assert_eq!(
        value["transactionId"],
        "G000000005FID2020030400000000000157****"
    );
    assert_eq!(value["product"], "PRODUCT_FACE_COMPARE");
}

#[test]
fn errors_print_as_error_json_with_exit_0() {
    for (product, name, code, reason) in [
        (
            "id-recognition",
            "seeds/idrecognition.response.verbatim.json",
            "INTERNAL",
            "UPSTREAM_MALFORMED_RESPONSE",
        ),
        (
            "connect",
            "system-error.json",
            "UNAVAILABLE",
            "UPSTREAM_UNAVAILABLE",
        ),
        (
            "face-compare",
            "seeds/facecompare.request.json",
            "INTERNAL",
            "UPSTREAM_MALFORMED_RESPONSE",
        ),
    ] {
        let value = json_out(&explain(&["--product", product, &path(name)]));
        let error = value["error"].as_object().unwrap();
        assert_eq!(error.len(), 3, "{value}");
        assert_eq!(error["code"], code);
        assert_eq!(error["reason"], reason);
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn standard_input() {
    let mut child = Command::new(binary())
        .args(["explain", "--product", "connect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&fixture("seeds/connect.response.json"))
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(json_out(&output)["decision"], "DECISION_APPROVED");
}

#[test]
fn policies_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zoloz-verdict.toml");
    std::fs::write(
        &config,
        "[policies.strict]\nface_match_min_score = 90\n[tenants.acme]\nclient_id = \"x\"\n",
    )
    .unwrap();
    let config = config.display().to_string();
    let connect = path("seeds/connect.response.json");

    let value = json_out(&explain(&[
        "--product",
        "connect",
        "--config",
        &config,
        "--policy",
        "strict",
        &connect,
    ]));
    assert_eq!(value["decision"], "DECISION_REJECTED");
    assert_eq!(value["policy"]["name"], "strict");
    assert_eq!(
        value["reasons"][0]["code"],
        "REASON_CODE_FACE_SCORE_BELOW_THRESHOLD"
    );
    assert_eq!(value["reasons"][0]["threshold"], 90.0);

    // Without --policy the configuration's default applies (the built-in one here).
    let value = json_out(&explain(&[
        "--product",
        "connect",
        "--config",
        &config,
        &connect,
    ]));
    assert_eq!(value["policy"]["name"], "default");

    let value = json_out(&explain(&[
        "--product",
        "connect",
        "--policy",
        "strict",
        &connect,
    ]));
    assert_eq!(value["error"]["code"], "INVALID_ARGUMENT");
    assert_eq!(value["error"]["reason"], "UNKNOWN_POLICY");
}

#[test]
fn the_face_capture_api_decides_which_rule_of_evidence_applies() {
    // The v1 seed: no faceCaptureResult, faceAttack false with a quality score.
    let v1 = path("seeds/facecapture-v1.response.json");
    for (api, decision) in [
        (None, "DECISION_APPROVED"),
        (Some("v1"), "DECISION_APPROVED"),
        (Some("v1a"), "DECISION_REVIEW_REQUIRED"),
    ] {
        let mut args = vec!["--product", "face-capture", &v1];
        if let Some(api) = api {
            args.splice(0..0, ["--face-capture-api", api]);
        }
        let value = json_out(&explain(&args));
        assert_eq!(value["decision"], decision, "{api:?}");
        if api == Some("v1a") {
            assert_eq!(value["reasons"][0]["code"], "REASON_CODE_INCOMPLETE_RESULT");
            assert_eq!(value["reasons"][0]["field"], "/faceCaptureResult");
        }
    }
    // The v1a seed carries its state: the same verdict whichever API is named.
    let v1a = path("seeds/facecapture-v1a.response.json");
    for api in ["v1", "v1a"] {
        let value = json_out(&explain(&[
            "--product",
            "face-capture",
            "--face-capture-api",
            api,
            &v1a,
        ]));
        assert_eq!(value["decision"], "DECISION_APPROVED", "{api}");
    }

    let output = explain(&["--product", "connect", "--face-capture-api", "v1", &v1]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--face-capture-api applies to --product face-capture only")
    );
    let output = explain(&["--product", "face-capture", "--face-capture-api", "v2", &v1]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"v2\": expected \"v1a\" or \"v1\""));
}

#[test]
fn exit_codes() {
    let connect = path("seeds/connect.response.json");

    let output = explain(&["--product", "connect", "/nonexistent/response.json"]);
    assert_eq!(output.status.code(), Some(66));
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/response.json")
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[policies.strict.effects]\nNO_SUCH_REASON = \"reject\"\n",
    )
    .unwrap();
    let output = explain(&[
        "--product",
        "connect",
        "--config",
        &bad.display().to_string(),
        &connect,
    ]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad.toml: line 2: policies.strict.effects.NO_SUCH_REASON"),
        "{stderr}"
    );
    let output = explain(&[
        "--product",
        "connect",
        "--config",
        "/nonexistent.toml",
        &connect,
    ]);
    assert_eq!(output.status.code(), Some(64));

    assert_eq!(
        explain(&[&connect]).status.code(),
        Some(2),
        "--product is required"
    );
    assert_eq!(
        explain(&["--product", "facecapture", &connect])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(explain(&["--product", "connect"]).status.code(), Some(2));
}
