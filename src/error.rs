//! The service's error catalogue (docs/design.md, Errors): every way a request can end without a
//! verdict, as one enum of stable reasons. `grpc::status` turns these into `tonic::Status`
//! with `google.rpc.ErrorInfo` in one place; the CLI prints the same reasons.

use std::fmt;

use crate::domain::{UpstreamFailure, UpstreamFailureReport};

/// The `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "zoloz-verdict";

/// A stable, machine-readable error reason (`ErrorInfo.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// A request field is invalid (with field violations).
    InvalidRequest,
    /// The request names a tenant that is not configured.
    UnknownTenant,
    /// The request names a policy that is not configured.
    UnknownPolicy,
    /// ZOLOZ said the request was wrong.
    UpstreamInvalidArgument,
    /// ZOLOZ refused our credentials or configuration.
    UpstreamAuthRejected,
    /// ZOLOZ rate-limited us (or answered HTTP 429).
    UpstreamRateLimited,
    /// The ZOLOZ product quota is used up.
    UpstreamQuotaExhausted,
    /// ZOLOZ is failing or unreachable (after retries).
    UpstreamUnavailable,
    /// ZOLOZ did not answer within the caller's deadline.
    UpstreamTimeout,
    /// The response signature is missing or invalid, or its `Response-Time` is stale.
    UpstreamSignatureInvalid,
    /// A signed response that does not parse or decrypt.
    UpstreamMalformedResponse,
    /// The service is saturated and shed the request.
    Overloaded,
    /// The server is draining (SIGTERM): a Watch ends so another replica can take over.
    ShuttingDown,
    /// The audit sink stalled past its bounded wait: the verdict could not be recorded, so it
    /// is not returned.
    AuditUnavailable,
    /// The call carries no identity that a configured caller rule matches (no client
    /// certificate or bearer token of a known caller).
    CallerUnauthenticated,
    /// The caller is known but not granted what it asks for (a tenant, images).
    CallerNotPermitted,
}

impl ErrorReason {
    /// Every reason, for documentation tests and metrics.
    pub const ALL: [ErrorReason; 16] = [
        ErrorReason::InvalidRequest,
        ErrorReason::UnknownTenant,
        ErrorReason::UnknownPolicy,
        ErrorReason::UpstreamInvalidArgument,
        ErrorReason::UpstreamAuthRejected,
        ErrorReason::UpstreamRateLimited,
        ErrorReason::UpstreamQuotaExhausted,
        ErrorReason::UpstreamUnavailable,
        ErrorReason::UpstreamTimeout,
        ErrorReason::UpstreamSignatureInvalid,
        ErrorReason::UpstreamMalformedResponse,
        ErrorReason::Overloaded,
        ErrorReason::ShuttingDown,
        ErrorReason::AuditUnavailable,
        ErrorReason::CallerUnauthenticated,
        ErrorReason::CallerNotPermitted,
    ];

    /// The `ErrorInfo.reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::InvalidRequest => "INVALID_REQUEST",
            ErrorReason::UnknownTenant => "UNKNOWN_TENANT",
            ErrorReason::UnknownPolicy => "UNKNOWN_POLICY",
            ErrorReason::UpstreamInvalidArgument => "UPSTREAM_INVALID_ARGUMENT",
            ErrorReason::UpstreamAuthRejected => "UPSTREAM_AUTH_REJECTED",
            ErrorReason::UpstreamRateLimited => "UPSTREAM_RATE_LIMITED",
            ErrorReason::UpstreamQuotaExhausted => "UPSTREAM_QUOTA_EXHAUSTED",
            ErrorReason::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorReason::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorReason::UpstreamSignatureInvalid => "UPSTREAM_SIGNATURE_INVALID",
            ErrorReason::UpstreamMalformedResponse => "UPSTREAM_MALFORMED_RESPONSE",
            ErrorReason::Overloaded => "OVERLOADED",
            ErrorReason::ShuttingDown => "SHUTTING_DOWN",
            ErrorReason::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorReason::CallerUnauthenticated => "CALLER_UNAUTHENTICATED",
            ErrorReason::CallerNotPermitted => "CALLER_NOT_PERMITTED",
        }
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<UpstreamFailure> for ErrorReason {
    fn from(failure: UpstreamFailure) -> Self {
        match failure {
            UpstreamFailure::InvalidArgument => ErrorReason::UpstreamInvalidArgument,
            UpstreamFailure::AuthRejected => ErrorReason::UpstreamAuthRejected,
            UpstreamFailure::RateLimited => ErrorReason::UpstreamRateLimited,
            UpstreamFailure::QuotaExhausted => ErrorReason::UpstreamQuotaExhausted,
            UpstreamFailure::Unavailable => ErrorReason::UpstreamUnavailable,
        }
    }
}

/// The longest upstream `resultMessage` quoted in an error message.
const MAX_UPSTREAM_MESSAGE_CHARS: usize = 200;

impl From<UpstreamFailureReport> for ServiceError {
    /// A failure result code: the reason from the one classification, the raw code and status
    /// as metadata, ZOLOZ's message (cut to 200 characters) in the text.
    fn from(report: UpstreamFailureReport) -> Self {
        let mut message = format!("zoloz answered {}", report.result_code);
        if let Some(upstream) = report.result_message.as_deref().filter(|m| !m.is_empty()) {
            let cut: String = upstream.chars().take(MAX_UPSTREAM_MESSAGE_CHARS).collect();
            message.push_str(": ");
            message.push_str(&cut);
        }
        ServiceError::new(report.failure.into(), message)
            .with_upstream(Some(report.result_code), report.result_status)
    }
}

/// One invalid request field (becomes a `google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, e.g. `transaction_id`.
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// A request that ended without a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The stable reason.
    pub reason: ErrorReason,
    /// A human-readable message: lower case, no trailing period, no secrets or personal data.
    pub message: String,
    /// The raw upstream `resultCode`, when ZOLOZ sent one.
    pub upstream_code: Option<String>,
    /// The raw upstream `resultStatus`, when ZOLOZ sent one.
    pub upstream_status: Option<String>,
    /// Invalid request fields (only for `InvalidRequest`).
    pub violations: Vec<FieldViolation>,
}

impl ServiceError {
    /// An error with a reason and a message.
    pub fn new(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            upstream_code: None,
            upstream_status: None,
            violations: Vec::new(),
        }
    }

    /// Adds the raw upstream code and status.
    pub fn with_upstream(mut self, code: Option<String>, status: Option<String>) -> Self {
        self.upstream_code = code;
        self.upstream_status = status;
        self
    }

    /// An `InvalidRequest` error from field violations.
    pub fn invalid_request(violations: Vec<FieldViolation>) -> Self {
        let message = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            violations,
            ..Self::new(ErrorReason::InvalidRequest, message)
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for ServiceError {}

/// An error and its causes, joined with `: ` (the Display of hyper's, reqwest's and tonic's
/// transport errors alone is terse: "connection error", "transport error").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
