//! Policies: effect overrides and thresholds change the decision as docs/decision-table.md documents; the
//! fail-safe floor cannot be lowered; the version hash is stable (same content, same hash,
//! whatever the order, formatting or name) and pinned for the built-in table.

use std::io::Write as _;

use serde_json::json;
use zoloz_verdict::config::{load_policies, parse_policies};
use zoloz_verdict::domain::{Decision, Policy, PolicySet, Product, ReasonCode, Verdict};

use crate::engine_table::{del, run, set};
use crate::harness::{fixture, fixture_json};

use Decision::*;
use ReasonCode::*;

const CONFIG: &str = r#"
default_policy = "standard"

[server]                       # another reader's table: ignored here
listen = "0.0.0.0:50051"

[policies.standard]
face_match_min_score = 80.0
face_quality_min_score = 60.0

[policies.standard.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"

[policies.strict]
face_match_min_score = 90
face_quality_min_score = 99.5

[policies.lenient.effects]
DEVICE_RISK_HIGH = "review"
CAPTURE_FAILED = "info"
UNRECOGNIZED_UPSTREAM_VALUE = "reject"
INCOMPLETE_RESULT = "reject"
"#;

fn policies() -> PolicySet {
    parse_policies(CONFIG, "policies.toml").unwrap()
}

fn decide(product: Product, body: &serde_json::Value, policy: &str) -> Verdict {
    let set = policies();
    let policy = set.resolve(policy).unwrap();
    run(product, &serde_json::to_vec(body).unwrap(), policy).unwrap()
}

fn summary(verdict: &Verdict) -> (Decision, bool, Vec<ReasonCode>) {
    (verdict.decision, verdict.retryable, verdict.reason_codes())
}

fn fc() -> serde_json::Value {
    fixture_json("seeds/facecapture-v1a.response.json")
}

#[test]
fn overrides_change_the_decision() {
    let medium = set(fc(), "/extInfo/deviceRisk/riskLevel", json!(2));
    assert_eq!(
        summary(&decide(Product::FaceCapture, &medium, "default")),
        (ReviewRequired, false, vec![DeviceRiskMedium])
    );
    assert_eq!(
        summary(&decide(Product::FaceCapture, &medium, "standard")),
        (Rejected, false, vec![DeviceRiskMedium])
    );

    let material = set(
        fixture_json("idrecognition-approved.json"),
        "/extInfo/spoofResult/MATERIAL_CHECK",
        json!("N"),
    );
    assert_eq!(
        summary(&decide(Product::IdRecognition, &material, "default")),
        (Rejected, true, vec![DocMaterialCheckFailed])
    );
    let standard = decide(Product::IdRecognition, &material, "standard");
    assert_eq!(
        summary(&standard),
        (ReviewRequired, false, vec![DocMaterialCheckFailed])
    );
    assert_eq!(
        standard.reasons[0].effect,
        zoloz_verdict::domain::Effect::Review
    );

    let high = set(fc(), "/extInfo/deviceRisk/riskLevel", json!(3));
    assert_eq!(
        summary(&decide(Product::FaceCapture, &high, "lenient")),
        (ReviewRequired, false, vec![DeviceRiskHigh])
    );
}

#[test]
fn raising_the_floor_reasons_is_allowed() {
    let unknown = set(fc(), "/result/resultCode", json!("BRAND_NEW_CODE"));
    assert_eq!(
        summary(&decide(Product::FaceCapture, &unknown, "lenient")),
        (
            Rejected,
            false,
            vec![UnrecognizedUpstreamValue, DeviceRiskLow]
        )
    );
    let missing = del(
        fixture_json("seeds/facecompare.response.json"),
        "/samePerson",
    );
    assert_eq!(
        summary(&decide(Product::FaceCompare, &missing, "lenient")),
        (Rejected, false, vec![IncompleteResult])
    );
}

/// A policy may lower a rejecting reason, but never below the fail-safe: without positive
/// evidence the verdict is REVIEW_REQUIRED (or stronger) with INCOMPLETE_RESULT.
#[test]
fn lowered_reasons_never_approve_without_evidence() {
    let failed = set(fc(), "/faceCaptureResult", json!("Failure"));
    let verdict = decide(Product::FaceCapture, &failed, "lenient");
    // lenient raises INCOMPLETE_RESULT to reject.
    assert_eq!(
        summary(&verdict),
        (
            Rejected,
            false,
            vec![IncompleteResult, CaptureFailed, DeviceRiskLow]
        )
    );
    assert_eq!(verdict.reasons[0].field, "/faceCaptureResult");
    assert_eq!(
        verdict.reasons[0].upstream_value.as_deref(),
        Some("\"Failure\"")
    );

    let set = parse_policies(
        "[policies.p.effects]\nCAPTURE_FAILED = \"info\"\nDEVICE_UNUSABLE = \"info\"\n",
        "p.toml",
    )
    .unwrap();
    let p = set.get("p").unwrap();
    let verdict = run(
        Product::FaceCapture,
        &serde_json::to_vec(&failed).unwrap(),
        p,
    )
    .unwrap();
    assert_eq!(
        summary(&verdict),
        (
            ReviewRequired,
            false,
            vec![IncompleteResult, CaptureFailed, DeviceRiskLow]
        )
    );
    let unusable = json!({"result": {"resultCode": "UNUSABLE", "resultStatus": "F"}});
    let verdict = run(
        Product::FaceCapture,
        &serde_json::to_vec(&unusable).unwrap(),
        p,
    )
    .unwrap();
    assert_eq!(
        summary(&verdict),
        (
            ReviewRequired,
            false,
            vec![IncompleteResult, DeviceUnusable]
        )
    );
    assert_eq!(verdict.reasons[0].field, "/result/resultCode");
}

#[test]
fn thresholds_change_the_decision() {
    let connect = fixture("seeds/connect.response.json"); // faceScore 89.1
    let set = policies();
    let verdict = run(Product::Connect, &connect, set.get("standard").unwrap()).unwrap();
    assert_eq!(summary(&verdict), (Approved, false, vec![]));
    let verdict = run(Product::Connect, &connect, set.get("strict").unwrap()).unwrap();
    assert_eq!(
        summary(&verdict),
        (Rejected, false, vec![FaceScoreBelowThreshold])
    );
    assert_eq!(verdict.reasons[0].score, Some(89.1));
    assert_eq!(verdict.reasons[0].threshold, Some(90.0));

    let exact = parse_policies(
        "[policies.exact]\nface_match_min_score = 89.1\n",
        "exact.toml",
    )
    .unwrap();
    let verdict = run(Product::Connect, &connect, exact.get("exact").unwrap()).unwrap();
    assert_eq!(
        verdict.decision, Approved,
        "a score equal to the minimum passes"
    );

    // Face Capture v1a quality "99.41563014552693".
    let verdict = decide(Product::FaceCapture, &fc(), "strict");
    assert_eq!(
        summary(&verdict),
        (
            ReviewRequired,
            false,
            vec![FaceQualityBelowThreshold, DeviceRiskLow]
        )
    );
    assert!(verdict.reasons[0].retryable);
    assert_eq!(verdict.reasons[0].threshold, Some(99.5));

    // No threshold reason without a threshold, even for a low score.
    let low = set_score(10.0);
    assert_eq!(
        decide(Product::FaceCompare, &low, "default").decision,
        Approved
    );
    assert_eq!(
        decide(Product::FaceCompare, &low, "standard").decision,
        Rejected
    );
}

fn set_score(score: f64) -> serde_json::Value {
    set(
        fixture_json("seeds/facecompare.response.json"),
        "/score",
        json!(score),
    )
}

#[test]
fn the_floor_cannot_be_lowered() {
    for code in ["INCOMPLETE_RESULT", "UNRECOGNIZED_UPSTREAM_VALUE"] {
        let text = format!("[policies.p.effects]\n{code} = \"info\"\n");
        let err = parse_policies(&text, "p.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "p.toml: line 2: policies.p.effects.{code}: {code} cannot be lowered below \
                 review (fail-safe floor)"
            )
        );
        for allowed in ["review", "reject"] {
            let text = format!("[policies.p.effects]\n{code} = \"{allowed}\"\n");
            assert!(parse_policies(&text, "p.toml").is_ok());
        }
    }
    for fixed in ["IN_PROGRESS", "SESSION_EXPIRED"] {
        let text = format!("[policies.p.effects]\n{fixed} = \"reject\"\n");
        let err = parse_policies(&text, "p.toml").unwrap_err();
        assert!(err.to_string().contains("is fixed"), "{err}");
    }
}

