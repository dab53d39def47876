//! The ZOLOZ client: built once over one [`Transport`]; each call signs (RSA or AK/SK),
//! optionally seals (`RSA_AES`), sends, verifies the response signature and its freshness
//! (fail closed), opens the envelope, reads the result code, and retries as docs/protocol.md
//! says, with full-jitter backoff inside the caller's deadline and a retry budget.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use time::OffsetDateTime;
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};
use tracing::Instrument as _;

use super::aksk;
use super::api::{Api, BaseUrl, BizId, ClientId, FaceCaptureApi, TransactionId};
use super::envelope;
use super::error::UpstreamError;
use super::keys::{PrivateKey, PublicKey};
use super::signing;
use super::transport::Transport;
use crate::domain::{CodeClass, Product, classify_result_code};

/// The source of the current time (Request-Time, freshness). Injectable so tests can skew it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The configured ZOLOZ platform public keys: a default, and any number selected by the
/// response's `keyVersion` (key rotation).
#[derive(Debug, Clone)]
pub struct ZolozKeys {
    /// Used when a response names no `keyVersion`.
    pub default: PublicKey,
    /// Keys by `keyVersion`.
    pub versions: BTreeMap<String, PublicKey>,
}

impl ZolozKeys {
    /// Only a default key.
    pub fn single(key: PublicKey) -> Self {
        Self {
            default: key,
            versions: BTreeMap::new(),
        }
    }

    fn select(&self, version: Option<&str>) -> Result<&PublicKey, String> {
        match version {
            None => Ok(&self.default),
            Some(v) => self
                .versions
                .get(v)
                .ok_or_else(|| format!("response names keyVersion {v:?}, which is not configured")),
        }
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Auth {
    /// RSA-SHA256 signatures (the classic mode).
    Rsa {
        /// The merchant private key: signs requests, unwraps response AES keys.
        merchant_key: Arc<PrivateKey>,
        /// The ZOLOZ platform public keys: verify responses, wrap request AES keys.
        zoloz_keys: Arc<ZolozKeys>,
    },
    /// HMAC-SHA256 with an access key and secret key (no encryption).
    AkSk {
        /// The `Access-Key` header value.
        access_key: String,
        /// The shared secret.
        secret: Arc<aksk::SecretKey>,
    },
}

/// Retry settings (docs/protocol.md, Retries).
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Attempts at most, the first included.
    pub max_attempts: u32,
    /// The backoff base: attempt n waits a random time in `[0, min(max, base × 2^(n-1))]`.
    pub base_delay: Duration,
    /// The backoff cap.
    pub max_delay: Duration,
    /// Retries allowed as a fraction of first attempts (the retry budget).
    pub budget_ratio: f32,
    /// Retries always allowed per second, whatever the ratio.
    pub budget_min_per_sec: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget_ratio: 0.2,
            budget_min_per_sec: 10,
        }
    }
}

/// Everything a [`ZolozClient`] needs, validated by construction.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `scheme://host[:port]`.
    pub base_url: BaseUrl,
    /// The Client-Id.
    pub client_id: ClientId,
    /// Request authentication.
    pub auth: Auth,
    /// Send `RSA_AES`-encrypted requests (RSA mode only).
    pub encrypt: bool,
    /// Which Face Capture checkresult version to call.
    pub face_capture_api: FaceCaptureApi,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed for one attempt (send and read the whole body).
    pub attempt_timeout: Duration,
    /// Overall time allowed when the caller gives no deadline.
    pub default_deadline: Duration,
    /// Largest response body accepted (image-carrying results are megabytes).
    pub max_response_bytes: usize,
    /// A response whose `Response-Time` is further than this from the local clock is refused.
    pub freshness_window: Duration,
    /// Retries.
    pub retry: RetryConfig,
    /// An HTTP proxy for the ZOLOZ calls. `None`: the one named by `HTTPS_PROXY` (for an https
    /// base URL), `HTTP_PROXY` (http) or `ALL_PROXY`, with `NO_PROXY`, if any; else direct.
    pub http_proxy: Option<ProxyUrl>,
}

