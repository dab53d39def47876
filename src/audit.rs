//! Audit records: one JSON line per verdict, enough to replay the decision with `explain` and
//! nothing that leaks personal data. A record carries the tenant, product, transaction id,
//! decision, reasons, the policy's name and hash, the trace id, the upstream result code, and
//! the upstream body reduced to its decision fields by an allowlist
//! ([`crate::zoloz::redact`]): no image, no OCR value, no key, no signature.
//!
//! Records go to standard output (beside the logs, marked `"type":"audit"`) or are appended to
//! a file, from a writer thread that takes whatever is queued and writes it in one batch, so
//! that request handling never waits on the disk while the sink keeps up, and lines never
//! interleave with log lines.
//!
//! The trail is lossless by default ([`OnStall::FailClosed`]): when the sink stalls (a full
//! disk, a stuck pipe, a slow collector) and the queue is full, a call waits up to
//! `stall_timeout` for room and then fails with `AUDIT_UNAVAILABLE`: a verdict that cannot be
//! recorded is not returned. A write that fails is retried, never skipped, and a partial line
//! is cut back off a file before the retry. [`Audit::stalled`] reports the stall, so health
//! turns NOT_SERVING until the sink drains. [`OnStall::Drop`] is the explicit other choice:
//! records that find the queue full are dropped and counted, and calls go on. At shutdown the
//! queue is written out before the process exits.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use tokio::sync::mpsc::error::{SendTimeoutError, TrySendError};
use tokio::sync::{mpsc, watch};

use crate::domain::{Product, Verdict};
use crate::zoloz::redact::Redacted;

/// Records queued at most, by default, before a call waits for the writer.
pub const DEFAULT_QUEUE: usize = 4096;
/// How long a call waits for room in a full queue, by default, before it fails closed.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(1);
/// Bytes the writer gathers into one write at most.
const BATCH_BYTES: usize = 256 * 1024;
/// How often the writer takes what is queued while records keep coming.
const WRITE_INTERVAL: Duration = Duration::from_millis(5);
/// Empty rounds after which the writer sleeps until the next record instead.
const IDLE_INTERVALS: u32 = 20;
/// The writer's wait between attempts at a write that failed.
const RETRY_WAIT: Duration = Duration::from_millis(100);

/// Where a verdict's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A call to ZOLOZ.
    Upstream,
    /// The cache of terminal results.
    Cache,
    /// A body the caller sent to EvaluateVerificationResult.
    Evaluate,
}

/// What a call does when the audit queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStall {
    /// Wait up to the stall timeout for room, then fail the call (`AUDIT_UNAVAILABLE`); health
    /// is NOT_SERVING while the sink is stalled. No verdict goes unrecorded.
    #[default]
    FailClosed,
    /// Drop the record and count it (`zoloz_verdict_audit_dropped_total`); the call goes on.
    Drop,
}

impl OnStall {
    /// The configuration value (`fail_closed`, `drop`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnStall::FailClosed => "fail_closed",
            OnStall::Drop => "drop",
        }
    }

    /// Parses a configuration value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "fail_closed" => Some(OnStall::FailClosed),
            "drop" => Some(OnStall::Drop),
            _ => None,
        }
    }
}

/// How the sink behaves under back-pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// What a call does when the queue is full.
    pub on_stall: OnStall,
    /// How long a call waits for room ([`OnStall::FailClosed`]).
    pub stall_timeout: Duration,
    /// Records queued at most.
    pub queue: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            on_stall: OnStall::default(),
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            queue: DEFAULT_QUEUE,
        }
    }
}

/// One verdict to record.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The configured caller that asked (`unauthenticated` when calls without an identity
    /// are allowed).
    pub caller: &'a str,
    /// The tenant.
    pub tenant: &'a str,
    /// The product.
    pub product: Product,
    /// The transaction id.
    pub transaction_id: &'a str,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// The redacted upstream body.
    pub body: &'a Redacted,
    /// Which Face Capture API produced the body (`v1`, `v1a`), when known: replaying the body
    /// through `explain` needs it (`--face-capture-api`) to reach the same decision.
    pub face_capture_api: Option<&'static str>,
    /// Where the facts came from.
    pub source: Source,
    /// The trace id, when there is one.
    pub trace_id: Option<&'a str>,
    /// When the verdict was computed.
    pub time: SystemTime,
}

