//! The integration test binary: real keys, real ports, the real simulator, the real binary.
//! One binary with a shared harness (`harness.rs`) so it links once.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod client;
mod harness;
mod hostile;
mod service;
mod signing_oracle;
mod simulator;
mod vectors;
