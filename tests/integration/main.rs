//! The integration test binary: real keys, real ports, the real simulator, the real binary.
//! One binary with a shared harness (`harness.rs`) so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod client;
mod harness;
mod service;
mod signing_oracle;
mod tls;
mod simulator;
mod vectors;