#[test]
fn the_version_hash_is_stable() {
    let a = r#"
[policies.a]
face_match_min_score = 80
[policies.a.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"
"#;
    let b = r#"
# the same content, reordered, reformatted, renamed
[policies.b]
effects = { DOC_MATERIAL_CHECK_FAILED = "review",   DEVICE_RISK_MEDIUM = "reject" }
face_match_min_score = 80.0
"#;
    let version = |text: &str, name: &str| {
        parse_policies(text, "x.toml")
            .unwrap()
            .get(name)
            .unwrap()
            .version()
            .to_string()
    };
    assert_eq!(version(a, "a"), version(b, "b"));
    assert_eq!(version(a, "a"), version(a, "a"));
    assert_ne!(
        version(a, "a"),
        version(&a.replace("80", "81"), "a"),
        "a different threshold is a different policy"
    );
    assert_ne!(
        version(a, "a"),
        version(&a.replace("\"review\"", "\"info\""), "a")
    );
    // The built-in table's version is pinned: changing a default effect changes it, on
    // purpose (every verdict then names a new version).
    assert_eq!(Policy::default_table().version(), "sha256:6d6ed126e80cc811");
    assert_eq!(
        version(
            "[policies.same.effects]\nDEVICE_RISK_HIGH = \"reject\"\n",
            "same"
        ),
        Policy::default_table().version(),
        "an override equal to the default decides alike"
    );
}

#[test]
fn verdicts_name_their_policy_and_files_load() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(CONFIG.as_bytes()).unwrap();
    let loaded = load_policies(file.path()).unwrap();
    assert_eq!(loaded, policies());
    let standard = loaded.default_policy();
    let verdict = run(
        Product::Connect,
        &fixture("seeds/connect.response.json"),
        standard,
    )
    .unwrap();
    assert_eq!(verdict.policy.name, "standard");
    assert_eq!(verdict.policy.version, standard.version());
    assert_eq!(
        loaded.names().collect::<Vec<_>>(),
        ["default", "lenient", "standard", "strict"]
    );
}

