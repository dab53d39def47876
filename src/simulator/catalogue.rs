//! The scenario catalogue: every behaviour the simulator can be asked for by transaction id
//! (`sim-<product>-<name>`), with a one-line description and the outcome the service should
//! reach under the default policy. Tests, the fault soak and the docs/simulator.md table all read it from
//! here.
//!
//! Expected reasons list every row of the decision table (docs/design.md) that the body
//! triggers, in table order, INFO rows included; a `Failure` state gives `CAPTURE_FAILED` only
//! when the result code gives no reason of its own (Connect `NOT_SAME_PERSON` is
//! `FACE_MISMATCH` alone), as the engine decides. Expected errors are `ErrorInfo` reasons
//! (docs/design.md, Errors); they assume the default freshness window (under an hour), retries
//! enabled, and, for `slow`, a caller deadline shorter than the simulator's `slow_delay`.

use std::fmt;
use std::sync::LazyLock;

use serde_json::{Value, json};

use super::bodies::{
    self, IMAGE, LARGE_IMAGE_1, LARGE_IMAGE_2, connect, face_capture, face_compare, id_recognition,
    result_only, seeds, with, without,
};
use crate::domain::Product;

/// The outcome the service should reach for a scenario, as plain strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A verdict: the decision name without its prefix (`APPROVED`, `REVIEW_REQUIRED`,
    /// `REJECTED`, `PENDING`, `EXPIRED`) and the reason codes without theirs
    /// (`LIVENESS_ATTACK`, …).
    Decision {
        /// The decision.
        decision: &'static str,
        /// The reason codes, in decision-table order.
        reasons: &'static [&'static str],
    },
    /// No verdict: an error with this `ErrorInfo` reason (`UPSTREAM_UNAVAILABLE`, …).
    Error {
        /// The `ErrorInfo` reason.
        reason: &'static str,
    },
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Decision {
                decision,
                reasons: [],
            } => f.write_str(decision),
            Expected::Decision { decision, reasons } => {
                write!(f, "{decision} ({})", reasons.join(", "))
            }
            Expected::Error { reason } => write!(f, "error {reason}"),
        }
    }
}

const fn decision(decision: &'static str, reasons: &'static [&'static str]) -> Expected {
    Expected::Decision { decision, reasons }
}
const fn approved(reasons: &'static [&'static str]) -> Expected {
    decision("APPROVED", reasons)
}
const fn rejected(reasons: &'static [&'static str]) -> Expected {
    decision("REJECTED", reasons)
}
const fn review(reasons: &'static [&'static str]) -> Expected {
    decision("REVIEW_REQUIRED", reasons)
}
const fn error(reason: &'static str) -> Expected {
    Expected::Error { reason }
}
const PENDING: Expected = decision("PENDING", &["IN_PROGRESS"]);
const EXPIRED: Expected = decision("EXPIRED", &["SESSION_EXPIRED"]);

/// One simulator behaviour, selected by the transaction id `sim-<product>-<name>`.
#[derive(Debug)]
pub struct Scenario {
    /// The product whose endpoint serves it.
    pub product: Product,
    /// The scenario name (`approve`, `liveness-attack`, …).
    pub name: &'static str,
    /// What the simulator answers, in one line.
    pub description: &'static str,
    /// What the service should conclude (the final outcome for scenarios that change over
    /// polls).
    pub expected: Expected,
    pub(crate) script: Script,
}

impl Scenario {
    /// The transaction id that selects this scenario: `sim-<product>-<name>`.
    pub fn transaction_id(&self) -> String {
        format!("sim-{}-{}", self.product.slug(), self.name)
    }

    /// Whether the expectation holds only when the service calls the v1 Face Capture API
    /// (a tenant with `face_capture_api = "v1"`): the v1 shape has no `faceCaptureResult`,
    /// which a v1a answer must carry.
    pub fn needs_face_capture_v1(&self) -> bool {
        self.product == Product::FaceCapture && matches!(self.name, "v1-approve" | "seed-v1")
    }

    /// The 1-based poll of a transaction id from which the answer no longer changes (1 for
    /// scenarios that always answer the same; 3 for `pending-then-*`).
    pub fn final_poll(&self) -> u64 {
        match &self.script {
            Script::Always(_) => 1,
            Script::Then { polls, .. } => polls + 1,
        }
    }
}

/// What a scenario answers, by poll number.
#[derive(Debug)]
pub(crate) enum Script {
    /// The same reply to every poll.
    Always(Reply),
    /// `first` to the first `polls` polls of a transaction id, `then` afterwards.
    Then {
        polls: u64,
        first: Reply,
        then: Reply,
    },
}

