//! The HTTP transport to ZOLOZ: HTTP/1.1 keep-alive connections (TLS for `https`), each one
//! driven inside the task of the call that holds it.
//!
//! A general client (reqwest, hyper-util's pool) runs every connection as a task of its own:
//! reading a response wakes that task, and when the gRPC answer is then handed to the server's
//! connection task the multi-threaded scheduler wakes a second worker to run one of the two.
//! Here a call takes an idle connection from the pool (or opens one), polls the connection and
//! its own request together until the whole body is read, and puts the connection back: one
//! task, no connection task, no wake-up of another worker. Paired against reqwest
//! (BENCHMARKS.md, `d449764`-`f8d7387`), with `poll_together`: 7.9 % less service CPU per
//! uncached verdict and 7.9 % lower p50 at concurrency 1.
//!
//! When an HTTP proxy is configured, or set in the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, as curl reads them), calls go through reqwest instead, which speaks to proxies
//! (CONNECT tunnels, `NO_PROXY`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONNECTION, HOST, HeaderMap, HeaderValue, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::UpstreamError;
// The messages name no URL with secrets: only the configured base URL exists.
use crate::error::error_chain;

/// How long an idle connection is kept (ZOLOZ's gateway, like most, closes idle connections
/// after a minute or so; one closed meanwhile is detected and replaced, see [`Pool::post`]).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle connections kept at most (the rest are closed when their call ends).
const MAX_IDLE: usize = 256;

/// TCP keepalive on every connection, as reqwest sets it: a NAT or firewall that forgets
/// silent connections sooner than [`IDLE_TIMEOUT`] is noticed, and so is a peer that vanishes
/// during a call.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// An answer: the status and headers, and for a 2xx status the whole body.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, read whole and within the size cap; empty when the status is not 2xx (an
    /// error body is not read, and its connection is not reused).
    pub body: Bytes,
}

/// Where ZOLOZ calls go.
pub enum Transport {
    /// Straight to the host: our own HTTP/1.1 pool.
    Direct(Pool),
    /// Through an HTTP proxy: reqwest.
    Proxied {
        /// The client, configured with the proxy.
        client: reqwest::Client,
        /// The base URL (`scheme://host[:port]`).
        base: reqwest::Url,
    },
}

impl Transport {
    /// The transport for `base`: through `proxy` when given, through a proxy named in the
    /// environment (`env` looks variables up) when one applies to the scheme, else direct.
    pub fn new(
        base: &reqwest::Url,
        proxy: Option<&str>,
        connect_timeout: Duration,
        user_agent: &'static str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let from_env = proxy_variable(base.scheme(), env);
        if proxy.is_none() && from_env.is_none() {
            return Pool::new(base, connect_timeout, user_agent).map(Transport::Direct);
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent)
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .http1_title_case_headers()
            // A signed POST is never replayed to another location.
            .redirect(reqwest::redirect::Policy::none());
        match proxy {
            Some(url) => {
                let proxy = reqwest::Proxy::all(url)
                    // Not the URL itself: it may carry a password.
                    .map_err(|e| format!("the HTTP proxy URL is not usable: {e}"))?;
                builder = builder.no_proxy().proxy(proxy);
                tracing::info!("ZOLOZ calls go through the configured HTTP proxy");
            }
            None => {
                // reqwest reads the same variables (and NO_PROXY) itself.
                tracing::info!(
                    variable = from_env.unwrap_or_default(),
                    "ZOLOZ calls go through the HTTP proxy set in the environment"
                );
            }
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Transport::Proxied {
            client,
            base: base.clone(),
        })
    }

    /// POSTs `body` to `path` with `headers`; reads the body of a 2xx answer, refusing one
    /// larger than `cap` bytes.
    pub async fn post(
        &self,
        path: &'static str,
        headers: HeaderMap,
        body: Bytes,
        cap: usize,
    ) -> Result<Response, UpstreamError> {
        match self {
            Transport::Direct(pool) => pool.post(path, headers, body, cap).await,
            Transport::Proxied { client, base } => {
                let mut url = base.clone();
                url.set_path(path);
                let response = client
                    .post(url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| transport(error_chain(&e)))?;
                let status = response.status();
                let headers = response.headers().clone();
                if !status.is_success() {
                    return Ok(Response {
                        status,
                        headers,
                        body: Bytes::new(),
                    });
                }
                check_length(response.content_length(), cap)?;
                let mut buffer =
                    BytesMut::with_capacity(initial_capacity(response.content_length(), cap));
                let mut response = response;
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| transport(error_chain(&e)))?
                {
                    append_capped(&mut buffer, &chunk, cap)?;
                }
                Ok(Response {
                    status,
                    headers,
                    body: buffer.freeze(),
                })
            }
        }
    }
}

