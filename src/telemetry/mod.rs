//! Observability: Prometheus metrics (labels only from enums), and (with the serve command)
//! JSON logs and OpenTelemetry traces.

pub mod metrics;
