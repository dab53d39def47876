//! Face Compare asynccheckresult (`/api/v1/zoloz/facecompare/asynccheckresult`): flat fields,
//! no product state, no images.

use serde_json::Value;

use super::read::{at, boolean, score, string};
use crate::domain::FaceCompareFacts;
use crate::domain::facts::field::face_compare as fld;

pub(super) fn facts(root: &Value) -> FaceCompareFacts {
    FaceCompareFacts {
        face1_quality: string(at(root, fld::FACE1_QUALITY)),
        face2_quality: string(at(root, fld::FACE2_QUALITY)),
        same_person: boolean(at(root, fld::SAME_PERSON)),
        score: score(at(root, fld::SCORE)),
    }
}
