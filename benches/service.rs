//! `cargo bench --bench service [-- --quick]`: the service's figures in one run, on loopback,
//! with the simulator and the release service as separate processes (the `zoloz-verdict`
//! binary cargo built for this bench). Everything is measured in the same run, because the
//! targets are ratios and the machine is shared:
//!
//! | figure | how |
//! | --- | --- |
//! | `noop_rps` | GetVerificationResult against a trivial tonic server (this binary re-executed as a separate process, same transport settings) that returns a canned result: the ceiling |
//! | `audit_cached_rps` | the same calls against the service, every one a cache hit (the noop and cached phases alternate, two rounds each) |
//! | `audit_uncached_rps` | every call a new transaction id, so every call goes to the simulator |
//! | `crypto_floor_us` | one RSA-2048 sign + one verify with the service's own signing code, in thread CPU time, measured before, between and after the slices of the uncached phase |
//! | `crypto_floor_loaded_us` | the same sign + verify, sampled every 10 ms by a thread of this process *while* the uncached slices run (the service's conditions); reported beside the target, which keeps `crypto_floor_us` |
//! | `audit_service_cpu_us_per_uncached` | the service process's utime+stime (`/proc/<pid>/stat`) over the uncached phase, per verdict |
//! | `direct_p50_us` / `service_p50_us` | p50 of a signed checkresult call straight to the simulator (the service's own ZOLOZ client, in this process) vs the same call through the service; concurrency 1, alternating blocks |
//! | `image_peak_rss_mib` | the service's peak RSS (`VmHWM`, reset first through `/proc/<pid>/clear_refs`) while `image_concurrency` calls at a time fetch a `large-images` result of `image_response_mib` |
//!
//! Load comes from this process: a tonic client, `CONCURRENCY` calls in flight over
//! `CONNECTIONS` HTTP/2 connections, for every server alike. The service runs with production
//! defaults, as deployed (JSON logs at info, metrics on, audit records on, to a file): its
//! figures are the `audit_*` ones and the targets; a second service with audit records off
//! gives the same figures without the `audit_` prefix. It prints a table and, as its last line, one
//! JSON object with the figures. A run in which any call failed (`failed_calls`) prints them
//! and exits 1; the targets are reported, not asserted (CI runs `--quick` as a smoke test).
//!
//! Options (after `--`): `--quick` (about a minute), `--perf DIR` (record `perf` profiles of
//! the service during the cached and uncached phases; the figures of such a run are inflated),
//! `--callgrind DIR` (instead of the figures: instruction counts per cached and per uncached
//! call under callgrind). `ZOLOZ_VERDICT_BENCH_SERVICE=PATH` measures another build of the
//! service (to compare two versions in the same minutes).
//!
//! `--peer [--quick]` compares the service (audit on) with a load driver shaped like ZOLOZ's
//! official Java SDK calling the same simulator (`peer_comparison`; needs a JDK).
//!
//! `--ab PATH [--slices N]` compares two builds (this package's service, or
//! `ZOLOZ_VERDICT_BENCH_SERVICE`, as A; the binary at `PATH` as B) *paired*: both run at once
//! against one simulator, the uncached load alternates between them in one-second slices (A
//! first in even slices, B first in odd ones), and the concurrency-1 latency alternates in
//! blocks of 25 calls (A, B and a direct call). Sequential runs of one build differ by more
//! than most changes are worth on this shared machine (BENCHMARKS.md); paired, two identical
//! builds agree within about 1 %.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/serving.rs"]
mod serving;

use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use zoloz_verdict::domain::Product;
use zoloz_verdict::domain::ids::BizId;
use zoloz_verdict::pb;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;
use zoloz_verdict::simulator::DEFAULT_CLIENT_ID;
use zoloz_verdict::zoloz::api::Api;
use zoloz_verdict::zoloz::client::{
    Auth, CheckResultRequest, ClientConfig, ZolozClient, ZolozKeys,
};
use zoloz_verdict::zoloz::keys::{PrivateKey, PublicKey};
use zoloz_verdict::zoloz::signing;

/// Calls in flight during the throughput phases.
const CONCURRENCY: usize = 64;
/// HTTP/2 connections they share.
const CONNECTIONS: usize = 4;
/// Calls in flight during the image phase.
const IMAGE_CONCURRENCY: usize = 8;
/// Distinct transaction ids the cached phase cycles through (all primed first).
const CACHED_IDS: u64 = 256;
/// Another build of the service to measure instead of this package's (the simulator stays).
const SERVICE_ENV: &str = "ZOLOZ_VERDICT_BENCH_SERVICE";
/// Set in the environment of the re-executed noop server: the file with its canned answer.
const NOOP_ENV: &str = "ZOLOZ_VERDICT_BENCH_NOOP_RESPONSE";

