//! The decision table as a table test: one named row per line of the decision table (docs/decision-table.md), per
//! result code of each product's API table, per seed sample, and per clarification of the
//! fail-safe rule. Each row asserts the decision, `retryable` and the reason codes (in verdict
//! order), or the error reason.

use serde_json::{Value, json};
use zoloz_verdict::domain::{Decision, Policy, PolicySpec, Product, ReasonCode, Verdict, evaluate};
use zoloz_verdict::error::{ErrorReason, ServiceError};
use zoloz_verdict::zoloz::products::parse;

use crate::harness::{fixture, fixture_json};

use Decision::*;
use Product::*;
use ReasonCode::*;

enum Expect {
    Verdict(Decision, bool, Vec<ReasonCode>),
    Error(ErrorReason),
}

struct Row {
    name: &'static str,
    product: Product,
    body: Vec<u8>,
    policy: Policy,
    expect: Expect,
}

fn v(decision: Decision, retryable: bool, codes: &[ReasonCode]) -> Expect {
    Expect::Verdict(decision, retryable, codes.to_vec())
}

fn err(reason: ErrorReason) -> Expect {
    Expect::Error(reason)
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set(mut value: Value, pointer: &str, new: Value) -> Value {
    let mut target = &mut value;
    for token in pointer.split('/').skip(1) {
        if !target.is_object() {
            *target = json!({});
        }
        target = target
            .as_object_mut()
            .unwrap()
            .entry(token.to_string())
            .or_insert(Value::Null);
    }
    *target = new;
    value
}

/// Removes the value at a JSON pointer.
pub fn del(mut value: Value, pointer: &str) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        map.shift_remove(last);
    }
    value
}

fn envelope(code: &str, status: &str) -> Value {
    json!({"result": {"resultCode": code, "resultStatus": status, "resultMessage": "sample"}})
}

fn fc_v1() -> Value {
    fixture_json("seeds/facecapture-v1.response.json")
}

/// The v1a seed without its device risk (which the device-risk rows set explicitly).
fn fc() -> Value {
    del(
        fixture_json("seeds/facecapture-v1a.response.json"),
        "/extInfo/deviceRisk",
    )
}

fn fcmp() -> Value {
    fixture_json("seeds/facecompare.response.json")
}

fn cn() -> Value {
    fixture_json("seeds/connect.response.json")
}

fn id() -> Value {
    fixture_json("idrecognition-approved.json")
}

fn id_failed(error_code: Option<&str>) -> Value {
    let body = set(id(), "/extInfo/recognitionResult", json!("N"));
    match error_code {
        Some(code) => set(body, "/extInfo/recognitionErrorCode", json!(code)),
        None => del(body, "/extInfo/recognitionErrorCode"),
    }
}

fn policy(match_min: Option<f64>, quality_min: Option<f64>) -> Policy {
    Policy::new(
        "thresholds",
        &PolicySpec {
            face_match_min_score: match_min,
            face_quality_min_score: quality_min,
            effects: Vec::new(),
        },
    )
    .unwrap()
}

