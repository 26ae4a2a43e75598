//! One client's session, whatever carries it: its requests become the
//! desk's RFQs for that client (its markup and limits, its channel on
//! the record), each stream's client view becomes its quotes and quote
//! cancels, and its orders become an accept of the quote it names, with
//! the LP behind it (last look, fallback), answered by an execution
//! report. Each RFQ has its own task (its pump), the only owner of what
//! the client was shown of it, so an order is judged against exactly the
//! quote the client holds.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client_api::{
    reject_of, CancelReason, ClientApi, ExecutionReport, Inbound, OrderStatus, Outbound,
    RejectReason,
};
use crate::clock::{StreamClock, StreamMs};
use crate::desk::StreamHandle;
use crate::market::{Pair, Side};
use crate::rfq::client_view::{
    ClientEndReason, ClientEventKind, ClientView, NotFilledReason, WithdrawReason,
};
use crate::rfq::StreamCommand;
use crate::rfq::{Channel, ClientId, EventKind, QuoteRequest, RequestParams, RfqSpec};
use crate::streams::StreamStopper;
use crate::ws_edge::{Outbox, Overflow};

/// Messages a client may fall behind by before its session is closed:
/// a 30 s stream refreshing every 500 ms makes about 60 quotes, and a
/// client may run many at once.
pub const CLIENT_BUFFER: usize = 1024;
/// The longest id a client may give a request or an order.
const MAX_CLIENT_ID_CHARS: usize = 64;

/// A session's bounded queue of messages to its client
/// (`ws_edge::Outbox`). Offering never waits: a client a whole queue
/// behind is closed (`overflow`) rather than hold its streams back.
#[derive(Clone)]
pub struct Outgoing(Outbox<Outbound>);

impl Outgoing {
    /// The queue and its far end, for the transport's writer.
    pub fn new() -> (Outgoing, mpsc::Receiver<Outbound>) {
        let (outbox, receiver) = Outbox::new(CLIENT_BUFFER);
        (Outgoing(outbox), receiver)
    }

    pub fn offer(&self, message: Outbound) {
        self.0.offer(message);
    }

    /// What the transport's writer watches: the client has fallen a
    /// whole queue behind.
    pub(crate) fn overflow(&self) -> Overflow {
        self.0.overflow()
    }
}

/// Which of the session's requests each live quote belongs to, so that an
/// order naming a quote reaches the task that showed it.
type QuoteIndex = Arc<Mutex<HashMap<Arc<str>, Arc<str>>>>;

/// One client's session; see the module docs.
pub struct ClientSession {
    api: Arc<ClientApi>,
    client: ClientId,
    channel: Channel,
    out: Outgoing,
    live: HashMap<Arc<str>, LiveRfq>,
    quotes: QuoteIndex,
    pumps: JoinSet<()>,
}

struct LiveRfq {
    stopper: StreamStopper,
    commands: mpsc::Sender<PumpCommand>,
}

enum PumpCommand {
    Order(ClientOrder),
    Cancel,
}

struct ClientOrder {
    client_order_id: Arc<str>,
    quote_id: Arc<str>,
    side: Side,
    amount: Decimal,
    price: Decimal,
}

impl ClientSession {
    pub fn new(api: Arc<ClientApi>, client: ClientId, channel: Channel, out: Outgoing) -> Self {
        ClientSession {
            api,
            client,
            channel,
            out,
            live: HashMap::new(),
            quotes: Arc::default(),
            pumps: JoinSet::new(),
        }
    }

    pub fn client(&self) -> &ClientId {
        &self.client
    }

    /// Acts on one message from the client.
    pub fn on_message(&mut self, message: Inbound) {
        self.live.retain(|_, rfq| !rfq.commands.is_closed());
        match message {
            Inbound::QuoteRequest {
                client_rfq_id,
                pair,
                side,
                amount,
                amount_currency,
            } => self.quote_request(client_rfq_id, &pair, &side, &amount, amount_currency),
            Inbound::CancelQuoteRequest { client_rfq_id } => {
                match self.live.get(client_rfq_id.as_str()) {
                    Some(rfq) => {
                        let _ = rfq.commands.try_send(PumpCommand::Cancel);
                    }
                    None => self.out.offer(Outbound::Error {
                        reason: format!("no live quote request '{client_rfq_id}' to cancel"),
                    }),
                }
            }
            Inbound::Order {
                client_order_id,
                quote_id,
                side,
                amount,
                price,
            } => self.order(client_order_id, quote_id, &side, &amount, &price),
            Inbound::OrderStatus { client_order_id } => {
                let report = self.api.order_status(&self.client, &client_order_id);
                self.out.offer(Outbound::ExecutionReport(report));
            }
        }
    }

