//! Binance Convert as an LP (after Binance's public SAPI docs): a firm
//! quote from `POST /sapi/v1/convert/getQuote`, accepted with `POST
//! /sapi/v1/convert/acceptQuote`, whose outcome is then read from `GET
//! /sapi/v1/convert/orderStatus` until it settles. Every request is
//! signed: `signature = hex(HMAC-SHA256(secret, totalParams))` over the
//! exact bytes sent, with the key in `X-MBX-APIKEY`.
//!
//! Direction: a client BUY of BTCUSDT makes the desk buy BTC, so it
//! converts from USDT to BTC for `toAmount` = the BTC amount; a SELL
//! converts from BTC for `fromAmount`. A request in the quote currency
//! names the other end: a BUY of BTC for 1,000,000 USDT is `fromAmount` =
//! 1000000 (USDT), a SELL of BTC for 1,000,000 USDT is `toAmount`; the
//! base amounts Binance answers with are the quote's quantity either way. Binance's `ratio` is to/from, so the
//! price in quote currency per base unit is `inverseRatio` when the desk
//! buys base and `ratio` when it sells.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use sha2::Sha256;

use crate::clock::StreamClock;
use crate::lp::adapter::{AdapterError, AdapterTimeouts};
use crate::lp::http::{self, decimal_text, exchange, hex, Answer, Failure};
use crate::lp::{
    LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, OrderLookup, OrderRefusal,
};
use crate::market::{Leg, Pair, Side};
use crate::secret::Secret;

/// Binance's error code for an order it does not have (`NO_SUCH_ORDER`,
/// "Order does not exist.").
const NO_SUCH_ORDER: i64 = -2013;

/// How often an order's status is asked while it is being processed, in
/// stream time.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// One Binance Convert account, shared by every stream that asks it.
pub struct BinanceConvertLp {
    name: Arc<str>,
    /// Base URL without a trailing slash.
    url: String,
    /// The API key, marked sensitive.
    key_header: HeaderValue,
    /// Kept only to mask it should the venue ever echo it back.
    key: Secret,
    secret: Secret,
    recv_window_ms: Option<u64>,
    client: Client,
    timeouts: AdapterTimeouts,
}

impl fmt::Debug for BinanceConvertLp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BinanceConvertLp")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("key", &self.key)
            .field("secret", &self.secret)
            .field("recv_window_ms", &self.recv_window_ms)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

