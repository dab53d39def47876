//! JSON into a `serde_json::Value`, refusing an object with a repeated key.
//!
//! serde_json keeps the last of two equal keys. A checkresult body that says
//! `"faceAttack":true,"faceAttack":false` has no single meaning (RFC 8259 leaves it to the
//! reader; RFC 7493 forbids it), and a reader that keeps the first key (a gateway, an audit
//! pipeline) would see an attack where this service saw none. Such a body is refused as
//! malformed, so it can never be approved.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `body` as JSON; an object with a repeated key is an error (its message names no
/// content of the body).
pub(super) fn from_slice(body: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict>(body).map(|strict| strict.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json refuses an out-of-range number before this.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("an object repeats a key"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_serde_json_parses() {
        let bodies: [&[u8]; 6] = [
            br#"{"result":{"resultCode":"SUCCESS"},"extInfo":{"faceAttack":false,"quality":"80.5"}}"#,
            br#"[1, -2, 3.25, 1e2, 18446744073709551615, -9223372036854775808, 0.1]"#,
            br#"{"a":{"b":[null,true,false,"\u00e9\n"]},"c":{}}"#,
            br#"  "text"  "#,
            b"null",
            br#"{"nested":{"x":1},"other":{"x":2}}"#,
        ];
        for body in bodies {
            let ours = from_slice(body).unwrap();
            let theirs: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(body));
            // Key order kept (`preserve_order`).
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_refused() {
        for body in [
            &br#"{"extInfo":{"faceAttack":true,"faceAttack":false}}"#[..],
            br#"{"result":{"resultCode":"LIMIT_EXCEEDED"},"result":{"resultCode":"SUCCESS"}}"#,
            br#"{"a":[{"k":1,"k":1}]}"#,
            br#"{"k":1,"\u006b":2}"#,
        ] {
            let err = from_slice(body).unwrap_err();
            assert!(err.to_string().contains("repeats a key"), "{err}");
        }
    }

    #[test]
    fn what_serde_json_refuses_stays_refused() {
        for body in [&b"{"[..], b"1e400", b"{\"a\":1,}", b"[1 2]", b"\"\\x\""] {
            assert!(from_slice(body).is_err());
            assert!(serde_json::from_slice::<Value>(body).is_err());
        }
    }
}
