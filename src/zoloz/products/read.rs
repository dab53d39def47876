//! Lenient field readers: a JSON value becomes an [`Observed`] field (missing, understood, or
//! present but not understood), with its raw JSON text kept for the reasons. Where ZOLOZ is
//! inconsistent the readers accept both forms (a score as a number or a numeric string); where
//! a value decides they never coerce (`"false"` is not a boolean).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde_json::Value;

use crate::domain::{ExtractedImage, ImageKind, Observed, ShapeMismatch};

/// The longest string kept verbatim in a raw value; longer ones are cut (an image or a long
/// message has no place in a reason).
const MAX_RAW_CHARS: usize = 256;

/// The raw JSON text of a value for a reason's `upstream_value`: scalars verbatim (strings
/// keep their quotes, cut after 256 characters), arrays and objects summarized as `[…]` and
/// `{…}` so that images and OCR values never reach a verdict.
pub fn raw_text(value: &Value) -> String {
    match value {
        Value::Array(_) => "[…]".to_string(),
        Value::Object(_) => "{…}".to_string(),
        // What serde_json writes for a string with nothing to escape (it escapes `"`, `\` and
        // control characters only), without its formatter: every field of every response
        // keeps its raw text.
        Value::String(s)
            if s.len() <= MAX_RAW_CHARS
                && !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') =>
        {
            let mut text = String::with_capacity(s.len() + 2);
            text.push('"');
            text.push_str(s);
            text.push('"');
            text
        }
        Value::Bool(b) => b.to_string(),
        Value::String(s) if s.chars().count() > MAX_RAW_CHARS => {
            let cut: String = s.chars().take(MAX_RAW_CHARS).collect();
            Value::String(format!("{cut}…")).to_string()
        }
        other => other.to_string(),
    }
}

/// The value at a JSON pointer, with `null` read as absent.
pub fn at<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    lookup(root, pointer).filter(|v| !v.is_null())
}

/// `Value::pointer` without its allocations: it makes two `String`s per token to unescape
/// `~0` and `~1`, for every field of every response (BENCHMARKS.md). Pointers with escapes or
/// through arrays take `Value::pointer` itself.
fn lookup<'v>(root: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.contains('~') {
        return root.pointer(pointer);
    }
    let Some(tokens) = pointer.strip_prefix('/') else {
        return if pointer.is_empty() { Some(root) } else { None };
    };
    let mut value = root;
    for token in tokens.split('/') {
        value = match value {
            Value::Object(map) => get(map, token)?,
            Value::Array(_) => return root.pointer(pointer),
            _ => return None,
        };
    }
    Some(value)
}

/// `map.get(key)`, by comparing keys when the object is small: checkresult objects have a
/// handful of keys each, and hashing the key (SipHash, serde_json's map) cost more than the
/// comparisons.
fn get<'v>(map: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if map.len() <= 16 {
        map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// The longest string value kept in the facts (which are cached). Longer values are cut and
/// marked with `…`: every value the engine knows is a few characters long, so a cut value stays
/// unknown.
const MAX_VALUE_CHARS: usize = 1024;

/// A string field.
pub fn string(value: Option<&Value>) -> Observed<String> {
    match value {
        None | Some(Value::Null) => Observed::Missing,
        Some(v @ Value::String(s)) if s.len() > MAX_VALUE_CHARS => {
            let mut cut: String = s.chars().take(MAX_VALUE_CHARS).collect();
            cut.push('…');
            Observed::known(cut, raw_text(v))
        }
        Some(v @ Value::String(s)) => Observed::known(s.clone(), raw_text(v)),
        Some(other) => Observed::Unrecognized {
            raw: raw_text(other),
        },
    }
}

/// A product state (`connectResult`, `faceCaptureResult`): a string, as [`string`] reads it,
/// except that `null` is unrecognized, not absent. Absence is how the older APIs say they have no
/// state, and the decision then falls back to their rule of evidence; a state present as `null`
/// says neither that nor a result.
pub fn state(root: &Value, pointer: &str) -> Observed<String> {
    match lookup(root, pointer) {
        Some(Value::Null) => Observed::Unrecognized { raw: "null".into() },
        other => string(other),
    }
}

