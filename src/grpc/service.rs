//! The `zoloz.verdict.v1.VerdictService` implementation: validate, bound by the caller's
//! deadline, shed load, call the backend, map errors in one place; and the Watch loop.
//! Handlers convert, call, convert back; what a verdict is and where facts come from is the
//! backend's business.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use super::budget::{Held, ResponseBudget};
use super::deadline::answer_by;
use super::status::to_status;
use super::validate::{self, EvaluateQuery, VerdictQuery};
use crate::callers::{Caller, Callers, UNIDENTIFIED};
use crate::error::{ErrorReason, ServiceError};
use crate::pb;
use crate::pb::verdict_service_server::VerdictService;
use crate::telemetry::metrics::{MethodLabels, Metrics, RpcLabels};

/// What the service needs from the rest of the application: verdicts for validated queries.
pub trait Backend: Send + Sync + 'static {
    /// One Get (or one poll of a Watch) for `caller`, answered by `deadline`. The caller was
    /// identified and authorized for the query's tenant and images.
    fn get(
        &self,
        query: &VerdictQuery,
        caller: &Caller,
        deadline: Instant,
    ) -> impl Future<Output = Result<pb::VerificationResult, ServiceError>> + Send;

    /// One Evaluate (no upstream call) for `caller`, authorized for the query's tenant.
    fn evaluate(
        &self,
        query: EvaluateQuery,
        caller: &Caller,
    ) -> impl Future<Output = Result<pb::VerificationResult, ServiceError>> + Send;
}

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// RPCs in progress at most (Get and Evaluate together; Watch streams separately); more
    /// are shed with `OVERLOADED`.
    pub max_in_flight: usize,
    /// The longest a unary call may take when the caller sets no deadline.
    pub default_deadline: Duration,
    /// The longest a Watch may run.
    pub watch_max_wait: Duration,
    /// The first Watch poll interval.
    pub watch_initial_interval: Duration,
    /// The Watch poll interval cap.
    pub watch_max_interval: Duration,
    /// Who may call, and what each caller may ask for.
    pub callers: Callers,
    /// The tenant of a request that names none, when its caller has no default of its own.
    pub default_tenant: String,
    /// How large an Evaluate body may be.
    pub evaluate_limits: validate::EvaluateLimits,
    /// The bytes image-carrying answers may hold until written out, and the send timeout.
    pub response_budget: super::budget::ResponseBudget,
}

/// One caller's own slots (none: only the server's limit applies).
#[derive(Debug, Default)]
struct CallerSlots {
    calls: Option<Arc<Semaphore>>,
    watches: Option<Arc<Semaphore>>,
}

/// The gRPC service.
pub struct VerdictGrpc<B> {
    backend: Arc<B>,
    settings: ServiceSettings,
    permits: Arc<Semaphore>,
    /// Watches have their own slots: a long Watch must not crowd out Gets.
    watch_permits: Arc<Semaphore>,
    /// Each configured caller's own limits, by name.
    caller_slots: HashMap<&'static str, CallerSlots>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

impl<B> VerdictGrpc<B> {
    /// A service over `backend`. `shutdown` turns true when the server starts draining: running
    /// Watch streams then end, so that draining does not wait for them.
    pub fn new(
        backend: Arc<B>,
        settings: ServiceSettings,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let caller_slots = settings
            .callers
            .rules()
            .iter()
            .map(|c| {
                let slots = CallerSlots {
                    calls: c.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
                    watches: c.max_watches.map(|n| Arc::new(Semaphore::new(n))),
                };
                (c.name, slots)
            })
            .collect();
        Self {
            permits: Arc::new(Semaphore::new(settings.max_in_flight)),
            watch_permits: Arc::new(Semaphore::new(settings.max_in_flight)),
            caller_slots,
            backend,
            settings,
            metrics,
            shutdown,
        }
    }

