//! Domain values to API types (`crate::pb`): the verdict as a `VerificationResult`, images as
//! `Image`. Enum conversions are exhaustive matches, so a new domain variant without an API
//! value does not compile.

use std::time::SystemTime;

use crate::domain::signals::{
    DeepfakeSignal, DeviceRiskSignal, DocumentSignal, FaceMatchSignal, LivenessSignal,
    QualitySignal, SpoofCheck,
};
use crate::domain::{
    Decision, Effect, ExtractedImage, ImageKind, Product, Reason, ReasonCode, Signals, Verdict,
};
use crate::pb;

/// The API result for a verdict. Reasons are listed strongest effect first (stable).
pub fn verification_result(
    verdict: &Verdict,
    product: Product,
    transaction_id: &str,
    tenant: &str,
    evaluate_time: SystemTime,
    from_cache: bool,
    images: Vec<pb::Image>,
) -> pb::VerificationResult {
    let mut reasons: Vec<&Reason> = verdict.reasons.iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.effect.strength()));
    pb::VerificationResult {
        product: product_to_pb(product) as i32,
        transaction_id: transaction_id.to_string(),
        decision: decision_to_pb(verdict.decision) as i32,
        retryable: verdict.retryable,
        reasons: reasons.into_iter().map(reason_to_pb).collect(),
        signals: Some(signals_to_pb(&verdict.signals)),
        upstream: Some(pb::UpstreamResult {
            result_code: verdict.upstream.result_code.clone(),
            result_status: verdict.upstream.result_status.clone(),
            result_message: verdict.upstream.result_message.clone(),
            product_state: verdict.upstream.product_state.clone(),
            product_state_field: verdict.upstream.product_state_field.clone(),
        }),
        policy: Some(pb::PolicyRef {
            name: verdict.policy.name.clone(),
            version: verdict.policy.version.clone(),
        }),
        evaluate_time: Some(prost_types::Timestamp::from(evaluate_time)),
        from_cache,
        images,
        tenant: tenant.to_string(),
    }
}

/// An extracted image as an API image (the bytes are shared, not copied).
pub fn image_to_pb(image: &ExtractedImage) -> pb::Image {
    pb::Image {
        kind: image_kind_to_pb(image.kind) as i32,
        name: image.name.clone(),
        content: image.content.clone(),
    }
}

/// A reason as an API reason.
pub fn reason_to_pb(reason: &Reason) -> pb::Reason {
    pb::Reason {
        code: reason_code_to_pb(reason.code) as i32,
        effect: effect_to_pb(reason.effect) as i32,
        retryable: reason.retryable,
        field: reason.field.clone(),
        upstream_value: reason.upstream_value.clone().unwrap_or_default(),
        message: reason.message.clone(),
        score: reason.score,
        threshold: reason.threshold,
    }
}

/// The signals as API signals.
pub fn signals_to_pb(signals: &Signals) -> pb::Signals {
    pb::Signals {
        liveness: signals
            .liveness
            .as_ref()
            .map(|LivenessSignal { attack_detected }| pb::LivenessSignal {
                attack_detected: *attack_detected,
            }),
        deepfake: signals.deepfake.as_ref().map(
            |DeepfakeSignal {
                 result,
                 passed,
                 description,
             }| pb::DeepfakeSignal {
                result: result.clone(),
                passed: *passed,
                description: description.clone(),
            },
        ),
        face_match: signals
            .face_match
            .as_ref()
            .map(
                |FaceMatchSignal { score, same_person }| pb::FaceMatchSignal {
                    score: *score,
                    same_person: *same_person,
                },
            ),
        quality: signals.quality.as_ref().map(
            |QualitySignal {
                 score,
                 passed,
                 face1_result,
                 face2_result,
             }| pb::QualitySignal {
                score: *score,
                passed: *passed,
                face1_result: face1_result.clone(),
                face2_result: face2_result.clone(),
            },
        ),
        document: signals
            .document
            .as_ref()
            .map(|d: &DocumentSignal| pb::DocumentSignal {
                recognition_result: d.recognition_result.clone(),
                recognition_error_code: d.recognition_error_code.clone(),
                doc_category: d.doc_category.clone(),
                cert_type: d.cert_type.clone(),
                spoof_checks: d
                    .spoof_checks
                    .iter()
                    .map(
                        |SpoofCheck {
                             name,
                             value,
                             passed,
                         }| pb::SpoofCheck {
                            name: name.clone(),
                            value: value.clone(),
                            passed: *passed,
                        },
                    )
                    .collect(),
                upload_mode: d.upload_mode,
            }),
        device_risk: signals
            .device_risk
            .as_ref()
            .map(|DeviceRiskSignal { risk_level }| pb::DeviceRiskSignal {
                risk_level: *risk_level,
            }),
    }
}

