//! The verdict and [`evaluate`]: facts and a policy in, one decision out, following the decision
//! table (docs/design.md). The per-product readings live in [`super::rules`]; this file
//! holds what all products share: the result code, the product state, the fail-safe rule and
//! the decision itself.

use std::fmt;

use crate::domain::Product;
use crate::domain::facts::{Envelope, Facts, Observed, ProductFacts, field};
use crate::domain::policy::Policy;
use crate::domain::reason::{Decision, Effect, Reason, ReasonCode};
use crate::domain::result_code::{CodeClass, UpstreamFailure, classify_result_code};
use crate::domain::rules;
use crate::domain::signals::Signals;

/// The verdict on one checkresult response.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// For REJECTED and EXPIRED, whether a new attempt by the same user may pass.
    pub retryable: bool,
    /// Every signal that contributed, strongest effect first (stable).
    pub reasons: Vec<Reason>,
    /// The typed risk signals.
    pub signals: Signals,
    /// The ZOLOZ envelope and product state.
    pub upstream: UpstreamSummary,
    /// The policy that decided.
    pub policy: PolicyRef,
}

impl Verdict {
    /// The reason codes, in verdict order.
    pub fn reason_codes(&self) -> Vec<ReasonCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }
}

/// The policy that decided a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    /// Its name.
    pub name: String,
    /// Its content hash ([`Policy::version`]).
    pub version: String,
}

/// The ZOLOZ envelope of the response a verdict came from. Values are the raw strings (the
/// JSON text when a field had another type); empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamSummary {
    /// `result.resultCode`.
    pub result_code: String,
    /// `result.resultStatus`.
    pub result_status: String,
    /// `result.resultMessage`.
    pub result_message: String,
    /// The product state (`faceCaptureResult`, `connectResult`, ID Recognition's
    /// `recognitionResult`); empty when the product or API version reports none.
    pub product_state: String,
    /// The JSON pointer of the product state, when there is one.
    pub product_state_field: String,
}

/// The response carries a failure result code (per [`classify_result_code`]): no verdict can be
/// reached and the caller gets an error instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFailureReport {
    /// Which kind of failure.
    pub failure: UpstreamFailure,
    /// The raw `resultCode`.
    pub result_code: String,
    /// The raw `resultStatus`, when present.
    pub result_status: Option<String>,
    /// The raw `resultMessage`, when present.
    pub result_message: Option<String>,
}