    /// A message that could not be read as any of [`Inbound`]'s.
    pub fn on_unreadable(&self, reason: String) {
        self.out.offer(Outbound::Error { reason });
    }

    fn reject(&self, client_rfq_id: Arc<str>, reason: RejectReason, text: String) {
        tracing::info!(client = %self.client, %client_rfq_id, ?reason, "client quote request refused: {text}");
        self.out.offer(Outbound::QuoteRequestReject {
            client_rfq_id,
            reason,
            text,
        });
    }

    fn quote_request(
        &mut self,
        client_rfq_id: String,
        pair: &str,
        side: &str,
        amount: &str,
        amount_currency: Option<String>,
    ) {
        let id: Arc<str> = Arc::from(client_rfq_id.as_str());
        if let Err(why) = check_id("client_rfq_id", &client_rfq_id) {
            return self.reject(id, RejectReason::Other, why);
        }
        if self.live.contains_key(&id) {
            return self.reject(
                id,
                RejectReason::Other,
                format!("client_rfq_id '{client_rfq_id}' is already being quoted"),
            );
        }
        let pair: Pair = match pair.parse() {
            Ok(pair) => pair,
            Err(error) => {
                return self.reject(id, RejectReason::UnknownSymbol, format!("pair: {error}"))
            }
        };
        let desk = self.api.desk().clone();
        if let Some(why) = desk.registry().quotable().refusal(pair) {
            return self.reject(id, RejectReason::UnknownSymbol, why);
        }
        let side = match side {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            "two_way" => {
                return self.reject(
                    id,
                    RejectReason::Other,
                    "side 'two_way' is not offered yet: ask for buy and sell separately".into(),
                )
            }
            other => {
                return self.reject(
                    id,
                    RejectReason::Other,
                    format!("side '{other}' must be buy or sell"),
                )
            }
        };
        if let Some(currency) = amount_currency.filter(|c| *c != pair.base.to_string()) {
            return self.reject(
                id,
                RejectReason::Other,
                format!(
                    "amount_currency '{currency}' must be {}, the base of {}: amounts in the quote currency are not offered yet",
                    pair.base,
                    pair.symbol()
                ),
            );
        }
        let amount = match pair.parse_amount(amount) {
            Ok(amount) => amount,
            Err(error) => return self.reject(id, RejectReason::Other, format!("amount: {error}")),
        };
        // The desk's fat-finger limit: an operator may confirm past it, a
        // client cannot, so above it (or unpriced) is a plain refusal.
        let notional =
            desk.settings()
                .notional_limits()
                .check(pair, crate::market::Leg::Base, amount);
        if let Some(warning) = notional.warning() {
            return self.reject(
                id,
                RejectReason::ExceedsLimit,
                format!("the desk's limit: {warning}"),
            );
        }
        if let Err(why) = self.api.take_rfq_slot(&self.client) {
            return self.reject(id, RejectReason::ExceedsLimit, why);
        }
        let request = QuoteRequest {
            spec: RfqSpec {
                side,
                amount,
                pair,
                fixed: crate::market::Leg::Base,
            },
            params: RequestParams::default()
                .with_client(self.client.clone())
                .with_channel(self.channel),
        };
        let handle = match desk.try_start(request) {
            Ok(handle) => handle,
            Err(error) => {
                let (reason, text) = reject_of(&error);
                return self.reject(id, reason, text);
            }
        };
        tracing::info!(client = %self.client, channel = self.channel.as_str(), client_rfq_id = %id, rfq_id = %handle.rfq_id, "client RFQ started");
        let (commands, inbox) = mpsc::channel(crate::desk::COMMAND_BUFFER);
        self.live.insert(
            id.clone(),
            LiveRfq {
                stopper: handle.stopper(),
                commands,
            },
        );
        let pump = Pump {
            client_rfq_id: id,
            client: self.client.clone(),
            channel: self.channel,
            api: self.api.clone(),
            out: self.out.clone(),
            quotes: self.quotes.clone(),
            view: ClientView::new(),
            live: None,
            quoted: false,
            order: None,
            outcome_reported: false,
            ends_at_ms: desk.settings().duration_ms,
            cancelled: false,
            record_failing: false,
        };
        self.pumps.spawn(pump.run(handle, inbox));
    }