fn main() {
    if let Ok(response) = std::env::var(NOOP_ENV) {
        noop::serve(Path::new(&response));
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let usage = |message: String| -> ! {
        eprintln!("bench service: {message}");
        std::process::exit(2)
    };
    let value = |flag: &str| -> Option<&String> {
        let at = args.iter().position(|a| a == flag)?;
        match args.get(at + 1) {
            Some(value) if !value.starts_with("--") => Some(value),
            _ => usage(format!("{flag} needs a value")),
        }
    };
    let quick = args.iter().any(|a| a == "--quick");
    let perf = value("--perf").map(PathBuf::from);
    let callgrind = value("--callgrind").map(PathBuf::from);
    let ab = value("--ab").map(PathBuf::from);
    let slices = value("--slices").map(|n| match n.parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => usage(format!("--slices takes a number above 0, not {n:?}")),
    });
    let peer = args.iter().any(|a| a == "--peer");
    if [callgrind.is_some(), ab.is_some(), peer]
        .iter()
        .filter(|&&b| b)
        .count()
        > 1
    {
        usage("--callgrind, --ab and --peer are different runs: give one".into());
    }
    if slices.is_some() && ab.is_none() {
        usage("--slices goes with --ab".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if peer {
        runtime.block_on(peer_comparison(quick));
        return;
    }
    match (callgrind, ab) {
        (Some(dir), _) => runtime.block_on(callgrind_profile(&dir)),
        (None, Some(b)) => runtime.block_on(paired(&b, slices.unwrap_or(20))),
        (None, None) => runtime.block_on(run(Settings::new(quick, perf))),
    }
}

/// `--ab PATH`: two builds of the service, A and B, measured paired (see the module docs).
/// Prints a table and, as its last line, one JSON object.
async fn paired(b_binary: &Path, slices: usize) {
    assert!(
        b_binary.is_file(),
        "--ab: no binary at {}",
        b_binary.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let ticks = clock_ticks();
    let run = run_id();
    let (_simulator, sim_url) = spawn_simulator(dir.path(), &keys);
    let binaries = [service_binary(), b_binary.to_path_buf()];
    let mut services = Vec::new();
    for (binary, name) in binaries.iter().zip(["service-a", "service-b"]) {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        // The default configuration: audit records on, each service to its own file.
        let audit = dir.path().join(format!("{name}-audit.jsonl"));
        let toml = service_toml(port, free_port(), &sim_url, &keys, Some(&audit));
        let mut proc = spawn_service_binary(binary, dir.path(), name, &toml);
        wait_serving(&url, &mut proc).await;
        let channels = channels(&url).await;
        services.push((proc, url, channels));
    }
    eprintln!(
        "paired: A {}, B {}, {slices} slices, work dir {}",
        binaries[0].display(),
        binaries[1].display(),
        dir.path().display()
    );
    let uncached = move |tag: &'static str, slice: usize| {
        move |n: u64| {
            get(
                Product::Connect,
                format!("bench-{run}-ab-{tag}-{slice}-{n}"),
            )
        }
    };
    for (index, (_, _, channels)) in services.iter().enumerate() {
        let tag = ["warm-a", "warm-b"][index];
        load(
            channels,
            CONCURRENCY,
            Duration::from_secs(1),
            uncached(tag, 0),
        )
        .await;
    }
    // CPU per uncached verdict, the load alternating between A and B.
    let mut cpu_ticks_of = [0u64; 2];
    let mut verdicts = [0u64; 2];
    for slice in 0..slices {
        for turn in 0..2 {
            let index = (slice + turn) % 2;
            let (proc, _, channels) = &services[index];
            let before = cpu_ticks(proc.pid());
            let part = load(
                channels,
                CONCURRENCY,
                Duration::from_secs(1),
                uncached(["a", "b"][index], slice),
            )
            .await;
            cpu_ticks_of[index] += cpu_ticks(proc.pid()) - before;
            // A failed call costs CPU without making a verdict: the comparison would be skewed.
            assert_eq!(
                part.errors,
                0,
                "service {} failed calls (first: {})",
                ["A", "B"][index],
                part.first_error.as_deref().unwrap_or("?")
            );
            verdicts[index] += part.ok;
        }
    }
    let cpu_us = |index: usize| {
        cpu_ticks_of[index] as f64 * 1e6 / ticks as f64 / verdicts[index].max(1) as f64
    };
    // Latency at concurrency 1, in alternating blocks: direct, A, B.
    let latency = {
        let (sim_url, keys) = (sim_url.clone(), keys.clone());
        let urls = [services[0].1.clone(), services[1].1.clone()];
        let calls = slices * 100;
        on_one_thread(move || async move {
            let direct = direct_client(&sim_url, &keys);
            let mut clients = Vec::new();
            for url in &urls {
                clients.push(client(&channels(url).await[0]));
            }
            let mut samples: [Vec<u32>; 3] = Default::default();
            let mut n = 0u64;
            for round in 0..calls / 25 + 2 {
                for turn in 0..3 {
                    let which = (round + turn) % 3;
                    for _ in 0..25 {
                        n += 1;
                        let id = format!("bench-{run}-ab-lat-{n}");
                        let started = Instant::now();
                        if which == 0 {
                            direct
                                .checkresult(Product::Connect, &connect_request(&id), None)
                                .await
                                .unwrap();
                        } else {
                            clients[which - 1]
                                .get_verification_result(get(Product::Connect, id))
                                .await
                                .unwrap();
                        }
                        // The first two rounds warm the connections.
                        if round >= 2 {
                            samples[which].push(started.elapsed().as_micros() as u32);
                        }
                    }
                }
            }
            samples.map(|mut s| percentile(&mut s, 0.5))
        })
        .await
    };
    let mut figures = Figures(serde_json::Map::new());
    figures.set("slices", slices);
    figures.set("a_verdicts", verdicts[0]);
    figures.set("b_verdicts", verdicts[1]);
    figures.set("a_cpu_us_per_uncached", round(cpu_us(0), 1));
    figures.set("b_cpu_us_per_uncached", round(cpu_us(1), 1));
    figures.set("b_over_a_cpu", round(cpu_us(1) / cpu_us(0), 4));
    figures.set("direct_p50_us", round(latency[0], 0));
    figures.set("a_p50_us", round(latency[1], 0));
    figures.set("b_p50_us", round(latency[2], 0));
    figures.set("b_over_a_p50", round(latency[2] / latency[1], 4));
    println!("| figure | A | B | B / A |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| service CPU per uncached verdict (us) | {:.1} | {:.1} | {:.4} |",
        cpu_us(0),
        cpu_us(1),
        cpu_us(1) / cpu_us(0)
    );
    println!(
        "| p50 at concurrency 1 (us; direct {:.0}) | {:.0} | {:.0} | {:.4} |",
        latency[0],
        latency[1],
        latency[2],
        latency[2] / latency[1]
    );
    println!("{}", Value::Object(figures.0));
}

/// `--peer [--quick]`: the service as deployed (audit records on) against what a merchant runs
/// without it, a load driver shaped like ZOLOZ's official Java SDK (`benches/peer/`, compiled
/// with the machine's `javac`), both calling the same simulator. Phases alternate (SDK, then
/// service) in rounds, at 16 callers and at 1; each side's CPU is its process's utime+stime
/// over the measured window, per successful call.
async fn peer_comparison(quick: bool) {
    let (rounds, phase, warmup) = if quick { (1, 5, 3) } else { (3, 20, 5) };
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let ticks = clock_ticks();
    let run = run_id();
    let classes = dir.path().join("peer");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/SdkShapedLoad.java");
    let javac = Command::new("javac")
        .args(["-d"])
        .arg(&classes)
        .arg(&source)
        .status();
    if !javac.is_ok_and(|s| s.success()) {
        eprintln!(
            "bench service --peer: javac could not compile {}",
            source.display()
        );
        std::process::exit(2);
    }
    let (simulator, sim_url) = spawn_simulator(dir.path(), &keys);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let audit = dir.path().join("audit.jsonl");
    let mut service = spawn_service(
        dir.path(),
        "service",
        &service_toml(port, free_port(), &sim_url, &keys, Some(&audit)),
    );
    wait_serving(&url, &mut service).await;
    let service_channels = channels(&url).await;
    let mut figures = Figures(serde_json::Map::new());
    let sdk_phase = |threads: usize| {
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(&classes)
            .arg("SdkShapedLoad")
            .arg(&sim_url)
            .arg(zoloz_verdict::simulator::DEFAULT_CLIENT_ID)
            .arg(keys.join("merchant_private.pem"))
            .arg(keys.join("zoloz_public.pem"))
            .args([threads.to_string(), warmup.to_string(), phase.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("java");
        let pid = child.id();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut before = 0;
        let mut cpu = 0;
        let mut done = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            match line.as_str() {
                "measuring" => before = cpu_ticks(pid),
                "measured" => cpu = cpu_ticks(pid) - before,
                other if other.starts_with("done ") => done = other.to_string(),
                _ => {}
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "the SDK-shaped driver failed: {status:?}");
        let field = |name: &str| -> u64 {
            done.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {done:?}"))
        };
        let calls = field("calls");
        assert!(
            calls > 0 && field("errors") == 0,
            "the SDK-shaped driver's calls failed: {done}"
        );
        (
            cpu as f64 * 1e6 / ticks as f64 / calls as f64,
            field("p50_us") as f64,
            calls as f64 / phase as f64,
        )
    };
    for threads in [16usize, 1] {
        let (mut sdk_cpu, mut sdk_p50, mut sdk_rps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut svc_cpu, mut svc_p50, mut svc_rps) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (cpu, p50, rps) = tokio::task::block_in_place(|| sdk_phase(threads));
            sdk_cpu.push(cpu);
            sdk_p50.push(p50);
            sdk_rps.push(rps);
            let make = move |tag: &'static str| {
                move |n: u64| {
                    get(
                        Product::Connect,
                        format!("bench-{run}-peer-{threads}-{round}-{tag}-{n}"),
                    )
                }
            };
            load(
                &service_channels,
                threads,
                Duration::from_secs(warmup),
                make("warm"),
            )
            .await;
            let before = cpu_ticks(service.pid());
            let mut measured = load(
                &service_channels,
                threads,
                Duration::from_secs(phase),
                make("measure"),
            )
            .await;
            let cpu = cpu_ticks(service.pid()) - before;
            svc_cpu.push(cpu as f64 * 1e6 / ticks as f64 / measured.ok as f64);
            svc_p50.push(percentile(&mut measured.latencies, 0.5));
            svc_rps.push(measured.rps());
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let at = format!("c{threads}");
        figures.set(
            &format!("sdk_cpu_us_per_call_{at}"),
            round(mean(&sdk_cpu), 1),
        );
        figures.set(
            &format!("service_cpu_us_per_verdict_{at}"),
            round(mean(&svc_cpu), 1),
        );
        figures.set(
            &format!("cpu_ratio_{at}"),
            round(mean(&svc_cpu) / mean(&sdk_cpu), 3),
        );
        figures.set(&format!("sdk_p50_us_{at}"), round(mean(&sdk_p50), 0));
        figures.set(&format!("service_p50_us_{at}"), round(mean(&svc_p50), 0));
        figures.set(&format!("sdk_rps_{at}"), round(mean(&sdk_rps), 0));
        figures.set(&format!("service_rps_{at}"), round(mean(&svc_rps), 0));
    }
    figures.set("rounds", rounds as u64);
    figures.set("phase_s", phase);
    drop(service_channels);
    drop(service);
    drop(simulator);
    let failed = FAILED_CALLS.load(Ordering::Relaxed);
    figures.set("failed_calls", failed);
    let ratio = figures.f("cpu_ratio_c16");
    println!();
    println!(
        "| callers | SDK-shaped CPU/call | service CPU/verdict (audit on) | ratio | SDK p50 | service p50 |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for at in ["c16", "c1"] {
        println!(
            "| {} | {} us | {} us | {} | {} us | {} us |",
            &at[1..],
            figures.f(&format!("sdk_cpu_us_per_call_{at}")),
            figures.f(&format!("service_cpu_us_per_verdict_{at}")),
            figures.f(&format!("cpu_ratio_{at}")),
            figures.f(&format!("sdk_p50_us_{at}")),
            figures.f(&format!("service_p50_us_{at}")),
        );
    }
    println!();
    println!(
        "| target | value | wanted | |\n| --- | ---: | --- | --- |\n| service CPU per verdict / SDK CPU per call, 16 callers | {ratio:.3} | <= 0.50 | {} |",
        if ratio <= 0.5 { "met" } else { "MISSED" }
    );
    println!();
    println!("{}", Value::Object(figures.0));
    if failed > 0 {
        eprintln!("bench service --peer: {failed} calls failed; the figures are not valid");
        std::process::exit(1);
    }
}

/// `--callgrind DIR`: the service under callgrind (instruction counts: exact and immune to the
/// machine's noise, unlike time), collecting only while it answers a fixed number of uncached
/// calls, then of cached calls; writes `DIR/uncached.out` and `DIR/cached.out` and prints the
/// instructions per call. (valgrind hides AVX-512 from aws-lc, so the RSA share is larger than
/// on the metal: read the non-crypto functions.)
async fn callgrind_profile(out: &Path) {
    const CALLS: u64 = 400;
    std::fs::create_dir_all(out).unwrap();
    let out = std::fs::canonicalize(out).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let (_simulator, sim_url) = spawn_simulator(dir.path(), &keys);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("service.toml");
    let audit = dir.path().join("audit.jsonl");
    std::fs::write(
        &config,
        service_toml(port, free_port(), &sim_url, &keys, Some(&audit)),
    )
    .unwrap();
    let child = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--instr-atstart=no",
            "--dump-instr=no",
            "--trace-children=no",
        ])
        .arg(format!(
            "--callgrind-out-file={}",
            dir.path().join("callgrind.%p").display()
        ))
        .arg(service_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(File::create(dir.path().join("service.stdout")).unwrap())
        .stderr(File::create(dir.path().join("service.stderr")).unwrap())
        .spawn()
        .unwrap();
    let mut service = Proc {
        name: "service (callgrind)",
        child,
    };
    let pid = service.pid().to_string();
    wait_serving(&url, &mut service).await;
    let channels = channels(&url).await;
    let run = run_id();
    let control = |args: &[&str]| {
        let status = Command::new("callgrind_control")
            .args(args)
            .arg(&pid)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "callgrind_control {args:?}");
    };
    let fixed =
        |count: u64, make: Arc<dyn Fn(u64) -> pb::GetVerificationResultRequest + Send + Sync>| {
            let channels = channels.clone();
            async move {
                let next = Arc::new(AtomicU64::new(0));
                let mut tasks = Vec::new();
                for worker in 0..8 {
                    let mut client = client(&channels[worker % channels.len()]);
                    let (next, make) = (Arc::clone(&next), Arc::clone(&make));
                    tasks.push(tokio::spawn(async move {
                        loop {
                            let n = next.fetch_add(1, Ordering::Relaxed);
                            if n >= count {
                                break;
                            }
                            client.get_verification_result(make(n)).await.unwrap();
                        }
                    }));
                }
                for task in tasks {
                    task.await.unwrap();
                }
            }
        };
    let cached = move |n: u64| {
        get(
            Product::Connect,
            format!("bench-{run}-cg-cached-{}", n % 16),
        )
    };
    // Warm up both paths (connections, pools, lazily built state), then measure.
    fixed(
        50,
        Arc::new(move |n| get(Product::Connect, format!("bench-{run}-cg-warm-{n}"))),
    )
    .await;
    fixed(50, Arc::new(cached)).await;
    control(&["-i", "on"]);
    fixed(
        CALLS,
        Arc::new(move |n| get(Product::Connect, format!("bench-{run}-cg-{n}"))),
    )
    .await;
    control(&["-d", "uncached"]);
    control(&["-z"]);
    fixed(CALLS, Arc::new(cached)).await;
    control(&["-d", "cached"]);
    control(&["-i", "off"]);
    drop(service);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("callgrind.") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(out.join(&name), &text).unwrap();
        let kind = if text.contains("Trigger: dump uncached") {
            "uncached"
        } else if text.contains("Trigger: dump cached") {
            "cached"
        } else {
            continue;
        };
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary: ")
                    .or_else(|| l.strip_prefix("totals: "))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        std::fs::write(out.join(format!("{kind}.out")), &text).unwrap();
        println!(
            "{kind}: {} instructions per call ({})",
            total / CALLS,
            out.join(format!("{kind}.out")).display()
        );
    }
}