impl Script {
    /// The reply to the `poll`-th request (1-based) for a transaction id.
    pub(crate) fn reply(&self, poll: u64) -> &Reply {
        match self {
            Script::Always(reply) => reply,
            Script::Then { polls, first, then } => {
                if poll <= *polls {
                    first
                } else {
                    then
                }
            }
        }
    }
}

/// One answer.
#[derive(Debug)]
pub(crate) enum Reply {
    /// HTTP 200 with a ZOLOZ body, delivered as `delivery` says.
    Zoloz { body: Body, delivery: Delivery },
    /// What a proxy, load balancer or WAF in front of ZOLOZ answers: unsigned, not ZOLOZ's.
    Http {
        status: u16,
        content_type: &'static str,
        body: &'static str,
        retry_after: Option<&'static str>,
    },
}

/// A ZOLOZ body.
#[derive(Debug)]
pub(crate) enum Body {
    /// A template, finished per request by [`bodies::personalize`].
    Json(Value),
    /// Text sent verbatim (not JSON).
    Text(&'static str),
}

/// How a ZOLOZ body is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Signed with the ZOLOZ key, `Response-Time` now.
    Signed,
    /// Signed with a key that is not ZOLOZ's.
    BadSignature,
    /// No `Signature` header.
    Unsigned,
    /// Correctly signed, `Response-Time` one hour in the past.
    Stale,
    /// Signed, sent after the configured `slow_delay`.
    Slow,
    /// Cut in half, signed over the bytes actually sent.
    Truncated,
}

fn signed(body: Value) -> Reply {
    Reply::Zoloz {
        body: Body::Json(body),
        delivery: Delivery::Signed,
    }
}

fn always(body: Value) -> Script {
    Script::Always(signed(body))
}

fn faulty(body: Value, delivery: Delivery) -> Script {
    Script::Always(Reply::Zoloz {
        body: Body::Json(body),
        delivery,
    })
}

fn http_500() -> Reply {
    Reply::Http {
        status: 500,
        content_type: "text/plain; charset=UTF-8",
        body: "Internal Server Error",
        retry_after: None,
    }
}

/// A WAF's block page (what ZOLOZ's edge answers, for example, to a request without a
/// `User-Agent`).
pub(crate) const WAF_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n\
<body><h1>403 Forbidden</h1><p>The request was blocked by the web application firewall.</p>\n\
<p>Reference: sim-waf-0000000000</p></body></html>\n";

/// A body that is signed but not JSON (a Python dict printed instead of serialized).
const NOT_JSON: &str =
    "{'result': {'resultCode': 'SUCCESS', 'resultStatus': 'S', 'resultMessage': 'success'}}";

/// Every scenario, product by product.
pub fn catalogue() -> &'static [Scenario] {
    static CATALOGUE: LazyLock<Vec<Scenario>> = LazyLock::new(|| {
        Product::ALL
            .into_iter()
            .flat_map(|product| {
                let basics = Basics::of(product);
                let mut list = basics.business(product);
                list.extend(specific(product));
                list.extend(basics.faults(product));
                list
            })
            .collect()
    });
    &CATALOGUE
}

/// The scenario `name` of `product`.
pub fn find(product: Product, name: &str) -> Option<&'static Scenario> {
    catalogue()
        .iter()
        .find(|s| s.product == product && s.name == name)
}

/// The catalogue as a Markdown table (product, transaction id, what it returns, expected
/// outcome): the scenario list of docs/simulator.md, printed by `zoloz-verdict simulator --list-scenarios`.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| product | transaction id | returns | expected (default policy) |\n\
         | --- | --- | --- | --- |\n",
    );
    for s in catalogue() {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            s.product.slug(),
            s.transaction_id(),
            s.description,
            s.expected
        ));
    }
    out
}

/// The bodies every product's common scenarios are built from.
struct Basics {
    approve: Value,
    reject: Value,
    reject_description: &'static str,
    reject_expected: Expected,
    pending: Value,
}

