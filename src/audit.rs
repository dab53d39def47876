//! Audit records: one JSON line per verdict, enough to replay the decision with `explain` and
//! nothing that leaks personal data. A record carries the tenant, product, transaction id,
//! decision, reasons, the policy's name and hash, the trace id, the upstream result code, and
//! the upstream body reduced to its decision fields by an allowlist
//! ([`crate::zoloz::redact`]): no image, no OCR value, no key, no signature.
//!
//! Records go to standard output (beside the logs, marked `"type":"audit"`) or are appended to
//! a file, from a writer thread so that request handling never waits on the disk. Each record
//! is written with one `write_all`, so lines never interleave with log lines. When the sink
//! stalls and the queue is full, a record is dropped and counted
//! (`zoloz_verdict_audit_dropped_total`) rather than stalling every request.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::domain::{Product, Verdict};
use crate::zoloz::redact::Redacted;

/// Where a verdict's facts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A call to ZOLOZ.
    Upstream,
    /// The cache of terminal results.
    Cache,
    /// A body the caller sent to EvaluateVerificationResult.
    Evaluate,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Upstream => "upstream",
            Source::Cache => "cache",
            Source::Evaluate => "evaluate",
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

/// Builds the JSON record of an entry.
pub fn record(entry: &Entry<'_>) -> Value {
    let time = time::OffsetDateTime::from(entry.time)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let reasons: Vec<Value> = entry
        .verdict
        .reasons
        .iter()
        .map(|r| {
            json!({
                "code": r.code.as_str(),
                "effect": r.effect.as_str(),
                "retryable": r.retryable,
                "field": r.field,
                "upstreamValue": r.upstream_value,
            })
        })
        .collect();
    let mut record = json!({
        "type": "audit",
        "time": time,
        "traceId": entry.trace_id,
        "caller": entry.caller,
        "tenant": entry.tenant,
        "product": entry.product.slug(),
        "transactionId": entry.transaction_id,
        "decision": entry.verdict.decision.as_str(),
        "retryable": entry.verdict.retryable,
        "reasons": reasons,
        "policy": {"name": entry.verdict.policy.name, "version": entry.verdict.policy.version},
        "upstream": {
            "resultCode": entry.verdict.upstream.result_code,
            "resultStatus": entry.verdict.upstream.result_status,
        },
        "source": entry.source.as_str(),
        "body": entry.body.body,
        "removed": entry.body.removed,
    });
    if let Some(api) = entry.face_capture_api {
        record["faceCaptureApi"] = json!(api);
    }
    record
}

/// The audit sink: a writer thread fed through a bounded channel.
#[derive(Debug)]
pub struct Audit {
    sender: Mutex<Option<SyncSender<String>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dropped: prometheus_client::metrics::counter::Counter,
}

/// Records queued at most before `write` waits for the writer (back-pressure rather than loss).
const QUEUE: usize = 8192;

impl Audit {
    /// A sink that records nothing.
    pub fn disabled() -> Self {
        Self {
            sender: Mutex::new(None),
            writer: Mutex::new(None),
            dropped: Default::default(),
        }
    }

    /// Counts dropped records in `counter` (a metric) from now on.
    pub fn count_drops_in(mut self, counter: prometheus_client::metrics::counter::Counter) -> Self {
        self.dropped = counter;
        self
    }

    /// A sink writing to standard output.
    pub fn stdout() -> Self {
        Self::spawn(Box::new(std::io::stdout()))
    }

