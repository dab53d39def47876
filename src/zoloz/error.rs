//! What can go wrong talking to ZOLOZ, as kinds the gRPC layer maps to errors (docs/design.md).
//! Messages carry no body, key or signature.

use crate::domain::UpstreamFailure;
use crate::error::{ErrorReason, ServiceError};

/// Why a ZOLOZ call produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Connect, TLS, reset or read failure (after retries).
    #[error("zoloz unreachable after {attempts} attempt(s): {message}")]
    Transport {
        /// What failed.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A non-2xx HTTP status (after retries for 5xx and 429).
    #[error("zoloz answered http {status} after {attempts} attempt(s)")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// A signed, verified response whose result code is a failure (no verdict possible).
    #[error(
        "zoloz answered {code} ({status}) after {attempts} attempt(s): {}",
        cut(message)
    )]
    Failure {
        /// The failure kind.
        failure: UpstreamFailure,
        /// The raw resultCode.
        code: String,
        /// The raw resultStatus.
        status: String,
        /// The raw resultMessage (ZOLOZ's own text; no personal data in practice).
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The caller's deadline passed before ZOLOZ answered.
    #[error("zoloz did not answer within the deadline ({attempts} attempt(s))")]
    Timeout {
        /// Attempts made (including the one cut short).
        attempts: u32,
    },
    /// The response signature is missing or invalid, or its `Response-Time` is stale.
    #[error("response refused: {0}")]
    Signature(String),
    /// A signed answer byte for byte the same as one accepted for another transaction within
    /// the freshness window: a replay, or two transactions answered in the same second with
    /// identical bodies. A new attempt (a new second, a new signature) tells them apart.
    #[error("response refused: {0}")]
    Replayed(String),
    /// A signed response that does not decrypt or has no result envelope.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The request could not be built from the configuration (a header value, the
    /// encryption): nothing was sent, and no new attempt can do better.
    #[error("the request could not be built: {0}")]
    Request(String),
}

/// ZOLOZ's `resultMessage` quoted in errors, cut to 200 characters.
fn cut(message: &str) -> String {
    const MAX: usize = 200;
    if message.chars().count() > MAX {
        let mut cut: String = message.chars().take(MAX).collect();
        cut.push('…');
        cut
    } else {
        message.to_string()
    }
}

impl UpstreamError {
    /// The error catalogue reason.
    pub fn reason(&self) -> ErrorReason {
        match self {
            UpstreamError::Transport { .. } => ErrorReason::UpstreamUnavailable,
            UpstreamError::HttpStatus { status, .. } if *status == 429 => {
                ErrorReason::UpstreamRateLimited
            }
            UpstreamError::HttpStatus { .. } => ErrorReason::UpstreamUnavailable,
            UpstreamError::Failure { failure, .. } => (*failure).into(),
            UpstreamError::Timeout { .. } => ErrorReason::UpstreamTimeout,
            UpstreamError::Signature(_) | UpstreamError::Replayed(_) => {
                ErrorReason::UpstreamSignatureInvalid
            }
            UpstreamError::Malformed(_) => ErrorReason::UpstreamMalformedResponse,
            // Our configuration cannot make a request ZOLOZ would take: a credentials problem.
            UpstreamError::Request(_) => ErrorReason::UpstreamAuthRejected,
        }
    }

    /// A stable label for metrics (`transport`, `http_5xx`, `failure`, …).
    pub fn label(&self) -> &'static str {
        match self {
            UpstreamError::Transport { .. } => "transport",
            UpstreamError::HttpStatus { status, .. } if *status == 429 => "http_429",
            UpstreamError::HttpStatus { status, .. } if *status >= 500 => "http_5xx",
            UpstreamError::HttpStatus { .. } => "http_other",
            UpstreamError::Failure { .. } => "failure_code",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Signature(_) => "signature_invalid",
            UpstreamError::Replayed(_) => "replayed",
            UpstreamError::Malformed(_) => "malformed",
            UpstreamError::Request(_) => "request",
        }
    }

    /// Whether a new attempt may succeed (docs/protocol.md, Retries: transport failures, 5xx, 429,
    /// `SYSTEM_ERROR`, `PROCESS_TIMEOUT`, `REQUEST_TRAFFIC_EXCEED_LIMIT`). Configuration
    /// errors, bad signatures and malformed bodies are never retried; a replayed signature
    /// is, since the next answer carries a new one.
    pub fn is_retryable(&self) -> bool {
        match self {
            UpstreamError::Transport { .. } | UpstreamError::Replayed(_) => true,
            UpstreamError::HttpStatus { status, .. } => *status >= 500 || *status == 429,
            UpstreamError::Failure { failure, .. } => failure.is_retryable(),
            UpstreamError::Timeout { .. }
            | UpstreamError::Signature(_)
            | UpstreamError::Malformed(_)
            | UpstreamError::Request(_) => false,
        }
    }

    /// How many attempts were made, where known.
    pub fn attempts(&self) -> u32 {
        match self {
            UpstreamError::Transport { attempts, .. }
            | UpstreamError::HttpStatus { attempts, .. }
            | UpstreamError::Failure { attempts, .. }
            | UpstreamError::Timeout { attempts } => *attempts,
            UpstreamError::Signature(_)
            | UpstreamError::Replayed(_)
            | UpstreamError::Malformed(_) => 1,
            UpstreamError::Request(_) => 0,
        }
    }

    pub(crate) fn set_attempts(&mut self, n: u32) {
        match self {
            UpstreamError::Transport { attempts, .. }
            | UpstreamError::HttpStatus { attempts, .. }
            | UpstreamError::Failure { attempts, .. }
            | UpstreamError::Timeout { attempts } => *attempts = n,
            UpstreamError::Signature(_)
            | UpstreamError::Replayed(_)
            | UpstreamError::Malformed(_)
            | UpstreamError::Request(_) => {}
        }
    }
}

impl From<&UpstreamError> for ServiceError {
    fn from(err: &UpstreamError) -> Self {
        let error = ServiceError::new(err.reason(), err.to_string());
        match err {
            UpstreamError::Failure { code, status, .. } => {
                error.with_upstream(Some(code.clone()), Some(status.clone()))
            }
            _ => error,
        }
    }
}

impl From<UpstreamError> for ServiceError {
    fn from(err: UpstreamError) -> Self {
        ServiceError::from(&err)
    }
}