/// The record's shape, serialized straight from borrowed fields (no intermediate JSON tree).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    r#type: &'static str,
    time: String,
    trace_id: Option<&'a str>,
    caller: &'a str,
    tenant: &'a str,
    product: &'static str,
    transaction_id: &'a str,
    decision: &'static str,
    retryable: bool,
    reasons: Vec<RecordReason<'a>>,
    policy: RecordPolicy<'a>,
    upstream: RecordUpstream<'a>,
    source: Source,
    body: &'a serde_json::Value,
    removed: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    face_capture_api: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordReason<'a> {
    code: &'static str,
    effect: &'static str,
    retryable: bool,
    field: &'a str,
    upstream_value: Option<&'a str>,
}

#[derive(Serialize)]
struct RecordPolicy<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordUpstream<'a> {
    result_code: &'a str,
    result_status: &'a str,
}

/// The record of an entry as one line of JSON, newline included.
pub fn record_line(entry: &Entry<'_>) -> Vec<u8> {
    let time = time::OffsetDateTime::from(entry.time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let verdict = entry.verdict;
    let record = Record {
        r#type: "audit",
        time,
        trace_id: entry.trace_id,
        caller: entry.caller,
        tenant: entry.tenant,
        product: entry.product.slug(),
        transaction_id: entry.transaction_id,
        decision: verdict.decision.as_str(),
        retryable: verdict.retryable,
        reasons: verdict
            .reasons
            .iter()
            .map(|r| RecordReason {
                code: r.code.as_str(),
                effect: r.effect.as_str(),
                retryable: r.retryable,
                field: &r.field,
                upstream_value: r.upstream_value.as_deref(),
            })
            .collect(),
        policy: RecordPolicy {
            name: &verdict.policy.name,
            version: &verdict.policy.version,
        },
        upstream: RecordUpstream {
            result_code: &verdict.upstream.result_code,
            result_status: &verdict.upstream.result_status,
        },
        source: entry.source,
        body: &entry.body.body,
        removed: &entry.body.removed,
        face_capture_api: entry.face_capture_api,
    };
    let mut line = Vec::with_capacity(512);
    // Serializing borrowed strings, numbers and a JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut line, &record);
    line.push(b'\n');
    line
}

/// A record could not be queued within the stall timeout: the verdict must not be returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the audit sink is stalled: the verdict could not be recorded within {0:?}")]
pub struct Unrecorded(pub Duration);

/// Metrics the sink keeps.
#[derive(Debug, Clone, Default)]
pub struct AuditMetrics {
    /// Records dropped ([`OnStall::Drop`]) or lost because the writer stopped.
    pub dropped: Counter,
    /// Verdicts not returned because their record could not be queued in time.
    pub refused: Counter,
    /// 1 while the sink is stalled.
    pub stalled: Gauge,
}

/// Where the writer writes.
enum Sink {
    /// Appended to a file: a failed write is cut back to the last whole line.
    File(std::fs::File),
    /// Standard output, or any other stream (tests).
    Stream(Box<dyn std::io::Write + Send>),
}

impl Sink {
    /// Writes `batch` whole, or fails having left no partial line in a file.
    fn write_batch(&mut self, batch: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stream(out) => {
                out.write_all(batch)?;
                out.flush()
            }
            Sink::File(file) => {
                let mut written = 0;
                while written < batch.len() {
                    match file.write(&batch[written..]) {
                        Ok(0) => {
                            let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                            return Err(cut_back(file, written, e));
                        }
                        Ok(n) => written += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(cut_back(file, written, e)),
                    }
                }
                Ok(())
            }
        }
    }
}

/// Removes the `written` bytes of a failed batch from the end of a regular file, so that the
/// retry starts on a line boundary. Pipes and devices cannot be cut back.
fn cut_back(file: &std::fs::File, written: usize, error: std::io::Error) -> std::io::Error {
    if written > 0
        && let Ok(meta) = file.metadata()
        && meta.is_file()
    {
        let _ = file.set_len(meta.len().saturating_sub(written as u64));
    }
    error
}