    /// A sink appending to a file (created if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        Ok(Self::spawn(Box::new(Self::open(path)?)))
    }

    /// Opens the audit file as [`Audit::file`] does: for appending, created if missing
    /// (`serve --check-config` uses it to refuse what `serve` would).
    pub fn open(path: &Path) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    }

    fn spawn(mut out: Box<dyn std::io::Write + Send>) -> Self {
        let (sender, receiver): (SyncSender<String>, Receiver<String>) = sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                while let Ok(mut line) = receiver.recv() {
                    line.push('\n');
                    if let Err(e) = out.write_all(line.as_bytes()) {
                        tracing::error!(error = %e, "audit record not written");
                    }
                    // Flush when the queue is drained: records reach the file promptly without
                    // a flush per record under load.
                    if let Ok(next) = receiver.try_recv() {
                        let mut next = next;
                        next.push('\n');
                        let _ = out.write_all(next.as_bytes());
                    } else {
                        let _ = out.flush();
                    }
                }
                let _ = out.flush();
            })
            .ok();
        Self {
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(writer),
            dropped: Default::default(),
        }
    }

    /// Whether records are written.
    pub fn enabled(&self) -> bool {
        self.sender.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Queues one record.
    pub fn write(&self, entry: &Entry<'_>) {
        let sender = match self.sender.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(sender) = sender {
            let line = record(entry).to_string();
            match sender.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    // Never block a request on a stalled sink: count the loss instead.
                    if self.dropped.inc().is_multiple_of(1000) {
                        tracing::error!(
                            dropped = self.dropped.get() + 1,
                            "audit sink stalled; records dropped"
                        );
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.dropped.inc();
                    tracing::error!("audit writer stopped; record lost");
                }
            }
        }
    }

    /// Stops the writer after it has written everything queued.
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let writer = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Policy, evaluate};
    use crate::zoloz::products::parse;
    use crate::zoloz::redact::redact;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A sink that blocks until released, like a stalled disk or pipe.
    struct Stalled(Arc<AtomicBool>);

    impl std::io::Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            while !self.0.load(Ordering::SeqCst) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    use std::sync::Arc;

    #[test]
    fn a_stalled_sink_drops_and_counts_instead_of_blocking() {
        let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success","extFaceInfo":{"faceAttack":false,"faceScore":90}}"#;
        let parsed = parse(Product::Connect, body, false).unwrap();
        let verdict = evaluate(&parsed.facts, &Policy::default_table()).unwrap();
        let redacted = redact(Product::Connect, &serde_json::from_slice(body).unwrap());
        let released = Arc::new(AtomicBool::new(false));
        let counter = prometheus_client::metrics::counter::Counter::default();
        let audit =
            Audit::spawn(Box::new(Stalled(Arc::clone(&released)))).count_drops_in(counter.clone());
        let entry = Entry {
            caller: "c",
            tenant: "t",
            product: Product::Connect,
            transaction_id: "T1",
            verdict: &verdict,
            body: &redacted,
            face_capture_api: None,
            source: Source::Upstream,
            trace_id: None,
            time: SystemTime::now(),
        };
        // The writer holds one record; the queue holds QUEUE more; the rest are dropped.
        for _ in 0..QUEUE + 50 {
            audit.write(&entry);
        }
        assert!(counter.get() >= 49, "dropped {}", counter.get());
        released.store(true, Ordering::SeqCst);
        audit.close();
    }

    #[test]
    fn a_record_carries_what_replay_needs() {
        let body = br#"{"result":{"resultCode":"SUCCESS","resultStatus":"S"},"connectResult":"Success","extFaceInfo":{"faceAttack":true,"faceScore":90,"aliveImage":"AAAA"}}"#;
        let parsed = parse(Product::Connect, body, false).unwrap();
        let verdict = evaluate(&parsed.facts, &Policy::default_table()).unwrap();
        let redacted = redact(Product::Connect, &serde_json::from_slice(body).unwrap());
        let value = record(&Entry {
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
        assert!(value.get("faceCaptureApi").is_none(), "only when known");
        assert_eq!(value["type"], "audit");
        assert_eq!(value["decision"], "REJECTED");
        assert_eq!(value["reasons"][0]["code"], "LIVENESS_ATTACK");
        assert_eq!(value["source"], "cache");
        assert_eq!(value["caller"], "onboarding");
        assert_eq!(value["time"], "1970-01-01T00:00:00Z");
        assert_eq!(value["removed"][0], "/extFaceInfo/aliveImage");
        assert!(!value.to_string().contains("AAAA"));
    }
}