impl Basics {
    fn of(product: Product) -> Self {
        match product {
            Product::FaceCapture => Basics {
                approve: face_capture::approve(),
                reject: fc_liveness_attack(),
                reject_description: "the typical rejection: a liveness attack (same as liveness-attack)",
                reject_expected: rejected(&["CAPTURE_FAILED", "LIVENESS_ATTACK"]),
                pending: face_capture::pending(),
            },
            Product::FaceCompare => Basics {
                approve: face_compare::approve(),
                reject: fcmp_mismatch(),
                reject_description: "the typical rejection: not the same person (same as mismatch)",
                reject_expected: rejected(&["FACE_MISMATCH"]),
                pending: face_compare::pending(),
            },
            Product::Connect => Basics {
                approve: connect::approve(),
                reject: connect_not_same_person(),
                reject_description: "the typical rejection: NOT_SAME_PERSON (same as not-same-person)",
                reject_expected: rejected(&["FACE_MISMATCH"]),
                pending: connect::pending(),
            },
            Product::IdRecognition => Basics {
                approve: id_recognition::approve(),
                reject: id_recognition::spoof_failed("TAMPER_CHECK"),
                reject_description: "the typical rejection: a tampered document (same as tampered)",
                reject_expected: rejected(&["DOC_TAMPERED"]),
                pending: id_recognition::pending(),
            },
        }
    }

    fn business(&self, product: Product) -> Vec<Scenario> {
        let pending_then = |body: &Value| Script::Then {
            polls: 2,
            first: signed(self.pending.clone()),
            then: signed(body.clone()),
        };
        vec![
            scenario(
                product,
                "approve",
                "SUCCESS with every check passed (also the answer to any id not starting with sim-)",
                approved(&[]),
                always(self.approve.clone()),
            ),
            scenario(
                product,
                "reject",
                self.reject_description,
                self.reject_expected,
                always(self.reject.clone()),
            ),
            scenario(
                product,
                "pending",
                "PROCESSING on every poll",
                PENDING,
                always(self.pending.clone()),
            ),
            scenario(
                product,
                "pending-then-approve",
                "PROCESSING for the first two polls of the transaction id, then approve",
                approved(&[]),
                pending_then(&self.approve),
            ),
            scenario(
                product,
                "pending-then-reject",
                "PROCESSING for the first two polls of the transaction id, then reject",
                self.reject_expected,
                pending_then(&self.reject),
            ),
        ]
    }

    fn faults(&self, product: Product) -> Vec<Scenario> {
        let approve = || self.approve.clone();
        let code = |code: &str, status: &str, message: &str| result_only(code, status, message);
        vec![
            scenario(
                product,
                "bad-signature",
                "the approve body signed with a key that is not ZOLOZ's",
                error("UPSTREAM_SIGNATURE_INVALID"),
                faulty(approve(), Delivery::BadSignature),
            ),
            scenario(
                product,
                "unsigned",
                "the approve body without a Signature header",
                error("UPSTREAM_SIGNATURE_INVALID"),
                faulty(approve(), Delivery::Unsigned),
            ),
            scenario(
                product,
                "stale-response",
                "the approve body, correctly signed, Response-Time one hour in the past",
                error("UPSTREAM_SIGNATURE_INVALID"),
                faulty(approve(), Delivery::Stale),
            ),
            scenario(
                product,
                "slow",
                "the approve body after slow_delay (3 s by default); expected assumes a shorter caller deadline",
                error("UPSTREAM_TIMEOUT"),
                faulty(approve(), Delivery::Slow),
            ),
            scenario(
                product,
                "http-500",
                "HTTP 500 with a plain-text body, unsigned, on every poll",
                error("UPSTREAM_UNAVAILABLE"),
                Script::Always(http_500()),
            ),
            scenario(
                product,
                "http-429",
                "HTTP 429 with Retry-After: 1, unsigned, on every poll",
                error("UPSTREAM_RATE_LIMITED"),
                Script::Always(Reply::Http {
                    status: 429,
                    content_type: "text/plain; charset=UTF-8",
                    body: "Too Many Requests",
                    retry_after: Some("1"),
                }),
            ),
            scenario(
                product,
                "html-waf",
                "HTTP 403 with an HTML block page, as a WAF answers (a non-retryable transport error)",
                error("UPSTREAM_UNAVAILABLE"),
                Script::Always(Reply::Http {
                    status: 403,
                    content_type: "text/html; charset=UTF-8",
                    body: WAF_PAGE,
                    retry_after: None,
                }),
            ),
            scenario(
                product,
                "truncated",
                "the approve body cut in half, signed over the bytes sent",
                error("UPSTREAM_MALFORMED_RESPONSE"),
                faulty(approve(), Delivery::Truncated),
            ),
            scenario(
                product,
                "malformed-json",
                "a correctly signed body that is not JSON",
                error("UPSTREAM_MALFORMED_RESPONSE"),
                Script::Always(Reply::Zoloz {
                    body: Body::Text(NOT_JSON),
                    delivery: Delivery::Signed,
                }),
            ),
            scenario(
                product,
                "system-error",
                "SYSTEM_ERROR (status U) on every poll",
                error("UPSTREAM_UNAVAILABLE"),
                always(code("SYSTEM_ERROR", "U", "system error")),
            ),
            scenario(
                product,
                "system-error-then-approve",
                "SYSTEM_ERROR on the first poll of the transaction id, then approve (retry tests)",
                approved(&[]),
                Script::Then {
                    polls: 1,
                    first: signed(code("SYSTEM_ERROR", "U", "system error")),
                    then: signed(approve()),
                },
            ),
            scenario(
                product,
                "http-500-then-approve",
                "HTTP 500 on the first poll of the transaction id, then approve (retry tests)",
                approved(&[]),
                Script::Then {
                    polls: 1,
                    first: http_500(),
                    then: signed(approve()),
                },
            ),
            scenario(
                product,
                "process-timeout",
                "PROCESS_TIMEOUT (status F) on every poll",
                error("UPSTREAM_UNAVAILABLE"),
                always(code("PROCESS_TIMEOUT", "F", "process timeout")),
            ),
            scenario(
                product,
                "rate-limited",
                "REQUEST_TRAFFIC_EXCEED_LIMIT (status F) on every poll",
                error("UPSTREAM_RATE_LIMITED"),
                always(code(
                    "REQUEST_TRAFFIC_EXCEED_LIMIT",
                    "F",
                    "request traffic exceeds the limit",
                )),
            ),
            scenario(
                product,
                "quota-exceeded",
                "PRODUCT_QUOTA_LIMIT (status F)",
                error("UPSTREAM_QUOTA_EXHAUSTED"),
                always(code(
                    "PRODUCT_QUOTA_LIMIT",
                    "F",
                    "the product quota is used up",
                )),
            ),
            scenario(
                product,
                "invalid-argument",
                "INVALID_ARGUMENT (status F)",
                error("UPSTREAM_INVALID_ARGUMENT"),
                always(code(
                    "INVALID_ARGUMENT",
                    "F",
                    "input parameters are invalid",
                )),
            ),
        ]
    }
}