    fn order(
        &mut self,
        client_order_id: String,
        quote_id: String,
        side: &str,
        amount: &str,
        price: &str,
    ) {
        let order_id: Arc<str> = Arc::from(client_order_id.as_str());
        let quote: Arc<str> = Arc::from(quote_id.as_str());
        let refuse = |reason: String| {
            Outbound::ExecutionReport(ExecutionReport::rejected(
                order_id.clone(),
                Some(quote.clone()),
                reason,
            ))
        };
        if let Err(why) = check_id("client_order_id", &client_order_id) {
            return self.out.offer(refuse(why));
        }
        if let Err(first) = self
            .api
            .claim_order(&self.client, self.channel, &order_id, &quote)
        {
            // Never executed twice: the first order's state, as it stands
            // (or a refusal, too many orders at once).
            return self.out.offer(Outbound::ExecutionReport(first));
        }
        let parsed = (|| {
            let side = match side {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                other => return Err(format!("side '{other}' must be buy or sell")),
            };
            let amount = decimal("amount", amount)?;
            let price = decimal("price", price)?;
            Ok((side, amount, price))
        })();
        let routed = parsed.and_then(|(side, amount, price)| {
            let owner = self
                .quotes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&quote)
                .cloned();
            let rfq = owner
                .and_then(|rfq| self.live.get(&rfq))
                .ok_or_else(|| format!("quote '{quote}' is not live"))?;
            let order = ClientOrder {
                client_order_id: order_id.clone(),
                quote_id: quote.clone(),
                side,
                amount,
                price,
            };
            rfq.commands
                .try_send(PumpCommand::Order(order))
                .map_err(|_| format!("quote '{quote}' is not live"))
        });
        if let Err(why) = routed {
            let report = ExecutionReport::rejected(order_id, Some(quote), why);
            self.api.note_order(&self.client, self.channel, &report);
            self.out.offer(Outbound::ExecutionReport(report));
        }
    }

    /// The client has gone (or the desk is stopping): its requests stop;
    /// each runs on until its stream has ended, so an order out is waited
    /// for and recorded.
    pub async fn close(mut self) {
        for rfq in self.live.values() {
            rfq.stopper.stop();
        }
        while self.pumps.join_next().await.is_some() {}
    }

    /// Waits for the next request to end (for a transport's select loop;
    /// pending forever while none is running).
    pub async fn reap(&mut self) {
        if self.pumps.join_next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}

/// A client's id for a request or an order: printable, within a length.
fn check_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.chars().count() > MAX_CLIENT_ID_CHARS
        || !id.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(format!(
            "{field} must be 1 to {MAX_CLIENT_ID_CHARS} printable ASCII characters"
        ));
    }
    Ok(())
}

/// A decimal as written: digits with an optional fraction, no exponent.
fn decimal(field: &str, text: &str) -> Result<Decimal, String> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    plain
        .then(|| Decimal::from_str(text).ok())
        .flatten()
        .ok_or_else(|| format!("{field} '{text}' must be a decimal such as 1.5"))
}

/// The quote the client may hit now, as it was shown.
struct Shown {
    quote_id: Arc<str>,
    side: Side,
    amount: Decimal,
    price: Decimal,
    valid_until_ms: StreamMs,
}

/// One request's task: the stream's events in, the client's messages out.
struct Pump {
    client_rfq_id: Arc<str>,
    client: ClientId,
    channel: Channel,
    api: Arc<ClientApi>,
    out: Outgoing,
    quotes: QuoteIndex,
    view: ClientView,
    live: Option<Shown>,
    quoted: bool,
    /// The client order out on this request.
    order: Option<Arc<str>>,
    /// The order's outcome (filled, rejected, unknown) went to the client.
    outcome_reported: bool,
    /// When the stream ends (stream time): no quote is shown as valid
    /// past it, since nothing can be accepted then.
    ends_at_ms: StreamMs,
    cancelled: bool,
    /// The desk just said it cannot record: the withdrawal that follows
    /// is for that, not an expiry.
    record_failing: bool,
}

