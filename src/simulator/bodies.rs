//! The JSON bodies the simulator answers with: one template per product outcome, the
//! documentation samples of `tests/seeds/`, and the per-request finishing touches (the request's
//! `transactionId` echoed where ZOLOZ echoes it, images filled in or left out as
//! `isReturnImage` asks).
//!
//! Templates hold image placeholders rather than image data, so they stay small; the data is
//! put in per request from the images built once in [`super::images`].

use serde_json::{Map, Value, json};

use super::images;

/// Placeholder for the small image.
pub(crate) const IMAGE: &str = "<image>";
/// Placeholder for the first large image.
pub(crate) const LARGE_IMAGE_1: &str = "<large-image-1>";
/// Placeholder for the second large image.
pub(crate) const LARGE_IMAGE_2: &str = "<large-image-2>";

/// The placeholders ZOLOZ's documentation samples put where image content goes: replaced by
/// the small image, so that a client asking for images gets valid Base64.
const DOC_PLACEHOLDERS: [&str; 4] = [
    "base64string.....",
    "#ALIVE_FACE_BASE64_CONTENT#",
    "#REFERENCE_FACE_BASE64_CONTENT#",
    "/9j/4AA..[omitted]..PxA=",
];

/// The response fields that carry images, in every product.
const IMAGE_KEYS: [&str; 4] = ["imageContent", "extraImages", "aliveImage", "refImage"];

/// What the request asked for, as far as the body depends on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask<'a> {
    /// The request's `transactionId`.
    pub transaction_id: &'a str,
    /// `isReturnImage`, with the product's default applied.
    pub return_images: bool,
    /// `extraImageControlList` (only looked at when images are returned).
    pub extra_images: &'a [String],
}

/// The template finished for one request: `transactionId` echoed when the template has one
/// (Face Compare), images filled in when asked for and removed otherwise.
pub(crate) fn personalize(template: &Value, ask: &Ask<'_>) -> Value {
    let mut body = template.clone();
    if let Some(top) = body.as_object_mut() {
        if top.contains_key("transactionId") {
            top.insert("transactionId".into(), ask.transaction_id.into());
        }
        if ask.return_images && !ask.extra_images.is_empty() {
            add_requested_extra_images(top, ask.extra_images);
        }
    }
    if ask.return_images {
        fill_images(&mut body);
    } else {
        strip_images(&mut body);
    }
    body
}

/// Face Capture and ID Recognition return `extInfo.extraImages` for the kinds listed in
/// `extraImageControlList`; a template that fixes its own extra images keeps them.
fn add_requested_extra_images(top: &mut Map<String, Value>, requested: &[String]) {
    let Some(Value::Object(ext)) = top.get_mut("extInfo") else {
        return;
    };
    if !ext.contains_key("imageContent") || ext.contains_key("extraImages") {
        return;
    }
    let extra: Map<String, Value> = requested
        .iter()
        .map(|kind| (kind.clone(), Value::from(IMAGE)))
        .collect();
    ext.insert("extraImages".into(), Value::Object(extra));
}

fn fill_images(value: &mut Value) {
    match value {
        Value::String(text) => {
            let image = match text.as_str() {
                IMAGE => &*images::SMALL,
                LARGE_IMAGE_1 => &*images::LARGE_1,
                LARGE_IMAGE_2 => &*images::LARGE_2,
                other if DOC_PLACEHOLDERS.contains(&other) => &*images::SMALL,
                _ => return,
            };
            *text = image.clone();
        }
        Value::Array(items) => items.iter_mut().for_each(fill_images),
        Value::Object(map) => map.values_mut().for_each(fill_images),
        _ => {}
    }
}

fn strip_images(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(strip_images),
        Value::Object(map) => {
            for key in IMAGE_KEYS {
                map.shift_remove(key);
            }
            map.values_mut().for_each(strip_images);
        }
        _ => {}
    }
}

/// `value` with the fields at the JSON pointers set (inserted at the end when new).
pub(crate) fn with(mut value: Value, edits: &[(&str, Value)]) -> Value {
    for (pointer, new) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        match value.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.insert(key.to_string(), new.clone());
            }
            _ => debug_assert!(false, "template has no object at {parent:?}"),
        }
    }
    value
}

/// `value` without the fields at the JSON pointers.
pub(crate) fn without(mut value: Value, pointers: &[&str]) -> Value {
    for pointer in pointers {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(Value::Object(map)) = value.pointer_mut(parent) {
            map.shift_remove(key);
        }
    }
    value
}

/// A `result` object.
pub(crate) fn result(code: &str, status: &str, message: &str) -> Value {
    json!({ "resultCode": code, "resultStatus": status, "resultMessage": message })
}

/// A body that is only a `result`: the gateway's errors and most failure codes.
pub(crate) fn result_only(code: &str, status: &str, message: &str) -> Value {
    json!({ "result": result(code, status, message) })
}

fn success() -> Value {
    result("SUCCESS", "S", "success")
}

fn rect() -> Value {
    json!({ "top": 233, "left": 165, "bottom": 479, "right": 410 })
}

