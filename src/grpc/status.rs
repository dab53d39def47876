//! The one mapping from the error catalogue to gRPC (DESIGN.md section 5): a `tonic::Code` per
//! `ErrorReason`, and a `tonic::Status` that carries `google.rpc.ErrorInfo` (domain
//! `zoloz-verdict`, the reason, the raw upstream code and status as metadata) and, for invalid
//! requests, `google.rpc.BadRequest` field violations.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

use crate::error::{ERROR_DOMAIN, ErrorReason, ServiceError};

/// The gRPC code of an error reason.
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
        ErrorReason::UpstreamUnavailable => Code::Unavailable,
        ErrorReason::UpstreamTimeout => Code::DeadlineExceeded,
    }
}

/// The status for an error, with its details.
pub fn to_status(err: &ServiceError) -> tonic::Status {
    let mut metadata = HashMap::new();
    if let Some(code) = &err.upstream_code {
        metadata.insert("upstream_code".to_string(), code.clone());
    }
    if let Some(status) = &err.upstream_status {
        metadata.insert("upstream_status".to_string(), status.clone());
    }
    let mut details = ErrorDetails::with_error_info(err.reason.as_str(), ERROR_DOMAIN, metadata);
    if !err.violations.is_empty() {
        details.set_bad_request(
            err.violations
                .iter()
                .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
                .collect::<Vec<_>>(),
        );
    }
    tonic::Status::with_error_details(code_for(err.reason), err.message.clone(), details)
}

/// The canonical upper-case name of a gRPC code (`INVALID_ARGUMENT`, `UNAVAILABLE`, …).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldViolation as Violation;

    #[test]
    fn every_reason_maps_as_design_section_5_says() {
        let expected = |reason| match reason {
            ErrorReason::InvalidRequest => "INVALID_ARGUMENT",
            ErrorReason::UnknownTenant => "INVALID_ARGUMENT",
            ErrorReason::UnknownPolicy => "INVALID_ARGUMENT",
            ErrorReason::UpstreamInvalidArgument => "INVALID_ARGUMENT",
            ErrorReason::UpstreamAuthRejected => "INTERNAL",
            ErrorReason::UpstreamRateLimited => "RESOURCE_EXHAUSTED",
            ErrorReason::UpstreamQuotaExhausted => "RESOURCE_EXHAUSTED",
            ErrorReason::UpstreamUnavailable => "UNAVAILABLE",
            ErrorReason::UpstreamTimeout => "DEADLINE_EXCEEDED",
            ErrorReason::UpstreamSignatureInvalid => "INTERNAL",
            ErrorReason::UpstreamMalformedResponse => "INTERNAL",
            ErrorReason::Overloaded => "RESOURCE_EXHAUSTED",
        };
        for reason in ErrorReason::ALL {
            assert_eq!(code_name(code_for(reason)), expected(reason), "{reason}");
            let status = to_status(&ServiceError::new(reason, "something failed"));
            assert_eq!(status.code(), code_for(reason));
            assert_eq!(status.message(), "something failed");
            let info = status
                .get_details_error_info()
                .expect("error info attached");
            assert_eq!(info.reason, reason.as_str());
            assert_eq!(info.domain, "zoloz-verdict");
            assert!(info.metadata.is_empty());
        }
    }

    #[test]
    fn upstream_metadata_and_field_violations() {
        let err = ServiceError::new(
            ErrorReason::UpstreamUnavailable,
            "zoloz answered SYSTEM_ERROR",
        )
        .with_upstream(Some("SYSTEM_ERROR".into()), Some("U".into()));
        let info = to_status(&err).get_details_error_info().unwrap();
        assert_eq!(info.metadata["upstream_code"], "SYSTEM_ERROR");
        assert_eq!(info.metadata["upstream_status"], "U");

        let err = ServiceError::invalid_request(vec![Violation {
            field: "transaction_id".into(),
            description: "must not be empty".into(),
        }]);
        let status = to_status(&err);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status
            .get_details_bad_request()
            .expect("bad request attached");
        assert_eq!(bad.field_violations[0].field, "transaction_id");
        assert_eq!(
            status.get_details_error_info().unwrap().reason,
            "INVALID_REQUEST"
        );
    }
}
