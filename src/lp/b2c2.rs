//! A B2C2-style REST RFQ venue (after B2C2's public API docs): a firm
//! quote from `POST /request_for_quote/`, an order against it with
//! `POST /order/` (fill-or-kill at the quoted price), and the venue's
//! answers and errors mapped by cause to the LP contract.
//!
//! Wire facts this adapter relies on: `Authorization: Token <token>`;
//! decimals travel as strings; `valid_until` is ISO 8601 with or without
//! a zone (without means UTC); quantities have at most 4 decimals; a FOK
//! order that did not trade is HTTP 200 with `executed_price: null` and no
//! trades; errors are `{"errors":[{"code":N,"message":"..."}]}` with a 4xx;
//! `GET /order/<client_order_id>/` answers an order as `POST /order/` did,
//! or 404 when the venue never saw it.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Client, StatusCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::StreamClock;
use crate::lp::adapter::{AdapterError, AdapterTimeouts};
use crate::lp::http::{self, decimal_text, exchange, parse_venue_time, uuid_from, Answer, Failure};
use crate::lp::{
    ClientOrderIds, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
    OrderLookup, OrderRefusal,
};
use crate::secret::Secret;

/// Most decimals B2C2 accepts in a quantity.
const MAX_QUANTITY_DECIMALS: u32 = 4;

/// One B2C2-style venue, shared by every stream that asks it.
pub struct B2c2Lp {
    name: Arc<str>,
    /// Base URL without a trailing slash.
    url: String,
    /// How the venue spells a pair, e.g. `{base}{quote}.SPOT`.
    symbol: String,
    /// `Token <token>`, marked sensitive.
    auth: HeaderValue,
    /// Kept only to mask it should a venue ever echo it back.
    token: Secret,
    client: Client,
    timeouts: AdapterTimeouts,
}

impl fmt::Debug for B2c2Lp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("B2c2Lp")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("symbol", &self.symbol)
            .field("token", &self.token)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

impl B2c2Lp {
    /// An adapter for the venue at `url` (e.g. `https://api.uat.b2c2.net`),
    /// spelling pairs with `symbol` (see `crate::market::Pair::venue_symbol`).
    pub fn new(
        name: &str,
        url: &str,
        token: Secret,
        symbol: &str,
        timeouts: AdapterTimeouts,
    ) -> Result<B2c2Lp, AdapterError> {
        Ok(B2c2Lp {
            name: Arc::from(name),
            url: http::base_url(name, url)?,
            symbol: http::symbol_template(name, symbol)?,
            auth: http::secret_header(name, "token", format!("Token {}", token.expose()))?,
            token,
            client: http::client(name, timeouts)?,
            timeouts,
        })
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .header(AUTHORIZATION, self.auth.clone())
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .header(AUTHORIZATION, self.auth.clone())
    }

    /// Asks the venue for the order it knows by `client_order_id`: the
    /// order as `POST /order/` answered it, or `Err` with why it cannot
    /// say (`Ok(None)`: a 404, the venue has no such order).
    async fn order_by_id(
        &self,
        client_order_id: &str,
        clock: &StreamClock,
    ) -> Result<Option<OrderAnswer>, String> {
        let call = self.get(&format!("/order/{client_order_id}/"));
        let answer = exchange(call, self.timeouts.quote)
            .await
            .map_err(|failure| failure.describe())?;
        tracing::debug!(lp = %self.name, status = answer.status.as_u16(), "B2C2 order status answered");
        if answer.status.is_success() {
            return Ok(Some(self.read_order(client_order_id, &answer)));
        }
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Err(match self.refusal(&answer, clock) {
            Refusal::RateLimited(retry_after_ms) => {
                LpError::RateLimited { retry_after_ms }.to_string()
            }
            Refusal::Auth(reason) => format!("authentication failed: {reason}"),
            Refusal::Business(reason) | Refusal::Server(reason) | Refusal::Unreadable(reason) => {
                reason
            }
        })
    }