impl fmt::Display for UpstreamFailureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zoloz answered {}", self.result_code)?;
        if let Some(status) = &self.result_status {
            write!(f, " (status {status})")?;
        }
        if let Some(message) = self.result_message.as_deref().filter(|m| !m.is_empty()) {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UpstreamFailureReport {}

/// Decides one response under a policy. Pure and synchronous.
///
/// Returns `Err` only for a failure result code (`SYSTEM_ERROR`, `SIGNATURE_INVALID`, …); every
/// other response, however incomplete or strange, gets a verdict, and that verdict is APPROVED
/// only with the product's positive evidence and no REVIEW or REJECT reason.
pub fn evaluate(facts: &Facts, policy: &Policy) -> Result<Verdict, UpstreamFailureReport> {
    let product = facts.product();
    let mut findings = Findings::new(policy);
    let outcome = read_result_code(product, &facts.envelope, &mut findings)?;
    for mismatch in &facts.shape_mismatches {
        findings.add(
            ReasonCode::UnrecognizedUpstreamValue,
            &mismatch.field,
            Some(&mismatch.raw),
            format!("{} is not {}", mismatch.field, mismatch.expected),
        );
    }
    if let Some(what) = &facts.inconsistency {
        findings.add(
            ReasonCode::UpstreamInconsistent,
            "",
            None,
            format!("ZOLOZ answered this transaction with different terminal facts before: {what}"),
        );
    }
    let reading = match &facts.detail {
        ProductFacts::FaceCapture(f) => rules::face_capture(f, outcome, &mut findings),
        ProductFacts::FaceCompare(f) => rules::face_compare(f, outcome, &mut findings),
        ProductFacts::Connect(f) => rules::connect(f, outcome, &mut findings),
        ProductFacts::IdRecognition(f) => rules::id_recognition(f, outcome, &mut findings),
    };

    let mut decision = decide(&findings.reasons);
    if decision == Decision::Approved && !reading.evidence {
        // The fail-safe rule: no positive evidence, no approval, whatever the policy lowered.
        let (field, raw) = if outcome == CodeOutcome::Success {
            (reading.evidence_field, reading.evidence_raw.as_deref())
        } else {
            (field::RESULT_CODE, facts.envelope.result_code.raw())
        };
        findings.add(
            ReasonCode::IncompleteResult,
            field,
            raw,
            format!(
                "no positive evidence of success: {}",
                evidence_rule(product)
            ),
        );
        decision = decide(&findings.reasons);
    }

    if facts.inconsistency.is_some() {
        // Two terminal answers that contradict each other: neither decides, the reason does
        // (REVIEW_REQUIRED by default; REJECTED where the policy raises it).
        let raised = findings
            .reasons
            .iter()
            .any(|r| r.code == ReasonCode::UpstreamInconsistent && r.effect == Effect::Reject);
        decision = if raised {
            Decision::Rejected
        } else {
            Decision::ReviewRequired
        };
    }

    let mut reasons = findings.reasons;
    // The reasons of the deciding effect first (a REJECTED verdict that also timed out lists its
    // REJECT reasons before SESSION_EXPIRED), then the others strongest first; stable.
    let deciding = deciding_effect(decision);
    reasons.sort_by_key(|r| std::cmp::Reverse((r.effect == deciding, r.effect.strength())));
    let retryable = retryable(decision, &reasons);
    let (product_state, product_state_field) = match reading.state {
        Some((pointer, state)) => (state, pointer.to_string()),
        None => (String::new(), String::new()),
    };
    Ok(Verdict {
        decision,
        retryable,
        reasons,
        signals: reading.signals,
        upstream: UpstreamSummary {
            result_code: text(&facts.envelope.result_code),
            result_status: text(&facts.envelope.result_status),
            result_message: text(&facts.envelope.result_message),
            product_state,
            product_state_field,
        },
        policy: PolicyRef {
            name: policy.name().to_string(),
            version: policy.version().to_string(),
        },
    })
}

/// What each product counts as positive evidence (docs/design.md, Fail safe).
pub fn evidence_rule(product: Product) -> &'static str {
    match product {
        Product::FaceCapture => {
            "face capture approves on resultCode SUCCESS with faceCaptureResult Success, or \
             (v1 api, no faceCaptureResult) faceAttack false with a quality score"
        }
        Product::FaceCompare => {
            "face compare approves on resultCode SUCCESS with samePerson true and both image \
             qualities PASS"
        }
        Product::Connect => {
            "connect approves on resultCode SUCCESS with connectResult Success, or (older api, \
             no connectResult) faceAttack false with a faceScore"
        }
        Product::IdRecognition => {
            "id recognition approves on resultCode SUCCESS with recognitionResult Y"
        }
    }
}

/// PENDING if in progress; else REJECTED if any REJECT reason is not retryable (a detected
/// attacker is never told to try again, which EXPIRED would); else EXPIRED if timed out; else
/// the strongest effect.
fn decide(reasons: &[Reason]) -> Decision {
    let any = |effect: Effect| reasons.iter().any(|r| r.effect == effect);
    if any(Effect::Pending) {
        return Decision::Pending;
    }
    if reasons
        .iter()
        .any(|r| r.effect == Effect::Reject && !r.retryable)
    {
        return Decision::Rejected;
    }
    if any(Effect::Expired) {
        return Decision::Expired;
    }
    match reasons
        .iter()
        .map(|r| r.effect)
        .max_by_key(|e| e.strength())
    {
        None | Some(Effect::Info) => Decision::Approved,
        Some(Effect::Review) => Decision::ReviewRequired,
        Some(Effect::Reject) => Decision::Rejected,
        // Handled above.
        Some(Effect::Pending) => Decision::Pending,
        Some(Effect::Expired) => Decision::Expired,
    }
}

/// The effect whose reasons a decision stands on.
fn deciding_effect(decision: Decision) -> Effect {
    match decision {
        Decision::Approved => Effect::Info,
        Decision::ReviewRequired => Effect::Review,
        Decision::Rejected => Effect::Reject,
        Decision::Pending => Effect::Pending,
        Decision::Expired => Effect::Expired,
    }
}

fn retryable(decision: Decision, reasons: &[Reason]) -> bool {
    if !matches!(decision, Decision::Rejected | Decision::Expired) {
        return false;
    }
    let deciding = deciding_effect(decision);
    reasons
        .iter()
        .filter(|r| r.effect == deciding)
        .all(|r| r.retryable)
}

