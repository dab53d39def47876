//! Observability: JSON logs with the trace id, OpenTelemetry traces over OTLP/gRPC (configured
//! by the standard `OTEL_*` variables; no export when no endpoint is set), W3C trace context
//! taken from incoming gRPC metadata, and Prometheus metrics (labels only from enums).
//!
//! What never reaches a log line, span or label: images, OCR values, keys, signatures and
//! bodies. The types that hold them redact themselves in `Debug`, and spans record only enum
//! labels, result codes, decisions, attempt counts and transaction ids.

pub mod metrics;

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes pending spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.exporting
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "tracer provider shutdown");
        }
    }
}

/// Whether the standard variables ask for trace export.
fn export_requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
        || std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.eq_ignore_ascii_case("none"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Installs the global subscriber: an `EnvFilter` (`RUST_LOG` wins over `level`), JSON or text
/// lines on standard output with the current span's fields (the trace id among them), and the
/// OpenTelemetry layer. Must run inside a tokio runtime (the OTLP exporter uses tonic).
pub fn init(json: bool, level: &str) -> Result<Telemetry, String> {
    let exporting = export_requested();
    let mut builder = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name(
                std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "zoloz-verdict".into()),
            )
            .build(),
    );
    if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| format!("otlp exporter: {e}"))?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("zoloz-verdict");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref(), level)?;
    let otel = tracing_opentelemetry::layer().with_tracer(tracer);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true),
            )
            .try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    };
    result.map_err(|e| format!("log subscriber: {e}"))?;
    Ok(Telemetry {
        provider,
        exporting,
    })
}

/// The crates whose trace-level events show HTTP frames (header values included): capped at
/// `info` unless the directive names them explicitly, so that `RUST_LOG=trace` cannot put a
/// `Signature` header into a log line by accident.
const WIRE_CRATES: [&str; 6] = ["h2", "hyper", "hyper_util", "reqwest", "rustls", "tonic"];

/// `RUST_LOG` when set (else `level`), with the wire crates capped unless named.
fn log_filter(rust_log: Option<&str>, level: &str) -> Result<EnvFilter, String> {
    let mut directives = rust_log
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(level)
        .to_string();
    for krate in WIRE_CRATES {
        let named = directives
            .split(',')
            .any(|d| d.trim().split(['=', '[', ':']).next() == Some(krate));
        if !named {
            directives.push_str(&format!(",{krate}=info"));
        }
    }
    EnvFilter::try_new(&directives).map_err(|e| format!("log filter {directives:?}: {e}"))
}

/// Reads W3C trace context from HTTP/2 headers (gRPC metadata).
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of one RPC, child of the caller's `traceparent` when there is one. Fields filled
/// later: `product`, `decision`, `tenant`, `from_cache`.
pub fn rpc_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let method = path.rsplit('/').next().unwrap_or(path);
    let span = tracing::info_span!(
        "rpc",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = crate::pb::SERVICE_NAME,
        rpc.method = %method,
        trace_id = tracing::field::Empty,
        product = tracing::field::Empty,
        tenant = tracing::field::Empty,
        decision = tracing::field::Empty,
        from_cache = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    if let Some(trace_id) = trace_id_of(&span) {
        span.record("trace_id", trace_id.as_str());
    }
    span
}

fn trace_id_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace id of the current span (32 hex digits), when there is one.
pub fn current_trace_id() -> Option<String> {
    trace_id_of(&tracing::Span::current())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_crates_are_capped_unless_named() {
        let filter = log_filter(None, "trace").unwrap().to_string();
        assert!(
            filter.contains("h2=info") && filter.contains("hyper=info"),
            "{filter}"
        );
        let filter = log_filter(Some("debug,h2=trace"), "info")
            .unwrap()
            .to_string();
        assert!(
            filter.contains("h2=trace") && !filter.contains("h2=info"),
            "{filter}"
        );
        assert!(filter.contains("reqwest=info"), "{filter}");
        assert!(log_filter(Some("=nonsense=="), "info").is_err());
    }
}