    /// Why the venue said no, by cause.
    fn refusal(&self, answer: &Answer, clock: &StreamClock) -> Refusal {
        let status = answer.status;
        let detail = || match serde_json::from_slice::<ErrorsBody>(answer.bytes()) {
            Ok(body) if !body.errors.is_empty() => Some(body.describe()),
            _ => None,
        };
        let shown = || {
            detail().unwrap_or_else(|| {
                format!(
                    "HTTP {}: {}",
                    status.as_u16(),
                    answer.snippet(&[&self.token])
                )
            })
        };
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Refusal::Auth(shown()),
            StatusCode::TOO_MANY_REQUESTS => Refusal::RateLimited(answer.retry_after_ms(clock)),
            s if s.is_server_error() => {
                // The status says what kind of trouble; the body, if
                // readable, says which.
                Refusal::Server(match detail() {
                    Some(detail) => format!("HTTP {}: {detail}", s.as_u16()),
                    None => shown(),
                })
            }
            s if s.is_client_error() => match detail() {
                Some(detail) => Refusal::Business(detail),
                None => Refusal::Unreadable(format!(
                    "HTTP {} with an unreadable body {}",
                    s.as_u16(),
                    answer.snippet(&[&self.token])
                )),
            },
            s => Refusal::Unreadable(format!(
                "unexpected HTTP {}: {}",
                s.as_u16(),
                answer.snippet(&[&self.token])
            )),
        }
    }

    fn read_quote(
        &self,
        request: &LpRequest,
        instrument: &str,
        client_rfq_id: &str,
        answer: &Answer,
    ) -> Result<LpQuote, LpError> {
        let quote: RfqAnswer = serde_json::from_slice(answer.bytes()).map_err(|error| {
            LpError::Malformed(format!(
                "unreadable quote ({error}): {}",
                answer.snippet(&[&self.token])
            ))
        })?;
        if quote.client_rfq_id != client_rfq_id {
            return Err(LpError::Malformed(format!(
                "quote answers client_rfq_id '{}', not '{client_rfq_id}'",
                quote.client_rfq_id
            )));
        }
        if quote.side != request.side.as_str() || quote.instrument != instrument {
            return Err(LpError::Malformed(format!(
                "quote is for {} {}, not {} {instrument}",
                quote.side, quote.instrument, request.side
            )));
        }
        let valid_until = parse_venue_time(&quote.valid_until).ok_or_else(|| {
            LpError::Malformed(format!(
                "valid_until '{}' is not an ISO 8601 time",
                quote.valid_until
            ))
        })?;
        Ok(LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: quote.price,
            quantity: quote.quantity,
            valid_until_ms: request.clock.stream_ms_at(valid_until),
            venue_ref: Some(Arc::from(quote.rfq_id)),
        })
    }

    fn read_order(&self, client_order_id: &str, answer: &Answer) -> OrderAnswer {
        let body: OrderBody = match serde_json::from_slice(answer.bytes()) {
            Ok(body) => body,
            Err(error) => {
                return OrderAnswer::Unknown {
                    reason: format!(
                        "unreadable order answer ({error}): {}",
                        answer.snippet(&[&self.token])
                    ),
                }
            }
        };
        if body
            .client_order_id
            .as_deref()
            .is_some_and(|echoed| echoed != client_order_id)
        {
            return OrderAnswer::Unknown {
                reason: format!(
                    "order answer names client_order_id '{}', not '{client_order_id}'",
                    body.client_order_id.unwrap_or_default()
                ),
            };
        }
        match (body.executed_price, body.trades.is_empty()) {
            (Some(price), _) => OrderAnswer::Filled {
                price,
                quantity: body.quantity,
                venue_order_id: Some(Arc::from(body.order_id)),
            },
            (None, true) => OrderAnswer::Rejected {
                reason: format!("not filled (order {}: executed_price null)", body.order_id),
            },
            (None, false) => OrderAnswer::Unknown {
                reason: format!("order {} has trades but no executed_price", body.order_id),
            },
        }
    }
}

/// A refusal by cause; quotes and orders map it differently.
enum Refusal {
    Auth(String),
    RateLimited(Option<u64>),
    /// A 4xx the venue explained: instrument not allowed, size limits...
    Business(String),
    Server(String),
    Unreadable(String),
}

/// More decimals than B2C2 takes: said, never rounded away.
fn too_precise(amount: Decimal) -> Option<String> {
    let exact = amount.normalize();
    (exact.scale() > MAX_QUANTITY_DECIMALS).then(|| {
        format!(
            "quantity {exact} has {} decimals: B2C2 takes at most 4 decimals",
            exact.scale()
        )
    })
}

#[derive(Serialize)]
struct RfqRequest<'a> {
    instrument: &'a str,
    side: &'static str,
    quantity: String,
    client_rfq_id: &'a str,
}

#[derive(Deserialize)]
struct RfqAnswer {
    valid_until: String,
    rfq_id: String,
    client_rfq_id: String,
    #[serde(with = "rust_decimal::serde::str")]
    quantity: Decimal,
    side: String,
    instrument: String,
    #[serde(with = "rust_decimal::serde::str")]
    price: Decimal,
}

#[derive(Serialize)]
struct OrderRequest<'a> {
    instrument: &'a str,
    side: &'static str,
    quantity: String,
    client_order_id: &'a str,
    price: String,
    order_type: &'static str,
    valid_until: String,
}