/// The proxy variable that applies to `scheme`, if one is set (not empty): `HTTPS_PROXY` for
/// https, `HTTP_PROXY` for http, then `ALL_PROXY`; lower case too, as curl and reqwest read them.
pub fn proxy_variable(scheme: &str, env: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    let names: &[&'static str] = if scheme == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .copied()
        .find(|name| env(name).is_some_and(|v| !v.trim().is_empty()))
}

/// One connection: the handle requests are sent on, and the future that does the
/// connection's I/O (polled only while a call holds the connection).
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Driver,
}

struct Idle {
    connection: Connection,
    since: std::time::Instant,
}

/// The pool of keep-alive connections to one host.
pub struct Pool {
    /// Host name or address, for connecting (without IPv6 brackets).
    host: String,
    port: u16,
    /// The `Host` header.
    authority: HeaderValue,
    /// `host:port` as people write it (IPv6 in brackets), for messages.
    target: String,
    user_agent: HeaderValue,
    /// TLS (for `https`): the connector and the name the certificate must carry.
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    connect_timeout: Duration,
    /// How long a connection may sit idle ([`IDLE_TIMEOUT`]; shorter in tests).
    idle_timeout: Duration,
    /// Most recently used last: calls take the warmest connection; the oldest expire first.
    idle: Arc<Mutex<VecDeque<Idle>>>,
    /// Whether the task that closes expired idle connections runs (started with the first
    /// idle connection, inside the runtime).
    sweeping: AtomicBool,
}

/// Why an exchange on a connection produced no answer.
enum ExchangeError {
    /// The connection was closed before the request was written (a reused connection the
    /// server had closed meanwhile): the request can go on another connection.
    Unsent(Request<Full<Bytes>>),
    /// Anything else.
    Failed(UpstreamError),
}

impl Pool {
    fn new(
        base: &reqwest::Url,
        connect_timeout: Duration,
        user_agent: &'static str,
    ) -> Result<Self, String> {
        let host = base
            .host_str()
            .ok_or_else(|| "the base url has no host".to_string())?;
        let port = base
            .port_or_known_default()
            .ok_or_else(|| "the base url has no port".to_string())?;
        let authority = match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls = match base.scheme() {
            "https" => {
                let name = rustls::pki_types::ServerName::try_from(connect_host.clone())
                    .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
                Some((tokio_rustls::TlsConnector::from(tls_config()?), name))
            }
            "http" => None,
            other => return Err(format!("the scheme {other:?} is not http or https")),
        };
        Ok(Self {
            host: connect_host,
            port,
            authority: HeaderValue::from_str(&authority).map_err(|e| e.to_string())?,
            target: format!("{host}:{port}"),
            user_agent: HeaderValue::from_str(user_agent)
                .map_err(|_| format!("the user agent {user_agent:?} is not a header value"))?,
            tls,
            connect_timeout,
            idle_timeout: IDLE_TIMEOUT,
            idle: Arc::new(Mutex::new(VecDeque::new())),
            sweeping: AtomicBool::new(false),
        })
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        lock(&self.idle)
    }

    /// The warmest idle connection that has not expired.
    fn take_idle(&self) -> Option<Connection> {
        let (taken, expired) = {
            let mut idle = self.lock_idle();
            let expired = drain_expired(&mut idle, self.idle_timeout);
            (idle.pop_back().map(|i| i.connection), expired)
        };
        // Closed outside the lock.
        drop(expired);
        taken
    }

    fn put_idle(&self, connection: Connection) {
        let evicted = {
            let mut idle = self.lock_idle();
            let mut evicted = drain_expired(&mut idle, self.idle_timeout);
            if idle.len() >= MAX_IDLE {
                evicted.extend(idle.pop_front());
            }
            idle.push_back(Idle {
                connection,
                since: std::time::Instant::now(),
            });
            evicted
        };
        drop(evicted);
        self.start_sweeping();
    }

