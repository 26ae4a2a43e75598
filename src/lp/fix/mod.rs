//! A FIX 4.4 RFQ venue as a [`LiquidityProvider`]: [`Fix44Lp`] turns an
//! [`LpRequest`] into a QuoteRequest (R) and the venue's Quote (S) or
//! QuoteRequestReject (AG) into an [`LpQuote`] or an [`LpError`], and an
//! [`LpOrder`] into a NewOrderSingle (D) against the venue's QuoteID whose
//! ExecutionReport (8) becomes an [`OrderAnswer`]. The wire lives in
//! [`codec`], the connection in [`session`], the audit trail in `audit`.

pub(crate) mod audit;
pub mod codec;
pub mod session;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::clock::{StreamClock, StreamMs};
use crate::lp::{
    ClientOrderIds, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
    OrderLookup, TwoWayAnswer,
};
use crate::market::{Leg, Side};
use crate::secret::Secret;

use audit::AuditLog;
use codec::{msg_type, parse_utc_timestamp, tag, utc_timestamp, Message};
use session::{Failure, LinkState, Route, SessionConfig, SessionHandle};

/// Everything needed to reach one FIX venue. Build it with
/// [`Fix44Config::new`] (which sets the defaults) and change fields as the
/// venues file says.
#[derive(Debug, Clone)]
pub struct Fix44Config {
    /// The LP's name: shown on the leaderboard, stored in the blotter, and
    /// the audit log's file name.
    pub name: String,
    pub(crate) host: String,
    pub port: u16,
    /// Ours: SenderCompID (49) on what we send.
    pub(crate) sender_comp_id: String,
    /// Theirs: TargetCompID (56) on what we send.
    pub(crate) target_comp_id: String,
    /// HeartBtInt (108), in seconds. Default 30.
    pub heartbeat_secs: u64,
    /// How the venue spells a pair, with `{base}` and `{quote}`.
    /// Default `{base}/{quote}`.
    pub(crate) symbol_template: String,
    /// Username (553), sent in the Logon when set.
    pub username: Option<String>,
    /// Password (554), sent in the Logon when set; `554=***` in the log.
    pub password: Option<Secret>,
    /// How long an order waits for its ExecutionReport before an
    /// OrderStatusRequest is sent, in milliseconds. Default 5000.
    pub order_timeout_ms: u64,
    /// How long the answer to that OrderStatusRequest is waited for before
    /// the order is reported unknown, in milliseconds. Default 1000.
    pub status_timeout_ms: u64,
    /// Directory of the audit log `<log_dir>/<name>.fix.log`.
    pub(crate) log_dir: PathBuf,
    /// Send ResetSeqNumFlag (141=Y) on every Logon, starting both
    /// sequences at 1. Default true.
    pub(crate) reset_on_logon: bool,
    /// First wait before reconnecting after a drop, in milliseconds; it
    /// doubles after each failed attempt. Default 1000.
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnect attempts, in milliseconds; also the
    /// wait after a refused logon. Default 30000.
    pub reconnect_max_ms: u64,
    /// Limit on a TCP connect, on the answer to our Logon and on one write,
    /// in milliseconds. Default 10000.
    pub logon_timeout_ms: u64,
    /// How long shutdown waits for the venue's Logout, in milliseconds.
    /// Default 2000.
    pub logout_timeout_ms: u64,
    /// The venue's own quote timeout (`timeout_ms` in the venues file), in
    /// milliseconds; `None`: the desk's LP_TIMEOUT_MS.
    pub(crate) quote_timeout_ms: Option<u64>,
}