fn scenario(
    product: Product,
    name: &'static str,
    description: &'static str,
    expected: Expected,
    script: Script,
) -> Scenario {
    Scenario {
        product,
        name,
        description,
        expected,
        script,
    }
}

/// The product's own scenarios: one per decision-table row, its seeds, large images.
fn specific(product: Product) -> Vec<Scenario> {
    let rows: Vec<(&'static str, &'static str, Expected, Script)> = match product {
        Product::FaceCapture => face_capture_rows(),
        Product::FaceCompare => face_compare_rows(),
        Product::Connect => connect_rows(),
        Product::IdRecognition => id_recognition_rows(),
    };
    rows.into_iter()
        .map(|(name, description, expected, script)| {
            scenario(product, name, description, expected, script)
        })
        .collect()
}

type Row = (&'static str, &'static str, Expected, Script);

fn fc_liveness_attack() -> Value {
    with(
        face_capture::approve(),
        &[
            ("/faceCaptureResult", json!("Failure")),
            ("/extInfo/faceAttack", json!(true)),
        ],
    )
}

fn fc_device_risk(level: i64) -> Value {
    with(
        face_capture::approve(),
        &[("/extInfo/deviceRisk", json!({ "riskLevel": level }))],
    )
}

fn face_capture_rows() -> Vec<Row> {
    let approve = face_capture::approve;
    vec![
        (
            "expired",
            "SUCCESS, faceCaptureResult VoidTimeout, no extInfo",
            EXPIRED,
            always(with(
                without(approve(), &["/extInfo"]),
                &[("/faceCaptureResult", json!("VoidTimeout"))],
            )),
        ),
        (
            "failure",
            "SUCCESS, faceCaptureResult Failure, live and quality passed",
            rejected(&["CAPTURE_FAILED"]),
            always(with(approve(), &[("/faceCaptureResult", json!("Failure"))])),
        ),
        (
            "liveness-attack",
            "SUCCESS, faceCaptureResult Failure, faceAttack true",
            rejected(&["CAPTURE_FAILED", "LIVENESS_ATTACK"]),
            always(fc_liveness_attack()),
        ),
        (
            "quality-failed",
            "SUCCESS, faceCaptureResult Failure, qualityPassed false, faceAttack null",
            rejected(&["CAPTURE_FAILED", "FACE_QUALITY_FAILED"]),
            always(with(
                approve(),
                &[
                    ("/faceCaptureResult", json!("Failure")),
                    ("/extInfo/faceAttack", Value::Null),
                    ("/extInfo/quality", json!("21.5")),
                    ("/extInfo/qualityPassed", json!(false)),
                ],
            )),
        ),
        (
            "low-quality",
            "SUCCESS, quality 35 yet qualityPassed true (for policies with face_quality_min_score)",
            approved(&[]),
            always(with(approve(), &[("/extInfo/quality", json!("35.0"))])),
        ),
        (
            "device-risk-unknown",
            "approve with deviceRisk.riskLevel -1",
            approved(&["DEVICE_RISK_UNKNOWN"]),
            always(fc_device_risk(-1)),
        ),
        (
            "device-risk-none",
            "approve with deviceRisk.riskLevel 0",
            approved(&[]),
            always(fc_device_risk(0)),
        ),
        (
            "device-risk-low",
            "approve with deviceRisk.riskLevel 1",
            approved(&["DEVICE_RISK_LOW"]),
            always(fc_device_risk(1)),
        ),
        (
            "device-risk-medium",
            "approve with deviceRisk.riskLevel 2",
            review(&["DEVICE_RISK_MEDIUM"]),
            always(fc_device_risk(2)),
        ),
        (
            "device-risk-high",
            "approve with deviceRisk.riskLevel 3",
            rejected(&["DEVICE_RISK_HIGH"]),
            always(fc_device_risk(3)),
        ),
        (
            "unusable",
            "UNUSABLE (status F): the device failed the usability check",
            rejected(&["DEVICE_UNUSABLE"]),
            always(result_only(
                "UNUSABLE",
                "F",
                "the meta information does not pass the usability check",
            )),
        ),
        (
            "limit-exceeded",
            "LIMIT_EXCEEDED (status F)",
            rejected(&["ATTEMPTS_EXCEEDED"]),
            always(result_only(
                "LIMIT_EXCEEDED",
                "F",
                "exceeded the maximum number of attempts",
            )),
        ),
        (
            "v1-approve",
            "the v1 shape: faceAttack false and a numeric quality, no faceCaptureResult (expected at /api/v1/; at /api/v1a/ the missing state gives REVIEW_REQUIRED)",
            approved(&[]),
            always(face_capture::v1_approve()),
        ),
        (
            "unknown-state",
            "SUCCESS with faceCaptureResult Maybe (a state ZOLOZ never documented)",
            review(&["UNRECOGNIZED_UPSTREAM_VALUE"]),
            always(with(approve(), &[("/faceCaptureResult", json!("Maybe"))])),
        ),
        (
            "missing-evidence",
            "SUCCESS with neither faceCaptureResult nor extInfo",
            review(&["INCOMPLETE_RESULT"]),
            always(result_only("SUCCESS", "S", "success")),
        ),
        (
            "large-images",
            "approve with imageContent and extraImages.FACE_EYE_CLOSE of about 1.5 MB each (when isReturnImage is Y)",
            approved(&[]),
            always(with(
                approve(),
                &[
                    ("/extInfo/imageContent", json!(LARGE_IMAGE_1)),
                    (
                        "/extInfo/extraImages",
                        json!({ "FACE_EYE_CLOSE": LARGE_IMAGE_2 }),
                    ),
                ],
            )),
        ),
        (
            "seed-v1",
            "the v1 English document's response sample (expected at /api/v1/; at /api/v1a/ the missing state gives REVIEW_REQUIRED)",
            approved(&[]),
            always(seeds::parse(seeds::FACE_CAPTURE_V1)),
        ),
        (
            "seed-v1a",
            "the v1a Chinese document's response sample (deviceRisk 1)",
            approved(&["DEVICE_RISK_LOW"]),
            always(seeds::parse(seeds::FACE_CAPTURE_V1A)),
        ),
    ]
}