fn text(observed: &Observed<String>) -> String {
    match observed {
        Observed::Missing => String::new(),
        Observed::Known { value, .. } => value.clone(),
        Observed::Unrecognized { raw } => raw.clone(),
    }
}

/// What the result code says before the product fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeOutcome {
    /// `SUCCESS`: the product fields decide.
    Success,
    /// `PROCESSING`: pending.
    Processing,
    /// A known business code of the product (its reason is already recorded).
    Business,
    /// Missing, not a string, or not a code of this product (recorded as INCOMPLETE_RESULT or
    /// UNRECOGNIZED_UPSTREAM_VALUE).
    Other,
}

/// The business result codes each product's API tables list, besides SUCCESS and PROCESSING.
fn business_code(product: Product, code: &str) -> Option<(ReasonCode, &'static str)> {
    use Product::*;
    use ReasonCode::*;
    Some(match (product, code) {
        (FaceCapture, "UNUSABLE") => (
            DeviceUnusable,
            "the device failed zoloz's usability check (UNUSABLE)",
        ),
        (FaceCapture | IdRecognition, "LIMIT_EXCEEDED") => (
            AttemptsExceeded,
            "the user made too many attempts in this transaction (LIMIT_EXCEEDED)",
        ),
        (FaceCompare, "UNABLE_GET_IMAGE") => (
            ImageUnusable,
            "an input image could not be used (UNABLE_GET_IMAGE)",
        ),
        (Connect, "NOT_SAME_PERSON") => (
            FaceMismatch,
            "the face does not match the enrolled face (NOT_SAME_PERSON)",
        ),
        (Connect, "UNABLE_GET_IMAGE") => (
            ReferenceImageUnavailable,
            "the enrolled reference image is unusable or invalid (UNABLE_GET_IMAGE)",
        ),
        (IdRecognition, "UNUSABLE") => (
            UserCooldown,
            "the user is blocked by the cool-down strategy (UNUSABLE)",
        ),
        _ => return None,
    })
}

fn read_result_code(
    product: Product,
    envelope: &Envelope,
    findings: &mut Findings<'_>,
) -> Result<CodeOutcome, UpstreamFailureReport> {
    let (code, raw) = match &envelope.result_code {
        Observed::Missing => {
            findings.add(
                ReasonCode::IncompleteResult,
                field::RESULT_CODE,
                None,
                "result.resultCode is missing",
            );
            return Ok(CodeOutcome::Other);
        }
        Observed::Unrecognized { raw } => {
            findings.add(
                ReasonCode::UnrecognizedUpstreamValue,
                field::RESULT_CODE,
                Some(raw),
                "result.resultCode is not a string",
            );
            return Ok(CodeOutcome::Other);
        }
        Observed::Known { value, raw } => (value.as_str(), raw.as_str()),
    };
    if let CodeClass::Failure(failure) = classify_result_code(code) {
        return Err(UpstreamFailureReport {
            failure,
            result_code: code.to_string(),
            result_status: envelope.result_status.value().cloned(),
            result_message: envelope.result_message.value().cloned(),
        });
    }
    match code {
        "SUCCESS" => {
            // SUCCESS comes with status S; anything else is an envelope we do not understand.
            match &envelope.result_status {
                Observed::Known { value, .. } if value == "S" => {}
                Observed::Missing => {}
                other => findings.add(
                    ReasonCode::UnrecognizedUpstreamValue,
                    field::RESULT_STATUS,
                    other.raw(),
                    "result.resultStatus contradicts resultCode SUCCESS (expected S)",
                ),
            }
            Ok(CodeOutcome::Success)
        }
        "PROCESSING" => {
            findings.add(
                ReasonCode::InProgress,
                field::RESULT_CODE,
                Some(raw),
                "the transaction is still in progress (PROCESSING)",
            );
            Ok(CodeOutcome::Processing)
        }
        _ => match business_code(product, code) {
            Some((reason, message)) => {
                findings.add(reason, field::RESULT_CODE, Some(raw), message);
                Ok(CodeOutcome::Business)
            }
            None => {
                findings.add(
                    ReasonCode::UnrecognizedUpstreamValue,
                    field::RESULT_CODE,
                    Some(raw),
                    format!(
                        "result.resultCode {raw} is not a known {} result",
                        product_words(product)
                    ),
                );
                Ok(CodeOutcome::Other)
            }
        },
    }
}

fn product_words(product: Product) -> &'static str {
    match product {
        Product::FaceCapture => "face capture",
        Product::FaceCompare => "face compare",
        Product::Connect => "connect",
        Product::IdRecognition => "id recognition",
    }
}

