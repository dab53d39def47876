//! The short names tests compare answers by: `APPROVED` for `DECISION_APPROVED`, `DOC_TAMPERED`
//! for `REASON_CODE_DOC_TAMPERED` (the simulator catalogue's and the decision table's spelling).
//! Shared by the integration tests and the fault soak through `#[path]`.

use zoloz_verdict::pb;

/// The decision without its `DECISION_` prefix.
pub fn decision_name(result: &pb::VerificationResult) -> &'static str {
    result
        .decision()
        .as_str_name()
        .trim_start_matches("DECISION_")
}

/// The reason codes without their `REASON_CODE_` prefix, in the answer's order.
pub fn reason_names(result: &pb::VerificationResult) -> impl Iterator<Item = &'static str> + '_ {
    result
        .reasons
        .iter()
        .map(|r| r.code().as_str_name().trim_start_matches("REASON_CODE_"))
}
