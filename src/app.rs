//! The composition root: the only module that sees the domain, the ZOLOZ adapter and the gRPC
//! transport together. It builds one ZOLOZ client per tenant, resolves tenants and policies,
//! serves terminal facts from the cache, shares concurrent identical upstream calls, limits
//! each tenant's concurrency toward ZOLOZ, turns facts into verdicts, and records metrics and
//! audit records. [`start`] runs the whole service on a bound listener.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic_health::ServingStatus;

use crate::audit::{self, Audit, Source};
use crate::callers::Caller;
use crate::config::Config;
use crate::domain::ids::{BizId, TransactionId};
use crate::domain::{
    ExtractedImage, FaceCaptureApiVersion, Facts, Policy, PolicySet, Product,
    UpstreamFailureReport, Verdict, evaluate,
};
use crate::error::{ErrorReason, ServiceError};
use crate::grpc::convert::{image_to_pb, verification_result};
use crate::grpc::server::{self, ServeError, ServerSettings};
use crate::grpc::service::{Backend, ServiceSettings, VerdictGrpc};
use crate::grpc::validate::{EvaluateQuery, ImageRequest, QueryOrigin, VerdictQuery};
use crate::pb;
use crate::source::cache::TtlCache;
use crate::source::flight::SingleFlight;
use crate::telemetry::metrics::{CacheLabels, Metrics, ProductLabels, ReasonLabels, VerdictLabels};
use crate::zoloz::client::{CheckResultRequest, ZolozClient};
use crate::zoloz::products;
use crate::zoloz::redact::{Redacted, redact};

/// How long a call waits for one of its tenant's upstream slots before it is shed.
const UPSTREAM_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// One tenant at run time.
#[derive(Debug)]
struct Tenant {
    name: String,
    client: ZolozClient,
    limiter: Arc<Semaphore>,
    max_concurrent: usize,
    default_policy: Option<String>,
}

/// The cache key: one transaction of one product under one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    tenant: String,
    product: Product,
    transaction_id: TransactionId,
}

/// What the cache holds: facts (not verdicts, so a policy change applies at the next read) and
/// the redacted body for audit records. No image.
#[derive(Debug)]
struct Cached {
    facts: Facts,
    redacted: Redacted,
}

/// What one upstream call produced.
#[derive(Debug)]
struct Fetched {
    cached: Arc<Cached>,
    images: Vec<ExtractedImage>,
}

type FlightKey = (Key, ImageRequest);
type FlightResult = Result<Arc<Fetched>, ServiceError>;

/// The application core: implements the gRPC layer's [`Backend`].
#[derive(Debug)]
pub struct Core {
    tenants: BTreeMap<String, Arc<Tenant>>,
    default_tenant: String,
    policies: PolicySet,
    cache: TtlCache<Key, Arc<Cached>>,
    flights: Arc<SingleFlight<FlightKey, FlightResult>>,
    metrics: Arc<Metrics>,
    audit: Arc<Audit>,
}

impl Core {
    /// Builds the core from a validated configuration.
    pub fn new(
        config: &Config,
        metrics: Arc<Metrics>,
        audit: Arc<Audit>,
    ) -> Result<Self, ServiceError> {
        let mut tenants = BTreeMap::new();
        for (name, tenant) in &config.tenants.by_name {
            let client = ZolozClient::with_parts(
                tenant.client.clone(),
                Arc::new(crate::zoloz::client::SystemClock),
                Arc::clone(&metrics) as Arc<dyn crate::zoloz::client::CallObserver>,
            )
            .map_err(|e| {
                ServiceError::new(
                    ErrorReason::UpstreamAuthRejected,
                    format!("tenant {name}: {e}"),
                )
            })?;
            tenants.insert(
                name.clone(),
                Arc::new(Tenant {
                    name: name.clone(),
                    client,
                    limiter: Arc::new(Semaphore::new(tenant.max_concurrent_upstream)),
                    max_concurrent: tenant.max_concurrent_upstream,
                    default_policy: tenant.default_policy.clone(),
                }),
            );
        }
        Ok(Self {
            tenants,
            default_tenant: config.tenants.default.clone(),
            policies: config.policies.clone(),
            cache: TtlCache::new(config.cache.max_entries, config.cache.ttl),
            flights: Arc::new(SingleFlight::default()),
            metrics,
            audit,
        })
    }

