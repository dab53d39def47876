//! The response-byte budget: an image-carrying answer holds its encoded size against
//! `server.max_response_bytes_in_flight` until it is written out to the caller, not until the
//! handler returns, so readers that never open their HTTP/2 receive window cannot pin memory
//! beyond the budget. New image-carrying calls are shed with `OVERLOADED` while it is spent.
//! An answer not written out within `server.send_timeout` is dropped (its memory and budget
//! freed at once) and its stream ends with an error.
//!
//! The handler reserves ([`ResponseBudget::reserve`]) and puts the [`Held`] reservation in the
//! response's extensions; the server layer ([`hold_until_written`]) moves it into the body,
//! which hands the answer to HTTP/2 in small slices, so that what waits for a reader's window
//! stays here, where the budget counts it and the timeout can drop it.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What an image-carrying call reserves when it is admitted, before its size is known: the
/// budget then also bounds how many such calls are being answered at once (each holds its
/// upstream body, its parsed tree and its images meanwhile). Adjusted to the encoded size when
/// the answer is ready.
pub const ADMISSION_ESTIMATE: usize = 4 * 1024 * 1024;

/// Slices handed to HTTP/2 at most this large: what HTTP/2 buffers beyond a reader's window is
/// one slice, the rest waits here.
const SLICE: usize = 16 * 1024;

/// The budget, in KiB (a semaphore counts permits).
#[derive(Debug, Clone)]
pub struct ResponseBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
    send_timeout: Duration,
}

/// An answer's reservation, from the handler to the body (cloneable for `http::Extensions`).
#[derive(Debug, Clone)]
pub struct Held {
    state: Arc<Mutex<State>>,
    send_timeout: Duration,
}

#[derive(Debug, Default)]
struct State {
    permit: Option<OwnedSemaphorePermit>,
    /// What the body has taken from tonic and not yet handed to HTTP/2.
    rest: Option<Bytes>,
    timed_out: bool,
}

impl State {
    fn release(&mut self) {
        self.permit = None;
        self.rest = None;
    }
}

impl ResponseBudget {
    /// A budget of `bytes` (rounded up to KiB) and a send timeout.
    pub fn new(bytes: usize, send_timeout: Duration) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            send_timeout,
        }
    }

    /// How long an answer may wait for its reader.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// The budget in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.total_kib) * 1024
    }

    /// Makes `held` hold `bytes`: gives back what it holds beyond them, or reserves the rest
    /// (`false` when the budget cannot hold it now).
    pub fn resize(&self, held: &Held, bytes: usize) -> bool {
        let want = self.kib_for(bytes) as usize;
        let mut state = lock(&held.state);
        let Some(permit) = state.permit.as_mut() else {
            return false;
        };
        let have = permit.num_permits();
        if want < have {
            drop(permit.split(have - want));
            return true;
        }
        if want == have {
            return true;
        }
        match Arc::clone(&self.kib)
            .try_acquire_many_owned(u32::try_from(want - have).unwrap_or(u32::MAX))
        {
            Ok(more) => {
                permit.merge(more);
                true
            }
            Err(_) => false,
        }
    }

    fn kib_for(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total_kib.max(1))
    }

    /// Reserves `bytes` for an answer, or `None` when the budget cannot hold it now. An
    /// answer larger than the whole budget is reserved against all of it (it is at most a gRPC
    /// message), so that it can still be sent when nothing else is.
    pub fn reserve(&self, bytes: usize) -> Option<Held> {
        let kib = self.kib_for(bytes);
        let permit = Arc::clone(&self.kib).try_acquire_many_owned(kib).ok()?;
        Some(Held {
            state: Arc::new(Mutex::new(State {
                permit: Some(permit),
                ..State::default()
            })),
            send_timeout: self.send_timeout,
        })
    }
}

/// The server layer's function: a response that carries a [`Held`] reservation gets a body
/// that keeps it until the answer is written out, dropped, or timed out.
pub fn hold_until_written(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let Some(held) = response.extensions_mut().remove::<Held>() else {
        return response;
    };
    let state = Arc::clone(&held.state);
    let timeout = held.send_timeout;
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let mut state = lock(&state);
        if state.permit.is_some() {
            state.release();
            state.timed_out = true;
            tracing::info!(
                timeout_ms = timeout.as_millis() as u64,
                "an answer was not read within the send timeout: dropped"
            );
        }
    });
    response.map(|inner| {
        tonic::body::Body::new(Budgeted {
            inner,
            state: held.state,
        })
    })
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A response body holding its reservation until it ends (or is dropped, or times out).
struct Budgeted {
    inner: tonic::body::Body,
    state: Arc<Mutex<State>>,
}

impl Drop for Budgeted {
    fn drop(&mut self) {
        lock(&self.state).release();
    }
}

impl http_body::Body for Budgeted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        {
            let mut state = lock(&self.state);
            if state.timed_out {
                return Poll::Ready(Some(Err(tonic::Status::deadline_exceeded(
                    "the answer was not read within the server's send timeout",
                ))));
            }
            if let Some(rest) = state.rest.as_mut() {
                let slice = rest.split_to(rest.len().min(SLICE));
                if rest.is_empty() {
                    state.rest = None;
                }
                return Poll::Ready(Some(Ok(Frame::data(slice))));
            }
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    let slice = data.split_to(data.len().min(SLICE));
                    if !data.is_empty() {
                        lock(&self.state).rest = Some(data);
                    }
                    Poll::Ready(Some(Ok(Frame::data(slice))))
                }
                Err(frame) => {
                    // Trailers: the message is written out.
                    lock(&self.state).release();
                    Poll::Ready(Some(Ok(frame)))
                }
            },
            Poll::Ready(None) => {
                lock(&self.state).release();
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.state).rest.is_none() && self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_count_against_the_budget_until_released() {
        let budget = ResponseBudget::new(100 * 1024, Duration::from_secs(1));
        let a = budget.reserve(60 * 1024).unwrap();
        assert!(budget.reserve(60 * 1024).is_none(), "over the budget");
        lock(&a.state).release();
        let b = budget.reserve(60 * 1024).unwrap();
        // Resized down, the rest is free again; resized up, only when it fits.
        assert!(budget.resize(&b, 20 * 1024));
        let c = budget.reserve(80 * 1024).unwrap();
        assert!(!budget.resize(&b, 40 * 1024));
        drop(c);
        assert!(budget.resize(&b, 40 * 1024));
        // Larger than the whole budget: all of it, when free.
        let budget = ResponseBudget::new(10 * 1024, Duration::from_secs(1));
        assert!(budget.reserve(1 << 20).is_some());
    }
}