impl Fix44Config {
    /// A configuration with every optional setting at its default.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        port: u16,
        sender_comp_id: impl Into<String>,
        target_comp_id: impl Into<String>,
        log_dir: impl Into<PathBuf>,
    ) -> Fix44Config {
        Fix44Config {
            name: name.into(),
            host: host.into(),
            port,
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            heartbeat_secs: 30,
            symbol_template: "{base}/{quote}".to_string(),
            username: None,
            password: None,
            order_timeout_ms: 5_000,
            status_timeout_ms: 1_000,
            log_dir: log_dir.into(),
            reset_on_logon: true,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 30_000,
            logon_timeout_ms: 10_000,
            logout_timeout_ms: 2_000,
            quote_timeout_ms: None,
        }
    }

    /// Checks every setting, naming the first bad one.
    pub(crate) fn validate(&self) -> Result<(), Fix44Error> {
        let bad = |setting: &'static str, value: String, problem: &str| {
            Err(Fix44Error::Setting {
                venue: self.name.clone(),
                setting,
                value,
                problem: problem.to_string(),
            })
        };
        let text_fields = [
            ("name", &self.name),
            ("host", &self.host),
            ("sender_comp_id", &self.sender_comp_id),
            ("target_comp_id", &self.target_comp_id),
            ("symbol", &self.symbol_template),
        ];
        for (setting, value) in text_fields {
            if value.trim().is_empty() {
                return bad(setting, value.clone(), "must not be empty");
            }
            if value.chars().any(char::is_control) {
                return bad(
                    setting,
                    value.escape_debug().to_string(),
                    "must not hold control characters",
                );
            }
        }
        if let Some(username) = &self.username {
            if username.is_empty() || username.chars().any(char::is_control) {
                return bad(
                    "username",
                    username.escape_debug().to_string(),
                    "must be printable text",
                );
            }
        }
        if self
            .password
            .as_ref()
            .is_some_and(|p| p.expose().chars().any(char::is_control))
        {
            return bad(
                "password",
                "***".to_string(),
                "must not hold control characters",
            );
        }
        if !self.symbol_template.contains("{base}") {
            return bad(
                "symbol",
                self.symbol_template.clone(),
                "must contain {base}",
            );
        }
        if self.port == 0 {
            return bad("port", "0".to_string(), "must be between 1 and 65535");
        }
        if !(1..=3600).contains(&self.heartbeat_secs) {
            return bad(
                "heartbeat_secs",
                self.heartbeat_secs.to_string(),
                "must be between 1 and 3600",
            );
        }
        let positive = [
            ("order_timeout_ms", self.order_timeout_ms),
            ("status_timeout_ms", self.status_timeout_ms),
            ("reconnect_min_ms", self.reconnect_min_ms),
            ("logon_timeout_ms", self.logon_timeout_ms),
            ("logout_timeout_ms", self.logout_timeout_ms),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return bad(setting, "0".to_string(), "must be at least 1");
            }
        }
        if self.reconnect_max_ms < self.reconnect_min_ms {
            return bad(
                "reconnect_max_ms",
                self.reconnect_max_ms.to_string(),
                "must not be below reconnect_min_ms",
            );
        }
        Ok(())
    }
}

