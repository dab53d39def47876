//! The typed risk signals a verdict reports, mirroring the proto's `Signals`. A signal is absent
//! when the product does not report it or the response did not carry an understood value (the
//! reasons say which values were not understood). No OCR value appears here.

/// Every signal of one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Liveness (presentation attack) detection.
    pub liveness: Option<LivenessSignal>,
    /// Deeper deepfake / AIGC detection; absent when it did not run.
    pub deepfake: Option<DeepfakeSignal>,
    /// Face match (Face Compare, Connect).
    pub face_match: Option<FaceMatchSignal>,
    /// Face image quality.
    pub quality: Option<QualitySignal>,
    /// Identity document checks.
    pub document: Option<DocumentSignal>,
    /// Device (face injection) risk.
    pub device_risk: Option<DeviceRiskSignal>,
}

/// The liveness check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LivenessSignal {
    /// True when ZOLOZ detected a fake-face attack (`faceAttack`).
    pub attack_detected: Option<bool>,
}

/// The Deeper check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeepfakeSignal {
    /// The raw `deeperResult` value (`Success`, `Y`, `N`, …).
    pub result: String,
    /// True when the result means no deepfake risk.
    pub passed: bool,
    /// `deeperResultDescription`, when ZOLOZ sent one.
    pub description: String,
}

/// A face comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceMatchSignal {
    /// The comparison score, 0 to 100.
    pub score: Option<f64>,
    /// Face Compare's `samePerson`.
    pub same_person: Option<bool>,
}

/// Face image quality.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualitySignal {
    /// The quality score, 0 to 100 (Face Capture `quality`).
    pub score: Option<f64>,
    /// The overall quality result (Face Capture `qualityPassed`).
    pub passed: Option<bool>,
    /// Face Compare `face1ImageQualityResult`.
    pub face1_result: String,
    /// Face Compare `face2ImageQualityResult`.
    pub face2_result: String,
}

/// The ID Recognition checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentSignal {
    /// `recognitionResult` (`Y` or `N`).
    pub recognition_result: String,
    /// `recognitionErrorCode`, when present.
    pub recognition_error_code: String,
    /// `docCategory`, e.g. `PASSPORT`.
    pub doc_category: String,
    /// `certType`, e.g. `00600000001`.
    pub cert_type: String,
    /// The spoof checks, in response order.
    pub spoof_checks: Vec<SpoofCheck>,
    /// `uploadEnabledResult`: true when the user chose upload mode.
    pub upload_mode: Option<bool>,
}

/// One entry of `spoofResult`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpoofCheck {
    /// The check name, e.g. `TAMPER_CHECK`.
    pub name: String,
    /// The raw value (`Y` or `N`; the JSON text for a non-string).
    pub value: String,
    /// True when the value is `Y`.
    pub passed: bool,
}

/// Device risk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceRiskSignal {
    /// `riskLevel`: -1 unknown, 0 none, 1 low, 2 medium, 3 high.
    pub risk_level: i32,
}