/// Face Capture (`/api/v1a/` shape unless named v1).
pub(crate) mod face_capture {
    use super::*;

    /// `faceCaptureResult: Success`, live, good quality, no device risk field.
    pub(crate) fn approve() -> Value {
        json!({
            "faceCaptureResult": "Success",
            "extInfo": {
                "imageContent": IMAGE,
                "faceAttack": false,
                "rect": rect(),
                "quality": "97.61517973846627",
                "qualityPassed": true
            },
            "result": success()
        })
    }

    /// Still capturing.
    pub(crate) fn pending() -> Value {
        json!({
            "faceCaptureResult": "InProcess",
            "result": result("PROCESSING", "S", "process is still ongoing, waiting for a face image to be uploaded")
        })
    }

    /// The v1 API's shape: no `faceCaptureResult`, no `qualityPassed`, numeric quality.
    pub(crate) fn v1_approve() -> Value {
        json!({
            "extInfo": {
                "imageContent": IMAGE,
                "faceAttack": false,
                "rect": rect(),
                "quality": 96.53264331817627
            },
            "result": success()
        })
    }
}

/// Face Compare (`asynccheckresult`).
pub(crate) mod face_compare {
    use super::*;

    /// Both qualities pass, same person.
    pub(crate) fn approve() -> Value {
        json!({
            "transactionId": "",
            "face1ImageQualityResult": "PASS",
            "face2ImageQualityResult": "PASS",
            "score": 88.2,
            "samePerson": true,
            "result": success()
        })
    }

    /// Still comparing.
    pub(crate) fn pending() -> Value {
        json!({
            "transactionId": "",
            "result": result("PROCESSING", "S", "processing in progress")
        })
    }

    /// A body with a `result` only, echoing the transaction id.
    pub(crate) fn failure(code: &str, status: &str, message: &str) -> Value {
        json!({ "transactionId": "", "result": result(code, status, message) })
    }
}

/// Connect.
pub(crate) mod connect {
    use super::*;

    /// `connectResult: Success`, live, high score, Deeper passed.
    pub(crate) fn approve() -> Value {
        json!({
            "result": result("SUCCESS", "S", "Success"),
            "connectResult": "Success",
            "extFaceInfo": {
                "aliveImage": IMAGE,
                "refImage": IMAGE,
                "faceScore": 89.1,
                "faceAttack": false,
                "deeperResult": "Success",
                "deeperResultDescription": ""
            }
        })
    }

    /// Still verifying (Connect documents PROCESSING with status F).
    pub(crate) fn pending() -> Value {
        json!({
            "result": result("PROCESSING", "F", "face verification is still in process"),
            "connectResult": "InProcess"
        })
    }
}

/// ID Recognition.
pub(crate) mod id_recognition {
    use super::*;

    /// `recognitionResult: Y`, every spoof check `Y`, Deeper `Y`.
    pub(crate) fn approve() -> Value {
        json!({
            "extInfo": {
                "certType": "00600000001",
                "docCategory": "PASSPORT",
                "docEdition": 2,
                "imageContent": [IMAGE, IMAGE],
                "ocrResult": {
                    "ID_NUMBER": "E00000000",
                    "NAME": "SIMULATED PERSON",
                    "COUNTRY": "SGP",
                    "SEX": "F",
                    "DATE_OF_BIRTH": "1990-01-01",
                    "EXPIRY_DATE": "2035-01-01"
                },
                "ocrResultFormat": {
                    "NUMBER": "E00000000",
                    "GENDER": "F"
                },
                "countryCode": "SGP",
                "spoofResult": {
                    "TAMPER_CHECK": "Y",
                    "MATERIAL_CHECK": "Y",
                    "SCREEN_RECAPTURE_CHECK": "Y",
                    "INFORMATION_CHECK": "Y",
                    "SECURITY_FEATURE_CHECK": "Y"
                },
                "recognitionErrorCode": "",
                "recognitionErrorDescription": "",
                "recognitionResult": "Y",
                "deeperResult": "Y",
                "deeperResultDescription": "",
                "uploadEnabledResult": "N"
            },
            "result": success()
        })
    }

    /// The user has not finished the flow.
    pub(crate) fn pending() -> Value {
        json!({ "result": result("PROCESSING", "S", "user hasn't finished the whole flow") })
    }

    /// `recognitionResult: N` with an error code: no OCR, no spoof checks, no images.
    pub(crate) fn not_recognized(code: &str, description: &str) -> Value {
        json!({
            "extInfo": {
                "recognitionErrorCode": code,
                "recognitionErrorDescription": description,
                "recognitionResult": "N",
                "uploadEnabledResult": "N"
            },
            "result": success()
        })
    }

    /// The approve body with one spoof check failed.
    pub(crate) fn spoof_failed(check: &str) -> Value {
        with(
            approve(),
            &[(&format!("/extInfo/spoofResult/{check}"), json!("N"))],
        )
    }
}

/// The response samples of the ZOLOZ documents in `tests/seeds/`, verbatim.
pub(crate) mod seeds {
    use serde_json::Value;

