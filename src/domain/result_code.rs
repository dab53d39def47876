//! The one classification of ZOLOZ `result.resultCode` values into failures (no verdict can be
//! reached: the gRPC layer answers with an error) and outcomes (the engine decides, including
//! for codes it does not know, which become `UNRECOGNIZED_UPSTREAM_VALUE`). The transport uses
//! the same classification to decide what to retry.

/// Why an upstream answer is a failure rather than a business outcome (docs/protocol.md,
/// Result codes; docs/design.md, Errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamFailure {
    /// The request was wrong: `INVALID_ARGUMENT`, `PARAM_MISSING`, `PARAM_ILLEGAL`.
    InvalidArgument,
    /// Credentials or configuration: `SIGNATURE_INVALID`, `KEY_NOT_FOUND`, … and
    /// `MSG_PARSE_ERROR` (our message could not be read: usually an encryption mismatch).
    AuthRejected,
    /// `REQUEST_TRAFFIC_EXCEED_LIMIT`: retry later.
    RateLimited,
    /// `PRODUCT_QUOTA_LIMIT`: not retryable.
    QuotaExhausted,
    /// `SYSTEM_ERROR`, `PROCESS_TIMEOUT`: retryable.
    Unavailable,
}

impl UpstreamFailure {
    /// Whether checkresult may be retried after this failure.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            UpstreamFailure::RateLimited | UpstreamFailure::Unavailable
        )
    }
}

/// What a result code means before any product-specific reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    /// A business outcome (or an unknown code): the engine decides.
    Outcome,
    /// No verdict can be reached.
    Failure(UpstreamFailure),
}

/// Classifies a `resultCode`. Product-independent: the engine decides which outcome codes each
/// product knows.
pub fn classify_result_code(code: &str) -> CodeClass {
    use UpstreamFailure::*;
    let failure = match code {
        "INVALID_ARGUMENT" | "PARAM_MISSING" | "PARAM_ILLEGAL" => InvalidArgument,
        "MSG_PARSE_ERROR"
        | "SIGNATURE_INVALID"
        | "KEY_NOT_FOUND"
        | "MERCHANT_NOT_FOUND"
        | "OAUTH_FAIL"
        | "OAUTH_RESOURCE_CODE_FAIL"
        | "ACCESS_DENIED"
        | "NO_INTERFACE_DEF" => AuthRejected,
        "REQUEST_TRAFFIC_EXCEED_LIMIT" => RateLimited,
        "PRODUCT_QUOTA_LIMIT" => QuotaExhausted,
        "SYSTEM_ERROR" | "PROCESS_TIMEOUT" => Unavailable,
        _ => return CodeClass::Outcome,
    };
    CodeClass::Failure(failure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_outcomes() {
        assert_eq!(
            classify_result_code("SYSTEM_ERROR"),
            CodeClass::Failure(UpstreamFailure::Unavailable)
        );
        assert_eq!(
            classify_result_code("KEY_NOT_FOUND"),
            CodeClass::Failure(UpstreamFailure::AuthRejected)
        );
        for outcome in [
            "SUCCESS",
            "PROCESSING",
            "NOT_SAME_PERSON",
            "BRAND_NEW_CODE",
            "",
        ] {
            assert_eq!(
                classify_result_code(outcome),
                CodeClass::Outcome,
                "{outcome}"
            );
        }
        assert!(UpstreamFailure::RateLimited.is_retryable());
        assert!(!UpstreamFailure::QuotaExhausted.is_retryable());
    }
}