impl Pump {
    async fn run(mut self, mut handle: StreamHandle, mut inbox: mpsc::Receiver<PumpCommand>) {
        let mut shown = Vec::new();
        loop {
            tokio::select! {
                event = handle.events.recv() => {
                    let Some(event) = event else { break };
                    match &event.kind {
                        EventKind::BlotterError(_) => self.record_failing = true,
                        EventKind::ClientQuote(_) => self.record_failing = false,
                        _ => {}
                    }
                    if let Some(seen) = self.view.project(&event) {
                        if let ClientEventKind::Quote(quote) = &seen.kind {
                            shown.push(quote.quote_id.clone());
                        }
                        self.on_client_event(&handle.clock, seen.t_ms, seen.kind);
                    }
                }
                Some(command) = inbox.recv() => match command {
                    PumpCommand::Cancel => {
                        self.cancelled = true;
                        handle.stop();
                    }
                    PumpCommand::Order(order) => self.on_order(&handle, order),
                },
            }
        }
        inbox.close();
        // Orders routed here after the end are refused, never lost.
        while let Ok(command) = inbox.try_recv() {
            if let PumpCommand::Order(order) = command {
                self.refuse(&order, format!("quote '{}' is not live", order.quote_id));
            }
        }
        {
            let mut index = self.quotes.lock().unwrap_or_else(|p| p.into_inner());
            for quote in &shown {
                index.remove(quote);
            }
        }
        if let Err(error) = handle.finish().await {
            tracing::error!("a client RFQ on the desk server failed: {error:#}");
        }
    }

    /// Sends the outcome of this request's order.
    fn report_outcome(&mut self, report: ExecutionReport) {
        self.outcome_reported = true;
        self.report(report);
    }

    fn report(&self, report: ExecutionReport) {
        self.api.note_order(&self.client, self.channel, &report);
        self.out.offer(Outbound::ExecutionReport(report));
    }

    fn refuse(&self, order: &ClientOrder, reason: String) {
        self.report(ExecutionReport::rejected(
            order.client_order_id.clone(),
            Some(order.quote_id.clone()),
            reason,
        ));
    }

    fn cancel(&mut self, reason: CancelReason) {
        if let Some(live) = self.live.take() {
            self.out.offer(Outbound::QuoteCancel {
                client_rfq_id: self.client_rfq_id.clone(),
                quote_id: live.quote_id,
                reason,
            });
        }
    }

    fn on_order(&mut self, handle: &StreamHandle, order: ClientOrder) {
        if self.order.is_some() {
            return self.refuse(
                &order,
                "an order was already sent on this quote request".into(),
            );
        }
        let now = handle.clock.now_ms();
        let Some(live) = self
            .live
            .as_ref()
            .filter(|live| live.quote_id == order.quote_id && now < live.valid_until_ms)
        else {
            return self.refuse(&order, format!("quote '{}' is not live", order.quote_id));
        };
        let mismatch = if order.side != live.side {
            Some(format!(
                "side '{}' is not the quote's '{}'",
                side_word(order.side),
                side_word(live.side)
            ))
        } else if order.amount != live.amount {
            Some(format!(
                "amount '{}' is not the quote's {}",
                order.amount, live.amount
            ))
        } else if order.price != live.price {
            Some(format!(
                "price '{}' is not the quote's {}",
                order.price, live.price
            ))
        } else {
            None
        };
        if let Some(why) = mismatch {
            return self.refuse(&order, why);
        }
        let accept = StreamCommand::Accept {
            quote_id: Some(order.quote_id.clone()),
        };
        if handle.commands.try_send(accept).is_err() {
            return self.refuse(&order, "the desk is busy: the order was not sent".into());
        }
        tracing::info!(client = %self.client, client_order_id = %order.client_order_id, quote_id = %order.quote_id, "client order sent");
        self.order = Some(order.client_order_id);
    }

