//! The one mapping from the error catalogue to gRPC (docs/design.md, Errors): a code per reason,
//! `google.rpc.ErrorInfo` (domain `zoloz-verdict`) on every error, `BadRequest` field
//! violations for invalid requests, `RetryInfo` where waiting helps.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::error::{ERROR_DOMAIN, ErrorReason, ServiceError};

/// The gRPC code of each reason.
pub fn code_for(reason: ErrorReason) -> Code {
    match reason {
        ErrorReason::InvalidRequest
        | ErrorReason::UnknownTenant
        | ErrorReason::UnknownPolicy
        | ErrorReason::UpstreamInvalidArgument => Code::InvalidArgument,
        ErrorReason::UpstreamAuthRejected
        | ErrorReason::UpstreamSignatureInvalid
        | ErrorReason::UpstreamMalformedResponse => Code::Internal,
        ErrorReason::UpstreamRateLimited
        | ErrorReason::UpstreamQuotaExhausted
        | ErrorReason::Overloaded => Code::ResourceExhausted,
        ErrorReason::UpstreamUnavailable
        | ErrorReason::ShuttingDown
        | ErrorReason::AuditUnavailable => Code::Unavailable,
        ErrorReason::UpstreamTimeout => Code::DeadlineExceeded,
        ErrorReason::CallerUnauthenticated => Code::Unauthenticated,
        ErrorReason::CallerNotPermitted => Code::PermissionDenied,
    }
}

/// The canonical upper-case name of a code (`INVALID_ARGUMENT`, …), as `explain` prints it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A hint for clients on when to try again, where waiting helps.
fn retry_delay(reason: ErrorReason) -> Option<Duration> {
    match reason {
        ErrorReason::Overloaded | ErrorReason::ShuttingDown => Some(Duration::from_millis(500)),
        ErrorReason::UpstreamRateLimited
        | ErrorReason::UpstreamUnavailable
        | ErrorReason::AuditUnavailable => Some(Duration::from_secs(1)),
        _ => None,
    }
}

/// The status for an error, with its details.
pub fn to_status(err: &ServiceError) -> Status {
    let mut metadata = HashMap::new();
    if let Some(code) = &err.upstream_code {
        metadata.insert("upstream_code".to_string(), code.clone());
    }
    if let Some(status) = &err.upstream_status {
        metadata.insert("upstream_status".to_string(), status.clone());
    }
    let mut details = ErrorDetails::with_error_info(err.reason.as_str(), ERROR_DOMAIN, metadata);
    for violation in &err.violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    if let Some(delay) = retry_delay(err.reason) {
        details.set_retry_info(Some(delay));
    }
    Status::with_error_details(code_for(err.reason), err.message.clone(), details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolation;

    #[test]
    fn every_reason_has_the_designed_code_and_error_info() {
        let expected = [
            (ErrorReason::InvalidRequest, Code::InvalidArgument),
            (ErrorReason::UnknownTenant, Code::InvalidArgument),
            (ErrorReason::UnknownPolicy, Code::InvalidArgument),
            (ErrorReason::UpstreamInvalidArgument, Code::InvalidArgument),
            (ErrorReason::UpstreamAuthRejected, Code::Internal),
            (ErrorReason::UpstreamRateLimited, Code::ResourceExhausted),
            (ErrorReason::UpstreamQuotaExhausted, Code::ResourceExhausted),
            (ErrorReason::UpstreamUnavailable, Code::Unavailable),
            (ErrorReason::UpstreamTimeout, Code::DeadlineExceeded),
            (ErrorReason::UpstreamSignatureInvalid, Code::Internal),
            (ErrorReason::UpstreamMalformedResponse, Code::Internal),
            (ErrorReason::Overloaded, Code::ResourceExhausted),
            (ErrorReason::ShuttingDown, Code::Unavailable),
            (ErrorReason::AuditUnavailable, Code::Unavailable),
            (ErrorReason::CallerUnauthenticated, Code::Unauthenticated),
            (ErrorReason::CallerNotPermitted, Code::PermissionDenied),
        ];
        assert_eq!(expected.len(), ErrorReason::ALL.len());
        for (reason, code) in expected {
            let status = to_status(
                &ServiceError::new(reason, "m")
                    .with_upstream(Some("SYSTEM_ERROR".into()), Some("U".into())),
            );
            assert_eq!(status.code(), code, "{reason}");
            let info = status.get_details_error_info().unwrap();
            assert_eq!(info.reason, reason.as_str());
            assert_eq!(info.domain, "zoloz-verdict");
            assert_eq!(info.metadata["upstream_code"], "SYSTEM_ERROR");
            assert_eq!(info.metadata["upstream_status"], "U");
        }
    }

    #[test]
    fn invalid_requests_carry_field_violations() {
        let status = to_status(&ServiceError::invalid_request(vec![FieldViolation {
            field: "transaction_id".into(),
            description: "must not be empty".into(),
        }]));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "transaction_id");
        assert!(details.error_info().unwrap().metadata.is_empty());
    }

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
    }
}