/// `hex(HMAC-SHA256(secret, total_params))`, Binance's request signature.
pub(crate) fn sign(secret: &Secret, total_params: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(total_params.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// A parameter value as sent: unreserved characters as they are, the rest
/// percent-encoded (asset codes, decimals and ids never need it, but the
/// signature must cover exactly what is sent either way).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl BinanceConvertLp {
    /// An adapter for the account at `url` (e.g. `https://api.binance.com`).
    pub fn new(
        name: &str,
        url: &str,
        key: Secret,
        secret: Secret,
        recv_window_ms: Option<u64>,
        timeouts: AdapterTimeouts,
    ) -> Result<BinanceConvertLp, AdapterError> {
        Ok(BinanceConvertLp {
            name: Arc::from(name),
            url: http::base_url(name, url)?,
            key_header: http::secret_header(name, "API key", key.expose().to_string())?,
            key,
            secret,
            recv_window_ms,
            client: http::client(name, timeouts)?,
            timeouts,
        })
    }

    /// `params` with `recvWindow`, `timestamp` and the signature over all
    /// of them appended: the exact text to send.
    fn signed(&self, params: &[(&str, &str)], clock: &StreamClock) -> String {
        let mut text = String::new();
        let recv_window = self.recv_window_ms.map(|ms| ms.to_string());
        let timestamp = clock.wall_now().timestamp_millis().to_string();
        let extra = recv_window
            .as_deref()
            .map(|ms| ("recvWindow", ms))
            .into_iter()
            .chain([("timestamp", timestamp.as_str())]);
        for (key, value) in params.iter().copied().chain(extra) {
            if !text.is_empty() {
                text.push('&');
            }
            text.push_str(key);
            text.push('=');
            text.push_str(&encode(value));
        }
        let signature = sign(&self.secret, &text);
        text.push_str("&signature=");
        text.push_str(&signature);
        text
    }

    /// A signed POST with every parameter in the form body (so the body
    /// alone is Binance's totalParams).
    fn post(&self, path: &str, params: &[(&str, &str)], clock: &StreamClock) -> RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .header("X-MBX-APIKEY", self.key_header.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(self.signed(params, clock))
    }

    /// A signed GET with every parameter in the query string.
    fn get(&self, path: &str, params: &[(&str, &str)], clock: &StreamClock) -> RequestBuilder {
        self.client
            .get(format!("{}{path}?{}", self.url, self.signed(params, clock)))
            .header("X-MBX-APIKEY", self.key_header.clone())
    }

    fn snippet(&self, answer: &Answer) -> String {
        answer.snippet(&[&self.key, &self.secret])
    }

    /// Why the venue said no, by cause.
    fn refusal(&self, answer: &Answer, clock: &StreamClock) -> Refusal {
        let status = answer.status;
        let error = serde_json::from_slice::<BinanceError>(answer.bytes()).ok();
        let text = match &error {
            Some(error) => format!("error {}: {}", error.code, error.msg),
            None => format!("HTTP {}: {}", status.as_u16(), self.snippet(answer)),
        };
        let code = error.as_ref().map(|error| error.code);
        match (status, code) {
            // 429: slow down; 418: banned for having gone on after a 429.
            (StatusCode::TOO_MANY_REQUESTS | StatusCode::IM_A_TEAPOT, _)
            | (_, Some(-1003 | -1015)) => Refusal::RateLimited(answer.retry_after_ms(clock)),
            // Bad API key format, key/IP/permissions, bad signature.
            (StatusCode::UNAUTHORIZED, _) | (_, Some(-2014 | -2015 | -1022)) => Refusal::Auth(text),
            // Our timestamp is outside recvWindow: a clock problem, not a key one.
            (_, Some(-1021)) => Refusal::Clock(text),
            (StatusCode::FORBIDDEN, _) => Refusal::Firewall(format!(
                "HTTP 403 (request refused by Binance's firewall): {text}"
            )),
            (s, _) if s.is_server_error() => Refusal::Server(match code {
                Some(_) => format!("HTTP {}: {text}", s.as_u16()),
                None => text,
            }),
            (s, Some(_)) if s.is_client_error() => Refusal::Business(text),
            (s, _) => Refusal::Unreadable(format!(
                "HTTP {} with an unreadable body {}",
                s.as_u16(),
                self.snippet(answer)
            )),
        }
    }

    fn read_quote(&self, request: &LpRequest, answer: &Answer) -> Result<LpQuote, LpError> {
        let quote: QuoteAnswer = serde_json::from_slice(answer.bytes()).map_err(|error| {
            LpError::Malformed(format!(
                "unreadable quote ({error}): {}",
                self.snippet(answer)
            ))
        })?;
        let valid_until = Utc
            .timestamp_millis_opt(quote.valid_timestamp)
            .single()
            .ok_or_else(|| {
                LpError::Malformed(format!(
                    "validTimestamp {} is not a time",
                    quote.valid_timestamp
                ))
            })?;
        let (ratio, quantity) = match request.side {
            Side::Buy => (quote.inverse_ratio, quote.to_amount),
            Side::Sell => (quote.ratio, quote.from_amount),
        };
        // Binance's ratios carry more decimals than the pair's tick; the
        // desk prices on the tick, rounded against itself (a BUY up, a
        // SELL down), so the client's price never leans on a fraction the
        // desk does not get.
        let price = crate::market::round_for_desk(request.side, ratio, request.pair.price_dp);
        Ok(LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price,
            quantity,
            valid_until_ms: request.clock.stream_ms_at(valid_until),
            venue_ref: Some(Arc::from(quote.quote_id)),
        })
    }

    /// Asks for the status of the order named by `key` until it settles or
    /// stream time reaches `deadline_ms`. Only ever reads: an order whose
    /// fate is not learned in time is unknown, never accepted again.
    async fn settle(
        &self,
        order: &LpOrder,
        key: (&str, &str),
        deadline_ms: u64,
        mut last: String,
    ) -> OrderAnswer {
        let clock = &order.clock;
        loop {
            let now = clock.now_ms();
            if now >= deadline_ms {
                return OrderAnswer::Unknown {
                    reason: format!(
                        "outcome not learned within {} ms ({key_name} {key_value}: {last})",
                        self.timeouts.order.as_millis(),
                        key_name = key.0,
                        key_value = key.1,
                    ),
                };
            }
            let remaining = clock.real_duration(Duration::from_millis(deadline_ms - now));
            let call = self.get("/sapi/v1/convert/orderStatus", &[key], clock);
            let mut wait = POLL_EVERY;
            match exchange(call, remaining).await {
                Ok(answer) if answer.status.is_success() => {
                    match serde_json::from_slice::<StatusAnswer>(answer.bytes()) {
                        Ok(status) => match status.order_status.as_str() {
                            "SUCCESS" => return self.filled(order.side, order.pair, status),
                            "FAIL" => {
                                return OrderAnswer::Rejected {
                                    reason: format!("order {} failed", status.order_id),
                                }
                            }
                            // PROCESS, ACCEPT_SUCCESS: still being worked on.
                            other => last = format!("status {other}"),
                        },
                        Err(error) => {
                            last = format!("unreadable status ({error}): {}", self.snippet(&answer))
                        }
                    }
                }
                Ok(answer) => match self.refusal(&answer, clock) {
                    Refusal::RateLimited(retry_after_ms) => {
                        last = LpError::RateLimited { retry_after_ms }.to_string();
                        wait = wait.max(Duration::from_millis(retry_after_ms.unwrap_or(0)));
                    }
                    refusal => last = refusal.text(),
                },
                Err(failure) => last = failure.describe(),
            }
            let now = clock.now_ms();
            let wait_ms = (wait.as_millis() as u64).min(deadline_ms.saturating_sub(now));
            clock.sleep(Duration::from_millis(wait_ms)).await;
        }
    }

    fn filled(&self, side: Side, pair: Pair, status: StatusAnswer) -> OrderAnswer {
        let (price, quantity, bought) = match side {
            Side::Buy => (status.inverse_ratio, status.to_amount, &status.to_asset),
            Side::Sell => (status.ratio, status.from_amount, &status.from_asset),
        };
        if bought
            .as_deref()
            .is_some_and(|asset| asset != pair.base.as_str())
        {
            return OrderAnswer::Unknown {
                reason: format!(
                    "order {} settled in {} {} → {} {}, not in {}",
                    status.order_id,
                    status.from_amount.unwrap_or_default(),
                    status.from_asset.as_deref().unwrap_or("?"),
                    status.to_amount.unwrap_or_default(),
                    status.to_asset.as_deref().unwrap_or("?"),
                    pair.base,
                ),
            };
        }
        match (price, quantity) {
            (Some(price), Some(quantity)) => OrderAnswer::Filled {
                price,
                quantity,
                venue_order_id: Some(Arc::from(status.order_id)),
            },
            _ => OrderAnswer::Unknown {
                reason: format!(
                    "order {} succeeded without its ratio or amounts",
                    status.order_id
                ),
            },
        }
    }
}

