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
