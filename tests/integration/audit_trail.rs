//! The audit trail on the real binary: a sink that stalls makes calls fail closed
//! (`AUDIT_UNAVAILABLE`) and turns health NOT_SERVING, service resumes when the sink drains, and
//! a SIGTERM under load leaves every returned verdict in the audit file, one whole line each.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tonic::Code;
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;
use zoloz_verdict::simulator::SimulatorConfig;

use crate::harness::{
    CLIENT_ID, binary, free_port, request, sim_keys, start_simulator, vector_path,
};

/// The configuration of the real binary with audit records to `audit`.
fn config(port: u16, metrics_port: u16, base_url: &str, audit: &Path, extra: &str) -> String {
    format!(
        r#"
allow_unauthenticated = true
[server]
listen = "127.0.0.1:{port}"
metrics_listen = "127.0.0.1:{metrics_port}"
shutdown_grace = "10s"
[telemetry]
log_format = "json"
[audit]
enabled = true
file = {audit:?}
{extra}
[tenants.default]
client_id = "{CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = "{m}"
zoloz_public_key_file = "{z}"
"#,
        audit = audit.display().to_string(),
        m = vector_path("merchant_private.pk8.b64").display(),
        z = vector_path("zoloz_public.spki.b64").display(),
    )
}

fn spawn(dir: &Path, toml: &str) -> Child {
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    Command::new(binary())
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .unwrap()
}

async fn simulator() -> zoloz_verdict::simulator::RunningSimulator {
    start_simulator(SimulatorConfig::new(
        CLIENT_ID,
        sim_keys().merchant_public(),
        Arc::clone(&sim_keys().zoloz_private),
    ))
    .await
}

async fn connect(url: &str) -> tonic::transport::Channel {
    let started = Instant::now();
    loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_string())
            .unwrap()
            .connect()
            .await
        {
            return channel;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The health status of the whole server and of the verdict service (1 SERVING, 2 NOT_SERVING).
async fn health(channel: &tonic::transport::Channel) -> (i32, i32) {
    let client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut status = [0; 2];
    for (slot, service) in status
        .iter_mut()
        .zip(["", "zoloz.verdict.v1.VerdictService"])
    {
        let request = tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        };
        *slot = client
            .clone()
            .check(request)
            .await
            .unwrap()
            .get_ref()
            .status;
    }
    (status[0], status[1])
}