/// A proxy URL. Its `Debug` hides the user information (`user:password@`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(pub String);

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once("://") {
            Some((scheme, rest)) => match rest.split_once('@') {
                Some((_, host)) => write!(f, "\"{scheme}://***@{host}\""),
                None => write!(f, "{:?}", self.0),
            },
            None => write!(f, "{:?}", self.0),
        }
    }
}

impl ClientConfig {
    /// A config with the documented defaults for everything but the identity and keys.
    pub fn new(base_url: BaseUrl, client_id: ClientId, auth: Auth) -> Self {
        Self {
            base_url,
            client_id,
            auth,
            encrypt: false,
            face_capture_api: FaceCaptureApi::default(),
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
            default_deadline: Duration::from_secs(30),
            max_response_bytes: 32 * 1024 * 1024,
            freshness_window: Duration::from_secs(300),
            retry: RetryConfig::default(),
            http_proxy: None,
        }
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// Encryption needs RSA keys.
    #[error("encryption (RSA_AES) needs the RSA auth mode, not AK/SK")]
    EncryptionNeedsRsa,
    /// The HTTP transport refused the settings.
    #[error("cannot build the http client: {0}")]
    Http(String),
}

/// A checkresult request.
#[derive(Debug, Clone)]
pub struct CheckResultRequest {
    /// The transaction.
    pub transaction_id: TransactionId,
    /// The business id (ignored by Face Compare; generated by the caller when empty).
    pub biz_id: Option<BizId>,
    /// `isReturnImage` (always sent: `N` unless asked, since ID Recognition defaults to `Y`).
    pub return_images: bool,
    /// `extraImageControlList`, only sent with `return_images`.
    pub extra_images: Vec<String>,
}

impl CheckResultRequest {
    /// The JSON body for a product's checkresult API.
    pub fn to_json(&self, product: Product) -> Vec<u8> {
        /// The body, written straight from borrowed fields (no intermediate `Value`).
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            biz_id: Option<&'a str>,
            transaction_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            is_return_image: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            extra_image_control_list: Option<&'a [String]>,
        }
        let body = if product == Product::FaceCompare {
            Body {
                biz_id: None,
                transaction_id: self.transaction_id.as_str(),
                is_return_image: None,
                extra_image_control_list: None,
            }
        } else {
            Body {
                biz_id: self.biz_id.as_ref().map(BizId::as_str),
                transaction_id: self.transaction_id.as_str(),
                is_return_image: Some(if self.return_images { "Y" } else { "N" }),
                extra_image_control_list: (self.return_images && !self.extra_images.is_empty())
                    .then_some(self.extra_images.as_slice()),
            }
        };
        // Serializing strings into a Vec cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// A verified (and, where needed, decrypted) response whose result code is not a failure.
/// Not `Clone`: the body and its tree may hold megabytes of images.
pub struct VerifiedResponse {
    /// The plaintext JSON body.
    pub body: Bytes,
    /// The same body, parsed (once, here: the result envelope is read from it).
    pub json: serde_json::Value,
    /// `result.resultCode`.
    pub result_code: String,
    /// `result.resultStatus`.
    pub result_status: String,
    /// How many attempts it took.
    pub attempts: u32,
    /// The API that answered.
    pub api: Api,
}

impl fmt::Debug for VerifiedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedResponse")
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("result_code", &self.result_code)
            .field("result_status", &self.result_status)
            .field("attempts", &self.attempts)
            .field("api", &self.api)
            .finish()
    }
}

/// Receives one event per attempt and per retry (metrics live behind this).
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// One attempt ended: `outcome` is `ok` or an [`UpstreamError::label`].
    fn attempt(&self, api: Api, outcome: &'static str, elapsed: Duration);
    /// A retry is about to be made.
    fn retry(&self, api: Api);
}

/// Observes nothing.
#[derive(Debug, Default)]
pub struct NoopObserver;