#[derive(Debug, Clone)]
struct Settings {
    quick: bool,
    /// `--perf DIR`: record a `perf` profile of the service during each phase into DIR.
    perf: Option<PathBuf>,
    /// Length of one throughput measurement.
    phase: Duration,
    /// Warm-up before a phase.
    warmup: Duration,
    /// Calls of each kind in the latency comparison.
    latency_calls: usize,
    /// Length of the image phase.
    image_phase: Duration,
    /// CPU time spent signing for each crypto floor measurement.
    crypto: Duration,
    /// Slices of the uncached phase (the crypto floor is measured between them).
    slices: u32,
}

impl Settings {
    fn new(quick: bool, perf: Option<PathBuf>) -> Self {
        if quick {
            Self {
                quick,
                perf,
                phase: Duration::from_secs(4),
                warmup: Duration::from_secs(1),
                latency_calls: 300,
                image_phase: Duration::from_secs(4),
                crypto: Duration::from_millis(400),
                slices: 4,
            }
        } else {
            Self {
                quick,
                perf,
                phase: Duration::from_secs(12),
                warmup: Duration::from_secs(2),
                latency_calls: 1500,
                image_phase: Duration::from_secs(10),
                crypto: Duration::from_millis(600),
                slices: 8,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and /proc.

/// A child process, killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A `VmXXX` line of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resets a process's peak RSS (`VmHWM`) to its current RSS (Linux 4.0+).
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Busy time of all CPUs (`/proc/stat`), in clock ticks.
fn machine_busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu = stat.lines().next().unwrap();
    // user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    cpu.split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
        .sum()
}

/// The most the guest polls before halting an idle vCPU (`cpuidle-haltpoll`), when it can. At
/// concurrency 1 every process on the path sleeps between hops; on a VM that halts an idle vCPU
/// at once, each wake-up of another vCPU is an interrupt through the hypervisor, and the path
/// through the service has two more of them than the direct call.
fn guest_halt_poll_us() -> Option<f64> {
    let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver").ok()?;
    if driver.trim() != "haltpoll" {
        return None;
    }
    let ns = std::fs::read_to_string("/sys/module/haltpoll/parameters/guest_halt_poll_ns").ok()?;
    ns.trim().parse::<u64>().ok().map(|ns| ns as f64 / 1000.0)
}

/// CPU used by processes other than this benchmark's during a phase: the machine is shared,
/// and this says how much it was.
#[derive(Debug, Default)]
struct OtherLoad {
    other_ticks: u64,
    elapsed: Duration,
}

struct Snapshot {
    pids: Vec<u32>,
    ours: u64,
    busy: u64,
    at: Instant,
}

impl OtherLoad {
    fn start(&self, pids: &[u32]) -> Snapshot {
        Snapshot {
            pids: pids.to_vec(),
            ours: pids.iter().map(|p| cpu_ticks(*p)).sum(),
            busy: machine_busy_ticks(),
            at: Instant::now(),
        }
    }

    fn end(&mut self, start: Snapshot) {
        let ours: u64 = start.pids.iter().map(|p| cpu_ticks(*p)).sum();
        let busy = machine_busy_ticks() - start.busy;
        self.other_ticks += busy.saturating_sub(ours - start.ours);
        self.elapsed += start.at.elapsed();
    }

    /// Other processes' CPU as a percentage of the machine.
    fn percent(&self, cpus: usize) -> f64 {
        100.0 * self.other_ticks as f64
            / (clock_ticks() as f64 * self.elapsed.as_secs_f64() * cpus as f64)
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The service under test: this package's binary, or `ZOLOZ_VERDICT_BENCH_SERVICE` (another
/// build of it, to compare two versions on the same machine in the same minutes).
fn service_binary() -> PathBuf {
    std::env::var_os(SERVICE_ENV).map_or_else(binary, PathBuf::from)
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zoloz-verdict"))
}

/// Runs `make()`'s future on a thread of its own, with a single-threaded runtime: at
/// concurrency 1 the caller's own tasks (the channel's buffer, the connection) then never wait
/// for another thread to wake up.
async fn on_one_thread<F, Fut, T>(make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(make())
    })
    .await
    .unwrap()
}

/// The simulator as a separate process with fresh keys written to `keys`; returns it with its
/// URL.
fn spawn_simulator(dir: &Path, keys: &Path) -> (Proc, String) {
    let mut command = Command::new(binary());
    command
        .args(["simulator", "--listen", "127.0.0.1:0", "--write-keys"])
        .arg(keys);
    spawn_listening("simulator", command, &dir.join("simulator.log"))
}

/// Starts a process that prints `listening on <url>` on stdout, and returns it with the URL.
fn spawn_listening(name: &'static str, mut command: Command, log: &Path) -> (Proc, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_string();
                }
            }
            _ => {
                let _ = child.kill();
                panic!("{name} exited before listening; see {}", log.display());
            }
        }
    };
    // Keep draining stdout so that the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (Proc { name, child }, url)
}