    /// Face Capture v1 (English document).
    pub(crate) const FACE_CAPTURE_V1: &str = include_str!("seeds/facecapture-v1.json");
    /// Face Capture v1a (Chinese document).
    pub(crate) const FACE_CAPTURE_V1A: &str = include_str!("seeds/facecapture-v1a.json");
    /// Face Compare asynccheckresult.
    pub(crate) const FACE_COMPARE: &str = include_str!("seeds/facecompare.json");
    /// Connect (Japanese document).
    pub(crate) const CONNECT: &str = include_str!("seeds/connect.json");
    /// ID Recognition, with the documentation's typo (`"Y"",`): not JSON.
    pub(crate) const ID_RECOGNITION_VERBATIM: &str =
        include_str!("seeds/idrecognition-verbatim.txt");
    /// The typo in the ID Recognition sample and its correction.
    pub(crate) const ID_RECOGNITION_TYPO: (&str, &str) = ("\"Y\"\",", "\"Y\",");

    /// A seed parsed. The seeds are fixed text checked by the unit tests, so a parse failure
    /// is a build defect; it degrades to `null` rather than panicking in a server.
    pub(crate) fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or(Value::Null)
    }

    /// The ID Recognition sample with the typo corrected.
    pub(crate) fn id_recognition_corrected() -> Value {
        let (typo, fixed) = ID_RECOGNITION_TYPO;
        parse(&ID_RECOGNITION_VERBATIM.replacen(typo, fixed, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squeeze(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    #[test]
    fn seeds_are_the_documents_samples() {
        let docs = [
            (
                seeds::FACE_CAPTURE_V1,
                include_str!("../../tests/seeds/facecapture-checkresult-v1.en.txt"),
            ),
            (
                seeds::FACE_CAPTURE_V1A,
                include_str!("../../tests/seeds/facecapture-checkresult-v1a.zh.txt"),
            ),
            (
                seeds::FACE_COMPARE,
                include_str!("../../tests/seeds/facecompare-asynccheckresult.en.txt"),
            ),
            (
                seeds::CONNECT,
                include_str!("../../tests/seeds/connect-checkresult.ja.txt"),
            ),
            (
                seeds::ID_RECOGNITION_VERBATIM,
                include_str!("../../tests/seeds/idrecognition-checkresult.en.txt"),
            ),
        ];
        for (seed, doc) in docs {
            assert!(squeeze(doc).contains(&squeeze(seed)), "{seed}");
        }
        for seed in [
            seeds::FACE_CAPTURE_V1,
            seeds::FACE_CAPTURE_V1A,
            seeds::FACE_COMPARE,
            seeds::CONNECT,
        ] {
            assert!(seeds::parse(seed).is_object(), "{seed}");
        }
    }

    #[test]
    fn the_id_recognition_typo_is_there_once_and_its_correction_parses() {
        let (typo, _) = seeds::ID_RECOGNITION_TYPO;
        assert_eq!(seeds::ID_RECOGNITION_VERBATIM.matches(typo).count(), 1);
        assert!(serde_json::from_str::<Value>(seeds::ID_RECOGNITION_VERBATIM).is_err());
        let fixed = seeds::id_recognition_corrected();
        assert_eq!(
            fixed["extInfo"]["spoofResult"]["SCREEN_RECAPTURE_CHECK"],
            "Y"
        );
    }

    #[test]
    fn images_only_when_asked_and_transaction_id_echoed() {
        let template = seeds::parse(seeds::FACE_COMPARE);
        let ask = Ask {
            transaction_id: "T-1",
            return_images: false,
            extra_images: &[],
        };
        assert_eq!(personalize(&template, &ask)["transactionId"], "T-1");

        let template = id_recognition::approve();
        let plain = personalize(&template, &ask);
        assert!(plain["extInfo"].get("imageContent").is_none());
        let extra = ["DOC_FRONT_ANGLE".to_string()];
        let ask = Ask {
            return_images: true,
            extra_images: &extra,
            ..ask
        };
        let full = personalize(&template, &ask);
        assert_eq!(full["extInfo"]["imageContent"][1], *images::SMALL);
        assert_eq!(
            full["extInfo"]["extraImages"]["DOC_FRONT_ANGLE"],
            *images::SMALL
        );
        let seed = personalize(&seeds::parse(seeds::CONNECT), &ask);
        assert_eq!(seed["extFaceInfo"]["refImage"], *images::SMALL);
    }

    #[test]
    fn edits_set_and_remove_fields() {
        let body = with(
            face_capture::approve(),
            &[
                ("/faceCaptureResult", json!("Failure")),
                ("/extInfo/deviceRisk", json!({ "riskLevel": 3 })),
            ],
        );
        assert_eq!(body["faceCaptureResult"], "Failure");
        assert_eq!(body["extInfo"]["deviceRisk"]["riskLevel"], 3);
        let body = without(body, &["/extInfo/faceAttack"]);
        assert!(body["extInfo"].get("faceAttack").is_none());
    }
}