    /// Who is calling: the client certificate and the `authorization` metadata, matched
    /// against the configured callers; refused with `CALLER_UNAUTHENTICATED` when none matches.
    fn identify<T>(
        &self,
        method: &'static str,
        request: &Request<T>,
    ) -> Result<Arc<Caller>, Status> {
        let certificates = request.peer_certs();
        let leaf = certificates.as_deref().and_then(|c| c.first());
        let authorization = request
            .metadata()
            .get("authorization")
            .map(tonic::metadata::MetadataValue::as_bytes);
        match self
            .settings
            .callers
            .identify(leaf.map(|c| c.as_ref()), authorization)
        {
            Ok(caller) => {
                crate::telemetry::record_caller(caller.name);
                Ok(caller)
            }
            Err(error) => {
                self.record(method, UNIDENTIFIED, Some(error.reason));
                tracing::info!(method, reason = %error.reason, message = %error.message, "refused");
                Err(to_status(&error))
            }
        }
    }

    /// The refusal of an image-carrying call while the response budget is spent (counted as
    /// shed).
    fn over_budget(&self, method: &'static str, caller: &Caller) -> ServiceError {
        self.count_shed(method, caller);
        ServiceError::new(
            ErrorReason::Overloaded,
            format!(
                "image answers being made or waiting to be read hold the response budget \
                 (server.max_response_bytes_in_flight, {} bytes); retry with backoff",
                self.settings.response_budget.bytes()
            ),
        )
    }

    /// Counts a call shed with `OVERLOADED`.
    fn count_shed(&self, method: &'static str, caller: &Caller) {
        self.metrics
            .shed
            .get_or_create(&MethodLabels {
                method,
                caller: caller.name,
            })
            .inc();
    }

    /// Resolves the tenant a request asks about (its own, else the caller's default, else the
    /// service's) and refuses what the caller was not granted.
    fn authorize(
        &self,
        caller: &Caller,
        tenant: &mut Option<String>,
        images: bool,
    ) -> Result<(), ServiceError> {
        let resolved = caller
            .tenant_for(tenant.as_deref(), &self.settings.default_tenant)
            .to_string();
        caller.authorize(&resolved, images)?;
        *tenant = Some(resolved);
        Ok(())
    }

    /// Takes an in-flight slot (the server's and the caller's own) or sheds the call.
    fn admit(&self, method: &'static str, caller: &Caller) -> Result<InFlight, Status> {
        let watch = method == "watch";
        let permits = if watch {
            &self.watch_permits
        } else {
            &self.permits
        };
        let own = self.caller_slots.get(caller.name).and_then(|slots| {
            if watch {
                slots.watches.as_ref()
            } else {
                slots.calls.as_ref()
            }
        });
        let shed = |message: String| {
            self.count_shed(method, caller);
            self.record(method, caller.name, Some(ErrorReason::Overloaded));
            to_status(&ServiceError::new(ErrorReason::Overloaded, message))
        };
        let caller_permit = match own {
            None => None,
            Some(semaphore) => Some(Arc::clone(semaphore).try_acquire_owned().map_err(|_| {
                shed(format!(
                    "caller {} already has {} {} in progress (its own limit); retry with backoff",
                    caller.name,
                    semaphore_limit(caller, watch),
                    if watch { "Watch streams" } else { "calls" },
                ))
            })?),
        };
        match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => {
                self.metrics.in_flight.inc();
                Ok(InFlight {
                    _permit: permit,
                    _caller_permit: caller_permit,
                    metrics: Arc::clone(&self.metrics),
                })
            }
            Err(_) => Err(shed(format!(
                "the service is saturated ({} calls in progress); retry with backoff",
                self.settings.max_in_flight
            ))),
        }
    }

    fn record(&self, method: &'static str, caller: &'static str, error: Option<ErrorReason>) {
        self.metrics
            .rpcs
            .get_or_create(&RpcLabels {
                method,
                outcome: error.map_or("OK", ErrorReason::as_str),
                caller,
            })
            .inc();
    }