/// A boolean field: only JSON `true` and `false` are understood.
pub fn boolean(value: Option<&Value>) -> Observed<bool> {
    match value {
        None | Some(Value::Null) => Observed::Missing,
        Some(v @ Value::Bool(b)) => Observed::known(*b, raw_text(v)),
        Some(other) => Observed::Unrecognized {
            raw: raw_text(other),
        },
    }
}

/// A score: a JSON number or a numeric string (Face Capture v1a sends `"99.41"`). Values that
/// are not finite are not understood; the range is the engine's business.
pub fn score(value: Option<&Value>) -> Observed<f64> {
    let parsed = match value {
        None | Some(Value::Null) => return Observed::Missing,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(_) => None,
    };
    let raw = value.map(raw_text).unwrap_or_default();
    match parsed {
        Some(v) if v.is_finite() => Observed::known(v, raw),
        _ => Observed::Unrecognized { raw },
    }
}

/// An integer: a JSON integer (or an integral number such as `2.0`) or an integer string.
pub fn integer(value: Option<&Value>) -> Observed<i64> {
    let parsed = match value {
        None | Some(Value::Null) => return Observed::Missing,
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    let raw = value.map(raw_text).unwrap_or_default();
    match parsed {
        Some(v) => Observed::known(v, raw),
        None => Observed::Unrecognized { raw },
    }
}

/// Checks that the container at `pointer` is an object (or absent); another JSON type is
/// recorded as a shape mismatch, and the fields under it read as missing.
pub fn container(root: &Value, pointer: &str, mismatches: &mut Vec<ShapeMismatch>) {
    if let Some(v) = at(root, pointer)
        && !v.is_object()
    {
        mismatches.push(ShapeMismatch {
            field: pointer.to_string(),
            raw: raw_text(v),
            expected: "a json object",
        });
    }
}

/// Collects the images of a response, decoding their Base64.
#[derive(Debug, Default)]
pub struct ImageSink {
    /// The decoded images.
    pub images: Vec<ExtractedImage>,
    /// Images whose content was not Base64 (dropped).
    pub undecodable: usize,
}

/// Standard alphabet, padding optional, trailing bits tolerated: encoders differ.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

impl ImageSink {
    /// Adds one image value. An empty string (ZOLOZ's "not found") is skipped; a value that is
    /// not a Base64 string is dropped and counted.
    pub fn add(&mut self, kind: ImageKind, name: &str, value: Option<&Value>) {
        match value {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => match decode_base64(s) {
                Some(content) => self.images.push(ExtractedImage {
                    kind,
                    name: name.to_string(),
                    content,
                }),
                None => self.undecodable += 1,
            },
            Some(_) => self.undecodable += 1,
        }
    }

    /// Adds every entry of an `extraImages` map, named by its key.
    pub fn add_map(&mut self, kind: ImageKind, value: Option<&Value>) {
        match value {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, image) in map {
                    self.add(kind, name, Some(image));
                }
            }
            Some(_) => self.undecodable += 1,
        }
    }
}

