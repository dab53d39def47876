//! The verdict engine: pure, synchronous, no I/O, no tonic or reqwest types.
//!
//! Input: the facts one product's checkresult response carries, already parsed (by
//! `zoloz::products`); output: a [`Verdict`]. Policy is a parameter. The decision table of
//! docs/design.md describes lives here and only here: the reason catalogue in [`reason`], the
//! shared rules and the fail-safe in [`verdict`], the per-product rows in `rules`.

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
    ConnectFacts, Envelope, ExtractedImage, FaceCaptureApiVersion, FaceCaptureFacts,
    FaceCompareFacts, Facts, IdRecognitionFacts, ImageKind, Observed, ProductFacts, ShapeMismatch,
    SpoofCheckFact,
};
pub use policy::{Policy, PolicyError, PolicySet, PolicySpec};
pub use product::Product;
pub use reason::{CATALOGUE, CatalogueEntry, Decision, Effect, Reason, ReasonCode};
pub use result_code::{CodeClass, UpstreamFailure, classify_result_code};
pub use signals::Signals;
pub use verdict::{PolicyRef, UpstreamFailureReport, UpstreamSummary, Verdict, evaluate};
