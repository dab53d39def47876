//! The facts one product's checkresult response carries, as the engine needs them: each field
//! the decision reads is [`Observed`] (missing, understood, or present but not understood) with
//! its raw JSON text kept for the reasons. Facts hold no image and no OCR value: they are what
//! the cache stores, and a policy change applies to them at the next read.
//!
//! The JSON pointers of the fields (module [`field`]) are shared by the reader in
//! `zoloz::products` and by the engine's reasons, so that the two cannot disagree.

use std::fmt;

use crate::domain::Product;

/// A field as read from the response.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed<T> {
    /// The field is absent or JSON `null`.
    Missing,
    /// The field holds a value of the expected JSON type.
    Known {
        /// The value.
        value: T,
        /// The raw JSON text (see [`crate::domain::Reason::upstream_value`]).
        raw: String,
    },
    /// The field is present with a JSON type (or a number) the service does not understand.
    Unrecognized {
        /// The raw JSON text.
        raw: String,
    },
}

impl<T> Observed<T> {
    /// A value with its raw text.
    pub fn known(value: T, raw: impl Into<String>) -> Self {
        Observed::Known {
            value,
            raw: raw.into(),
        }
    }

    /// The value, when understood.
    pub fn value(&self) -> Option<&T> {
        match self {
            Observed::Known { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The raw JSON text, when present.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Observed::Missing => None,
            Observed::Known { raw, .. } | Observed::Unrecognized { raw } => Some(raw),
        }
    }

    /// Whether the field is absent (or `null`).
    pub fn is_missing(&self) -> bool {
        matches!(self, Observed::Missing)
    }
}

impl Observed<String> {
    /// The string value, when the field is a string.
    pub fn as_str(&self) -> Option<&str> {
        self.value().map(String::as_str)
    }

    /// Whether the field is exactly this string.
    pub fn is(&self, expected: &str) -> bool {
        self.as_str() == Some(expected)
    }
}

/// The ZOLOZ `result` envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `result.resultCode`.
    pub result_code: Observed<String>,
    /// `result.resultStatus` (`S`, `F` or `U`).
    pub result_status: Observed<String>,
    /// `result.resultMessage`.
    pub result_message: Observed<String>,
}

/// A field whose JSON type the reader cannot use, which is an unrecognized value: a container
/// (an object the reader descends into, whose fields then cannot be read) of another type, or a
/// `transactionId` that is not a usable string.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeMismatch {
    /// JSON pointer of the field, e.g. `/extInfo`.
    pub field: String,
    /// Its raw JSON text (summarized).
    pub raw: String,
    /// What the field should have been, e.g. `a json object`.
    pub expected: &'static str,
}

/// Which Face Capture checkresult API answered, when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FaceCaptureApiVersion {
    /// Not known (a body evaluated offline): either rule of positive evidence applies.
    #[default]
    Unknown,
    /// `/api/v1/`: no `faceCaptureResult`; approval needs `faceAttack: false` with a quality.
    V1,
    /// `/api/v1a/`: approval needs `faceCaptureResult: Success`.
    V1a,
}

impl FaceCaptureApiVersion {
    /// `v1` or `v1a`, as configuration files and `explain --face-capture-api` spell it; `None`
    /// when not known.
    pub fn name(self) -> Option<&'static str> {
        match self {
            FaceCaptureApiVersion::Unknown => None,
            FaceCaptureApiVersion::V1 => Some("v1"),
            FaceCaptureApiVersion::V1a => Some("v1a"),
        }
    }
}

/// Face Capture checkresult facts (`/api/v1/` and `/api/v1a/`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceCaptureFacts {
    /// The API that answered (set by the caller that knows it; the reader cannot tell).
    pub api: FaceCaptureApiVersion,
    /// `faceCaptureResult` (v1a only): `Success`, `Failure`, `VoidTimeout`, `InProcess`.
    pub state: Observed<String>,
    /// `extInfo.faceAttack`.
    pub face_attack: Observed<bool>,
    /// `extInfo.quality` (a number in v1, a numeric string in v1a).
    pub quality: Observed<f64>,
    /// `extInfo.qualityPassed`.
    pub quality_passed: Observed<bool>,
    /// `extInfo.deviceRisk.riskLevel`.
    pub risk_level: Observed<i64>,
}

