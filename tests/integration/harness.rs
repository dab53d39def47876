//! Shared test helpers: fixture paths, the known-answer vectors, key material.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/vectors/`.
pub fn vector_path(name: &str) -> PathBuf {
    root().join("tests/vectors").join(name)
}

/// `tests/vectors/vectors.json`, parsed.
pub fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(vector_path("vectors.json")).unwrap()).unwrap()
}

/// A string field of the vectors, by JSON pointer.
pub fn vector_str(pointer: &str) -> String {
    vectors()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("vectors.json has no string at {pointer}"))
        .to_string()
}

/// The path of the built `zoloz-verdict` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zoloz-verdict"))
}

/// A loopback port nobody listens on now (bound, noted, closed): for a child process to
/// listen on, or for a connection to be refused.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The client id the simulator accepts by default (the test vectors' one).
pub const CLIENT_ID: &str = zoloz_verdict::simulator::DEFAULT_CLIENT_ID;

/// The test vectors' key pairs as simulator keys: merchant (M) and a stand-in ZOLOZ pair (Z).
/// Loaded once; no key generation in tests.
pub fn sim_keys() -> &'static zoloz_verdict::simulator::SimulatorKeys {
    use std::sync::{Arc, OnceLock};
    static KEYS: OnceLock<zoloz_verdict::simulator::SimulatorKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let read = |name: &str| {
            zoloz_verdict::zoloz::keys::PrivateKey::parse(
                &std::fs::read(vector_path(name)).unwrap(),
            )
            .unwrap()
        };
        zoloz_verdict::simulator::SimulatorKeys {
            merchant_private: Arc::new(read("merchant_private.pk8.b64")),
            zoloz_private: Arc::new(read("zoloz_private.pk8.b64")),
        }
    })
}

/// Starts a simulator on a free loopback port.
pub async fn start_simulator(
    config: zoloz_verdict::simulator::SimulatorConfig,
) -> zoloz_verdict::simulator::RunningSimulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zoloz_verdict::simulator::Simulator::start(config, listener)
        .await
        .unwrap()
}

/// A service (`app::start`) in front of its own simulator, on loopback ports.
pub struct TestService {
    /// The running service (taken by tests that drain it).
    pub running: Option<zoloz_verdict::app::RunningService>,
    /// The simulator behind it.
    pub sim: zoloz_verdict::simulator::RunningSimulator,
    /// The service's gRPC address.
    pub addr: std::net::SocketAddr,
    /// A channel to the service.
    pub channel: tonic::transport::Channel,
}

impl TestService {
    /// A client on the shared channel.
    pub fn client(
        &self,
    ) -> zoloz_verdict::pb::verdict_service_client::VerdictServiceClient<tonic::transport::Channel>
    {
        zoloz_verdict::pb::verdict_service_client::VerdictServiceClient::new(self.channel.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// The text of `GET /metrics`.
    pub async fn scrape_metrics(&self) -> String {
        let addr = self
            .running
            .as_ref()
            .and_then(|r| r.metrics_addr())
            .expect("metrics are served");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The TOML of a test service's configuration, pointed at `base_url`.
pub fn service_toml(base_url: &str) -> String {
    let v = root().join("tests/vectors");
    format!(
        r#"
allow_unauthenticated = true
[server]
listen = "127.0.0.1:0"
shutdown_grace = "10s"
[audit]
enabled = false
[retry]
base_delay = "1ms"
max_delay = "5ms"
[watch]
initial_interval = "20ms"
max_interval = "100ms"
[tenants.default]
client_id = "{CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = "{merchant}"
zoloz_public_key_file = "{zoloz}"
[tenants.v1]
client_id = "{CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = "{merchant}"
zoloz_public_key_file = "{zoloz}"
face_capture_api = "v1"
"#,
        merchant = v.join("merchant_private.pk8.b64").display(),
        zoloz = v.join("zoloz_public.spki.b64").display(),
    )
}

/// Starts a simulator (tweaked by `sim`) and a service in front of it (its configuration
/// tweaked by `config`), and connects a channel. The service serves calls without an identity
/// (`allow_unauthenticated = true`): these tests are not about callers.
pub async fn spawn_service(
    sim: impl FnOnce(&mut zoloz_verdict::simulator::SimulatorConfig),
    config: impl FnOnce(&mut zoloz_verdict::config::Config),
) -> TestService {
    spawn(sim, None, config).await
}

/// As [`spawn_service`], with `callers` (TOML: `[[callers]]` tables, and `[server.tls]` when
/// they are known by certificate) appended to the configuration and no opening for calls
/// without an identity.
pub async fn spawn_service_with_callers(
    callers: &str,
    config: impl FnOnce(&mut zoloz_verdict::config::Config),
) -> TestService {
    spawn(|_| {}, Some(callers.to_string()), config).await
}

async fn spawn(
    sim: impl FnOnce(&mut zoloz_verdict::simulator::SimulatorConfig),
    callers: Option<String>,
    config: impl FnOnce(&mut zoloz_verdict::config::Config),
) -> TestService {
    let keys = sim_keys();
    let mut sim_config = zoloz_verdict::simulator::SimulatorConfig::new(
        CLIENT_ID,
        keys.merchant_public(),
        std::sync::Arc::clone(&keys.zoloz_private),
    );
    sim(&mut sim_config);
    let simulator = start_simulator(sim_config).await;
    let text = match &callers {
        None => service_toml(&simulator.base_url()),
        // Callers named: no opening for calls without an identity.
        Some(tail) => format!(
            "{}\n{tail}",
            service_toml(&simulator.base_url()).replace("allow_unauthenticated = true\n", "")
        ),
    };
    let mut service_config = zoloz_verdict::config::Config::from_toml(&text, "test").unwrap();
    config(&mut service_config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = zoloz_verdict::app::start(
        &service_config,
        listener,
        Some(metrics),
        std::future::pending(),
    )
    .await
    .unwrap();
    let addr = running.addr();
    // Lazy: a TLS test's server refuses a plaintext handshake.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    TestService {
        running: Some(running),
        sim: simulator,
        addr,
        channel,
    }
}

/// A Get request for a product and transaction.
pub fn request(
    product: zoloz_verdict::domain::Product,
    transaction_id: &str,
) -> zoloz_verdict::pb::GetVerificationResultRequest {
    zoloz_verdict::pb::GetVerificationResultRequest {
        product: zoloz_verdict::grpc::convert::product_to_pb(product) as i32,
        transaction_id: transaction_id.to_string(),
        ..Default::default()
    }
}

/// A file under `tests/fixtures/`.
pub fn fixture_path(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// The bytes of a fixture.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A fixture parsed as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The seed response samples (product, fixture), each approving under the default policy.
pub const APPROVING_FIXTURES: [(zoloz_verdict::domain::Product, &str); 6] = {
    use zoloz_verdict::domain::Product::*;
    [
        (FaceCapture, "seeds/facecapture-v1.response.json"),
        (FaceCapture, "seeds/facecapture-v1a.response.json"),
        (FaceCompare, "seeds/facecompare.response.json"),
        (Connect, "seeds/connect.response.json"),
        (Connect, "connect-older-api.json"),
        (IdRecognition, "idrecognition-approved.json"),
    ]
};