    /// Idle connections are otherwise only looked at when a call comes: after a burst and no
    /// traffic, they would stay open (the server's side closed) until the next one. A task
    /// closes the expired ones; it ends when the pool is dropped.
    fn start_sweeping(&self) {
        if self.sweeping.load(Ordering::Relaxed) || self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let pool = Arc::downgrade(&self.idle);
        let timeout = self.idle_timeout;
        runtime.spawn(async move {
            let mut every = tokio::time::interval(timeout / 4);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(idle) = pool.upgrade() else { return };
                let expired = drain_expired(&mut lock(&idle), timeout);
                drop(idle);
                drop(expired);
            }
        });
    }

    async fn post(
        &self,
        path: &'static str,
        headers: HeaderMap,
        body: Bytes,
        cap: usize,
    ) -> Result<Response, UpstreamError> {
        let mut request = Request::post(path)
            .body(Full::new(body))
            .map_err(|e| transport(e.to_string()))?;
        *request.headers_mut() = headers;
        request.headers_mut().insert(HOST, self.authority.clone());
        request
            .headers_mut()
            .insert(USER_AGENT, self.user_agent.clone());
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("*/*"));
        // Idle connections first. One the server closed while it sat in the pool gives the
        // request back unsent; it goes on the next connection. ZOLOZ's APIs are idempotent,
        // but a request that was written is never sent twice here: that is the retry loop's
        // decision (`ZolozClient::call`), counted and budgeted.
        while let Some(connection) = self.take_idle() {
            match self.exchange(connection, request, cap).await {
                Ok(response) => return Ok(response),
                Err(ExchangeError::Unsent(unsent)) => request = unsent,
                Err(ExchangeError::Failed(error)) => return Err(error),
            }
        }
        let connection = self.connect().await?;
        match self.exchange(connection, request, cap).await {
            Ok(response) => Ok(response),
            Err(ExchangeError::Unsent(_)) => Err(transport(format!(
                "{} closed a new connection before the request was sent",
                self.target
            ))),
            Err(ExchangeError::Failed(error)) => Err(error),
        }
    }

    /// Opens a connection (DNS, TCP, then TLS for https) within the connect timeout. The
    /// addresses a name resolves to are tried in turn, each with an equal share of the time
    /// left, so that one that drops connection attempts does not take all of it.
    async fn connect(&self) -> Result<Connection, UpstreamError> {
        let target = &self.target;
        let started = tokio::time::Instant::now();
        let deadline = started + self.connect_timeout;
        let opened = tokio::time::timeout_at(deadline, async {
            let addresses: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| transport(format!("cannot resolve {target}: {e}")))?
                    .collect();
            let mut last_error = None;
            let mut tcp = None;
            for (i, address) in addresses.iter().enumerate() {
                let share = deadline.saturating_duration_since(tokio::time::Instant::now())
                    / (addresses.len() - i) as u32;
                match tokio::time::timeout(share, TcpStream::connect(address)).await {
                    Ok(Ok(stream)) => {
                        tcp = Some(stream);
                        break;
                    }
                    Ok(Err(e)) => last_error = Some(format!("{address}: {e}")),
                    Err(_) => last_error = Some(format!("{address}: timed out")),
                }
            }
            let tcp = tcp.ok_or_else(|| {
                transport(format!(
                    "cannot connect to {target}: {}",
                    last_error.unwrap_or_else(|| "the name has no address".into())
                ))
            })?;
            tcp.set_nodelay(true)
                .map_err(|e| transport(format!("cannot set TCP_NODELAY: {e}")))?;
            let keepalive = socket2::TcpKeepalive::new()
                .with_time(TCP_KEEPALIVE)
                .with_interval(TCP_KEEPALIVE)
                .with_retries(3);
            if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
                tracing::debug!(error = %e, "TCP keepalive not set on a ZOLOZ connection");
            }
            match &self.tls {
                None => handshake(TokioIo::new(tcp)).await,
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| transport(format!("TLS handshake with {target}: {e}")))?;
                    handshake(TokioIo::new(stream)).await
                }
            }
        })
        .await;
        opened.unwrap_or_else(|_| {
            Err(transport(format!(
                "connecting to {target} took longer than the connect timeout of {:?}",
                self.connect_timeout
            )))
        })
    }

    /// Sends one request on `connection`, polling the connection's I/O in this task, and reads
    /// the answer; the connection goes back to the pool when it can carry another request.
    async fn exchange(
        &self,
        connection: Connection,
        request: Request<Full<Bytes>>,
        cap: usize,
    ) -> Result<Response, ExchangeError> {
        let Connection { mut sender, driver } = connection;
        // Dropped as soon as it ends (the connection closed): dropping the dispatcher hands a
        // request it has not taken back to `try_send_request` (`Unsent`) and fails one it has.
        let mut driver = Some(driver);
        let outcome = {
            let work = async {
                if sender.ready().await.is_err() {
                    return Err(ExchangeError::Unsent(request));
                }
                let response = match sender.try_send_request(request).await {
                    Ok(response) => response,
                    Err(mut error) => {
                        return Err(match error.take_message() {
                            Some(request) => ExchangeError::Unsent(request),
                            None => {
                                ExchangeError::Failed(transport(error_chain(&error.into_error())))
                            }
                        });
                    }
                };
                let (parts, body) = response.into_parts();
                if !parts.status.is_success() {
                    return Ok((parts, Bytes::new(), false));
                }
                let length = body_length(&parts.headers);
                let body = read_body(body, length, cap)
                    .await
                    .map_err(ExchangeError::Failed)?;
                Ok((parts, body, true))
            };
            tokio::pin!(work);
            let wake = Arc::new(InlineWake::default());
            let waker = Waker::from(Arc::clone(&wake));
            // One poll drives both: the connection's I/O first, so that what it read is seen by
            // the request in the same poll.
            std::future::poll_fn(|cx| poll_together(&wake, &waker, cx, &mut driver, work.as_mut()))
                .await
        };
        let (parts, body, reusable) = outcome?;
        let closing = parts
            .headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if let Some(driver) = driver
            && reusable
            && !closing
            && !sender.is_closed()
        {
            self.put_idle(Connection { sender, driver });
        }
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The connection's driver, polled only while a call holds the connection.
type Driver = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// Polls the connection's driver (dropped when it ends) and then the call's `work`, with
/// `waker` (made from `wake`). Each wakes the other (the request queued, the body wanted):
/// those wakes, made while this poll runs, are answered here by polling again, not handed to
/// tokio, which would count them as a yield, queue the task and wake another worker to take
/// it (a futex wake-up and often a migration per call, as `perf stat` counts; BENCHMARKS.md).
fn poll_together<W: Future>(
    wake: &Arc<InlineWake>,
    waker: &Waker,
    cx: &mut Context<'_>,
    driver: &mut Option<Driver>,
    mut work: Pin<&mut W>,
) -> Poll<W::Output> {
    wake.task.register(cx.waker());
    let mut inner = Context::from_waker(waker);
    wake.polling.store(true, Ordering::SeqCst);
    for _ in 0..MAX_INLINE_POLLS {
        wake.woken.store(false, Ordering::SeqCst);
        if let Some(running) = driver.as_mut()
            && let Poll::Ready(ended) = running.as_mut().poll(&mut inner)
        {
            if let Err(e) = ended {
                // The request's own error is often just "connection error".
                tracing::debug!(error = %error_chain(&e), "a ZOLOZ connection failed");
            }
            *driver = None;
        }
        if let Poll::Ready(outcome) = work.as_mut().poll(&mut inner) {
            wake.polling.store(false, Ordering::SeqCst);
            return Poll::Ready(outcome);
        }
        if !wake.woken.load(Ordering::SeqCst) {
            break;
        }
    }
    wake.polling.store(false, Ordering::SeqCst);
    // Still woken after the last round (tokio's cooperative budget spent), or woken from
    // another thread since: hand that wake to tokio.
    if wake.woken.load(Ordering::SeqCst) {
        cx.waker().wake_by_ref();
    }
    Poll::Pending
}

/// Rounds of polling the connection and its request in one poll of the call, at most: enough
/// for their wakes of each other; a future that keeps waking itself (tokio's cooperative budget
/// is spent) is left to tokio.
const MAX_INLINE_POLLS: usize = 8;

/// The waker the connection and its request are polled with: a wake while the call's poll runs
/// is noted (and answered by polling again); any other is passed on to the task's waker.
#[derive(Default)]
struct InlineWake {
    task: futures::task::AtomicWaker,
    polling: AtomicBool,
    woken: AtomicBool,
}

impl Wake for InlineWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Sequentially consistent with the poll's `polling = false; load(woken)`: a wake that
        // saw `polling` set is seen by that load.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

fn lock(idle: &Mutex<VecDeque<Idle>>) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
    // The lock guards a plain list; a panic elsewhere cannot leave it inconsistent.
    idle.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the idle connections older than `timeout` out of the list (the oldest are in front),
/// for the caller to close after releasing the lock.
fn drain_expired(idle: &mut VecDeque<Idle>, timeout: Duration) -> Vec<Idle> {
    let fresh = idle
        .iter()
        .position(|i| i.since.elapsed() < timeout)
        .unwrap_or(idle.len());
    idle.drain(..fresh).collect()
}

async fn handshake<T>(io: T) -> Result<Connection, UpstreamError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    // Header names as ZOLOZ's SDK writes them (`Client-Id`, `Request-Time`, `Signature`): HTTP
    // says case does not matter, but not every peer agrees.
    let (sender, connection) = http1::Builder::new()
        .title_case_headers(true)
        .handshake(io)
        .await
        .map_err(|e| transport(error_chain(&e)))?;
    Ok(Connection {
        sender,
        driver: Box::pin(connection),
    })
}