#[derive(Deserialize)]
struct OrderBody {
    order_id: String,
    client_order_id: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    executed_price: Option<Decimal>,
    trades: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorsBody {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<i64>,
    message: Option<String>,
    field: Option<String>,
}

impl ErrorsBody {
    /// "error 1001: Instrument not allowed", several joined with "; ".
    fn describe(&self) -> String {
        self.errors
            .iter()
            .map(|error| {
                let mut text = match error.code {
                    Some(code) => format!("error {code}"),
                    None => "error".to_string(),
                };
                if let Some(field) = &error.field {
                    text.push_str(&format!(" ({field})"));
                }
                text.push_str(": ");
                text.push_str(error.message.as_deref().unwrap_or("no message"));
                text
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[async_trait]
impl LiquidityProvider for B2c2Lp {
    fn name(&self) -> &str {
        &self.name
    }

    fn timeout_ms(&self) -> Option<u64> {
        Some(self.timeouts.quote_ms())
    }

    /// The order's own time, then one status look-up (as long as a
    /// quote may take), then the engine's grace.
    fn order_timeout_ms(&self) -> Option<u64> {
        Some(self.timeouts.engine_order_wait_ms() + self.timeouts.quote_ms())
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn client_order_ids(&self) -> ClientOrderIds {
        ClientOrderIds::UuidOfOrderId
    }

    fn order_lookup(&self) -> Option<&'static str> {
        Some("GET /order/<client_order_id>/")
    }

    /// A 404 means the venue never saw the order: with the order long
    /// past its `valid_until` (a FOK order cannot trade after it), that is
    /// "not executed".
    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        let client_order_id = match &order.client_order_id {
            Some(id) => id.to_string(),
            None => uuid_from(&order.order_id),
        };
        let clock = StreamClock::start();
        match self.order_by_id(&client_order_id, &clock).await {
            Ok(Some(answer)) => answer,
            Ok(None) => OrderAnswer::Rejected {
                reason: format!(
                    "not executed: the venue has no order with client_order_id '{client_order_id}' (HTTP 404)"
                ),
            },
            Err(reason) => OrderAnswer::Unknown {
                reason: format!("status of client_order_id '{client_order_id}' not learned: {reason}"),
            },
        }
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        // B2C2's RFQ `quantity` is in the base currency: it has no way to
        // be asked for an amount of the quote currency.
        request.base_only(&self.name)?;
        if let Some(reason) = too_precise(request.amount) {
            return Err(LpError::Declined(reason));
        }
        let instrument = request.pair.venue_symbol(&self.symbol);
        let client_rfq_id = uuid_from(&request.key());
        let call = self.post("/request_for_quote/").json(&RfqRequest {
            instrument: &instrument,
            side: request.side.as_str(),
            quantity: decimal_text(request.amount),
            client_rfq_id: &client_rfq_id,
        });
        let answer = exchange(call, self.timeouts.quote)
            .await
            .map_err(|failure| failure.quote_error())?;
        tracing::debug!(lp = %self.name, status = answer.status.as_u16(), "B2C2 quote answered");
        if answer.status.is_success() {
            return self.read_quote(request, &instrument, &client_rfq_id, &answer);
        }
        Err(match self.refusal(&answer, &request.clock) {
            Refusal::Auth(reason) => LpError::Auth(reason),
            Refusal::RateLimited(retry_after_ms) => LpError::RateLimited { retry_after_ms },
            Refusal::Business(reason) => LpError::Declined(reason),
            Refusal::Server(reason) => LpError::Unavailable(reason),
            Refusal::Unreadable(reason) => LpError::Malformed(reason),
        })
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        if order.fixed != crate::market::Leg::Base {
            return OrderAnswer::Refused {
                reason: format!(
                    "not sent: {} takes orders in {} only",
                    self.name, order.pair.base
                ),
                refusal: OrderRefusal::NotSent,
            };
        }
        if let Some(reason) = too_precise(order.amount) {
            return OrderAnswer::Refused {
                reason: format!("not sent: {reason}"),
                refusal: OrderRefusal::NotSent,
            };
        }
        let instrument = order.pair.venue_symbol(&self.symbol);
        // The rule `ClientOrderIds::UuidOfOrderId` names: the id is
        // recorded with the order and can be derived again from its id.
        let client_order_id = uuid_from(&order.order_id);
        // The order is good only while the LP's quote is: B2C2 reads a
        // zoneless time as UTC.
        let valid_until = order
            .clock
            .wall_at(order.valid_until_ms)
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string();
        let call = self.post("/order/").json(&OrderRequest {
            instrument: &instrument,
            side: order.side.as_str(),
            quantity: decimal_text(order.amount),
            client_order_id: &client_order_id,
            price: decimal_text(order.price),
            order_type: "FOK",
            valid_until,
        });
        let answer = match exchange(call, self.timeouts.order).await {
            Ok(answer) => answer,
            Err(Failure::NotSent(reason)) => {
                return OrderAnswer::Refused {
                    reason: format!("not sent: cannot connect: {reason}"),
                    refusal: OrderRefusal::NotSent,
                }
            }
            Err(failure) => {
                return self
                    .status_after_silence(&client_order_id, failure.describe(), &order.clock)
                    .await
            }
        };
        tracing::debug!(lp = %self.name, status = answer.status.as_u16(), "B2C2 order answered");
        if answer.status.is_success() {
            return self.read_order(&client_order_id, &answer);
        }
        // A refusal the venue explained means nothing traded; a server
        // error or an unreadable answer leaves the outcome open.
        match self.refusal(&answer, &order.clock) {
            Refusal::Auth(reason) => OrderAnswer::Refused {
                reason: format!("authentication failed: {reason}"),
                refusal: OrderRefusal::Auth,
            },
            Refusal::RateLimited(retry_after_ms) => OrderAnswer::Refused {
                reason: LpError::RateLimited { retry_after_ms }.to_string(),
                refusal: OrderRefusal::RateLimited { retry_after_ms },
            },
            Refusal::Business(reason) => OrderAnswer::Rejected { reason },
            Refusal::Server(reason) | Refusal::Unreadable(reason) => {
                self.status_after_silence(&client_order_id, reason, &order.clock)
                    .await
            }
        }
    }
}

impl B2c2Lp {
    /// The order's answer was lost (`lost` says how): the venue is asked
    /// once for the order by its `client_order_id`. A 404 now is not
    /// proof: the order may still be on its way to the venue, so it stays
    /// unknown, and the next start asks again.
    async fn status_after_silence(
        &self,
        client_order_id: &str,
        lost: String,
        clock: &StreamClock,
    ) -> OrderAnswer {
        match self.order_by_id(client_order_id, clock).await {
            Ok(Some(answer @ (OrderAnswer::Filled { .. } | OrderAnswer::Rejected { .. }))) => {
                answer
            }
            Ok(Some(OrderAnswer::Unknown { reason })) => OrderAnswer::Unknown {
                reason: format!("{lost}; status {reason}"),
            },
            Ok(Some(refused @ OrderAnswer::Refused { .. })) => refused,
            Ok(None) => OrderAnswer::Unknown {
                reason: format!(
                    "{lost}; the venue has no order with client_order_id '{client_order_id}' yet (HTTP 404)"
                ),
            },
            Err(reason) => OrderAnswer::Unknown {
                reason: format!("{lost}; status not learned: {reason}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn quantities_beyond_four_decimals_are_refused_not_rounded() {
        assert_eq!(too_precise(dec!(1.5000)), None);
        assert_eq!(too_precise(dec!(0.0001)), None);
        assert_eq!(
            too_precise(dec!(0.00015)).as_deref(),
            Some("quantity 0.00015 has 5 decimals: B2C2 takes at most 4 decimals")
        );
    }

    #[test]
    fn errors_are_described_with_code_and_message() {
        let body: ErrorsBody = serde_json::from_str(
            r#"{"errors":[{"code":1001,"message":"Instrument not allowed"},{"code":1101,"field":"quantity","message":"Field required"}]}"#,
        )
        .unwrap();
        assert_eq!(
            body.describe(),
            "error 1001: Instrument not allowed; error 1101 (quantity): Field required"
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let lp = B2c2Lp::new(
            "B2C2",
            "https://api.uat.b2c2.net/",
            Secret::new("s3cr3t-token"),
            "{base}{quote}.SPOT",
            AdapterTimeouts {
                quote: std::time::Duration::from_millis(800),
                order: std::time::Duration::from_secs(5),
            },
        )
        .unwrap();
        let printed = format!("{lp:?}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(
            printed.contains("url: \"https://api.uat.b2c2.net\""),
            "{printed}"
        );
    }

    #[test]
    fn a_bad_url_or_symbol_is_refused_at_construction() {
        let timeouts = AdapterTimeouts {
            quote: std::time::Duration::from_millis(800),
            order: std::time::Duration::from_secs(5),
        };
        let error = B2c2Lp::new(
            "B2C2",
            "ftp://x",
            Secret::new("t"),
            "{base}{quote}",
            timeouts,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "lp 'B2C2': url 'ftp://x' must be an http:// or https:// address with a host"
        );
        let error =
            B2c2Lp::new("B2C2", "https://x", Secret::new("t"), "{base}", timeouts).unwrap_err();
        assert_eq!(
            error.to_string(),
            "lp 'B2C2': symbol '{base}' must contain {base} and {quote}"
        );
    }
}
