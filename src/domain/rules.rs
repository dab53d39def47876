//! The per-product rows of the decision table: how each product's fields become reasons,
//! signals and positive evidence. Shared rules (result code, state, fail-safe, decision) are in
//! [`super::verdict`].
//!
//! Common to all products: a field absent (or `null`) means the check did not run, unless the
//! decision needs it on `SUCCESS` (then INCOMPLETE_RESULT); a field of the wrong JSON type, an
//! unknown enum value, or a number that is not finite or outside 0 to 100 is
//! UNRECOGNIZED_UPSTREAM_VALUE, never coerced into a passing value.

use crate::domain::facts::{
    ConnectFacts, FaceCaptureApiVersion, FaceCaptureFacts, FaceCompareFacts, IdRecognitionFacts,
    KNOWN_SPOOF_CHECKS, MAX_SPOOF_CHECKS, Observed, REQUIRED_SPOOF_CHECKS, escape_pointer_token,
    field,
};
use crate::domain::reason::ReasonCode;
use crate::domain::signals::{
    DeepfakeSignal, DeviceRiskSignal, DocumentSignal, FaceMatchSignal, LivenessSignal,
    QualitySignal, Signals, SpoofCheck,
};
use crate::domain::verdict::{CodeOutcome, Findings, Reading, State, read_state};

/// Face Capture (`/api/v1/` and `/api/v1a/`).
pub(crate) fn face_capture(
    f: &FaceCaptureFacts,
    outcome: CodeOutcome,
    findings: &mut Findings<'_>,
) -> Reading {
    use field::face_capture as fld;
    let state = read_state(findings, fld::STATE, "faceCaptureResult", &f.state, outcome);
    let settled = outcome == CodeOutcome::Success && state.is_settled();

    let attack = face_attack(findings, fld::FACE_ATTACK, &f.face_attack);
    let passed = flag(
        findings,
        fld::QUALITY_PASSED,
        "qualityPassed",
        &f.quality_passed,
    );
    if passed == Some(false) {
        findings.add(
            ReasonCode::FaceQualityFailed,
            fld::QUALITY_PASSED,
            f.quality_passed.raw(),
            "the face image failed the quality check (qualityPassed false)",
        );
    }
    let quality = score(findings, fld::QUALITY, "quality", &f.quality);
    let min = findings.policy().face_quality_min_score();
    threshold(
        findings,
        Threshold {
            code: ReasonCode::FaceQualityBelowThreshold,
            pointer: fld::QUALITY,
            what: "face quality score",
            setting: "face_quality_min_score",
            min,
            settled,
        },
        &f.quality,
        quality,
    );
    device_risk(findings, &f.risk_level);

    if settled && state == State::Absent && f.api == FaceCaptureApiVersion::V1a {
        findings.add(
            ReasonCode::IncompleteResult,
            fld::STATE,
            None,
            "faceCaptureResult is missing from a v1a answer",
        );
    } else if settled && state == State::Absent {
        // The v1 API has no faceCaptureResult: approval then needs faceAttack false with a
        // quality score, so both are needed fields.
        for (pointer, missing) in [
            (fld::FACE_ATTACK, f.face_attack.is_missing()),
            (fld::QUALITY, f.quality.is_missing()),
        ] {
            if missing {
                findings.add(
                    ReasonCode::IncompleteResult,
                    pointer,
                    None,
                    format!(
                        "{pointer} is missing: without faceCaptureResult (v1 api), approval \
                         needs faceAttack false with a quality score"
                    ),
                );
            }
        }
    }
    // The v1 rule only where the v1 API may have answered: a v1a answer without its state
    // lacks the field the decision needs.
    let v1_evidence = f.api != FaceCaptureApiVersion::V1a
        && state == State::Absent
        && attack == Some(false)
        && quality.is_some();
    let evidence = outcome == CodeOutcome::Success && (state == State::Success || v1_evidence);

    let mut signals = Signals {
        liveness: attack.map(|a| LivenessSignal {
            attack_detected: Some(a),
        }),
        ..Signals::default()
    };
    if quality.is_some() || passed.is_some() {
        signals.quality = Some(QualitySignal {
            score: quality,
            passed,
            ..QualitySignal::default()
        });
    }
    if let Some(level) = f.risk_level.value().filter(|l| (-1..=3).contains(*l)) {
        signals.device_risk = Some(DeviceRiskSignal {
            risk_level: i32::try_from(*level).unwrap_or_default(),
        });
    }
    Reading {
        evidence,
        evidence_field: fld::STATE,
        evidence_raw: f.state.raw().map(str::to_string),
        state: state_text(fld::STATE, &f.state),
        signals,
    }
}