/// Why a FIX venue could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Fix44Error {
    #[error("fix venue '{venue}': {setting} '{value}' {problem}")]
    Setting {
        venue: String,
        setting: &'static str,
        value: String,
        problem: String,
    },
    #[error("fix venue '{venue}': cannot open the audit log in '{dir}': {source}")]
    AuditLog {
        venue: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// How long the desk waits at start for a FIX session to log on.
const LOGON_WAIT_AT_START: Duration = Duration::from_secs(3);

/// A FIX 4.4 RFQ venue: one session shared by every stream that asks it.
pub struct Fix44Lp {
    name: Arc<str>,
    quote_timeout_ms: Option<u64>,
    symbol_template: String,
    order_timeout: Duration,
    status_timeout: Duration,
    session: SessionHandle,
    audit_path: PathBuf,
}

impl Fix44Lp {
    /// Checks the configuration, opens the audit log and starts the
    /// session, which connects and logs on in the background (and
    /// reconnects after a drop) on the current tokio runtime. Until it is
    /// logged on, quotes fail at once as unavailable.
    pub fn start(config: Fix44Config) -> Result<Fix44Lp, Fix44Error> {
        config.validate()?;
        let audit = AuditLog::open(&config.log_dir, &config.name).map_err(|source| {
            Fix44Error::AuditLog {
                venue: config.name.clone(),
                dir: config.log_dir.display().to_string(),
                source,
            }
        })?;
        let audit_path = audit.path().to_path_buf();
        let name: Arc<str> = Arc::from(config.name.as_str());
        let session = SessionHandle::start(
            SessionConfig {
                venue: name.clone(),
                host: config.host,
                port: config.port,
                sender_comp_id: config.sender_comp_id,
                target_comp_id: config.target_comp_id,
                heartbeat: Duration::from_secs(config.heartbeat_secs),
                username: config.username,
                password: config.password,
                reset_on_logon: config.reset_on_logon,
                reconnect_min: Duration::from_millis(config.reconnect_min_ms),
                reconnect_max: Duration::from_millis(config.reconnect_max_ms),
                logon_timeout: Duration::from_millis(config.logon_timeout_ms),
                logout_timeout: Duration::from_millis(config.logout_timeout_ms),
            },
            audit,
        );
        Ok(Fix44Lp {
            name,
            quote_timeout_ms: config.quote_timeout_ms,
            symbol_template: config.symbol_template,
            order_timeout: Duration::from_millis(config.order_timeout_ms),
            status_timeout: Duration::from_millis(config.status_timeout_ms),
            session,
            audit_path,
        })
    }

    /// Whether the session is logged on now, and if not why.
    pub fn link_state(&self) -> LinkState {
        self.session.state()
    }

    /// Waits up to `limit` for the session to log on (for a start-up that
    /// wants its venues ready before the first RFQ).
    pub async fn wait_logged_on(&self, limit: Duration) -> Result<(), LpError> {
        let state = self
            .session
            .wait_for_state(limit, |s| {
                matches!(
                    s,
                    LinkState::Up | LinkState::AuthFailed(_) | LinkState::Closed
                )
            })
            .await;
        match state {
            LinkState::Up => Ok(()),
            other => Err(not_connected(other)),
        }
    }

    /// Waits up to `limit` until `done` holds for the session's state;
    /// returns the state then.
    pub async fn wait_for_link(
        &self,
        limit: Duration,
        done: impl FnMut(&LinkState) -> bool,
    ) -> LinkState {
        self.session.wait_for_state(limit, done).await
    }

    /// Logs out (waiting up to the logout timeout for the venue's Logout)
    /// and ends the session for good.
    pub async fn shutdown(&self) {
        self.session.shutdown().await;
    }

    /// Where this venue's FIX audit log is written.
    pub fn audit_log_path(&self) -> &Path {
        &self.audit_path
    }

    async fn status_after_silence(
        &self,
        order: &LpOrder,
        symbol: &str,
        pending: &mut session::PendingAnswer,
    ) -> OrderAnswer {
        let waited = self.order_timeout.as_millis();
        let status = Message::new(msg_type::ORDER_STATUS_REQUEST)
            .with(tag::CL_ORD_ID, &order.order_id)
            .with(tag::SYMBOL, symbol)
            .with(tag::SIDE, side_code(order.side));
        if let Err(failure) = self.session.send(status).await {
            return OrderAnswer::Unknown {
                reason: format!(
                    "no execution report within {waited} ms, and the status request was not sent: {}",
                    describe(&failure)
                ),
            };
        }
        match tokio::time::timeout(self.status_timeout, pending.answer()).await {
            Ok(answer) => order_outcome(answer),
            Err(_) => OrderAnswer::Unknown {
                reason: format!(
                    "no execution report within {waited} ms, nor an answer to the status request within {} ms",
                    self.status_timeout.as_millis()
                ),
            },
        }
    }
}

impl Fix44Lp {
    /// Asks the venue for an order's status (35=H by ClOrdID, with its
    /// Side and Symbol) and waits up to the status timeout for the
    /// ExecutionReport that answers it (150=I; 39=2 filled, 8 rejected or
    /// unknown to the venue, 4 cancelled).
    async fn ask_status(&self, cl_ord_id: &str, side: Side, symbol: &str) -> OrderAnswer {
        let status = Message::new(msg_type::ORDER_STATUS_REQUEST)
            .with(tag::CL_ORD_ID, cl_ord_id)
            .with(tag::SYMBOL, symbol)
            .with(tag::SIDE, side_code(side));
        let mut pending = match self
            .session
            .request(Route::Order, cl_ord_id.to_string(), status)
            .await
        {
            Ok(pending) => pending,
            Err(failure) => {
                return OrderAnswer::Unknown {
                    reason: format!("status request not sent: {}", describe(&failure)),
                }
            }
        };
        match tokio::time::timeout(self.status_timeout, pending.answer()).await {
            Ok(answer) => order_outcome(answer),
            Err(_) => OrderAnswer::Unknown {
                reason: format!(
                    "no answer to the status request within {} ms",
                    self.status_timeout.as_millis()
                ),
            },
        }
    }

    /// The connection dropped with the order out. The session logs on
    /// again with a sequence reset, so the venue never redelivers an
    /// ExecutionReport it sent meanwhile: once logged on (within what is
    /// left of the order time) the order's status is asked instead.
    async fn status_after_reconnect(
        &self,
        order: &LpOrder,
        symbol: &str,
        lost: String,
        left: Duration,
    ) -> OrderAnswer {
        if let Err(error) = self.wait_logged_on(left).await {
            return OrderAnswer::Unknown {
                reason: format!(
                    "no execution report before the connection was lost ({lost}), and not logged on again to ask: {error}"
                ),
            };
        }
        match self.ask_status(&order.order_id, order.side, symbol).await {
            OrderAnswer::Unknown { reason } => OrderAnswer::Unknown {
                reason: format!(
                    "no execution report before the connection was lost ({lost}); after logging on again: {reason}"
                ),
            },
            settled => settled,
        }
    }
}

#[async_trait]
impl LiquidityProvider for Fix44Lp {
    fn client_order_ids(&self) -> ClientOrderIds {
        ClientOrderIds::OrderId
    }

    fn order_lookup(&self) -> Option<&'static str> {
        Some("OrderStatusRequest (35=H) by ClOrdID")
    }

    /// Asked after logon (the registry waits for it at start); a session
    /// that is not logged on leaves the order unknown.
    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        if let Err(error) = self.wait_logged_on(LOGON_WAIT_AT_START).await {
            return OrderAnswer::Unknown {
                reason: format!("not asked: {error}"),
            };
        }
        let cl_ord_id = order.client_order_id.as_deref().unwrap_or(&order.order_id);
        let symbol = order.pair.venue_symbol(&self.symbol_template);
        self.ask_status(cl_ord_id, order.side, &symbol).await
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn timeout_ms(&self) -> Option<u64> {
        self.quote_timeout_ms
    }

    fn order_timeout_ms(&self) -> Option<u64> {
        // The adapter settles an order itself (ExecutionReport, then one
        // OrderStatusRequest); the engine waits a little longer so the
        // adapter's answer, with its reason, arrives first.
        let own = self.order_timeout + self.status_timeout;
        Some(own.as_millis() as u64 + crate::lp::adapter::ORDER_GRACE_MS)
    }

    /// Gives the session a moment to log on, so that the first stream does
    /// not start with the venue still connecting (it carries on either
    /// way: quotes fail as unavailable until the session is up).
    async fn start(&self) {
        if let Err(error) = self.wait_logged_on(LOGON_WAIT_AT_START).await {
            tracing::warn!(venue = %self.name, %error, "FIX venue not logged on at start");
        }
    }

    async fn shutdown(&self) {
        Fix44Lp::shutdown(self).await;
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let symbol = request.pair.venue_symbol(&self.symbol_template);
        let answer = self
            .ask_quote(request, Some(request.side), &symbol)
            .await
            .map_err(quote_failure)?;
        read_quote_answer(&self.name, request, &symbol, &answer)
    }

    /// A FIX venue quotes both sides in one Quote (BidPx 132, OfferPx 133).
    fn quotes_two_way(&self) -> bool {
        true
    }

    /// One QuoteRequest with Side (54) omitted, keyed by the offer's
    /// request: the Quote's OfferPx answers `offer`, its BidPx `bid`.
    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        let symbol = offer.pair.venue_symbol(&self.symbol_template);
        match self.ask_quote(offer, None, &symbol).await {
            Ok(answer) => TwoWayAnswer {
                offer: read_quote_answer(&self.name, offer, &symbol, &answer),
                bid: read_quote_answer(&self.name, bid, &symbol, &answer),
            },
            Err(failure) => TwoWayAnswer::both(quote_failure(failure)),
        }
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let Some(quote_id) = &order.venue_ref else {
            return OrderAnswer::Refused {
                reason: "order not sent: it names no QuoteID (117) to trade against".to_string(),
                refusal: crate::lp::OrderRefusal::NotSent,
            };
        };
        let symbol = order.pair.venue_symbol(&self.symbol_template);
        let mut body = Message::new(msg_type::NEW_ORDER_SINGLE)
            .with(tag::CL_ORD_ID, &order.order_id)
            .with(tag::QUOTE_ID, quote_id)
            .with(tag::SYMBOL, &symbol)
            .with(tag::SIDE, side_code(order.side))
            .with(qty_tag(order.fixed), order.amount.normalize())
            // Previously quoted, fill or kill: the quote's price for the
            // whole amount, or nothing.
            .with(tag::ORD_TYPE, "D")
            .with(tag::PRICE, order.price)
            .with(tag::TIME_IN_FORCE, "4")
            .with(tag::TRANSACT_TIME, utc_timestamp(Utc::now()));
        if order.fixed == Leg::Quote {
            // CashOrderQty is in the quote currency; say so, as the
            // QuoteRequest did.
            body.push(tag::CURRENCY, order.pair.quote.as_str());
        }
        let mut pending = match self
            .session
            .request(Route::Order, order.order_id.to_string(), body)
            .await
        {
            Ok(pending) => pending,
            Err(Failure::Lost(reason)) => {
                return OrderAnswer::Unknown {
                    reason: format!("connection lost while sending the order: {reason}"),
                }
            }
            Err(failure) => {
                return OrderAnswer::Refused {
                    reason: format!("order not sent: {}", describe(&failure)),
                    refusal: crate::lp::OrderRefusal::NotSent,
                }
            }
        };
        let sent_at = tokio::time::Instant::now();
        match tokio::time::timeout(self.order_timeout, pending.answer()).await {
            Ok(Err(Failure::Lost(lost))) => {
                let left = self.order_timeout.saturating_sub(sent_at.elapsed());
                self.status_after_reconnect(order, &symbol, lost, left)
                    .await
            }
            Ok(answer) => order_outcome(answer),
            Err(_) => {
                self.status_after_silence(order, &symbol, &mut pending)
                    .await
            }
        }
    }
}

