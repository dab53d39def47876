//! Face Capture checkresult (`/api/v1/` and `/api/v1a/zoloz/facecapture/checkresult`): v1 has
//! no `faceCaptureResult` and sends `quality` as a number; v1a adds the state,
//! `qualityPassed`, `deviceRisk` and `extraImages`, and sends `quality` as a string.

use serde_json::Value;

use super::read::{ImageSink, at, boolean, container, integer, score, state};
use crate::domain::facts::field::face_capture as fld;
use crate::domain::{FaceCaptureApiVersion, FaceCaptureFacts, ImageKind, ShapeMismatch};

pub(super) fn facts(root: &Value, mismatches: &mut Vec<ShapeMismatch>) -> FaceCaptureFacts {
    container(root, fld::EXT_INFO, mismatches);
    container(root, fld::DEVICE_RISK, mismatches);
    FaceCaptureFacts {
        api: FaceCaptureApiVersion::Unknown,
        state: state(root, fld::STATE),
        face_attack: boolean(at(root, fld::FACE_ATTACK)),
        quality: score(at(root, fld::QUALITY)),
        quality_passed: boolean(at(root, fld::QUALITY_PASSED)),
        risk_level: integer(at(root, fld::RISK_LEVEL)),
    }
}

pub(super) fn images(root: &Value, sink: &mut ImageSink) {
    sink.add(ImageKind::Face, "", at(root, fld::IMAGE_CONTENT));
    sink.add_map(ImageKind::Extra, at(root, fld::EXTRA_IMAGES));
}