/// A product as the API enum.
pub fn product_to_pb(product: Product) -> pb::Product {
    match product {
        Product::FaceCapture => pb::Product::FaceCapture,
        Product::FaceCompare => pb::Product::FaceCompare,
        Product::Connect => pb::Product::Connect,
        Product::IdRecognition => pb::Product::IdRecognition,
    }
}

/// The API product enum as a product; `None` for `PRODUCT_UNSPECIFIED`.
pub fn product_from_pb(product: pb::Product) -> Option<Product> {
    match product {
        pb::Product::Unspecified => None,
        pb::Product::FaceCapture => Some(Product::FaceCapture),
        pb::Product::FaceCompare => Some(Product::FaceCompare),
        pb::Product::Connect => Some(Product::Connect),
        pb::Product::IdRecognition => Some(Product::IdRecognition),
    }
}

/// A decision as the API enum.
pub fn decision_to_pb(decision: Decision) -> pb::Decision {
    match decision {
        Decision::Approved => pb::Decision::Approved,
        Decision::ReviewRequired => pb::Decision::ReviewRequired,
        Decision::Rejected => pb::Decision::Rejected,
        Decision::Pending => pb::Decision::Pending,
        Decision::Expired => pb::Decision::Expired,
    }
}

/// An effect as the API enum.
pub fn effect_to_pb(effect: Effect) -> pb::Effect {
    match effect {
        Effect::Info => pb::Effect::Info,
        Effect::Review => pb::Effect::Review,
        Effect::Reject => pb::Effect::Reject,
        Effect::Pending => pb::Effect::Pending,
        Effect::Expired => pb::Effect::Expired,
    }
}

/// An image kind as the API enum.
pub fn image_kind_to_pb(kind: ImageKind) -> pb::ImageKind {
    match kind {
        ImageKind::Face => pb::ImageKind::Face,
        ImageKind::ReferenceFace => pb::ImageKind::ReferenceFace,
        ImageKind::Document => pb::ImageKind::Document,
        ImageKind::Extra => pb::ImageKind::Extra,
    }
}