/// Face Compare (`asynccheckresult`).
pub(crate) fn face_compare(
    f: &FaceCompareFacts,
    outcome: CodeOutcome,
    findings: &mut Findings<'_>,
) -> Reading {
    use field::face_compare as fld;
    let settled = outcome == CodeOutcome::Success;

    let mut qualities_pass = true;
    for (pointer, name, observed) in [
        (
            fld::FACE1_QUALITY,
            "face1ImageQualityResult",
            &f.face1_quality,
        ),
        (
            fld::FACE2_QUALITY,
            "face2ImageQualityResult",
            &f.face2_quality,
        ),
    ] {
        match observed.as_str() {
            Some("PASS") => {}
            Some("FAIL") => {
                qualities_pass = false;
                findings.add(
                    ReasonCode::FaceQualityFailed,
                    pointer,
                    observed.raw(),
                    format!("the image failed the quality check ({name} FAIL)"),
                );
            }
            _ => {
                qualities_pass = false;
                match observed {
                    Observed::Missing if settled => findings.add(
                        ReasonCode::IncompleteResult,
                        pointer,
                        None,
                        format!("{name} is missing"),
                    ),
                    Observed::Missing => {}
                    _ => findings.add(
                        ReasonCode::UnrecognizedUpstreamValue,
                        pointer,
                        observed.raw(),
                        format!("{name} is not PASS or FAIL"),
                    ),
                }
            }
        }
    }

    let same_person = flag(findings, fld::SAME_PERSON, "samePerson", &f.same_person);
    match same_person {
        // A failed image quality explains the mismatch (and may pass on a new attempt).
        // Only a comparison of usable images is a mismatch: a failed quality explains it (and
        // may pass on a new attempt), an unknown one leaves it to review.
        Some(false) if qualities_pass => findings.add(
            ReasonCode::FaceMismatch,
            fld::SAME_PERSON,
            f.same_person.raw(),
            "the two faces do not belong to the same person (samePerson false)",
        ),
        None if settled && f.same_person.is_missing() => findings.add(
            ReasonCode::IncompleteResult,
            fld::SAME_PERSON,
            None,
            "samePerson is missing",
        ),
        _ => {}
    }
    let match_score = score(findings, fld::SCORE, "score", &f.score);
    let min = findings.policy().face_match_min_score();
    threshold(
        findings,
        Threshold {
            code: ReasonCode::FaceScoreBelowThreshold,
            pointer: fld::SCORE,
            what: "face match score",
            setting: "face_match_min_score",
            min,
            settled,
        },
        &f.score,
        match_score,
    );

    let evidence = settled && same_person == Some(true) && qualities_pass;
    let mut signals = Signals::default();
    if match_score.is_some() || same_person.is_some() {
        signals.face_match = Some(FaceMatchSignal {
            score: match_score,
            same_person,
        });
    }
    let face1 = f.face1_quality.as_str().unwrap_or_default();
    let face2 = f.face2_quality.as_str().unwrap_or_default();
    if !face1.is_empty() || !face2.is_empty() {
        signals.quality = Some(QualitySignal {
            face1_result: face1.to_string(),
            face2_result: face2.to_string(),
            ..QualitySignal::default()
        });
    }
    Reading {
        evidence,
        evidence_field: fld::SAME_PERSON,
        evidence_raw: f.same_person.raw().map(str::to_string),
        state: None,
        signals,
    }
}