/// Face Compare asynccheckresult facts.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceCompareFacts {
    /// `face1ImageQualityResult`: `PASS` or `FAIL`.
    pub face1_quality: Observed<String>,
    /// `face2ImageQualityResult`: `PASS` or `FAIL`.
    pub face2_quality: Observed<String>,
    /// `samePerson`.
    pub same_person: Observed<bool>,
    /// `score`, 0 to 100.
    pub score: Observed<f64>,
}

/// Connect checkresult facts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectFacts {
    /// `connectResult`: `Success`, `Failure`, `VoidTimeout`, `InProcess` (absent in the older
    /// API).
    pub state: Observed<String>,
    /// `extFaceInfo.faceAttack`.
    pub face_attack: Observed<bool>,
    /// `extFaceInfo.faceScore`, 0 to 100.
    pub face_score: Observed<f64>,
    /// `extFaceInfo.deeperResult`.
    pub deeper_result: Observed<String>,
    /// `extFaceInfo.deeperResultDescription`.
    pub deeper_description: Observed<String>,
}

/// One entry of ID Recognition's `spoofResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpoofCheckFact {
    /// The check name, e.g. `TAMPER_CHECK`.
    pub name: String,
    /// Its value (`Y` or `N`).
    pub value: Observed<String>,
}

/// ZOLOZ documents five spoof checks; a response with more than this many is not one the
/// service understands, and reading an unbounded map would let a body cost unbounded work.
pub const MAX_SPOOF_CHECKS: usize = 16;

/// The five spoof checks ZOLOZ documents, in its order. They are read before any other check,
/// so that a body with more checks than [`MAX_SPOOF_CHECKS`] cannot push one of them out.
pub const KNOWN_SPOOF_CHECKS: [&str; 5] = [
    "TAMPER_CHECK",
    "MATERIAL_CHECK",
    "SCREEN_RECAPTURE_CHECK",
    "INFORMATION_CHECK",
    "SECURITY_FEATURE_CHECK",
];

/// The spoof checks ZOLOZ's ID Recognition document marks Required: when `spoofResult` is
/// present, each must be there (a missing tamper check is not a passed one). The other two known
/// checks are Optional (Hong Kong identity cards only).
pub const REQUIRED_SPOOF_CHECKS: [&str; 3] = [
    KNOWN_SPOOF_CHECKS[0],
    KNOWN_SPOOF_CHECKS[1],
    KNOWN_SPOOF_CHECKS[2],
];

/// Spoof check names longer than this are cut (they end up in JSON pointers and messages).
pub const MAX_SPOOF_CHECK_NAME_CHARS: usize = 64;

/// ID Recognition checkresult facts. No OCR value is read.
#[derive(Debug, Clone, PartialEq)]
pub struct IdRecognitionFacts {
    /// `extInfo.recognitionResult`: `Y` or `N`.
    pub recognition_result: Observed<String>,
    /// `extInfo.recognitionErrorCode`.
    pub recognition_error_code: Observed<String>,
    /// `extInfo.docCategory`.
    pub doc_category: Observed<String>,
    /// `extInfo.certType`.
    pub cert_type: Observed<String>,
    /// Whether `extInfo.spoofResult` is present as an object (then its Required checks must
    /// be there).
    pub spoof_result_present: bool,
    /// `extInfo.spoofResult`, in response order (at most [`MAX_SPOOF_CHECKS`]).
    pub spoof_checks: Vec<SpoofCheckFact>,
    /// Spoof checks beyond [`MAX_SPOOF_CHECKS`], not read (an unrecognized value).
    pub spoof_checks_dropped: usize,
    /// `extInfo.deeperResult`: `Y` or `N`.
    pub deeper_result: Observed<String>,
    /// `extInfo.deeperResultDescription`.
    pub deeper_description: Observed<String>,
    /// `extInfo.uploadEnabledResult`: `Y` or `N`.
    pub upload_enabled: Observed<String>,
}