fn fcmp_mismatch() -> Value {
    with(
        face_compare::approve(),
        &[("/score", json!(12.5)), ("/samePerson", json!(false))],
    )
}

fn face_compare_rows() -> Vec<Row> {
    let approve = face_compare::approve;
    vec![
        (
            "quality-failed",
            "SUCCESS, face1ImageQualityResult FAIL, samePerson false",
            rejected(&["FACE_QUALITY_FAILED"]),
            always(with(
                approve(),
                &[
                    ("/face1ImageQualityResult", json!("FAIL")),
                    ("/score", json!(0.0)),
                    ("/samePerson", json!(false)),
                ],
            )),
        ),
        (
            "mismatch",
            "SUCCESS, both qualities PASS, samePerson false, score 12.5",
            rejected(&["FACE_MISMATCH"]),
            always(fcmp_mismatch()),
        ),
        (
            "low-score",
            "SUCCESS, samePerson true with score 55 (for policies with face_match_min_score)",
            approved(&[]),
            always(with(approve(), &[("/score", json!(55.0))])),
        ),
        (
            "unable-get-image",
            "UNABLE_GET_IMAGE (status F)",
            rejected(&["IMAGE_UNUSABLE"]),
            always(face_compare::failure(
                "UNABLE_GET_IMAGE",
                "F",
                "unable to get the face image",
            )),
        ),
        (
            "unknown-code",
            "a resultCode ZOLOZ never documented (FACE_COMPARE_UNDOCUMENTED, status F)",
            review(&["UNRECOGNIZED_UPSTREAM_VALUE"]),
            always(face_compare::failure(
                "FACE_COMPARE_UNDOCUMENTED",
                "F",
                "an undocumented result",
            )),
        ),
        (
            "seed",
            "the English document's response sample",
            approved(&[]),
            always(seeds::parse(seeds::FACE_COMPARE)),
        ),
    ]
}

