//! The fault soak and shutdown under load (`cargo test --release --test soak -- --ignored
//! --nocapture`; BENCHMARKS.md has its figures). Bounded: about 75 seconds, loopback only.
//!
//! The release service runs as a separate process (the `zoloz-verdict` binary cargo built for
//! this test: a real SIGTERM, a real RSS); the simulator runs in this process, so that its
//! request count is read directly. 64 callers, each with one call at a time, run transactions for
//! 60 s: about 80% of them are ordinary scenarios (most with a fresh transaction id, so they
//! reach the simulator; some with the scenario's fixed id, so they are cache hits), about 20%
//! are faults (slow, HTTP 500, truncated, bad signature, unsigned, stale, SYSTEM_ERROR, the
//! `*-then-approve` retries, and PROCESSING for two polls then the final answer). Every answer
//! is checked against the simulator catalogue's `Expected` for its scenario (PENDING for the
//! first two polls of a `pending-then-*` session). Then, with the callers still running, the
//! service gets SIGTERM: every call sent before it must still get its right answer, calls sent
//! after it must be refused (never answered wrongly), and the process must exit 0 within its
//! grace period.
//!
//! Printed and asserted: calls, wrong verdicts (0), verdicts from unsigned responses (0), lost
//! calls (0), upstream calls per caller call (≤ 1.25), audit records = verdicts; printed: p50 /
//! p99 latency and the service's RSS at start and end.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/names.rs"]
mod names;
#[path = "support/serving.rs"]
mod serving;

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt as _;
use zoloz_verdict::domain::Product;
use zoloz_verdict::error::{ERROR_DOMAIN, ErrorReason};
use zoloz_verdict::pb;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;
use zoloz_verdict::simulator::{
    DEFAULT_CLIENT_ID, Expected, RunningSimulator, Scenario, Simulator, SimulatorConfig, catalogue,
    find,
};
use zoloz_verdict::zoloz::keys::PrivateKey;

use crate::names::{decision_name, reason_names};

/// Concurrent callers.
const CALLERS: usize = 64;
/// HTTP/2 connections they share.
const CONNECTIONS: usize = 8;
/// How long the soak runs before SIGTERM (`ZOLOZ_VERDICT_SOAK_SECS` overrides, for trials).
const SOAK: Duration = Duration::from_secs(60);
/// The service's shutdown grace period.
const GRACE: Duration = Duration::from_secs(10);
/// The simulator's `slow` delay, and the deadline of calls to `slow` (shorter, as the
/// catalogue's expected outcome assumes).
const SLOW_DELAY: Duration = Duration::from_millis(1000);
const SLOW_DEADLINE: Duration = Duration::from_millis(300);
/// The deadline of every other call.
const DEADLINE: Duration = Duration::from_secs(5);
/// The service's cache bound: smaller than the default (100,000) so that the soak reaches it
/// and shows the memory levelling off while entries are evicted.
const CACHE_ENTRIES: usize = 20_000;
/// Upstream calls per caller call at most (retries included).
const MAX_UPSTREAM_PER_CALL: f64 = 1.25;

/// The fault scenarios and their weights (percent of transactions).
const FAULTS: [(&str, f64); 11] = [
    ("slow", 2.0),
    ("http-500", 3.0),
    ("truncated", 3.0),
    ("bad-signature", 2.0),
    ("unsigned", 1.0),
    ("stale-response", 1.0),
    ("system-error", 2.0),
    ("system-error-then-approve", 1.5),
    ("http-500-then-approve", 1.0),
    ("pending-then-approve", 1.5),
    ("pending-then-reject", 1.5),
];
/// Percent of transactions that reuse a scenario's fixed id (cache hits after the first).
const REPEAT: f64 = 20.0;

/// Scenarios whose answer is not signed by ZOLOZ: no verdict may ever come from them.
const UNSIGNED: [&str; 3] = ["bad-signature", "unsigned", "stale-response"];