/// The product-specific part of the facts.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductFacts {
    /// Face Capture.
    FaceCapture(FaceCaptureFacts),
    /// Face Compare.
    FaceCompare(FaceCompareFacts),
    /// Connect.
    Connect(ConnectFacts),
    /// ID Recognition.
    IdRecognition(IdRecognitionFacts),
}

/// Everything the engine needs from one checkresult response.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// The `result` envelope.
    pub envelope: Envelope,
    /// The top-level `transactionId`, when the response carries one as a string (Face Compare
    /// does); another type is a shape mismatch.
    pub transaction_id: Option<String>,
    /// The product's fields.
    pub detail: ProductFacts,
    /// Fields of a JSON type the reader cannot use (containers, `transactionId`).
    pub shape_mismatches: Vec<ShapeMismatch>,
    /// Set when these terminal facts differ from the terminal facts already held for the same
    /// transaction (what differs): ZOLOZ contradicted itself, so neither answer decides alone.
    pub inconsistency: Option<String>,
}

impl Facts {
    /// Records which Face Capture API produced the facts (the reader cannot tell from the
    /// body); facts of any other product are left as they are.
    pub fn set_face_capture_api(&mut self, api: FaceCaptureApiVersion) {
        if let ProductFacts::FaceCapture(facts) = &mut self.detail {
            facts.api = api;
        }
    }

    /// Which Face Capture API produced the facts, when they are Face Capture facts.
    pub fn face_capture_api(&self) -> FaceCaptureApiVersion {
        match &self.detail {
            ProductFacts::FaceCapture(facts) => facts.api,
            _ => FaceCaptureApiVersion::Unknown,
        }
    }

    /// Whether `other` states the same terminal facts: equal but for the result message and
    /// the echoed transaction id (free text and masking), and any inconsistency mark.
    pub fn same_terminal_facts(&self, other: &Facts) -> bool {
        let strip = |f: &Facts| Facts {
            envelope: Envelope {
                result_message: Observed::Missing,
                ..f.envelope.clone()
            },
            transaction_id: None,
            inconsistency: None,
            ..f.clone()
        };
        strip(self) == strip(other)
    }

    /// The product the facts are about.
    pub fn product(&self) -> Product {
        match self.detail {
            ProductFacts::FaceCapture(_) => Product::FaceCapture,
            ProductFacts::FaceCompare(_) => Product::FaceCompare,
            ProductFacts::Connect(_) => Product::Connect,
            ProductFacts::IdRecognition(_) => Product::IdRecognition,
        }
    }
}

/// What an image returned with a result shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    /// The captured (live) face: Face Capture `imageContent`, Connect `aliveImage`.
    Face,
    /// The enrolled reference face: Connect `refImage`.
    ReferenceFace,
    /// A page of the identity document: ID Recognition `imageContent`.
    Document,
    /// An extra image (`extraImages`), named by its key.
    Extra,
}

/// An image decoded from a response. Never cached, never logged: `Debug` prints its size only.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtractedImage {
    /// What it shows.
    pub kind: ImageKind,
    /// The `extraImages` key, or the document page index (`"0"`, `"1"`, …); empty otherwise.
    pub name: String,
    /// The decoded bytes (usually JPEG), shared rather than copied on the way out.
    pub content: bytes::Bytes,
}

impl fmt::Debug for ExtractedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtractedImage")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .finish()
    }
}

/// RFC 6901 escaping of one reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointers of the fields the engine reads, per product.
pub mod field {
    /// `result`.
    pub const RESULT: &str = "/result";
    /// `result.resultCode`.
    pub const RESULT_CODE: &str = "/result/resultCode";
    /// `result.resultStatus`.
    pub const RESULT_STATUS: &str = "/result/resultStatus";
    /// `result.resultMessage`.
    pub const RESULT_MESSAGE: &str = "/result/resultMessage";
    /// The top-level `transactionId`.
    pub const TRANSACTION_ID: &str = "/transactionId";