/// With `--perf DIR`: `perf record` of `pid` for `duration` into `DIR/<name>.data`.
fn perf(settings: &Settings, pid: u32, name: &str, duration: Duration) -> Option<Child> {
    let dir = settings.perf.as_ref()?;
    std::fs::create_dir_all(dir).unwrap();
    Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            "999",
            "--call-graph",
            "dwarf,32768",
            "-p",
        ])
        .arg(pid.to_string())
        .arg("-o")
        .arg(dir.join(format!("{name}.data")))
        .args(["--", "sleep"])
        .arg(format!("{}", duration.as_secs_f64()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service's configuration: production defaults (JSON logs at info, metrics on, the
/// default cache and limits) except the listen addresses and the audit sink.
fn service_toml(
    port: u16,
    metrics_port: u16,
    base_url: &str,
    keys: &Path,
    audit: Option<&Path>,
) -> String {
    let audit = match audit {
        None => "enabled = false".to_string(),
        Some(path) => format!("enabled = true\nfile = {:?}", path.display().to_string()),
    };
    format!(
        r#"allow_unauthenticated = true
[server]
listen = "127.0.0.1:{port}"
metrics_listen = "127.0.0.1:{metrics_port}"
[audit]
{audit}
[tenants.default]
client_id = "{DEFAULT_CLIENT_ID}"
base_url = "{base_url}"
merchant_private_key_file = {merchant:?}
zoloz_public_key_file = {zoloz:?}
"#,
        merchant = keys.join("merchant_private.pem").display().to_string(),
        zoloz = keys.join("zoloz_public.pem").display().to_string(),
    )
}

fn spawn_service(dir: &Path, name: &'static str, toml: &str) -> Proc {
    spawn_service_binary(&service_binary(), dir, name, toml)
}

fn spawn_service_binary(binary: &Path, dir: &Path, name: &'static str, toml: &str) -> Proc {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, toml).unwrap();
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(File::create(dir.join(format!("{name}.stdout"))).unwrap())
        .stderr(File::create(dir.join(format!("{name}.stderr"))).unwrap())
        .spawn()
        .unwrap();
    Proc { name, child }
}

/// Waits until the gRPC health check answers SERVING; fails at once if the process exited.
async fn wait_serving(url: &str, proc: &mut Proc) {
    serving::wait_serving(url, || {
        proc.child
            .try_wait()
            .ok()
            .flatten()
            .map(|status| format!("{} exited with {status}", proc.name))
    })
    .await;
}

async fn channels(url: &str) -> Vec<Channel> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        out.push(
            Endpoint::from_shared(url.to_string())
                .unwrap()
                .tcp_nodelay(true)
                .connect()
                .await
                .unwrap(),
        );
    }
    out
}

/// The service's own ZOLOZ client, pointed straight at the simulator.
fn direct_client(sim_url: &str, keys: &Path) -> ZolozClient {
    ZolozClient::new(ClientConfig::new(
        sim_url.parse().unwrap(),
        DEFAULT_CLIENT_ID.parse().unwrap(),
        Auth::Rsa {
            merchant_key: Arc::new(
                PrivateKey::from_file(&keys.join("merchant_private.pem")).unwrap(),
            ),
            zoloz_keys: Arc::new(ZolozKeys::single(
                PublicKey::from_file(&keys.join("zoloz_public.pem")).unwrap(),
            )),
        },
    ))
    .unwrap()
}

fn client(channel: &Channel) -> VerdictServiceClient<Channel> {
    VerdictServiceClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024)
}

// ---------------------------------------------------------------------------------------------
// Load.

fn get(product: Product, transaction_id: String) -> pb::GetVerificationResultRequest {
    pb::GetVerificationResultRequest {
        product: zoloz_verdict::grpc::convert::product_to_pb(product) as i32,
        transaction_id,
        ..Default::default()
    }
}