impl Fix44Lp {
    /// Sends a QuoteRequest for `request` (keyed by it) and waits for the
    /// venue's answer; `side` `None` asks for a two-way quote (Side 54
    /// omitted, as FIX 4.4 allows).
    async fn ask_quote(
        &self,
        request: &LpRequest,
        side: Option<Side>,
        symbol: &str,
    ) -> Result<Message, Failure> {
        let key = request.key();
        let mut body = Message::new(msg_type::QUOTE_REQUEST).with(tag::QUOTE_REQ_ID, &key);
        let mut instrument = vec![(tag::SYMBOL, symbol.to_string())];
        if let Some(side) = side {
            instrument.push((tag::SIDE, side_code(side).to_string()));
        }
        instrument.extend([
            // A base amount is OrderQty (38); an amount of the quote
            // currency is CashOrderQty (152), with Currency (15) naming
            // which one the amount is in.
            (
                qty_tag(request.fixed),
                request.amount.normalize().to_string(),
            ),
            (
                tag::CURRENCY,
                request.pair.asset_of(request.fixed).as_str().to_string(),
            ),
            // Venues compare it with their own clock, so it is real
            // wall time, not the stream's.
            (tag::TRANSACT_TIME, utc_timestamp(Utc::now())),
        ]);
        body.push_group(tag::NO_RELATED_SYM, &[instrument]);
        let mut pending = self.session.request(Route::Quote, key, body).await?;
        pending.answer().await
    }
}