    /// Face Capture.
    pub mod face_capture {
        /// The product state (v1a).
        pub const STATE: &str = "/faceCaptureResult";
        /// The details container.
        pub const EXT_INFO: &str = "/extInfo";
        /// Liveness.
        pub const FACE_ATTACK: &str = "/extInfo/faceAttack";
        /// Quality score.
        pub const QUALITY: &str = "/extInfo/quality";
        /// Overall quality result.
        pub const QUALITY_PASSED: &str = "/extInfo/qualityPassed";
        /// Device risk container.
        pub const DEVICE_RISK: &str = "/extInfo/deviceRisk";
        /// Device risk level.
        pub const RISK_LEVEL: &str = "/extInfo/deviceRisk/riskLevel";
        /// The captured face image.
        pub const IMAGE_CONTENT: &str = "/extInfo/imageContent";
        /// Extra images by name.
        pub const EXTRA_IMAGES: &str = "/extInfo/extraImages";
    }

    /// Face Compare.
    pub mod face_compare {
        /// Image quality of face 1.
        pub const FACE1_QUALITY: &str = "/face1ImageQualityResult";
        /// Image quality of face 2.
        pub const FACE2_QUALITY: &str = "/face2ImageQualityResult";
        /// The match result.
        pub const SAME_PERSON: &str = "/samePerson";
        /// The match score.
        pub const SCORE: &str = "/score";
    }

    /// Connect.
    pub mod connect {
        /// The product state.
        pub const STATE: &str = "/connectResult";
        /// The details container.
        pub const EXT_FACE_INFO: &str = "/extFaceInfo";
        /// Liveness.
        pub const FACE_ATTACK: &str = "/extFaceInfo/faceAttack";
        /// The match score.
        pub const FACE_SCORE: &str = "/extFaceInfo/faceScore";
        /// Deeper (deepfake) result.
        pub const DEEPER_RESULT: &str = "/extFaceInfo/deeperResult";
        /// Deeper description.
        pub const DEEPER_DESCRIPTION: &str = "/extFaceInfo/deeperResultDescription";
        /// The live face image.
        pub const ALIVE_IMAGE: &str = "/extFaceInfo/aliveImage";
        /// The enrolled face image.
        pub const REF_IMAGE: &str = "/extFaceInfo/refImage";
    }

    /// ID Recognition.
    pub mod id_recognition {
        /// The details container.
        pub const EXT_INFO: &str = "/extInfo";
        /// The recognition result (the product state).
        pub const RECOGNITION_RESULT: &str = "/extInfo/recognitionResult";
        /// Why recognition failed.
        pub const RECOGNITION_ERROR_CODE: &str = "/extInfo/recognitionErrorCode";
        /// Document category.
        pub const DOC_CATEGORY: &str = "/extInfo/docCategory";
        /// Document type.
        pub const CERT_TYPE: &str = "/extInfo/certType";
        /// Spoof checks container; each check is at `/extInfo/spoofResult/<name>`.
        pub const SPOOF_RESULT: &str = "/extInfo/spoofResult";
        /// Deeper (AIGC) result.
        pub const DEEPER_RESULT: &str = "/extInfo/deeperResult";
        /// Deeper description.
        pub const DEEPER_DESCRIPTION: &str = "/extInfo/deeperResultDescription";
        /// Upload mode.
        pub const UPLOAD_ENABLED: &str = "/extInfo/uploadEnabledResult";
        /// Document pages.
        pub const IMAGE_CONTENT: &str = "/extInfo/imageContent";
        /// Extra images by name.
        pub const EXTRA_IMAGES: &str = "/extInfo/extraImages";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escaping() {
        assert_eq!(escape_pointer_token("TAMPER_CHECK"), "TAMPER_CHECK");
        assert_eq!(escape_pointer_token("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn image_debug_hides_content() {
        let image = ExtractedImage {
            kind: ImageKind::Face,
            name: String::new(),
            content: bytes::Bytes::from_static(b"\xff\xd8secret"),
        };
        let text = format!("{image:?}");
        assert!(text.contains("<8 bytes>"));
        assert!(!text.contains("secret"));
    }
}