#[derive(Debug, Default)]
struct Load {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latencies of successful calls, in microseconds.
    latencies: Vec<u32>,
    /// The largest encoded response.
    max_response_bytes: usize,
}

impl Load {
    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Calls that failed in every `load` of this run: a failed call costs CPU without making a
/// verdict, so a run with any is reported and then fails (exit 1).
static FAILED_CALLS: AtomicU64 = AtomicU64::new(0);

/// `concurrency` callers over `channels` for `duration`; call `n` sends `make(n)`.
async fn load(
    channels: &[Channel],
    concurrency: usize,
    duration: Duration,
    make: impl Fn(u64) -> pb::GetVerificationResultRequest + Send + Sync + 'static,
) -> Load {
    let make = Arc::new(make);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let mut client = client(&channels[worker % channels.len()]);
        let make = Arc::clone(&make);
        let counter = Arc::clone(&counter);
        tasks.push(tokio::spawn(async move {
            let mut out = Load::default();
            while Instant::now() < end {
                let request = make(counter.fetch_add(1, Ordering::Relaxed));
                let sent = Instant::now();
                match client.get_verification_result(request).await {
                    Ok(response) => {
                        out.ok += 1;
                        out.latencies
                            .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        out.max_response_bytes =
                            out.max_response_bytes.max(response.get_ref().encoded_len());
                    }
                    Err(status) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| {
                            format!("{:?}: {}", status.code(), status.message())
                        });
                    }
                }
            }
            out
        }));
    }
    let mut total = Load::default();
    for task in tasks {
        let part = task.await.unwrap();
        total.ok += part.ok;
        total.errors += part.errors;
        if total.first_error.is_none() {
            total.first_error = part.first_error;
        }
        total.latencies.extend(part.latencies);
        total.max_response_bytes = total.max_response_bytes.max(part.max_response_bytes);
    }
    total.elapsed = started.elapsed();
    FAILED_CALLS.fetch_add(total.errors, Ordering::Relaxed);
    if total.errors > 0 {
        eprintln!(
            "warning: {} of {} calls failed (first: {})",
            total.errors,
            total.ok + total.errors,
            total.first_error.as_deref().unwrap_or("?")
        );
    }
    total
}

fn percentile(values: &mut [u32], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_unstable();
    let rank = ((values.len() - 1) as f64 * p).round() as usize;
    values[rank] as f64
}

/// A run id so that transaction ids never repeat across runs (the simulator counts polls per
/// id, the service caches per id).
fn run_id() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 1_000_000
}

// ---------------------------------------------------------------------------------------------
// The run.

struct Figures(serde_json::Map<String, Value>);