/// Connect (`checkresult`), with and without `connectResult`.
pub(crate) fn connect(
    f: &ConnectFacts,
    outcome: CodeOutcome,
    findings: &mut Findings<'_>,
) -> Reading {
    use field::connect as fld;
    let state = read_state(findings, fld::STATE, "connectResult", &f.state, outcome);
    let settled = outcome == CodeOutcome::Success && state.is_settled();

    let attack = face_attack(findings, fld::FACE_ATTACK, &f.face_attack);
    let face_score = score(findings, fld::FACE_SCORE, "faceScore", &f.face_score);
    let min = findings.policy().face_match_min_score();
    threshold(
        findings,
        Threshold {
            code: ReasonCode::FaceScoreBelowThreshold,
            pointer: fld::FACE_SCORE,
            what: "face match score",
            setting: "face_match_min_score",
            min,
            settled,
        },
        &f.face_score,
        face_score,
    );
    let deepfake = match &f.deeper_result {
        Observed::Missing => None,
        Observed::Known { value, raw } => {
            let passed = matches!(value.as_str(), "Success" | "Y");
            if value.is_empty() {
                // An empty value says neither pass nor fail: review rather than reject.
                findings.add(
                    ReasonCode::UnrecognizedUpstreamValue,
                    fld::DEEPER_RESULT,
                    Some(raw),
                    "deeperResult is empty",
                );
            } else if !passed {
                findings.add(
                    ReasonCode::DeepfakeDetected,
                    fld::DEEPER_RESULT,
                    Some(raw),
                    format!("deeper detection reported a deepfake risk (deeperResult {raw})"),
                );
            }
            Some(DeepfakeSignal {
                result: value.clone(),
                passed,
                description: f
                    .deeper_description
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        }
        Observed::Unrecognized { raw } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                fld::DEEPER_RESULT,
                Some(raw),
                "deeperResult is not a string",
            );
            None
        }
    };

    if settled && state == State::Absent {
        for (pointer, missing) in [
            (fld::FACE_ATTACK, f.face_attack.is_missing()),
            (fld::FACE_SCORE, f.face_score.is_missing()),
        ] {
            if missing {
                findings.add(
                    ReasonCode::IncompleteResult,
                    pointer,
                    None,
                    format!(
                        "{pointer} is missing: without connectResult (older api), approval \
                         needs faceAttack false with a faceScore"
                    ),
                );
            }
        }
    }
    let older_api_evidence =
        state == State::Absent && attack == Some(false) && face_score.is_some();
    let evidence =
        outcome == CodeOutcome::Success && (state == State::Success || older_api_evidence);

    let signals = Signals {
        liveness: attack.map(|a| LivenessSignal {
            attack_detected: Some(a),
        }),
        deepfake,
        face_match: face_score.map(|s| FaceMatchSignal {
            score: Some(s),
            same_person: None,
        }),
        ..Signals::default()
    };
    Reading {
        evidence,
        evidence_field: fld::STATE,
        evidence_raw: f.state.raw().map(str::to_string),
        state: state_text(fld::STATE, &f.state),
        signals,
    }
}

/// The known spoof checks (in [`KNOWN_SPOOF_CHECKS`]' order) and the reasons their `N` gives.
const SPOOF_CHECKS: [(&str, ReasonCode, &str); 5] = [
    (
        KNOWN_SPOOF_CHECKS[0],
        ReasonCode::DocTampered,
        "the document was tampered with",
    ),
    (
        KNOWN_SPOOF_CHECKS[1],
        ReasonCode::DocMaterialCheckFailed,
        "the document material failed the authenticity check",
    ),
    (
        KNOWN_SPOOF_CHECKS[2],
        ReasonCode::DocScreenRecapture,
        "the document image was recaptured from a screen",
    ),
    (
        KNOWN_SPOOF_CHECKS[3],
        ReasonCode::DocInformationInvalid,
        "the document information failed validation",
    ),
    (
        KNOWN_SPOOF_CHECKS[4],
        ReasonCode::DocSecurityFeatureFailed,
        "the document failed the security feature check",
    ),
];