impl CallObserver for NoopObserver {
    fn attempt(&self, _: Api, _: &'static str, _: Duration) {}
    fn retry(&self, _: Api) {}
}

/// The ZOLOZ client of one tenant. Cheap to clone; share it.
#[derive(Clone)]
pub struct ZolozClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    config: ClientConfig,
    clock: Arc<dyn Clock>,
    budget: TpsBudget,
    observer: Arc<dyn CallObserver>,
    binding: Mutex<Binding>,
}

/// How much earlier than the request's sending (in ZOLOZ's clock) a `Response-Time` may be:
/// the header has whole seconds, and clocks jitter.
pub const BINDING_TOLERANCE: Duration = Duration::from_secs(2);

/// The least wait before retrying an answer refused as a replay: `Response-Time` has whole
/// seconds, so an answer after it is signed anew.
pub const REPLAYED_RETRY_DELAY: Duration = Duration::from_millis(1100);

/// Signatures remembered at most per tenant (each for the freshness window); the oldest is
/// forgotten first.
pub const MAX_REMEMBERED_SIGNATURES: usize = 65_536;

/// What binds an answer to its request: the clock offset to ZOLOZ measured from its answers,
/// and the signatures accepted within the freshness window with the transaction each answered.
#[derive(Debug, Default)]
struct Binding {
    /// The largest `Response-Time − local receipt time` of recent answers (ms), and when it was
    /// measured. A genuine answer is stamped before it is received, so this is at most the
    /// true offset; a replayed (older) answer only gives a smaller sample.
    offset: Option<(i128, OffsetDateTime)>,
    /// SHA-256 of an accepted `Signature` header → (the transaction it answered, forget after).
    seen: HashMap<[u8; 32], (String, OffsetDateTime)>,
    /// The same keys in acceptance order, for expiry and the bound.
    order: VecDeque<([u8; 32], OffsetDateTime)>,
}

impl Binding {
    /// Takes this answer's offset sample and returns the offset estimate (ms) to check it with.
    fn offset(&mut self, sample: i128, now: OffsetDateTime, window: Duration) -> i128 {
        match self.offset {
            Some((best, at)) if best >= sample && now - at <= window => best,
            _ => {
                self.offset = Some((sample, now));
                sample
            }
        }
    }

    /// Records an accepted signature for `transaction`; refuses one already accepted for
    /// another transaction within the window.
    fn accept(
        &mut self,
        signature: [u8; 32],
        transaction: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> Result<(), String> {
        while let Some((key, until)) = self.order.front() {
            if *until > now && self.order.len() < MAX_REMEMBERED_SIGNATURES {
                break;
            }
            if self.seen.get(key).is_some_and(|(_, u)| u == until) {
                self.seen.remove(key);
            }
            self.order.pop_front();
        }
        if let Some((answered, _)) = self.seen.get(&signature)
            && answered != transaction
        {
            return Err(
                "this signed answer was already accepted for another transaction (a replay)".into(),
            );
        }
        let until = now + window;
        self.seen
            .insert(signature, (transaction.to_string(), until));
        self.order.push_back((signature, until));
        Ok(())
    }
}

impl fmt::Debug for ZolozClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZolozClient")
            .field("base_url", &self.inner.config.base_url)
            .field("client_id", &self.inner.config.client_id)
            .finish_non_exhaustive()
    }
}

/// The User-Agent sent with every request (ZOLOZ's WAF refuses requests without one).
pub const USER_AGENT: &str = concat!("zoloz-verdict/", env!("CARGO_PKG_VERSION"));

impl ZolozClient {
    /// Builds the client (and its HTTP connection pool) once.
    pub fn new(config: ClientConfig) -> Result<Self, ClientBuildError> {
        Self::with_parts(config, Arc::new(SystemClock), Arc::new(NoopObserver))
    }

