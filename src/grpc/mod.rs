//! The gRPC transport: request validation, deadlines, load shedding, the one error-to-status
//! mapping, conversion to the API types, and the server (health, reflection, TLS, drain).

pub mod convert;
pub mod deadline;
pub mod server;
pub mod service;
pub mod status;
pub mod validate;
