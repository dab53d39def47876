//! Observability: JSON logs with the trace id, OpenTelemetry traces over OTLP/gRPC (configured
//! by the standard `OTEL_*` variables; no export when no endpoint is set), W3C trace context
//! taken from incoming gRPC metadata, and Prometheus metrics (labels only from enums).
//!
//! What never reaches a log line, span or label: images, OCR values, keys, signatures and
//! bodies. The types that hold them redact themselves in `Debug`, and spans record only enum
//! labels, result codes, decisions, attempt counts and transaction ids.

pub mod metrics;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TraceId, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::registry::{LookupSpan as _, Registry};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Whether the OpenTelemetry layer is installed (spans are exported). Without it, trace ids
/// are kept in the RPC span's extensions ([`LocalTraceId`]).
static OTEL_LAYER: AtomicBool = AtomicBool::new(false);

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

/// Whether spans are exported (the OpenTelemetry layer is installed). Spans that only traces
/// show (the upstream attempt spans) are made only then: the log layer never shows them, and
/// making one costs the registry's bookkeeping on every call and every poll (BENCHMARKS.md).
pub fn spans_exported() -> bool {
    OTEL_LAYER.load(Ordering::Relaxed)
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
    // The OpenTelemetry layer builds span data for every span, which only an exporter reads:
    // without one it is not installed (it costs a tenth of the service's CPU per verdict;
    // BENCHMARKS.md). Trace ids still reach logs and audit records (`rpc_span`).
    let otel = exporting.then(|| tracing_opentelemetry::layer().with_tracer(tracer));
    OTEL_LAYER.store(exporting, Ordering::Relaxed);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true)
                    .fmt_fields(AppendJsonFields)
                    .with_filter(log_spans()),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(log_spans()))
            .try_init()
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
/// Whether [`init`] would accept this log level, with `RUST_LOG` from the environment (which
/// wins) as it would read it (`serve --check-config`).
pub fn check_log_filter(level: &str) -> Result<(), String> {
    log_filter(std::env::var("RUST_LOG").ok().as_deref(), level).map(|_| ())
}

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

/// What the log layer sees: every event, and of the spans only the RPC span (`rpc`), whose
/// fields (trace id, product, tenant, decision) log lines carry. The log layer formats the
/// fields of every span it sees as the span is made and recorded, whether or not anything is
/// ever logged in it; the upstream call spans are for traces, not logs (BENCHMARKS.md).
fn log_spans() -> tracing_subscriber::filter::FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    tracing_subscriber::filter::filter_fn(|meta| !meta.is_span() || meta.name() == "rpc")
}

/// The span fields of the JSON logs: a JSON object, as `tracing_subscriber`'s `JsonFields`
/// writes it, but written straight into the span's string (no map of `serde_json::Value`s on
/// the way), and a field recorded later (`Span::record`) is appended to the object instead of
/// the object being parsed and written again, as `JsonFields` does (its own comment calls that
/// "far from efficient"). With the fields every RPC records, `JsonFields` cost more than the
/// rest of a cached answer (BENCHMARKS.md). A field recorded twice appears twice in the stored
/// object; the log line keeps the last value.
#[derive(Debug, Default, Clone, Copy)]
struct AppendJsonFields;

impl<'writer> FormatFields<'writer> for AppendJsonFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut object = String::with_capacity(256);
        object.push('{');
        fields.record(&mut JsonMembers::new(&mut object));
        object.push('}');
        writer.write_str(&object)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let stored = &mut current.fields;
        if stored.is_empty() {
            stored.push_str("{}");
        }
        if !stored.ends_with('}') {
            return Err(fmt::Error);
        }
        // Written in place of the closing brace, which is put back after.
        stored.pop();
        let mut members = JsonMembers::new(stored);
        members.first = members.out.ends_with('{');
        fields.record(&mut members);
        stored.push('}');
        Ok(())
    }
}

/// Appends `"name":value` pairs, comma-separated, to a JSON object being written, with the
/// value types `JsonVisitor` gives them (numbers, booleans, strings; `Debug` and `Display`
/// values as strings; non-finite floats as `null`).
struct JsonMembers<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> JsonMembers<'a> {
    fn new(out: &'a mut String) -> Self {
        Self { out, first: true }
    }

    fn name(&mut self, field: &tracing::field::Field) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
        let name = field.name();
        json_string(self.out, name.strip_prefix("r#").unwrap_or(name));
        self.out.push(':');
    }

    fn number(&mut self, field: &tracing::field::Field, value: impl fmt::Display) {
        use fmt::Write as _;
        self.name(field);
        let _ = write!(self.out, "{value}");
    }
}

impl tracing::field::Visit for JsonMembers<'_> {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if value.is_finite() {
            self.number(field, value);
        } else {
            self.name(field);
            self.out.push_str("null");
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.number(field, value);
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.name(field);
        json_string(self.out, value);
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("log.") {
            // Log metadata (tracing-log), as `JsonVisitor` skips it.
            return;
        }
        self.name(field);
        json_string(self.out, &format!("{value:?}"));
    }
}