/// Certificates verified like the operating system does (rustls-platform-verifier: the system
/// roots, or `SSL_CERT_FILE` / `SSL_CERT_DIR`), as reqwest does; HTTP/1.1 by ALPN.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("cannot load the certificate verifier: {e}"))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn body_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn read_body(
    mut body: Incoming,
    length: Option<u64>,
    cap: usize,
) -> Result<Bytes, UpstreamError> {
    check_length(length, cap)?;
    let mut buffer = BytesMut::with_capacity(initial_capacity(length, cap));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| transport(error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            append_capped(&mut buffer, &data, cap)?;
        }
    }
    Ok(buffer.freeze())
}

fn check_length(length: Option<u64>, cap: usize) -> Result<(), UpstreamError> {
    match length {
        Some(len) if len > cap as u64 => Err(UpstreamError::Malformed(format!(
            "response body of {len} bytes exceeds the limit of {cap}"
        ))),
        _ => Ok(()),
    }
}

/// The buffer to start with: the announced length (within the cap), else 16 KiB.
fn initial_capacity(length: Option<u64>, cap: usize) -> usize {
    length.map_or(16 * 1024, |l| (l as usize).min(cap))
}

fn append_capped(buffer: &mut BytesMut, chunk: &[u8], cap: usize) -> Result<(), UpstreamError> {
    if buffer.len() + chunk.len() > cap {
        return Err(UpstreamError::Malformed(format!(
            "response body exceeds the limit of {cap} bytes"
        )));
    }
    buffer.extend_from_slice(chunk);
    Ok(())
}