/// One session: a scenario, its transaction id, and how many polls it takes.
struct Session {
    scenario: &'static Scenario,
    transaction_id: String,
    polls: u64,
    fault: bool,
}

fn ordinary() -> Vec<&'static Scenario> {
    catalogue()
        .iter()
        .filter(|s| matches!(s.expected, Expected::Decision { .. }) && s.final_poll() == 1)
        .filter(|s| !FAULTS.iter().any(|(name, _)| *name == s.name))
        // The soak's one tenant calls the v1a Face Capture API; the v1-shaped scenarios
        // expect a v1 tenant (the integration tests cover them).
        .filter(|s| !s.needs_face_capture_v1())
        .collect()
}

fn plan(rng: &mut StdRng, ordinary: &[&'static Scenario], caller: usize, seq: u64) -> Session {
    let mut roll = rng.random_range(0.0..100.0);
    for (name, weight) in FAULTS {
        if roll < weight {
            let product = Product::ALL[rng.random_range(0..Product::ALL.len())];
            let scenario = find(product, name).unwrap();
            // `pending-then-*` answers PROCESSING to two polls; the `*-then-approve` faults are
            // retried inside one call.
            let polls = if name.starts_with("pending-then-") {
                scenario.final_poll()
            } else {
                1
            };
            return Session {
                scenario,
                transaction_id: format!("{}.{caller}-{seq}", scenario.transaction_id()),
                polls,
                fault: true,
            };
        }
        roll -= weight;
    }
    let scenario = ordinary[rng.random_range(0..ordinary.len())];
    let transaction_id = if roll < REPEAT {
        scenario.transaction_id()
    } else {
        format!("{}.{caller}-{seq}", scenario.transaction_id())
    };
    Session {
        scenario,
        transaction_id,
        polls: 1,
        fault: false,
    }
}

/// What a call got.
#[derive(Debug)]
enum Got {
    Verdict {
        decision: String,
        reasons: BTreeSet<String>,
    },
    /// A service error with its `ErrorInfo`.
    Error { reason: String, code: tonic::Code },
    /// No answer from the service: a transport failure, a refusal, or a status without the
    /// service's `ErrorInfo`.
    Nothing(String),
}

fn got(result: Result<tonic::Response<pb::VerificationResult>, tonic::Status>) -> Got {
    match result {
        Ok(response) => {
            let result = response.into_inner();
            Got::Verdict {
                decision: decision_name(&result).to_string(),
                reasons: reason_names(&result).map(str::to_string).collect(),
            }
        }
        Err(status) => match status.get_details_error_info() {
            Some(info) if info.domain == ERROR_DOMAIN => Got::Error {
                reason: info.reason,
                code: status.code(),
            },
            _ => Got::Nothing(format!("{:?}: {}", status.code(), status.message())),
        },
    }
}

fn matches(expected: &Expected, got: &Got) -> bool {
    match (expected, got) {
        (
            Expected::Decision { decision, reasons },
            Got::Verdict {
                decision: d,
                reasons: r,
            },
        ) => d == decision && r.iter().map(String::as_str).eq(sorted(reasons)),
        (Expected::Error { reason }, Got::Error { reason: r, code }) => {
            let wanted = ErrorReason::ALL
                .into_iter()
                .find(|e| e.as_str() == *reason)
                .unwrap();
            r == reason && *code == zoloz_verdict::grpc::status::code_for(wanted)
        }
        _ => false,
    }
}

/// A comparable one-line form of an answer.
fn summary(got: &Got) -> String {
    match got {
        Got::Verdict { decision, reasons } => format!(
            "{decision} [{}]",
            reasons.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        Got::Error { reason, code } => format!("error {reason} ({code:?})"),
        Got::Nothing(message) => format!("no answer: {message}"),
    }
}

/// What each scenario answers with no load: the reference next to the catalogue. The two can
/// differ where the verdict engine and the catalogue disagree (a defect of theirs, reported
/// apart); under load an answer must equal one of them.
type Golden = HashMap<String, String>;

fn sorted(reasons: &[&'static str]) -> Vec<&'static str> {
    let set: BTreeSet<&str> = reasons.iter().copied().collect();
    set.into_iter().collect()
}

const PENDING: Expected = Expected::Decision {
    decision: "PENDING",
    reasons: &["IN_PROGRESS"],
};

/// What the callers saw.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    answered: u64,
    verdicts: u64,
    fault_calls: u64,
    wrong: u64,
    catalogue_disagreements: u64,
    unsigned_verdicts: u64,
    lost: u64,
    caller_timeouts: u64,
    refused_after_sigterm: u64,
    answered_after_sigterm: u64,
    latencies_us: Vec<u64>,
    latencies_not_slow_us: Vec<u64>,
    samples: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.answered += other.answered;
        self.verdicts += other.verdicts;
        self.fault_calls += other.fault_calls;
        self.wrong += other.wrong;
        self.catalogue_disagreements += other.catalogue_disagreements;
        self.unsigned_verdicts += other.unsigned_verdicts;
        self.lost += other.lost;
        self.caller_timeouts += other.caller_timeouts;
        self.refused_after_sigterm += other.refused_after_sigterm;
        self.answered_after_sigterm += other.answered_after_sigterm;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_not_slow_us
            .extend(other.latencies_not_slow_us);
        if self.samples.len() < 20 {
            self.samples.extend(other.samples);
        }
    }
}

/// When SIGTERM was sent.
static SIGTERM_AT: OnceLock<Instant> = OnceLock::new();

/// One Get for a scenario (with the short deadline `slow` expects), never waiting more than
/// two seconds past its deadline.
async fn call(
    client: &mut VerdictServiceClient<Channel>,
    scenario: &Scenario,
    transaction_id: &str,
) -> Got {
    let deadline = if scenario.name == "slow" {
        SLOW_DEADLINE
    } else {
        DEADLINE
    };
    let mut request = tonic::Request::new(pb::GetVerificationResultRequest {
        product: zoloz_verdict::grpc::convert::product_to_pb(scenario.product) as i32,
        transaction_id: transaction_id.to_string(),
        ..Default::default()
    });
    request.set_timeout(deadline);
    match tokio::time::timeout(
        deadline + Duration::from_secs(2),
        client.get_verification_result(request),
    )
    .await
    {
        Ok(result) => got(result),
        Err(_) => Got::Nothing("no answer within the deadline plus 2 s".into()),
    }
}

/// Every scenario the soak uses, once, with nothing else running: the final answer of each.
async fn golden_run(channel: Channel, ordinary: &[&'static Scenario]) -> Golden {
    let mut client = VerdictServiceClient::new(channel);
    let mut golden = Golden::new();
    let faults = FAULTS.iter().flat_map(|(name, _)| {
        Product::ALL
            .into_iter()
            .map(move |product| find(product, name).unwrap())
    });
    for scenario in ordinary.iter().copied().chain(faults) {
        let polls = if scenario.name.starts_with("pending-then-") {
            scenario.final_poll()
        } else {
            1
        };
        let id = format!("{}.golden", scenario.transaction_id());
        let mut outcome = Got::Nothing("not called".into());
        for _ in 0..polls {
            outcome = call(&mut client, scenario, &id).await;
        }
        golden.insert(scenario.transaction_id(), summary(&outcome));
    }
    golden
}

async fn caller(
    index: usize,
    channel: Channel,
    ordinary: Arc<Vec<&'static Scenario>>,
    golden: Arc<Golden>,
    hard_stop: Instant,
) -> Tally {
    let mut client = VerdictServiceClient::new(channel);
    let golden = &*golden;
    let mut rng = StdRng::seed_from_u64(0x5eed_0000 + index as u64);
    let mut tally = Tally::default();
    let mut seq = 0u64;
    'transactions: loop {
        seq += 1;
        let session = plan(&mut rng, &ordinary, index, seq);
        for poll in 1..=session.polls {
            if Instant::now() >= hard_stop {
                break 'transactions;
            }
            let expected = if poll < session.scenario.final_poll()
                && session.scenario.name.starts_with("pending-then-")
            {
                PENDING
            } else {
                session.scenario.expected
            };
            let sent = Instant::now();
            let outcome = call(&mut client, session.scenario, &session.transaction_id).await;
            let elapsed = sent.elapsed();
            tally.calls += 1;
            let after_sigterm = SIGTERM_AT.get().is_some_and(|t| sent >= *t);
            if let Got::Nothing(message) = &outcome {
                if after_sigterm {
                    // Sent after SIGTERM and refused: the caller would retry on another replica.
                    tally.refused_after_sigterm += 1;
                    break 'transactions;
                }
                if session.scenario.name == "slow" && message.contains("Timeout expired") {
                    // The service answers `slow` with DEADLINE_EXCEEDED a little before the
                    // caller's deadline; on a saturated machine that answer can arrive after
                    // it, and the caller's own timer ends the call. Same outcome: no verdict.
                    tally.caller_timeouts += 1;
                    continue 'transactions;
                }
                tally.lost += 1;
                tally.samples.push(format!(
                    "LOST {} poll {poll}: {message}",
                    session.transaction_id
                ));
                continue 'transactions;
            }
            tally.answered += 1;
            if after_sigterm {
                tally.answered_after_sigterm += 1;
            }
            if session.fault {
                tally.fault_calls += 1;
            }
            let micros = elapsed.as_micros() as u64;
            tally.latencies_us.push(micros);
            if session.scenario.name != "slow" {
                tally.latencies_not_slow_us.push(micros);
            }
            if let Got::Verdict { .. } = outcome {
                tally.verdicts += 1;
                if UNSIGNED.contains(&session.scenario.name) {
                    tally.unsigned_verdicts += 1;
                }
            }
            if matches(&expected, &outcome) {
                continue;
            }
            let reference = if poll < session.polls {
                None
            } else {
                golden.get(&session.scenario.transaction_id())
            };
            if reference == Some(&summary(&outcome)) {
                tally.catalogue_disagreements += 1;
                continue;
            }
            tally.wrong += 1;
            tally.samples.push(format!(
                "WRONG {} poll {poll}: expected {expected} (unloaded: {}), got {}",
                session.transaction_id,
                reference.map_or("-", String::as_str),
                summary(&outcome)
            ));
            continue 'transactions;
        }
    }
    tally
}

fn percentile(values: &mut [u64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    values[((values.len() - 1) as f64 * p).round() as usize] as f64
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn audit_lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count() as u64
}

fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name)
}

async fn start_simulator() -> RunningSimulator {
    let read = |name: &str| PrivateKey::parse(&std::fs::read(vector(name)).unwrap()).unwrap();
    let merchant = read("merchant_private.pk8.b64");
    let mut config = SimulatorConfig::new(
        DEFAULT_CLIENT_ID,
        merchant.public_key().clone(),
        Arc::new(read("zoloz_private.pk8.b64")),
    );
    config.slow_delay = SLOW_DELAY;
    Simulator::bind(config, "127.0.0.1:0").await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a 75-second soak: cargo test --release --test soak -- --ignored --nocapture"]
async fn fault_soak_then_sigterm_under_load() {
    let soak = std::env::var("ZOLOZ_VERDICT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(SOAK, Duration::from_secs);
    let ordinary = Arc::new(ordinary());
    for s in catalogue() {
        assert!(
            s.transaction_id().len() + ".63-999999".len() <= 64,
            "{} is too long for a suffix",
            s.transaction_id()
        );
    }
    let sim = start_simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let audit = dir.path().join("audit.jsonl");
    let config = dir.path().join("soak.toml");
    std::fs::write(
        &config,
        format!(
            r#"allow_unauthenticated = true
[server]
listen = "127.0.0.1:{port}"
metrics_listen = "off"
shutdown_grace = "{grace}s"
[audit]
file = {audit:?}
[cache]
max_entries = {cache}
[tenants.default]
client_id = "{DEFAULT_CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = {merchant:?}
zoloz_public_key_file = {zoloz:?}
"#,
            grace = GRACE.as_secs(),
            cache = CACHE_ENTRIES,
            audit = audit.display().to_string(),
            base_url = sim.base_url(),
            merchant = vector("merchant_private.pk8.b64").display().to_string(),
            zoloz = vector("zoloz_public.spki.b64").display().to_string(),
        ),
    )
    .unwrap();
    let mut service = Command::new(env!("CARGO_BIN_EXE_zoloz-verdict"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(File::create(dir.path().join("service.log")).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = service.id();
    let url = format!("http://127.0.0.1:{port}");
    serving::wait_serving(&url, || None).await;
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(
            Endpoint::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let golden = golden_run(channels[0].clone(), &ordinary).await;
    let disagreements: Vec<String> = ordinary
        .iter()
        .copied()
        .chain(FAULTS.iter().flat_map(|(name, _)| {
            Product::ALL
                .into_iter()
                .map(move |product| find(product, name).unwrap())
        }))
        .filter_map(|scenario| {
            let unloaded = &golden[&scenario.transaction_id()];
            let expected = scenario.expected;
            let agrees = match expected {
                Expected::Decision { decision, reasons } => {
                    *unloaded == format!("{decision} [{}]", sorted(reasons).join(", "))
                }
                Expected::Error { reason } => unloaded.starts_with(&format!("error {reason} ")),
            };
            (!agrees).then(|| {
                format!(
                    "{}: catalogue {expected}, service {unloaded}",
                    scenario.transaction_id()
                )
            })
        })
        .collect();
    let golden = Arc::new(golden);
    sim.reset_counts();
    // The audit writer flushes when idle: give it a moment before counting the golden run's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let audit_before = audit_lines(&audit);
    let rss_start = status_kib(pid, "VmRSS");

    let started = Instant::now();
    let hard_stop = started + soak + GRACE + Duration::from_secs(10);
    let stop_watch = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            tokio::spawn(caller(
                i,
                channels[i % CONNECTIONS].clone(),
                Arc::clone(&ordinary),
                Arc::clone(&golden),
                hard_stop,
            ))
        })
        .collect();
    // Progress, so a long run shows it is alive.
    let progress = {
        let stop = Arc::clone(&stop_watch);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(10)).await;
                if !stop.load(Ordering::Relaxed) {
                    eprintln!(
                        "soak: {:>3.0} s, service RSS {:.1} MiB",
                        started.elapsed().as_secs_f64(),
                        status_kib(pid, "VmRSS") as f64 / 1024.0
                    );
                }
            }
        })
    };
    tokio::time::sleep(soak / 2).await;
    let rss_mid = status_kib(pid, "VmRSS");
    tokio::time::sleep(soak - soak / 2).await;

    // SIGTERM with the callers still running.
    let rss_end = status_kib(pid, "VmRSS");
    let rss_peak = status_kib(pid, "VmHWM");
    let upstream_before_sigterm = sim.total_calls();
    let sigterm = Instant::now();
    SIGTERM_AT.set(sigterm).unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = loop {
        if let Some(status) = service.try_wait().unwrap() {
            break Some((status, sigterm.elapsed()));
        }
        if sigterm.elapsed() > GRACE + Duration::from_secs(5) {
            let _ = service.kill();
            let _ = service.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await.unwrap());
    }
    stop_watch.store(true, Ordering::Relaxed);
    progress.abort();
    let upstream = sim.total_calls();
    let audit_records = audit_lines(&audit) - audit_before;

    let (status, exit_after) = exit.expect("the service did not exit after SIGTERM");
    let soak_calls = tally.calls - tally.refused_after_sigterm;
    let upstream_per_call = upstream as f64 / soak_calls.max(1) as f64;
    let p50 = percentile(&mut tally.latencies_us, 0.5) / 1000.0;
    let p99 = percentile(&mut tally.latencies_us, 0.99) / 1000.0;
    let p99_not_slow = percentile(&mut tally.latencies_not_slow_us, 0.99) / 1000.0;
    let seconds = sigterm.duration_since(started).as_secs_f64();
    println!();
    println!("| soak figure | value |");
    println!("| --- | ---: |");
    println!("| callers | {CALLERS} over {CONNECTIONS} connections |");
    println!("| duration before SIGTERM | {seconds:.1} s |");
    println!("| calls | {} |", tally.calls);
    println!("| calls per second | {:.0} |", soak_calls as f64 / seconds);
    println!(
        "| calls to fault scenarios | {} ({:.1}%) |",
        tally.fault_calls,
        100.0 * tally.fault_calls as f64 / tally.answered.max(1) as f64
    );
    println!("| verdicts | {} |", tally.verdicts);
    println!("| wrong answers | {} |", tally.wrong);
    println!(
        "| answers equal to the unloaded answer where that differs from the catalogue | {} |",
        tally.catalogue_disagreements
    );
    println!(
        "| verdicts from unsigned responses | {} |",
        tally.unsigned_verdicts
    );
    println!("| lost calls | {} |", tally.lost);
    println!(
        "| `slow` calls ended by the caller's own deadline timer | {} |",
        tally.caller_timeouts
    );
    println!(
        "| upstream calls per caller call | {upstream_per_call:.3} ({upstream} / {soak_calls}) |"
    );
    println!("| p50 latency | {p50:.1} ms |");
    println!("| p99 latency | {p99:.1} ms |");
    println!("| p99 latency without `slow` | {p99_not_slow:.1} ms |");
    println!(
        "| service RSS at start / half time / end / peak | {:.1} / {:.1} / {:.1} / {:.1} MiB |",
        rss_start as f64 / 1024.0,
        rss_mid as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!(
        "| SIGTERM: answered after it / refused after it | {} / {} |",
        tally.answered_after_sigterm, tally.refused_after_sigterm
    );
    println!(
        "| SIGTERM to exit | {:.2} s (grace {} s), {status} |",
        exit_after.as_secs_f64(),
        GRACE.as_secs()
    );
    println!(
        "| audit records / verdicts | {audit_records} / {} |",
        tally.verdicts
    );
    println!("| upstream calls before SIGTERM | {upstream_before_sigterm} |");
    for sample in &tally.samples {
        println!("{sample}");
    }
    if !disagreements.is_empty() {
        println!(
            "\nScenarios where the service (unloaded) and the catalogue disagree, outside this soak's scope:"
        );
        for line in &disagreements {
            println!("  {line}");
        }
    }

    assert!(tally.calls > 1000, "too few calls: {}", tally.calls);
    assert_eq!(tally.wrong, 0, "wrong answers");
    assert_eq!(
        tally.unsigned_verdicts, 0,
        "verdicts from unsigned responses"
    );
    assert_eq!(tally.lost, 0, "lost calls");
    assert!(
        upstream_per_call <= MAX_UPSTREAM_PER_CALL,
        "{upstream_per_call:.3} upstream calls per caller call"
    );
    assert!(status.success(), "the service exited with {status}");
    assert!(exit_after <= GRACE, "exit took {exit_after:?}");
    assert_eq!(
        audit_records, tally.verdicts,
        "one audit record per verdict"
    );
    // The cache is full well before half time: from then on memory must level off.
    assert!(
        rss_end <= rss_mid + rss_mid / 4 + 16 * 1024,
        "service RSS grew from {rss_mid} KiB at half time to {rss_end} KiB"
    );
    sim.shutdown().await;
}