/// Decodes Base64, ignoring line breaks (MIME-style encoders wrap lines).
fn decode_base64(text: &str) -> Option<Bytes> {
    let decoded = if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        LENIENT_BASE64.decode(compact)
    } else {
        LENIENT_BASE64.decode(text)
    };
    decoded.ok().filter(|d| !d.is_empty()).map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lookup_agrees_with_value_pointer() {
        let root = json!({
            "a": {"b": 1, "c~d": 2, "e/f": 3, "": 4, "n": null},
            "list": [{"x": 5}],
            "s": "text"
        });
        for pointer in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/c~0d",
            "/a/e~1f",
            "/a/",
            "/a/n",
            "/a/zz",
            "/list/0/x",
            "/list/1",
            "/list/x",
            "/s/0",
            "a",
            "/a/b/c",
        ] {
            assert_eq!(lookup(&root, pointer), root.pointer(pointer), "{pointer:?}");
        }
        // Objects above the size where keys are compared rather than hashed.
        let wide: serde_json::Map<String, Value> =
            (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
        let root = json!({"wide": wide, "narrow": {"k1": 1, "k10": 10}});
        for pointer in [
            "/wide/k0",
            "/wide/k39",
            "/wide/k40",
            "/narrow/k10",
            "/narrow/k2",
        ] {
            assert_eq!(lookup(&root, pointer), root.pointer(pointer), "{pointer:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn raw_text_is_what_serde_json_writes(s in "[a-z\"\\\\\u{0}-\u{1f}\u{7f}é😀 ]{0,300}") {
            let expected = if s.chars().count() > MAX_RAW_CHARS {
                let cut: String = s.chars().take(MAX_RAW_CHARS).collect();
                Value::String(format!("{cut}…")).to_string()
            } else {
                Value::String(s.clone()).to_string()
            };
            proptest::prop_assert_eq!(raw_text(&Value::String(s)), expected);
        }
    }

    #[test]
    fn raw_text_of_scalars_is_their_json() {
        for value in [
            json!(true),
            json!(false),
            json!(1),
            json!(-2.5),
            json!("a\"b"),
            json!(""),
        ] {
            assert_eq!(raw_text(&value), value.to_string());
        }
        assert_eq!(raw_text(&json!([1])), "[…]");
        assert_eq!(raw_text(&json!({"a": 1})), "{…}");
    }

    #[test]
    fn scores_accept_numbers_and_numeric_strings() {
        assert_eq!(score(Some(&json!(97.6))), Observed::known(97.6, "97.6"));
        assert_eq!(
            score(Some(&json!("99.41563014552693"))),
            Observed::known(99.41563014552693, "\"99.41563014552693\"")
        );
        assert_eq!(
            score(Some(&json!(" 80 "))),
            Observed::known(80.0, "\" 80 \"")
        );
        for bad in [
            json!("NaN"),
            json!("inf"),
            json!("high"),
            json!(true),
            json!([1]),
        ] {
            assert!(
                matches!(score(Some(&bad)), Observed::Unrecognized { .. }),
                "{bad}"
            );
        }
        assert_eq!(score(Some(&Value::Null)), Observed::Missing);
        assert_eq!(score(None), Observed::Missing);
    }

    #[test]
    fn long_strings_are_cut() {
        let long = "Success".repeat(1000);
        let observed = string(Some(&json!(long)));
        let value = observed.as_str().unwrap();
        assert_eq!(value.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(value.ends_with('…'));
        assert!(observed.raw().unwrap().len() < 300);
    }

    #[test]
    fn booleans_are_never_coerced() {
        assert_eq!(
            boolean(Some(&json!(false))),
            Observed::known(false, "false")
        );
        for bad in [json!("false"), json!(0), json!("true"), json!({})] {
            assert!(matches!(boolean(Some(&bad)), Observed::Unrecognized { .. }));
        }
    }

    #[test]
    fn integers() {
        assert_eq!(integer(Some(&json!(-1))), Observed::known(-1, "-1"));
        assert_eq!(integer(Some(&json!(2.0))), Observed::known(2, "2.0"));
        assert_eq!(integer(Some(&json!("3"))), Observed::known(3, "\"3\""));
        assert!(matches!(
            integer(Some(&json!(2.5))),
            Observed::Unrecognized { .. }
        ));
    }

    #[test]
    fn raw_text_summarizes() {
        assert_eq!(raw_text(&json!("N")), "\"N\"");
        assert_eq!(raw_text(&json!({"ID_NUMBER": "123"})), "{…}");
        assert_eq!(raw_text(&json!(["a"])), "[…]");
        let long = "x".repeat(10_000);
        let text = raw_text(&json!(long));
        assert!(text.len() < 300, "{}", text.len());
        assert!(text.ends_with("…\""));
    }

    #[test]
    fn images_decode_or_count() {
        let mut sink = ImageSink::default();
        sink.add(ImageKind::Face, "", Some(&json!("/9j/4AAQ")));
        sink.add(ImageKind::Face, "", Some(&json!("/9j/\n4AAQ")));
        sink.add(ImageKind::Face, "", Some(&json!("/9j/4A")));
        sink.add(ImageKind::Face, "", Some(&json!("base64string.....")));
        sink.add(
            ImageKind::Face,
            "",
            Some(&json!("#ALIVE_FACE_BASE64_CONTENT#")),
        );
        sink.add(ImageKind::Face, "", Some(&json!(42)));
        sink.add(ImageKind::Face, "", Some(&json!("")));
        sink.add(ImageKind::Face, "", None);
        assert_eq!(sink.images.len(), 3);
        assert_eq!(&sink.images[0].content[..3], b"\xff\xd8\xff");
        assert_eq!(sink.undecodable, 3);
    }
}