fn transport(message: String) -> UpstreamError {
    UpstreamError::Transport {
        message,
        attempts: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_proxy_variable_follows_the_scheme() {
        let vars = [("HTTP_PROXY", "http://proxy:3128")];
        assert_eq!(proxy_variable("http", env(&vars)), Some("HTTP_PROXY"));
        assert_eq!(proxy_variable("https", env(&vars)), None);
        let vars = [("https_proxy", "http://proxy:3128")];
        assert_eq!(proxy_variable("https", env(&vars)), Some("https_proxy"));
        assert_eq!(proxy_variable("http", env(&vars)), None);
        let vars = [("ALL_PROXY", "socks5://proxy")];
        assert_eq!(proxy_variable("https", env(&vars)), Some("ALL_PROXY"));
        assert_eq!(proxy_variable("http", env(&vars)), Some("ALL_PROXY"));
    }

    #[test]
    fn an_empty_proxy_variable_is_no_proxy() {
        let vars = [("HTTPS_PROXY", " "), ("all_proxy", "")];
        assert_eq!(proxy_variable("https", env(&vars)), None);
    }

    #[test]
    fn without_a_proxy_the_transport_is_the_direct_pool() {
        let base = reqwest::Url::parse("https://sg-production-api.zoloz.com").unwrap();
        let direct = Transport::new(&base, None, Duration::from_secs(1), "ua", env(&[])).unwrap();
        let Transport::Direct(pool) = direct else {
            panic!("expected the direct pool");
        };
        assert_eq!(pool.port, 443);
        assert_eq!(pool.authority, "sg-production-api.zoloz.com");
        assert_eq!(pool.target, "sg-production-api.zoloz.com:443");
        assert!(pool.tls.is_some());
        let proxied = Transport::new(
            &base,
            None,
            Duration::from_secs(1),
            "ua",
            env(&[("HTTPS_PROXY", "http://proxy:3128")]),
        )
        .unwrap();
        assert!(matches!(proxied, Transport::Proxied { .. }));
        let explicit = Transport::new(
            &base,
            Some("http://proxy:3128"),
            Duration::from_secs(1),
            "ua",
            env(&[]),
        )
        .unwrap();
        assert!(matches!(explicit, Transport::Proxied { .. }));
    }

    #[test]
    fn the_host_header_keeps_an_explicit_port_and_ipv6_brackets() {
        let base = reqwest::Url::parse("http://[::1]:8080").unwrap();
        let pool = Pool::new(&base, Duration::from_secs(1), "ua").unwrap();
        assert_eq!(pool.host, "::1");
        assert_eq!(pool.port, 8080);
        assert_eq!(pool.authority, "[::1]:8080");
        assert_eq!(pool.target, "[::1]:8080");
        assert!(pool.tls.is_none());
    }

    /// Counts the wakes that reach the task.
    #[derive(Default)]
    struct CountingWake(std::sync::atomic::AtomicUsize);

    impl Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A future that wakes itself `times` times (returning Pending) and then completes; with
    /// `usize::MAX` it never completes.
    struct WakesItself {
        times: usize,
        polls: usize,
    }

    impl Future for WakesItself {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.times {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn poll_once(work: &mut WakesItself) -> (Poll<usize>, usize) {
        let task = Arc::new(CountingWake::default());
        let task_waker = Waker::from(Arc::clone(&task));
        let mut cx = Context::from_waker(&task_waker);
        let wake = Arc::new(InlineWake::default());
        let waker = Waker::from(Arc::clone(&wake));
        let mut driver = None;
        let polled = poll_together(&wake, &waker, &mut cx, &mut driver, Pin::new(work));
        (polled, task.0.load(Ordering::SeqCst))
    }

    #[test]
    fn wakes_during_the_poll_are_answered_by_polling_again() {
        let mut work = WakesItself { times: 3, polls: 0 };
        let (polled, task_wakes) = poll_once(&mut work);
        assert_eq!(
            polled,
            Poll::Ready(4),
            "completed within one poll of the task"
        );
        assert_eq!(task_wakes, 0, "no wake reached tokio");
    }

    #[test]
    fn a_future_that_keeps_waking_itself_is_left_to_the_runtime() {
        let mut work = WakesItself {
            times: usize::MAX,
            polls: 0,
        };
        let (polled, task_wakes) = poll_once(&mut work);
        assert_eq!(polled, Poll::Pending);
        assert_eq!(work.polls, MAX_INLINE_POLLS, "bounded: no livelock");
        assert_eq!(task_wakes, 1, "the task is woken to run again later");
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task() {
        let task = Arc::new(CountingWake::default());
        let wake = Arc::new(InlineWake::default());
        wake.task.register(&Waker::from(Arc::clone(&task)));
        Waker::from(Arc::clone(&wake)).wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_idle_connections_are_closed_without_traffic() {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base =
            reqwest::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let mut pool = Pool::new(&base, Duration::from_secs(5), "ua").unwrap();
        pool.idle_timeout = Duration::from_millis(100);
        let connection = pool.connect().await.unwrap();
        let (mut server_side, _) = listener.accept().await.unwrap();
        pool.put_idle(connection);
        assert_eq!(pool.lock_idle().len(), 1);
        // No call comes; the sweeper closes the connection: the server side reads EOF.
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), server_side.read(&mut byte))
            .await
            .expect("the idle connection was not closed within 5 s")
            .unwrap();
        assert_eq!(read, 0);
        assert_eq!(pool.lock_idle().len(), 0);
    }

    #[test]
    fn an_unusable_proxy_url_is_an_error() {
        let base = reqwest::Url::parse("https://example.com").unwrap();
        let err = Transport::new(&base, Some("::"), Duration::from_secs(1), "ua", env(&[]))
            .err()
            .unwrap();
        assert!(err.contains("proxy"), "{err}");
    }
}
