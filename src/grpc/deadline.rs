//! The caller's deadline, from the `grpc-timeout` request header. The service answers
//! `DEADLINE_EXCEEDED` itself, a little before the deadline, so that the caller gets the
//! designed `ErrorInfo` (tonic's own timeout would answer `CANCELLED`).

use std::time::Duration;

use tokio::time::Instant;

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (`H M S m u n`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// When the server accepted a request, stamped on it by [`stamp_received`] before it waits
/// for a worker to run its handler. tonic starts its own `grpc-timeout` clock at that moment
/// (and answers `CANCELLED` without `ErrorInfo` when it runs out), so the deadline counts from
/// there too: counted from the handler's start, the queueing time of a busy server would eat
/// the margin and tonic would answer first (the fault soak shows it; BENCHMARKS.md).
#[derive(Debug, Clone, Copy)]
pub struct Received(pub Instant);

/// Stamps a request with the time it was accepted ([`Received`]); a `MapRequest` layer of the
/// server.
pub fn stamp_received<B>(mut request: http::Request<B>) -> http::Request<B> {
    request.extensions_mut().insert(Received(Instant::now()));
    request
}

/// The instant to answer by: the caller's deadline minus a small margin for the answer to
/// travel (5% of the budget, at most 20 ms), capped at `max`, counted from when the request was
/// accepted ([`Received`]; now, when it was not stamped).
pub fn answer_by(request: &tonic::Request<impl Sized>, max: Duration) -> Instant {
    let received = request
        .extensions()
        .get::<Received>()
        .map_or_else(Instant::now, |r| r.0);
    answer_by_from(received, request.metadata(), max)
}

fn answer_by_from(now: Instant, metadata: &tonic::metadata::MetadataMap, max: Duration) -> Instant {
    let budget = metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .map_or(max, |timeout| {
            let margin = (timeout / 20).min(Duration::from_millis(20));
            (timeout - margin).min(max)
        });
    now + budget
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
        assert_eq!(parse_grpc_timeout("5s"), None);
        assert_eq!(parse_grpc_timeout("-5S"), None);
    }

    #[test]
    fn the_deadline_counts_from_acceptance() {
        let accepted = Instant::now() - Duration::from_millis(100);
        let mut request = tonic::Request::new(());
        request
            .metadata_mut()
            .insert("grpc-timeout", "1000m".parse().unwrap());
        request.extensions_mut().insert(Received(accepted));
        assert_eq!(
            answer_by(&request, Duration::from_secs(30)),
            accepted + Duration::from_millis(980)
        );
        let stamped = stamp_received(http::Request::new(()));
        assert!(stamped.extensions().get::<Received>().is_some());
    }

    #[test]
    fn answer_by_keeps_a_margin_and_a_cap() {
        let mut metadata = tonic::metadata::MetadataMap::new();
        let now = Instant::now();
        let cap = Duration::from_secs(30);
        assert_eq!(answer_by_from(now, &metadata, cap), now + cap);
        metadata.insert("grpc-timeout", "1000m".parse().unwrap());
        assert_eq!(
            answer_by_from(now, &metadata, cap),
            now + Duration::from_millis(980)
        );
        metadata.insert("grpc-timeout", "100m".parse().unwrap());
        assert_eq!(
            answer_by_from(now, &metadata, cap),
            now + Duration::from_millis(95)
        );
        metadata.insert("grpc-timeout", "1H".parse().unwrap());
        assert_eq!(answer_by_from(now, &metadata, cap), now + cap);
        metadata.insert("grpc-timeout", "garbage".parse().unwrap());
        assert_eq!(answer_by_from(now, &metadata, cap), now + cap);
    }
}
