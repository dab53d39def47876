//! The gRPC server: the verdict service with its message limits, standard health (NOT_SERVING
//! until ready and again from SIGTERM), reflection v1 and v1alpha, HTTP/2 keepalive, optional
//! TLS / mTLS, and a graceful drain bounded by a grace period.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::service::{Backend, VerdictGrpc};
use crate::config::TlsConfig;
use crate::pb;
use crate::pb::verdict_service_server::VerdictServiceServer;

/// Transport settings of the server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest message in either direction.
    pub max_message_bytes: usize,
    /// HTTP/2 streams per connection at most.
    pub max_concurrent_streams: u32,
    /// HTTP/2 keepalive ping interval.
    pub http2_keepalive_interval: Duration,
    /// HTTP/2 keepalive ping timeout.
    pub http2_keepalive_timeout: Duration,
    /// TLS (and mTLS) files.
    pub tls: Option<TlsConfig>,
    /// How long in-flight calls get to finish after the shutdown signal.
    pub shutdown_grace: Duration,
}

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// TLS files unreadable or invalid.
    #[error("tls: {0}")]
    Tls(String),
    /// The transport failed.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(String),
    /// In-flight calls did not finish within the grace period.
    #[error("in-flight calls did not finish within the {0:?} grace period")]
    GraceElapsed(Duration),
}

/// Sets the status of both the whole server (`""`) and the verdict service.
pub async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    reporter.set_service_status(pb::SERVICE_NAME, status).await;
}

fn tls_config(tls: &TlsConfig) -> Result<ServerTlsConfig, ServeError> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))
    };
    let identity = Identity::from_pem(read(&tls.cert_file)?, read(&tls.key_file)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &tls.client_ca_file {
        // With a client CA, a client certificate it signed is required (mTLS).
        config = config
            .client_ca_root(Certificate::from_pem(read(ca)?))
            .client_auth_optional(false);
    }
    Ok(config)
}

/// Keeps health in step with readiness: SERVING while neither draining nor `stalled` (the audit
/// sink, when a stall refuses calls), NOT_SERVING otherwise, and for good once draining.
async fn follow_health(
    reporter: HealthReporter,
    mut draining: watch::Receiver<bool>,
    mut stalled: Option<watch::Receiver<bool>>,
) {
    loop {
        let draining_now = *draining.borrow_and_update();
        let stalled_now = stalled.as_mut().is_some_and(|s| *s.borrow_and_update());
        let status = if draining_now || stalled_now {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        };
        set_health(&reporter, status).await;
        if draining_now {
            return;
        }
        let stall_changed = async {
            match stalled.as_mut() {
                Some(s) => s.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = draining.changed() => if changed.is_err() { return },
            alive = stall_changed => if !alive { stalled = None },
        }
    }
}

/// Serves until `shutdown` resolves, then drains: health turns NOT_SERVING, running Watch
/// streams are told to end (`draining`), new connections are refused, and in-flight calls get
/// `shutdown_grace` to finish. Meanwhile health is NOT_SERVING while `audit_stalled` is true.
#[allow(clippy::too_many_arguments)]
pub async fn serve<B: Backend>(
    listener: TcpListener,
    service: VerdictGrpc<B>,
    settings: &ServerSettings,
    health: (
        HealthReporter,
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    ),
    draining: watch::Sender<bool>,
    audit_stalled: Option<watch::Receiver<bool>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (reporter, health_service) = health;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let verdicts = VerdictServiceServer::new(service)
        .max_decoding_message_size(settings.max_message_bytes)
        .max_encoding_message_size(settings.max_message_bytes);

    let mut builder = Server::builder()
        .layer(tower::util::MapRequestLayer::new(
            super::deadline::stamp_received::<tonic::body::Body>,
        ))
        .layer(tower::util::MapResponseLayer::new(
            super::budget::hold_until_written,
        ))
        .trace_fn(crate::telemetry::rpc_span)
        .max_concurrent_streams(settings.max_concurrent_streams)
        .http2_keepalive_interval(Some(settings.http2_keepalive_interval))
        .http2_keepalive_timeout(Some(settings.http2_keepalive_timeout));
    // No adaptive flow-control window: it only sizes what the server *receives* (requests are
    // small; hyper's fixed windows already hold a 16 MiB Evaluate body in a few round trips),
    // and its BDP pings cost every call a PING frame each way (BENCHMARKS.md).
    if let Some(tls) = &settings.tls {
        builder = builder.tls_config(tls_config(tls)?)?;
    }
    let router = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(verdicts);

    let incoming = TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let drain_reporter = reporter.clone();
    let draining_rx = draining.subscribe();
    let signal = async move {
        shutdown.await;
        set_health(&drain_reporter, ServingStatus::NotServing).await;
        draining.send_replace(true);
        tracing::info!("draining: health NOT_SERVING, refusing new connections");
        let _ = signalled_tx.send(());
    };
    // Keys are loaded (the backend exists) and the listener is bound: ready.
    tokio::spawn(follow_health(reporter, draining_rx, audit_stalled));
    let server = router.serve_with_incoming_shutdown(incoming, signal);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.map_err(ServeError::from),
        Ok(()) = signalled_rx => {}
    }
    match tokio::time::timeout(settings.shutdown_grace, server).await {
        Ok(result) => {
            tracing::info!("drained");
            result.map_err(ServeError::from)
        }
        Err(_) => Err(ServeError::GraceElapsed(settings.shutdown_grace)),
    }
}
