//! What the REST adapters share: one long-lived HTTP client per venue,
//! a bounded request/answer exchange that tells "never sent" from "sent,
//! outcome lost", venue wall-clock times turned into stream time,
//! `Retry-After`, UUID-shaped ids derived from ours, and short, secret-free
//! descriptions of what went wrong. An answer above [`MAX_ANSWER_BYTES`]
//! is refused without being read whole.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::clock::StreamClock;
use crate::lp::adapter::{AdapterError, AdapterTimeouts};
use crate::secret::Secret;

/// The venue's base URL without a trailing slash, checked once.
pub(crate) fn base_url(lp: &str, url: &str) -> Result<String, AdapterError> {
    let trimmed = url.trim().trim_end_matches('/');
    let valid = reqwest::Url::parse(trimmed).is_ok_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some_and(|host| !host.is_empty())
    });
    if !valid {
        return Err(AdapterError::BadUrl {
            lp: lp.to_string(),
            url: url.to_string(),
        });
    }
    Ok(trimmed.to_string())
}

/// A pair template, checked once.
pub(crate) fn symbol_template(lp: &str, symbol: &str) -> Result<String, AdapterError> {
    if !(symbol.contains("{base}") && symbol.contains("{quote}")) {
        return Err(AdapterError::BadSymbol {
            lp: lp.to_string(),
            symbol: symbol.to_string(),
        });
    }
    Ok(symbol.to_string())
}

/// A header value carrying a secret, marked sensitive so that neither
/// reqwest's nor hyper's debug output shows it.
pub(crate) fn secret_header(
    lp: &str,
    what: &'static str,
    value: String,
) -> Result<HeaderValue, AdapterError> {
    let mut header = HeaderValue::from_str(&value).map_err(|_| AdapterError::BadHeader {
        lp: lp.to_string(),
        what,
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The venue's one client: kept for the life of the process so that every
/// stream reuses its connections (and TLS sessions).
pub(crate) fn client(lp: &str, timeouts: AdapterTimeouts) -> Result<Client, AdapterError> {
    Client::builder()
        .connect_timeout(timeouts.quote)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("lp-rfq/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| AdapterError::Client {
            lp: lp.to_string(),
            reason: root_cause(&error),
        })
}

/// The largest answer a venue may give: a quote or an order is a few
/// hundred bytes, so anything near this is not an answer, and reading it
/// whole would let one venue fill the desk's memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A venue's complete answer.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why no complete answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection could not be made: the request never left.
    NotSent(String),
    /// None within the limit; the request may have been acted on.
    TimedOut(Duration),
    /// The connection failed after the request may have left.
    Lost(String),
    /// The answer was larger than the cap and was not read further (the
    /// request was sent and may have been acted on).
    TooLarge { cap: usize },
}

impl Failure {
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::NotSent(reason) => format!("cannot connect: {reason}"),
            Failure::TimedOut(limit) => format!("no answer within {} ms", limit.as_millis()),
            Failure::Lost(reason) => format!("connection lost: {reason}"),
            Failure::TooLarge { cap } => {
                format!("answer larger than the {} cap, not read", size_text(*cap))
            }
        }
    }

    /// The error a quote request that failed so gets: an answer too large
    /// to read is malformed, anything else leaves the LP unavailable.
    pub(crate) fn quote_error(&self) -> crate::lp::LpError {
        match self {
            Failure::TooLarge { .. } => crate::lp::LpError::Malformed(self.describe()),
            _ => crate::lp::LpError::Unavailable(self.describe()),
        }
    }
}

/// `1 MB`, `512 KB`, `100 bytes`.
fn size_text(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Where an answer's body comes from, a chunk at a time.
pub(crate) trait Chunks {
    type Error;
    /// The length the answer declares (Content-Length), if any.
    fn declared_len(&self) -> Option<u64>;
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;
}

impl Chunks for reqwest::Response {
    type Error = reqwest::Error;

    fn declared_len(&self) -> Option<u64> {
        self.content_length()
    }

    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, reqwest::Error> {
        Ok(self.chunk().await?.map(|chunk| chunk.to_vec()))
    }
}

/// Reads a body of at most `cap` bytes; `Ok(None)` when it declares or
/// turns out to be larger. It stops at the first chunk past the cap, so
/// at most `cap` plus one chunk is ever held.
pub(crate) async fn read_capped<C: Chunks>(
    body: &mut C,
    cap: usize,
) -> Result<Option<Vec<u8>>, C::Error> {
    let declared = body.declared_len();
    if declared.is_some_and(|len| len > cap as u64) {
        return Ok(None);
    }
    let mut read = Vec::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(chunk) = body.next_chunk().await? {
        if read.len() + chunk.len() > cap {
            return Ok(None);
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Some(read))
}

/// Sends `request` and reads the whole answer, at most
/// [`MAX_ANSWER_BYTES`], within `limit`. Dropping the future (the engine's
/// deadline) drops the connection with it, so nothing is left running; so
/// does an answer over the cap.
pub(crate) async fn exchange(request: RequestBuilder, limit: Duration) -> Result<Answer, Failure> {
    let exchange = async {
        let mut response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(&mut response, MAX_ANSWER_BYTES).await?;
        Ok::<_, reqwest::Error>(body.map(|body| Answer {
            status,
            headers,
            body,
        }))
    };
    match tokio::time::timeout(limit, exchange).await {
        Err(_) => Err(Failure::TimedOut(limit)),
        Ok(Ok(Some(answer))) => Ok(answer),
        Ok(Ok(None)) => Err(Failure::TooLarge {
            cap: MAX_ANSWER_BYTES,
        }),
        Ok(Err(error)) if error.is_connect() => Err(Failure::NotSent(root_cause(&error))),
        Ok(Err(error)) if error.is_timeout() => Err(Failure::TimedOut(limit)),
        Ok(Err(error)) => Err(Failure::Lost(root_cause(&error))),
    }
}

/// The innermost cause of a transport error ("Connection refused (os
/// error 111)"), without the URL, which may carry a signed query.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl Answer {
    pub fn bytes(&self) -> &[u8] {
        &self.body
    }

    /// The start of the body for a message: one line, at most 80
    /// characters, any secret masked.
    pub(crate) fn snippet(&self, secrets: &[&Secret]) -> String {
        snippet(self.bytes(), secrets)
    }

    /// `Retry-After` in stream milliseconds (seconds or an HTTP date).
    pub fn retry_after_ms(&self, clock: &StreamClock) -> Option<u64> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        let real = match value.parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            Err(_) => {
                let at = DateTime::parse_from_rfc2822(value).ok()?;
                let now = clock.wall_at(clock.now_ms());
                (at.with_timezone(&Utc) - now).to_std().unwrap_or_default()
            }
        };
        Some(clock.stream_ms_for(real))
    }
}

