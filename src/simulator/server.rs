//! The simulator's HTTP server: hyper 1 with hyper-util's auto builder (HTTP/1.1 and h2c on
//! the same port), one task per connection, graceful shutdown that lets in-flight answers
//! (including `slow` ones) finish within a grace period.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::exchange::{self, Gateway};
use super::{SimulatorConfig, SimulatorError};

/// How long `shutdown` waits for open connections to finish their answers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Starts simulators. (A namespace: a running simulator is a [`RunningSimulator`].)
#[derive(Debug)]
pub enum Simulator {}

impl Simulator {
    /// Serves on `listener` (bind it to port 0 for a free port) until
    /// [`RunningSimulator::shutdown`] or drop. Loads the recorded responses first: a bad
    /// scenarios directory is an error here, before anything is served. Must be called inside
    /// a tokio runtime.
    pub async fn start(
        config: SimulatorConfig,
        listener: TcpListener,
    ) -> Result<RunningSimulator, SimulatorError> {
        let addr = listener.local_addr().map_err(|e| SimulatorError::Bind {
            addr: "listener".into(),
            reason: e.to_string(),
        })?;
        let gateway = Arc::new(Gateway::new(config)?);
        tokio::task::spawn_blocking(exchange::warm_up);
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(serve(listener, Arc::clone(&gateway), stopped));
        Ok(RunningSimulator {
            addr,
            gateway,
            stop,
            task: Some(task),
        })
    }

    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves on it, as [`Simulator::start`].
    pub async fn bind(
        config: SimulatorConfig,
        addr: impl ToSocketAddrs + std::fmt::Display,
    ) -> Result<RunningSimulator, SimulatorError> {
        let shown = addr.to_string();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| SimulatorError::Bind {
                addr: shown,
                reason: e.to_string(),
            })?;
        Self::start(config, listener).await
    }
}

/// A simulator serving in the background. Dropping it stops the server (without waiting);
/// [`RunningSimulator::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    stop: watch::Sender<()>,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base URL to configure the service with (no trailing `/`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests named `transaction_id` in their body, refused ones included.
    pub fn calls(&self, transaction_id: &str) -> u64 {
        self.gateway.counts.calls(transaction_id)
    }

    /// How many requests were received, on any path.
    pub fn total_calls(&self) -> u64 {
        self.gateway.counts.total()
    }

    /// Signs answers under this `keyVersion` from now on, as the gateway does when it rotates
    /// its key (`None`: the unversioned key, no `keyVersion` pair). The version must be one of
    /// the configured `zoloz_versioned_keys`.
    pub fn sign_with(&self, version: Option<&str>) -> Result<(), SimulatorError> {
        self.gateway.sign_with(version)
    }

    /// Forgets all counts; scripted scenarios (`pending-then-*`, `*-then-approve`) start over.
    pub fn reset_counts(&self) {
        self.gateway.counts.reset();
    }

    /// Stops accepting, lets open connections finish their answers (up to a grace period),
    /// and returns when the server is down.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(());
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

async fn serve(listener: TcpListener, gateway: Arc<Gateway>, mut stopped: watch::Receiver<()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Header names in ZOLOZ's spelling on HTTP/1.1 (`Signature`, `Response-Time`, `Encrypt`,
    // `Content-Type`): ZOLOZ's own SDK looks them up by exact name.
    builder.http1().title_case_headers(true);
    let builder = Arc::new(builder);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small answers must not wait for Nagle's algorithm (latency benchmarks).
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        stream,
                        Arc::clone(&gateway),
                        Arc::clone(&builder),
                        stopped.clone(),
                    ));
                }
                // Out of file descriptors or a connection reset before accept: back off briefly
                // rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drained).await;
    connections.shutdown().await;
}

async fn connection(
    stream: tokio::net::TcpStream,
    gateway: Arc<Gateway>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stopped: watch::Receiver<()>,
) {
    let service = service_fn(move |request| {
        let gateway = Arc::clone(&gateway);
        async move { gateway.handle(request).await }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
