//! The reason catalogue (docs/design.md): every [`ReasonCode`] with the products it applies
//! to, the upstream signal it stands for, its default [`Effect`] and whether a new attempt may
//! clear it. The decision table of docs/decision-table.md is generated from [`CATALOGUE`] (and a test checks that
//! they agree).

use std::fmt;
use std::str::FromStr;

/// The one answer for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Positive evidence from ZOLOZ and no reason to review or reject.
    Approved,
    /// Someone (or something) should look at the transaction before it is accepted.
    ReviewRequired,
    /// The transaction failed.
    Rejected,
    /// The user has not finished yet.
    Pending,
    /// The transaction timed out without a result.
    Expired,
}

impl Decision {
    /// The upper-case name (`APPROVED`, `REVIEW_REQUIRED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "APPROVED",
            Decision::ReviewRequired => "REVIEW_REQUIRED",
            Decision::Rejected => "REJECTED",
            Decision::Pending => "PENDING",
            Decision::Expired => "EXPIRED",
        }
    }

    /// Whether the decision is final (everything but PENDING): terminal verdicts may be cached.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Decision::Pending)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one reason does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Informational: does not stand in the way of approval.
    Info,
    /// The decision is at least REVIEW_REQUIRED.
    Review,
    /// The decision is REJECTED.
    Reject,
    /// The transaction is still in progress: the decision is PENDING.
    Pending,
    /// The transaction timed out: the decision is EXPIRED.
    Expired,
}

impl Effect {
    /// The three effects a policy may give a reason, weakest first.
    pub const CONFIGURABLE: [Effect; 3] = [Effect::Info, Effect::Review, Effect::Reject];

