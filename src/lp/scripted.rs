//! Scripted LPs: providers whose every answer is decided by a script of the
//! call number and stream time. Tests use them to stage exact races;
//! scenarios use them to replay LP behaviours. They implement the same
//! trait as every other LP and pace themselves on the stream clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::lp::{LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer};
use crate::market::Side;

/// What a scripted LP is being asked: its `index`-th call (from 0), at
/// stream time `now_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub index: u64,
    pub now_ms: StreamMs,
    pub(crate) request: &'a LpRequest,
}

impl Call<'_> {
    /// The client's side the LP is asked for (a two-way request asks each
    /// LP once per side).
    pub fn side(&self) -> Side {
        self.request.side
    }
}

/// How a scripted LP answers one call: after `delay_ms` of stream time.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub delay_ms: u64,
    pub reply: Reply,
}

/// The answer itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An honest firm quote at this price, valid for the LP's validity.
    Price(Decimal),
    /// A quote at this price valid for `valid_for_ms` from the answer.
    PriceValidFor { price: Decimal, valid_for_ms: u64 },
    /// A quote at this price that is wrong in one way.
    Lie { price: Decimal, lie: Lie },
    /// An error answer.
    Fail(LpError),
    /// The LP's code panics.
    Panic(String),
}

/// Ways a quote can be wrong, each caught by validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Quotes the other side of the request.
    WrongSide,
    /// Offers only half the amount asked.
    ShortQuantity,
    /// Answers a different request id.
    WrongRequest,
    /// Already expired when it arrives.
    Expired,
}

impl Step {
    pub fn price(delay_ms: u64, price: Decimal) -> Step {
        Step {
            delay_ms,
            reply: Reply::Price(price),
        }
    }

    pub fn fail(delay_ms: u64, error: LpError) -> Step {
        Step {
            delay_ms,
            reply: Reply::Fail(error),
        }
    }
}

type Script = dyn Fn(Call<'_>) -> Step + Send + Sync;

/// How a scripted LP answers its `index`-th order (from 0).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderStep {
    /// Stream ms the order is held before the answer (last look).
    pub hold_ms: u64,
    pub reply: OrderReply,
}

/// The answer to an order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderReply {
    /// Fill at the order's price.
    Fill,
    /// Fill at another price (a venue that improves or slips).
    FillAt(Decimal),
    /// Reject on last look with this reason.
    Reject(String),
    /// Turned away before any dealing (not sent, credentials, rate limit).
    Refuse(String, crate::lp::OrderRefusal),
    /// Answer that the outcome is unknown.
    Unknown(String),
    /// Never answer (the engine's order timeout decides).
    Never,
    /// The adapter panics.
    Panic(String),
}

impl OrderStep {
    pub fn fill(hold_ms: u64) -> OrderStep {
        OrderStep {
            hold_ms,
            reply: OrderReply::Fill,
        }
    }

    pub fn reject(hold_ms: u64, reason: &str) -> OrderStep {
        OrderStep {
            hold_ms,
            reply: OrderReply::Reject(reason.to_string()),
        }
    }

    pub fn never() -> OrderStep {
        OrderStep {
            hold_ms: 0,
            reply: OrderReply::Never,
        }
    }
}

type OrderScript = dyn Fn(u64, &LpOrder) -> OrderStep + Send + Sync;

/// An LP that answers by script.
pub struct ScriptedLp {
    name: Arc<str>,
    validity_ms: u64,
    script: Box<Script>,
    calls: AtomicU64,
    orders: Box<OrderScript>,
    order_calls: AtomicU64,
}

impl ScriptedLp {
    /// An LP whose answers come from `script`; honest quotes are valid for
    /// `validity_ms`.
    pub fn new(
        name: &str,
        validity_ms: u64,
        script: impl Fn(Call<'_>) -> Step + Send + Sync + 'static,
    ) -> ScriptedLp {
        ScriptedLp {
            name: Arc::from(name),
            validity_ms,
            script: Box::new(script),
            calls: AtomicU64::new(0),
            // Unless told otherwise: fill at once, at the quoted price.
            orders: Box::new(|_, _| OrderStep::fill(0)),
            order_calls: AtomicU64::new(0),
        }
    }

    /// The same LP answering its orders by `orders` (the order number from
    /// 0, and the order).
    pub fn with_orders(
        mut self,
        orders: impl Fn(u64, &LpOrder) -> OrderStep + Send + Sync + 'static,
    ) -> ScriptedLp {
        self.orders = Box::new(orders);
        self
    }

    /// How many orders the LP has been sent.
    pub fn orders(&self) -> u64 {
        self.order_calls.load(Ordering::Relaxed)
    }

    /// An LP that answers its n-th call with `steps[n]`, and every call
    /// after the last step with the last step.
    pub fn steps(name: &str, validity_ms: u64, steps: Vec<Step>) -> ScriptedLp {
        assert!(!steps.is_empty(), "a scripted LP needs at least one step");
        ScriptedLp::new(name, validity_ms, move |call| {
            let index = (call.index as usize).min(steps.len() - 1);
            steps[index].clone()
        })
    }

    /// How many times the LP has been asked.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl LiquidityProvider for ScriptedLp {
    fn name(&self) -> &str {
        &self.name
    }

    fn simulated(&self) -> bool {
        true
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let index = self.calls.fetch_add(1, Ordering::Relaxed);
        let step = (self.script)(Call {
            index,
            now_ms: request.clock.now_ms(),
            request,
        });
        request
            .clock
            .sleep(Duration::from_millis(step.delay_ms))
            .await;
        let now = request.clock.now_ms();
        let honest = |price: Decimal, valid_for_ms: u64| LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price,
            quantity: request.base_at(price),
            valid_until_ms: now + valid_for_ms,
            venue_ref: None,
        };
        match step.reply {
            Reply::Price(price) => Ok(honest(price, self.validity_ms)),
            Reply::PriceValidFor {
                price,
                valid_for_ms,
            } => Ok(honest(price, valid_for_ms)),
            Reply::Lie { price, lie } => {
                let mut quote = honest(price, self.validity_ms);
                match lie {
                    Lie::WrongSide => {
                        quote.side = match request.side {
                            Side::Buy => Side::Sell,
                            Side::Sell => Side::Buy,
                        }
                    }
                    Lie::ShortQuantity => quote.quantity = request.base_at(price) / Decimal::TWO,
                    Lie::WrongRequest => quote.request_id = request.request_id.wrapping_add(1000),
                    Lie::Expired => quote.valid_until_ms = now.saturating_sub(1),
                }
                Ok(quote)
            }
            Reply::Fail(error) => Err(error),
            Reply::Panic(message) => panic!("{message}"),
        }
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let index = self.order_calls.fetch_add(1, Ordering::Relaxed);
        let step = (self.orders)(index, order);
        order.clock.sleep(Duration::from_millis(step.hold_ms)).await;
        match step.reply {
            OrderReply::Fill => OrderAnswer::Filled {
                price: order.price,
                quantity: order.base_quantity(),
                venue_order_id: None,
            },
            OrderReply::FillAt(price) => OrderAnswer::Filled {
                price,
                quantity: order.base_quantity_at(price),
                venue_order_id: None,
            },
            OrderReply::Reject(reason) => OrderAnswer::Rejected { reason },
            OrderReply::Refuse(reason, refusal) => OrderAnswer::Refused { reason, refusal },
            OrderReply::Unknown(reason) => OrderAnswer::Unknown { reason },
            OrderReply::Never => std::future::pending().await,
            OrderReply::Panic(message) => panic!("{message}"),
        }
    }
}