/// ID Recognition (`checkresult`).
pub(crate) fn id_recognition(
    f: &IdRecognitionFacts,
    outcome: CodeOutcome,
    findings: &mut Findings<'_>,
) -> Reading {
    use field::id_recognition as fld;
    let settled = outcome == CodeOutcome::Success;

    match &f.recognition_result {
        Observed::Known { value, .. } if value == "Y" => match &f.recognition_error_code {
            // ZOLOZ sends `""` with Y.
            Observed::Missing => {}
            Observed::Known { value, .. } if value.is_empty() => {}
            // Y and an error code (`NOT_REAL_DOC`, …) disagree: neither is taken.
            code => findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                fld::RECOGNITION_ERROR_CODE,
                code.raw(),
                "recognitionResult is Y but recognitionErrorCode names an error",
            ),
        },
        Observed::Known { value, raw } if value == "N" => {
            let code_text = f.recognition_error_code.as_str();
            let reason = match code_text {
                Some("NO_REQUIRED_ID") => ReasonCode::DocTypeMismatch,
                Some("BLUR") => ReasonCode::DocBlurred,
                Some("NO_FACE_DETECTED") => ReasonCode::DocFaceNotDetected,
                Some("NOT_REAL_DOC") => ReasonCode::DocNotGenuine,
                Some("EXPOSURE") => ReasonCode::DocOverexposed,
                _ => ReasonCode::DocRecognitionFailed,
            };
            let (pointer, upstream) = match f.recognition_error_code.raw() {
                Some(code_raw) => (fld::RECOGNITION_ERROR_CODE, code_raw),
                None => (fld::RECOGNITION_RESULT, raw.as_str()),
            };
            findings.add(
                reason,
                pointer,
                Some(upstream),
                format!(
                    "document recognition failed (recognitionResult N, recognitionErrorCode {})",
                    f.recognition_error_code.raw().unwrap_or("absent")
                ),
            );
        }
        Observed::Missing if settled => findings.add(
            ReasonCode::IncompleteResult,
            fld::RECOGNITION_RESULT,
            None,
            "recognitionResult is missing",
        ),
        Observed::Missing => {}
        other => findings.add(
            ReasonCode::UnrecognizedUpstreamValue,
            fld::RECOGNITION_RESULT,
            other.raw(),
            "recognitionResult is not Y or N",
        ),
    }

    if f.spoof_checks_dropped > 0 {
        findings.add(
            ReasonCode::UnrecognizedUpstreamValue,
            fld::SPOOF_RESULT,
            Some("{…}"),
            format!(
                "spoofResult has {} checks; the service reads at most {MAX_SPOOF_CHECKS}",
                f.spoof_checks.len() + f.spoof_checks_dropped
            ),
        );
    }
    if settled && f.spoof_result_present {
        for required in REQUIRED_SPOOF_CHECKS {
            if !f.spoof_checks.iter().any(|check| check.name == required) {
                findings.add(
                    ReasonCode::IncompleteResult,
                    &format!("{}/{required}", fld::SPOOF_RESULT),
                    None,
                    format!(
                        "spoofResult lacks {required}, a Required check: a missing check is not \
                         a passed one"
                    ),
                );
            }
        }
    }
    let mut spoof_checks = Vec::with_capacity(f.spoof_checks.len());
    for check in &f.spoof_checks {
        let pointer = format!(
            "{}/{}",
            fld::SPOOF_RESULT,
            escape_pointer_token(&check.name)
        );
        let known = SPOOF_CHECKS.iter().find(|(name, ..)| *name == check.name);
        match (check.value.as_str(), known) {
            // ZOLOZ documents every check it reports as Y or N: a check present as `null` did
            // not say it passed.
            (_, _) if check.value.is_missing() => findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                &pointer,
                Some("null"),
                format!("spoof check {:?} is null, not Y or N", check.name),
            ),
            (Some("Y"), _) => {}
            (Some("N"), Some((name, reason, message))) => findings.add(
                *reason,
                &pointer,
                check.value.raw(),
                format!("{message} ({name} N)"),
            ),
            (Some("N"), None) => findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                &pointer,
                check.value.raw(),
                format!(
                    "the document failed spoof check {:?}, which the service does not know",
                    check.name
                ),
            ),
            _ => findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                &pointer,
                check.value.raw(),
                format!("spoof check {:?} is not Y or N", check.name),
            ),
        }
        let value = match &check.value {
            Observed::Known { value, .. } => value.clone(),
            Observed::Missing => "null".to_string(),
            other => other.raw().unwrap_or_default().to_string(),
        };
        spoof_checks.push(SpoofCheck {
            passed: value == "Y",
            name: check.name.clone(),
            value,
        });
    }

    let deepfake = match &f.deeper_result {
        Observed::Missing => None,
        Observed::Known { value, raw } => {
            match value.as_str() {
                "Y" => {}
                "N" => findings.add(
                    ReasonCode::DeepfakeDetected,
                    fld::DEEPER_RESULT,
                    Some(raw),
                    "deeper detection reported an aigc attack risk (deeperResult N)",
                ),
                _ => findings.add(
                    ReasonCode::UnrecognizedUpstreamValue,
                    fld::DEEPER_RESULT,
                    Some(raw),
                    "deeperResult is not Y or N",
                ),
            }
            Some(DeepfakeSignal {
                result: value.clone(),
                passed: value == "Y",
                description: f
                    .deeper_description
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        }
        Observed::Unrecognized { raw } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                fld::DEEPER_RESULT,
                Some(raw),
                "deeperResult is not a string",
            );
            None
        }
    };

    let upload_mode = match f.upload_enabled.as_str() {
        Some("Y") => Some(true),
        Some("N") => Some(false),
        _ => {
            if !f.upload_enabled.is_missing() {
                findings.add(
                    ReasonCode::UnrecognizedUpstreamValue,
                    fld::UPLOAD_ENABLED,
                    f.upload_enabled.raw(),
                    "uploadEnabledResult is not Y or N",
                );
            }
            None
        }
    };

    let evidence = settled && f.recognition_result.is("Y");
    let text = |o: &Observed<String>| o.as_str().unwrap_or_default().to_string();
    let document = DocumentSignal {
        recognition_result: text(&f.recognition_result),
        recognition_error_code: text(&f.recognition_error_code),
        doc_category: text(&f.doc_category),
        cert_type: text(&f.cert_type),
        spoof_checks,
        upload_mode,
    };
    let signals = Signals {
        document: (document != DocumentSignal::default()).then_some(document),
        deepfake,
        ..Signals::default()
    };
    Reading {
        evidence,
        evidence_field: fld::RECOGNITION_RESULT,
        evidence_raw: f.recognition_result.raw().map(str::to_string),
        state: state_text(fld::RECOGNITION_RESULT, &f.recognition_result),
        signals,
    }
}

