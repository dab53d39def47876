//! Waiting for a server to answer the standard gRPC health check with SERVING. Shared by the
//! fault soak (`tests/soak.rs`) and the service bench (`benches/service.rs`) through `#[path]`.

use std::time::{Duration, Instant};

use tonic::transport::Endpoint;

/// Polls `url`'s health check every 50 ms until it answers SERVING. Panics after 30 s, or as
/// soon as `exited` returns a description (the process behind `url` has ended).
pub async fn wait_serving(url: &str, mut exited: impl FnMut() -> Option<String>) {
    let started = Instant::now();
    loop {
        if let Some(why) = exited() {
            panic!("{why}");
        }
        if let Ok(channel) = Endpoint::from_shared(url.to_string())
            .unwrap()
            .connect()
            .await
        {
            let serving = tonic_health::pb::health_client::HealthClient::new(channel)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .is_ok_and(|r| r.get_ref().status == 1);
            if serving {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} did not become SERVING"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