/// Side (54): 1 buy, 2 sell. The desk's side with the LP is the client's.
fn side_code(side: Side) -> &'static str {
    match side {
        Side::Buy => "1",
        Side::Sell => "2",
    }
}

fn not_connected(state: LinkState) -> LpError {
    match state {
        LinkState::AuthFailed(text) => LpError::Auth(text),
        other => LpError::Unavailable(format!("not connected: {other}")),
    }
}

fn describe(failure: &Failure) -> String {
    match failure {
        Failure::NotConnected(state) => format!("not connected: {state}"),
        Failure::Refused(reason) | Failure::Lost(reason) => reason.clone(),
        Failure::SessionReject(msg) => session_reject_text(msg),
    }
}

fn session_reject_text(msg: &Message) -> String {
    let mut text = msg.get(tag::TEXT).unwrap_or("no reason given").to_string();
    if let Some(reason) = msg.get(tag::SESSION_REJECT_REASON) {
        text.push_str(&format!(" (SessionRejectReason {reason}"));
        if let Some(ref_tag) = msg.get(tag::REF_TAG_ID) {
            text.push_str(&format!(", tag {ref_tag}"));
        }
        text.push(')');
    }
    text
}

fn quote_failure(failure: Failure) -> LpError {
    match failure {
        Failure::NotConnected(state) => not_connected(state),
        Failure::Lost(reason) => LpError::Unavailable(reason),
        Failure::Refused(reason) => LpError::Malformed(reason),
        Failure::SessionReject(msg) => LpError::Malformed(format!(
            "venue rejected our QuoteRequest: {}",
            session_reject_text(&msg)
        )),
    }
}

/// What QuoteRequestRejectReason (658) codes mean.
fn quote_reject_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "1" => "unknown symbol",
        "2" => "exchange closed",
        "3" => "quote request exceeds limit",
        "4" => "too late to enter",
        "5" => "invalid price",
        "6" => "not authorized to request quote",
        "7" => "no match for inquiry",
        "8" => "no market for instrument",
        "9" => "no inventory",
        "10" => "pass",
        "11" => "insufficient credit",
        "99" => "other",
        _ => return None,
    })
}

/// Turns the venue's answer to a QuoteRequest into a quote or an error.
fn read_quote_answer(
    lp: &Arc<str>,
    request: &LpRequest,
    symbol: &str,
    msg: &Message,
) -> Result<LpQuote, LpError> {
    match msg.msg_type() {
        msg_type::QUOTE => read_quote(lp, request, symbol, msg),
        msg_type::QUOTE_REQUEST_REJECT => {
            let text = msg.get(tag::TEXT).unwrap_or("declined").to_string();
            Err(LpError::Declined(
                match msg.get(tag::QUOTE_REQUEST_REJECT_REASON) {
                    Some(code) => match quote_reject_reason(code) {
                        Some(meaning) => {
                            format!("{text} (QuoteRequestRejectReason {code}: {meaning})")
                        }
                        None => format!("{text} (QuoteRequestRejectReason {code})"),
                    },
                    None => text,
                },
            ))
        }
        msg_type::BUSINESS_MESSAGE_REJECT => Err(LpError::Declined(format!(
            "business reject: {} (BusinessRejectReason {})",
            msg.get(tag::TEXT).unwrap_or("no reason given"),
            msg.get(tag::BUSINESS_REJECT_REASON).unwrap_or("?")
        ))),
        other => Err(LpError::Malformed(format!(
            "a message of type '{other}' answered QuoteRequest"
        ))),
    }
}

fn decimal_field(msg: &Message, field: u32, name: &str) -> Result<Option<Decimal>, LpError> {
    match msg.get(field) {
        None => Ok(None),
        Some(text) => Decimal::from_str(text)
            .map(Some)
            .map_err(|_| LpError::Malformed(format!("{name} ({field}) '{text}' is not a number"))),
    }
}

