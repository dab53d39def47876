//! Property tests of the fail-safe rule: whatever the body, the decision is APPROVED only when
//! the product's positive evidence is intact and no blocking signal is present. The oracle
//! ([`approvable`]) reads the raw JSON directly, independently of the product readers and the
//! engine, and states the fail-safe rule (docs/design.md) under the default policy.
//!
//! Inputs: arbitrary JSON; structured bodies whose decision fields take values from a pool of
//! right, wrong and unknown values; every single mutation of every approving fixture (each
//! field removed, its type changed, its value replaced by an unknown string); and random
//! combinations of such mutations. Mutations of fields that decide nothing (images, OCR,
//! messages, coordinates) must not change an approval either.

use proptest::prelude::*;
use serde_json::{Value, json};
use zoloz_verdict::domain::{Decision, Policy, Product, evaluate};
use zoloz_verdict::zoloz::products::parse;

use crate::harness::{APPROVING_FIXTURES, fixture_json};

// ---------------------------------------------------------------- the oracle

fn absent(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

fn is_str(v: Option<&Value>, expected: &[&str]) -> bool {
    v.and_then(Value::as_str)
        .is_some_and(|s| expected.contains(&s))
}

/// A 0–100 score, as a number or a numeric string.
fn valid_score(v: Option<&Value>) -> bool {
    let parsed = match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed.is_some_and(|f| f.is_finite() && (0.0..=100.0).contains(&f))
}

fn absent_or_valid_score(v: Option<&Value>) -> bool {
    absent(v) || valid_score(v)
}

fn absent_or_object(v: Option<&Value>) -> bool {
    absent(v) || v.is_some_and(Value::is_object)
}

fn absent_or_bool(v: Option<&Value>, allowed: bool) -> bool {
    absent(v) || v == Some(&Value::Bool(allowed))
}

fn integer(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether the default policy may approve this body: the product's positive evidence is intact
/// and no blocking (REVIEW or REJECT) signal is present.
fn approvable(product: Product, body: &Value) -> bool {
    let p = |pointer: &str| body.pointer(pointer);
    let envelope = p("/result").is_some_and(Value::is_object)
        && is_str(p("/result/resultCode"), &["SUCCESS"])
        && (absent(p("/result/resultStatus")) || is_str(p("/result/resultStatus"), &["S"]));
    // A transactionId the service cannot compare with the requested one is unrecognized.
    let transaction = match p("/transactionId") {
        None | Some(Value::Null) => true,
        Some(Value::String(id)) => id.len() <= 128,
        Some(_) => false,
    };
    if !envelope || !transaction {
        return false;
    }
    match product {
        Product::FaceCapture => {
            let state = p("/faceCaptureResult");
            // A state present as null is not the v1 API's absent state.
            let evidence = is_str(state, &["Success"])
                || (state.is_none()
                    && p("/extInfo/faceAttack") == Some(&Value::Bool(false))
                    && valid_score(p("/extInfo/quality")));
            let risk = p("/extInfo/deviceRisk/riskLevel");
            evidence
                && absent_or_object(p("/extInfo"))
                && absent_or_object(p("/extInfo/deviceRisk"))
                && absent_or_bool(p("/extInfo/faceAttack"), false)
                && absent_or_bool(p("/extInfo/qualityPassed"), true)
                && absent_or_valid_score(p("/extInfo/quality"))
                && (absent(risk) || integer(risk).is_some_and(|l| (-1..=1).contains(&l)))
        }
        Product::FaceCompare => {
            p("/samePerson") == Some(&Value::Bool(true))
                && is_str(p("/face1ImageQualityResult"), &["PASS"])
                && is_str(p("/face2ImageQualityResult"), &["PASS"])
                && absent_or_valid_score(p("/score"))
        }
        Product::Connect => {
            let state = p("/connectResult");
            let evidence = is_str(state, &["Success"])
                || (state.is_none()
                    && p("/extFaceInfo/faceAttack") == Some(&Value::Bool(false))
                    && valid_score(p("/extFaceInfo/faceScore")));
            let deeper = p("/extFaceInfo/deeperResult");
            evidence
                && absent_or_object(p("/extFaceInfo"))
                && absent_or_bool(p("/extFaceInfo/faceAttack"), false)
                && absent_or_valid_score(p("/extFaceInfo/faceScore"))
                && (absent(deeper) || is_str(deeper, &["Success", "Y"]))
        }
        Product::IdRecognition => {
            let spoof_ok = match p("/extInfo/spoofResult") {
                None | Some(Value::Null) => true,
                // The Required checks must be there; every check present must pass.
                Some(Value::Object(checks)) => {
                    ["TAMPER_CHECK", "MATERIAL_CHECK", "SCREEN_RECAPTURE_CHECK"]
                        .iter()
                        .all(|name| checks.contains_key(*name))
                        && checks.values().all(|v| v.as_str() == Some("Y"))
                }
                Some(_) => false,
            };
            let deeper = p("/extInfo/deeperResult");
            let upload = p("/extInfo/uploadEnabledResult");
            let error_code = p("/extInfo/recognitionErrorCode");
            absent_or_object(p("/extInfo"))
                && is_str(p("/extInfo/recognitionResult"), &["Y"])
                && (absent(error_code) || is_str(error_code, &[""]))
                && spoof_ok
                && (absent(deeper) || is_str(deeper, &["Y"]))
                && (absent(upload) || is_str(upload, &["Y", "N"]))
        }
    }
}

/// The fields the oracle reads, and their ancestors: anything else decides nothing.
fn relevant(product: Product, pointer: &str) -> bool {
    let fields: &[&str] = match product {
        Product::FaceCapture => &[
            "/faceCaptureResult",
            "/extInfo/faceAttack",
            "/extInfo/quality",
            "/extInfo/qualityPassed",
            "/extInfo/deviceRisk/riskLevel",
        ],
        Product::FaceCompare => &[
            "/samePerson",
            "/face1ImageQualityResult",
            "/face2ImageQualityResult",
            "/score",
        ],
        Product::Connect => &[
            "/connectResult",
            "/extFaceInfo/faceAttack",
            "/extFaceInfo/faceScore",
            "/extFaceInfo/deeperResult",
        ],
        Product::IdRecognition => &[
            "/extInfo/recognitionResult",
            "/extInfo/recognitionErrorCode",
            "/extInfo/spoofResult/",
            "/extInfo/deeperResult",
            "/extInfo/uploadEnabledResult",
        ],
    };
    let is_prefix_of = |field: &str| {
        field == pointer
            || field.starts_with(&format!("{pointer}/"))
            || (field.ends_with('/') && pointer.starts_with(field))
            || field.strip_suffix('/') == Some(pointer)
    };
    pointer == "/result/resultCode"
        || pointer == "/result/resultStatus"
        || pointer == "/transactionId"
        || "/result/resultCode".starts_with(&format!("{pointer}/"))
        || fields.iter().any(|f| is_prefix_of(f))
}

/// The decision, or `None` when the body maps to an error.
fn verdict(product: Product, body: &[u8]) -> Option<zoloz_verdict::domain::Verdict> {
    let parsed = parse(product, body, true).ok()?;
    evaluate(&parsed.facts, &Policy::default_table()).ok()
}

fn decision(product: Product, body: &[u8]) -> Option<Decision> {
    verdict(product, body).map(|v| v.decision)
}

fn check(product: Product, body: &Value) -> Result<(), TestCaseError> {
    let bytes = serde_json::to_vec(body).unwrap();
    let verdict = verdict(product, &bytes);
    // A detected attack (any non-retryable REJECT reason) is never answered EXPIRED.
    if let Some(v) = verdict.as_ref().filter(|v| v.decision == Decision::Expired) {
        prop_assert!(
            !v.reasons
                .iter()
                .any(|r| r.effect == zoloz_verdict::domain::Effect::Reject && !r.retryable),
            "{product} EXPIRED beside a non-retryable REJECT reason: {:?} for {body}",
            v.reason_codes()
        );
    }
    if verdict.map(|v| v.decision) == Some(Decision::Approved) {
        prop_assert!(
            approvable(product, body),
            "{product} approved without evidence or with a blocking signal: {body}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- mutations

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
}

/// Every pointer of a value (not the root), depth first.
fn pointers(value: &Value, prefix: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.replace('~', "~0").replace('/', "~1"), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (token, child) in children {
        let pointer = format!("{prefix}/{token}");
        out.push(pointer.clone());
        pointers(child, &pointer, out);
    }
}

/// The mutations of one value: removed, every other JSON type, an unknown string.
fn mutations_of(value: &Value) -> Vec<Mutation> {
    let mut all = vec![
        Mutation::Remove,
        Mutation::Replace(Value::Null),
        Mutation::Replace(json!(true)),
        Mutation::Replace(json!(false)),
        Mutation::Replace(json!(1)),
        Mutation::Replace(json!(-2.5)),
        Mutation::Replace(json!(1e300)),
        Mutation::Replace(json!("ZZ_UNKNOWN_VALUE")),
        Mutation::Replace(json!("")),
        Mutation::Replace(json!([])),
        Mutation::Replace(json!({})),
        // The same value with its type changed to a string ("false", "89.1", …).
        Mutation::Replace(Value::String(match value {
            Value::String(s) => s.to_lowercase(),
            other => other.to_string(),
        })),
    ];
    all.retain(|m| !matches!(m, Mutation::Replace(v) if v == value));
    all
}

fn apply(mut body: Value, pointer: &str, mutation: &Mutation) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match (body.pointer_mut(parent), mutation) {
        (Some(Value::Object(map)), Mutation::Remove) => {
            map.shift_remove(&last);
        }
        (Some(Value::Array(items)), Mutation::Remove) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        (_, Mutation::Replace(new)) => {
            if let Some(target) = body.pointer_mut(pointer) {
                *target = new.clone();
            }
        }
        _ => {}
    }
    body
}

/// Every single mutation of every approving fixture: approvals only with the evidence intact
/// and no blocking signal; fields that decide nothing never change an approval.
#[test]
fn single_mutations_of_approving_fixtures() {
    let mut evaluated = 0;
    for (product, name) in APPROVING_FIXTURES {
        let base = fixture_json(name);
        assert_eq!(
            decision(product, &serde_json::to_vec(&base).unwrap()),
            Some(Decision::Approved),
            "{name} is an approving fixture"
        );
        assert!(approvable(product, &base), "the oracle approves {name}");
        let mut all = Vec::new();
        pointers(&base, "", &mut all);
        for pointer in &all {
            let original = base.pointer(pointer).unwrap();
            for mutation in mutations_of(original) {
                let body = apply(base.clone(), pointer, &mutation);
                let got = decision(product, &serde_json::to_vec(&body).unwrap());
                evaluated += 1;
                if got == Some(Decision::Approved) {
                    assert!(
                        approvable(product, &body),
                        "{name}: {pointer} {mutation:?} approved: {body}"
                    );
                }
                if !relevant(product, pointer) {
                    assert_eq!(
                        got,
                        Some(Decision::Approved),
                        "{name}: {pointer} {mutation:?} decides nothing but changed the decision"
                    );
                }
            }
        }
    }
    assert!(evaluated > 500, "only {evaluated} mutations");
}

fn pool() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(2),
            Just(3),
            Just(7),
            any::<i64>()
        ]
        .prop_map(|n| json!(n)),
        prop_oneof![
            Just(50.5f64),
            Just(100.0),
            Just(100.5),
            Just(-0.5),
            any::<f64>()
        ]
        .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just("Success"),
            Just("Failure"),
            Just("InProcess"),
            Just("VoidTimeout"),
            Just("Y"),
            Just("N"),
            Just("PASS"),
            Just("FAIL"),
            Just("SUCCESS"),
            Just("S"),
            Just("true"),
            Just("false"),
            Just("80"),
            Just("NaN"),
            Just("inf"),
            Just("-1"),
            Just(""),
            Just("ZZ_UNKNOWN"),
        ]
        .prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Remove),
        4 => pool().prop_map(Mutation::Replace),
    ]
}