/// A reason code as the API enum.
pub fn reason_code_to_pb(code: ReasonCode) -> pb::ReasonCode {
    use ReasonCode::*;
    match code {
        InProgress => pb::ReasonCode::InProgress,
        SessionExpired => pb::ReasonCode::SessionExpired,
        CaptureFailed => pb::ReasonCode::CaptureFailed,
        LivenessAttack => pb::ReasonCode::LivenessAttack,
        FaceQualityFailed => pb::ReasonCode::FaceQualityFailed,
        FaceQualityBelowThreshold => pb::ReasonCode::FaceQualityBelowThreshold,
        DeviceRiskUnknown => pb::ReasonCode::DeviceRiskUnknown,
        DeviceRiskLow => pb::ReasonCode::DeviceRiskLow,
        DeviceRiskMedium => pb::ReasonCode::DeviceRiskMedium,
        DeviceRiskHigh => pb::ReasonCode::DeviceRiskHigh,
        DeviceUnusable => pb::ReasonCode::DeviceUnusable,
        AttemptsExceeded => pb::ReasonCode::AttemptsExceeded,
        FaceMismatch => pb::ReasonCode::FaceMismatch,
        FaceScoreBelowThreshold => pb::ReasonCode::FaceScoreBelowThreshold,
        ImageUnusable => pb::ReasonCode::ImageUnusable,
        DeepfakeDetected => pb::ReasonCode::DeepfakeDetected,
        ReferenceImageUnavailable => pb::ReasonCode::ReferenceImageUnavailable,
        DocTypeMismatch => pb::ReasonCode::DocTypeMismatch,
        DocBlurred => pb::ReasonCode::DocBlurred,
        DocFaceNotDetected => pb::ReasonCode::DocFaceNotDetected,
        DocNotGenuine => pb::ReasonCode::DocNotGenuine,
        DocOverexposed => pb::ReasonCode::DocOverexposed,
        DocRecognitionFailed => pb::ReasonCode::DocRecognitionFailed,
        DocTampered => pb::ReasonCode::DocTampered,
        DocMaterialCheckFailed => pb::ReasonCode::DocMaterialCheckFailed,
        DocScreenRecapture => pb::ReasonCode::DocScreenRecapture,
        DocInformationInvalid => pb::ReasonCode::DocInformationInvalid,
        DocSecurityFeatureFailed => pb::ReasonCode::DocSecurityFeatureFailed,
        UserCooldown => pb::ReasonCode::UserCooldown,
        IncompleteResult => pb::ReasonCode::IncompleteResult,
        UnrecognizedUpstreamValue => pb::ReasonCode::UnrecognizedUpstreamValue,
        UpstreamInconsistent => pb::ReasonCode::UpstreamInconsistent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PolicyRef, UpstreamSummary};

    #[test]
    fn reason_code_names_match_the_proto() {
        for code in ReasonCode::ALL {
            assert_eq!(
                reason_code_to_pb(code).as_str_name(),
                format!("REASON_CODE_{}", code.as_str())
            );
        }
        // Every proto value but UNSPECIFIED has a domain code.
        let proto_values = (1..100)
            .filter(|v| pb::ReasonCode::try_from(*v).is_ok())
            .count();
        assert_eq!(proto_values, ReasonCode::ALL.len());
    }

    #[test]
    fn enum_names_match_the_proto() {
        for decision in [
            Decision::Approved,
            Decision::ReviewRequired,
            Decision::Rejected,
            Decision::Pending,
            Decision::Expired,
        ] {
            assert_eq!(
                decision_to_pb(decision).as_str_name(),
                format!("DECISION_{}", decision.as_str())
            );
        }
        for effect in Effect::CONFIGURABLE
            .into_iter()
            .chain([Effect::Pending, Effect::Expired])
        {
            assert_eq!(
                effect_to_pb(effect).as_str_name(),
                format!("EFFECT_{}", effect.as_str())
            );
        }
        for product in Product::ALL {
            assert_eq!(product_from_pb(product_to_pb(product)), Some(product));
        }
        assert_eq!(product_from_pb(pb::Product::Unspecified), None);
    }

    #[test]
    fn reasons_strongest_first_and_stable() {
        let reason = |code: ReasonCode, effect| Reason {
            code,
            effect,
            retryable: false,
            field: String::new(),
            upstream_value: None,
            message: String::new(),
            score: None,
            threshold: None,
        };
        let verdict = Verdict {
            decision: Decision::Rejected,
            retryable: false,
            reasons: vec![
                reason(ReasonCode::DeviceRiskLow, Effect::Info),
                reason(ReasonCode::DocTampered, Effect::Reject),
                reason(ReasonCode::DeviceRiskMedium, Effect::Review),
                reason(ReasonCode::DeepfakeDetected, Effect::Reject),
            ],
            signals: Signals::default(),
            upstream: UpstreamSummary::default(),
            policy: PolicyRef {
                name: "default".into(),
                version: "sha256:0".into(),
            },
        };
        let result = verification_result(
            &verdict,
            Product::IdRecognition,
            "T",
            "",
            SystemTime::UNIX_EPOCH,
            false,
            vec![],
        );
        let codes: Vec<_> = result.reasons.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                pb::ReasonCode::DocTampered,
                pb::ReasonCode::DeepfakeDetected,
                pb::ReasonCode::DeviceRiskMedium,
                pb::ReasonCode::DeviceRiskLow
            ]
        );
        assert_eq!(result.decision(), pb::Decision::Rejected);
    }

    #[test]
    fn images_share_their_bytes() {
        let image = ExtractedImage {
            kind: ImageKind::Document,
            name: "0".into(),
            content: bytes::Bytes::from(vec![1, 2, 3]),
        };
        let pb_image = image_to_pb(&image);
        assert_eq!(pb_image.kind(), pb::ImageKind::Document);
        assert_eq!(pb_image.content.as_ptr(), image.content.as_ptr());
    }
}