/// A lifecycle product state (`faceCaptureResult`, `connectResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// No state field (v1 Face Capture, older Connect).
    Absent,
    /// `Success`.
    Success,
    /// `Failure`.
    Failure,
    /// `VoidTimeout`.
    VoidTimeout,
    /// `InProcess`.
    InProcess,
    /// Anything else (recorded as UNRECOGNIZED_UPSTREAM_VALUE).
    Unknown,
}

impl State {
    /// Whether the state says the result is final (so a missing field is really missing).
    pub(crate) fn is_settled(self) -> bool {
        !matches!(self, State::InProcess | State::VoidTimeout)
    }
}

/// Reads a lifecycle state and records its reason.
pub(crate) fn read_state(
    findings: &mut Findings<'_>,
    pointer: &'static str,
    name: &str,
    observed: &Observed<String>,
    outcome: CodeOutcome,
) -> State {
    let raw = observed.raw();
    let state = match observed {
        Observed::Missing => return State::Absent,
        Observed::Unrecognized { .. } => State::Unknown,
        Observed::Known { value, .. } => match value.as_str() {
            "Success" => State::Success,
            "Failure" => State::Failure,
            "VoidTimeout" => State::VoidTimeout,
            "InProcess" => State::InProcess,
            _ => State::Unknown,
        },
    };
    match state {
        State::InProcess => findings.add(
            ReasonCode::InProgress,
            pointer,
            raw,
            format!("the transaction is still in progress ({name} InProcess)"),
        ),
        State::VoidTimeout => findings.add(
            ReasonCode::SessionExpired,
            pointer,
            raw,
            format!("the session ended without a result ({name} VoidTimeout)"),
        ),
        // A business result code already says why the transaction failed.
        State::Failure if matches!(outcome, CodeOutcome::Success | CodeOutcome::Other) => findings
            .add(
                ReasonCode::CaptureFailed,
                pointer,
                raw,
                format!("zoloz reported the attempt as failed ({name} Failure)"),
            ),
        State::Unknown => findings.add(
            ReasonCode::UnrecognizedUpstreamValue,
            pointer,
            raw,
            format!("{name} is not one of Success, Failure, VoidTimeout, InProcess"),
        ),
        _ => {}
    }
    state
}

/// What a product reading found besides reasons.
#[derive(Debug)]
pub(crate) struct Reading {
    /// Whether the product's positive evidence is present (docs/design.md, Fail safe).
    pub evidence: bool,
    /// Where the evidence would be, for the fail-safe reason.
    pub evidence_field: &'static str,
    /// The raw value there, if any.
    pub evidence_raw: Option<String>,
    /// The product state and its pointer.
    pub state: Option<(&'static str, String)>,
    /// The typed signals.
    pub signals: Signals,
}

/// The reasons found so far, with the policy that gives them their effects.
pub(crate) struct Findings<'p> {
    policy: &'p Policy,
    reasons: Vec<Reason>,
}

impl<'p> Findings<'p> {
    fn new(policy: &'p Policy) -> Self {
        Self {
            policy,
            reasons: Vec::new(),
        }
    }

    /// The policy that decides.
    pub(crate) fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// Records a reason (once per code and field).
    pub(crate) fn add(
        &mut self,
        code: ReasonCode,
        field: &str,
        upstream_value: Option<&str>,
        message: impl Into<String>,
    ) {
        self.push(code, field, upstream_value, message.into(), None, None);
    }

    /// Records a reason a number decided.
    pub(crate) fn add_scored(
        &mut self,
        code: ReasonCode,
        field: &str,
        upstream_value: Option<&str>,
        message: impl Into<String>,
        score: Option<f64>,
        threshold: f64,
    ) {
        self.push(
            code,
            field,
            upstream_value,
            message.into(),
            score,
            Some(threshold),
        );
    }

    fn push(
        &mut self,
        code: ReasonCode,
        field: &str,
        upstream_value: Option<&str>,
        message: String,
        score: Option<f64>,
        threshold: Option<f64>,
    ) {
        if self
            .reasons
            .iter()
            .any(|r| r.code == code && r.field == field)
        {
            return;
        }
        self.reasons.push(Reason {
            code,
            effect: self.policy.effect(code),
            retryable: code.retryable(),
            field: field.to_string(),
            upstream_value: upstream_value.map(str::to_string),
            message,
            score,
            threshold,
        });
    }
}