    /// Builds the client with an injected clock and observer.
    pub fn with_parts(
        config: ClientConfig,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn CallObserver>,
    ) -> Result<Self, ClientBuildError> {
        if config.encrypt && matches!(config.auth, Auth::AkSk { .. }) {
            return Err(ClientBuildError::EncryptionNeedsRsa);
        }
        let base = reqwest::Url::parse(config.base_url.as_str())
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        let transport = Transport::new(
            &base,
            config.http_proxy.as_ref().map(|p| p.0.as_str()),
            config.connect_timeout,
            USER_AGENT,
            |name| std::env::var(name).ok(),
        )
        .map_err(ClientBuildError::Http)?;
        let budget = TpsBudget::new(
            Duration::from_secs(10),
            config.retry.budget_min_per_sec,
            config.retry.budget_ratio,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                config,
                clock,
                budget,
                observer,
                binding: Mutex::new(Binding::default()),
            }),
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Calls a product's checkresult API.
    pub async fn checkresult(
        &self,
        product: Product,
        request: &CheckResultRequest,
        deadline: Option<Instant>,
    ) -> Result<VerifiedResponse, UpstreamError> {
        let api = self.inner.config.face_capture_api.api_for(product);
        self.call_for(
            api,
            &request.to_json(product),
            Some(request.transaction_id.as_str()),
            deadline,
        )
        .await
    }

    /// Calls `authentication/test` (a readiness probe of the credentials): ZOLOZ echoes the
    /// body when the signature checks out.
    pub async fn authentication_test(
        &self,
        deadline: Option<Instant>,
    ) -> Result<VerifiedResponse, UpstreamError> {
        let body = br#"{"title":"zoloz-verdict","description":"credentials check"}"#;
        self.call(Api::AuthenticationTest, body, deadline).await
    }

    /// Signs, sends, verifies and retries one API call; `body` is the plaintext JSON.
    pub async fn call(
        &self,
        api: Api,
        body: &[u8],
        deadline: Option<Instant>,
    ) -> Result<VerifiedResponse, UpstreamError> {
        self.call_for(api, body, None, deadline).await
    }