/// The product state for the upstream summary: the string, or the JSON text of another type.
fn state_text(
    pointer: &'static str,
    observed: &Observed<String>,
) -> Option<(&'static str, String)> {
    match observed {
        Observed::Missing => None,
        Observed::Known { value, .. } => Some((pointer, value.clone())),
        Observed::Unrecognized { raw } => Some((pointer, raw.clone())),
    }
}

/// Liveness's `faceAttack` (Face Capture, Connect): true is a presentation attack.
fn face_attack(
    findings: &mut Findings<'_>,
    pointer: &str,
    observed: &Observed<bool>,
) -> Option<bool> {
    let attack = flag(findings, pointer, "faceAttack", observed);
    if attack == Some(true) {
        findings.add(
            ReasonCode::LivenessAttack,
            pointer,
            observed.raw(),
            "liveness detection found a fake-face attack (faceAttack true)",
        );
    }
    attack
}

/// A boolean flag; another JSON type is unrecognized (never coerced: `"false"` is not false).
fn flag(
    findings: &mut Findings<'_>,
    pointer: &str,
    name: &str,
    observed: &Observed<bool>,
) -> Option<bool> {
    match observed {
        Observed::Known { value, .. } => Some(*value),
        Observed::Missing => None,
        Observed::Unrecognized { raw } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                pointer,
                Some(raw),
                format!("{name} is not a boolean"),
            );
            None
        }
    }
}