fn connect_not_same_person() -> Value {
    with(
        connect::approve(),
        &[
            (
                "/result",
                bodies::result("NOT_SAME_PERSON", "F", "not the same person"),
            ),
            ("/connectResult", json!("Failure")),
            ("/extFaceInfo/faceScore", json!(21.4)),
        ],
    )
}

fn connect_rows() -> Vec<Row> {
    let approve = connect::approve;
    vec![
        (
            "expired",
            "SUCCESS, connectResult VoidTimeout, no extFaceInfo",
            EXPIRED,
            always(with(
                without(approve(), &["/extFaceInfo"]),
                &[("/connectResult", json!("VoidTimeout"))],
            )),
        ),
        (
            "failure",
            "SUCCESS, connectResult Failure, live, high score",
            rejected(&["CAPTURE_FAILED"]),
            always(with(approve(), &[("/connectResult", json!("Failure"))])),
        ),
        (
            "liveness-attack",
            "SUCCESS, connectResult Failure, faceAttack true",
            rejected(&["CAPTURE_FAILED", "LIVENESS_ATTACK"]),
            always(with(
                approve(),
                &[
                    ("/connectResult", json!("Failure")),
                    ("/extFaceInfo/faceAttack", json!(true)),
                ],
            )),
        ),
        (
            "not-same-person",
            "NOT_SAME_PERSON (status F), connectResult Failure, extFaceInfo with score 21.4",
            rejected(&["FACE_MISMATCH"]),
            always(connect_not_same_person()),
        ),
        (
            "deepfake",
            "SUCCESS, connectResult Success, deeperResult Failure",
            rejected(&["DEEPFAKE_DETECTED"]),
            always(with(
                approve(),
                &[
                    ("/extFaceInfo/deeperResult", json!("Failure")),
                    (
                        "/extFaceInfo/deeperResultDescription",
                        json!("deepfake risk, AIGC feature blacklib"),
                    ),
                ],
            )),
        ),
        (
            "reference-unavailable",
            "UNABLE_GET_IMAGE (status F): the enrolled image is unusable",
            review(&["REFERENCE_IMAGE_UNAVAILABLE"]),
            always(result_only(
                "UNABLE_GET_IMAGE",
                "F",
                "the registered image is unusable or invalid",
            )),
        ),
        (
            "low-score",
            "SUCCESS, connectResult Success with faceScore 55 (for policies with face_match_min_score)",
            approved(&[]),
            always(with(approve(), &[("/extFaceInfo/faceScore", json!(55.0))])),
        ),
        (
            "legacy-approve",
            "the older shape: no connectResult, faceAttack false and a faceScore",
            approved(&[]),
            always(json!({
                "result": bodies::result("SUCCESS", "S", "Success"),
                "extFaceInfo": {
                    "aliveImage": IMAGE,
                    "refImage": IMAGE,
                    "faceScore": 91.3,
                    "faceAttack": false
                }
            })),
        ),
        (
            "large-images",
            "approve with aliveImage and refImage of about 1.5 MB each (when isReturnImage is Y)",
            approved(&[]),
            always(with(
                approve(),
                &[
                    ("/extFaceInfo/aliveImage", json!(LARGE_IMAGE_1)),
                    ("/extFaceInfo/refImage", json!(LARGE_IMAGE_2)),
                ],
            )),
        ),
        (
            "seed",
            "the Japanese document's response sample",
            approved(&[]),
            always(seeds::parse(seeds::CONNECT)),
        ),
    ]
}