    /// [`ZolozClient::call`] for a request about `transaction`: an answer whose signature was
    /// already accepted for another transaction is refused.
    async fn call_for(
        &self,
        api: Api,
        body: &[u8],
        transaction: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<VerifiedResponse, UpstreamError> {
        let inner = &self.inner;
        let deadline = deadline.unwrap_or_else(|| Instant::now() + inner.config.default_deadline);
        inner.budget.deposit();
        let mut attempts = 0;
        loop {
            if Instant::now() >= deadline {
                return Err(UpstreamError::Timeout { attempts });
            }
            attempts += 1;
            let attempt_deadline = deadline.min(Instant::now() + inner.config.attempt_timeout);
            let started = Instant::now();
            // For exported traces only (`telemetry::spans_exported`): records on a disabled
            // span are no-ops.
            let span = if crate::telemetry::spans_exported() {
                tracing::info_span!(
                    "zoloz.call",
                    otel.kind = "client",
                    api = api.label(),
                    attempt = attempts,
                    http.status_code = tracing::field::Empty,
                    zoloz.result_code = tracing::field::Empty,
                    outcome = tracing::field::Empty,
                )
            } else {
                tracing::Span::none()
            };
            let outcome =
                tokio::time::timeout_at(attempt_deadline, self.attempt(api, body, transaction))
                    .instrument(span.clone())
                    .await;
            let mut error = match outcome {
                Ok(Ok(mut response)) => {
                    span.record("outcome", "ok");
                    span.record("zoloz.result_code", response.result_code.as_str());
                    inner.observer.attempt(api, "ok", started.elapsed());
                    response.attempts = attempts;
                    return Ok(response);
                }
                Ok(Err(error)) => error,
                Err(_) if attempt_deadline >= deadline => {
                    span.record("outcome", "timeout");
                    inner.observer.attempt(api, "timeout", started.elapsed());
                    return Err(UpstreamError::Timeout { attempts });
                }
                Err(_) => UpstreamError::Transport {
                    message: format!(
                        "no complete answer within the attempt timeout of {:?}",
                        inner.config.attempt_timeout
                    ),
                    attempts,
                },
            };
            span.record("outcome", error.label());
            if let UpstreamError::Failure { code, .. } = &error {
                span.record("zoloz.result_code", code.as_str());
            }
            inner
                .observer
                .attempt(api, error.label(), started.elapsed());
            error.set_attempts(attempts);
            if !error.is_retryable() || attempts >= inner.config.retry.max_attempts {
                return Err(error);
            }
            let mut delay = self.backoff(attempts);
            if matches!(error, UpstreamError::Replayed(_)) {
                // The same bytes as an answer accepted for another transaction: the next
                // answer, in a later second, carries a new Response-Time and signature.
                delay = delay.max(REPLAYED_RETRY_DELAY);
            }
            if Instant::now() + delay >= deadline {
                tracing::debug!(api = api.label(), attempts, "no time left to retry");
                return Err(error);
            }
            if !inner.budget.withdraw() {
                tracing::warn!(api = api.label(), attempts, "retry budget exhausted");
                return Err(error);
            }
            inner.observer.retry(api);
            tracing::debug!(
                api = api.label(),
                attempts,
                delay_ms = delay.as_millis() as u64,
                reason = error.label(),
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Full jitter: a uniform random delay in `[0, min(max, base × 2^(attempt-1))]`.
    fn backoff(&self, attempt: u32) -> Duration {
        let retry = &self.inner.config.retry;
        let exp = retry
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(retry.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }

    async fn attempt(
        &self,
        api: Api,
        plaintext: &[u8],
        transaction: Option<&str>,
    ) -> Result<VerifiedResponse, UpstreamError> {
        let inner = &self.inner;
        let config = &inner.config;
        let path = api.path();
        let sent = inner.clock.now();
        let time = signing::format_wire_time(sent.to_offset(time::UtcOffset::UTC));
        let mut headers = HeaderMap::new();
        let body: Bytes = match (&config.auth, config.encrypt) {
            (Auth::Rsa { zoloz_keys, .. }, true) => {
                let sealed = envelope::seal(&zoloz_keys.default, plaintext)
                    .map_err(|e| UpstreamError::Request(e.to_string()))?;
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=UTF-8"),
                );
                headers.insert("Encrypt", header_value(&sealed.encrypt_header)?);
                Bytes::from(sealed.body)
            }
            _ => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=UTF-8"),
                );
                Bytes::copy_from_slice(plaintext)
            }
        };
        let client_id = config.client_id.as_str();
        let signature = match &config.auth {
            Auth::Rsa { merchant_key, .. } => {
                signing::sign(merchant_key, path, client_id, &time, &body)
            }
            Auth::AkSk { access_key, secret } => {
                headers.insert("Auth-Type", HeaderValue::from_static(aksk::AUTH_TYPE));
                headers.insert("Access-Key", header_value(access_key)?);
                aksk::sign(secret, path, client_id, &time, &body)
            }
        };
        headers.insert("Client-Id", header_value(client_id)?);
        headers.insert("Request-Time", header_value(&time)?);
        headers.insert("Signature", header_value(&signature)?);

        let response = inner
            .transport
            .post(path, headers, body, config.max_response_bytes)
            .await?;
        if crate::telemetry::spans_exported() {
            tracing::Span::current().record("http.status_code", response.status.as_u16());
        }
        if !response.status.is_success() {
            return Err(UpstreamError::HttpStatus {
                status: response.status.as_u16(),
                attempts: 0,
            });
        }
        let (headers, raw) = (response.headers, response.body);
        let signed = self.verify(path, &headers, &raw)?;
        self.signed_after(sent, signed.time)?;
        // Encrypted or not is decided per answer (docs/protocol.md, RSA_AES): with an Encrypt header, a body that is not a
        // JSON object is the Base64 ciphertext (ZOLOZ's SDK decrypts whenever the header is
        // there, whatever the Content-Type says), and one that is a JSON object is a plain
        // answer, as a gateway's error to an encrypted request can be. Base64 never starts
        // with `{`, so the two cannot be confused.
        let encrypt = single_header(&headers, "Encrypt").map_err(UpstreamError::Malformed)?;
        let json = is_json_object(&raw);
        let plaintext = match encrypt.filter(|_| !json) {
            Some(encrypt) => {
                let opened = self.open(encrypt, &raw)?;
                // The ciphertext is not needed again: not held while the plaintext is parsed.
                drop(raw);
                opened
            }
            None => raw,
        };
        let ResultEnvelope {
            code,
            code_text,
            status,
            message,
            root,
        } = read_result(&plaintext)?;
        if let Some(CodeClass::Failure(failure)) = code.as_deref().map(classify_result_code) {
            return Err(UpstreamError::Failure {
                failure,
                code: code_text,
                status,
                message,
                attempts: 0,
            });
        }
        // An outcome binds its signature to its transaction: the same signed answer offered
        // for another transaction within the freshness window is a replay.
        if let Some(transaction) = transaction {
            let now = inner.clock.now();
            inner
                .binding
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .accept(signed.digest, transaction, now, config.freshness_window)
                .map_err(UpstreamError::Replayed)?;
        }
        Ok(VerifiedResponse {
            body: plaintext,
            json: root,
            result_code: code_text,
            result_status: status,
            attempts: 0,
            api,
        })
    }

    /// Refuses an answer signed before its request was sent, allowing for the clock offset to
    /// ZOLOZ measured from its answers (each within the freshness window) and
    /// [`BINDING_TOLERANCE`]. Until an offset is known (the first answer after start, or after
    /// a freshness window without answers) the freshness window alone applies.
    fn signed_after(
        &self,
        sent: OffsetDateTime,
        signed: OffsetDateTime,
    ) -> Result<(), UpstreamError> {
        let inner = &self.inner;
        let received = inner.clock.now();
        let window = inner.config.freshness_window;
        let sample = (signed - received).whole_milliseconds();
        let offset = inner
            .binding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .offset(sample, received, window);
        let earliest = (sent - signed).whole_milliseconds() + offset;
        let tolerance = BINDING_TOLERANCE.as_millis() as i128;
        if earliest > tolerance {
            return Err(UpstreamError::Signature(format!(
                "Response-Time is {}s before the request was sent (clock offset to ZOLOZ {}s): \
                 an answer to an earlier request",
                earliest / 1000,
                offset / 1000
            )));
        }
        Ok(())
    }

    /// Fail closed: the signature must verify over the raw bytes, and the signed
    /// `Response-Time` must be within the freshness window.
    fn verify(&self, path: &str, headers: &HeaderMap, raw: &[u8]) -> Result<Signed, UpstreamError> {
        let config = &self.inner.config;
        let refuse = |m: String| UpstreamError::Signature(m);
        let text = |name: &'static str| -> Result<&str, UpstreamError> {
            single_header(headers, name)
                .map_err(refuse)?
                .ok_or_else(|| refuse(format!("the {name} header is missing")))?
                .to_str()
                .map_err(|_| refuse(format!("the {name} header is not text")))
        };
        let signature = text("Signature")?;
        let response_time = text("Response-Time")?;
        let client_id = config.client_id.as_str();
        match &config.auth {
            Auth::Rsa { zoloz_keys, .. } => {
                let parsed = signing::parse_signature_header(signature)
                    .map_err(|e| refuse(e.to_string()))?;
                let key = zoloz_keys
                    .select(parsed.key_version.as_deref())
                    .map_err(refuse)?;
                signing::verify(key, path, client_id, response_time, raw, &parsed)
                    .map_err(|e| refuse(e.to_string()))?;
            }
            Auth::AkSk { secret, .. } => {
                if !aksk::verify(secret, path, client_id, response_time, raw, signature) {
                    return Err(refuse("the HMAC signature does not match".into()));
                }
            }
        }
        let sent = signing::parse_wire_time(response_time).ok_or_else(|| {
            refuse(format!(
                "Response-Time {response_time:?} is not a valid time"
            ))
        })?;
        let skew = (self.inner.clock.now() - sent).unsigned_abs();
        if skew > config.freshness_window {
            return Err(refuse(format!(
                "Response-Time is {}s away from the local clock (window {}s)",
                skew.as_secs(),
                config.freshness_window.as_secs()
            )));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, signature.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Ok(Signed {
            time: sent,
            digest: out,
        })
    }

    fn open(&self, encrypt: &HeaderValue, raw: &[u8]) -> Result<Bytes, UpstreamError> {
        let Auth::Rsa { merchant_key, .. } = &self.inner.config.auth else {
            return Err(UpstreamError::Malformed(
                "an encrypted response in AK/SK mode".into(),
            ));
        };
        let header = encrypt
            .to_str()
            .map_err(|_| UpstreamError::Malformed("the Encrypt header is not text".into()))?;
        // One message for every way opening fails: telling a bad unwrap from bad padding would
        // be an oracle for whoever can tamper with the answers.
        envelope::open(merchant_key, header, raw)
            .map(Bytes::from)
            .map_err(|e| {
                tracing::debug!(error = %e, "encrypted response does not open");
                UpstreamError::Malformed("the encrypted response does not open".into())
            })
    }
}

/// Whether `body` is a JSON object (by its first byte after any byte order mark and white
/// space): a plain answer rather than a sealed one.
fn is_json_object(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// What a verified answer's signature says: when ZOLOZ signed it, and a digest of the
/// signature (to recognise it again).
struct Signed {
    time: OffsetDateTime,
    digest: [u8; 32],
}

/// The one value of a response header, if any. A header sent twice is refused: which copy was
/// meant is ambiguous, and an answer ZOLOZ signed carries one of each.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h HeaderValue>, String> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(format!("the {name} header is sent more than once"));
    }
    Ok(first)
}

fn header_value(value: &str) -> Result<HeaderValue, UpstreamError> {
    HeaderValue::from_str(value)
        .map_err(|_| UpstreamError::Request("a header value is not visible ASCII".into()))
}

/// Parses the body once and reads its `result` envelope the way Evaluate and `explain` do
/// ([`super::products::envelope`]); the tree goes on to the product reader
/// (`VerifiedResponse::json`), so that a body with megabytes of images is parsed once, not
/// twice. Only a failure result code is told apart here (it is retried or becomes an error); a
/// missing or non-string `resultCode` is left to the engine, which gives it the same verdict it
/// gives the body handed to Evaluate.
fn read_result(body: &[u8]) -> Result<ResultEnvelope, UpstreamError> {
    // The product readers' parse: a byte order mark skipped, a repeated key refused.
    let malformed = |e: super::products::MalformedResponse| UpstreamError::Malformed(e.message);
    let root = super::products::json_root(body).map_err(malformed)?;
    let envelope = super::products::envelope(&root).map_err(malformed)?;
    let text = |observed: &crate::domain::Observed<String>| match observed {
        crate::domain::Observed::Missing => String::new(),
        crate::domain::Observed::Known { value, .. } => value.clone(),
        crate::domain::Observed::Unrecognized { raw } => raw.clone(),
    };
    Ok(ResultEnvelope {
        code: envelope.result_code.value().cloned(),
        code_text: text(&envelope.result_code),
        status: text(&envelope.result_status),
        message: text(&envelope.result_message),
        root,
    })
}

/// A checkresult body, parsed once: its `result` fields and the whole tree.
struct ResultEnvelope {
    /// `resultCode` when it is a string.
    code: Option<String>,
    /// `resultCode` as text (the JSON text of another type; empty when absent).
    code_text: String,
    status: String,
    message: String,
    root: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_follow_each_api() {
        let request = CheckResultRequest {
            transaction_id: "T1".parse().unwrap(),
            biz_id: Some("B1".parse().unwrap()),
            return_images: false,
            extra_images: vec!["CROPPED_FACE".into()],
        };
        assert_eq!(
            String::from_utf8(request.to_json(Product::Connect)).unwrap(),
            r#"{"bizId":"B1","transactionId":"T1","isReturnImage":"N"}"#
        );
        assert_eq!(
            String::from_utf8(request.to_json(Product::FaceCompare)).unwrap(),
            r#"{"transactionId":"T1"}"#
        );
        let images = CheckResultRequest {
            return_images: true,
            ..request
        };
        assert_eq!(
            String::from_utf8(images.to_json(Product::IdRecognition)).unwrap(),
            r#"{"bizId":"B1","transactionId":"T1","isReturnImage":"Y","extraImageControlList":["CROPPED_FACE"]}"#
        );
    }

