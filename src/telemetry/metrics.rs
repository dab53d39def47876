//! Prometheus metrics, served in the text format on a separate port (`/metrics`). Every label
//! value comes from an enum of this crate (a `&'static str` from a `label()` method), never
//! from a raw upstream string or a request field, so cardinality is fixed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::zoloz::api::Api;
use crate::zoloz::client::CallObserver;

/// Labels of verdict counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    /// Product label (`face_capture`, …).
    pub product: &'static str,
    /// Decision name (`APPROVED`, …).
    pub decision: &'static str,
}

/// Labels of reason counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Product label.
    pub product: &'static str,
    /// Reason code name (`LIVENESS_ATTACK`, …).
    pub code: &'static str,
}

/// Labels of upstream call counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// API label (`connect`, …).
    pub api: &'static str,
    /// `ok` or an error label (`http_5xx`, `signature_invalid`, …).
    pub outcome: &'static str,
}

/// An API label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// API label.
    pub api: &'static str,
}

/// A product label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProductLabels {
    /// Product label (`face_capture`, …).
    pub product: &'static str,
}

/// Labels of cache counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// Labels of RPC counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// `get`, `watch` or `evaluate`.
    pub method: &'static str,
    /// `OK` or the error reason (`UPSTREAM_UNAVAILABLE`, …).
    pub outcome: &'static str,
    /// The configured caller's name (`unauthenticated` for calls served without an identity,
    /// `unidentified` for calls refused before any caller was known): never a raw identity.
    pub caller: &'static str,
}

/// A method and caller label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// `get`, `watch` or `evaluate`.
    pub method: &'static str,
    /// The configured caller's name.
    pub caller: &'static str,
}

/// All the service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Verdicts returned, by product and decision.
    pub verdicts: Family<VerdictLabels, Counter>,
    /// Reasons in returned verdicts, by product and code.
    pub reasons: Family<ReasonLabels, Counter>,
    /// Upstream attempts, by API and outcome.
    pub upstream_attempts: Family<UpstreamLabels, Counter>,
    /// Upstream attempt latency, by API.
    pub upstream_latency: Family<ApiLabels, Histogram>,
    /// Upstream retries, by API.
    pub upstream_retries: Family<ApiLabels, Counter>,
    /// Cache lookups, by result.
    pub cache: Family<CacheLabels, Counter>,
    /// RPCs finished, by method and outcome.
    pub rpcs: Family<RpcLabels, Counter>,
    /// RPCs in progress.
    pub in_flight: Gauge,
    /// RPCs shed because the service was saturated, by method.
    pub shed: Family<MethodLabels, Counter>,
    /// Audit records dropped because the audit sink stalled (`on_stall = "drop"`).
    pub audit_dropped: Counter,
    /// Verdicts not returned because their audit record could not be queued in time.
    pub audit_refused: Counter,
    /// 1 while the audit sink is stalled.
    pub audit_stalled: Gauge,
    /// Terminal answers that contradicted the terminal facts held for their transaction.
    pub upstream_inconsistent: Family<ProductLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `zoloz_verdict` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zoloz_verdict");
        let verdicts = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "verdicts",
            "Verdicts returned, by product and decision",
            verdicts.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "reasons",
            "Reasons in returned verdicts, by product and code",
            reasons.clone(),
        );
        let upstream_attempts = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "upstream_attempts",
            "Attempts to call ZOLOZ, by API and outcome",
            upstream_attempts.clone(),
        );
        let upstream_latency = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register_with_unit(
            "upstream_latency",
            "Latency of one attempt to call ZOLOZ, by API",
            prometheus_client::registry::Unit::Seconds,
            upstream_latency.clone(),
        );
        let upstream_retries = Family::<ApiLabels, Counter>::default();
        registry.register(
            "upstream_retries",
            "Retries of ZOLOZ calls, by API",
            upstream_retries.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Result cache lookups, by result",
            cache.clone(),
        );
        let rpcs = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpcs",
            "RPCs finished, by method, outcome and caller",
            rpcs.clone(),
        );
        let in_flight = Gauge::default();
        registry.register("in_flight", "RPCs in progress", in_flight.clone());
        let shed = Family::<MethodLabels, Counter>::default();
        registry.register(
            "shed",
            "RPCs shed because the service or the caller was saturated, by method and caller",
            shed.clone(),
        );
        let audit_dropped = Counter::default();
        registry.register(
            "audit_dropped",
            "Audit records dropped because the audit sink stalled",
            audit_dropped.clone(),
        );
        let audit_refused = Counter::default();
        registry.register(
            "audit_refused",
            "Verdicts not returned because their audit record could not be queued in time",
            audit_refused.clone(),
        );
        let audit_stalled = Gauge::default();
        registry.register(
            "audit_stalled",
            "1 while the audit sink is stalled (calls wait, then fail closed)",
            audit_stalled.clone(),
        );
        let upstream_inconsistent = Family::<ProductLabels, Counter>::default();
        registry.register(
            "upstream_inconsistent",
            "Terminal answers that contradicted the terminal facts held for their transaction",
            upstream_inconsistent.clone(),
        );
        Self {
            registry,
            verdicts,
            reasons,
            upstream_attempts,
            upstream_latency,
            upstream_retries,
            cache,
            rpcs,
            in_flight,
            shed,
            audit_dropped,
            upstream_inconsistent,
            audit_refused,
            audit_stalled,
        }
    }

    /// The audit sink's share of the metrics.
    pub fn audit(&self) -> crate::audit::AuditMetrics {
        crate::audit::AuditMetrics {
            dropped: self.audit_dropped.clone(),
            refused: self.audit_refused.clone(),
            stalled: self.audit_stalled.clone(),
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl CallObserver for Metrics {
    fn attempt(&self, api: Api, outcome: &'static str, elapsed: Duration) {
        self.upstream_attempts
            .get_or_create(&UpstreamLabels {
                api: api.label(),
                outcome,
            })
            .inc();
        self.upstream_latency
            .get_or_create(&ApiLabels { api: api.label() })
            .observe(elapsed.as_secs_f64());
    }

    fn retry(&self, api: Api) {
        self.upstream_retries
            .get_or_create(&ApiLabels { api: api.label() })
            .inc();
    }
}

/// Serves `GET /metrics` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, usually: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, std::convert::Infallible>(respond(&request, &metrics)) }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(request: &Request<hyper::body::Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.encode(),
        ),
        (&Method::GET, "/") => (StatusCode::OK, "text/plain", "see /metrics\n".to_string()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// The address a metrics listener is bound to (for logs).
pub fn describe(addr: SocketAddr) -> String {
    format!("http://{addr}/metrics")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_exposition() {
        let metrics = Metrics::new();
        metrics
            .verdicts
            .get_or_create(&VerdictLabels {
                product: "connect",
                decision: "APPROVED",
            })
            .inc();
        metrics.attempt(Api::Connect, "ok", Duration::from_millis(12));
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"zoloz_verdict_verdicts_total{product="connect",decision="APPROVED"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"zoloz_verdict_upstream_attempts_total{api="connect",outcome="ok"} 1"#)
        );
        assert!(text.contains("zoloz_verdict_upstream_latency_seconds_bucket"));
    }
}
