//! What the fuzz targets check, one function per target. Shared, file for file, with the bounded
//! runs in `cargo test` (`tests/integration/hostile.rs` includes this file), so the CI runs the
//! very checks the long fuzzing runs make. Each function must never panic on any input; the
//! `assert!`s are the properties that must hold besides.

use std::sync::LazyLock;
use std::time::SystemTime;

use zoloz_verdict::audit::{self, Source};
use zoloz_verdict::config::{self, Config};
use zoloz_verdict::domain::{
    Decision, Effect, FaceCaptureApiVersion, Policy, PolicySet, Product, ProductFacts, evaluate,
};
use zoloz_verdict::grpc::convert::{image_to_pb, verification_result};
use zoloz_verdict::zoloz::products;
use zoloz_verdict::zoloz::redact::redact;
use zoloz_verdict::zoloz::{envelope, signing};

/// The built-in policy and a strict one (thresholds on, effects raised and lowered).
static POLICIES: LazyLock<PolicySet> = LazyLock::new(|| {
    config::parse_policies(
        r#"
[policies.strict]
face_match_min_score = 90.0
face_quality_min_score = 95.0
[policies.strict.effects]
DEVICE_RISK_MEDIUM = "reject"
DOC_MATERIAL_CHECK_FAILED = "review"
"#,
        "fuzz",
    )
    .unwrap_or_else(|_| PolicySet::builtin())
});

fn policy(strict: bool) -> &'static Policy {
    let set = &*POLICIES;
    if strict {
        set.resolve("strict").unwrap_or(set.default_policy())
    } else {
        set.default_policy()
    }
}

/// A checkresult response body through everything that reads one: the product parser (with
/// and without images), the verdict engine under two policies, the API conversion, the audit
/// redaction and record. The first byte picks the product (bits 0-1), images (bit 2), the
/// strict policy (bit 3) and the Face Capture API the caller names (bits 4-5: none, v1, v1a,
/// none); the rest is the body.
///
/// Fail safe (docs/design.md, Fail safe): APPROVED never comes with a REVIEW, REJECT, PENDING or
/// EXPIRED reason, REJECTED always has a REJECT reason, and a Face Capture body named as the
/// v1a API's is never APPROVED without `faceCaptureResult`.
pub fn response(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let product = Product::ALL[usize::from(selector & 3)];
    let want_images = selector & 4 != 0;
    let policy = policy(selector & 8 != 0);
    let api = [
        FaceCaptureApiVersion::Unknown,
        FaceCaptureApiVersion::V1,
        FaceCaptureApiVersion::V1a,
        FaceCaptureApiVersion::Unknown,
    ][usize::from((selector >> 4) & 3)];
    let Ok(mut parsed) = products::parse(product, body, want_images) else {
        return;
    };
    parsed.facts.set_face_capture_api(api);
    let images: Vec<_> = parsed.images.iter().map(image_to_pb).collect();
    let Ok(verdict) = evaluate(&parsed.facts, policy) else {
        // A failure result code: the caller gets an error, not a verdict.
        return;
    };
    match verdict.decision {
        Decision::Approved => {
            assert!(
                verdict.reasons.iter().all(|r| r.effect == Effect::Info),
                "APPROVED with a non-INFO reason: {:?}",
                verdict.reason_codes()
            );
            if let ProductFacts::FaceCapture(facts) = &parsed.facts.detail {
                assert!(
                    facts.api != FaceCaptureApiVersion::V1a || !facts.state.is_missing(),
                    "APPROVED from the v1a API without faceCaptureResult"
                );
            }
        }
        Decision::Rejected => assert!(
            verdict.reasons.iter().any(|r| r.effect == Effect::Reject),
            "REJECTED without a REJECT reason: {:?}",
            verdict.reason_codes()
        ),
        _ => {}
    }
    let result = verification_result(
        &verdict,
        product,
        parsed.facts.transaction_id.as_deref().unwrap_or_default(),
        "fuzz",
        SystemTime::UNIX_EPOCH,
        false,
        images,
    );
    assert_ne!(result.decision, 0, "DECISION_UNSPECIFIED");
    if let Ok(root) = products::json_root(body) {
        let redacted = redact(product, &root);
        let line = audit::record_line(&audit::Entry {
            caller: "fuzz",
            tenant: "fuzz",
            product,
            transaction_id: "fuzz",
            verdict: &verdict,
            body: &redacted,
            face_capture_api: parsed.facts.face_capture_api().name(),
            source: Source::Upstream,
            trace_id: None,
            time: SystemTime::UNIX_EPOCH,
        });
        // One complete line of JSON, whatever the body.
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(serde_json::from_slice::<serde_json::Value>(&line).is_ok());
    }
}

/// The `Signature` and `Encrypt` header parsers, signature value decoding, the wire time
/// parser, and AES envelope opening on hostile text; and round trips: any signature or
/// wrapped key survives formatting and parsing, any time the parser accepts formats and
/// parses back to itself.
pub fn headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(header) = signing::parse_signature_header(&text) {
        assert!(!header.signature.is_empty());
    }
    let _ = signing::parse_encrypt_header(&text);
    let _ = signing::decode_signature_value(&text);
    if let Some(time) = signing::parse_wire_time(&text) {
        let formatted = signing::format_wire_time(time);
        assert_eq!(
            signing::parse_wire_time(&formatted),
            Some(time),
            "{text:?} -> {formatted:?}"
        );
    }
    let _ = envelope::aes_ecb_decrypt(&[7u8; 32], data);
    if !data.is_empty() {
        let header = signing::signature_header(data);
        assert_eq!(
            signing::parse_signature_header(&header).map(|h| h.signature),
            Ok(data.to_vec())
        );
        let header = signing::encrypt_header(data);
        assert_eq!(
            signing::parse_encrypt_header(&header).map(|h| h.wrapped_key),
            Ok(data.to_vec())
        );
    }
}

/// The configuration file and its policies. Inputs naming device, proc or sys paths are not
/// loaded whole: the loader reads the key files a config names, and `/dev/zero` never ends.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policies) = config::parse_policies(text, "fuzz") {
        // A policy's version is a hash of its content: parsing again gives the same one.
        let again = config::parse_policies(text, "fuzz").map(|p| {
            p.names()
                .map(|n| p.get(n).map(|p| p.version().to_string()))
                .collect::<Vec<_>>()
        });
        let first: Vec<_> = policies
            .names()
            .map(|n| policies.get(n).map(|p| p.version().to_string()))
            .collect();
        assert_eq!(again.ok(), Some(first));
    }
    if ["dev", "proc", "sys"].iter().any(|d| text.contains(d)) {
        return;
    }
    let _ = Config::from_toml(text, "fuzz");
}