/// A fixture with 1 to 4 of its decision fields (or any field) mutated at once.
fn mutated_fixture() -> impl Strategy<Value = (Product, Value)> {
    (
        0..APPROVING_FIXTURES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), mutation()), 1..5),
    )
        .prop_map(|(i, changes)| {
            let (product, name) = APPROVING_FIXTURES[i];
            let mut body = fixture_json(name);
            let mut all = Vec::new();
            pointers(&body, "", &mut all);
            for (index, mutation) in changes {
                let pointer = index.get(&all).clone();
                body = apply(body, &pointer, &mutation);
            }
            (product, body)
        })
}

/// The decision fields of each product: an approving value and values that must block.
fn decision_fields(product: Product) -> Vec<(&'static str, Value, Vec<Value>)> {
    let f = |pointer, approving, blocking: Value| {
        (
            pointer,
            approving,
            blocking.as_array().cloned().unwrap_or_default(),
        )
    };
    match product {
        Product::FaceCapture => vec![
            f(
                "/faceCaptureResult",
                json!("Success"),
                json!(["Failure", "InProcess", "VoidTimeout", "success"]),
            ),
            f("/extInfo/faceAttack", json!(false), json!([true, "false"])),
            f(
                "/extInfo/quality",
                json!("99.4"),
                json!(["NaN", 150, "abc"]),
            ),
            f(
                "/extInfo/qualityPassed",
                json!(true),
                json!([false, "true"]),
            ),
            f(
                "/extInfo/deviceRisk/riskLevel",
                json!(0),
                json!([2, 3, 7, "2"]),
            ),
        ],
        Product::FaceCompare => vec![
            f("/samePerson", json!(true), json!([false, "true"])),
            f(
                "/face1ImageQualityResult",
                json!("PASS"),
                json!(["FAIL", "pass"]),
            ),
            f(
                "/face2ImageQualityResult",
                json!("PASS"),
                json!(["FAIL", "pass"]),
            ),
            f("/score", json!(88.2), json!(["NaN", -1, 101])),
        ],
        Product::Connect => vec![
            f(
                "/connectResult",
                json!("Success"),
                json!(["Failure", "InProcess", "VoidTimeout"]),
            ),
            f(
                "/extFaceInfo/faceAttack",
                json!(false),
                json!([true, "false"]),
            ),
            f("/extFaceInfo/faceScore", json!(89.1), json!(["NaN", 200])),
            f(
                "/extFaceInfo/deeperResult",
                json!("Success"),
                json!(["N", "Failure", ""]),
            ),
        ],
        Product::IdRecognition => vec![
            f("/extInfo/recognitionResult", json!("Y"), json!(["N", "y"])),
            f(
                "/extInfo/recognitionErrorCode",
                json!(""),
                json!(["BLUR", "UNKNOWN"]),
            ),
            f(
                "/extInfo/spoofResult/TAMPER_CHECK",
                json!("Y"),
                json!(["N", "U"]),
            ),
            f(
                "/extInfo/spoofResult/NEW_CHECK",
                json!("Y"),
                json!(["N", "U"]),
            ),
            f("/extInfo/deeperResult", json!("Y"), json!(["N", "Success"])),
            f("/extInfo/uploadEnabledResult", json!("N"), json!(["maybe"])),
        ],
    }
}