    fn finish<T>(
        &self,
        method: &'static str,
        caller: &Caller,
        result: Result<T, ServiceError>,
    ) -> Result<T, Status> {
        match result {
            Ok(value) => {
                self.record(method, caller.name, None);
                Ok(value)
            }
            Err(error) => {
                self.record(method, caller.name, Some(error.reason));
                tracing::info!(method, caller = caller.name, reason = %error.reason, message = %error.message, "no verdict");
                Err(to_status(&error))
            }
        }
    }
}

/// The limit of a caller's own slots, for the message that sheds a call.
fn semaphore_limit(caller: &Caller, watch: bool) -> usize {
    if watch {
        caller.max_watches
    } else {
        caller.max_in_flight
    }
    .unwrap_or_default()
}

/// Holds an in-flight slot, the caller's own one (when it has a limit) and the gauge until
/// dropped.
struct InFlight {
    _permit: OwnedSemaphorePermit,
    _caller_permit: Option<OwnedSemaphorePermit>,
    metrics: Arc<Metrics>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}

fn deadline_exceeded(what: &str) -> ServiceError {
    ServiceError::new(
        ErrorReason::UpstreamTimeout,
        format!("{what} did not finish within the caller's deadline"),
    )
}

/// Runs `work` until `deadline`, answering `DEADLINE_EXCEEDED` ourselves when it passes.
async fn bounded<T>(
    deadline: Instant,
    work: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, ServiceError> {
    tokio::time::timeout_at(deadline, work)
        .await
        .unwrap_or_else(|_| Err(deadline_exceeded("the verdict")))
}

type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::VerificationResult, Status>> + Send>>;

#[tonic::async_trait]
impl<B: Backend> VerdictService for VerdictGrpc<B> {
    async fn get_verification_result(
        &self,
        request: Request<pb::GetVerificationResultRequest>,
    ) -> Result<Response<pb::VerificationResult>, Status> {
        let deadline = answer_by(&request, self.settings.default_deadline);
        let caller = self.identify("get", &request)?;
        let _slot = self.admit("get", &caller)?;
        let result = async {
            let mut query = validate::get_query(request.get_ref())?;
            self.authorize(&caller, &mut query.tenant, query.images.return_images)?;
            // An image-carrying call holds the response budget from admission (an estimate)
            // until its answer is written out (its encoded size).
            let budget = &self.settings.response_budget;
            let over_budget = || self.over_budget("get", &caller);
            let held = match query.images.return_images {
                true => Some(
                    budget
                        .reserve(super::budget::ADMISSION_ESTIMATE)
                        .ok_or_else(over_budget)?,
                ),
                false => None,
            };
            let result = bounded(deadline, self.backend.get(&query, &caller, deadline)).await?;
            let held = match held {
                Some(held) if !result.images.is_empty() => {
                    if !budget.resize(&held, prost::Message::encoded_len(&result)) {
                        return Err(over_budget());
                    }
                    Some(held)
                }
                _ => None,
            };
            Ok((result, held))
        }
        .await;
        self.finish("get", &caller, result).map(|(result, held)| {
            let mut response = Response::new(result);
            if let Some(held) = held {
                response.extensions_mut().insert(held);
            }
            response
        })
    }

    type WatchVerificationResultStream = WatchStream;

    async fn watch_verification_result(
        &self,
        request: Request<pb::WatchVerificationResultRequest>,
    ) -> Result<Response<Self::WatchVerificationResultStream>, Status> {
        let caller_deadline = answer_by(&request, self.settings.watch_max_wait);
        let caller = self.identify("watch", &request)?;
        let slot = self.admit("watch", &caller)?;
        let (query, max_wait) =
            match validate::watch_query(request.get_ref()).and_then(|(mut q, w)| {
                self.authorize(&caller, &mut q.tenant, q.images.return_images)?;
                Ok((q, w))
            }) {
                Ok(parsed) => parsed,
                Err(error) => return self.finish("watch", &caller, Err(error)),
            };
        let wait = max_wait
            .unwrap_or(self.settings.watch_max_wait)
            .min(self.settings.watch_max_wait);
        let end = caller_deadline.min(Instant::now() + wait);
        // A Watch that returns images holds the response budget for as long as its stream
        // lives: room for the result waiting in its channel (one, for such a Watch) and the one
        // being written out, each first estimated, then sized when it is made.
        let budget = self.settings.response_budget.clone();
        let held = match query.images.return_images {
            true => match budget.reserve(WATCH_IMAGE_RESULTS * super::budget::ADMISSION_ESTIMATE) {
                Some(held) => Some(held),
                None => {
                    let refused = self.over_budget("watch", &caller);
                    return self.finish("watch", &caller, Err(refused));
                }
            },
            false => None,
        };
        let (tx, rx) = mpsc::channel(if held.is_some() { 1 } else { 4 });
        let watcher = Watcher {
            backend: Arc::clone(&self.backend),
            query,
            caller,
            end,
            initial: self.settings.watch_initial_interval,
            max: self.settings.watch_max_interval,
            tx,
            shutdown: self.shutdown.clone(),
            metrics: Arc::clone(&self.metrics),
            budget: held.clone().map(|held| (budget, held)),
        };
        tokio::spawn(
            async move {
                let _slot = slot;
                watcher.run().await;
            }
            .instrument(tracing::Span::current()),
        );
        Ok(Response::new(Box::pin(HeldStream {
            inner: ReceiverStream::new(rx),
            _held: held,
        })))
    }

    async fn evaluate_verification_result(
        &self,
        request: Request<pb::EvaluateVerificationResultRequest>,
    ) -> Result<Response<pb::VerificationResult>, Status> {
        let caller = self.identify("evaluate", &request)?;
        let _slot = self.admit("evaluate", &caller)?;
        // No upstream call, but the tenant's policy and Face Capture API are the tenant's:
        // a caller evaluates only under tenants it is granted.
        let limits = &self.settings.evaluate_limits;
        let result = match validate::evaluate_query(request.get_ref(), limits) {
            Ok(mut query) => match self.authorize(&caller, &mut query.tenant, false) {
                Ok(()) => self.backend.evaluate(query, &caller).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.finish("evaluate", &caller, result).map(Response::new)
    }
}

/// One Watch: polls with growing intervals, sends a result whenever the decision changes, and
/// ends after a terminal result, at `end`, at shutdown, or when the caller goes away.
struct Watcher<B> {
    backend: Arc<B>,
    query: VerdictQuery,
    caller: Arc<Caller>,
    end: Instant,
    initial: Duration,
    max: Duration,
    tx: mpsc::Sender<Result<pb::VerificationResult, Status>>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Metrics>,
    /// For a Watch that returns images: the response budget and the stream's reservation.
    budget: Option<(ResponseBudget, Held)>,
}

/// The results an image-carrying Watch holds budget for: one waiting in its channel, one being
/// written out.
const WATCH_IMAGE_RESULTS: usize = 2;

/// A Watch's stream, holding its share of the response budget until the stream is dropped
/// (its last result written out, or the caller gone).
struct HeldStream {
    inner: ReceiverStream<Result<pb::VerificationResult, Status>>,
    _held: Option<Held>,
}

impl tokio_stream::Stream for HeldStream {
    type Item = Result<pb::VerificationResult, Status>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        Pin::new(&mut self.get_mut().inner).poll_next(cx)
    }
}

/// Errors a Watch keeps polling through (the next poll may succeed).
fn transient(reason: ErrorReason) -> bool {
    matches!(
        reason,
        ErrorReason::UpstreamUnavailable
            | ErrorReason::UpstreamRateLimited
            | ErrorReason::UpstreamTimeout
    )
}

impl<B: Backend> Watcher<B> {
    async fn run(mut self) {
        let outcome = self.poll_loop().await;
        let reason = outcome.as_ref().err().map(|e| e.reason);
        self.metrics
            .rpcs
            .get_or_create(&RpcLabels {
                method: "watch",
                outcome: reason.map_or("OK", ErrorReason::as_str),
                caller: self.caller.name,
            })
            .inc();
        if let Err(error) = outcome {
            let _ = self.send(Err(to_status(&error))).await;
        }
    }

    /// Sends one item, waiting for a slow reader at most the send timeout when the Watch
    /// returns images (a stalled reader must not hold the Watch, and its budget, until its end).
    /// `false` when the item was not taken: the caller is gone or does not read.
    async fn send(&self, item: Result<pb::VerificationResult, Status>) -> bool {
        match &self.budget {
            Some((budget, _)) => tokio::time::timeout(budget.send_timeout(), self.tx.send(item))
                .await
                .is_ok_and(|sent| sent.is_ok()),
            None => self.tx.send(item).await.is_ok(),
        }
    }

    /// `Ok` when the stream should end cleanly; `Err` to end it with that error.
    async fn poll_loop(&mut self) -> Result<(), ServiceError> {
        let mut interval = self.initial;
        let mut last_decision = None;
        let mut last_error: Option<ServiceError>;
        loop {
            if *self.shutdown.borrow() {
                return Err(shutting_down());
            }
            let poll = tokio::select! {
                result = bounded(self.end, self.backend.get(&self.query, &self.caller, self.end)) => result,
                _ = self.shutdown.changed() => return Err(shutting_down()),
                () = self.tx.closed() => return Ok(()),
            };
            match poll {
                Ok(result) => {
                    last_error = None;
                    let decision = result.decision();
                    let terminal = decision != pb::Decision::Pending;
                    if last_decision != Some(decision) {
                        last_decision = Some(decision);
                        // Images are sized when they are made: the stream holds room for two
                        // results of this size (one waiting, one being written out).
                        if let Some((budget, held)) = &self.budget
                            && !result.images.is_empty()
                            && !budget.resize(
                                held,
                                WATCH_IMAGE_RESULTS * prost::Message::encoded_len(&result),
                            )
                        {
                            return Err(ServiceError::new(
                                ErrorReason::Overloaded,
                                "the watch's images do not fit the response budget \
                                 (server.max_response_bytes_in_flight) now; watch again later",
                            ));
                        }
                        if !self.send(Ok(result)).await {
                            return Ok(());
                        }
                    }
                    if terminal {
                        return Ok(());
                    }
                }
                Err(error) if transient(error.reason) && Instant::now() < self.end => {
                    tracing::debug!(reason = %error.reason, "watch poll failed; polling again");
                    last_error = Some(error);
                }
                Err(error) => {
                    // The end came during a poll: a stream that already told the caller
                    // "pending" ends cleanly; one that told nothing reports why.
                    if error.reason == ErrorReason::UpstreamTimeout && last_decision.is_some() {
                        return Ok(());
                    }
                    return Err(error);
                }
            }
            let wake = Instant::now() + interval;
            if wake >= self.end {
                return match (last_decision, last_error) {
                    (Some(_), _) => Ok(()),
                    (None, Some(error)) => Err(error),
                    (None, None) => Err(deadline_exceeded("the watch")),
                };
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                _ = self.shutdown.changed() => return Err(shutting_down()),
                () = self.tx.closed() => return Ok(()),
            }
            interval = interval.mul_f32(1.5).min(self.max);
        }
    }
}

fn shutting_down() -> ServiceError {
    ServiceError::new(
        ErrorReason::ShuttingDown,
        "the server is shutting down; watch again (another replica will answer)",
    )
}