/// A Quote (S) as the quote for the request's side: the offer for a client
/// BUY, the bid for a SELL; a two-way quote has both.
fn read_quote(
    lp: &Arc<str>,
    request: &LpRequest,
    symbol: &str,
    msg: &Message,
) -> Result<LpQuote, LpError> {
    if msg.get(tag::QUOTE_TYPE) == Some("0") {
        return Err(LpError::Declined(
            "the venue sent an indicative quote, not a firm one".to_string(),
        ));
    }
    let quote_id = msg
        .get(tag::QUOTE_ID)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| LpError::Malformed("Quote without QuoteID (117)".to_string()))?;
    if let Some(quoted) = msg.get(tag::SYMBOL) {
        if quoted != symbol {
            return Err(LpError::Malformed(format!(
                "Quote '{quote_id}' is for symbol '{quoted}', not '{symbol}'"
            )));
        }
    }
    let (price_tag, price_name, size_tag, size_name) = match request.side {
        Side::Buy => (tag::OFFER_PX, "OfferPx", tag::OFFER_SIZE, "OfferSize"),
        Side::Sell => (tag::BID_PX, "BidPx", tag::BID_SIZE, "BidSize"),
    };
    let price = decimal_field(msg, price_tag, price_name)?.ok_or_else(|| {
        LpError::Malformed(format!(
            "Quote '{quote_id}' has no {price_name} ({price_tag}) for a client {}",
            request.side
        ))
    })?;
    let quantity = match decimal_field(msg, size_tag, size_name)? {
        Some(size) => size,
        // A quote for a CashOrderQty needs no size: its base is what the
        // amount buys or needs at its price.
        None if request.fixed == Leg::Quote => request.base_at(price),
        None => decimal_field(msg, tag::ORDER_QTY, "OrderQty")?.ok_or_else(|| {
            LpError::Malformed(format!(
                "Quote '{quote_id}' has neither {size_name} ({size_tag}) nor OrderQty (38)"
            ))
        })?,
    };
    let valid_until = match msg.get(tag::VALID_UNTIL_TIME) {
        Some(text) => parse_utc_timestamp(text).ok_or_else(|| {
            LpError::Malformed(format!(
                "Quote '{quote_id}' ValidUntilTime (62) '{text}' is not a UTC timestamp"
            ))
        })?,
        None => {
            return Err(LpError::Malformed(format!(
                "Quote '{quote_id}' has no ValidUntilTime (62)"
            )))
        }
    };
    Ok(LpQuote {
        lp: lp.clone(),
        request_id: request.request_id,
        side: request.side,
        pair: request.pair,
        price,
        quantity,
        valid_until_ms: stream_ms_at(&request.clock, valid_until),
        venue_ref: Some(Arc::from(quote_id)),
    })
}

/// The stream time at which the clock's wall time reaches `wall`, rounded
/// down so a quote's validity is never overstated; 0 for a time before
/// the stream began.
fn stream_ms_at(clock: &StreamClock, wall: DateTime<Utc>) -> StreamMs {
    let real_ms = (wall - clock.wall_origin()).num_milliseconds();
    if real_ms <= 0 {
        return 0;
    }
    let stream = u128::from(real_ms as u64) * u128::from(clock.speed_per_mille()) / 1000;
    StreamMs::try_from(stream).unwrap_or(StreamMs::MAX)
}

/// What an order's answer means for the desk.
fn order_outcome(answer: session::Answer) -> OrderAnswer {
    let msg = match answer {
        Ok(msg) => msg,
        Err(Failure::Lost(reason)) => {
            return OrderAnswer::Unknown {
                reason: format!("no execution report before the connection was lost ({reason})"),
            }
        }
        Err(Failure::SessionReject(msg)) => {
            return OrderAnswer::Refused {
                reason: format!(
                    "venue rejected the order message: {}",
                    session_reject_text(&msg)
                ),
                refusal: crate::lp::OrderRefusal::NotSent,
            }
        }
        Err(failure) => {
            return OrderAnswer::Rejected {
                reason: format!("order not sent: {}", describe(&failure)),
            }
        }
    };
    if msg.msg_type() == msg_type::BUSINESS_MESSAGE_REJECT {
        return OrderAnswer::Rejected {
            reason: format!(
                "business reject: {}",
                msg.get(tag::TEXT).unwrap_or("no reason given")
            ),
        };
    }
    let status = msg.get(tag::ORD_STATUS).unwrap_or("");
    let exec_type = msg.get(tag::EXEC_TYPE).unwrap_or("");
    let text = msg.get(tag::TEXT);
    match (exec_type, status) {
        (_, "2") | ("F", "") => read_fill(&msg),
        (_, "8") | ("8", _) => OrderAnswer::Rejected {
            reason: match (text, msg.get(tag::ORD_REJ_REASON)) {
                (Some(text), _) => text.to_string(),
                (None, Some(code)) => format!("rejected by the venue (OrdRejReason {code})"),
                (None, None) => "rejected by the venue".to_string(),
            },
        },
        (_, "4") | (_, "C") | ("4", _) | ("C", _) => OrderAnswer::Rejected {
            reason: format!(
                "the venue {} the order without a fill{}",
                if status == "C" || exec_type == "C" {
                    "expired"
                } else {
                    "cancelled"
                },
                text.map(|t| format!(": {t}")).unwrap_or_default()
            ),
        },
        (_, "1") => OrderAnswer::Unknown {
            reason: format!(
                "the venue reports a partial fill of {} on a fill-or-kill order",
                msg.get(tag::CUM_QTY).unwrap_or("?")
            ),
        },
        _ => OrderAnswer::Unknown {
            reason: format!(
                "the venue reports the order with OrdStatus (39) '{status}', not settled"
            ),
        },
    }
}

