//! The gRPC transport: the codec (a request that does not decode is a bad request), request
//! validation, deadlines, load shedding, the one error-to-status mapping, conversion to the API
//! types, and the server (health, reflection, TLS, drain).

pub mod budget;
pub mod codec;
pub mod convert;
pub mod deadline;
pub mod server;
pub mod service;
pub mod status;
pub mod validate;