/// Facts marked inconsistent (two terminal answers that contradict each other) decide
/// REVIEW_REQUIRED whatever they say, REJECTED only where a policy raises the reason, and the
/// reason cannot be lowered below review.
#[test]
fn inconsistent_terminal_facts_are_reviewed() {
    use zoloz_verdict::domain::{Decision, Policy, Product, ReasonCode, evaluate};
    let approve = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"Success"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":95.0}}"#;
    let attack = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"ok"},"connectResult":"Success","extFaceInfo":{"faceAttack":true,"faceScore":95.0}}"#;
    let facts = |body: &[u8]| {
        zoloz_verdict::zoloz::products::parse(Product::Connect, body, false)
            .unwrap()
            .facts
    };
    let (approved, attacked) = (facts(approve), facts(attack));
    assert!(approved.same_terminal_facts(&approved.clone()));
    assert!(!approved.same_terminal_facts(&attacked));
    // A different result message alone is the same facts.
    let reworded = facts(&approve.replace_str("\"Success\"}", "\"success\"}"));
    assert!(approved.same_terminal_facts(&reworded));
    let default = Policy::default_table();
    for base in [&approved, &attacked] {
        let mut marked = base.clone();
        marked.inconsistency = Some("resultCode SUCCESS both times".into());
        let verdict = evaluate(&marked, &default).unwrap();
        assert_eq!(verdict.decision, Decision::ReviewRequired);
        assert!(
            verdict
                .reasons
                .iter()
                .any(|r| r.code == ReasonCode::UpstreamInconsistent)
        );
        let strict = zoloz_verdict::config::parse_policies(
            "[policies.strict.effects]\nUPSTREAM_INCONSISTENT = \"reject\"\n",
            "t",
        )
        .unwrap();
        let raised = evaluate(&marked, strict.get("strict").unwrap()).unwrap();
        assert_eq!(raised.decision, Decision::Rejected);
    }
    let lowered = zoloz_verdict::config::parse_policies(
        "[policies.lax.effects]\nUPSTREAM_INCONSISTENT = \"info\"\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(lowered.contains("fail-safe floor"), "{lowered}");
}

trait ReplaceStr {
    fn replace_str(&self, from: &str, to: &str) -> Vec<u8>;
}

impl ReplaceStr for [u8] {
    fn replace_str(&self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(self).replace(from, to).into_bytes()
    }
}