/// A 0 to 100 score; a non-number or a number outside the range is unrecognized.
fn score(
    findings: &mut Findings<'_>,
    pointer: &str,
    name: &str,
    observed: &Observed<f64>,
) -> Option<f64> {
    match observed {
        Observed::Known { value, .. } if value.is_finite() && (0.0..=100.0).contains(value) => {
            Some(*value)
        }
        Observed::Known { raw, .. } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                pointer,
                Some(raw),
                format!("{name} is outside 0 to 100"),
            );
            None
        }
        Observed::Missing => None,
        Observed::Unrecognized { raw } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                pointer,
                Some(raw),
                format!("{name} is not a number"),
            );
            None
        }
    }
}

/// A policy threshold on a score.
struct Threshold {
    code: ReasonCode,
    pointer: &'static str,
    what: &'static str,
    setting: &'static str,
    min: Option<f64>,
    settled: bool,
}

fn threshold(
    findings: &mut Findings<'_>,
    t: Threshold,
    observed: &Observed<f64>,
    score: Option<f64>,
) {
    let Some(min) = t.min else { return };
    match score {
        Some(s) if s < min => findings.add_scored(
            t.code,
            t.pointer,
            observed.raw(),
            format!("{} {s} is below the policy minimum {min}", t.what),
            Some(s),
            min,
        ),
        Some(_) => {}
        None if t.settled && observed.is_missing() => findings.add_scored(
            ReasonCode::IncompleteResult,
            t.pointer,
            None,
            format!(
                "{} is missing but the policy sets {} {min}",
                t.what, t.setting
            ),
            None,
            min,
        ),
        // Unrecognized: already recorded by `score`.
        None => {}
    }
}

fn device_risk(findings: &mut Findings<'_>, observed: &Observed<i64>) {
    use field::face_capture::RISK_LEVEL;
    let raw = observed.raw();
    match observed {
        Observed::Missing => {}
        Observed::Known { value, .. } => match value {
            -1 => findings.add(
                ReasonCode::DeviceRiskUnknown,
                RISK_LEVEL,
                raw,
                "face injection risk could not be assessed (riskLevel -1)",
            ),
            0 => {}
            1 => findings.add(
                ReasonCode::DeviceRiskLow,
                RISK_LEVEL,
                raw,
                "low device risk (riskLevel 1)",
            ),
            2 => findings.add(
                ReasonCode::DeviceRiskMedium,
                RISK_LEVEL,
                raw,
                "medium device risk (riskLevel 2)",
            ),
            3 => findings.add(
                ReasonCode::DeviceRiskHigh,
                RISK_LEVEL,
                raw,
                "high device risk: face injection suspected (riskLevel 3)",
            ),
            _ => findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                RISK_LEVEL,
                raw,
                "riskLevel is not one of -1, 0, 1, 2, 3",
            ),
        },
        Observed::Unrecognized { .. } => findings.add(
            ReasonCode::UnrecognizedUpstreamValue,
            RISK_LEVEL,
            raw,
            "riskLevel is not an integer",
        ),
    }
}
