//! The verdict engine: pure, synchronous, no I/O, no tonic or reqwest types.
//!
//! Input: the facts one product's checkresult response carries, already parsed (by
//! `zoloz::products`); output: a [`Verdict`]. Policy is a parameter. The decision table of
//! DESIGN.md section 3 lives here and only here.

pub mod ids;
pub mod product;
pub mod result_code;

pub use product::Product;
pub use result_code::{CodeClass, UpstreamFailure, classify_result_code};