    fn tenant(&self, name: Option<&str>) -> Result<&Arc<Tenant>, ServiceError> {
        let name = name.unwrap_or(&self.default_tenant);
        self.tenants.get(name).ok_or_else(|| {
            ServiceError::new(
                ErrorReason::UnknownTenant,
                format!("no tenant named {name:?} is configured"),
            )
        })
    }

    /// The policy a request asks for, else its tenant's default, else the global default.
    fn policy(&self, tenant: Option<&Tenant>, name: Option<&str>) -> Result<&Policy, ServiceError> {
        let name = name
            .or_else(|| tenant.and_then(|t| t.default_policy.as_deref()))
            .unwrap_or_default();
        self.policies.resolve(name).ok_or_else(|| {
            ServiceError::new(
                ErrorReason::UnknownPolicy,
                format!(
                    "no policy named {name:?} (configured: {})",
                    self.policies.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// Turns `cached`'s verdict (`evaluate` of its facts, made by the caller) into the API
    /// result, and records the audit record, metrics and the span fields. PENDING answers to
    /// Watch polls are not recorded: the Watch records its terminal verdict. A verdict whose
    /// audit record cannot be queued is not returned (`AUDIT_UNAVAILABLE`).
    #[allow(clippy::too_many_arguments)]
    async fn answer(
        &self,
        caller: &Caller,
        tenant: &str,
        product: Product,
        transaction_id: &str,
        cached: &Cached,
        images: &[ExtractedImage],
        verdict: Result<Verdict, UpstreamFailureReport>,
        source: Source,
        origin: QueryOrigin,
    ) -> Result<pb::VerificationResult, ServiceError> {
        let verdict = verdict.map_err(ServiceError::from)?;
        let now = SystemTime::now();
        let quiet = origin == QueryOrigin::WatchPoll && !verdict.decision.is_terminal();
        if !quiet && self.audit.enabled() {
            let trace_id = crate::telemetry::current_trace_id();
            self.audit
                .write(&audit::Entry {
                    caller: caller.name,
                    tenant,
                    product,
                    transaction_id,
                    verdict: &verdict,
                    body: &cached.redacted,
                    face_capture_api: cached.facts.face_capture_api().name(),
                    source,
                    trace_id: trace_id.as_deref(),
                    time: now,
                })
                .await
                .map_err(|e| ServiceError::new(ErrorReason::AuditUnavailable, e.to_string()))?;
        }
        crate::telemetry::record_answer(verdict.decision.as_str(), source == Source::Cache);
        if !quiet {
            self.metrics
                .verdicts
                .get_or_create(&VerdictLabels {
                    product: product.label(),
                    decision: verdict.decision.as_str(),
                })
                .inc();
            for reason in &verdict.reasons {
                self.metrics
                    .reasons
                    .get_or_create(&ReasonLabels {
                        product: product.label(),
                        code: reason.code.as_str(),
                    })
                    .inc();
            }
            tracing::debug!(
                product = product.label(),
                tenant,
                decision = verdict.decision.as_str(),
                reasons = verdict.reasons.len(),
                source = ?source,
                "verdict"
            );
        }
        Ok(verification_result(
            &verdict,
            product,
            transaction_id,
            tenant,
            now,
            source == Source::Cache,
            images.iter().map(image_to_pb).collect(),
        ))
    }

    /// One upstream call, under the tenant's concurrency limit. The redacted copy of the body
    /// is only made when audit records are written (`audit`).
    async fn call_upstream(
        tenant: Arc<Tenant>,
        product: Product,
        request: CheckResultRequest,
        deadline: Instant,
        audit: bool,
    ) -> FlightResult {
        let _permit = match Arc::clone(&tenant.limiter).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let wait = deadline.min(Instant::now() + UPSTREAM_QUEUE_WAIT);
                tokio::time::timeout_at(wait, Arc::clone(&tenant.limiter).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .ok_or_else(|| {
                        if Instant::now() >= deadline {
                            ServiceError::new(
                                ErrorReason::UpstreamTimeout,
                                "the caller's deadline passed while waiting for a slot toward ZOLOZ",
                            )
                        } else {
                            ServiceError::new(
                                ErrorReason::Overloaded,
                                format!(
                                    "tenant {:?} already has {} calls to ZOLOZ in progress",
                                    tenant.name, tenant.max_concurrent
                                ),
                            )
                        }
                    })?
            }
        };
        let response = tenant
            .client
            .checkresult(product, &request, Some(deadline))
            .await
            .map_err(ServiceError::from)?;
        let want_images = request.return_images;
        let api = response.api;
        // Parsed once, by the client: the product reader and the audit redaction share the tree.
        let root = response.json;
        drop(response.body);
        let mut parsed = products::parse_value(product, &root, want_images)?;
        parsed
            .facts
            .set_face_capture_api(api.face_capture_version());
        // A body that names its transaction must name ours: a signed answer for another
        // transaction (replayed by someone in the path) is not an answer to this request.
        if let Some(answered) = &parsed.facts.transaction_id
            && !same_transaction(answered, request.transaction_id.as_str())
        {
            return Err(ServiceError::new(
                ErrorReason::UpstreamMalformedResponse,
                "the signed response names another transaction",
            ));
        }
        if parsed.undecodable_images > 0 {
            tracing::warn!(
                product = product.label(),
                count = parsed.undecodable_images,
                "images that are not Base64 were dropped"
            );
        }
        let redacted = redacted(audit, product, &root);
        Ok(Arc::new(Fetched {
            cached: Arc::new(Cached {
                facts: parsed.facts,
                redacted,
            }),
            images: parsed.images,
        }))
    }

    /// Caches a terminal result, never silently replacing a held one that states different
    /// terminal facts: ZOLOZ contradicting itself (or someone replaying an answer) is marked
    /// as an inconsistency, counted and logged, and the marked facts are held from then on
    /// (REVIEW_REQUIRED with UPSTREAM_INCONSISTENT). Returns what to answer with.
    fn hold_terminal(&self, key: &Key, fetched: Arc<Cached>) -> Arc<Cached> {
        let chosen = match self.cache.get(key) {
            Some(held) if held.facts.same_terminal_facts(&fetched.facts) => {
                if held.facts.inconsistency.is_some() {
                    return held;
                }
                fetched
            }
            Some(held) => {
                let before = held.facts.envelope.result_code.raw().unwrap_or("-");
                let now = fetched.facts.envelope.result_code.raw().unwrap_or("-");
                let what = if before == now {
                    format!("resultCode {now} both times, other facts differ")
                } else {
                    format!("resultCode {before}, now {now}")
                };
                self.metrics
                    .upstream_inconsistent
                    .get_or_create(&ProductLabels {
                        product: key.product.label(),
                    })
                    .inc();
                tracing::warn!(
                    product = key.product.label(),
                    tenant = key.tenant.as_str(),
                    transaction_id = key.transaction_id.as_str(),
                    what = what.as_str(),
                    "ZOLOZ answered different terminal facts for a transaction already answered: \
                     REVIEW_REQUIRED (UPSTREAM_INCONSISTENT)"
                );
                let mut facts = fetched.facts.clone();
                facts.inconsistency = Some(what);
                Arc::new(Cached {
                    facts,
                    redacted: fetched.redacted.clone(),
                })
            }
            None => fetched,
        };
        self.cache.insert(key.clone(), Arc::clone(&chosen));
        chosen
    }

    /// Fetches through the single-flight: concurrent identical requests share one call. When
    /// the flight was started by a caller with a shorter deadline and ran out of time, a caller
    /// with time left tries again under its own deadline.
    async fn fetch(
        &self,
        tenant: &Arc<Tenant>,
        key: &Key,
        query: &VerdictQuery,
        deadline: Instant,
    ) -> FlightResult {
        let biz_id = match (&query.biz_id, key.product.requires_biz_id()) {
            (Some(biz_id), _) => Some(biz_id.clone()),
            (None, true) => Some(BizId::from_random(rand::random())),
            (None, false) => None,
        };
        let request = CheckResultRequest {
            transaction_id: key.transaction_id.clone(),
            biz_id,
            return_images: query.images.return_images,
            extra_images: query.images.extra_images.clone(),
        };
        let flight_key = (key.clone(), query.images.clone());
        let audit = self.audit.enabled();
        loop {
            let tenant = Arc::clone(tenant);
            let request = request.clone();
            let product = key.product;
            let joined = self
                .flights
                .join(flight_key.clone(), deadline, move |flight_deadline| {
                    Core::call_upstream(tenant, product, request, flight_deadline, audit)
                })
                .await;
            let result = joined.value.unwrap_or_else(|| {
                Err(ServiceError::new(
                    ErrorReason::UpstreamUnavailable,
                    "the upstream call failed unexpectedly",
                ))
            });
            match result {
                Err(e)
                    if e.reason == ErrorReason::UpstreamTimeout
                        && !joined.leader
                        && joined.deadline < deadline
                        && Instant::now() < deadline => {}
                other => return other,
            }
        }
    }
}

impl Backend for Core {
    async fn get(
        &self,
        query: &VerdictQuery,
        caller: &Caller,
        deadline: Instant,
    ) -> Result<pb::VerificationResult, ServiceError> {
        let tenant = self.tenant(query.tenant.as_deref())?;
        let policy = self.policy(Some(tenant), query.policy.as_deref())?;
        crate::telemetry::record_query(query.product.label(), Some(tenant.name.as_str()));
        let key = Key {
            tenant: tenant.name.clone(),
            product: query.product,
            transaction_id: query.transaction_id.clone(),
        };
        let transaction_id = query.transaction_id.as_str();
        let cacheable_read = !query.bypass_cache && !query.images.return_images;
        // A cached result is re-evaluated under the policy asked for; it never has images.
        let from_cache = async |cached: &Cached| {
            self.answer(
                caller,
                &tenant.name,
                query.product,
                transaction_id,
                cached,
                &[],
                evaluate(&cached.facts, policy),
                Source::Cache,
                query.origin,
            )
            .await
        };
        if cacheable_read {
            let hit = self.cache.get(&key);
            self.metrics
                .cache
                .get_or_create(&CacheLabels {
                    result: if hit.is_some() { "hit" } else { "miss" },
                })
                .inc();
            if let Some(cached) = hit {
                return from_cache(&cached).await;
            }
        }
        let fetched = self.fetch(tenant, &key, query, deadline).await?;
        let mut verdict = evaluate(&fetched.cached.facts, policy);
        // Terminal or not does not depend on the policy (PENDING comes from the upstream state).
        let pending = verdict.as_ref().is_ok_and(|v| !v.decision.is_terminal());
        let mut answered = Arc::clone(&fetched.cached);
        if pending {
            // A terminal result never turns back into PENDING (its images, never cached, are
            // not available from a PENDING answer).
            if let Some(cached) = self.cache.get(&key) {
                return from_cache(&cached).await;
            }
        } else if verdict.is_ok() {
            answered = self.hold_terminal(&key, answered);
            if !Arc::ptr_eq(&answered, &fetched.cached) {
                verdict = evaluate(&answered.facts, policy);
            }
        }
        self.answer(
            caller,
            &tenant.name,
            query.product,
            transaction_id,
            &answered,
            &fetched.images,
            verdict,
            Source::Upstream,
            query.origin,
        )
        .await
    }

    async fn evaluate(
        &self,
        query: EvaluateQuery,
        caller: &Caller,
    ) -> Result<pb::VerificationResult, ServiceError> {
        let tenant = match &query.tenant {
            Some(name) => Some(self.tenant(Some(name))?),
            None => self.tenants.get(&self.default_tenant),
        };
        let policy = self.policy(tenant.map(|t| &**t), query.policy.as_deref())?;
        crate::telemetry::record_query(query.product.label(), tenant.map(|t| t.name.as_str()));
        let tenant_name = tenant.map(|t| t.name.as_str()).unwrap_or_default();
        let root = products::json_root(&query.body)?;
        let mut parsed = products::parse_value(query.product, &root, false)?;
        // Unnamed, the API is the one the tenant's configuration calls; only without any tenant
        // does either rule of positive evidence apply.
        let api = match (query.face_capture_api, tenant) {
            (FaceCaptureApiVersion::Unknown, Some(tenant)) => {
                tenant.client.config().face_capture_api.into()
            }
            (named, _) => named,
        };
        parsed.facts.set_face_capture_api(api);
        let cached = Cached {
            redacted: redacted(self.audit.enabled(), query.product, &root),
            facts: parsed.facts,
        };
        let transaction_id = cached.facts.transaction_id.clone().unwrap_or_default();
        self.answer(
            caller,
            tenant_name,
            query.product,
            &transaction_id,
            &cached,
            &[],
            evaluate(&cached.facts, policy),
            Source::Evaluate,
            QueryOrigin::Get,
        )
        .await
    }
}

/// Whether a response's `transactionId` names the requested transaction. ZOLOZ documents
/// masked ids in samples (`…0157****`): a `*` in the answer matches any character, as long as
/// at least half the id is left unmasked. A mostly masked id (`****…`) would match any
/// transaction of its length, so it binds the answer to none.
fn same_transaction(answered: &str, requested: &str) -> bool {
    let masked = answered.bytes().filter(|&b| b == b'*').count();
    answered.len() == requested.len()
        && masked * 2 <= answered.len()
        && answered
            .bytes()
            .zip(requested.bytes())
            .all(|(a, r)| a == r || a == b'*')
}

/// The audit copy of a body, or an empty one when no audit record will ever be written
/// (redaction walks and copies the whole body; BENCHMARKS.md).
fn redacted(audit: bool, product: Product, root: &serde_json::Value) -> Redacted {
    if audit {
        redact(product, root)
    } else {
        Redacted {
            body: serde_json::Value::Null,
            removed: Vec::new(),
        }
    }
}

/// One warning per policy that lets a final rejection through to APPROVED
/// ([`Policy::final_rejections_set_to_info`](crate::domain::policy::Policy)): allowed, but a
/// setting an operator should see at every start.
fn warn_of_final_rejections_set_to_info(policies: &crate::domain::policy::PolicySet) {
    for policy in policies.names().filter_map(|name| policies.get(name)) {
        let reasons: Vec<&str> = policy
            .final_rejections_set_to_info()
            .map(|code| code.as_str())
            .collect();
        if !reasons.is_empty() {
            tracing::warn!(
                policy = policy.name(),
                reasons = reasons.join(","),
                "the policy sets non-retryable REJECT reasons to info: a transaction with \
                 these signals can be APPROVED"
            );
        }
    }
}

/// A warning at every start when calls without an identity are served, and when bearer
/// tokens would cross the network in plaintext.
fn warn_of_open_access(config: &Config) {
    let callers = &config.callers;
    if callers.allows_unauthenticated() {
        tracing::warn!(
            callers = callers.rules().len(),
            "allow_unauthenticated = true: calls without a known identity are served as caller \
             \"unauthenticated\", with every tenant and images; anyone who can reach the port \
             can read any transaction"
        );
    }
    if config.server.tls.is_none()
        && callers
            .rules()
            .iter()
            .any(|c| c.identity.token_sha256.is_some())
    {
        tracing::warn!(
            "bearer tokens are configured without server.tls: they cross the network in \
             plaintext, readable by anyone on the path"
        );
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The core could not be built.
    #[error("{0}")]
    Core(ServiceError),
    /// The audit file could not be opened.
    #[error("audit file {path}: {reason}")]
    Audit {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A listener could not be bound or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running service.
#[derive(Debug)]
pub struct RunningService {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServeError>>,
    audit: Arc<Audit>,
    audit_flush_wait: Duration,
}

impl RunningService {
    /// The gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, when metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Starts the drain (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Drains and waits for the server to stop; then flushes the audit log.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        self.begin_shutdown();
        self.wait().await
    }

    /// Waits for the server to stop (after [`RunningService::begin_shutdown`] or a signal
    /// given to [`start`]).
    pub async fn wait(self) -> Result<(), ServeError> {
        let result = match self.handle.await {
            Ok(result) => result,
            Err(e) => Err(ServeError::Reflection(format!("server task failed: {e}"))),
        };
        // Everything queued is written before exit, within a bound: a stalled sink must not
        // keep the process from stopping.
        let (audit, wait) = (self.audit, self.audit_flush_wait);
        let _ = tokio::task::spawn_blocking(move || audit.close(wait)).await;
        result
    }
}

/// Builds everything and serves on `listener` (and `/metrics` on `metrics_listener`) until
/// `shutdown` resolves or [`RunningService::begin_shutdown`] is called.
pub async fn start(
    config: &Config,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<RunningService, StartError> {
    warn_of_final_rejections_set_to_info(&config.policies);
    warn_of_open_access(config);
    let metrics = Arc::new(Metrics::new());
    let audit =
        Arc::new(match (&config.audit.enabled, &config.audit.file) {
            (false, _) => Audit::disabled(),
            (true, None) => Audit::stdout(config.audit.settings, metrics.audit()),
            (true, Some(path)) => Audit::file(path, config.audit.settings, metrics.audit())
                .map_err(|e| StartError::Audit {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
        });
    let core = Arc::new(
        Core::new(config, Arc::clone(&metrics), Arc::clone(&audit)).map_err(StartError::Core)?,
    );
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    server::set_health(&health_reporter, ServingStatus::NotServing).await;

    let (draining_tx, draining_rx) = watch::channel(false);
    let audit_stalled = audit.fails_closed().then(|| audit.stalled());
    let default_deadline = config
        .tenants
        .by_name
        .values()
        .map(|t| t.client.default_deadline)
        .max()
        .unwrap_or(Duration::from_secs(30));
    let service = VerdictGrpc::new(
        core,
        ServiceSettings {
            max_in_flight: config.server.max_in_flight,
            default_deadline,
            watch_max_wait: config.watch.max_wait,
            watch_initial_interval: config.watch.initial_interval,
            watch_max_interval: config.watch.max_interval,
            callers: config.callers.clone(),
            default_tenant: config.tenants.default.clone(),
            response_budget: crate::grpc::budget::ResponseBudget::new(
                config.server.max_response_bytes_in_flight,
                config.server.send_timeout,
            ),
            evaluate_limits: crate::grpc::validate::EvaluateLimits {
                max_body_bytes: config.server.max_evaluate_body_bytes,
                max_json_elements: config.server.max_evaluate_json_elements,
            },
        },
        Arc::clone(&metrics),
        draining_rx,
    );
    let settings = ServerSettings {
        max_message_bytes: config.server.max_message_bytes,
        max_concurrent_streams: config.server.max_concurrent_streams,
        http2_keepalive_interval: config.server.http2_keepalive_interval,
        http2_keepalive_timeout: config.server.http2_keepalive_timeout,
        tls: config.server.tls.clone(),
        shutdown_grace: config.server.shutdown_grace,
    };
    let addr = listener.local_addr()?;
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let (metrics_stop_tx, metrics_stop_rx) = tokio::sync::oneshot::channel::<()>();
    if let Some(metrics_listener) = metrics_listener {
        tokio::spawn(crate::telemetry::metrics::serve(
            metrics_listener,
            Arc::clone(&metrics),
            async move {
                let _ = metrics_stop_rx.await;
            },
        ));
    }
    let signal = async move {
        tokio::select! {
            () = shutdown => {}
            _ = shutdown_rx => {}
        }
    };
    let handle = tokio::spawn(async move {
        let result = server::serve(
            listener,
            service,
            &settings,
            (health_reporter, health_service),
            draining_tx,
            audit_stalled,
            signal,
        )
        .await;
        let _ = metrics_stop_tx.send(());
        result
    });
    tracing::info!(%addr, metrics = ?metrics_addr, "serving");
    Ok(RunningService {
        addr,
        metrics_addr,
        shutdown: Some(shutdown_tx),
        handle,
        audit,
        audit_flush_wait: config.server.shutdown_grace,
    })
}

#[cfg(test)]
mod tests {
    use super::same_transaction;

    #[test]
    fn transaction_ids_match_exactly_or_through_a_mask() {
        assert!(same_transaction("G0001570702", "G0001570702"));
        assert!(same_transaction("G000157****", "G0001570702"));
        assert!(!same_transaction("G0001570703", "G0001570702"));
        assert!(!same_transaction("G000157070", "G0001570702"));
        assert!(!same_transaction("", "G0001570702"));
        // The seed's own mask: four of 39 characters.
        assert!(same_transaction(
            "G000000005FID2020030400000000000157****",
            "G000000005FID20200304000000000001570702"
        ));
        // Half masked still binds; more than half, or all of it, binds to nothing.
        assert!(same_transaction("G00*", "G001"));
        assert!(same_transaction("G0**", "G001"));
        assert!(!same_transaction("G***", "G001"));
        assert!(!same_transaction("****", "G001"));
        assert!(!same_transaction("***********", "G0001570702"));
    }
}