/// See [`Answer::snippet`].
pub(crate) fn snippet(body: &[u8], secrets: &[&Secret]) -> String {
    let mut text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for secret in secrets {
        if secret.appears_in(&text) {
            text = text.replace(secret.expose(), "[redacted]");
        }
    }
    let text = text.trim();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("'{}…'", &text[..cut]),
        None => format!("'{text}'"),
    }
}

/// An ISO 8601 time as a venue writes it: with a zone (`Z`, `+01:00`) or
/// without one, which means UTC.
pub(crate) fn parse_venue_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// A UUID-shaped id (version 4 layout) derived from one of our ids, for
/// venues that want a UUID: the same id always gives the same UUID, so a
/// venue that deduplicates on it sees a retry as the same request.
pub(crate) fn uuid_from(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// A decimal as a venue wants it: exact, without trailing zeros.
pub(crate) fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn uuids_are_version_4_shaped_and_stable() {
        let id = uuid_from("k7m2q-1042");
        assert_eq!(id, uuid_from("k7m2q-1042"));
        assert_ne!(id, uuid_from("k7m2q-1043"));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }

    #[test]
    fn venue_times_with_and_without_a_zone() {
        let utc = |text: &str| parse_venue_time(text).map(|at| at.to_rfc3339());
        assert_eq!(
            utc("2025-01-19T14:30:25.123456"),
            Some("2025-01-19T14:30:25.123456+00:00".into())
        );
        assert_eq!(
            utc("2025-01-19T14:30:25Z"),
            Some("2025-01-19T14:30:25+00:00".into())
        );
        assert_eq!(
            utc("2025-01-19T15:30:25.5+01:00"),
            Some("2025-01-19T14:30:25.500+00:00".into())
        );
        assert_eq!(utc("yesterday"), None);
    }

    #[test]
    fn snippets_are_short_single_lines_without_secrets() {
        let token = Secret::new("tok-123");
        assert_eq!(
            snippet(b"bad\ntok-123 here", &[&token]),
            "'bad [redacted] here'"
        );
        let long = "x".repeat(100);
        assert_eq!(
            snippet(long.as_bytes(), &[]),
            format!("'{}…'", "x".repeat(80))
        );
    }

    /// A body of `chunks` chunks of 64 KB, counting what was pulled.
    struct Endless {
        declared: Option<u64>,
        chunks: usize,
        pulled: usize,
    }

    impl Chunks for Endless {
        type Error = std::convert::Infallible;

        fn declared_len(&self) -> Option<u64> {
            self.declared
        }

        async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error> {
            if self.pulled == self.chunks {
                return Ok(None);
            }
            self.pulled += 1;
            Ok(Some(vec![b'x'; 64 * 1024]))
        }
    }

    #[rstest::rstest]
    // 5 MB declared: refused before a byte of it is read.
    #[case::declared_too_large(Some(5 * 1024 * 1024), 80, None, 0)]
    // Undeclared (chunked) or declared small but longer: the 17th chunk
    // passes the cap and is the last pulled.
    #[case::undeclared(None, 80, None, 17)]
    #[case::longer_than_declared(Some(1000), 80, None, 17)]
    #[case::endless(None, usize::MAX, None, 17)]
    #[case::exactly_the_cap(None, 16, Some(1024 * 1024), 16)]
    #[tokio::test]
    async fn a_body_over_the_cap_is_never_read_whole(
        #[case] declared: Option<u64>,
        #[case] chunks: usize,
        #[case] read: Option<usize>,
        #[case] pulled: usize,
    ) {
        let mut body = Endless {
            declared,
            chunks,
            pulled: 0,
        };
        let answer = read_capped(&mut body, MAX_ANSWER_BYTES).await.unwrap();
        assert_eq!(answer.map(|body| body.len()), read);
        assert_eq!(body.pulled, pulled);
        assert_eq!(
            Failure::TooLarge {
                cap: MAX_ANSWER_BYTES
            }
            .quote_error(),
            crate::lp::LpError::Malformed("answer larger than the 1 MB cap, not read".into())
        );
    }

    #[test]
    fn decimals_are_sent_exactly() {
        assert_eq!(decimal_text(dec!(1.5000)), "1.5");
        assert_eq!(decimal_text(dec!(100)), "100");
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