    fn on_client_event(&mut self, clock: &StreamClock, t_ms: StreamMs, kind: ClientEventKind) {
        match kind {
            ClientEventKind::Opened(_) | ClientEventKind::OrderPending(_) => {}
            ClientEventKind::Quote(quote) => {
                self.quoted = true;
                let valid_until_ms = t_ms.saturating_add(quote.valid_for_ms).min(self.ends_at_ms);
                self.quotes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(quote.quote_id.clone(), self.client_rfq_id.clone());
                let (bid, offer) = match quote.side {
                    Side::Buy => (None, Some(quote.price)),
                    Side::Sell => (Some(quote.price), None),
                };
                self.out.offer(Outbound::Quote {
                    client_rfq_id: self.client_rfq_id.clone(),
                    quote_id: quote.quote_id.clone(),
                    bid,
                    offer,
                    amount: quote.amount,
                    valid_until: crate::clock::iso_millis(clock.wall_at(valid_until_ms)),
                    simulated: quote.simulated,
                });
                self.live = Some(Shown {
                    quote_id: quote.quote_id,
                    side: quote.side,
                    amount: quote.amount,
                    price: quote.price,
                    valid_until_ms,
                });
            }
            ClientEventKind::QuoteWithdrawn(withdrawn) => {
                let reason = match (withdrawn.reason, self.record_failing) {
                    (_, true) => CancelReason::RecordFailing,
                    (WithdrawReason::Expired, false) => CancelReason::Expired,
                };
                self.cancel(reason);
            }
            ClientEventKind::OrderFilled(filled) => {
                if let Some(order) = self.order.clone() {
                    self.report_outcome(ExecutionReport {
                        client_order_id: order,
                        quote_id: Some(filled.quote_id),
                        status: OrderStatus::Filled,
                        price: Some(filled.price),
                        amount: Some(filled.amount),
                        reason: None,
                        status_request: false,
                    });
                }
            }
            ClientEventKind::OrderNotFilled(not_filled) => {
                if let Some(order) = self.order.clone() {
                    let reason = match not_filled.reason {
                        NotFilledReason::QuoteNotLive => "the quote was no longer live",
                        NotFilledReason::NoFill => "no liquidity at the quote's price",
                    };
                    self.report_outcome(ExecutionReport::rejected(
                        order,
                        not_filled.quote_id,
                        reason,
                    ));
                }
            }
            ClientEventKind::OrderUnknown(unknown) => {
                if let Some(order) = self.order.clone() {
                    self.report_outcome(ExecutionReport {
                        client_order_id: order,
                        quote_id: Some(unknown.quote_id),
                        status: OrderStatus::Unknown,
                        price: None,
                        amount: None,
                        reason: Some(
                            "whether it traded is not known yet: the desk resolves it with its counterparty"
                                .into(),
                        ),
                        status_request: false,
                    });
                }
            }
            ClientEventKind::Ended(ended) => {
                if let Some(order) = self.order.clone() {
                    // The stream ended before the engine took the accept:
                    // no order reached an LP, and the client must not be
                    // left waiting on a pending one.
                    let live = self.live.take();
                    if !self.outcome_reported {
                        self.report_outcome(ExecutionReport::rejected(
                            order,
                            live.map(|shown| shown.quote_id),
                            "the request ended before the order was taken",
                        ));
                    }
                    return;
                }
                // A stream stopped while its client is paused was stopped
                // by the pause.
                let paused = ended.reason == ClientEndReason::Interrupted
                    && self.api.desk().pauses().holds(&self.client, self.channel);
                let reason = match ended.reason {
                    _ if self.cancelled => CancelReason::Cancelled,
                    _ if paused => CancelReason::ClientPaused,
                    ClientEndReason::Interrupted => CancelReason::DeskStopped,
                    _ => CancelReason::Ended,
                };
                self.cancel(reason);
                if !self.quoted && !self.cancelled {
                    let text = match ended.reason {
                        _ if paused => crate::streams::CLIENT_PAUSED,
                        ClientEndReason::Interrupted => "the desk stopped quoting",
                        _ => "no LP quotes",
                    };
                    self.out.offer(Outbound::QuoteRequestReject {
                        client_rfq_id: self.client_rfq_id.clone(),
                        reason: RejectReason::Other,
                        text: text.into(),
                    });
                }
            }
        }
    }
}