/// A refusal by cause; quotes and orders map it differently.
enum Refusal {
    RateLimited(Option<u64>),
    Auth(String),
    Clock(String),
    Firewall(String),
    /// A 4xx Binance explained: amount too small, balance, quote expired...
    Business(String),
    Server(String),
    Unreadable(String),
}

impl Refusal {
    fn text(self) -> String {
        match self {
            Refusal::RateLimited(retry_after_ms) => {
                LpError::RateLimited { retry_after_ms }.to_string()
            }
            Refusal::Auth(text) => format!("authentication failed: {text}"),
            Refusal::Clock(text)
            | Refusal::Firewall(text)
            | Refusal::Business(text)
            | Refusal::Server(text)
            | Refusal::Unreadable(text) => text,
        }
    }
}

#[derive(Deserialize)]
struct BinanceError {
    code: i64,
    msg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuoteAnswer {
    quote_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    ratio: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    inverse_ratio: Decimal,
    valid_timestamp: i64,
    #[serde(with = "rust_decimal::serde::str")]
    to_amount: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    from_amount: Decimal,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcceptAnswer {
    #[serde(deserialize_with = "id_text")]
    order_id: String,
    order_status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusAnswer {
    #[serde(deserialize_with = "id_text")]
    order_id: String,
    order_status: String,
    from_asset: Option<String>,
    to_asset: Option<String>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    from_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    to_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    ratio: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    inverse_ratio: Option<Decimal>,
}

/// An id Binance may write as a string or as a number.
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "an id must be a string or a number, not {other}"
        ))),
    }
}