/// What a structured body puts in one field.
#[derive(Debug, Clone)]
enum Choice {
    Absent,
    Approving,
    Blocking(prop::sample::Index),
    Other(Value),
}

/// Bodies built field by field: each decision field of the product is absent, approving, or
/// any value of the pool (wrong type, unknown, out of range), under every result code of the
/// tables (and unknown ones). Approving values are likely, so approvals are frequent and the
/// one field that should block them is what varies.
fn structured() -> impl Strategy<Value = (Product, Value)> {
    let code = prop_oneof![
        6 => Just("SUCCESS"),
        1 => prop_oneof![
            Just("PROCESSING"), Just("UNUSABLE"), Just("LIMIT_EXCEEDED"), Just("NOT_SAME_PERSON"),
            Just("UNABLE_GET_IMAGE"), Just("SYSTEM_ERROR"), Just("success"), Just("NEW_CODE"),
        ],
    ];
    let status = prop_oneof![4 => Just(Some("S")), 1 => Just(Some("F")), 1 => Just(None)];
    let choice = prop_oneof![
        1 => Just(Choice::Absent),
        6 => Just(Choice::Approving),
        1 => any::<prop::sample::Index>().prop_map(Choice::Blocking),
        1 => pool().prop_map(Choice::Other),
    ];
    (
        prop::sample::select(Product::ALL.to_vec()),
        code,
        status,
        prop::collection::vec(choice, 6),
    )
        .prop_map(|(product, code, status, choices)| {
            let mut body = json!({"result": {"resultCode": code, "resultMessage": "x"}});
            if let Some(status) = status {
                body["result"]["resultStatus"] = json!(status);
            }
            for ((pointer, approving, blocking), choice) in
                decision_fields(product).into_iter().zip(choices)
            {
                let value = match choice {
                    Choice::Absent => continue,
                    Choice::Approving => approving,
                    Choice::Blocking(index) => index.get(&blocking).clone(),
                    Choice::Other(value) => value,
                };
                body = crate::engine_table::set(body, pointer, value);
            }
            (product, body)
        })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        pool(),
        "[a-zA-Z0-9 ._-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("result".to_string()),
                        Just("resultCode".to_string()),
                        Just("resultStatus".to_string()),
                        Just("extInfo".to_string()),
                        Just("extFaceInfo".to_string()),
                        Just("faceAttack".to_string()),
                        Just("quality".to_string()),
                        Just("samePerson".to_string()),
                        Just("connectResult".to_string()),
                        Just("faceCaptureResult".to_string()),
                        Just("recognitionResult".to_string()),
                        Just("spoofResult".to_string()),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner,
                ),
                0..5,
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn combined_mutations_of_approving_fixtures((product, body) in mutated_fixture()) {
        check(product, &body)?;
    }

    #[test]
    fn structured_bodies((product, body) in structured()) {
        check(product, &body)?;
    }

    #[test]
    fn arbitrary_json_with_a_success_envelope(
        product in prop::sample::select(Product::ALL.to_vec()),
        mut body in arbitrary_json(),
        wrap in any::<bool>(),
    ) {
        if wrap {
            body = json!({"result": {"resultCode": "SUCCESS", "resultStatus": "S"}, "extInfo": body});
        }
        check(product, &body)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        product in prop::sample::select(Product::ALL.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = decision(product, &bytes);
    }
}
