//! Audit records: one JSON line per verdict, enough to replay the decision with `explain` and
//! nothing that leaks personal data. A record carries the tenant, product, transaction id,
//! decision, reasons, the policy's name and hash, the trace id, the upstream result code, and
//! the upstream body reduced to its decision fields by an allowlist
//! ([`crate::zoloz::redact`]): no image, no OCR value, no key, no signature.
//!
//! Records go to standard output (beside the logs, marked `"type":"audit"`) or are appended to
//! a file, from a writer thread so that request handling never waits on the disk. Each record
//! is written with one `write_all`, so lines never interleave with log lines.

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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
    json!({
        "type": "audit",
        "time": time,
        "traceId": entry.trace_id,
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
    })
}

/// The audit sink: a writer thread fed through a bounded channel.
#[derive(Debug)]
pub struct Audit {
    sender: Mutex<Option<SyncSender<String>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Records queued at most before `write` waits for the writer (back-pressure rather than loss).
const QUEUE: usize = 8192;

impl Audit {
    /// A sink that records nothing.
    pub fn disabled() -> Self {
        Self {
            sender: Mutex::new(None),
            writer: Mutex::new(None),
        }
    }

    /// A sink writing to standard output.
    pub fn stdout() -> Self {
        Self::spawn(Box::new(std::io::stdout()))
    }

    /// A sink appending to a file (created if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self::spawn(Box::new(file)))
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
            if sender.send(line).is_err() {
                tracing::error!("audit writer stopped; record lost");
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