fn id_recognition_rows() -> Vec<Row> {
    use id_recognition::{not_recognized, spoof_failed};
    vec![
        (
            "doc-type-mismatch",
            "recognitionResult N, recognitionErrorCode NO_REQUIRED_ID",
            rejected(&["DOC_TYPE_MISMATCH"]),
            always(not_recognized(
                "NO_REQUIRED_ID",
                "the document is not of the required type",
            )),
        ),
        (
            "blurred",
            "recognitionResult N, recognitionErrorCode BLUR",
            rejected(&["DOC_BLURRED"]),
            always(not_recognized("BLUR", "the document image is blurred")),
        ),
        (
            "no-face",
            "recognitionResult N, recognitionErrorCode NO_FACE_DETECTED",
            rejected(&["DOC_FACE_NOT_DETECTED"]),
            always(not_recognized(
                "NO_FACE_DETECTED",
                "no face detected on the document",
            )),
        ),
        (
            "not-genuine",
            "recognitionResult N, recognitionErrorCode NOT_REAL_DOC",
            rejected(&["DOC_NOT_GENUINE"]),
            always(not_recognized(
                "NOT_REAL_DOC",
                "the document is detected as fake",
            )),
        ),
        (
            "overexposed",
            "recognitionResult N, recognitionErrorCode EXPOSURE",
            rejected(&["DOC_OVEREXPOSED"]),
            always(not_recognized(
                "EXPOSURE",
                "the document image is overexposed",
            )),
        ),
        (
            "recognition-failed",
            "recognitionResult N, recognitionErrorCode UNKNOWN",
            rejected(&["DOC_RECOGNITION_FAILED"]),
            always(not_recognized("UNKNOWN", "recognition failed")),
        ),
        (
            "tampered",
            "recognitionResult Y, spoofResult.TAMPER_CHECK N",
            rejected(&["DOC_TAMPERED"]),
            always(spoof_failed("TAMPER_CHECK")),
        ),
        (
            "material-check-failed",
            "recognitionResult Y, spoofResult.MATERIAL_CHECK N",
            rejected(&["DOC_MATERIAL_CHECK_FAILED"]),
            always(spoof_failed("MATERIAL_CHECK")),
        ),
        (
            "screen-recapture",
            "recognitionResult Y, spoofResult.SCREEN_RECAPTURE_CHECK N",
            rejected(&["DOC_SCREEN_RECAPTURE"]),
            always(spoof_failed("SCREEN_RECAPTURE_CHECK")),
        ),
        (
            "information-invalid",
            "recognitionResult Y, spoofResult.INFORMATION_CHECK N",
            rejected(&["DOC_INFORMATION_INVALID"]),
            always(spoof_failed("INFORMATION_CHECK")),
        ),
        (
            "security-feature-failed",
            "recognitionResult Y, spoofResult.SECURITY_FEATURE_CHECK N",
            rejected(&["DOC_SECURITY_FEATURE_FAILED"]),
            always(spoof_failed("SECURITY_FEATURE_CHECK")),
        ),
        (
            "deepfake",
            "recognitionResult Y, deeperResult N",
            rejected(&["DEEPFAKE_DETECTED"]),
            always(with(
                id_recognition::approve(),
                &[
                    ("/extInfo/deeperResult", json!("N")),
                    (
                        "/extInfo/deeperResultDescription",
                        json!("deepfake risk, AIGC feature blacklib"),
                    ),
                ],
            )),
        ),
        (
            "cooldown",
            "UNUSABLE (status F): the user is blocked by the cool-down strategy",
            rejected(&["USER_COOLDOWN"]),
            always(result_only(
                "UNUSABLE",
                "F",
                "user is blocked by the cooldown strategy",
            )),
        ),
        (
            "limit-exceeded",
            "LIMIT_EXCEEDED (status F)",
            rejected(&["ATTEMPTS_EXCEEDED"]),
            always(result_only(
                "LIMIT_EXCEEDED",
                "F",
                "user tried too many times within the same transaction",
            )),
        ),
        (
            "large-images",
            "approve with two imageContent pages of about 1.5 MB each (when isReturnImage is Y, the default)",
            approved(&[]),
            always(with(
                id_recognition::approve(),
                &[(
                    "/extInfo/imageContent",
                    json!([LARGE_IMAGE_1, LARGE_IMAGE_2]),
                )],
            )),
        ),
        (
            "seed",
            "the English document's response sample, typo corrected (deeperResult N)",
            rejected(&["DEEPFAKE_DETECTED"]),
            always(seeds::id_recognition_corrected()),
        ),
        (
            "seed-verbatim",
            "the English document's response sample verbatim, typo included: signed, not JSON",
            error("UPSTREAM_MALFORMED_RESPONSE"),
            Script::Always(Reply::Zoloz {
                body: Body::Text(seeds::ID_RECOGNITION_VERBATIM.trim_end()),
                delivery: Delivery::Signed,
            }),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::error::ErrorReason;
    use crate::pb;

    #[test]
    fn names_are_unique_and_ids_fit_zoloz_limits() {
        let mut seen = HashSet::new();
        for s in catalogue() {
            assert!(seen.insert(s.transaction_id()), "{}", s.transaction_id());
            assert!(s.transaction_id().len() <= 64, "{}", s.transaction_id());
            assert!(!s.description.contains('|'), "{}", s.name);
            assert_eq!(find(s.product, s.name).map(|f| f.name), Some(s.name));
        }
    }

    #[test]
    fn expectations_name_real_decisions_reasons_and_errors() {
        for s in catalogue() {
            match s.expected {
                Expected::Decision { decision, reasons } => {
                    assert!(
                        pb::Decision::from_str_name(&format!("DECISION_{decision}")).is_some(),
                        "{decision}"
                    );
                    for reason in reasons {
                        assert!(
                            pb::ReasonCode::from_str_name(&format!("REASON_CODE_{reason}"))
                                .is_some(),
                            "{}: {reason}",
                            s.name
                        );
                    }
                }
                Expected::Error { reason } => assert!(
                    ErrorReason::ALL.iter().any(|r| r.as_str() == reason),
                    "{reason}"
                ),
            }
        }
    }

    #[test]
    fn every_product_has_the_required_scenarios() {
        let common = [
            "approve",
            "reject",
            "pending",
            "pending-then-approve",
            "pending-then-reject",
            "bad-signature",
            "unsigned",
            "stale-response",
            "slow",
            "http-500",
            "http-429",
            "html-waf",
            "truncated",
            "malformed-json",
            "system-error",
            "system-error-then-approve",
            "http-500-then-approve",
            "process-timeout",
            "rate-limited",
            "quota-exceeded",
            "invalid-argument",
        ];
        let specific: [(Product, &[&str]); 4] = [
            (
                Product::FaceCapture,
                &[
                    "expired",
                    "failure",
                    "liveness-attack",
                    "quality-failed",
                    "low-quality",
                    "device-risk-unknown",
                    "device-risk-none",
                    "device-risk-low",
                    "device-risk-medium",
                    "device-risk-high",
                    "unusable",
                    "limit-exceeded",
                    "v1-approve",
                    "unknown-state",
                    "missing-evidence",
                    "large-images",
                    "seed-v1",
                    "seed-v1a",
                ],
            ),
            (
                Product::FaceCompare,
                &[
                    "quality-failed",
                    "mismatch",
                    "low-score",
                    "unable-get-image",
                    "unknown-code",
                    "seed",
                ],
            ),
            (
                Product::Connect,
                &[
                    "expired",
                    "failure",
                    "liveness-attack",
                    "not-same-person",
                    "deepfake",
                    "reference-unavailable",
                    "low-score",
                    "legacy-approve",
                    "large-images",
                    "seed",
                ],
            ),
            (
                Product::IdRecognition,
                &[
                    "doc-type-mismatch",
                    "blurred",
                    "no-face",
                    "not-genuine",
                    "overexposed",
                    "recognition-failed",
                    "tampered",
                    "material-check-failed",
                    "screen-recapture",
                    "information-invalid",
                    "security-feature-failed",
                    "deepfake",
                    "cooldown",
                    "limit-exceeded",
                    "large-images",
                    "seed",
                    "seed-verbatim",
                ],
            ),
        ];
        for (product, names) in specific {
            for name in common.iter().chain(names) {
                assert!(find(product, name).is_some(), "{product} {name}");
            }
            let count = catalogue().iter().filter(|s| s.product == product).count();
            assert_eq!(count, common.len() + names.len(), "{product}");
        }
    }

    #[test]
    fn then_scripts_change_after_their_polls() {
        let s = find(Product::Connect, "pending-then-approve").unwrap();
        assert_eq!(s.final_poll(), 3);
        let code = |poll| match s.script.reply(poll) {
            Reply::Zoloz {
                body: Body::Json(v),
                ..
            } => v["result"]["resultCode"].as_str().unwrap().to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(1), "PROCESSING");
        assert_eq!(code(2), "PROCESSING");
        assert_eq!(code(3), "SUCCESS");
        assert_eq!(find(Product::Connect, "approve").unwrap().final_poll(), 1);
    }

    #[test]
    fn table_has_one_row_per_scenario() {
        let table = markdown_table();
        assert_eq!(table.lines().count(), catalogue().len() + 2);
        assert!(table.contains(
            "| face-capture | `sim-face-capture-liveness-attack` | SUCCESS, faceCaptureResult Failure, faceAttack true | REJECTED (CAPTURE_FAILED, LIVENESS_ATTACK) |"
        ));
    }
}
