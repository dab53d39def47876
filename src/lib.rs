//! zoloz-verdict: one verdict for a ZOLOZ eKYC transaction.
//!
//! A gRPC service that calls the right ZOLOZ checkresult API through a signing adapter, checks
//! the response's signature, and maps the four products' result codes and risk signals into one
//! decision with machine-readable reasons.
//!
//! # Module map
//!
//! | module | knows | does |
//! | --- | --- | --- |
//! | [`domain`] | nothing else | the verdict engine: facts in, verdict out; policies; pure |
//! | [`zoloz`] | `domain`, `error` | keys, signing, `RSA_AES`, AK/SK, transport, product wire formats |
//! | [`error`] | `domain` | the error catalogue (`ErrorInfo` reasons) |
//! | [`callers`] | `error` | who may call: caller identities (client certificate, bearer token) and grants |
//! | [`config`] | `domain`, `callers` | the configuration file (TOML): policies, callers |
//! | [`pb`] | – | the generated API types and proto3 JSON printing |
//! | [`grpc`] | `domain`, `error`, `pb` | conversion to API types, the one error-to-status mapping |
//! | [`cli`] | everything | the command-line front end (`sign`, `verify`, `explain`, …) |
//! | [`simulator`] | `domain`, `zoloz` | a ZOLOZ stand-in speaking the real protocol, with scenarios |
//! | [`cli`] | everything | the command-line front end (`sign`, `verify`, `simulator`, …) |
//!
//! `domain` imports nothing from `zoloz`, `grpc` or `cli`.
//!
//! ```
//! use zoloz_verdict::domain::{Decision, Policy, Product, evaluate};
//! use zoloz_verdict::zoloz::products::parse;
//!
//! let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success"}"#;
//! let parsed = parse(Product::Connect, body, false)?;
//! let verdict = evaluate(&parsed.facts, &Policy::default_table())?;
//! assert_eq!(verdict.decision, Decision::Approved);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod app;
pub mod audit;
pub mod callers;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod pb;
pub mod simulator;
pub mod source;
pub mod telemetry;
pub mod zoloz;
