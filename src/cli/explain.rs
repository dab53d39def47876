//! `explain`: the verdict for a saved checkresult response, offline, as canonical proto3 JSON
//! (the `VerificationResult` message), or `{"error":{"code","reason","message"}}` when the
//! response maps to an error. Both exit 0; only an unreadable file (66), a bad configuration
//! (64) or bad arguments (2) do not.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use serde_json::json;

use super::{EXIT_BAD_CONFIG, EXIT_NO_INPUT, EXIT_USAGE, read_input};
use crate::config::load_policies;
use crate::domain::{FaceCaptureApiVersion, PolicySet, Product, evaluate};
use crate::error::{ErrorReason, ServiceError};
use crate::grpc::convert::verification_result;
use crate::grpc::status::{code_for, code_name};
use crate::pb;
use crate::zoloz::api::FaceCaptureApi;
use crate::zoloz::products::parse;

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The product whose checkresult API produced the response: face-capture, face-compare,
    /// connect or id-recognition.
    #[arg(long)]
    pub product: Product,
    /// A configuration file with `[policies.*]` (default: the built-in table only).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The policy to decide with (default: the configuration's default policy).
    #[arg(long, value_name = "NAME")]
    pub policy: Option<String>,
    /// Which Face Capture API produced the response, v1 or v1a (face-capture only). Without
    /// it, the v1 rule of positive evidence also applies to a response without
    /// faceCaptureResult, which from the v1a API is incomplete.
    #[arg(long, value_name = "API")]
    pub face_capture_api: Option<FaceCaptureApi>,
    /// The response body, as ZOLOZ sent it (decrypted JSON); `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// Runs `explain`.
pub fn explain(args: &ExplainArgs) -> ExitCode {
    if args.face_capture_api.is_some() && args.product != Product::FaceCapture {
        eprintln!("error: --face-capture-api applies to --product face-capture only");
        return ExitCode::from(EXIT_USAGE);
    }
    let policies = match &args.config {
        Some(path) => match load_policies(path) {
            Ok(set) => set,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
        },
        None => PolicySet::builtin(),
    };
    let body = match read_input(&args.file) {
        Ok(body) => body,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_NO_INPUT);
        }
    };
    let api = args
        .face_capture_api
        .map_or(FaceCaptureApiVersion::Unknown, Into::into);
    let output = match explain_body(args.product, api, &body, &policies, args.policy.as_deref()) {
        Ok(result) => pb::to_json(&result),
        Err(err) => error_json(&err),
    };
    match serde_json::to_string_pretty(&output) {
        Ok(text) => {
            outln!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot print the verdict: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The verdict for one body, or the error it maps to (evaluated now, not from a cache).
/// `api` says which Face Capture API produced a Face Capture body, when known.
pub fn explain_body(
    product: Product,
    api: FaceCaptureApiVersion,
    body: &[u8],
    policies: &PolicySet,
    policy_name: Option<&str>,
) -> Result<pb::VerificationResult, ServiceError> {
    let name = policy_name.unwrap_or_default();
    let policy = policies.resolve(name).ok_or_else(|| {
        let known: Vec<&str> = policies.names().collect();
        ServiceError::new(
            ErrorReason::UnknownPolicy,
            format!(
                "no policy named {name:?} (configured: {})",
                known.join(", ")
            ),
        )
    })?;
    let mut parsed = parse(product, body, false)?;
    parsed.facts.set_face_capture_api(api);
    let verdict = evaluate(&parsed.facts, policy)?;
    Ok(verification_result(
        &verdict,
        product,
        parsed.facts.transaction_id.as_deref().unwrap_or_default(),
        "",
        SystemTime::now(),
        false,
        Vec::new(),
    ))
}

/// `{"error":{"code":"<gRPC code name>","reason":"<ErrorInfo reason>","message":"…"}}`.
pub fn error_json(err: &ServiceError) -> serde_json::Value {
    json!({
        "error": {
            "code": code_name(code_for(err.reason)),
            "reason": err.reason.as_str(),
            "message": err.message,
        }
    })
}