fn side_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, SettingsArgs};
    use crate::desk::registry::LpRegistry;
    use crate::desk::Desk;
    use crate::market::Asset;
    use crate::rfq::client_view::{ClientEnded, ClientOutcome, Quote};
    use rust_decimal_macros::dec;

    /// A request's pump on a desk of 2 s streams, and what it sends.
    fn pump() -> (Pump, mpsc::Receiver<Outbound>) {
        let settings = Settings::from_args(&SettingsArgs {
            duration: Some("2".into()),
            no_blotter: Some("true".into()),
            ..Default::default()
        })
        .unwrap();
        let desk = Desk::with_parts(settings, LpRegistry::fixed(Vec::new()), None);
        let (out, sent) = Outgoing::new();
        let pump = Pump {
            client_rfq_id: Arc::from("r-1"),
            client: ClientId::new("acme").unwrap(),
            api: ClientApi::new(Arc::new(desk)).expect("no blotter to open"),
            channel: Channel::Ws,
            out,
            quotes: Arc::default(),
            view: ClientView::new(),
            live: None,
            quoted: false,
            order: None,
            outcome_reported: false,
            ends_at_ms: 2_000,
            cancelled: false,
            record_failing: false,
        };
        (pump, sent)
    }

    fn quote(valid_for_ms: u64) -> ClientEventKind {
        ClientEventKind::Quote(Quote {
            quote_id: Arc::from("Q-1"),
            side: Side::Buy,
            amount: dec!(1),
            price: dec!(100100.02),
            client_pays: dec!(100100.02),
            pays_asset: Asset::new("USDT").unwrap(),
            client_receives: dec!(1),
            receives_asset: Asset::new("BTC").unwrap(),
            valid_for_ms,
            simulated: false,
        })
    }

    fn ended() -> ClientEventKind {
        ClientEventKind::Ended(ClientEnded {
            reason: ClientEndReason::Duration,
            outcome: ClientOutcome::NotAccepted,
            quote_id: Some(Arc::from("Q-1")),
            price: Some(dec!(100100.02)),
        })
    }

    fn drain(sent: &mut mpsc::Receiver<Outbound>) -> Vec<serde_json::Value> {
        std::iter::from_fn(|| sent.try_recv().ok())
            .map(|message| serde_json::to_value(message).unwrap())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn an_order_the_stream_ended_before_taking_is_rejected_not_left_pending() {
        let (mut pump, mut sent) = pump();
        let clock = StreamClock::start();
        pump.on_client_event(&clock, 1_000, quote(10_000));
        pump.order = Some(Arc::from("o-1"));
        pump.on_client_event(&clock, 2_000, ended());
        let sent = drain(&mut sent);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(
            sent[1],
            serde_json::json!({
                "type": "execution_report",
                "client_order_id": "o-1",
                "quote_id": "Q-1",
                "status": "rejected",
                "reason": "the request ended before the order was taken"
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_order_with_its_outcome_reported_gets_nothing_more_at_the_end() {
        let (mut pump, mut sent) = pump();
        let clock = StreamClock::start();
        pump.on_client_event(&clock, 1_000, quote(10_000));
        pump.order = Some(Arc::from("o-1"));
        pump.on_client_event(
            &clock,
            1_200,
            ClientEventKind::OrderNotFilled(crate::rfq::client_view::OrderNotFilled {
                quote_id: Some(Arc::from("Q-1")),
                reason: NotFilledReason::NoFill,
            }),
        );
        pump.on_client_event(&clock, 2_000, ended());
        let statuses: Vec<_> = drain(&mut sent)
            .iter()
            .map(|message| message["type"].to_string() + " " + &message["status"].to_string())
            .collect();
        assert_eq!(
            statuses,
            ["\"quote\" null", "\"execution_report\" \"rejected\""]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quote_is_never_valid_past_the_streams_end() {
        let (mut pump, mut sent) = pump();
        let clock = StreamClock::start();
        pump.on_client_event(&clock, 1_000, quote(10_000));
        let sent = drain(&mut sent);
        assert_eq!(
            sent[0]["valid_until"],
            serde_json::json!(crate::clock::iso_millis(clock.wall_at(2_000)))
        );
        assert_eq!(pump.live.as_ref().unwrap().valid_until_ms, 2_000);
        let (mut pump, mut sent) = self::pump();
        pump.on_client_event(&clock, 1_000, quote(500));
        assert_eq!(
            drain(&mut sent)[0]["valid_until"],
            serde_json::json!(crate::clock::iso_millis(clock.wall_at(1_500)))
        );
    }
}
