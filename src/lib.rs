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
//! | [`zoloz`] | `domain`, `error`, `telemetry` | keys, signing, `RSA_AES`, AK/SK, transport, retries, product formats |
//! | [`error`] | `domain` | the error catalogue (`ErrorInfo` reasons) |
//! | [`callers`] | `error` | who may call: caller identities (client certificate, bearer token) and grants |
//! | [`config`] | `domain`, `zoloz`, `callers` | the configuration file (TOML): tenants, policies, callers |
//! | [`pb`] | – | the generated API types and proto3 JSON printing |
//! | [`grpc`] | `config`, `domain`, `error`, `pb`, `telemetry` | server, validation, conversion, the one error-to-status mapping |
//! | [`source`] | – | the bounded TTL cache and single-flight |
//! | [`audit`] | `domain`, `zoloz` | one audit record per verdict |
//! | [`telemetry`] | `audit`, `pb`, `zoloz` | logs, traces, Prometheus metrics |
//! | [`app`] | all but `cli`, `simulator` | the composition root: wires the parts above |
//! | [`simulator`] | `domain`, `error`, `pb`, `zoloz` | a ZOLOZ stand-in speaking the real protocol |
//! | [`cli`] | everything | the command line (`serve`, `sign`, `explain`, …) |
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
