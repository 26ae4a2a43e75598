//! One client's session, whatever carries it: its requests become the
//! desk's RFQs for that client (its markup and limits, its channel on
//! the record), each stream's client view becomes its quotes and quote
//! cancels, and its orders become an accept of the quote it names, with
//! the LP behind it (last look, fallback), answered by an execution
//! report. Each RFQ has its own task (its pump), the only owner of what
//! the client was shown of it, so an order is judged against exactly the
//! quote the client holds. A two-way request's sides, quoted apart by
//! the desk, are shown as one quote of the pump's own id, and an order's
//! side picks the desk quote it accepts.

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
use crate::market::{Leg, Pair, Side};
use crate::rfq::client_view::{
    keeps_for_client, ClientEndReason, ClientEventKind, ClientView, NotFilledReason, WithdrawReason,
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
    /// The currency the client named for `amount`, if it named one.
    amount_currency: Option<String>,
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
                amount_currency,
            } => self.order(
                client_order_id,
                quote_id,
                &side,
                (&amount, amount_currency),
                &price,
            ),
            Inbound::OrderStatus { client_order_id } => {
                // The record may be read: off the session's loop.
                let (api, client, out) = (self.api.clone(), self.client.clone(), self.out.clone());
                self.pumps.spawn(async move {
                    match api.order_status(&client, &client_order_id).await {
                        Ok(report) => out.offer(Outbound::ExecutionReport(report)),
                        Err(reason) => out.offer(Outbound::Error { reason }),
                    }
                });
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
        // A two-way request's sessions take their sides themselves: the
        // spec's side is not used.
        let (side, two_way) = match side {
            "buy" => (Side::Buy, false),
            "sell" => (Side::Sell, false),
            "two_way" => (Side::Buy, true),
            other => {
                return self.reject(
                    id,
                    RejectReason::Other,
                    format!("side '{other}' must be buy, sell or two_way"),
                )
            }
        };
        let fixed = match amount_currency.as_deref().map(|c| leg_named(pair, c)) {
            None => Leg::Base,
            Some(Ok(leg)) => leg,
            Some(Err(why)) => return self.reject(id, RejectReason::Other, why),
        };
        let amount = match pair.parse_amount_in(fixed, amount) {
            Ok(amount) => amount,
            Err(error) => return self.reject(id, RejectReason::Other, format!("amount: {error}")),
        };
        // The desk's fat-finger limit: an operator may confirm past it, a
        // client cannot, so above it (or unpriced) is a plain refusal.
        let notional = desk.settings().notional_limits().check(pair, fixed, amount);
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
        let params = RequestParams::default()
            .with_client(self.client.clone())
            .with_channel(self.channel);
        // One request either way: the client's limits hold it once, as
        // they do an operator's two-way request.
        let request = QuoteRequest {
            spec: RfqSpec {
                side,
                amount,
                pair,
                fixed,
            },
            params: if two_way {
                params.with_two_way()
            } else {
                params
            },
        };
        if let Some(hops) = &self.api.hops {
            hops.starting(&id);
        }
        let handle = match desk.try_start_keeping(request, keeps_for_client) {
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
            asked: Asked {
                pair,
                fixed,
                amount,
                two_way,
            },
            rfq_id: handle.rfq_id.clone(),
            sides: [None, None],
            two_way_issued: 0,
            issued: Vec::new(),
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
        (amount, amount_currency): (&str, Option<String>),
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
        if let Err(first) = self.api.begin_claim(&self.client, &order_id, &quote) {
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
        // Which request's task takes it, looked up now: the task below
        // has none of the session's state.
        let owner = self
            .quotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&quote)
            .cloned();
        let commands = owner
            .and_then(|rfq| self.live.get(&rfq))
            .map(|rfq| rfq.commands.clone());
        let (api, client, channel, out) = (
            self.api.clone(),
            self.client.clone(),
            self.channel,
            self.out.clone(),
        );
        // The claim goes on the record before the order may execute, off
        // the session's loop: a slow record holds this order only.
        self.pumps.spawn(async move {
            if let Err(refused) = api.finish_claim(&client, channel, &order_id, &quote).await {
                return out.offer(Outbound::ExecutionReport(refused));
            }
            let routed = parsed.and_then(|(side, amount, price)| {
                let commands = commands.ok_or_else(|| format!("quote '{quote}' is not live"))?;
                let order = ClientOrder {
                    client_order_id: order_id.clone(),
                    quote_id: quote.clone(),
                    side,
                    amount,
                    amount_currency,
                    price,
                };
                commands
                    .try_send(PumpCommand::Order(order))
                    .map_err(|_| format!("quote '{quote}' is not live"))
            });
            if let Err(why) = routed {
                let report = ExecutionReport::rejected(order_id, Some(quote), why);
                api.note_order(&client, channel, &report);
                out.offer(Outbound::ExecutionReport(report));
            }
        });
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

/// The leg of `pair` whose currency is `currency` (any case), or why it
/// names neither.
fn leg_named(pair: Pair, currency: &str) -> Result<Leg, String> {
    let upper = currency.to_ascii_uppercase();
    if upper == pair.base.as_str() {
        Ok(Leg::Base)
    } else if upper == pair.quote.as_str() {
        Ok(Leg::Quote)
    } else {
        Err(format!(
            "amount_currency '{currency}' must be {} or {}, a currency of {}",
            pair.base,
            pair.quote,
            pair.symbol()
        ))
    }
}

/// A decimal as written: digits with an optional fraction, no exponent.
fn decimal(field: &str, text: &str) -> Result<Decimal, String> {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    plain
        .then(|| Decimal::from_str(text).ok())
        .flatten()
        .ok_or_else(|| format!("{field} '{text}' must be a decimal such as 1.5"))
}

/// What the client asked for, as its quotes are worded and its orders
/// judged.
#[derive(Debug, Clone, Copy)]
struct Asked {
    pair: Pair,
    /// The leg whose amount the client named.
    fixed: Leg,
    /// In the `fixed` leg's currency.
    amount: Decimal,
    /// A bid and an offer: one quote shows both.
    two_way: bool,
}

impl Asked {
    /// The amount as a quote shows it, at its currency's precision.
    fn shown_amount(&self, side: &SideQuote) -> Decimal {
        match self.fixed {
            Leg::Base => side.base,
            Leg::Quote => {
                let mut amount = self.amount;
                amount.rescale(self.pair.price_dp);
                amount
            }
        }
    }
}

/// One side of what the client is shown, as the desk quoted it.
#[derive(Debug, Clone)]
struct SideQuote {
    /// The desk's id of this side's quote: what an accept names.
    desk_quote_id: Arc<str>,
    price: Decimal,
    /// The base amount it trades.
    base: Decimal,
    valid_until_ms: StreamMs,
    simulated: bool,
}

/// The quote the client may hit now, as it was shown.
struct Shown {
    quote_id: Arc<str>,
    /// Where the desk buys (the client sells).
    bid: Option<SideQuote>,
    /// Where the desk sells (the client buys).
    offer: Option<SideQuote>,
    /// The earlier of its sides' validities.
    valid_until_ms: StreamMs,
}

impl Shown {
    /// The side a client order to `side` hits.
    fn hit_by(&self, side: Side) -> Option<&SideQuote> {
        match side {
            Side::Buy => self.offer.as_ref(),
            Side::Sell => self.bid.as_ref(),
        }
    }
}

/// The client order out on a request, and the quote it hit as the client
/// knows it.
struct OrderOut {
    client_order_id: Arc<str>,
    quote_id: Arc<str>,
}

/// Which of [`Pump::sides`] a side's quotes go in: the offer (the client
/// buys) first, as in the client view.
fn slot(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
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
    asked: Asked,
    /// The desk's id of the stream: a two-way quote's id is stemmed from it.
    rfq_id: Arc<str>,
    /// The desk's live quote of each side (the offer, then the bid; a
    /// one-sided request uses its own side's only).
    sides: [Option<SideQuote>; 2],
    /// Two-way quotes shown so far: the sequence in their ids.
    two_way_issued: u32,
    /// Every quote id shown, taken out of the session's index at the end.
    issued: Vec<Arc<str>>,
    live: Option<Shown>,
    quoted: bool,
    /// The client order out on this request.
    order: Option<OrderOut>,
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
            for quote in &self.issued {
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
        self.sides = [None, None];
        if let Some(live) = self.live.take() {
            self.out.offer(Outbound::QuoteCancel {
                client_rfq_id: self.client_rfq_id.clone(),
                quote_id: live.quote_id,
                reason,
            });
        }
    }

    /// Shows the client the desk's live sides as one quote, replacing the
    /// one it held. A one-sided quote keeps the desk's id; a two-way one
    /// gets its own, since its sides are quoted (and replaced) apart.
    fn show(&mut self, clock: &StreamClock) {
        let [offer, bid] = self.sides.clone();
        let present = || offer.iter().chain(bid.iter());
        let Some(valid_until_ms) = present().map(|side| side.valid_until_ms).min() else {
            return;
        };
        let quote_id = match (self.asked.two_way, present().next()) {
            (false, Some(side)) => side.desk_quote_id.clone(),
            _ => {
                self.two_way_issued += 1;
                crate::ids::quote_id(&format!("{}-2w", self.rfq_id), self.two_way_issued)
            }
        };
        let simulated = present().any(|side| side.simulated);
        let Some(amount) = present().next().map(|side| self.asked.shown_amount(side)) else {
            return;
        };
        self.quotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(quote_id.clone(), self.client_rfq_id.clone());
        self.issued.push(quote_id.clone());
        let in_quote_currency = self.asked.fixed == Leg::Quote;
        let size = |side: &Option<SideQuote>| {
            side.as_ref()
                .filter(|_| in_quote_currency)
                .map(|side| side.base)
        };
        if let Some(hops) = &self.api.hops {
            hops.quote_offered(&quote_id);
        }
        self.out.offer(Outbound::Quote {
            client_rfq_id: self.client_rfq_id.clone(),
            quote_id: quote_id.clone(),
            bid: bid.as_ref().map(|side| side.price),
            offer: offer.as_ref().map(|side| side.price),
            amount,
            amount_currency: in_quote_currency.then_some(self.asked.pair.quote),
            bid_size: size(&bid),
            offer_size: size(&offer),
            valid_until: crate::clock::iso_millis(clock.wall_at(valid_until_ms)),
            simulated,
        });
        self.live = Some(Shown {
            quote_id,
            bid,
            offer,
            valid_until_ms,
        });
    }

    /// Why `order` does not match `live`, the quote it names; else the
    /// side it hits.
    fn mismatch<'a>(&self, live: &'a Shown, order: &ClientOrder) -> Result<&'a SideQuote, String> {
        let asked = self.asked;
        let hit = live.hit_by(order.side).ok_or_else(|| {
            if asked.two_way {
                format!(
                    "side '{}' is not quoted: quote '{}' has no {}",
                    side_word(order.side),
                    live.quote_id,
                    price_word(order.side)
                )
            } else {
                format!(
                    "side '{}' is not the quote's '{}'",
                    side_word(order.side),
                    side_word(match order.side {
                        Side::Buy => Side::Sell,
                        Side::Sell => Side::Buy,
                    })
                )
            }
        })?;
        if let Some(currency) = &order.amount_currency {
            if leg_named(asked.pair, currency).ok() != Some(asked.fixed) {
                return Err(format!(
                    "amount_currency '{currency}' is not the quote's {}",
                    asked.pair.asset_of(asked.fixed)
                ));
            }
        }
        let amount = asked.shown_amount(hit);
        if order.amount != amount {
            return Err(format!(
                "amount '{}' is not the quote's {amount}",
                order.amount
            ));
        }
        if order.price != hit.price {
            let which = if asked.two_way {
                format!("{} ", price_word(order.side))
            } else {
                String::new()
            };
            return Err(format!(
                "price '{}' is not the quote's {which}{}",
                order.price, hit.price
            ));
        }
        Ok(hit)
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
        let hit = match self.mismatch(live, &order) {
            Ok(hit) => hit.desk_quote_id.clone(),
            Err(why) => return self.refuse(&order, why),
        };
        // The desk's id of the side hit: on a two-way request it also
        // names the side that trades.
        let accept = StreamCommand::Accept {
            quote_id: Some(hit),
        };
        if handle.commands.try_send(accept).is_err() {
            return self.refuse(&order, "the desk is busy: the order was not sent".into());
        }
        tracing::info!(client = %self.client, client_order_id = %order.client_order_id, quote_id = %order.quote_id, "client order sent");
        self.order = Some(OrderOut {
            client_order_id: order.client_order_id,
            quote_id: order.quote_id,
        });
    }

    /// The order out and the quote it hit, as the client named them.
    fn order_out(&self) -> Option<(Arc<str>, Arc<str>)> {
        self.order
            .as_ref()
            .map(|order| (order.client_order_id.clone(), order.quote_id.clone()))
    }

    fn on_client_event(&mut self, clock: &StreamClock, t_ms: StreamMs, kind: ClientEventKind) {
        match kind {
            ClientEventKind::Opened(_) | ClientEventKind::OrderPending(_) => {}
            // Once the client has hit one side of a two-way quote, the
            // other offers nothing more: an RFQ trades once.
            ClientEventKind::Quote(_) if self.asked.two_way && self.order.is_some() => {}
            ClientEventKind::Quote(quote) => {
                self.quoted = true;
                let valid_until_ms = t_ms.saturating_add(quote.valid_for_ms).min(self.ends_at_ms);
                self.sides[slot(quote.side)] = Some(SideQuote {
                    desk_quote_id: quote.quote_id,
                    price: quote.price,
                    base: quote.amount,
                    valid_until_ms,
                    simulated: quote.simulated,
                });
                self.show(clock);
            }
            ClientEventKind::QuoteWithdrawn(withdrawn) => {
                let reason = match (withdrawn.reason, self.record_failing) {
                    (_, true) => CancelReason::RecordFailing,
                    (WithdrawReason::Expired, false) => CancelReason::Expired,
                };
                let mut cleared = false;
                for side in &mut self.sides {
                    if side
                        .as_ref()
                        .is_some_and(|side| side.desk_quote_id == withdrawn.quote_id)
                    {
                        *side = None;
                        cleared = true;
                    }
                }
                let standing = self.sides.iter().any(Option::is_some);
                if !standing || self.record_failing {
                    // A desk that cannot record offers nothing: not even
                    // the side still standing.
                    self.cancel(reason);
                } else if cleared {
                    // The other side of a two-way quote stands alone.
                    self.show(clock);
                }
            }
            ClientEventKind::OrderFilled(filled) => {
                if let Some((order, quote_id)) = self.order_out() {
                    let asked = self.asked;
                    let cash_amount = (asked.fixed == Leg::Quote).then(|| {
                        if filled.pays_asset == asked.pair.quote {
                            filled.client_pays
                        } else {
                            filled.client_receives
                        }
                    });
                    self.report_outcome(ExecutionReport {
                        client_order_id: order,
                        quote_id: Some(quote_id),
                        status: OrderStatus::Filled,
                        price: Some(filled.price),
                        amount: Some(filled.amount),
                        cash_amount,
                        reason: None,
                        status_request: false,
                    });
                }
            }
            ClientEventKind::OrderNotFilled(not_filled) => {
                if let Some((order, quote_id)) = self.order_out() {
                    let reason = match not_filled.reason {
                        NotFilledReason::QuoteNotLive => "the quote was no longer live",
                        NotFilledReason::NoFill => "no liquidity at the quote's price",
                    };
                    self.report_outcome(ExecutionReport::rejected(order, Some(quote_id), reason));
                }
            }
            ClientEventKind::OrderUnknown(_) => {
                if let Some((order, quote_id)) = self.order_out() {
                    self.report_outcome(ExecutionReport {
                        client_order_id: order,
                        quote_id: Some(quote_id),
                        status: OrderStatus::Unknown,
                        price: None,
                        amount: None,
                        cash_amount: None,
                        reason: Some(
                            "whether it traded is not known yet: the desk resolves it with its counterparty"
                                .into(),
                        ),
                        status_request: false,
                    });
                }
            }
            ClientEventKind::Ended(ended) => {
                if let Some((order, quote_id)) = self.order_out() {
                    // The stream ended before the engine took the accept:
                    // no order reached an LP, and the client must not be
                    // left waiting on a pending one.
                    self.live = None;
                    if !self.outcome_reported {
                        self.report_outcome(ExecutionReport::rejected(
                            order,
                            Some(quote_id),
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

/// The price a client order to `side` hits.
fn price_word(side: Side) -> &'static str {
    match side {
        Side::Buy => "offer",
        Side::Sell => "bid",
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
        pump_for(false)
    }

    /// [`pump`] for 1 BTC of BTCUSDT, both sides when `two_way`.
    fn pump_for(two_way: bool) -> (Pump, mpsc::Receiver<Outbound>) {
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
            asked: Asked {
                pair: "BTCUSDT".parse().unwrap(),
                fixed: Leg::Base,
                amount: dec!(1),
                two_way,
            },
            rfq_id: Arc::from("R-1"),
            sides: [None, None],
            two_way_issued: 0,
            issued: Vec::new(),
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
        pump.order = Some(OrderOut {
            client_order_id: Arc::from("o-1"),
            quote_id: Arc::from("Q-1"),
        });
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
        pump.order = Some(OrderOut {
            client_order_id: Arc::from("o-1"),
            quote_id: Arc::from("Q-1"),
        });
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

    /// One side's quote of a two-way request: `id`, the client `price` of
    /// `base` BTC, valid for `valid_for_ms`.
    fn side_quote(
        side: Side,
        id: &str,
        price: Decimal,
        base: Decimal,
        valid_for_ms: u64,
    ) -> ClientEventKind {
        let (usdt, btc) = (Asset::new("USDT").unwrap(), Asset::new("BTC").unwrap());
        let (pays, pays_asset, receives, receives_asset) = match side {
            Side::Buy => (price * base, usdt, base, btc),
            Side::Sell => (base, btc, price * base, usdt),
        };
        ClientEventKind::Quote(Quote {
            quote_id: Arc::from(id),
            side,
            amount: base,
            price,
            client_pays: pays,
            pays_asset,
            client_receives: receives,
            receives_asset,
            valid_for_ms,
            simulated: false,
        })
    }

    /// Both sides of 1 BTC quoted at 100 ms, each valid for 1.5 s: the
    /// offer at 100100.02 (`Q-1-offer-1`), the bid at 99820.08
    /// (`Q-1-bid-1`).
    fn both_sides_quoted(pump: &mut Pump, clock: &StreamClock) {
        for (side, id, price) in [
            (Side::Buy, "Q-1-offer-1", dec!(100100.02)),
            (Side::Sell, "Q-1-bid-1", dec!(99820.08)),
        ] {
            pump.on_client_event(
                clock,
                100,
                side_quote(side, id, price, dec!(1.00000000), 1_500),
            );
        }
    }

    fn withdrawn(id: &str) -> ClientEventKind {
        ClientEventKind::QuoteWithdrawn(crate::rfq::client_view::QuoteWithdrawn {
            quote_id: Arc::from(id),
            reason: WithdrawReason::Expired,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_two_way_request_shows_its_live_sides_as_one_quote_of_its_own_id() {
        let (mut pump, mut sent) = pump_for(true);
        let clock = StreamClock::start();
        let at = |t_ms| serde_json::json!(crate::clock::iso_millis(clock.wall_at(t_ms)));
        pump.on_client_event(
            &clock,
            100,
            side_quote(
                Side::Buy,
                "Q-1-offer-1",
                dec!(100100.02),
                dec!(1.00000000),
                1_500,
            ),
        );
        pump.on_client_event(
            &clock,
            200,
            side_quote(
                Side::Sell,
                "Q-1-bid-1",
                dec!(99820.08),
                dec!(1.00000000),
                1_000,
            ),
        );
        // The bid runs out first: the offer stands alone, under a new id.
        pump.on_client_event(&clock, 1_200, withdrawn("Q-1-bid-1"));
        pump.on_client_event(&clock, 1_600, withdrawn("Q-1-offer-1"));
        let quote = |id: &str, bid: Option<&str>, until| {
            let mut quote = serde_json::json!({"type": "quote", "client_rfq_id": "r-1", "quote_id": id, "offer": "100100.02", "amount": "1.00000000", "valid_until": at(until)});
            if let Some(bid) = bid {
                quote["bid"] = serde_json::json!(bid);
            }
            quote
        };
        assert_eq!(
            drain(&mut sent),
            [
                quote("Q-1-2w-1", None, 1_600),
                quote("Q-1-2w-2", Some("99820.08"), 1_200),
                quote("Q-1-2w-3", None, 1_600),
                serde_json::json!({"type": "quote_cancel", "client_rfq_id": "r-1", "quote_id": "Q-1-2w-3", "reason": "expired"}),
            ]
        );
        // Every id shown leaves the session's index with the request.
        assert_eq!(pump.issued.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_desk_that_cannot_record_withdraws_both_sides_of_a_two_way_quote() {
        let (mut pump, mut sent) = pump_for(true);
        let clock = StreamClock::start();
        both_sides_quoted(&mut pump, &clock);
        pump.record_failing = true;
        pump.on_client_event(&clock, 300, withdrawn("Q-1-bid-1"));
        pump.on_client_event(&clock, 310, withdrawn("Q-1-offer-1"));
        let sent = drain(&mut sent);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(
            sent[2],
            serde_json::json!({"type": "quote_cancel", "client_rfq_id": "r-1", "quote_id": "Q-1-2w-2", "reason": "record_failing"})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_quote_currency_request_shows_its_amount_and_each_sides_base() {
        let (mut pump, mut sent) = pump_for(true);
        pump.asked.fixed = Leg::Quote;
        pump.asked.amount = dec!(100000);
        let clock = StreamClock::start();
        pump.on_client_event(
            &clock,
            100,
            side_quote(
                Side::Buy,
                "Q-1-offer-1",
                dec!(100100.02),
                dec!(0.99900080),
                1_500,
            ),
        );
        pump.on_client_event(
            &clock,
            100,
            side_quote(
                Side::Sell,
                "Q-1-bid-1",
                dec!(99820.08),
                dec!(1.00180444),
                1_500,
            ),
        );
        let sent = drain(&mut sent);
        assert_eq!(
            sent[1],
            serde_json::json!({"type": "quote", "client_rfq_id": "r-1", "quote_id": "Q-1-2w-2", "bid": "99820.08", "offer": "100100.02", "amount": "100000.00", "amount_currency": "USDT", "bid_size": "1.00180444", "offer_size": "0.99900080", "valid_until": crate::clock::iso_millis(clock.wall_at(1_600))})
        );
    }

    #[rstest::rstest]
    #[case::the_offer("buy", "1", None, "100100.02", Ok("Q-1-offer-1"))]
    #[case::the_bid("sell", "1.0", Some("btc"), "99820.08", Ok("Q-1-bid-1"))]
    #[case::the_bid_at_the_offer(
        "sell",
        "1",
        None,
        "100100.02",
        Err("price '100100.02' is not the quote's bid 99820.08")
    )]
    #[case::another_amount(
        "buy",
        "2",
        None,
        "100100.02",
        Err("amount '2' is not the quote's 1.00000000")
    )]
    #[case::another_currency(
        "buy",
        "1",
        Some("USDT"),
        "100100.02",
        Err("amount_currency 'USDT' is not the quote's BTC")
    )]
    fn an_order_hits_the_side_it_names_at_that_sides_price(
        #[case] side: &str,
        #[case] amount: &str,
        #[case] currency: Option<&str>,
        #[case] price: &str,
        #[case] expected: Result<&str, &str>,
    ) {
        let (mut pump, _sent) = pump_for(true);
        let clock = StreamClock::start();
        both_sides_quoted(&mut pump, &clock);
        let order = ClientOrder {
            client_order_id: Arc::from("o-1"),
            quote_id: Arc::from("Q-1-2w-2"),
            side: side.parse().unwrap(),
            amount: amount.parse().unwrap(),
            amount_currency: currency.map(str::to_string),
            price: price.parse().unwrap(),
        };
        let live = pump.live.as_ref().unwrap();
        let judged = pump.mismatch(live, &order);
        assert_eq!(
            judged
                .as_ref()
                .map(|hit| &*hit.desk_quote_id)
                .map_err(String::as_str),
            expected
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_side_with_no_quote_cannot_be_hit() {
        let (mut pump, _sent) = pump_for(true);
        let clock = StreamClock::start();
        pump.on_client_event(
            &clock,
            100,
            side_quote(
                Side::Buy,
                "Q-1-offer-1",
                dec!(100100.02),
                dec!(1.00000000),
                1_500,
            ),
        );
        let order = ClientOrder {
            client_order_id: Arc::from("o-1"),
            quote_id: Arc::from("Q-1-2w-1"),
            side: Side::Sell,
            amount: dec!(1),
            amount_currency: None,
            price: dec!(100100.02),
        };
        let judged = pump
            .mismatch(pump.live.as_ref().unwrap(), &order)
            .map(|_| ());
        assert_eq!(
            judged,
            Err("side 'sell' is not quoted: quote 'Q-1-2w-1' has no bid".into())
        );
    }
}