/// The tag a request's or order's amount goes in: OrderQty (38) for an
/// amount of the base, CashOrderQty (152) for one of the quote currency.
fn qty_tag(fixed: Leg) -> u32 {
    match fixed {
        Leg::Base => tag::ORDER_QTY,
        Leg::Quote => tag::CASH_ORDER_QTY,
    }
}

/// A fill: LastPx/LastQty (31/32), or AvgPx/CumQty (6/14) on a status
/// report. A fill whose numbers cannot be read is unknown, never guessed.
fn read_fill(msg: &Message) -> OrderAnswer {
    let number = |primary: u32, fallback: u32| {
        msg.get(primary)
            .filter(|v| !v.is_empty())
            .or_else(|| msg.get(fallback))
            .and_then(|v| Decimal::from_str(v).ok())
            .filter(|v| *v > Decimal::ZERO)
    };
    match (
        number(tag::LAST_PX, tag::AVG_PX),
        number(tag::LAST_QTY, tag::CUM_QTY),
    ) {
        (Some(price), Some(quantity)) => OrderAnswer::Filled {
            price,
            quantity,
            venue_order_id: msg
                .get(tag::ORDER_ID)
                .or_else(|| msg.get(tag::EXEC_ID))
                .map(Arc::from),
        },
        _ => OrderAnswer::Unknown {
            reason: "the venue reports a fill whose price or quantity cannot be read".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn request(side: Side) -> LpRequest {
        LpRequest {
            request_id: 7,
            rfq_id: Arc::from("R1"),
            side,
            pair: "BTCUSDT".parse().unwrap(),
            amount: dec!(1.5),
            sent_ms: 0,
            clock: StreamClock::start(),
            fixed: crate::market::Leg::Base,
        }
    }

    fn two_way(valid_until: DateTime<Utc>) -> Message {
        Message::new(msg_type::QUOTE)
            .with(tag::QUOTE_REQ_ID, "k-7")
            .with(tag::QUOTE_ID, "Q-1")
            .with(tag::SYMBOL, "BTC/USDT")
            .with(tag::BID_PX, "99990.5")
            .with(tag::OFFER_PX, "100010.25")
            .with(tag::BID_SIZE, "2")
            .with(tag::OFFER_SIZE, "1.5")
            .with(tag::VALID_UNTIL_TIME, utc_timestamp(valid_until))
    }

    #[test]
    fn a_two_way_quote_gives_the_offer_to_a_buy_and_the_bid_to_a_sell() {
        let lp: Arc<str> = Arc::from("LP");
        let buy = request(Side::Buy);
        let until = buy.clock.wall_origin() + chrono::Duration::milliseconds(2_500);
        let quote = read_quote(&lp, &buy, "BTC/USDT", &two_way(until)).unwrap();
        assert_eq!((quote.price, quote.quantity), (dec!(100010.25), dec!(1.5)));
        // The wire carries whole milliseconds and the origin finer ones:
        // the validity is rounded down, never up.
        assert!(
            (2_499..=2_500).contains(&quote.valid_until_ms),
            "{}",
            quote.valid_until_ms
        );
        assert_eq!(quote.venue_ref.as_deref(), Some("Q-1"));
        let sell = request(Side::Sell);
        let until = sell.clock.wall_origin() + chrono::Duration::milliseconds(2_500);
        let quote = read_quote(&lp, &sell, "BTC/USDT", &two_way(until)).unwrap();
        assert_eq!((quote.price, quote.quantity), (dec!(99990.5), dec!(2)));
    }

    #[test]
    fn validity_runs_faster_on_a_faster_clock_and_never_before_the_start() {
        let clock = StreamClock::start_with_speed(20_000);
        let wall = clock.wall_origin() + chrono::Duration::milliseconds(1_500);
        assert_eq!(stream_ms_at(&clock, wall), 30_000);
        let before = clock.wall_origin() - chrono::Duration::seconds(1);
        assert_eq!(stream_ms_at(&clock, before), 0);
    }

    #[test]
    fn a_one_sided_quote_on_the_wrong_side_is_malformed() {
        let lp: Arc<str> = Arc::from("LP");
        let buy = request(Side::Buy);
        let bid_only = Message::new(msg_type::QUOTE)
            .with(tag::QUOTE_ID, "Q-2")
            .with(tag::BID_PX, "99990")
            .with(tag::BID_SIZE, "1.5")
            .with(tag::VALID_UNTIL_TIME, "20990101-00:00:00.000");
        assert_eq!(
            read_quote(&lp, &buy, "BTC/USDT", &bid_only),
            Err(LpError::Malformed(
                "Quote 'Q-2' has no OfferPx (133) for a client buy".to_string()
            ))
        );
    }

    #[test]
    fn a_bad_price_or_expiry_is_malformed_with_the_value() {
        let lp: Arc<str> = Arc::from("LP");
        let sell = request(Side::Sell);
        let quote = Message::new(msg_type::QUOTE)
            .with(tag::QUOTE_ID, "Q-3")
            .with(tag::BID_PX, "1e5x")
            .with(tag::VALID_UNTIL_TIME, "20990101-00:00:00.000");
        assert_eq!(
            read_quote(&lp, &sell, "BTC/USDT", &quote),
            Err(LpError::Malformed(
                "BidPx (132) '1e5x' is not a number".to_string()
            ))
        );
        let quote = Message::new(msg_type::QUOTE)
            .with(tag::QUOTE_ID, "Q-4")
            .with(tag::BID_PX, "99990")
            .with(tag::ORDER_QTY, "1.5")
            .with(tag::VALID_UNTIL_TIME, "tomorrow");
        assert_eq!(
            read_quote(&lp, &sell, "BTC/USDT", &quote),
            Err(LpError::Malformed(
                "Quote 'Q-4' ValidUntilTime (62) 'tomorrow' is not a UTC timestamp".to_string()
            ))
        );
    }

    #[test]
    fn execution_reports_map_to_order_answers() {
        let fill = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::ORDER_ID, "V-1")
            .with(tag::EXEC_TYPE, "F")
            .with(tag::ORD_STATUS, "2")
            .with(tag::LAST_PX, "100010.25")
            .with(tag::LAST_QTY, "1.5");
        assert_eq!(
            order_outcome(Ok(fill)),
            OrderAnswer::Filled {
                price: dec!(100010.25),
                quantity: dec!(1.5),
                venue_order_id: Some(Arc::from("V-1")),
            }
        );
        let status_fill = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::EXEC_TYPE, "I")
            .with(tag::ORD_STATUS, "2")
            .with(tag::AVG_PX, "100")
            .with(tag::CUM_QTY, "2");
        assert!(matches!(
            order_outcome(Ok(status_fill)),
            OrderAnswer::Filled { price, quantity, .. } if price == dec!(100) && quantity == dec!(2)
        ));
        let last_look = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::EXEC_TYPE, "8")
            .with(tag::ORD_STATUS, "8")
            .with(tag::TEXT, "price moved");
        assert_eq!(
            order_outcome(Ok(last_look)),
            OrderAnswer::Rejected {
                reason: "price moved".to_string()
            }
        );
        let killed = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::EXEC_TYPE, "4")
            .with(tag::ORD_STATUS, "4");
        assert_eq!(
            order_outcome(Ok(killed)),
            OrderAnswer::Rejected {
                reason: "the venue cancelled the order without a fill".to_string()
            }
        );
        let still_new = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::EXEC_TYPE, "I")
            .with(tag::ORD_STATUS, "0");
        assert_eq!(
            order_outcome(Ok(still_new)),
            OrderAnswer::Unknown {
                reason: "the venue reports the order with OrdStatus (39) '0', not settled"
                    .to_string()
            }
        );
        assert_eq!(
            order_outcome(Err(Failure::Lost("connection closed by the venue".to_string()))),
            OrderAnswer::Unknown {
                reason: "no execution report before the connection was lost (connection closed by the venue)".to_string()
            }
        );
    }

    #[test]
    fn a_config_names_its_bad_setting() {
        let mut config =
            Fix44Config::new("Wintermute", "fix.example.com", 9876, "DESK", "LP", "/tmp");
        assert!(config.validate().is_ok());
        config.heartbeat_secs = 0;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "fix venue 'Wintermute': heartbeat_secs '0' must be between 1 and 3600"
        );
        config.heartbeat_secs = 30;
        config.symbol_template = "{quote}".to_string();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "fix venue 'Wintermute': symbol '{quote}' must contain {base}"
        );
    }
}