#[rustfmt::skip] // one line per row: the table reads as a table
fn rows() -> Vec<Row> {
    let d = Policy::default_table;
    let j = |value: Value| serde_json::to_vec(&value).unwrap();
    let mut rows = Vec::new();
    let mut row = |name, product, body: Vec<u8>, policy: Policy, expect| {
        rows.push(Row {
            name,
            product,
            body,
            policy,
            expect,
        })
    };

    // ---- the seed samples, verbatim
    let seed = |name: &str| fixture(&format!("seeds/{name}"));
    row("seed: face capture v1 response", FaceCapture, seed("facecapture-v1.response.json"), d(), v(Approved, false, &[]));
    row("seed: face capture v1a response (riskLevel 1)", FaceCapture, seed("facecapture-v1a.response.json"), d(), v(Approved, false, &[DeviceRiskLow]));
    row("seed: face compare response", FaceCompare, seed("facecompare.response.json"), d(), v(Approved, false, &[]));
    row("seed: connect response", Connect, seed("connect.response.json"), d(), v(Approved, false, &[]));
    row("seed: id recognition response verbatim (documentation typo)", IdRecognition, seed("idrecognition.response.verbatim.json"), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("seed: id recognition response corrected (deeperResult N)", IdRecognition, seed("idrecognition.response.corrected.json"), d(), v(Rejected, false, &[DeepfakeDetected]));
    row("seed: face capture v1 request is no response (trailing comma)", FaceCapture, seed("facecapture-v1.request.json"), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("seed: face capture v1a request is no response", FaceCapture, seed("facecapture-v1a.request.json"), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("seed: face compare request is no response", FaceCompare, seed("facecompare.request.json"), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("seed: connect request is no response", Connect, seed("connect.request.json"), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("seed: id recognition request is no response", IdRecognition, seed("idrecognition.request.json"), d(), err(ErrorReason::UpstreamMalformedResponse));

    // ---- IN_PROGRESS: resultCode PROCESSING (any status), state InProcess
    row("all: face capture PROCESSING (S)", FaceCapture, j(envelope("PROCESSING", "S")), d(), v(Pending, false, &[InProgress]));
    row("all: face compare PROCESSING (S)", FaceCompare, j(envelope("PROCESSING", "S")), d(), v(Pending, false, &[InProgress]));
    row("all: connect PROCESSING (F, as its table says)", Connect, j(envelope("PROCESSING", "F")), d(), v(Pending, false, &[InProgress]));
    row("all: connect PROCESSING (S)", Connect, j(envelope("PROCESSING", "S")), d(), v(Pending, false, &[InProgress]));
    row("all: id recognition PROCESSING (S)", IdRecognition, j(envelope("PROCESSING", "S")), d(), v(Pending, false, &[InProgress]));
    row("all: face capture state InProcess", FaceCapture, j(set(fc(), "/faceCaptureResult", json!("InProcess"))), d(), v(Pending, false, &[InProgress]));
    row("all: connect state InProcess", Connect, j(set(cn(), "/connectResult", json!("InProcess"))), d(), v(Pending, false, &[InProgress]));
    row("all: PROCESSING with state InProcess gives one reason per field", Connect, j(set(set(cn(), "/result/resultCode", json!("PROCESSING")), "/connectResult", json!("InProcess"))), d(), v(Pending, false, &[InProgress, InProgress]));

    // ---- SESSION_EXPIRED
    row("face capture: state VoidTimeout", FaceCapture, j(set(fc(), "/faceCaptureResult", json!("VoidTimeout"))), d(), v(Expired, true, &[SessionExpired]));
    row("connect: state VoidTimeout", Connect, j(set(cn(), "/connectResult", json!("VoidTimeout"))), d(), v(Expired, true, &[SessionExpired]));
    // A non-retryable REJECT reason beats EXPIRED: a detected attacker is never told to try again.
    row("face capture: VoidTimeout with faceAttack true", FaceCapture, j(set(set(fc(), "/faceCaptureResult", json!("VoidTimeout")), "/extInfo/faceAttack", json!(true))), d(), v(Rejected, false, &[LivenessAttack, SessionExpired]));
    row("connect: VoidTimeout with faceAttack true", Connect, j(set(set(cn(), "/connectResult", json!("VoidTimeout")), "/extFaceInfo/faceAttack", json!(true))), d(), v(Rejected, false, &[LivenessAttack, SessionExpired]));
    row("connect: VoidTimeout with a deepfake", Connect, j(set(set(cn(), "/connectResult", json!("VoidTimeout")), "/extFaceInfo/deeperResult", json!("Fail"))), d(), v(Rejected, false, &[DeepfakeDetected, SessionExpired]));
    row("face capture: VoidTimeout with riskLevel 3", FaceCapture, j(set(set(fc(), "/faceCaptureResult", json!("VoidTimeout")), "/extInfo/deviceRisk/riskLevel", json!(3))), d(), v(Rejected, false, &[DeviceRiskHigh, SessionExpired]));
    // A retryable one does not: the session still expired.
    row("face capture: VoidTimeout with qualityPassed false", FaceCapture, j(set(set(fc(), "/faceCaptureResult", json!("VoidTimeout")), "/extInfo/qualityPassed", json!(false))), d(), v(Expired, true, &[SessionExpired, FaceQualityFailed]));

    // ---- CAPTURE_FAILED
    row("face capture: state Failure", FaceCapture, j(set(fc(), "/faceCaptureResult", json!("Failure"))), d(), v(Rejected, true, &[CaptureFailed]));
    row("connect: SUCCESS with connectResult Failure", Connect, j(set(cn(), "/connectResult", json!("Failure"))), d(), v(Rejected, true, &[CaptureFailed]));

    // ---- LIVENESS_ATTACK
    row("face capture: faceAttack true", FaceCapture, j(set(fc(), "/extInfo/faceAttack", json!(true))), d(), v(Rejected, false, &[LivenessAttack]));
    row("face capture v1: faceAttack true", FaceCapture, j(set(fc_v1(), "/extInfo/faceAttack", json!(true))), d(), v(Rejected, false, &[LivenessAttack]));
    row("face capture: attack fixture (Failure, attack, riskLevel 3)", FaceCapture, fixture("facecapture-attack.json"), d(), v(Rejected, false, &[CaptureFailed, LivenessAttack, DeviceRiskHigh]));
    row("connect: faceAttack true", Connect, j(set(cn(), "/extFaceInfo/faceAttack", json!(true))), d(), v(Rejected, false, &[LivenessAttack]));

    // ---- FACE_QUALITY_FAILED
    let quality_failed = set(set(set(fc(), "/faceCaptureResult", json!("Failure")), "/extInfo/qualityPassed", json!(false)), "/extInfo/faceAttack", Value::Null);
    row("face capture: qualityPassed false (faceAttack null)", FaceCapture, j(quality_failed), d(), v(Rejected, true, &[CaptureFailed, FaceQualityFailed]));
    row("face capture: qualityPassed false alone", FaceCapture, j(set(fc(), "/extInfo/qualityPassed", json!(false))), d(), v(Rejected, true, &[FaceQualityFailed]));
    row("face compare: face1ImageQualityResult FAIL", FaceCompare, j(set(fcmp(), "/face1ImageQualityResult", json!("FAIL"))), d(), v(Rejected, true, &[FaceQualityFailed]));
    row("face compare: face2 FAIL with samePerson false (quality explains it)", FaceCompare, j(set(set(fcmp(), "/face2ImageQualityResult", json!("FAIL")), "/samePerson", json!(false))), d(), v(Rejected, true, &[FaceQualityFailed]));
    row("face compare: samePerson true with a quality FAIL never approves", FaceCompare, j(set(fcmp(), "/face2ImageQualityResult", json!("FAIL"))), d(), v(Rejected, true, &[FaceQualityFailed]));
    row("face compare: both qualities FAIL", FaceCompare, j(set(set(fcmp(), "/face1ImageQualityResult", json!("FAIL")), "/face2ImageQualityResult", json!("FAIL"))), d(), v(Rejected, true, &[FaceQualityFailed, FaceQualityFailed]));

    // ---- FACE_QUALITY_BELOW_THRESHOLD
    row("face capture: quality below face_quality_min_score", FaceCapture, j(fc()), policy(None, Some(99.5)), v(ReviewRequired, false, &[FaceQualityBelowThreshold]));
    row("face capture: quality equal to the minimum passes", FaceCapture, j(fc()), policy(None, Some(99.41563014552693)), v(Approved, false, &[]));
    row("face capture v1: numeric quality below the minimum", FaceCapture, j(fc_v1()), policy(None, Some(98.0)), v(ReviewRequired, false, &[FaceQualityBelowThreshold]));
    row("face capture: minimum set, quality missing", FaceCapture, j(del(fc(), "/extInfo/quality")), policy(None, Some(60.0)), v(ReviewRequired, false, &[IncompleteResult]));
    row("face capture: minimum off, quality missing (v1a)", FaceCapture, j(del(fc(), "/extInfo/quality")), d(), v(Approved, false, &[]));

    // ---- DEVICE_RISK_*
    let risk = |level: Value| j(set(fc(), "/extInfo/deviceRisk", json!({"riskLevel": level})));
    row("face capture: riskLevel -1", FaceCapture, risk(json!(-1)), d(), v(Approved, false, &[DeviceRiskUnknown]));
    row("face capture: riskLevel 0 (no reason)", FaceCapture, risk(json!(0)), d(), v(Approved, false, &[]));
    row("face capture: riskLevel 1", FaceCapture, risk(json!(1)), d(), v(Approved, false, &[DeviceRiskLow]));
    row("face capture: riskLevel 2", FaceCapture, risk(json!(2)), d(), v(ReviewRequired, false, &[DeviceRiskMedium]));
    row("face capture: riskLevel 3", FaceCapture, risk(json!(3)), d(), v(Rejected, false, &[DeviceRiskHigh]));
    row("face capture: riskLevel \"2\" (string)", FaceCapture, risk(json!("2")), d(), v(ReviewRequired, false, &[DeviceRiskMedium]));
    row("face capture: riskLevel 7 (unknown)", FaceCapture, risk(json!(7)), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: riskLevel \"high\"", FaceCapture, risk(json!("high")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: deviceRisk not an object", FaceCapture, j(set(fc(), "/extInfo/deviceRisk", json!(3))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));

    // ---- business result codes of each product's API table
    row("face capture: UNUSABLE", FaceCapture, j(envelope("UNUSABLE", "F")), d(), v(Rejected, true, &[DeviceUnusable]));
    row("face capture: LIMIT_EXCEEDED", FaceCapture, j(envelope("LIMIT_EXCEEDED", "F")), d(), v(Rejected, false, &[AttemptsExceeded]));
    row("id recognition: LIMIT_EXCEEDED", IdRecognition, j(envelope("LIMIT_EXCEEDED", "F")), d(), v(Rejected, false, &[AttemptsExceeded]));
    row("face compare: UNABLE_GET_IMAGE", FaceCompare, j(envelope("UNABLE_GET_IMAGE", "F")), d(), v(Rejected, true, &[ImageUnusable]));
    row("connect: UNABLE_GET_IMAGE (enrolled image)", Connect, j(envelope("UNABLE_GET_IMAGE", "F")), d(), v(ReviewRequired, false, &[ReferenceImageUnavailable]));
    row("id recognition: UNUSABLE (cool-down)", IdRecognition, j(envelope("UNUSABLE", "F")), d(), v(Rejected, true, &[UserCooldown]));

    // ---- FACE_MISMATCH
    row("face compare: samePerson false (qualities pass)", FaceCompare, j(set(fcmp(), "/samePerson", json!(false))), d(), v(Rejected, false, &[FaceMismatch]));
    let nsp = set(set(cn(), "/result", json!({"resultCode": "NOT_SAME_PERSON", "resultStatus": "F", "resultMessage": "not same person"})), "/connectResult", json!("Failure"));
    row("connect: NOT_SAME_PERSON (status F, state Failure)", Connect, j(nsp.clone()), d(), v(Rejected, false, &[FaceMismatch]));
    row("connect: NOT_SAME_PERSON still carries extFaceInfo (faceAttack true)", Connect, fixture("connect-not-same-person.json"), d(), v(Rejected, false, &[FaceMismatch, LivenessAttack]));
    row("connect: NOT_SAME_PERSON without connectResult or extFaceInfo", Connect, j(envelope("NOT_SAME_PERSON", "F")), d(), v(Rejected, false, &[FaceMismatch]));

    // ---- FACE_SCORE_BELOW_THRESHOLD
    row("face compare: score below face_match_min_score", FaceCompare, j(fcmp()), policy(Some(90.0), None), v(Rejected, false, &[FaceScoreBelowThreshold]));
    row("face compare: score above the minimum", FaceCompare, j(fcmp()), policy(Some(80.0), None), v(Approved, false, &[]));
    row("face compare: minimum set, score missing", FaceCompare, j(del(fcmp(), "/score")), policy(Some(80.0), None), v(ReviewRequired, false, &[IncompleteResult]));
    row("connect: faceScore below face_match_min_score", Connect, j(cn()), policy(Some(90.0), None), v(Rejected, false, &[FaceScoreBelowThreshold]));
    row("connect: minimum set, faceScore missing", Connect, j(del(cn(), "/extFaceInfo/faceScore")), policy(Some(80.0), None), v(ReviewRequired, false, &[IncompleteResult]));
    row("connect: minimum set, faceScore \"95\" (string)", Connect, j(set(cn(), "/extFaceInfo/faceScore", json!("95"))), policy(Some(80.0), None), v(Approved, false, &[]));

    // ---- DEEPFAKE_DETECTED
    row("connect: deeperResult Failure", Connect, j(set(cn(), "/extFaceInfo/deeperResult", json!("Failure"))), d(), v(Rejected, false, &[DeepfakeDetected]));
    row("connect: deeperResult N", Connect, j(set(cn(), "/extFaceInfo/deeperResult", json!("N"))), d(), v(Rejected, false, &[DeepfakeDetected]));
    row("connect: deeperResult Y passes", Connect, j(set(cn(), "/extFaceInfo/deeperResult", json!("Y"))), d(), v(Approved, false, &[]));
    row("connect: deeperResult absent (not run)", Connect, j(del(cn(), "/extFaceInfo/deeperResult")), d(), v(Approved, false, &[]));
    row("connect: deeperResult empty string", Connect, j(set(cn(), "/extFaceInfo/deeperResult", json!(""))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: deeperResult not a string", Connect, j(set(cn(), "/extFaceInfo/deeperResult", json!(false))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: deeperResult N", IdRecognition, j(set(id(), "/extInfo/deeperResult", json!("N"))), d(), v(Rejected, false, &[DeepfakeDetected]));
    row("id recognition: deeperResult unknown", IdRecognition, j(set(id(), "/extInfo/deeperResult", json!("Success"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: deeperResult absent (not run)", IdRecognition, j(del(id(), "/extInfo/deeperResult")), d(), v(Approved, false, &[]));

    // ---- recognitionResult N + recognitionErrorCode
    row("id recognition: N + NO_REQUIRED_ID", IdRecognition, j(id_failed(Some("NO_REQUIRED_ID"))), d(), v(Rejected, true, &[DocTypeMismatch]));
    row("id recognition: N + BLUR", IdRecognition, j(id_failed(Some("BLUR"))), d(), v(Rejected, true, &[DocBlurred]));
    row("id recognition: N + NO_FACE_DETECTED", IdRecognition, j(id_failed(Some("NO_FACE_DETECTED"))), d(), v(Rejected, true, &[DocFaceNotDetected]));
    row("id recognition: N + NOT_REAL_DOC", IdRecognition, j(id_failed(Some("NOT_REAL_DOC"))), d(), v(Rejected, false, &[DocNotGenuine]));
    row("id recognition: N + EXPOSURE", IdRecognition, j(id_failed(Some("EXPOSURE"))), d(), v(Rejected, true, &[DocOverexposed]));
    row("id recognition: N + UNKNOWN", IdRecognition, j(id_failed(Some("UNKNOWN"))), d(), v(Rejected, true, &[DocRecognitionFailed]));
    row("id recognition: N + another code", IdRecognition, j(id_failed(Some("GLARE"))), d(), v(Rejected, true, &[DocRecognitionFailed]));
    row("id recognition: N + empty code", IdRecognition, j(id_failed(Some(""))), d(), v(Rejected, true, &[DocRecognitionFailed]));
    row("id recognition: N without a code", IdRecognition, j(id_failed(None)), d(), v(Rejected, true, &[DocRecognitionFailed]));
    row("id recognition: Y with a stray error code is left to review", IdRecognition, j(set(id(), "/extInfo/recognitionErrorCode", json!("BLUR"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: Y with an empty error code approves (as ZOLOZ's sample)", IdRecognition, j(set(id(), "/extInfo/recognitionErrorCode", json!(""))), d(), v(Approved, false, &[]));

    // Y with an error code: the two disagree (ZOLOZ sends "" with Y).
    row("id recognition: Y with NOT_REAL_DOC", IdRecognition, j(set(id(), "/extInfo/recognitionErrorCode", json!("NOT_REAL_DOC"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: Y with an error code not a string", IdRecognition, j(set(id(), "/extInfo/recognitionErrorCode", json!(7))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: Y with a null error code", IdRecognition, j(set(id(), "/extInfo/recognitionErrorCode", Value::Null)), d(), v(Approved, false, &[]));
    // ---- spoofResult
    let spoof = |check: &str, value: Value| j(set(id(), &format!("/extInfo/spoofResult/{check}"), value));
    row("id recognition: TAMPER_CHECK N", IdRecognition, spoof("TAMPER_CHECK", json!("N")), d(), v(Rejected, false, &[DocTampered]));
    row("id recognition: MATERIAL_CHECK N", IdRecognition, spoof("MATERIAL_CHECK", json!("N")), d(), v(Rejected, true, &[DocMaterialCheckFailed]));
    row("id recognition: SCREEN_RECAPTURE_CHECK N", IdRecognition, spoof("SCREEN_RECAPTURE_CHECK", json!("N")), d(), v(Rejected, false, &[DocScreenRecapture]));
    row("id recognition: INFORMATION_CHECK N", IdRecognition, spoof("INFORMATION_CHECK", json!("N")), d(), v(Rejected, false, &[DocInformationInvalid]));
    row("id recognition: SECURITY_FEATURE_CHECK N", IdRecognition, spoof("SECURITY_FEATURE_CHECK", json!("N")), d(), v(Rejected, false, &[DocSecurityFeatureFailed]));
    row("id recognition: MATERIAL_CHECK N with BLUR: every reject retryable", IdRecognition, j(set(id_failed(Some("BLUR")), "/extInfo/spoofResult/MATERIAL_CHECK", json!("N"))), d(), v(Rejected, true, &[DocBlurred, DocMaterialCheckFailed]));
    row("id recognition: MATERIAL_CHECK N with TAMPER_CHECK N: not retryable", IdRecognition, j(set(set(id(), "/extInfo/spoofResult/MATERIAL_CHECK", json!("N")), "/extInfo/spoofResult/TAMPER_CHECK", json!("N"))), d(), v(Rejected, false, &[DocTampered, DocMaterialCheckFailed]));
    // With spoofResult present, the three Required checks must be there; the two Optional ones may be absent.
    let without = |checks: &[&str]| j(checks.iter().fold(id(), |body, check| del(body, &format!("/extInfo/spoofResult/{check}"))));
    row("id recognition: spoofResult without TAMPER_CHECK", IdRecognition, without(&["TAMPER_CHECK"]), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("id recognition: spoofResult without MATERIAL_CHECK", IdRecognition, without(&["MATERIAL_CHECK"]), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("id recognition: spoofResult without SCREEN_RECAPTURE_CHECK", IdRecognition, without(&["SCREEN_RECAPTURE_CHECK"]), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("id recognition: spoofResult without the Optional checks", IdRecognition, without(&["INFORMATION_CHECK", "SECURITY_FEATURE_CHECK"]), d(), v(Approved, false, &[]));
    row("id recognition: spoofResult empty", IdRecognition, j(set(id(), "/extInfo/spoofResult", json!({}))), d(), v(ReviewRequired, false, &[IncompleteResult, IncompleteResult, IncompleteResult]));
    row("id recognition: spoofResult absent (no spoof check ran)", IdRecognition, j(del(id(), "/extInfo/spoofResult")), d(), v(Approved, false, &[]));
    row("id recognition: spoofResult null (no spoof check ran)", IdRecognition, j(set(id(), "/extInfo/spoofResult", Value::Null)), d(), v(Approved, false, &[]));
    row("id recognition: TAMPER_CHECK missing, MATERIAL_CHECK N", IdRecognition, j(set(del(id(), "/extInfo/spoofResult/TAMPER_CHECK"), "/extInfo/spoofResult/MATERIAL_CHECK", json!("N"))), d(), v(Rejected, true, &[DocMaterialCheckFailed, IncompleteResult]));
    row("id recognition: unknown spoof check Y is kept and passes", IdRecognition, spoof("HOLOGRAM_CHECK", json!("Y")), d(), v(Approved, false, &[]));
    row("id recognition: unknown spoof check N", IdRecognition, spoof("HOLOGRAM_CHECK", json!("N")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: spoof value other than Y/N", IdRecognition, spoof("TAMPER_CHECK", json!("U")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: spoof value not a string", IdRecognition, spoof("TAMPER_CHECK", json!(false)), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: spoofResult not an object", IdRecognition, j(set(id(), "/extInfo/spoofResult", json!(["N"]))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: uploadEnabledResult unknown", IdRecognition, j(set(id(), "/extInfo/uploadEnabledResult", json!("maybe"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));

    // ---- INCOMPLETE_RESULT: a field the decision needs is missing on SUCCESS
    row("face capture v1: faceAttack missing", FaceCapture, j(del(fc_v1(), "/extInfo/faceAttack")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("face capture v1: quality missing", FaceCapture, j(del(fc_v1(), "/extInfo/quality")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("face capture: SUCCESS and nothing else", FaceCapture, j(envelope("SUCCESS", "S")), d(), v(ReviewRequired, false, &[IncompleteResult, IncompleteResult]));
    row("face capture: faceCaptureResult Success, no extInfo (deeper fields optional)", FaceCapture, j(del(fc(), "/extInfo")), d(), v(Approved, false, &[]));
    row("face compare: samePerson missing", FaceCompare, j(del(fcmp(), "/samePerson")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("face compare: face2ImageQualityResult missing", FaceCompare, j(del(fcmp(), "/face2ImageQualityResult")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    // A mismatch is only final when both images were usable: an unknown quality leaves it to review.
    row("face compare: samePerson false, a quality missing", FaceCompare, j(set(del(fcmp(), "/face1ImageQualityResult"), "/samePerson", json!(false))), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("face compare: samePerson false, a quality not PASS or FAIL", FaceCompare, j(set(set(fcmp(), "/face2ImageQualityResult", json!("pass")), "/samePerson", json!(false))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    // The known checks are read first: 40 others before a TAMPER_CHECK N cannot push it out.
    row("id recognition: TAMPER_CHECK N after more checks than the service reads", IdRecognition, j(set(id(), "/extInfo/spoofResult", json!((0..40).map(|i| (format!("CHECK_{i}"), json!("Y"))).chain([("TAMPER_CHECK".to_string(), json!("N"))]).collect::<serde_json::Map<_, _>>()))), d(), v(Rejected, false, &[DocTampered, UnrecognizedUpstreamValue, IncompleteResult, IncompleteResult]));
    row("id recognition: a spoof check present as null", IdRecognition, spoof("TAMPER_CHECK", Value::Null), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: more spoof checks than the service reads", IdRecognition, j(set(id(), "/extInfo/spoofResult", json!((0..40).map(|i| (format!("CHECK_{i}"), json!("Y"))).collect::<serde_json::Map<_, _>>()))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue, IncompleteResult, IncompleteResult, IncompleteResult]));
    row("face compare: score missing (no threshold)", FaceCompare, j(del(fcmp(), "/score")), d(), v(Approved, false, &[]));
    row("connect: older api (no connectResult) approves", Connect, fixture("connect-older-api.json"), d(), v(Approved, false, &[]));
    // A state present as null is not the older API's absent state: its rule of evidence does not apply.
    row("connect: connectResult null beside the older api's evidence", Connect, j(set(json!(fixture_json("connect-older-api.json")), "/connectResult", Value::Null)), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture v1: faceCaptureResult null beside the v1 evidence", FaceCapture, j(set(fc_v1(), "/faceCaptureResult", Value::Null)), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: faceCaptureResult null (v1a body)", FaceCapture, j(set(fc(), "/faceCaptureResult", Value::Null)), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: older api, faceScore missing", Connect, j(del(json!(fixture_json("connect-older-api.json")), "/extFaceInfo/faceScore")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("connect: SUCCESS and nothing else", Connect, j(envelope("SUCCESS", "S")), d(), v(ReviewRequired, false, &[IncompleteResult, IncompleteResult]));
    row("connect: connectResult Success, no extFaceInfo (deeper fields optional)", Connect, j(del(cn(), "/extFaceInfo")), d(), v(Approved, false, &[]));
    row("id recognition: recognitionResult missing", IdRecognition, j(del(id(), "/extInfo/recognitionResult")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("id recognition: SUCCESS and nothing else", IdRecognition, j(envelope("SUCCESS", "S")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("all: resultCode missing", Connect, j(del(cn(), "/result/resultCode")), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("all: resultCode missing does not hide a rejection", Connect, j(del(set(cn(), "/extFaceInfo/faceAttack", json!(true)), "/result/resultCode")), d(), v(Rejected, false, &[LivenessAttack, IncompleteResult]));

    // ---- UNRECOGNIZED_UPSTREAM_VALUE
    row("face capture: unknown resultCode", FaceCapture, j(set(fc(), "/result/resultCode", json!("BRAND_NEW_CODE"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: another product's code (NOT_SAME_PERSON)", FaceCapture, j(envelope("NOT_SAME_PERSON", "F")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: another product's code (LIMIT_EXCEEDED)", FaceCompare, j(envelope("LIMIT_EXCEEDED", "F")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: another product's code (UNUSABLE)", Connect, j(envelope("UNUSABLE", "F")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: another product's code (UNABLE_GET_IMAGE)", IdRecognition, j(envelope("UNABLE_GET_IMAGE", "F")), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: transactionId a number (binds the answer to no transaction)", FaceCompare, j(set(fcmp(), "/transactionId", json!(157))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: transactionId an object", Connect, j(set(cn(), "/transactionId", json!({"id": "T1"}))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: transactionId longer than any id (129)", IdRecognition, j(set(id(), "/transactionId", json!("G".repeat(129)))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: transactionId null (absent: no binding to check)", FaceCompare, j(set(fcmp(), "/transactionId", Value::Null)), d(), v(Approved, false, &[]));
    row("all: resultCode in lower case", FaceCompare, j(set(fcmp(), "/result/resultCode", json!("success"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("all: only resultStatus S and connectResult Success", Connect, br#"{"result":{"resultStatus":"S"},"connectResult":"Success"}"#.to_vec(), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("all: resultCode 0", IdRecognition, j(set(id(), "/result/resultCode", json!(0))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("all: resultCode null", FaceCapture, j(set(fc(), "/result/resultCode", Value::Null)), d(), v(ReviewRequired, false, &[IncompleteResult]));
    row("all: resultCode not a string", FaceCompare, j(set(fcmp(), "/result/resultCode", json!(200))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("all: SUCCESS with resultStatus F", Connect, j(set(cn(), "/result/resultStatus", json!("F"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: unknown state", FaceCapture, j(set(fc(), "/faceCaptureResult", json!("Succeeded"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: state not a string", Connect, j(set(cn(), "/connectResult", json!(1))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: faceAttack \"false\" (string) is not false", FaceCapture, j(set(fc(), "/extInfo/faceAttack", json!("false"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture v1: faceAttack \"false\" gives no evidence", FaceCapture, j(set(fc_v1(), "/extInfo/faceAttack", json!("false"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: qualityPassed \"true\" (string)", FaceCapture, j(set(fc(), "/extInfo/qualityPassed", json!("true"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: quality \"NaN\"", FaceCapture, j(set(fc(), "/extInfo/quality", json!("NaN"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: quality \"inf\"", FaceCapture, j(set(fc(), "/extInfo/quality", json!("inf"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: quality 150 (out of range)", FaceCapture, j(set(fc(), "/extInfo/quality", json!(150))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture v1: quality unparseable gives no evidence", FaceCapture, j(set(fc_v1(), "/extInfo/quality", json!("high"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face capture: extInfo not an object", FaceCapture, j(set(fc(), "/extInfo", json!("ok"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: samePerson \"yes\"", FaceCompare, j(set(fcmp(), "/samePerson", json!("yes"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: quality result unknown", FaceCompare, j(set(fcmp(), "/face1ImageQualityResult", json!("GOOD"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: score \"NaN\"", FaceCompare, j(set(fcmp(), "/score", json!("NaN"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("face compare: score -1", FaceCompare, j(set(fcmp(), "/score", json!(-1))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: faceScore not a number", Connect, j(set(cn(), "/extFaceInfo/faceScore", json!("high"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("connect: extFaceInfo not an object", Connect, j(set(cn(), "/extFaceInfo", json!([]))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: recognitionResult unknown", IdRecognition, j(set(id(), "/extInfo/recognitionResult", json!("y"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue]));
    row("id recognition: extInfo not an object (so recognitionResult is missing too)", IdRecognition, j(set(id(), "/extInfo", json!("Y"))), d(), v(ReviewRequired, false, &[UnrecognizedUpstreamValue, IncompleteResult]));

    // ---- failure result codes: no verdict (docs/design.md, Errors), for every product
    for (product, name) in [
        (FaceCapture, "face capture: SYSTEM_ERROR"),
        (FaceCompare, "face compare: SYSTEM_ERROR"),
        (Connect, "connect: SYSTEM_ERROR"),
        (IdRecognition, "id recognition: SYSTEM_ERROR"),
    ] {
        row(name, product, j(envelope("SYSTEM_ERROR", "U")), d(), err(ErrorReason::UpstreamUnavailable));
    }
    for (product, name) in [
        (FaceCapture, "face capture: INVALID_ARGUMENT"),
        (FaceCompare, "face compare: INVALID_ARGUMENT"),
        (Connect, "connect: INVALID_ARGUMENT"),
        (IdRecognition, "id recognition: INVALID_ARGUMENT"),
    ] {
        row(name, product, j(envelope("INVALID_ARGUMENT", "F")), d(), err(ErrorReason::UpstreamInvalidArgument));
    }
    row("all: PARAM_MISSING", Connect, j(envelope("PARAM_MISSING", "F")), d(), err(ErrorReason::UpstreamInvalidArgument));
    row("all: PARAM_ILLEGAL", Connect, j(envelope("PARAM_ILLEGAL", "F")), d(), err(ErrorReason::UpstreamInvalidArgument));
    row("all: SIGNATURE_INVALID", Connect, j(envelope("SIGNATURE_INVALID", "F")), d(), err(ErrorReason::UpstreamAuthRejected));
    row("all: KEY_NOT_FOUND", FaceCapture, j(envelope("KEY_NOT_FOUND", "F")), d(), err(ErrorReason::UpstreamAuthRejected));
    row("all: MSG_PARSE_ERROR", IdRecognition, j(envelope("MSG_PARSE_ERROR", "F")), d(), err(ErrorReason::UpstreamAuthRejected));
    row("all: REQUEST_TRAFFIC_EXCEED_LIMIT", FaceCompare, j(envelope("REQUEST_TRAFFIC_EXCEED_LIMIT", "F")), d(), err(ErrorReason::UpstreamRateLimited));
    row("all: PRODUCT_QUOTA_LIMIT", FaceCompare, j(envelope("PRODUCT_QUOTA_LIMIT", "F")), d(), err(ErrorReason::UpstreamQuotaExhausted));
    row("all: PROCESS_TIMEOUT", IdRecognition, j(envelope("PROCESS_TIMEOUT", "F")), d(), err(ErrorReason::UpstreamUnavailable));
    row("all: SYSTEM_ERROR fixture", Connect, fixture("system-error.json"), d(), err(ErrorReason::UpstreamUnavailable));

    // ---- malformed bodies
    row("all: body not json", Connect, b"<html>502 bad gateway</html>".to_vec(), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: body an array", Connect, j(json!([{"result": {}}])), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: no result envelope", FaceCompare, j(del(fcmp(), "/result")), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: result not an object", IdRecognition, j(set(id(), "/result", json!("SUCCESS"))), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: empty body", FaceCapture, Vec::new(), d(), err(ErrorReason::UpstreamMalformedResponse));
    // A repeated key has no single meaning (serde_json would keep the last): never a verdict.
    row("all: repeated key, attack then none", FaceCapture, br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"extInfo":{"faceAttack":true,"faceAttack":false,"quality":"80"}}"#.to_vec(), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: repeated result envelope", Connect, br#"{"result":{"resultCode":"LIMIT_EXCEEDED","resultStatus":"F"},"result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#.to_vec(), d(), err(ErrorReason::UpstreamMalformedResponse));
    row("all: repeated spoof check", IdRecognition, br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"extInfo":{"recognitionResult":"Y","spoofResult":{"TAMPER_CHECK":"N","TAMPER_CHECK":"Y"}}}"#.to_vec(), d(), err(ErrorReason::UpstreamMalformedResponse));

    rows
}

/// The rows decided under the built-in default policy (name, product, body): what the service,
/// Evaluate and `explain` all decide with when no policy is named.
pub fn default_policy_rows() -> Vec<(&'static str, Product, Vec<u8>)> {
    let default = Policy::default_table();
    rows()
        .into_iter()
        .filter(|row| row.policy.version() == default.version())
        .map(|row| (row.name, row.product, row.body))
        .collect()
}

/// Parse and evaluate, as the service and `explain` do.
pub fn run(product: Product, body: &[u8], policy: &Policy) -> Result<Verdict, ServiceError> {
    let parsed = parse(product, body, false)?;
    Ok(evaluate(&parsed.facts, policy)?)
}

#[test]
fn decision_table() {
    let rows = rows();
    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.name), "duplicate row name {:?}", row.name);
        let outcome = run(row.product, &row.body, &row.policy);
        match (&row.expect, outcome) {
            (Expect::Verdict(decision, retryable, codes), Ok(verdict)) => {
                let actual = verdict.reason_codes();
                if verdict.decision != *decision
                    || verdict.retryable != *retryable
                    || &actual != codes
                {
                    failures.push(format!(
                        "{}: expected {decision} retryable={retryable} {codes:?}, got {} \
                         retryable={} {actual:?}",
                        row.name, verdict.decision, verdict.retryable
                    ));
                }
                for reason in &verdict.reasons {
                    assert_eq!(
                        reason.effect,
                        row.policy.effect(reason.code),
                        "{}",
                        row.name
                    );
                    assert_eq!(reason.retryable, reason.code.retryable(), "{}", row.name);
                    assert!(reason.field.starts_with('/'), "{}: {reason:?}", row.name);
                    assert!(!reason.message.is_empty(), "{}", row.name);
                }
                assert_eq!(verdict.policy.version, row.policy.version(), "{}", row.name);
            }
            (Expect::Error(reason), Err(error)) => {
                if error.reason != *reason {
                    failures.push(format!(
                        "{}: expected error {reason}, got {error}",
                        row.name
                    ));
                }
            }
            (Expect::Verdict(..), Err(error)) => {
                failures.push(format!("{}: expected a verdict, got {error}", row.name))
            }
            (Expect::Error(reason), Ok(verdict)) => failures.push(format!(
                "{}: expected error {reason}, got {} {:?}",
                row.name,
                verdict.decision,
                verdict.reason_codes()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Every reason code of the catalogue is produced by at least one row under the default policy
/// (or a threshold policy): the table covers the whole decision table.
#[test]
fn rows_cover_every_reason_code() {
    let mut seen = std::collections::HashSet::new();
    for row in rows() {
        if let Expect::Verdict(_, _, codes) = &row.expect {
            seen.extend(codes.iter().copied());
        }
    }
    // UPSTREAM_INCONSISTENT comes from two answers, not one body: the engine's unit tests
    // and the service's (`binding::replayed_and_contradicting_answers_are_not_taken`) cover it.
    let missing: Vec<_> = ReasonCode::ALL
        .into_iter()
        .filter(|c| !seen.contains(c) && *c != UpstreamInconsistent)
        .collect();
    assert!(missing.is_empty(), "no row for {missing:?}");
}

/// Reasons carry the pointer and the raw value, and threshold reasons the numbers.
#[test]
fn reason_details() {
    let body = serde_json::to_vec(&set(
        set(id(), "/extInfo/spoofResult/TAMPER_CHECK", json!("N")),
        "/extInfo/deeperResult",
        json!("N"),
    ))
    .unwrap();
    let verdict = run(IdRecognition, &body, &Policy::default_table()).unwrap();
    let tamper = verdict
        .reasons
        .iter()
        .find(|r| r.code == DocTampered)
        .unwrap();
    assert_eq!(tamper.field, "/extInfo/spoofResult/TAMPER_CHECK");
    assert_eq!(tamper.upstream_value.as_deref(), Some("\"N\""));

    let verdict = run(
        Connect,
        &fixture("seeds/connect.response.json"),
        &policy(Some(90.0), None),
    )
    .unwrap();
    let low = &verdict.reasons[0];
    assert_eq!(low.code, FaceScoreBelowThreshold);
    assert_eq!(low.field, "/extFaceInfo/faceScore");
    assert_eq!(low.upstream_value.as_deref(), Some("89.1"));
    assert_eq!((low.score, low.threshold), (Some(89.1), Some(90.0)));

    let body = serde_json::to_vec(&del(fcmp(), "/samePerson")).unwrap();
    let verdict = run(FaceCompare, &body, &Policy::default_table()).unwrap();
    assert_eq!(verdict.reasons[0].field, "/samePerson");
    assert_eq!(verdict.reasons[0].upstream_value, None);

    let body = serde_json::to_vec(&set(fc(), "/extInfo/quality", json!("NaN"))).unwrap();
    let verdict = run(FaceCapture, &body, &Policy::default_table()).unwrap();
    assert_eq!(
        verdict.reasons[0].upstream_value.as_deref(),
        Some("\"NaN\"")
    );

    // The upstream summary names the product state and its pointer.
    let verdict = run(
        Connect,
        &fixture("connect-not-same-person.json"),
        &Policy::default_table(),
    )
    .unwrap();
    assert_eq!(verdict.upstream.result_code, "NOT_SAME_PERSON");
    assert_eq!(verdict.upstream.result_status, "F");
    assert_eq!(verdict.upstream.product_state, "Failure");
    assert_eq!(verdict.upstream.product_state_field, "/connectResult");
}

/// A failure result code is an error carrying the raw code and status.
#[test]
fn failure_codes_keep_the_upstream_envelope() {
    let error = run(
        Connect,
        &fixture("system-error.json"),
        &Policy::default_table(),
    )
    .unwrap_err();
    assert_eq!(error.reason, ErrorReason::UpstreamUnavailable);
    assert_eq!(error.upstream_code.as_deref(), Some("SYSTEM_ERROR"));
    assert_eq!(error.upstream_status.as_deref(), Some("U"));
    assert_eq!(error.message, "zoloz answered SYSTEM_ERROR: system error");
}