/// The writer thread: takes what is queued every [`WRITE_INTERVAL`] and writes it in one
/// batch, until the queue is closed and empty. Callers never wake it: under load it wakes on
/// its own clock (waking a thread for every record costs two context switches a verdict), and only after
/// [`IDLE_INTERVALS`] empty rounds does it sleep until the next record.
fn write_out(receiver: &mut mpsc::Receiver<Vec<u8>>, sink: &mut Sink, shared: &Shared) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    let mut idle = 0;
    loop {
        let mut closed = false;
        while batch.len() < BATCH_BYTES {
            match receiver.try_recv() {
                Ok(line) => batch.extend_from_slice(&line),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if batch.is_empty() {
            if closed {
                return;
            }
            idle += 1;
            if idle < IDLE_INTERVALS {
                std::thread::sleep(WRITE_INTERVAL);
                continue;
            }
            match receiver.blocking_recv() {
                Some(line) => batch.extend_from_slice(&line),
                None => return,
            }
            idle = 0;
            std::thread::sleep(WRITE_INTERVAL);
            continue;
        }
        idle = 0;
        // A failed write is retried until it succeeds: the records in it were accepted, so
        // skipping them would lose them. Meanwhile the queue fills and callers fail closed
        // (or drop, as configured).
        while let Err(e) = sink.write_batch(&batch) {
            shared.set_stalled(true);
            tracing::error!(error = %e, "audit records not written; retrying");
            std::thread::sleep(RETRY_WAIT);
        }
        let full = batch.len() >= BATCH_BYTES;
        batch.clear();
        if shared.stalled.load(Ordering::Acquire) && receiver.len() <= receiver.max_capacity() / 2 {
            shared.set_stalled(false);
        }
        if !full && !closed {
            std::thread::sleep(WRITE_INTERVAL);
        }
    }
}

/// The state the writer and the callers share.
#[derive(Debug)]
struct Shared {
    stalled: AtomicBool,
    stalled_tx: watch::Sender<bool>,
    metrics: AuditMetrics,
}

impl Shared {
    fn set_stalled(&self, stalled: bool) {
        if self.stalled.swap(stalled, Ordering::AcqRel) != stalled {
            self.metrics.stalled.set(i64::from(stalled));
            self.stalled_tx.send_replace(stalled);
            if stalled {
                tracing::error!("audit sink stalled: calls wait for room, then fail closed");
            } else {
                tracing::warn!("audit sink writing again");
            }
        }
    }
}

/// The audit sink: a writer thread fed through a bounded queue.
#[derive(Debug)]
pub struct Audit {
    sender: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    writer: Mutex<Option<(JoinHandle<()>, std::sync::mpsc::Receiver<()>)>>,
    settings: Settings,
    shared: std::sync::Arc<Shared>,
}

impl Audit {
    /// A sink that records nothing.
    pub fn disabled() -> Self {
        Self {
            sender: Mutex::new(None),
            writer: Mutex::new(None),
            settings: Settings::default(),
            shared: std::sync::Arc::new(Shared {
                stalled: AtomicBool::new(false),
                stalled_tx: watch::Sender::new(false),
                metrics: AuditMetrics::default(),
            }),
        }
    }

    /// A sink writing to standard output.
    pub fn stdout(settings: Settings, metrics: AuditMetrics) -> Self {
        Self::spawn(Sink::Stream(Box::new(std::io::stdout())), settings, metrics)
    }

    /// A sink appending to a file (created if missing).
    pub fn file(path: &Path, settings: Settings, metrics: AuditMetrics) -> std::io::Result<Self> {
        Ok(Self::spawn(
            Sink::File(Self::open(path)?),
            settings,
            metrics,
        ))
    }

    /// Opens the audit file as [`Audit::file`] does: for appending, created if missing
    /// (`serve --check-config` uses it to refuse what `serve` would).
    pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn spawn(mut sink: Sink, settings: Settings, metrics: AuditMetrics) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(settings.queue.max(1));
        let shared = std::sync::Arc::new(Shared {
            stalled: AtomicBool::new(false),
            stalled_tx: watch::Sender::new(false),
            metrics,
        });
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let writer_shared = std::sync::Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                write_out(&mut receiver, &mut sink, &writer_shared);
                let _ = done_tx.send(());
            })
            .ok()
            .map(|handle| (handle, done_rx));
        Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(writer),
            settings,
            shared,
        }
    }

    /// Whether records are written.
    pub fn enabled(&self) -> bool {
        self.sender.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Whether the sink is stalled, and its changes: health follows it.
    pub fn stalled(&self) -> watch::Receiver<bool> {
        self.shared.stalled_tx.subscribe()
    }

    /// Whether a stall refuses calls (and so should turn health NOT_SERVING).
    pub fn fails_closed(&self) -> bool {
        self.settings.on_stall == OnStall::FailClosed && self.enabled()
    }

    /// Queues one record. With [`OnStall::FailClosed`], a full queue makes the call wait up to
    /// the stall timeout, then fail: the verdict must not be returned. With
    /// [`OnStall::Drop`], a record that finds the queue full is dropped and counted.
    pub async fn write(&self, entry: &Entry<'_>) -> Result<(), Unrecorded> {
        let line = record_line(entry);
        let sender = {
            let guard = match self.sender.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let Some(sender) = guard.as_ref() else {
                return Ok(());
            };
            match sender.try_send(line) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return self.lost(),
                Err(TrySendError::Full(line)) => match self.settings.on_stall {
                    OnStall::Drop => {
                        if self.shared.metrics.dropped.inc().is_multiple_of(1000) {
                            tracing::error!(
                                dropped = self.shared.metrics.dropped.get(),
                                "audit sink stalled; records dropped (on_stall = \"drop\")"
                            );
                        }
                        return Ok(());
                    }
                    OnStall::FailClosed => (sender.clone(), line),
                },
            }
        };
        let (sender, line) = sender;
        match sender.send_timeout(line, self.settings.stall_timeout).await {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => {
                self.shared.set_stalled(true);
                self.shared.metrics.refused.inc();
                Err(Unrecorded(self.settings.stall_timeout))
            }
            Err(SendTimeoutError::Closed(_)) => self.lost(),
        }
    }

    /// The writer is gone (it stopped at shutdown, or could not start).
    fn lost(&self) -> Result<(), Unrecorded> {
        match self.settings.on_stall {
            OnStall::Drop => {
                self.shared.metrics.dropped.inc();
                tracing::error!("audit writer stopped; record lost");
                Ok(())
            }
            OnStall::FailClosed => {
                self.shared.metrics.refused.inc();
                Err(Unrecorded(Duration::ZERO))
            }
        }
    }

    /// Stops taking records and waits up to `wait` for the writer to write out everything
    /// queued. Returns whether it did (a stalled sink may not drain in time).
    pub fn close(&self, wait: Duration) -> bool {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        let Some((handle, done)) = writer else {
            return true;
        };
        match done.recv_timeout(wait) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                true
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tracing::error!(
                    wait = ?wait,
                    "audit sink did not drain before exit; queued records are lost"
                );
                false
            }
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.close(self.settings.stall_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Policy, evaluate};
    use crate::zoloz::products::parse;
    use crate::zoloz::redact::redact;
    use std::sync::Arc;

    /// A sink that blocks until released, like a stalled disk or pipe; it keeps what it wrote.
    struct Stalled(Arc<AtomicBool>, Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            while !self.0.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn body() -> (Verdict, Redacted) {
        let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":90}}"#;
        let parsed = parse(Product::Connect, body, false).unwrap();
        let verdict = evaluate(&parsed.facts, &Policy::default_table()).unwrap();
        let redacted = redact(Product::Connect, &serde_json::from_slice(body).unwrap());
        (verdict, redacted)
    }

    fn entry<'a>(verdict: &'a Verdict, redacted: &'a Redacted, id: &'a str) -> Entry<'a> {
        Entry {
            caller: "c",
            tenant: "t",
            product: Product::Connect,
            transaction_id: id,
            verdict,
            body: redacted,
            face_capture_api: None,
            source: Source::Upstream,
            trace_id: None,
            time: SystemTime::now(),
        }
    }

    fn stalled_sink(settings: Settings) -> (Audit, Arc<AtomicBool>, Arc<Mutex<Vec<u8>>>) {
        let released = Arc::new(AtomicBool::new(false));
        let written = Arc::new(Mutex::new(Vec::new()));
        let audit = Audit::spawn(
            Sink::Stream(Box::new(Stalled(
                Arc::clone(&released),
                Arc::clone(&written),
            ))),
            settings,
            AuditMetrics::default(),
        );
        (audit, released, written)
    }

    #[tokio::test]
    async fn a_stalled_sink_fails_calls_closed_and_loses_nothing_accepted() {
        let (verdict, redacted) = body();
        let settings = Settings {
            on_stall: OnStall::FailClosed,
            stall_timeout: Duration::from_millis(50),
            queue: 8,
        };
        let (audit, released, written) = stalled_sink(settings);
        let mut stalled = audit.stalled();
        let mut accepted = Vec::new();
        let mut refused = 0;
        for n in 0..30 {
            let id = format!("T{n}");
            match audit.write(&entry(&verdict, &redacted, &id)).await {
                Ok(()) => accepted.push(id),
                Err(Unrecorded(wait)) => {
                    assert_eq!(wait, Duration::from_millis(50));
                    refused += 1;
                }
            }
        }
        // Once the writer is stuck with a batch and the queue is full, calls are refused.
        assert!(refused >= 1, "refused {refused}");
        assert_eq!(accepted.len() + refused as usize, 30);
        assert_eq!(audit.shared.metrics.refused.get(), refused);
        assert!(*stalled.borrow_and_update());
        assert_eq!(audit.shared.metrics.stalled.get(), 1);
        released.store(true, Ordering::SeqCst);
        // The writer drains and the stall clears.
        tokio::time::timeout(Duration::from_secs(5), stalled.changed())
            .await
            .unwrap()
            .unwrap();
        assert!(!*stalled.borrow());
        audit
            .write(&entry(&verdict, &redacted, "after"))
            .await
            .unwrap();
        accepted.push("after".into());
        assert!(audit.close(Duration::from_secs(5)));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["transactionId"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            ids, accepted,
            "every accepted record, in order, and no other"
        );
    }

    #[tokio::test]
    async fn drop_mode_drops_and_counts_instead_of_blocking() {
        let (verdict, redacted) = body();
        let settings = Settings {
            on_stall: OnStall::Drop,
            stall_timeout: Duration::from_secs(60),
            queue: 8,
        };
        let (audit, released, written) = stalled_sink(settings);
        let started = std::time::Instant::now();
        for _ in 0..50 {
            audit
                .write(&entry(&verdict, &redacted, "T1"))
                .await
                .unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never waits");
        assert!(!*audit.stalled().borrow(), "drop mode keeps serving");
        released.store(true, Ordering::SeqCst);
        assert!(audit.close(Duration::from_secs(5)));
        // Every record is either written or counted as dropped.
        let dropped = audit.shared.metrics.dropped.get();
        let lines = written
            .lock()
            .unwrap()
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        assert!(dropped >= 1, "dropped {dropped}");
        assert_eq!(lines + dropped, 50);
    }

    #[tokio::test]
    async fn close_is_bounded_when_the_sink_never_drains() {
        let (verdict, redacted) = body();
        let (audit, released, _) = stalled_sink(Settings::default());
        audit
            .write(&entry(&verdict, &redacted, "T1"))
            .await
            .unwrap();
        assert!(!audit.close(Duration::from_millis(100)));
        released.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_failed_file_write_leaves_no_partial_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, b"{\"whole\":1}\n").unwrap();
        let file = Audit::open(&path).unwrap();
        let mut written_part = file.try_clone().unwrap();
        written_part.write_all(b"{\"half").unwrap();
        let _ = cut_back(&file, 6, std::io::Error::other("disk full"));
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"whole\":1}\n");
    }

    #[test]
    fn a_record_carries_what_replay_needs() {
        let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success","extFaceInfo":{"faceAttack":true,"faceScore":90,"aliveImage":"AAAA"}}"#;
        let parsed = parse(Product::Connect, body, false).unwrap();
        let verdict = evaluate(&parsed.facts, &Policy::default_table()).unwrap();
        let redacted = redact(Product::Connect, &serde_json::from_slice(body).unwrap());
        let line = record_line(&Entry {
            caller: "onboarding",
            tenant: "acme",
            product: Product::Connect,
            transaction_id: "T1",
            verdict: &verdict,
            body: &redacted,
            face_capture_api: None,
            source: Source::Cache,
            trace_id: Some("abc"),
            time: SystemTime::UNIX_EPOCH,
        });
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert!(value.get("faceCaptureApi").is_none(), "only when known");
        assert_eq!(value["type"], "audit");
        assert_eq!(value["traceId"], "abc");
        assert_eq!(value["tenant"], "acme");
        assert_eq!(value["product"], "connect");
        assert_eq!(value["transactionId"], "T1");
        assert_eq!(value["decision"], "REJECTED");
        assert_eq!(value["reasons"][0]["code"], "LIVENESS_ATTACK");
        assert_eq!(value["reasons"][0]["effect"], "REJECT");
        assert_eq!(value["upstream"]["resultCode"], "SUCCESS");
        assert_eq!(value["policy"]["name"], verdict.policy.name.as_str());
        assert_eq!(value["source"], "cache");
        assert_eq!(value["caller"], "onboarding");
        assert_eq!(value["time"], "1970-01-01T00:00:00Z");
        assert_eq!(value["removed"][0], "/extFaceInfo/aliveImage");
        assert_eq!(value["body"]["extFaceInfo"]["faceAttack"], true);
        assert!(!String::from_utf8_lossy(&line).contains("AAAA"));
    }
}
