//! The verdict engine: pure, synchronous, no I/O, no tonic or reqwest types.
//!
//! Input: the facts one product's checkresult response carries, already parsed (by
//! `zoloz::products`); output: a [`Verdict`]. Policy is a parameter. The decision table of
//! DESIGN.md section 3 lives here and only here: the reason catalogue in [`reason`], the
//! shared rules and the fail-safe in [`verdict`], the per-product rows in `rules`.
//!
//! ```
//! use zoloz_verdict::domain::{Decision, Policy, evaluate};
//! use zoloz_verdict::zoloz::products::parse;
//! use zoloz_verdict::domain::Product;
//!
//! let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success"}"#;
//! let parsed = parse(Product::Connect, body, false).unwrap();
//! let verdict = evaluate(&parsed.facts, &Policy::default_table()).unwrap();
//! assert_eq!(verdict.decision, Decision::Approved);
//! ```

pub mod facts;
pub mod ids;
pub mod policy;
pub mod product;
pub mod reason;
pub mod result_code;
mod rules;
pub mod signals;
pub mod verdict;

pub use facts::{
    ConnectFacts, Envelope, ExtractedImage, FaceCaptureFacts, FaceCompareFacts, Facts,
    IdRecognitionFacts, ImageKind, Observed, ProductFacts, ShapeMismatch, SpoofCheckFact,
};
pub use policy::{Policy, PolicyError, PolicySet, PolicySpec};
pub use product::Product;
pub use reason::{CATALOGUE, CatalogueEntry, Decision, Effect, Reason, ReasonCode};
pub use result_code::{CodeClass, UpstreamFailure, classify_result_code};
pub use signals::Signals;
pub use verdict::{PolicyRef, UpstreamFailureReport, UpstreamSummary, Verdict, evaluate};
