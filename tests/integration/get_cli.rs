//! `zoloz-verdict get` and `health`, the real binary: `--timeout` reaches the service as the
//! gRPC deadline (a unary call ends with the service's own `DEADLINE_EXCEEDED`, a watch ends by
//! itself).

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::harness::{binary, spawn_service};

/// Runs the binary without blocking the runtime the service runs on; a run that outlives
/// `limit` is killed and fails the test (a stream the deadline did not bound).
async fn run(args: &[&str], limit: Duration) -> std::process::Output {
    let child = tokio::process::Command::new(binary())
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, child)
        .await
        .unwrap_or_else(|_| panic!("{args:?} still running after {limit:?}"))
        .unwrap()
}

#[tokio::test]
async fn a_get_ends_with_the_services_deadline_exceeded() {
    // Far beyond the deadline: an answer in time can only come from the deadline.
    let service = spawn_service(|sim| sim.slow_delay = Duration::from_secs(30), |_| {}).await;
    let addr = format!("http://{}", service.addr);
    let started = Instant::now();
    let output = run(
        &[
            "get",
            "--addr",
            &addr,
            "--product",
            "connect",
            "--transaction-id",
            "sim-connect-slow",
            "--timeout",
            "1s",
        ],
        Duration::from_secs(20),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["error"]["code"], "DEADLINE_EXCEEDED", "{value}");
    assert_eq!(value["error"]["reason"], "UPSTREAM_TIMEOUT", "{value}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_watch_ends_at_the_timeout() {
    let service = spawn_service(|_| {}, |_| {}).await;
    let addr = format!("http://{}", service.addr);
    // A transaction that stays pending: the stream ends at the deadline, cleanly, after telling
    // the caller "pending" once; --max-wait 0s leaves the bound to the deadline.
    let started = Instant::now();
    let output = run(
        &[
            "get",
            "--addr",
            &addr,
            "--product",
            "connect",
            "--transaction-id",
            "sim-connect-pending",
            "--watch",
            "--timeout",
            "1s",
            "--max-wait",
            "0s",
        ],
        Duration::from_secs(20),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert_eq!(lines[0]["decision"], "DECISION_PENDING");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}