#[async_trait]
impl LiquidityProvider for BinanceConvertLp {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout_ms(&self) -> Option<u64> {
        Some(self.timeouts.quote_ms())
    }

    fn order_timeout_ms(&self) -> Option<u64> {
        Some(self.timeouts.engine_order_wait_ms())
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn order_lookup(&self) -> Option<&'static str> {
        Some("GET /sapi/v1/convert/orderStatus")
    }

    /// Asked once, by the venue's orderId when an answer gave it, else by
    /// the quoteId the order accepted. Binance settles a Convert order in
    /// moments, so one still being processed (or a refusal) stays unknown.
    /// Asked by quoteId at a start, Binance's "no such order" (-2013) is
    /// proof it never traded: the quote was never accepted, and has long
    /// expired, so it never can be.
    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        let key = match (&order.venue_order_id, &order.venue_ref) {
            (Some(order_id), _) => ("orderId", order_id.as_ref()),
            (None, Some(quote_id)) => ("quoteId", quote_id.as_ref()),
            (None, None) => {
                return OrderAnswer::Unknown {
                    reason: "not asked: the order names neither an orderId nor a quoteId"
                        .to_string(),
                }
            }
        };
        let clock = StreamClock::start();
        let call = self.get("/sapi/v1/convert/orderStatus", &[key], &clock);
        let not_learned = |why: String| OrderAnswer::Unknown {
            reason: format!("status of {} {} not learned: {why}", key.0, key.1),
        };
        let answer = match exchange(call, self.timeouts.quote).await {
            Ok(answer) => answer,
            Err(failure) => return not_learned(failure.describe()),
        };
        if !answer.status.is_success() {
            if let (("quoteId", quote_id), Some(error)) = (
                key,
                serde_json::from_slice::<BinanceError>(answer.bytes()).ok(),
            ) {
                if error.code == NO_SUCH_ORDER {
                    return OrderAnswer::Rejected {
                        reason: format!(
                            "not executed: Binance has no order for quoteId {quote_id} (error {}: {})",
                            error.code, error.msg
                        ),
                    };
                }
            }
            return not_learned(self.refusal(&answer, &clock).text());
        }
        match serde_json::from_slice::<StatusAnswer>(answer.bytes()) {
            Ok(status) => match status.order_status.as_str() {
                "SUCCESS" => self.filled(order.side, order.pair, status),
                "FAIL" => OrderAnswer::Rejected {
                    reason: format!("order {} failed", status.order_id),
                },
                other => not_learned(format!("status {other}")),
            },
            Err(error) => not_learned(format!(
                "unreadable status ({error}): {}",
                self.snippet(&answer)
            )),
        }
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let base = request.pair.base.as_str();
        let quote = request.pair.quote.as_str();
        let amount = decimal_text(request.amount);
        // The fixed leg decides which end of the conversion is named: the
        // base the desk buys (`toAmount`) or sells (`fromAmount`), or the
        // quote currency it pays (`fromAmount`) or receives (`toAmount`).
        let fixed_end = match (request.side, request.fixed) {
            (Side::Buy, Leg::Base) | (Side::Sell, Leg::Quote) => "toAmount",
            (Side::Sell, Leg::Base) | (Side::Buy, Leg::Quote) => "fromAmount",
        };
        let params = match request.side {
            Side::Buy => [
                ("fromAsset", quote),
                ("toAsset", base),
                (fixed_end, amount.as_str()),
            ],
            Side::Sell => [
                ("fromAsset", base),
                ("toAsset", quote),
                (fixed_end, amount.as_str()),
            ],
        };
        let call = self.post("/sapi/v1/convert/getQuote", &params, &request.clock);
        let answer = exchange(call, self.timeouts.quote)
            .await
            .map_err(|failure| failure.quote_error())?;
        tracing::debug!(lp = %self.name, status = answer.status.as_u16(), "Binance quote answered");
        if answer.status.is_success() {
            return self.read_quote(request, &answer);
        }
        Err(match self.refusal(&answer, &request.clock) {
            Refusal::RateLimited(retry_after_ms) => LpError::RateLimited { retry_after_ms },
            Refusal::Auth(text) => LpError::Auth(text),
            Refusal::Business(text) => LpError::Declined(text),
            Refusal::Clock(text) | Refusal::Firewall(text) | Refusal::Server(text) => {
                LpError::Unavailable(text)
            }
            Refusal::Unreadable(text) => LpError::Malformed(text),
        })
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let Some(quote_id) = order.venue_ref.as_deref() else {
            return OrderAnswer::Refused {
                reason: "not sent: the quote carries no Binance quoteId".to_string(),
                refusal: OrderRefusal::NotSent,
            };
        };
        let clock = &order.clock;
        let deadline_ms = clock.now_ms() + clock.stream_ms_for(self.timeouts.order);
        let call = self.post(
            "/sapi/v1/convert/acceptQuote",
            &[("quoteId", quote_id)],
            clock,
        );
        // The quote is accepted once, whatever happens next. An accept
        // answers as fast as a quote; when its answer is late or lost the
        // order's fate is read by quoteId for the rest of the order time.
        let accept_limit = self.timeouts.quote.min(self.timeouts.order);
        let lost = match exchange(call, accept_limit).await {
            Err(Failure::NotSent(reason)) => {
                return OrderAnswer::Refused {
                    reason: format!("not sent: cannot connect: {reason}"),
                    refusal: OrderRefusal::NotSent,
                }
            }
            Err(failure) => failure.describe(),
            Ok(answer) if answer.status.is_success() => {
                match serde_json::from_slice::<AcceptAnswer>(answer.bytes()) {
                    Ok(accepted) if accepted.order_status == "FAIL" => {
                        return OrderAnswer::Rejected {
                            reason: format!("order {} failed", accepted.order_id),
                        }
                    }
                    Ok(accepted) => {
                        let last = format!("status {}", accepted.order_status);
                        return self
                            .settle(order, ("orderId", &accepted.order_id), deadline_ms, last)
                            .await;
                    }
                    Err(error) => {
                        format!(
                            "unreadable accept answer ({error}): {}",
                            self.snippet(&answer)
                        )
                    }
                }
            }
            Ok(answer) => match self.refusal(&answer, clock) {
                // Refused before it was acted on: nothing traded.
                // Turned away before any dealing: not the LP's last look.
                refusal @ (Refusal::RateLimited(_)
                | Refusal::Auth(_)
                | Refusal::Clock(_)
                | Refusal::Firewall(_)) => {
                    let kind = match refusal {
                        Refusal::RateLimited(retry_after_ms) => {
                            OrderRefusal::RateLimited { retry_after_ms }
                        }
                        Refusal::Auth(_) => OrderRefusal::Auth,
                        _ => OrderRefusal::NotSent,
                    };
                    return OrderAnswer::Refused {
                        reason: refusal.text(),
                        refusal: kind,
                    };
                }
                refusal @ Refusal::Business(_) => {
                    return OrderAnswer::Rejected {
                        reason: refusal.text(),
                    }
                }
                // Binance: a 5xx leaves the execution status unknown.
                refusal @ (Refusal::Server(_) | Refusal::Unreadable(_)) => refusal.text(),
            },
        };
        tracing::debug!(lp = %self.name, reason = %lost, "Binance accept answer lost; reading status by quoteId");
        self.settle(order, ("quoteId", quote_id), deadline_ms, lost)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signer_matches_binances_published_example() {
        let secret =
            Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j");
        assert_eq!(
            sign(
                &secret,
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
            ),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn values_are_percent_encoded_only_where_needed() {
        assert_eq!(encode("BTC"), "BTC");
        assert_eq!(encode("1.5"), "1.5");
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[tokio::test(start_paused = true)]
    async fn signed_parameters_end_with_recv_window_timestamp_and_signature() {
        let lp = BinanceConvertLp::new(
            "Bn",
            "https://api.binance.com",
            Secret::new("key"),
            Secret::new("secret"),
            Some(5000),
            AdapterTimeouts {
                quote: Duration::from_millis(800),
                order: Duration::from_secs(5),
            },
        )
        .unwrap();
        let clock = StreamClock::start();
        let text = lp.signed(&[("quoteId", "q1")], &clock);
        let timestamp = clock.wall_now().timestamp_millis();
        let unsigned = format!("quoteId=q1&recvWindow=5000&timestamp={timestamp}");
        assert_eq!(
            text,
            format!(
                "{unsigned}&signature={}",
                sign(&Secret::new("secret"), &unsigned)
            )
        );
        let printed = format!("{lp:?}");
        assert!(
            !printed.contains("\"key\"") && !printed.contains("\"secret\""),
            "{printed}"
        );
    }
}