    /// The upper-case name used in documentation (`INFO`, `REVIEW`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Info => "INFO",
            Effect::Review => "REVIEW",
            Effect::Reject => "REJECT",
            Effect::Pending => "PENDING",
            Effect::Expired => "EXPIRED",
        }
    }

    /// The lower-case name used in policy files (`info`, `review`, `reject`).
    pub fn config_name(self) -> &'static str {
        match self {
            Effect::Info => "info",
            Effect::Review => "review",
            Effect::Reject => "reject",
            Effect::Pending => "pending",
            Effect::Expired => "expired",
        }
    }

    /// Parses a policy-file effect name; only `info`, `review` and `reject` are accepted.
    pub fn from_config_name(name: &str) -> Option<Effect> {
        Effect::CONFIGURABLE
            .into_iter()
            .find(|e| e.config_name() == name)
    }

    /// How strongly the effect weighs: PENDING, then EXPIRED, then REJECT > REVIEW > INFO. The
    /// decision itself puts a non-retryable REJECT reason before EXPIRED (see
    /// [`crate::domain::evaluate`]); reasons are listed with the deciding effect's first.
    pub fn strength(self) -> u8 {
        match self {
            Effect::Info => 0,
            Effect::Review => 1,
            Effect::Reject => 2,
            Effect::Expired => 3,
            Effect::Pending => 4,
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The machine-readable reason catalogue (the proto's `ReasonCode` without its prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    /// ZOLOZ answered PROCESSING or the product state is InProcess.
    InProgress,
    /// The product state is VoidTimeout: the session ended without a result.
    SessionExpired,
    /// The product state is Failure.
    CaptureFailed,
    /// Liveness detection found a fake-face attack (`faceAttack: true`).
    LivenessAttack,
    /// Face image quality check failed (`qualityPassed: false`, or an image quality result FAIL).
    FaceQualityFailed,
    /// Face quality score below the policy minimum.
    FaceQualityBelowThreshold,
    /// Device risk level -1: injection risk could not be assessed.
    DeviceRiskUnknown,
    /// Device risk level 1.
    DeviceRiskLow,
    /// Device risk level 2.
    DeviceRiskMedium,
    /// Device risk level 3.
    DeviceRiskHigh,
    /// Face Capture resultCode UNUSABLE: the device failed the usability check.
    DeviceUnusable,
    /// resultCode LIMIT_EXCEEDED: too many attempts within the transaction.
    AttemptsExceeded,
    /// The faces do not belong to the same person.
    FaceMismatch,
    /// Face match score below the policy minimum.
    FaceScoreBelowThreshold,
    /// Face Compare resultCode UNABLE_GET_IMAGE: an input image is unusable.
    ImageUnusable,
    /// Deeper (deepfake / AIGC) detection found a risk.
    DeepfakeDetected,
    /// Connect resultCode UNABLE_GET_IMAGE: the enrolled image is unusable.
    ReferenceImageUnavailable,
    /// recognitionErrorCode NO_REQUIRED_ID: not the document type asked for.
    DocTypeMismatch,
    /// recognitionErrorCode BLUR.
    DocBlurred,
    /// recognitionErrorCode NO_FACE_DETECTED.
    DocFaceNotDetected,
    /// recognitionErrorCode NOT_REAL_DOC.
    DocNotGenuine,
    /// recognitionErrorCode EXPOSURE.
    DocOverexposed,
    /// recognitionResult N with another or no recognitionErrorCode.
    DocRecognitionFailed,
    /// spoofResult TAMPER_CHECK N.
    DocTampered,
    /// spoofResult MATERIAL_CHECK N.
    DocMaterialCheckFailed,
    /// spoofResult SCREEN_RECAPTURE_CHECK N.
    DocScreenRecapture,
    /// spoofResult INFORMATION_CHECK N.
    DocInformationInvalid,
    /// spoofResult SECURITY_FEATURE_CHECK N.
    DocSecurityFeatureFailed,
    /// ID Recognition resultCode UNUSABLE: the user is in a cool-down period.
    UserCooldown,
    /// A field the decision needs is missing.
    IncompleteResult,
    /// A value the service does not know (result code, state, enum value, wrong type, unparseable number).
    UnrecognizedUpstreamValue,
    /// ZOLOZ answered different terminal facts for a transaction it had already answered.
    UpstreamInconsistent,
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// The reason.
    pub code: ReasonCode,
    /// Its stable name, as in the decision table, the proto (after `REASON_CODE_`) and policy files.
    pub name: &'static str,
    /// The products that report it (`all` or a list).
    pub products: &'static str,
    /// The upstream signal it stands for (Markdown).
    pub upstream: &'static str,
    /// Its effect in the default policy.
    pub effect: Effect,
    /// Whether a new attempt by the same user may clear it; `None` where the question does not
    /// apply (the reason neither rejects nor expires by default), which counts as `false`.
    pub retryable: Option<bool>,
}

macro_rules! entry {
    ($code:ident, $name:literal, $products:literal, $upstream:literal, $effect:ident, $retry:expr) => {
        CatalogueEntry {
            code: ReasonCode::$code,
            name: $name,
            products: $products,
            upstream: $upstream,
            effect: Effect::$effect,
            retryable: $retry,
        }
    };
}

const YES: Option<bool> = Some(true);
const NO: Option<bool> = Some(false);
const NA: Option<bool> = None;

/// The decision table (docs/design.md), one row per reason code, in proto order.
pub const CATALOGUE: [CatalogueEntry; 32] = [
    entry!(
        InProgress,
        "IN_PROGRESS",
        "all",
        "resultCode `PROCESSING` (any status); state `InProcess`",
        Pending,
        NA
    ),
    entry!(
        SessionExpired,
        "SESSION_EXPIRED",
        "Face Capture, Connect",
        "state `VoidTimeout` (a non-retryable REJECT reason beside it decides REJECTED)",
        Expired,
        YES
    ),
    entry!(
        CaptureFailed,
        "CAPTURE_FAILED",
        "Face Capture, Connect",
        "state `Failure` (unless the resultCode already says why)",
        Reject,
        YES
    ),
    entry!(
        LivenessAttack,
        "LIVENESS_ATTACK",
        "Face Capture, Connect",
        "`faceAttack: true`",
        Reject,
        NO
    ),
    entry!(
        FaceQualityFailed,
        "FACE_QUALITY_FAILED",
        "Face Capture, Face Compare",
        "`qualityPassed: false`; `face1ImageQualityResult` / `face2ImageQualityResult` `FAIL`",
        Reject,
        YES
    ),
    entry!(
        FaceQualityBelowThreshold,
        "FACE_QUALITY_BELOW_THRESHOLD",
        "Face Capture",
        "`quality` below the policy's `face_quality_min_score` (off by default)",
        Review,
        YES
    ),
    entry!(
        DeviceRiskUnknown,
        "DEVICE_RISK_UNKNOWN",
        "Face Capture",
        "`deviceRisk.riskLevel: -1`",
        Info,
        NA
    ),
    entry!(
        DeviceRiskLow,
        "DEVICE_RISK_LOW",
        "Face Capture",
        "`deviceRisk.riskLevel: 1` (level 0 gives no reason)",
        Info,
        NA
    ),
    entry!(
        DeviceRiskMedium,
        "DEVICE_RISK_MEDIUM",
        "Face Capture",
        "`deviceRisk.riskLevel: 2`",
        Review,
        NA
    ),
    entry!(
        DeviceRiskHigh,
        "DEVICE_RISK_HIGH",
        "Face Capture",
        "`deviceRisk.riskLevel: 3`",
        Reject,
        NO
    ),
    entry!(
        DeviceUnusable,
        "DEVICE_UNUSABLE",
        "Face Capture",
        "resultCode `UNUSABLE`",
        Reject,
        YES
    ),
    entry!(
        AttemptsExceeded,
        "ATTEMPTS_EXCEEDED",
        "Face Capture, ID Recognition",
        "resultCode `LIMIT_EXCEEDED`",
        Reject,
        NO
    ),
    entry!(
        FaceMismatch,
        "FACE_MISMATCH",
        "Face Compare, Connect",
        "`samePerson: false` (both image qualities `PASS`); resultCode `NOT_SAME_PERSON` (status F, still a result)",
        Reject,
        NO
    ),
    entry!(
        FaceScoreBelowThreshold,
        "FACE_SCORE_BELOW_THRESHOLD",
        "Face Compare, Connect",
        "`score` / `faceScore` below the policy's `face_match_min_score` (off by default)",
        Reject,
        NO
    ),
    entry!(
        ImageUnusable,
        "IMAGE_UNUSABLE",
        "Face Compare",
        "resultCode `UNABLE_GET_IMAGE`",
        Reject,
        YES
    ),
    entry!(
        DeepfakeDetected,
        "DEEPFAKE_DETECTED",
        "Connect, ID Recognition",
        "`deeperResult` other than `Success` / `Y` (Connect), `deeperResult: N` (ID Recognition)",
        Reject,
        NO
    ),
    entry!(
        ReferenceImageUnavailable,
        "REFERENCE_IMAGE_UNAVAILABLE",
        "Connect",
        "resultCode `UNABLE_GET_IMAGE` (enrolled image unusable)",
        Review,
        NA
    ),
    entry!(
        DocTypeMismatch,
        "DOC_TYPE_MISMATCH",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode: NO_REQUIRED_ID`",
        Reject,
        YES
    ),
    entry!(
        DocBlurred,
        "DOC_BLURRED",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode: BLUR`",
        Reject,
        YES
    ),
    entry!(
        DocFaceNotDetected,
        "DOC_FACE_NOT_DETECTED",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode: NO_FACE_DETECTED`",
        Reject,
        YES
    ),
    entry!(
        DocNotGenuine,
        "DOC_NOT_GENUINE",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode: NOT_REAL_DOC`",
        Reject,
        NO
    ),
    entry!(
        DocOverexposed,
        "DOC_OVEREXPOSED",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode: EXPOSURE`",
        Reject,
        YES
    ),
    entry!(
        DocRecognitionFailed,
        "DOC_RECOGNITION_FAILED",
        "ID Recognition",
        "`recognitionResult: N`, `recognitionErrorCode` `UNKNOWN`, another value, empty or absent",
        Reject,
        YES
    ),
    entry!(
        DocTampered,
        "DOC_TAMPERED",
        "ID Recognition",
        "`spoofResult.TAMPER_CHECK: N`",
        Reject,
        NO
    ),
    entry!(
        DocMaterialCheckFailed,
        "DOC_MATERIAL_CHECK_FAILED",
        "ID Recognition",
        "`spoofResult.MATERIAL_CHECK: N`",
        Reject,
        YES
    ),
    entry!(
        DocScreenRecapture,
        "DOC_SCREEN_RECAPTURE",
        "ID Recognition",
        "`spoofResult.SCREEN_RECAPTURE_CHECK: N`",
        Reject,
        NO
    ),
    entry!(
        DocInformationInvalid,
        "DOC_INFORMATION_INVALID",
        "ID Recognition",
        "`spoofResult.INFORMATION_CHECK: N`",
        Reject,
        NO
    ),
    entry!(
        DocSecurityFeatureFailed,
        "DOC_SECURITY_FEATURE_FAILED",
        "ID Recognition",
        "`spoofResult.SECURITY_FEATURE_CHECK: N`",
        Reject,
        NO
    ),
    entry!(
        UserCooldown,
        "USER_COOLDOWN",
        "ID Recognition",
        "resultCode `UNUSABLE` (cool-down)",
        Reject,
        YES
    ),
    entry!(
        IncompleteResult,
        "INCOMPLETE_RESULT",
        "all",
        "a field the decision needs is missing on `SUCCESS` (a `resultCode`; with `spoofResult` present, one of `TAMPER_CHECK`, `MATERIAL_CHECK`, `SCREEN_RECAPTURE_CHECK`), or no positive evidence",
        Review,
        NA
    ),
    entry!(
        UnrecognizedUpstreamValue,
        "UNRECOGNIZED_UPSTREAM_VALUE",
        "all",
        "unknown resultCode, state or enum value; wrong JSON type; unparseable or out-of-range number",
        Review,
        NA
    ),
    entry!(
        UpstreamInconsistent,
        "UPSTREAM_INCONSISTENT",
        "all",
        "a terminal answer whose facts differ from the terminal answer already held for the transaction",
        Review,
        NA
    ),
];

impl ReasonCode {
    /// Every reason code, in proto order.
    pub const ALL: [ReasonCode; 32] = {
        let mut all = [ReasonCode::InProgress; 32];
        let mut i = 0;
        while i < CATALOGUE.len() {
            all[i] = CATALOGUE[i].code;
            i += 1;
        }
        all
    };

    /// The catalogue row of this code.
    pub fn entry(self) -> &'static CatalogueEntry {
        // CATALOGUE lists the variants in declaration order (checked by a unit test).
        &CATALOGUE[self as usize]
    }

    /// The stable upper-case name (`LIVENESS_ATTACK`, …).
    pub fn as_str(self) -> &'static str {
        self.entry().name
    }

    /// The effect in the default policy.
    pub fn default_effect(self) -> Effect {
        self.entry().effect
    }

    /// Whether a new attempt by the same user may clear the reason.
    pub fn retryable(self) -> bool {
        self.entry().retryable.unwrap_or(false)
    }

    /// Whether a policy may change the effect: the lifecycle reasons (`IN_PROGRESS`,
    /// `SESSION_EXPIRED`) decide PENDING and EXPIRED and are fixed.
    pub fn effect_is_configurable(self) -> bool {
        !matches!(self, ReasonCode::InProgress | ReasonCode::SessionExpired)
    }

    /// The weakest effect a policy may give the reason: the fail-safe floor keeps
    /// `INCOMPLETE_RESULT` and `UNRECOGNIZED_UPSTREAM_VALUE` at REVIEW or above.
    pub fn effect_floor(self) -> Effect {
        match self {
            ReasonCode::IncompleteResult
            | ReasonCode::UnrecognizedUpstreamValue
            | ReasonCode::UpstreamInconsistent => Effect::Review,
            _ => Effect::Info,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a reason code name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason code {0:?}")]
pub struct UnknownReasonCode(pub String);

impl FromStr for ReasonCode {
    type Err = UnknownReasonCode;

    /// Accepts the exact catalogue name (`DEVICE_RISK_MEDIUM`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CATALOGUE
            .iter()
            .find(|e| e.name == s)
            .map(|e| e.code)
            .ok_or_else(|| UnknownReasonCode(s.to_string()))
    }
}

/// One signal's contribution to a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// What the reason is.
    pub code: ReasonCode,
    /// What it does to the decision under the policy that decided.
    pub effect: Effect,
    /// Whether a new attempt by the same user may clear it.
    pub retryable: bool,
    /// JSON pointer (RFC 6901) into the ZOLOZ response.
    pub field: String,
    /// The raw upstream value as JSON text (a string keeps its quotes); `None` when the field is
    /// missing. Long strings are cut and arrays and objects summarized, so that images and OCR
    /// values never reach a verdict.
    pub upstream_value: Option<String>,
    /// A human-readable explanation, in English.
    pub message: String,
    /// The number that decided, for threshold reasons.
    pub score: Option<f64>,
    /// The policy threshold the score was compared with.
    pub threshold: Option<f64>,
}

/// The decision table of docs/decision-table.md, generated from [`CATALOGUE`].
pub fn decision_table_markdown() -> String {
    let mut out = String::from(
        "| reason code | products | upstream | default effect | retryable |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for e in &CATALOGUE {
        let retryable = match e.retryable {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            e.name,
            e.products,
            e.upstream,
            e.effect.as_str(),
            retryable
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_in_declaration_order() {
        for (i, e) in CATALOGUE.iter().enumerate() {
            assert_eq!(e.code as usize, i, "{}", e.name);
            assert_eq!(ReasonCode::ALL[i], e.code);
            assert_eq!(e.name.parse::<ReasonCode>(), Ok(e.code));
        }
    }

    #[test]
    fn floors_and_lifecycle() {
        assert_eq!(ReasonCode::IncompleteResult.effect_floor(), Effect::Review);
        assert_eq!(
            ReasonCode::UnrecognizedUpstreamValue.effect_floor(),
            Effect::Review
        );
        assert_eq!(ReasonCode::DeviceRiskHigh.effect_floor(), Effect::Info);
        assert!(!ReasonCode::InProgress.effect_is_configurable());
        assert!(!ReasonCode::SessionExpired.effect_is_configurable());
        assert!(ReasonCode::SessionExpired.retryable());
        assert!(!ReasonCode::DeviceRiskMedium.retryable());
    }

    #[test]
    fn effect_names() {
        assert_eq!(Effect::from_config_name("reject"), Some(Effect::Reject));
        assert_eq!(Effect::from_config_name("REJECT"), None);
        assert_eq!(Effect::from_config_name("pending"), None);
        assert!(Effect::Pending.strength() > Effect::Reject.strength());
    }
}