/// Appends `text` as a JSON string: runs of ordinary characters are copied whole.
fn json_string(out: &mut String, text: &str) {
    use fmt::Write as _;
    out.reserve(text.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// The trace id of an RPC when no OpenTelemetry layer is installed: the caller's (from its
/// `traceparent`) or a fresh one, kept in the RPC span's extensions for [`current_trace_id`].
#[derive(Debug, Clone)]
struct LocalTraceId(String);

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
/// later: `caller` ([`record_caller`]), `product` and `tenant` ([`record_query`]), `decision` and `from_cache`
/// ([`record_answer`]).
///
/// Without an exporter the span carries only what log lines use (method, trace id and the
/// fields above): the OpenTelemetry attributes (`otel.*`, `rpc.system`, `rpc.service`) are
/// read by the exporter alone, and every field a span is made with is formatted into the log
/// layer's JSON for every RPC, logged or not (BENCHMARKS.md).
pub fn rpc_span(request: &http::Request<()>) -> tracing::Span {
    if !tracing::level_enabled!(tracing::Level::INFO) {
        return tracing::Span::none();
    }
    let path = request.uri().path();
    let method = path.rsplit('/').next().unwrap_or(path);
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    if spans_exported() {
        let span = tracing::info_span!(
            "rpc",
            otel.name = path.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = crate::pb::SERVICE_NAME,
            rpc.method = method,
            trace_id = tracing::field::Empty,
            caller = tracing::field::Empty,
            product = tracing::field::Empty,
            tenant = tracing::field::Empty,
            decision = tracing::field::Empty,
            from_cache = tracing::field::Empty,
        );
        if span.is_disabled() {
            return span;
        }
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        if let Some(trace_id) = otel_trace_id(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        return span;
    }
    let remote = parent.span().span_context().trace_id();
    let trace_id = hex_trace_id(if remote == TraceId::INVALID {
        TraceId::from(rand::random::<u128>().max(1))
    } else {
        remote
    });
    let span = tracing::info_span!(
        "rpc",
        rpc.method = method,
        trace_id = trace_id.as_str(),
        caller = tracing::field::Empty,
        product = tracing::field::Empty,
        tenant = tracing::field::Empty,
        decision = tracing::field::Empty,
        from_cache = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    span.with_subscriber(|(id, dispatch)| {
        if let Some(data) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            data.extensions_mut().insert(LocalTraceId(trace_id));
        }
    });
    span
}

/// Records who calls (the configured caller's name) on the current (RPC) span.
pub fn record_caller(caller: &str) {
    tracing::Span::current().record("caller", caller);
}

/// Records what an RPC asks about on the current (RPC) span, in one dispatch (the tenant
/// when there is one).
pub fn record_query(product: &str, tenant: Option<&str>) {
    let span = tracing::Span::current();
    tracing::record_all!(span, product = product, tenant = tenant);
}

/// Records what an RPC answered on the current (RPC) span, in one dispatch.
pub fn record_answer(decision: &str, from_cache: bool) {
    let span = tracing::Span::current();
    tracing::record_all!(span, decision = decision, from_cache = from_cache);
}

/// 32 lowercase hex digits, as `TraceId`'s `Display` writes them (without `fmt`).
fn hex_trace_id(id: TraceId) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in id.to_bytes() {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

fn otel_trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace id of the current span (32 hex digits), when there is one.
pub fn current_trace_id() -> Option<String> {
    let span = tracing::Span::current();
    if spans_exported() {
        return otel_trace_id(&span);
    }
    let mut found = None;
    span.with_subscriber(|(id, dispatch)| {
        found = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
            .and_then(|data| {
                data.scope()
                    .find_map(|s| s.extensions().get::<LocalTraceId>().map(|t| t.0.clone()))
            });
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_like_serde_json() {
        for text in [
            "",
            "plain",
            "quote \" back \\ slash",
            "line\nfeed\ttab\r",
            "\u{1}\u{1f}",
            "日本語 ✓",
        ] {
            let mut out = String::new();
            json_string(&mut out, text);
            assert_eq!(out, serde_json::to_string(text).unwrap(), "{text:?}");
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
        }
    }

    #[test]
    fn span_fields_are_a_json_object_and_records_are_appended() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let writer = {
            let buffer = std::sync::Arc::clone(&buffer);
            move || Capture(std::sync::Arc::clone(&buffer))
        };
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .flatten_event(true)
                .fmt_fields(AppendJsonFields)
                .with_writer(writer)
                .with_filter(log_spans()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let request = http::Request::builder()
                .uri("/zoloz.verdict.v1.VerdictService/GetVerificationResult")
                .header(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                )
                .body(())
                .unwrap();
            let span = rpc_span(&request);
            let _entered = span.enter();
            record_query("connect", Some("a \"quoted\" name"));
            record_answer("APPROVED", false);
            let inner = tracing::info_span!("zoloz.call", api = "connect");
            inner.in_scope(|| tracing::info!(attempts = 2, "inside"));
            assert_eq!(
                current_trace_id().as_deref(),
                Some("0af7651916cd43dd8448eb211c80319c")
            );
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let span = &line["span"];
        assert_eq!(span["name"], "rpc");
        assert_eq!(span["trace_id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(span["product"], "connect");
        assert_eq!(span["decision"], "APPROVED");
        assert_eq!(span["from_cache"], false);
        assert_eq!(span["tenant"], "a \"quoted\" name");
        assert_eq!(span["rpc.method"], "GetVerificationResult");
        // Without an exporter the OpenTelemetry attributes are not made (nor formatted).
        assert!(span.get("otel.kind").is_none() && span.get("rpc.system").is_none());
        assert_eq!(line["attempts"], 2);
    }

    /// A `MakeWriter` target that keeps what is written.
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

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