async fn wait_health(channel: &tonic::transport::Channel, want: i32, within: Duration) {
    let started = Instant::now();
    loop {
        if health(channel).await == (want, want) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "health never became {want}: {:?}",
            health(channel).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the process to exit, running the runtime meanwhile (the client's connections
/// must see the server's GOAWAY for the drain to finish).
async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < within, "the service did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stderr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
}

/// Audit records by transaction id, checking that every line is one whole JSON record.
fn records(text: &str) -> HashMap<String, usize> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a partial last line"
    );
    let mut by_id = HashMap::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one whole record ({e}): {line}"));
        assert_eq!(record["type"], "audit");
        assert_eq!(record["decision"], "APPROVED");
        *by_id
            .entry(record["transactionId"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    by_id
}

async fn metric(metrics_port: u16, name: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn a_stalled_audit_pipe_fails_calls_closed_turns_health_not_serving_and_loses_nothing() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = spawn(
        dir.path(),
        &config(
            port,
            metrics_port,
            &sim.base_url(),
            &fifo,
            "stall_timeout = \"200ms\"\nqueue = 8",
        ),
    );
    // A reader that opens the pipe (the service's open waits for one) and then reads nothing
    // until told to: a collector that stalled.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut pipe = std::fs::File::open(reader_path).unwrap();
        go_rx.recv().unwrap();
        let mut text = String::new();
        pipe.read_to_string(&mut text).unwrap();
        text
    });
    let url = format!("http://127.0.0.1:{port}");
    let channel = connect(&url).await;
    wait_health(&channel, 1, Duration::from_secs(30)).await;
    let mut client = VerdictServiceClient::new(channel.clone());

    // Calls succeed until the pipe, the writer's batch and the queue are full; then a call
    // waits the stall timeout and fails closed.
    let mut returned: HashMap<String, usize> = HashMap::new();
    let mut refused = 0u32;
    for n in 0..5000 {
        let id = format!("audit-stall-{n}");
        let started = Instant::now();
        match client
            .get_verification_result(request(Product::Connect, &id))
            .await
        {
            Ok(_) => *returned.entry(id).or_default() += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                let info = status.get_details_error_info().expect("ErrorInfo");
                assert_eq!(info.reason, "AUDIT_UNAVAILABLE");
                assert_eq!(info.domain, "zoloz-verdict");
                assert!(
                    started.elapsed() >= Duration::from_millis(200),
                    "waited first"
                );
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused, 3, "the stalled pipe never refused a call");
    assert!(
        returned.len() > 50,
        "returned {} before the stall",
        returned.len()
    );
    // Stalled: health turns NOT_SERVING (Kubernetes routes elsewhere), and the metrics say why.
    wait_health(&channel, 2, Duration::from_secs(5)).await;
    assert_eq!(
        metric(metrics_port, "zoloz_verdict_audit_stalled").await,
        1.0
    );
    assert_eq!(
        metric(metrics_port, "zoloz_verdict_audit_refused_total").await,
        3.0
    );

    // The reader comes back: the sink drains, health returns, calls are answered again.
    go_tx.send(()).unwrap();
    wait_health(&channel, 1, Duration::from_secs(10)).await;
    for n in 0..20 {
        let id = format!("audit-after-{n}");
        client
            .get_verification_result(request(Product::Connect, &id))
            .await
            .unwrap();
        *returned.entry(id).or_default() += 1;
    }
    assert_eq!(
        metric(metrics_port, "zoloz_verdict_audit_stalled").await,
        0.0
    );
    drop(client);
    drop(channel);
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}: {}", stderr(dir.path()));
    // Every returned verdict is in the trail, and no refused one is.
    let recorded = records(&reader.join().unwrap());
    assert_eq!(recorded, returned);
}

#[tokio::test]
async fn a_sigterm_under_load_leaves_every_returned_verdict_in_the_audit_file() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = spawn(
        dir.path(),
        &config(port, metrics_port, &sim.base_url(), &audit, ""),
    );
    let url = format!("http://127.0.0.1:{port}");
    let channel = connect(&url).await;
    wait_health(&channel, 1, Duration::from_secs(30)).await;
    let mut workers = Vec::new();
    for worker in 0..16 {
        let mut client = VerdictServiceClient::new(channel.clone());
        workers.push(tokio::spawn(async move {
            let mut returned = Vec::new();
            for n in 0.. {
                // Half new transactions (upstream calls), half cached ones.
                let id = if n % 2 == 0 {
                    format!("audit-term-{worker}-{n}")
                } else {
                    format!("audit-term-{worker}-{}", n - 1)
                };
                match client
                    .get_verification_result(request(Product::Connect, &id))
                    .await
                {
                    Ok(_) => returned.push(id),
                    Err(_) => return returned,
                }
            }
            returned
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(30)).await;
    let mut returned: HashMap<String, usize> = HashMap::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            *returned.entry(id).or_default() += 1;
        }
    }
    assert!(status.success(), "{status:?}: {}", stderr(dir.path()));
    let total: usize = returned.values().sum();
    assert!(total > 100, "only {total} calls were answered");
    let recorded = records(&std::fs::read_to_string(&audit).unwrap());
    for (id, count) in &returned {
        let written = recorded.get(id).copied().unwrap_or(0);
        assert!(
            written >= *count,
            "{id}: {count} returned, {written} recorded"
        );
    }
}
