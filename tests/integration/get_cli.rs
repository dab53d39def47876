//! `zoloz-verdict get` and `health`, the real binary: `--timeout` reaches the service as the
//! gRPC deadline (a unary call ends with the service's own `DEADLINE_EXCEEDED`, a watch ends by
//! itself); flags that would be ignored, and a bad address, exit 2; an unusable certificate
//! file 66, before any connection.

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::harness::{binary, free_port, spawn_service};

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

#[tokio::test]
async fn flags_that_would_be_ignored_or_refused_exit_2() {
    let addr = format!("http://127.0.0.1:{}", free_port());
    let get = [
        "get",
        "--addr",
        &addr,
        "--product",
        "connect",
        "--transaction-id",
        "T-1",
    ];
    for (extra, needle) in [
        (&["--max-wait", "5s"][..], "--watch"),
        (&["--extra-image", "CROPPED_FACE"][..], "--images"),
        (&["--timeout", "0s"][..], "must be longer than 0"),
        (
            &["--watch", "--timeout", "0ms"][..],
            "must be longer than 0",
        ),
    ] {
        let args: Vec<&str> = get.iter().chain(extra).copied().collect();
        let output = run(&args, Duration::from_secs(20)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn a_bad_address_exits_2() {
    for command in ["get", "health"] {
        let mut args = vec![command, "--addr", "http://"];
        if command == "get" {
            args.extend(["--product", "connect", "--transaction-id", "T-1"]);
        }
        let output = run(&args, Duration::from_secs(20)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains("bad address"), "{command}: {stderr}");
    }
    // A TLS flag with a plain-text address would be dropped without a word.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("any.pem");
    std::fs::write(&file, "unused").unwrap();
    let file = file.display().to_string();
    let addr = format!("http://127.0.0.1:{}", free_port());
    for flags in [
        vec!["--ca-file", &file],
        vec!["--cert-file", &file, "--key-file", &file],
        vec!["--tls-server-name", "verdict.example"],
    ] {
        let mut args = vec!["health", "--addr", &addr];
        args.extend(flags.iter().copied());
        let output = run(&args, Duration::from_secs(20)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("need TLS"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn unusable_certificate_files_exit_66_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage-ca.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    // PEM that is not Base64, and Base64 that is not a certificate.
    let broken = dir.path().join("broken-ca.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let not_der = dir.path().join("not-der-ca.pem");
    std::fs::write(
        &not_der,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("client.crt");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    let [garbage, broken, not_der, missing, cert] =
        [garbage, broken, not_der, missing, cert].map(|p| p.display().to_string());
    // Nobody listens: the files must be judged before any connection is tried.
    let addr = format!("127.0.0.1:{}", free_port());
    for command in ["get", "health"] {
        for (file, needle) in [
            (&missing, "No such file"),
            (&garbage, "no PEM certificate"),
            (&broken, "certificate"),
            (&not_der, "certificate"),
        ] {
            let mut args = vec![command, "--addr", &addr, "--ca-file", file];
            if command == "get" {
                args.extend(["--product", "connect", "--transaction-id", "T-1"]);
            }
            let output = run(&args, Duration::from_secs(20)).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(66), "{command} {file}: {stderr}");
            assert!(stderr.contains(file.as_str()), "{command} {file}: {stderr}");
            assert!(stderr.contains(needle), "{command} {file}: {stderr}");
        }
    }
    // The mTLS pair: a certificate file without a certificate, a key file without a key.
    let https = format!("https://{addr}");
    for (cert_file, key_file, named, needle) in [
        (&garbage, &missing, &garbage, "no PEM certificate"),
        (&cert, &missing, &missing, "No such file"),
        (&cert, &cert, &cert, "no usable PEM private key"),
    ] {
        let args = [
            "health",
            "--addr",
            &https,
            "--cert-file",
            cert_file,
            "--key-file",
            key_file,
        ];
        let output = run(&args, Duration::from_secs(20)).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(66), "{args:?}: {stderr}");
        assert!(stderr.contains(named.as_str()), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