    #[test]
    fn key_version_selects_a_configured_key_or_refuses() {
        let key = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/vectors")
                .join(name);
            PublicKey::from_file(&path).unwrap()
        };
        let keys = ZolozKeys {
            default: key("zoloz_public.spki.b64"),
            versions: BTreeMap::from([("2".to_string(), key("merchant_public.spki.b64"))]),
        };
        assert_eq!(
            keys.select(None).unwrap().spki_der(),
            key("zoloz_public.spki.b64").spki_der()
        );
        assert_eq!(
            keys.select(Some("2")).unwrap().spki_der(),
            key("merchant_public.spki.b64").spki_der()
        );
        assert!(
            keys.select(Some("3"))
                .unwrap_err()
                .contains("keyVersion \"3\"")
        );
    }

    #[test]
    fn signatures_are_remembered_for_the_window_and_bounded() {
        let window = Duration::from_secs(300);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut binding = Binding::default();
        binding.accept([1; 32], "T1", t0, window).unwrap();
        // The same answer again for the same transaction is no replay; for another it is.
        binding.accept([1; 32], "T1", t0, window).unwrap();
        assert!(binding.accept([1; 32], "T2", t0, window).is_err());
        // Past the window it is forgotten (the freshness check refuses it by then anyway).
        let later = t0 + Duration::from_secs(301);
        binding.accept([1; 32], "T2", later, window).unwrap();
        // Never more than the bound.
        for i in 0..MAX_REMEMBERED_SIGNATURES + 10 {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            key[31] = 7;
            binding.accept(key, "T", later, window).unwrap();
        }
        assert!(binding.order.len() <= MAX_REMEMBERED_SIGNATURES);
        assert!(binding.seen.len() <= MAX_REMEMBERED_SIGNATURES);
    }

