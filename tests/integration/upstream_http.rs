//! The HTTP transport to ZOLOZ (`zoloz::transport`) on real sockets, with a counting TCP relay
//! between the client and the simulator: sequential and concurrent calls reuse keep-alive
//! connections; a connection the server closed while it sat idle is replaced without a second
//! send; an explicit HTTP proxy carries the calls; and an https base URL is verified against
//! the trusted roots (the real binary with `SSL_CERT_FILE`), a certificate from another CA
//! refused.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb;
use zoloz_verdict::simulator::{RunningSimulator, SimulatorConfig};
use zoloz_verdict::zoloz::client::{
    Auth, CheckResultRequest, ClientConfig, ProxyUrl, RetryConfig, ZolozClient, ZolozKeys,
};

use crate::harness::{CLIENT_ID, binary, request, sim_keys, start_simulator, vector_path};
use crate::tls::{ca, leaf};

/// A TCP relay to `target` that counts the connections it accepts and can close them all;
/// with `tls`, it terminates TLS first.
struct Relay {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    accept_task: AbortHandle,
}

impl Relay {
    async fn start(target: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (count, handles) = (Arc::clone(&accepted), Arc::clone(&open));
        let accept_task = tokio::spawn(async move {
            loop {
                let (inbound, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    let mut outbound = TcpStream::connect(target).await.unwrap();
                    match tls {
                        None => {
                            let mut inbound = inbound;
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        Some(acceptor) => {
                            // A client that refuses the certificate ends the handshake.
                            if let Ok(mut inbound) = acceptor.accept(inbound).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        }
                    }
                });
                handles.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Relay {
            addr,
            accepted,
            open,
            accept_task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection (the server side of a keep-alive timeout).
    fn close_all(&self) {
        for handle in self.open.lock().unwrap().drain(..) {
            handle.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.close_all();
    }
}

async fn simulator() -> RunningSimulator {
    start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await
}

fn client_config(base_url: &str) -> ClientConfig {
    let keys = sim_keys();
    let mut config = ClientConfig::new(
        base_url.parse().unwrap(),
        CLIENT_ID.parse().unwrap(),
        Auth::Rsa {
            merchant_key: Arc::clone(&keys.merchant_private),
            zoloz_keys: Arc::new(ZolozKeys::single(keys.zoloz_public())),
        },
    );
    config.retry = RetryConfig {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryConfig::default()
    };
    config
}

fn checkresult(id: &str) -> CheckResultRequest {
    CheckResultRequest {
        transaction_id: id.parse().unwrap(),
        biz_id: Some("biz-transport-test".parse().unwrap()),
        return_images: false,
        extra_images: Vec::new(),
    }
}

#[tokio::test]
async fn calls_reuse_keep_alive_connections() {
    let sim = simulator().await;
    let relay = Relay::start(sim.addr(), None).await;
    let client = ZolozClient::new(client_config(&format!("http://{}", relay.addr))).unwrap();

    for _ in 0..5 {
        let response = client
            .checkresult(Product::Connect, &checkresult("sim-connect-approve"), None)
            .await
            .unwrap();
        assert_eq!(response.attempts, 1);
    }
    assert_eq!(relay.accepted(), 1, "sequential calls share one connection");

    // Sixteen at once need sixteen connections; the next sixteen reuse them.
    let approve = checkresult("sim-connect-approve");
    let round = || async {
        let calls = (0..16).map(|_| client.checkresult(Product::Connect, &approve, None));
        for result in futures::future::join_all(calls).await {
            assert_eq!(result.unwrap().attempts, 1);
        }
    };
    round().await;
    let after_first = relay.accepted();
    assert!(after_first <= 16, "{after_first} connections for 16 calls");
    round().await;
    assert_eq!(
        relay.accepted(),
        after_first,
        "the second round opened none"
    );

    // An image-carrying answer (megabytes, many reads) leaves its connection reusable too.
    let mut images = checkresult("sim-connect-large-images");
    images.return_images = true;
    client
        .checkresult(Product::Connect, &images, None)
        .await
        .unwrap();
    client
        .checkresult(Product::Connect, &checkresult("sim-connect-approve"), None)
        .await
        .unwrap();
    assert_eq!(relay.accepted(), after_first);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_without_a_second_send() {
    let sim = simulator().await;
    let relay = Relay::start(sim.addr(), None).await;
    let client = ZolozClient::new(client_config(&format!("http://{}", relay.addr))).unwrap();
    let id = "sim-connect-approve";
    client
        .checkresult(Product::Connect, &checkresult(id), None)
        .await
        .unwrap();
    assert_eq!(sim.calls(id), 1);

    // The server side closes the idle connection (a keep-alive timeout).
    relay.close_all();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = client
        .checkresult(Product::Connect, &checkresult(id), None)
        .await
        .unwrap();
    assert_eq!(
        response.attempts, 1,
        "not a retry: the request was never sent"
    );
    assert_eq!(
        relay.accepted(),
        2,
        "a new connection replaced the closed one"
    );
    assert_eq!(sim.calls(id), 2, "one send per call");
}

#[tokio::test]
async fn an_explicit_http_proxy_carries_the_calls() {
    let sim = simulator().await;
    let proxy = Relay::start(sim.addr(), None).await;
    // The base URL's host does not exist: only the proxy can answer for it.
    let mut config = client_config("http://zoloz.invalid");
    config.http_proxy = Some(ProxyUrl(format!("http://{}", proxy.addr)));
    let client = ZolozClient::new(config).unwrap();
    let response = client
        .checkresult(Product::Connect, &checkresult("sim-connect-approve"), None)
        .await
        .unwrap();
    assert_eq!(response.result_code, "SUCCESS");
    assert_eq!(proxy.accepted(), 1);
}

#[test]
fn a_proxy_password_is_not_shown() {
    let shown = format!(
        "{:?}",
        ProxyUrl("http://egress:s3cret@proxy.internal:3128".into())
    );
    assert_eq!(shown, r#""http://***@proxy.internal:3128""#);
    let plain = format!("{:?}", ProxyUrl("http://proxy.internal:3128".into()));
    assert_eq!(plain, r#""http://proxy.internal:3128""#);
}

/// `zoloz-verdict serve` against `base_url`, trusting the roots in `ssl_cert_file`; killed on
/// drop.
struct Served {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(base_url: &str, ssl_cert_file: &std::path::Path) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::harness::free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
allow_unauthenticated = true
[server]
listen = "127.0.0.1:{port}"
metrics_listen = "off"
[audit]
enabled = false
[retry]
base_delay = "1ms"
max_delay = "5ms"
[tenants.default]
client_id = "{CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = "{m}"
zoloz_public_key_file = "{z}"
"#,
            m = vector_path("merchant_private.pk8.b64").display(),
            z = vector_path("zoloz_public.spki.b64").display(),
        ),
    )
    .unwrap();
    let child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&config)
        .env("SSL_CERT_FILE", ssl_cert_file)
        .env_remove("SSL_CERT_DIR")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Served {
        child,
        port,
        _dir: dir,
    }
}

async fn get(served: &Served) -> Result<pb::VerificationResult, tonic::Status> {
    let addr = format!("http://127.0.0.1:{}", served.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let channel = loop {
        match tonic::transport::Endpoint::from_shared(addr.clone())
            .unwrap()
            .connect()
            .await
        {
            Ok(channel) => break channel,
            Err(e) => {
                assert!(Instant::now() < deadline, "the service did not start: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    pb::verdict_service_client::VerdictServiceClient::new(channel)
        .get_verification_result(request(Product::Connect, "sim-connect-approve"))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn https_is_verified_against_the_trusted_roots() {
    let dir = tempfile::tempdir().unwrap();
    let zoloz_ca = ca("stand-in ZOLOZ gateway CA");
    let other_ca = ca("somebody else");
    let (cert, key) = leaf(&zoloz_ca, &["localhost"]);
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
    )
    .unwrap();
    let sim = simulator().await;
    let gateway = Relay::start(
        sim.addr(),
        Some(tokio_rustls::TlsAcceptor::from(Arc::new(server))),
    )
    .await;
    let base_url = format!("https://localhost:{}", gateway.addr.port());
    let trusted = dir.path().join("zoloz-ca.pem");
    std::fs::write(&trusted, &zoloz_ca.pem).unwrap();
    let untrusted = dir.path().join("other-ca.pem");
    std::fs::write(&untrusted, &other_ca.pem).unwrap();

    let served = serve(&base_url, &trusted);
    let result = get(&served).await.unwrap();
    assert_eq!(result.decision(), pb::Decision::Approved);
    assert_eq!(sim.calls("sim-connect-approve"), 1);
    drop(served);

    // The same gateway, with roots that do not include its CA: refused before any request.
    let served = serve(&base_url, &untrusted);
    let status = get(&served).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("certificate"),
        "the message names the cause: {}",
        status.message()
    );
    assert_eq!(sim.calls("sim-connect-approve"), 1, "nothing reached ZOLOZ");
}
