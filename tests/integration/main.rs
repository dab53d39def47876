//! The integration test binary: real keys, real ports, the real simulator, the real binary.
//! One binary with a shared harness (`harness.rs`) so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod agreement;
mod audit_trail;
mod binding;
mod callers;
mod client;
mod engine_policy;
mod engine_props;
mod engine_snapshots;
mod engine_table;
mod explain_cli;
mod get_cli;
mod harness;
mod header_names;
mod hostile;
mod key_rotation;
mod memory;
#[path = "../support/names.rs"]
mod names;
mod observability;
mod readme;
mod service;
mod sign_cli;
mod signing_oracle;
mod simulator;
mod tls;
mod upstream_answers;
mod upstream_http;
mod vectors;
