//! Connect checkresult (`/api/v1/zoloz/connect/checkresult`): `connectResult` (absent in the
//! older API) and `extFaceInfo`, which `NOT_SAME_PERSON` (status F) still carries.

use serde_json::Value;

use super::read::{ImageSink, at, boolean, container, score, state, string};
use crate::domain::facts::field::connect as fld;
use crate::domain::{ConnectFacts, ImageKind, ShapeMismatch};

pub(super) fn facts(root: &Value, mismatches: &mut Vec<ShapeMismatch>) -> ConnectFacts {
    container(root, fld::EXT_FACE_INFO, mismatches);
    ConnectFacts {
        state: state(root, fld::STATE),
        face_attack: boolean(at(root, fld::FACE_ATTACK)),
        face_score: score(at(root, fld::FACE_SCORE)),
        deeper_result: string(at(root, fld::DEEPER_RESULT)),
        deeper_description: string(at(root, fld::DEEPER_DESCRIPTION)),
    }
}

pub(super) fn images(root: &Value, sink: &mut ImageSink) {
    sink.add(ImageKind::Face, "", at(root, fld::ALIVE_IMAGE));
    sink.add(ImageKind::ReferenceFace, "", at(root, fld::REF_IMAGE));
}