impl Figures {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }
    fn f(&self, key: &str) -> f64 {
        self.0.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

async fn run(settings: Settings) {
    let settings = &settings;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let ticks = clock_ticks();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let run = run_id();
    eprintln!(
        "benchmark ({}): service {}, work dir {}",
        if settings.quick { "quick" } else { "full" },
        service_binary().display(),
        dir.path().display()
    );

    // The simulator: a separate process with fresh keys.
    let (simulator, sim_url) = spawn_simulator(dir.path(), &keys);

    // The service: a separate process, as deployed (audit records on, to a file).
    let port = free_port();
    let service_url = format!("http://127.0.0.1:{port}");
    let audit_file = dir.path().join("audit.jsonl");
    let mut service = spawn_service(
        dir.path(),
        "service",
        &service_toml(port, free_port(), &sim_url, &keys, Some(&audit_file)),
    );
    wait_serving(&service_url, &mut service).await;
    let service_channels = channels(&service_url).await;
    let pid = service.pid();

    let mut figures = Figures(serde_json::Map::new());

    // The canned answer of the noop server: what the service answers a cached Get.
    let cached_id = |n: u64| format!("bench-{run}-cached-{}", n % CACHED_IDS);
    let mut probe = client(&service_channels[0]);
    for n in 0..CACHED_IDS {
        probe
            .get_verification_result(get(Product::Connect, cached_id(n)))
            .await
            .unwrap();
    }
    let canned = probe
        .get_verification_result(get(Product::Connect, cached_id(0)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        canned.from_cache,
        "the cached phase must be served from the cache"
    );
    let canned_path = dir.path().join("canned.pb");
    std::fs::write(&canned_path, canned.encode_to_vec()).unwrap();
    let mut noop_command = Command::new(std::env::current_exe().unwrap());
    noop_command.env(NOOP_ENV, &canned_path);
    let (noop_proc, noop_url) = spawn_listening("noop", noop_command, &dir.path().join("noop.log"));
    let noop_channels = channels(&noop_url).await;

    // 1. noop vs cached, alternating.
    let noop_request = move |n: u64| {
        get(
            Product::Connect,
            format!("bench-{run}-cached-{}", n % CACHED_IDS),
        )
    };
    let cached_request = noop_request;
    load(&noop_channels, CONCURRENCY, settings.warmup, noop_request).await;
    load(
        &service_channels,
        CONCURRENCY,
        settings.warmup,
        cached_request,
    )
    .await;
    let (mut noop, mut cached) = (Vec::new(), Vec::new());
    let mut cached_cpu = (0u64, 0u64);
    let mut noop_cpu = (0u64, 0u64);
    for _ in 0..2 {
        let before = cpu_ticks(noop_proc.pid());
        let result = load(&noop_channels, CONCURRENCY, settings.phase, noop_request).await;
        noop_cpu.0 += cpu_ticks(noop_proc.pid()) - before;
        noop_cpu.1 += result.ok;
        noop.push(result.rps());
        let before = cpu_ticks(pid);
        let profile = perf(settings, pid, "cached", settings.phase);
        let result = load(
            &service_channels,
            CONCURRENCY,
            settings.phase,
            cached_request,
        )
        .await;
        if let Some(mut p) = profile {
            let _ = p.wait();
        }
        cached_cpu.0 += cpu_ticks(pid) - before;
        cached_cpu.1 += result.ok;
        cached.push(result.rps());
    }
    let noop_rps = noop.iter().sum::<f64>() / noop.len() as f64;
    let cached_rps = cached.iter().sum::<f64>() / cached.len() as f64;
    figures.set("noop_rps", round(noop_rps, 0));
    figures.set("audit_cached_rps", round(cached_rps, 0));
    figures.set(
        "noop_cpu_us_per_call",
        round(
            noop_cpu.0 as f64 * 1e6 / ticks as f64 / noop_cpu.1 as f64,
            1,
        ),
    );
    figures.set(
        "service_cpu_us_per_cached",
        round(
            cached_cpu.0 as f64 * 1e6 / ticks as f64 / cached_cpu.1 as f64,
            1,
        ),
    );

    // 2. uncached: every call a new transaction id. The phase is cut in slices, and the crypto
    // floor is measured before, between and after them (with nothing else running): the
    // machine is shared and its speed drifts, so both figures must come from the same minutes.
    let ops = Arc::new(CryptoOps::load(&keys));
    let crypto = {
        let budget = settings.crypto;
        let ops = Arc::clone(&ops);
        move || {
            let ops = Arc::clone(&ops);
            tokio::task::spawn_blocking(move || crypto_floor(&ops, budget))
        }
    };
    load(&service_channels, CONCURRENCY, settings.warmup, move |n| {
        get(Product::Connect, format!("bench-{run}-warm-{n}"))
    })
    .await;
    let mut floors = vec![crypto().await.unwrap()];
    let mut uncached = Load::default();
    let mut uncached_ticks = 0;
    let profile = perf(settings, pid, "uncached", settings.phase);
    let mut others = OtherLoad::default();
    let mut loaded = Vec::new();
    for slice in 0..settings.slices {
        let machine = others.start(&[pid, simulator.pid(), std::process::id()]);
        let sampler = FloorSampler::start(Arc::clone(&ops));
        let before = cpu_ticks(pid);
        let part = load(
            &service_channels,
            CONCURRENCY,
            settings.phase / settings.slices,
            move |n| {
                get(
                    Product::Connect,
                    format!("bench-{run}-uncached-{slice}-{n}"),
                )
            },
        )
        .await;
        uncached_ticks += cpu_ticks(pid) - before;
        loaded.extend(sampler.stop());
        others.end(machine);
        uncached.ok += part.ok;
        uncached.errors += part.errors;
        uncached.elapsed += part.elapsed;
        uncached.latencies.extend(part.latencies);
        floors.push(crypto().await.unwrap());
    }
    if let Some(mut p) = profile {
        let _ = p.wait();
    }
    figures.set("other_cpu_pct_uncached", round(others.percent(cpus), 1));
    let cpu_per_uncached = uncached_ticks as f64 * 1e6 / ticks as f64 / uncached.ok as f64;
    figures.set("audit_uncached_rps", round(uncached.rps(), 0));
    figures.set(
        "audit_service_cpu_us_per_uncached",
        round(cpu_per_uncached, 1),
    );
    figures.set(
        "uncached_p99_ms",
        round(percentile(&mut uncached.latencies, 0.99) / 1000.0, 2),
    );
    let sign_us = floors.iter().map(|f| f.0).sum::<f64>() / floors.len() as f64;
    let verify_us = floors.iter().map(|f| f.1).sum::<f64>() / floors.len() as f64;
    let totals: Vec<f64> = floors.iter().map(|f| f.0 + f.1).collect();
    figures.set(
        "crypto_floor_min_us",
        round(totals.iter().copied().fold(f64::MAX, f64::min), 1),
    );
    figures.set(
        "crypto_floor_max_us",
        round(totals.iter().copied().fold(0.0, f64::max), 1),
    );
    figures.set("crypto_floor_idle_us", round(sign_us + verify_us, 1));
    let mean = |values: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = values.fold((0.0, 0u32), |(s, n), v| (s + v, n + 1));
        sum / f64::from(n.max(1))
    };
    let loaded_sign = mean(&mut loaded.iter().map(|s| s.0));
    let loaded_verify = mean(&mut loaded.iter().map(|s| s.1));
    figures.set("crypto_floor_loaded_samples", loaded.len());
    figures.set("crypto_sign_loaded_us", round(loaded_sign, 1));
    figures.set("crypto_verify_loaded_us", round(loaded_verify, 1));
    figures.set(
        "crypto_floor_loaded_us",
        round(loaded_sign + loaded_verify, 1),
    );
    figures.set("crypto_sign_us", round(sign_us, 1));
    figures.set("crypto_verify_us", round(verify_us, 1));
    figures.set("crypto_floor_us", round(sign_us + verify_us, 1));

    // 4. Latency, concurrency 1: straight to the simulator vs through the service.
    let direct = direct_client(&sim_url, &keys);
    let latency = {
        let (service_url, noop_url, sim_url, keys) = (
            service_url.clone(),
            noop_url.clone(),
            sim_url.clone(),
            keys.clone(),
        );
        let calls = settings.latency_calls;
        on_one_thread(move || async move {
            let direct = direct_client(&sim_url, &keys);
            let service = channels(&service_url).await;
            let noop = channels(&noop_url).await;
            latencies(&direct, &service[0], &noop[0], run, calls).await
        })
        .await
    };
    figures.set("direct_p50_us", round(latency.direct, 0));
    figures.set("service_p50_us", round(latency.service, 0));
    figures.set("noop_p50_us", round(latency.noop, 0));
    figures.set("cached_p50_us", round(latency.cached, 0));

    // 5. Peak RSS with image-carrying answers.
    let image_body = direct
        .checkresult(
            Product::IdRecognition,
            &image_request("sim-id-recognition-large-images".into(), "PROBE"),
            None,
        )
        .await
        .unwrap()
        .body
        .len();
    let rss_before = status_kib(pid, "VmRSS");
    let reset = reset_peak_rss(pid);
    let images = load(
        &service_channels,
        IMAGE_CONCURRENCY,
        settings.image_phase,
        move |n| {
            let mut request = get(
                Product::IdRecognition,
                "sim-id-recognition-large-images".to_string(),
            );
            // Distinct extra images make distinct upstream calls (no single-flight sharing).
            request.image_options = Some(pb::ImageOptions {
                return_images: true,
                extra_images: vec![format!("BENCH_{n}")],
            });
            request
        },
    )
    .await;
    let peak = status_kib(pid, "VmHWM");
    figures.set("image_concurrency", IMAGE_CONCURRENCY as u64);
    figures.set(
        "image_response_mib",
        round(image_body as f64 / 1048576.0, 2),
    );
    figures.set(
        "image_grpc_response_mib",
        round(images.max_response_bytes as f64 / 1048576.0, 2),
    );
    figures.set("image_calls", images.ok);
    figures.set("image_rss_before_mib", round(mib(rss_before), 1));
    figures.set("image_peak_rss_mib", round(mib(peak), 1));
    figures.set("image_peak_rss_reset", reset);
    figures.set(
        "service_rss_end_mib",
        round(mib(status_kib(pid, "VmRSS")), 1),
    );
    drop(service_channels);
    drop(service);

    let audit_lines = std::fs::read(&audit_file)
        .map(|text| text.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0);
    figures.set("audit_records", audit_lines as u64);

    // 6. The same service with audit records off: what they cost.
    let port = free_port();
    let audit_url = format!("http://127.0.0.1:{port}");
    let mut audited = spawn_service(
        dir.path(),
        "service-noaudit",
        &service_toml(port, free_port(), &sim_url, &keys, None),
    );
    wait_serving(&audit_url, &mut audited).await;
    let audit_channels = channels(&audit_url).await;
    let audit_pid = audited.pid();
    let mut probe = client(&audit_channels[0]);
    for n in 0..CACHED_IDS {
        probe
            .get_verification_result(get(Product::Connect, cached_id(n)))
            .await
            .unwrap();
    }
    load(
        &audit_channels,
        CONCURRENCY,
        settings.warmup,
        cached_request,
    )
    .await;
    let cached_audit = load(&audit_channels, CONCURRENCY, settings.phase, cached_request).await;
    load(&audit_channels, CONCURRENCY, settings.warmup, move |n| {
        get(Product::Connect, format!("bench-{run}-awarm-{n}"))
    })
    .await;
    let before = cpu_ticks(audit_pid);
    let uncached_audit = load(&audit_channels, CONCURRENCY, settings.phase, move |n| {
        get(Product::Connect, format!("bench-{run}-audit-{n}"))
    })
    .await;
    let audit_ticks = cpu_ticks(audit_pid) - before;
    figures.set("cached_rps", round(cached_audit.rps(), 0));
    figures.set("uncached_rps", round(uncached_audit.rps(), 0));
    figures.set(
        "service_cpu_us_per_uncached",
        round(
            audit_ticks as f64 * 1e6 / ticks as f64 / uncached_audit.ok as f64,
            1,
        ),
    );
    drop(audit_channels);
    drop(audited);

    figures.set("cpus", cpus as u64);
    if let Some(poll) = guest_halt_poll_us() {
        figures.set("idle_halt_poll_us", poll);
    }
    figures.set("quick", settings.quick);
    figures.set("concurrency", CONCURRENCY as u64);
    figures.set("connections", CONNECTIONS as u64);
    figures.set("phase_s", settings.phase.as_secs());
    let failed = FAILED_CALLS.load(Ordering::Relaxed);
    figures.set("failed_calls", failed);
    report(figures);
    if failed > 0 {
        eprintln!(
            "bench service: {failed} calls failed (warnings above); the figures are not valid"
        );
        std::process::exit(1);
    }
}

fn image_request(transaction_id: String, extra: &str) -> CheckResultRequest {
    CheckResultRequest {
        transaction_id: transaction_id.parse().unwrap(),
        biz_id: Some(BizId::from_random(rand::random())),
        return_images: true,
        extra_images: vec![extra.to_string()],
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The operations of the crypto floor, with the service's signing code: the signature of a
/// checkresult request with the merchant key, and the verification of a signed response.
struct CryptoOps {
    merchant: PrivateKey,
    zoloz_public: PublicKey,
    header: signing::SignatureHeader,
}

impl CryptoOps {
    const TIME: &str = "2026-01-01T08:00:00+0800";
    const REQUEST: &[u8] = br#"{"bizId":"b0000000000000000000000000000000","transactionId":"bench-000000-uncached-0000000","isReturnImage":"N"}"#;
    const RESPONSE: [u8; 700] = [b'x'; 700];

    fn load(keys: &Path) -> Self {
        let zoloz = PrivateKey::from_file(&keys.join("zoloz_private.pem")).unwrap();
        let header = signing::parse_signature_header(&signing::sign(
            &zoloz,
            Api::Connect.path(),
            DEFAULT_CLIENT_ID,
            Self::TIME,
            &Self::RESPONSE,
        ))
        .unwrap();
        Self {
            merchant: PrivateKey::from_file(&keys.join("merchant_private.pem")).unwrap(),
            zoloz_public: PublicKey::from_file(&keys.join("zoloz_public.pem")).unwrap(),
            header,
        }
    }

    fn sign(&self) {
        std::hint::black_box(signing::sign(
            &self.merchant,
            Api::Connect.path(),
            DEFAULT_CLIENT_ID,
            Self::TIME,
            std::hint::black_box(Self::REQUEST),
        ));
    }

    fn verify(&self) {
        signing::verify(
            &self.zoloz_public,
            Api::Connect.path(),
            DEFAULT_CLIENT_ID,
            Self::TIME,
            std::hint::black_box(&Self::RESPONSE),
            &self.header,
        )
        .unwrap();
    }
}

/// Per-operation CPU time (not wall time: other processes share the machine) of one RSA-2048
/// sign and one verify, over `budget` of CPU for signing and a quarter of it for verifying.
fn crypto_floor(ops: &CryptoOps, budget: Duration) -> (f64, f64) {
    let per_op = |budget: Duration, op: &dyn Fn()| {
        let started = thread_cpu();
        let mut n = 0u32;
        while thread_cpu() - started < budget {
            for _ in 0..8 {
                op();
            }
            n += 8;
        }
        (thread_cpu() - started).as_secs_f64() * 1e6 / f64::from(n)
    };
    (
        per_op(budget, &|| ops.sign()),
        per_op(budget / 4, &|| ops.verify()),
    )
}

/// The crypto floor under the uncached phase's load: a thread of this process makes one sign
/// and one verify every `FloorSampler::EVERY` while the slice runs, each timed in thread CPU
/// time. The service's CPU and these samples then come from the same seconds of the same
/// saturated machine (its speed drifts by a fifth from one second to the next; BENCHMARKS.md).
/// At one sample per 10 ms it takes about 3 % of one CPU.
struct FloorSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(f64, f64)>>,
}

impl FloorSampler {
    const EVERY: Duration = Duration::from_millis(10);

    fn start(ops: Arc<CryptoOps>) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Self::EVERY);
                let started = thread_cpu();
                ops.sign();
                let signed = thread_cpu();
                ops.verify();
                let verified = thread_cpu();
                samples.push((
                    (signed - started).as_secs_f64() * 1e6,
                    (verified - signed).as_secs_f64() * 1e6,
                ));
            }
            samples
        });
        Self { stop, thread }
    }

    fn stop(self) -> Vec<(f64, f64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// p50s at concurrency 1, in alternating blocks: a signed call straight to the simulator, the
/// same call through the service, and (to break the difference down) a no-op gRPC call and a
/// cached Get.
struct Latencies {
    direct: f64,
    service: f64,
    noop: f64,
    cached: f64,
}

async fn latencies(
    direct: &ZolozClient,
    channel: &Channel,
    noop_channel: &Channel,
    run: u64,
    calls: usize,
) -> Latencies {
    let mut noop = client(noop_channel);
    let mut client = client(channel);
    let (mut direct_us, mut service_us, mut noop_us, mut cached_us) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let block = 25;
    let mut n = 0u64;
    let cached = || get(Product::Connect, format!("bench-{run}-cached-0"));
    // Warm every path (connections, pools).
    for _ in 0..20 {
        n += 1;
        let id = format!("bench-{run}-lat-{n}");
        direct
            .checkresult(Product::Connect, &connect_request(&id), None)
            .await
            .unwrap();
        client
            .get_verification_result(get(Product::Connect, format!("{id}-s")))
            .await
            .unwrap();
        noop.get_verification_result(cached()).await.unwrap();
        client.get_verification_result(cached()).await.unwrap();
    }
    let micros = |started: Instant| started.elapsed().as_micros() as u32;
    while direct_us.len() < calls {
        for _ in 0..block {
            n += 1;
            let id = format!("bench-{run}-lat-{n}");
            let started = Instant::now();
            direct
                .checkresult(Product::Connect, &connect_request(&id), None)
                .await
                .unwrap();
            direct_us.push(micros(started));
        }
        for _ in 0..block {
            n += 1;
            let request = get(Product::Connect, format!("bench-{run}-lat-{n}"));
            let started = Instant::now();
            client.get_verification_result(request).await.unwrap();
            service_us.push(micros(started));
        }
        for _ in 0..block / 5 {
            let started = Instant::now();
            noop.get_verification_result(cached()).await.unwrap();
            noop_us.push(micros(started));
            let started = Instant::now();
            client.get_verification_result(cached()).await.unwrap();
            cached_us.push(micros(started));
        }
    }
    Latencies {
        direct: percentile(&mut direct_us, 0.5),
        service: percentile(&mut service_us, 0.5),
        noop: percentile(&mut noop_us, 0.5),
        cached: percentile(&mut cached_us, 0.5),
    }
}

fn connect_request(id: &str) -> CheckResultRequest {
    CheckResultRequest {
        transaction_id: id.parse().unwrap(),
        biz_id: Some(BizId::from_random(rand::random())),
        return_images: false,
        extra_images: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn report(mut figures: Figures) {
    let cached_ratio = figures.f("audit_cached_rps") / figures.f("noop_rps");
    let cpu_ratio = figures.f("audit_service_cpu_us_per_uncached") / figures.f("crypto_floor_us");
    let latency_ratio = figures.f("service_p50_us") / figures.f("direct_p50_us");
    let rss_budget = 64.0 + 3.0 * figures.f("image_concurrency") * figures.f("image_response_mib");
    let rss = figures.f("image_peak_rss_mib");
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let targets = [
        (
            "audit_cached_rps / noop_rps",
            cached_ratio,
            ">= 0.75",
            cached_ratio >= 0.75,
        ),
        (
            "audit_service_cpu_us_per_uncached / crypto_floor_us",
            cpu_ratio,
            "<= 1.40",
            cpu_ratio <= 1.4,
        ),
        (
            "service_p50_us / direct_p50_us",
            latency_ratio,
            "<= 1.25",
            latency_ratio <= 1.25,
        ),
        (
            "image_peak_rss_mib / (64 + 3 x conc x resp_mib)",
            rss / rss_budget,
            "<= 1.00",
            rss <= rss_budget,
        ),
    ];
    figures.set("cached_ratio", round(cached_ratio, 3));
    figures.set("cpu_ratio", round(cpu_ratio, 3));
    figures.set(
        "cpu_ratio_loaded_floor",
        round(
            figures.f("audit_service_cpu_us_per_uncached") / figures.f("crypto_floor_loaded_us"),
            3,
        ),
    );
    // The same ratios with audit records off (the second service; not a target).
    figures.set(
        "noaudit_cached_ratio",
        round(figures.f("cached_rps") / figures.f("noop_rps"), 3),
    );
    figures.set(
        "noaudit_cpu_ratio",
        round(
            figures.f("service_cpu_us_per_uncached") / figures.f("crypto_floor_us"),
            3,
        ),
    );
    figures.set("latency_ratio", round(latency_ratio, 3));
    figures.set("image_rss_budget_mib", round(rss_budget, 1));
    figures.set("targets_met", targets.iter().all(|t| t.3));

    let rows: [(&str, &str, &str); 34] = [
        (
            "noop_rps",
            "calls/s",
            "tonic no-op unary call, same client (the ceiling)",
        ),
        ("noop_cpu_us_per_call", "us", "noop server CPU per call"),
        (
            "audit_cached_rps",
            "calls/s",
            "GetVerificationResult served from the cache (as deployed: audit records on, to a file)",
        ),
        (
            "service_cpu_us_per_cached",
            "us",
            "service CPU per cached verdict",
        ),
        (
            "audit_uncached_rps",
            "calls/s",
            "every call goes to the simulator (audit on)",
        ),
        ("uncached_p99_ms", "ms", "p99 latency of the uncached phase"),
        (
            "crypto_sign_us",
            "us",
            "one RSA-2048 PKCS#1 v1.5 SHA-256 sign",
        ),
        ("crypto_verify_us", "us", "one RSA-2048 verify"),
        (
            "crypto_floor_us",
            "us",
            "sign + verify, CPU time (mean of the measurements around the uncached slices)",
        ),
        (
            "crypto_floor_min_us",
            "us",
            "the lowest of those measurements",
        ),
        ("crypto_floor_max_us", "us", "the highest"),
        (
            "crypto_floor_loaded_us",
            "us",
            "sign + verify sampled every 10 ms during the uncached slices (same seconds, loaded machine)",
        ),
        (
            "audit_service_cpu_us_per_uncached",
            "us",
            "service CPU (utime+stime) per uncached verdict (audit on)",
        ),
        (
            "direct_p50_us",
            "us",
            "signed call straight to the simulator, concurrency 1",
        ),
        ("service_p50_us", "us", "the same call through the service"),
        (
            "noop_p50_us",
            "us",
            "p50 of a no-op gRPC call, concurrency 1",
        ),
        ("cached_p50_us", "us", "p50 of a cached Get, concurrency 1"),
        (
            "image_concurrency",
            "calls",
            "concurrent image-carrying calls",
        ),
        (
            "image_response_mib",
            "MiB",
            "ZOLOZ response body with the images",
        ),
        (
            "image_grpc_response_mib",
            "MiB",
            "gRPC answer with the decoded images",
        ),
        ("image_calls", "calls", "image-carrying calls made"),
        (
            "image_rss_before_mib",
            "MiB",
            "service RSS before the image phase",
        ),
        (
            "image_peak_rss_mib",
            "MiB",
            "service peak RSS (VmHWM) during the image phase",
        ),
        ("service_rss_end_mib", "MiB", "service RSS at the end"),
        (
            "audit_records",
            "lines",
            "audit records the headline service wrote",
        ),
        (
            "cached_rps",
            "calls/s",
            "audit_cached_rps with audit records off (a second service)",
        ),
        (
            "noaudit_cached_ratio",
            "",
            "cached_rps / noop_rps, audit off",
        ),
        (
            "uncached_rps",
            "calls/s",
            "audit_uncached_rps with audit records off",
        ),
        (
            "service_cpu_us_per_uncached",
            "us",
            "audit_service_cpu_us_per_uncached with audit records off",
        ),
        (
            "noaudit_cpu_ratio",
            "",
            "service_cpu_us_per_uncached / crypto_floor_us, audit off",
        ),
        (
            "other_cpu_pct_uncached",
            "%",
            "CPU used by other processes during the uncached phase",
        ),
        ("cpus", "", "available parallelism"),
        (
            "idle_halt_poll_us",
            "us",
            "how long at most an idle vCPU polls before it halts (Linux cpuidle haltpoll, in a VM; the window adapts up to this); 0: it halts at once, so waking it goes through the hypervisor (BENCHMARKS.md, the latency gap)",
        ),
        ("phase_s", "s", "length of each throughput phase"),
    ];
    println!();
    println!("| figure | value | unit | what |");
    println!("| --- | ---: | --- | --- |");
    for (key, unit, what) in rows {
        let value = figures
            .0
            .get(key)
            .map(|v| v.to_string())
            .unwrap_or_default();
        println!("| `{key}` | {value} | {unit} | {what} |");
    }
    println!();
    println!("| target | value | wanted | |");
    println!("| --- | ---: | --- | --- |");
    for (name, value, wanted, ok) in targets {
        println!("| {name} | {value:.3} | {wanted} | {} |", met(ok));
    }
    println!();
    let _ = std::io::stdout().flush();
    println!("{}", Value::Object(figures.0));
}

// ---------------------------------------------------------------------------------------------
// The noop server: the ceiling.

mod noop {
    use std::path::Path;
    use std::pin::Pin;

    use prost::Message as _;
    use tonic::transport::Server;
    use tonic::transport::server::TcpIncoming;
    use tonic::{Request, Response, Status};
    use zoloz_verdict::pb;
    use zoloz_verdict::pb::verdict_service_server::{VerdictService, VerdictServiceServer};

    struct Noop(pb::VerificationResult);

    type Stream =
        Pin<Box<dyn futures::Stream<Item = Result<pb::VerificationResult, Status>> + Send>>;

    #[tonic::async_trait]
    impl VerdictService for Noop {
        async fn get_verification_result(
            &self,
            _: Request<pb::GetVerificationResultRequest>,
        ) -> Result<Response<pb::VerificationResult>, Status> {
            Ok(Response::new(self.0.clone()))
        }

        type WatchVerificationResultStream = Stream;

        async fn watch_verification_result(
            &self,
            _: Request<pb::WatchVerificationResultRequest>,
        ) -> Result<Response<Stream>, Status> {
            Err(Status::unimplemented("noop"))
        }

        async fn evaluate_verification_result(
            &self,
            _: Request<pb::EvaluateVerificationResultRequest>,
        ) -> Result<Response<pb::VerificationResult>, Status> {
            Err(Status::unimplemented("noop"))
        }
    }

    /// Serves the canned answer with the transport settings the service uses, until killed.
    pub fn serve(response: &Path) {
        let canned = pb::VerificationResult::decode(&*std::fs::read(response).unwrap()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("listening on http://{}", listener.local_addr().unwrap());
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            Server::builder()
                .max_concurrent_streams(1024)
                .add_service(VerdictServiceServer::new(Noop(canned)))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
    }
}