    #[test]
    fn the_offset_estimate_keeps_the_largest_recent_sample() {
        let window = Duration::from_secs(300);
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let mut binding = Binding::default();
        // The first sample is the estimate; a smaller one (an older answer) does not lower it.
        assert_eq!(binding.offset(-1_500, t0, window), -1_500);
        assert_eq!(binding.offset(-40_000, t0, window), -1_500);
        assert_eq!(binding.offset(-1_000, t0, window), -1_000);
        // An estimate older than the window gives way to the new sample.
        let later = t0 + Duration::from_secs(301);
        assert_eq!(binding.offset(-3_000, later, window), -3_000);
    }

    #[test]
    fn result_envelope_is_required() {
        assert!(read_result(br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"}}"#).is_ok());
        // A byte order mark is skipped, as Evaluate skips it.
        assert!(read_result(b"\xef\xbb\xbf{\"result\":{\"resultCode\":\"SUCCESS\"}}").is_ok());
        // A result envelope without a string code is the engine's to judge, as in Evaluate.
        for codeless in [
            &b"{\"result\":{}}"[..],
            b"{\"result\":{\"resultCode\":5}}",
            b"{\"result\":{\"resultCode\":null,\"resultStatus\":\"S\"}}",
        ] {
            let envelope = read_result(codeless).unwrap();
            assert_eq!(envelope.code, None, "{}", String::from_utf8_lossy(codeless));
        }
        // A repeated key has no single meaning: refused, whichever value comes last.
        for repeated in [
            &br#"{"result":{"resultCode":"SYSTEM_ERROR","resultCode":"SUCCESS"},"x":1}"#[..],
            br#"{"result":{"resultCode":"SUCCESS"},"extInfo":{"faceAttack":true,"faceAttack":false}}"#,
        ] {
            let Err(UpstreamError::Malformed(message)) = read_result(repeated) else {
                panic!("{}", String::from_utf8_lossy(repeated));
            };
            assert!(message.contains("repeats a key"), "{message}");
        }
        for bad in [
            &b"[]"[..],
            br#"[{"resultCode":"SUCCESS"}]"#,
            br#"{"result":["SUCCESS"]}"#,
            br#"{"result":null}"#,
            b"{}",
            b"<html>",
            b"{\"result\":{\"resultCode\":\"SUCC",
        ] {
            assert!(
                matches!(read_result(bad), Err(UpstreamError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
