//! The desk's clients: the clients file (`[[client]]` tables, parsed
//! once at start like the venues file: errors name the file, the line and
//! the field), the markup each client is priced at, the limits each is
//! held to before any LP is asked ([`Clients::admit`]), and what each has
//! filled today (UTC), which those limits count against ([`FilledToday`]).
//!
//! ```toml
//! [[client]]
//! name = "acme"
//! markup_bps = "8"                          # decimals as strings
//! pair_markup_bps = { ETHUSDT = "12" }      # per-pair overrides
//! max_notional = "250000"                   # per RFQ, quote currency
//! daily_notional = "1000000"                # filled per UTC day, per quote currency
//! pairs = ["BTCUSDT", "ETHUSDT"]            # optional allow-list
//! enabled = true                            # default true
//! token_env = "CLIENT_TOKEN_ACME"           # its WebSocket token's variable (serve --client-ws)
//! fix_comp_id = "ACME"                      # its SenderCompID on the FIX acceptor (serve --client-fix)
//! fix_password_env = "CLIENT_FIX_PW_ACME"   # optional: its FIX Password (554) variable
//! max_rfqs_per_sec = 10                     # its own RFQs per second (default 10)
//! ```
//!
//! Without a file there is one client, `house`, at the desk's settings:
//! behaviour is what it was before clients existed. With a file, a request
//! naming no client is still the house's, at the desk's settings, unless
//! the file has a `[[client]]` named `house` (which then sets its terms).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::clock::StreamClock;
use crate::market::{Asset, Bps, Pair};
use crate::output::group_thousands;
use crate::rfq::outlet::Outlet;
use crate::rfq::request::RequestParams;
use crate::rfq::{ClientId, EventKind, RfqEvent, RfqSpec};
use crate::secret::{is_env_var_name, ENV_VAR_RULE};

/// One client from the clients file.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientTerms {
    pub id: ClientId,
    /// The client's markup; `None`: the desk's MARKUP_BPS.
    pub(crate) markup: Option<Bps>,
    /// Per pair symbol (`ETHUSDT`), a markup that wins over `markup`.
    pub(crate) pair_markup: BTreeMap<String, Bps>,
    /// Largest notional of one RFQ, in the pair's quote currency.
    pub(crate) max_notional: Option<Decimal>,
    /// Largest notional filled per UTC day, in each quote currency.
    pub(crate) daily_notional: Option<Decimal>,
    /// The pairs the client may ask for; `None`: any the LPs quote.
    pub(crate) pairs: Option<Vec<Pair>>,
    pub(crate) enabled: bool,
    /// The environment variable holding the client's WebSocket token
    /// (`serve --client-ws`); read only when the server offers that API.
    pub(crate) token_env: Option<String>,
    /// The client's SenderCompID (49) on the desk's FIX acceptor
    /// (`serve --client-fix`).
    pub(crate) fix_comp_id: Option<String>,
    /// The environment variable holding the client's FIX Password (554),
    /// checked at Logon when given.
    pub(crate) fix_password_env: Option<String>,
    /// The client's own RFQs per second over its API sessions, so one
    /// client cannot spend the desk's venue limits.
    pub(crate) max_rfqs_per_sec: u32,
}

impl ClientTerms {
    /// A client at the desk's terms with no limit of its own.
    fn at_desk_terms(id: ClientId) -> ClientTerms {
        ClientTerms {
            id,
            markup: None,
            pair_markup: BTreeMap::new(),
            max_notional: None,
            daily_notional: None,
            pairs: None,
            enabled: true,
            token_env: None,
            fix_comp_id: None,
            fix_password_env: None,
            max_rfqs_per_sec: DEFAULT_MAX_RFQS_PER_SEC,
        }
    }

    /// The markup for `pair`: the pair's override, else the client's own,
    /// else `None` (the desk's MARKUP_BPS).
    pub fn markup_for(&self, pair: &Pair) -> Option<Bps> {
        self.pair_markup
            .get(&pair.symbol())
            .copied()
            .or(self.markup)
    }

    /// The client has a daily limit, so its fills must be counted.
    pub(crate) fn counts_fills(&self) -> bool {
        self.daily_notional.is_some()
    }
}

/// A client's RFQs per second when its table says nothing: more than a
/// person clicks, far fewer than the venues allow the whole desk.
pub const DEFAULT_MAX_RFQS_PER_SEC: u32 = 10;
/// The most RFQs per second a client may be given.
const MAX_RFQS_PER_SEC_LIMIT: u32 = 1000;

impl ClientTerms {
    /// The variable that holds the client's WebSocket token, if it has one.
    pub fn token_env(&self) -> Option<&str> {
        self.token_env.as_deref()
    }

    /// The client's RFQs per second over its API sessions.
    pub fn fix_comp_id(&self) -> Option<&str> {
        self.fix_comp_id.as_deref()
    }

    pub fn fix_password_env(&self) -> Option<&str> {
        self.fix_password_env.as_deref()
    }

    pub fn max_rfqs_per_sec(&self) -> u32 {
        self.max_rfqs_per_sec
    }
}

/// Every client the desk knows, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Clients {
    /// The clients file it was read from; `None`: the house alone.
    file: Option<String>,
    list: Vec<ClientTerms>,
}

impl Default for Clients {
    fn default() -> Clients {
        Clients::house_only()
    }
}

/// Why a request was refused for its client, before any LP was asked:
/// each names the limit and, for a size limit, the headroom left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientRefusal {
    #[error("unknown client '{client}': {known}")]
    Unknown { client: String, known: String },
    #[error("client '{client}' is disabled in clients file '{file}'")]
    Disabled { client: ClientId, file: String },
    #[error("client '{client}' may not trade {pair}: its pairs are {allowed}")]
    PairNotAllowed {
        client: ClientId,
        pair: Pair,
        allowed: String,
    },
    #[error("client '{client}': notional {notional} {asset} is above its max_notional of {limit} {asset} per RFQ (headroom {limit} {asset})")]
    AboveMax {
        client: ClientId,
        notional: String,
        limit: String,
        asset: Asset,
    },
    #[error("client '{client}': notional {notional} {asset} is above what is left of its daily_notional of {limit} {asset} (filled today, UTC: {filled}; headroom {left} {asset})")]
    AboveDaily {
        client: ClientId,
        notional: String,
        limit: String,
        /// What was filled today, and what the client's live RFQs hold
        /// of the limit when they hold some.
        filled: String,
        left: String,
        asset: Asset,
    },
    #[error("client '{client}': the notional of {pair} cannot be checked against its {limit} (no reference price for {pair}), so it is refused")]
    Unpriced {
        client: ClientId,
        pair: Pair,
        limit: &'static str,
    },
}

impl Clients {
    /// The house alone, at the desk's terms: the desk without a clients
    /// file (where a request may still name any client, at the desk's
    /// terms and with no limit).
    pub fn house_only() -> Clients {
        Clients {
            file: None,
            list: vec![ClientTerms::at_desk_terms(ClientId::house())],
        }
    }

    /// The clients a desk server named in its welcome, at the desk's
    /// terms here (the server holds each to its own when a request
    /// starts); none named: the house alone.
    pub fn named_by_desk(names: &[ClientId]) -> Clients {
        if names.is_empty() {
            return Clients::house_only();
        }
        Clients {
            file: Some("the desk server's clients file".to_string()),
            list: names
                .iter()
                .cloned()
                .map(ClientTerms::at_desk_terms)
                .collect(),
        }
    }

    /// True when a clients file was read (the console and the prompt then
    /// ask whom a request is for).
    pub fn from_file(&self) -> bool {
        self.file.is_some()
    }

    /// The clients a request may name, in file order (the house last when
    /// the file does not list it).
    pub fn names(&self) -> Vec<ClientId> {
        self.list.iter().map(|terms| terms.id.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<&ClientTerms> {
        self.list.iter().find(|terms| terms.id.as_str() == id)
    }

    /// Holds `spec` for `params`' client to its terms and limits
    /// (`filled` is what each client has filled today), and gives the
    /// request's params priced at the client's markup (unless the request
    /// brings its own). Checked in this order: the client is known, it is
    /// enabled, the pair is allowed, the notional is within max_notional,
    /// then within what is left of daily_notional. The notional is the
    /// amount × the pair's reference price, as MAX_NOTIONAL estimates it; a
    /// pair without one is refused for a client with a size limit (the
    /// limit could not be held).
    pub fn admit(
        &self,
        spec: &RfqSpec,
        params: RequestParams,
        filled: &FilledToday,
        today: NaiveDate,
    ) -> Result<RequestParams, ClientRefusal> {
        self.admit_holding(spec, params, filled, today, None)
            .map(|(params, _)| params)
    }

    /// [`Clients::admit`] for a request that starts now: a client with a
    /// daily limit has the request's notional held against it while the
    /// RFQ lives ([`Reservation`]), so requests running at once are held
    /// to the headroom together, not each to what was filled when it
    /// started. Checked and held under one lock: two requests at once
    /// cannot both take the last headroom.
    pub(crate) fn admit_reserving(
        &self,
        spec: &RfqSpec,
        params: RequestParams,
        filled: &Arc<FilledToday>,
        today: NaiveDate,
    ) -> Result<(RequestParams, Option<Reservation>), ClientRefusal> {
        self.admit_holding(spec, params, filled, today, Some(filled))
    }

    fn admit_holding(
        &self,
        spec: &RfqSpec,
        params: RequestParams,
        filled: &FilledToday,
        today: NaiveDate,
        reserve_in: Option<&Arc<FilledToday>>,
    ) -> Result<(RequestParams, Option<Reservation>), ClientRefusal> {
        let client = params.client();
        let Some(terms) = self.get(client.as_str()) else {
            // Without a clients file the desk holds nobody to terms: a
            // request may name any client, at the desk's settings, as
            // before clients had a file.
            if self.file.is_none() {
                return Ok((params, None));
            }
            return Err(ClientRefusal::Unknown {
                client: client.to_string(),
                known: self.known_list(),
            });
        };
        if !terms.enabled {
            return Err(ClientRefusal::Disabled {
                client,
                file: self.file.clone().unwrap_or_default(),
            });
        }
        if let Some(pairs) = terms.pairs.as_ref() {
            if !pairs.contains(&spec.pair) {
                return Err(ClientRefusal::PairNotAllowed {
                    client,
                    pair: spec.pair,
                    allowed: pairs
                        .iter()
                        .map(Pair::symbol)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let pair = spec.pair;
        let shown = |value: Decimal| {
            let mut value = value.round_dp(pair.price_dp);
            value.rescale(pair.price_dp);
            group_thousands(value)
        };
        let limit_text = |value: Decimal| group_thousands(value.normalize());
        // A quote-currency amount is its own notional: no reference needed.
        let notional = || pair.notional_of(spec.fixed, spec.amount).ok_or(());
        let mut reservation = None;
        if let Some(limit) = terms.max_notional {
            let notional = notional().map_err(|()| ClientRefusal::Unpriced {
                client: client.clone(),
                pair,
                limit: "max_notional",
            })?;
            if notional > limit {
                return Err(ClientRefusal::AboveMax {
                    client,
                    notional: shown(notional),
                    limit: limit_text(limit),
                    asset: pair.quote,
                });
            }
        }
        if let Some(limit) = terms.daily_notional {
            let notional = notional().map_err(|()| ClientRefusal::Unpriced {
                client: client.clone(),
                pair,
                limit: "daily_notional",
            })?;
            let mut counted = filled.lock();
            let done = counted.of(today, &client, pair.quote);
            let held = counted.reserved(&client, pair.quote);
            let left = (limit - done - held).max(Decimal::ZERO);
            if notional > left {
                return Err(ClientRefusal::AboveDaily {
                    client,
                    notional: shown(notional),
                    limit: limit_text(limit),
                    filled: if held.is_zero() {
                        format!("{} {}", shown(done), pair.quote)
                    } else {
                        format!(
                            "{} {}; held by its live RFQs: {} {}",
                            shown(done),
                            pair.quote,
                            shown(held),
                            pair.quote
                        )
                    },
                    left: shown(left),
                    asset: pair.quote,
                });
            }
            if let Some(book) = reserve_in {
                counted.reserve(&client, pair.quote, notional);
                reservation = Some(Reservation {
                    book: book.clone(),
                    client: client.clone(),
                    asset: pair.quote,
                    notional,
                });
            }
        }
        let params = match (params.markup(), terms.markup_for(&pair)) {
            (None, Some(markup)) => params.with_markup(markup),
            _ => params,
        };
        Ok((params, reservation))
    }

    /// `name` as a client a request may name on this desk (any valid
    /// name without a clients file); refused with the clients the file
    /// lists otherwise.
    pub fn known(&self, name: &str) -> Result<ClientId, ClientRefusal> {
        let unknown = || ClientRefusal::Unknown {
            client: name.to_string(),
            known: self.known_list(),
        };
        let client = ClientId::new(name.trim()).map_err(|_| unknown())?;
        if self.file.is_some() && self.get(client.as_str()).is_none() {
            return Err(unknown());
        }
        Ok(client)
    }

    fn known_list(&self) -> String {
        format!(
            "clients file '{}' lists {}",
            self.file.as_deref().unwrap_or_default(),
            self.list
                .iter()
                .map(|terms| terms.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// What each client has filled today (UTC), per quote currency: counted
/// from the blotter when the desk opens and kept up to date as fills land,
/// so a daily limit survives a restart. A new day starts from nothing.
#[derive(Debug, Default)]
pub struct FilledToday {
    inner: Mutex<Filled>,
}

#[derive(Debug, Default)]
struct Filled {
    day: Option<NaiveDate>,
    by_client: HashMap<(ClientId, Asset), Decimal>,
    /// What live RFQs hold of their client's daily limit: not a day's
    /// (an RFQ live across midnight still holds it) and not cleared with
    /// the fills when a day starts.
    reserved: HashMap<(ClientId, Asset), Decimal>,
}

impl Filled {
    fn of(&self, day: NaiveDate, client: &ClientId, asset: Asset) -> Decimal {
        if self.day != Some(day) {
            return Decimal::ZERO;
        }
        self.by_client
            .get(&(client.clone(), asset))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn reserved(&self, client: &ClientId, asset: Asset) -> Decimal {
        self.reserved
            .get(&(client.clone(), asset))
            .copied()
            .unwrap_or(Decimal::ZERO)
    }

    fn reserve(&mut self, client: &ClientId, asset: Asset, notional: Decimal) {
        let held = self
            .reserved
            .entry((client.clone(), asset))
            .or_insert(Decimal::ZERO);
        *held = held.saturating_add(notional);
    }

    fn release(&mut self, client: &ClientId, asset: Asset, notional: Decimal) {
        let key = (client.clone(), asset);
        if let Some(held) = self.reserved.get_mut(&key) {
            *held -= notional;
            if *held <= Decimal::ZERO {
                self.reserved.remove(&key);
            }
        }
    }
}

/// A live RFQ's hold on its client's daily limit: the notional it asked
/// for, counted against the limit until the RFQ ends or fills (then the
/// fill counts instead). Released when dropped, so an RFQ whose task
/// ends any way at all gives its hold back.
#[derive(Debug)]
pub(crate) struct Reservation {
    book: Arc<FilledToday>,
    client: ClientId,
    asset: Asset,
    notional: Decimal,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.book
            .lock()
            .release(&self.client, self.asset, self.notional);
    }
}

impl FilledToday {
    fn lock(&self) -> std::sync::MutexGuard<'_, Filled> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `client`'s live RFQs hold of its daily limit in `asset`.
    pub fn reserved(&self, client: &ClientId, asset: Asset) -> Decimal {
        self.lock().reserved(client, asset)
    }

    /// Adds `notional` of `asset` filled for `client` on `day`; a fill of
    /// an earlier day than the one counted is not today's.
    pub fn add(&self, day: NaiveDate, client: &ClientId, asset: Asset, notional: Decimal) {
        let mut filled = self.lock();
        match filled.day {
            Some(counted) if counted > day => return,
            Some(counted) if counted == day => {}
            _ => {
                filled.day = Some(day);
                filled.by_client.clear();
            }
        }
        let total = filled
            .by_client
            .entry((client.clone(), asset))
            .or_insert(Decimal::ZERO);
        *total = total.saturating_add(notional);
    }

    /// What `client` filled in `asset` on `day` (nothing once the day
    /// counted is over).
    pub fn of(&self, day: NaiveDate, client: &ClientId, asset: Asset) -> Decimal {
        self.lock().of(day, client, asset)
    }
}

/// Counts a stream's fills into what its client filled today, as they
/// land; the desk puts it around the outlets of a stream whose client has
/// a daily limit.
pub(crate) struct FillCounter {
    pub(crate) filled: Arc<FilledToday>,
    pub(crate) client: ClientId,
    /// The stream's hold on its client's daily limit: given back when its
    /// fill is counted or the stream ends.
    pub(crate) reservation: Option<Reservation>,
}

impl FillCounter {
    /// `next`, counting each fill on `clock`'s UTC day.
    pub(crate) fn around<O: Outlet>(self, next: O, clock: StreamClock) -> CountFills<O> {
        CountFills {
            counter: self,
            clock,
            next,
            quote: None,
        }
    }
}

/// The outlet [`FillCounter::around`] makes.
pub(crate) struct CountFills<O> {
    counter: FillCounter,
    clock: StreamClock,
    /// The stream's quote currency, from its `started`: the leg a fill's
    /// notional is counted in (its P&L may be in the base, for a request
    /// in the quote currency).
    quote: Option<Asset>,
    next: O,
}

impl<O: Outlet> Outlet for CountFills<O> {
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send {
        if let EventKind::Started(started) = &event.kind {
            self.quote = Some(started.pair.quote);
        }
        if let EventKind::Filled(fill) = &event.kind {
            // The client's leg in the quote currency.
            let quote = self.quote.unwrap_or(fill.pnl_asset);
            let notional = if fill.pays_asset == quote {
                fill.client_pays
            } else {
                fill.client_receives
            };
            self.counter.filled.add(
                self.clock.wall_now().date_naive(),
                &self.counter.client,
                quote,
                notional,
            );
        }
        // The fill now counts in the hold's place (added first: the two
        // overlap for a moment, never leave a gap), and an ended stream
        // holds nothing.
        if matches!(event.kind, EventKind::Filled(_) | EventKind::Ended(_)) {
            self.counter.reservation = None;
        }
        self.next.send(event)
    }

    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        self.next.ready()
    }

    fn stop_requested(&self) -> bool {
        self.next.stop_requested()
    }

    fn unrecordable(&self) -> Option<String> {
        self.next.unrecordable()
    }

    fn take_unrecorded_order(&mut self) -> Option<String> {
        self.next.take_unrecorded_order()
    }

    fn unrecordable_probe(&self) -> Option<crate::rfq::outlet::UnrecordableProbe> {
        self.next.unrecordable_probe()
    }
}

/// Why the clients file was refused. Every message names the file; those
/// about one place in it name the line and the field too.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error("cannot read clients file '{file}': {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("clients file '{file}' line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("clients file '{file}' lists no client: add at least one [[client]] table")]
    NoClients { file: String },
    #[error("clients file '{file}' line {line}: unknown key '{key}' (the file holds only [[client]] tables)")]
    UnknownTopLevel {
        file: String,
        line: usize,
        key: String,
    },
    #[error("clients file '{file}' line {line}: write each client as a [[client]] table")]
    NotTables { file: String, line: usize },
    #[error("clients file '{file}' line {line}: unknown field '{field}' in [[client]] {client} (expected one of {FIELDS})")]
    UnknownField {
        file: String,
        line: usize,
        field: String,
        client: String,
    },
    #[error("clients file '{file}' line {line}: [[client]] {client} needs name")]
    MissingName {
        file: String,
        line: usize,
        client: String,
    },
    /// A `token_env` that is not a variable's name may be the token
    /// itself, pasted: named by its field, never shown.
    #[error("clients file '{file}' line {line}: {field} in [[client]] {client} must be {ENV_VAR_RULE}, such as {example} (its value is not shown: it may be a secret)")]
    TokenEnvName {
        file: String,
        line: usize,
        client: String,
        field: &'static str,
        example: &'static str,
    },
    /// A field whose value is not what it must be.
    #[error(transparent)]
    BadValue(Box<BadValue>),
    #[error("clients file '{file}' line {line}: client name '{name}' is used twice (first at line {first_line})")]
    DuplicateName {
        file: String,
        line: usize,
        name: String,
        first_line: usize,
    },
}

/// A field of a `[[client]]` table whose value is refused, as written.
#[derive(Debug, thiserror::Error)]
#[error(
    "clients file '{file}' line {line}: {field} '{value}' in [[client]] {client} must be {must_be}"
)]
pub struct BadValue {
    file: String,
    line: usize,
    field: String,
    value: String,
    client: String,
    must_be: String,
}

/// The fields a `[[client]]` table may hold, as the errors list them.
const FIELDS: &str =
    "name, markup_bps, pair_markup_bps, max_notional, daily_notional, pairs, enabled, token_env, fix_comp_id, fix_password_env, max_rfqs_per_sec";

const NAME: &str = "1 to 64 letters, digits, '-', '_' or '.'";
const PAIRS: &str = "a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]";
const ENABLED: &str = "true or false";
const FIX_COMP_ID: &str = "a CompID of 1 to 64 printable ASCII characters, such as \"ACME\"";
const RATE: &str = "a whole number of RFQs per second from 1 to 1000, such as 10";
const PAIR_MARKUP: &str =
    "a table of pairs and markups in bps as strings, such as { ETHUSDT = \"12\" }";
const NOTIONAL: &str = "a notional above 0 written as a string, such as \"250000\"";

/// A markup's rule, with the desk's hard cap (MAX_MARKUP_BPS).
fn markup_rule() -> String {
    format!(
        "a markup in bps from 0 to {} written as a string, such as \"8\"",
        crate::config::MAX_MARKUP_BPS
    )
}

/// Reads and parses the clients file at `path`.
pub fn load(path: &Path) -> Result<Clients, ClientsError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ClientsError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&file, &text)
}

/// Parses the text of a clients file named `file` (for messages).
pub fn parse(file: &str, text: &str) -> Result<Clients, ClientsError> {
    let at = At { file, text };
    let root = DeTable::parse(text).map_err(|error| ClientsError::Syntax {
        file: file.to_string(),
        line: at.line(error.span().map(|span| span.start).unwrap_or(0)),
        message: error.message().to_string(),
    })?;
    let mut list: Vec<ClientTerms> = Vec::new();
    let mut first_lines: HashMap<String, usize> = HashMap::new();
    for (index, item) in at.client_tables(root.get_ref())?.iter().enumerate() {
        let (terms, name_line) = at.client(index, item)?;
        let name = terms.id.as_str().to_string();
        if let Some(&first_line) = first_lines.get(&name) {
            return Err(ClientsError::DuplicateName {
                file: file.to_string(),
                line: name_line,
                name,
                first_line,
            });
        }
        first_lines.insert(name, name_line);
        list.push(terms);
    }
    if !list.iter().any(|terms| terms.id == ClientId::house()) {
        list.push(ClientTerms::at_desk_terms(ClientId::house()));
    }
    Ok(Clients {
        file: Some(file.to_string()),
        list,
    })
}

/// Where the file is read, for messages.
struct At<'a> {
    file: &'a str,
    text: &'a str,
}

impl At<'_> {
    fn line(&self, offset: usize) -> usize {
        crate::venues::line_of(self.text, offset)
    }

    fn raw(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or("")
    }

    /// The `[[client]]` tables, in file order.
    fn client_tables<'i>(
        &self,
        root: &DeTable<'i>,
    ) -> Result<Vec<Spanned<DeTable<'i>>>, ClientsError> {
        let mut clients = None;
        let mut keys: Vec<_> = root.iter().collect();
        keys.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in keys {
            if key.get_ref() != "client" {
                return Err(ClientsError::UnknownTopLevel {
                    file: self.file.to_string(),
                    line: self.line(key.span().start),
                    key: key.get_ref().to_string(),
                });
            }
            clients = Some(value);
        }
        let no_clients = || ClientsError::NoClients {
            file: self.file.to_string(),
        };
        let clients = clients.ok_or_else(no_clients)?;
        let not_tables = || ClientsError::NotTables {
            file: self.file.to_string(),
            line: self.line(clients.span().start),
        };
        let DeValue::Array(items) = clients.get_ref() else {
            return Err(not_tables());
        };
        if items.is_empty() {
            return Err(no_clients());
        }
        items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Table(table) => Ok(Spanned::new(item.span(), table.clone())),
                _ => Err(not_tables()),
            })
            .collect()
    }

    /// One client, and the line of its name.
    fn client(
        &self,
        index: usize,
        item: &Spanned<DeTable<'_>>,
    ) -> Result<(ClientTerms, usize), ClientsError> {
        let table = item.get_ref();
        // Until its name is read the client is named by its place.
        let label = match table.get("name").and_then(|v| v.get_ref().as_str()) {
            Some(name) => format!("'{name}'"),
            None => format!("#{}", index + 1),
        };
        let mut keys: Vec<_> = table.iter().collect();
        keys.sort_by_key(|(key, _)| key.span().start);
        for (key, _) in &keys {
            if !FIELDS.split(", ").any(|field| field == key.get_ref()) {
                return Err(ClientsError::UnknownField {
                    file: self.file.to_string(),
                    line: self.line(key.span().start),
                    field: key.get_ref().to_string(),
                    client: label,
                });
            }
        }
        let refused = |line: usize, field: &str, value: &str, must_be: &str| {
            ClientsError::BadValue(Box::new(BadValue {
                file: self.file.to_string(),
                line,
                field: field.to_string(),
                value: value.to_string(),
                client: label.clone(),
                must_be: must_be.to_string(),
            }))
        };
        let bad = |field: &str, value: &Spanned<DeValue<'_>>, must_be: &str| {
            refused(
                self.line(value.span().start),
                field,
                self.raw(value.span()),
                must_be,
            )
        };
        let Some(name) = table.get("name") else {
            return Err(ClientsError::MissingName {
                file: self.file.to_string(),
                line: self.line(item.span().start),
                client: label,
            });
        };
        let id = name
            .get_ref()
            .as_str()
            .and_then(|text| ClientId::new(text).ok())
            .ok_or_else(|| bad("name", name, NAME))?;
        let name_line = self.line(name.span().start);
        let mut terms = ClientTerms::at_desk_terms(id);
        if let Some(value) = table.get("markup_bps") {
            terms.markup =
                Some(markup(value).ok_or_else(|| bad("markup_bps", value, &markup_rule()))?);
        }
        if let Some(value) = table.get("pair_markup_bps") {
            let DeValue::Table(overrides) = value.get_ref() else {
                return Err(bad("pair_markup_bps", value, PAIR_MARKUP));
            };
            let mut entries: Vec<_> = overrides.iter().collect();
            entries.sort_by_key(|(key, _)| key.span().start);
            for (key, value) in entries {
                let field = format!("pair_markup_bps.{}", key.get_ref());
                let pair: Pair = key.get_ref().parse().map_err(|_| {
                    refused(
                        self.line(key.span().start),
                        "pair_markup_bps",
                        key.get_ref(),
                        "keyed by pairs such as ETHUSDT",
                    )
                })?;
                let bps = markup(value).ok_or_else(|| bad(&field, value, &markup_rule()))?;
                terms.pair_markup.insert(pair.symbol(), bps);
            }
        }
        for (field, slot) in [
            ("max_notional", &mut terms.max_notional),
            ("daily_notional", &mut terms.daily_notional),
        ] {
            if let Some(value) = table.get(field) {
                let notional = decimal(value)
                    .filter(|v| *v > Decimal::ZERO)
                    .ok_or_else(|| bad(field, value, NOTIONAL))?;
                *slot = Some(notional);
            }
        }
        if let Some(value) = table.get("pairs") {
            let pairs: Option<Vec<Pair>> = match value.get_ref() {
                DeValue::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|item| item.get_ref().as_str().and_then(|t| t.parse().ok()))
                    .collect(),
                _ => None,
            };
            terms.pairs = Some(pairs.ok_or_else(|| bad("pairs", value, PAIRS))?);
        }
        if let Some(value) = table.get("enabled") {
            terms.enabled = value
                .get_ref()
                .as_bool()
                .ok_or_else(|| bad("enabled", value, ENABLED))?;
        }
        let env_var = |field: &'static str, value: &Spanned<DeValue<'_>>, example: &'static str| {
            value
                .get_ref()
                .as_str()
                .filter(|var| is_env_var_name(var))
                .map(str::to_string)
                .ok_or_else(|| ClientsError::TokenEnvName {
                    file: self.file.to_string(),
                    line: self.line(value.span().start),
                    client: label.clone(),
                    field,
                    example,
                })
        };
        if let Some(value) = table.get("token_env") {
            terms.token_env = Some(env_var("token_env", value, "CLIENT_TOKEN_ACME")?);
        }
        if let Some(value) = table.get("fix_comp_id") {
            let comp_id = value
                .get_ref()
                .as_str()
                .filter(|id| {
                    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| bad("fix_comp_id", value, FIX_COMP_ID))?;
            terms.fix_comp_id = Some(comp_id.to_string());
        }
        if let Some(value) = table.get("fix_password_env") {
            terms.fix_password_env =
                Some(env_var("fix_password_env", value, "CLIENT_FIX_PW_ACME")?);
        }
        if let Some(value) = table.get("max_rfqs_per_sec") {
            terms.max_rfqs_per_sec = value
                .get_ref()
                .as_integer()
                .and_then(|n| n.as_str().parse::<u32>().ok())
                .filter(|n| (1..=MAX_RFQS_PER_SEC_LIMIT).contains(n))
                .ok_or_else(|| bad("max_rfqs_per_sec", value, RATE))?;
        }
        Ok((terms, name_line))
    }
}

/// A decimal written as a string of digits with an optional fraction
/// (`"8"`, `"12.5"`): never a TOML number (it would pass through a float),
/// an exponent or a separator.
fn decimal(value: &Spanned<DeValue<'_>>) -> Option<Decimal> {
    let text = value.get_ref().as_str()?.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    text.parse().ok()
}

fn markup(value: &Spanned<DeValue<'_>>) -> Option<Bps> {
    decimal(value)
        .filter(|bps| *bps <= crate::config::MAX_MARKUP_BPS)
        .and_then(Bps::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Side;
    use rust_decimal_macros::dec;

    const FULL: &str = r#"
[[client]]
name = "acme"
markup_bps = "8"
pair_markup_bps = { ETHUSDT = "12", "BTC/EUR" = "3.5" }
max_notional = "250000"
daily_notional = "1000000"
pairs = ["BTCUSDT", "ETH/USDT", "BTCEUR"]
token_env = "CLIENT_TOKEN_ACME"
fix_comp_id = "ACMEFIX"
fix_password_env = "CLIENT_FIX_PW_ACME"
max_rfqs_per_sec = 3

[[client]]
name = "dormant"
enabled = false
"#;

    fn parse_err(text: &str) -> String {
        match parse("clients.toml", text) {
            Ok(clients) => panic!("parsed {clients:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn spec(side: Side, amount: Decimal, pair: &str) -> RfqSpec {
        RfqSpec {
            side,
            amount,
            pair: pair.parse().unwrap(),
            fixed: crate::market::Leg::Base,
        }
    }

    fn for_client(name: &str) -> RequestParams {
        RequestParams::default().with_client(ClientId::new(name).unwrap())
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
    }

    #[test]
    fn every_field_is_read_and_the_house_is_added() {
        let clients = parse("clients.toml", FULL).unwrap();
        let acme = clients.get("acme").unwrap();
        assert_eq!(acme.markup, Bps::new(dec!(8)));
        assert_eq!(
            acme.pair_markup,
            BTreeMap::from([
                ("ETHUSDT".to_string(), Bps::new(dec!(12)).unwrap()),
                ("BTCEUR".to_string(), Bps::new(dec!(3.5)).unwrap()),
            ])
        );
        assert_eq!(acme.max_notional, Some(dec!(250000)));
        assert_eq!(acme.daily_notional, Some(dec!(1000000)));
        assert_eq!(acme.pairs.as_ref().map(Vec::len), Some(3));
        assert!(acme.enabled);
        assert_eq!(acme.token_env(), Some("CLIENT_TOKEN_ACME"));
        assert_eq!(acme.fix_comp_id(), Some("ACMEFIX"));
        assert_eq!(acme.fix_password_env(), Some("CLIENT_FIX_PW_ACME"));
        assert_eq!(clients.get("dormant").unwrap().fix_comp_id(), None);
        assert_eq!(acme.max_rfqs_per_sec(), 3);
        assert!(!clients.get("dormant").unwrap().enabled);
        assert_eq!(clients.get("dormant").unwrap().token_env(), None);
        assert_eq!(
            clients.get("dormant").unwrap().max_rfqs_per_sec(),
            DEFAULT_MAX_RFQS_PER_SEC
        );
        let names: Vec<String> = clients.names().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["acme", "dormant", "house"]);
    }

    #[test]
    fn the_example_file_is_a_valid_clients_file() {
        let clients = parse(
            "clients.example.toml",
            include_str!("../clients.example.toml"),
        )
        .unwrap();
        let names: Vec<String> = clients.names().iter().map(ToString::to_string).collect();
        assert_eq!(names, ["acme", "tier2-fund", "house"]);
        let acme = clients.get("acme").unwrap();
        assert_eq!(
            acme.markup_for(&"ETHUSDT".parse().unwrap()),
            Bps::new(dec!(12))
        );
        assert_eq!(acme.daily_notional, Some(dec!(1000000)));
    }

    #[test]
    fn the_pairs_override_wins_over_the_clients_markup() {
        let clients = parse("clients.toml", FULL).unwrap();
        let acme = clients.get("acme").unwrap();
        assert_eq!(
            acme.markup_for(&"ETHUSDT".parse().unwrap()),
            Bps::new(dec!(12))
        );
        assert_eq!(
            acme.markup_for(&"BTCUSDT".parse().unwrap()),
            Bps::new(dec!(8))
        );
        assert_eq!(
            clients
                .get("dormant")
                .unwrap()
                .markup_for(&"BTCUSDT".parse().unwrap()),
            None
        );
    }

    #[rstest::rstest]
    #[case("[[client]]\nname = \"acme\"\nmarkup = \"8\"\n",
        "clients file 'clients.toml' line 3: unknown field 'markup' in [[client]] 'acme' (expected one of name, markup_bps, pair_markup_bps, max_notional, daily_notional, pairs, enabled, token_env, fix_comp_id, fix_password_env, max_rfqs_per_sec)")]
    #[case(
        "[[client]]\nname = \"acme\"\n[[client]]\nname = \"acme\"\n",
        "clients file 'clients.toml' line 4: client name 'acme' is used twice (first at line 2)"
    )]
    #[case("[[client]]\nname = \"acme\"\nmarkup_bps = 8\n",
        "clients file 'clients.toml' line 3: markup_bps '8' in [[client]] 'acme' must be a markup in bps from 0 to 500 written as a string, such as \"8\"")]
    #[case("[[client]]\nname = \"acme\"\nmarkup_bps = \"1e2\"\n",
        "clients file 'clients.toml' line 3: markup_bps '\"1e2\"' in [[client]] 'acme' must be a markup in bps from 0 to 500 written as a string, such as \"8\"")]
    #[case("[[client]]\nname = \"acme\"\npair_markup_bps = { ETHUSDT = \"600\" }\n",
        "clients file 'clients.toml' line 3: pair_markup_bps.ETHUSDT '\"600\"' in [[client]] 'acme' must be a markup in bps from 0 to 500 written as a string, such as \"8\"")]
    #[case("[[client]]\nname = \"acme\"\npair_markup_bps = { ETH = \"6\" }\n",
        "clients file 'clients.toml' line 3: pair_markup_bps 'ETH' in [[client]] 'acme' must be keyed by pairs such as ETHUSDT")]
    #[case("[[client]]\nname = \"acme\"\n\nmax_notional = \"0\"\n",
        "clients file 'clients.toml' line 4: max_notional '\"0\"' in [[client]] 'acme' must be a notional above 0 written as a string, such as \"250000\"")]
    #[case("[[client]]\nname = \"acme\"\ndaily_notional = \"1_000\"\n",
        "clients file 'clients.toml' line 3: daily_notional '\"1_000\"' in [[client]] 'acme' must be a notional above 0 written as a string, such as \"250000\"")]
    #[case("[[client]]\nname = \"acme\"\npairs = [\"BTC\"]\n",
        "clients file 'clients.toml' line 3: pairs '[\"BTC\"]' in [[client]] 'acme' must be a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]")]
    #[case("[[client]]\nname = \"acme\"\nenabled = \"no\"\n",
        "clients file 'clients.toml' line 3: enabled '\"no\"' in [[client]] 'acme' must be true or false")]
    #[case("[[client]]\nname = \"acme\"\ntoken_env = \"MY TOKEN\"\n",
        "clients file 'clients.toml' line 3: token_env in [[client]] 'acme' must be the name of an environment variable: capital letters, digits and _, such as CLIENT_TOKEN_ACME (its value is not shown: it may be a secret)")]
    #[case("[[client]]\nname = \"acme\"\ntoken_env = \"sk_live_abc123\"\n",
        "clients file 'clients.toml' line 3: token_env in [[client]] 'acme' must be the name of an environment variable: capital letters, digits and _, such as CLIENT_TOKEN_ACME (its value is not shown: it may be a secret)")]
    #[case("[[client]]\nname = \"acme\"\ntoken_env = \"9f86d081884c7d659a2feaa0c55ad015\"\n",
        "clients file 'clients.toml' line 3: token_env in [[client]] 'acme' must be the name of an environment variable: capital letters, digits and _, such as CLIENT_TOKEN_ACME (its value is not shown: it may be a secret)")]
    #[case("[[client]]\nname = \"acme\"\nmax_rfqs_per_sec = 0\n",
        "clients file 'clients.toml' line 3: max_rfqs_per_sec '0' in [[client]] 'acme' must be a whole number of RFQs per second from 1 to 1000, such as 10")]
    #[case("[[client]]\nname = \"acme\"\nfix_comp_id = \"AC ME\"\n",
        "clients file 'clients.toml' line 3: fix_comp_id '\"AC ME\"' in [[client]] 'acme' must be a CompID of 1 to 64 printable ASCII characters, such as \"ACME\"")]
    #[case("[[client]]\nname = \"acme\"\nfix_password_env = \"my pw\"\n",
        "clients file 'clients.toml' line 3: fix_password_env in [[client]] 'acme' must be the name of an environment variable: capital letters, digits and _, such as CLIENT_FIX_PW_ACME (its value is not shown: it may be a secret)")]
    #[case("[[client]]\nname = \"acme\"\nmax_rfqs_per_sec = \"5\"\n",
        "clients file 'clients.toml' line 3: max_rfqs_per_sec '\"5\"' in [[client]] 'acme' must be a whole number of RFQs per second from 1 to 1000, such as 10")]
    #[case("[[client]]\nname = \"acme fund\"\n",
        "clients file 'clients.toml' line 2: name '\"acme fund\"' in [[client]] 'acme fund' must be 1 to 64 letters, digits, '-', '_' or '.'")]
    #[case(
        "[[client]]\nmarkup_bps = \"8\"\n",
        "clients file 'clients.toml' line 1: [[client]] #1 needs name"
    )]
    #[case(
        "[client]\nname = \"acme\"\n",
        "clients file 'clients.toml' line 1: write each client as a [[client]] table"
    )]
    #[case("[[clients]]\nname = \"acme\"\n",
        "clients file 'clients.toml' line 1: unknown key 'clients' (the file holds only [[client]] tables)")]
    #[case(
        "",
        "clients file 'clients.toml' lists no client: add at least one [[client]] table"
    )]
    fn a_bad_clients_file_is_refused_naming_line_and_field(
        #[case] text: &str,
        #[case] message: &str,
    ) {
        assert_eq!(parse_err(text), message);
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let error = parse_err("[[client]]\nname = \"acme\"\nmarkup_bps = \n");
        assert!(
            error.starts_with("clients file 'clients.toml' line 3: "),
            "{error}"
        );
    }

    #[test]
    fn the_clients_markup_prices_the_request_unless_it_brings_its_own() {
        let clients = parse("clients.toml", FULL).unwrap();
        let filled = FilledToday::default();
        let admitted = |params: RequestParams, pair: &str| {
            clients
                .admit(&spec(Side::Buy, dec!(1), pair), params, &filled, day())
                .unwrap()
                .markup()
        };
        assert_eq!(admitted(for_client("acme"), "BTCUSDT"), Bps::new(dec!(8)));
        assert_eq!(admitted(for_client("acme"), "ETHUSDT"), Bps::new(dec!(12)));
        let own = for_client("acme").with_markup(Bps::new(dec!(2)).unwrap());
        assert_eq!(admitted(own, "ETHUSDT"), Bps::new(dec!(2)));
        assert_eq!(admitted(RequestParams::default(), "BTCUSDT"), None);
    }

    #[test]
    fn a_quote_currency_amount_is_held_to_the_limits_as_it_is() {
        let clients = parse("clients.toml", FULL).unwrap();
        let filled = FilledToday::default();
        let acme = ClientId::new("acme").unwrap();
        let usdt = "BTCUSDT".parse::<Pair>().unwrap().quote;
        filled.add(day(), &acme, usdt, dec!(900000));
        let in_usdt = |amount: Decimal| RfqSpec {
            fixed: crate::market::Leg::Quote,
            ..spec(Side::Buy, amount, "BTCUSDT")
        };
        let admit = |amount: Decimal| {
            clients
                .admit(&in_usdt(amount), for_client("acme"), &filled, day())
                .map(|_| ())
                .map_err(|refusal| refusal.to_string())
        };
        // The amount is the notional: no reference price is asked.
        assert_eq!(
            admit(dec!(250000.01)),
            Err("client 'acme': notional 250,000.01 USDT is above its max_notional of 250,000 USDT per RFQ (headroom 250,000 USDT)".into())
        );
        assert_eq!(
            admit(dec!(100000.01)),
            Err("client 'acme': notional 100,000.01 USDT is above what is left of its daily_notional of 1,000,000 USDT (filled today, UTC: 900,000.00 USDT; headroom 100,000.00 USDT)".into())
        );
        assert_eq!(admit(dec!(100000)), Ok(()));
    }

    #[test]
    fn each_limit_is_refused_naming_the_limit_and_the_headroom() {
        let clients = parse("clients.toml", FULL).unwrap();
        let filled = FilledToday::default();
        let acme = ClientId::new("acme").unwrap();
        filled.add(
            day(),
            &acme,
            "BTCUSDT".parse::<Pair>().unwrap().quote,
            dec!(900000),
        );
        let refuse = |params: RequestParams, amount: Decimal, pair: &str| {
            clients
                .admit(&spec(Side::Buy, amount, pair), params, &filled, day())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refuse(for_client("nobody"), dec!(1), "BTCUSDT"),
            "unknown client 'nobody': clients file 'clients.toml' lists acme, dormant, house"
        );
        assert_eq!(
            refuse(for_client("dormant"), dec!(1), "BTCUSDT"),
            "client 'dormant' is disabled in clients file 'clients.toml'"
        );
        assert_eq!(
            refuse(for_client("acme"), dec!(1), "SOLUSDT"),
            "client 'acme' may not trade SOL/USDT: its pairs are BTCUSDT, ETHUSDT, BTCEUR"
        );
        assert_eq!(
            refuse(for_client("acme"), dec!(3), "BTCUSDT"),
            "client 'acme': notional 300,000.00 USDT is above its max_notional of 250,000 USDT per RFQ (headroom 250,000 USDT)"
        );
        assert_eq!(
            refuse(for_client("acme"), dec!(1.5), "BTCUSDT"),
            "client 'acme': notional 150,000.00 USDT is above what is left of its daily_notional of 1,000,000 USDT (filled today, UTC: 900,000.00 USDT; headroom 100,000.00 USDT)"
        );
        // Within what is left, and another currency's count is its own.
        assert!(clients
            .admit(
                &spec(Side::Sell, dec!(1), "BTCUSDT"),
                for_client("acme"),
                &filled,
                day()
            )
            .is_ok());
        assert!(clients
            .admit(
                &spec(Side::Buy, dec!(2), "BTCEUR"),
                for_client("acme"),
                &filled,
                day()
            )
            .is_ok());
        // A new UTC day starts from nothing.
        let tomorrow = day().succ_opt().unwrap();
        assert!(clients
            .admit(
                &spec(Side::Buy, dec!(2), "BTCUSDT"),
                for_client("acme"),
                &filled,
                tomorrow
            )
            .is_ok());
    }

    /// Live RFQs hold their notional against the daily limit: a second
    /// request at once gets only what the first left, the hold goes when
    /// the first ends, and a fill counts in its place.
    #[test]
    fn live_rfqs_hold_their_notional_against_the_daily_limit() {
        let clients = parse("clients.toml", FULL).unwrap();
        let filled = Arc::new(FilledToday::default());
        let acme = ClientId::new("acme").unwrap();
        let usdt = "BTCUSDT".parse::<Pair>().unwrap().quote;
        filled.add(day(), &acme, usdt, dec!(800000));
        let start = |amount: Decimal| {
            clients.admit_reserving(
                &spec(Side::Buy, amount, "BTCUSDT"),
                for_client("acme"),
                &filled,
                day(),
            )
        };
        let (_, first) = start(dec!(1.5)).unwrap();
        assert_eq!(filled.reserved(&acme, usdt), dec!(150000));
        assert_eq!(
            start(dec!(1)).unwrap_err().to_string(),
            "client 'acme': notional 100,000.00 USDT is above what is left of its daily_notional of 1,000,000 USDT (filled today, UTC: 800,000.00 USDT; held by its live RFQs: 150,000.00 USDT; headroom 50,000.00 USDT)"
        );
        // Asking without starting holds nothing.
        assert!(clients
            .admit(
                &spec(Side::Buy, dec!(0.5), "BTCUSDT"),
                for_client("acme"),
                &filled,
                day()
            )
            .is_ok());
        assert_eq!(filled.reserved(&acme, usdt), dec!(150000));
        let (_, second) = start(dec!(0.5)).unwrap();
        assert_eq!(filled.reserved(&acme, usdt), dec!(200000));
        drop(first);
        assert_eq!(filled.reserved(&acme, usdt), dec!(50000));
        // The second fills at 50,010.00: the fill counts, the hold goes.
        filled.add(day(), &acme, usdt, dec!(50010));
        drop(second);
        assert_eq!(filled.reserved(&acme, usdt), Decimal::ZERO);
        assert_eq!(
            start(dec!(1.5)).unwrap_err().to_string(),
            "client 'acme': notional 150,000.00 USDT is above what is left of its daily_notional of 1,000,000 USDT (filled today, UTC: 850,010.00 USDT; headroom 149,990.00 USDT)"
        );
    }

    #[test]
    fn without_a_file_every_client_is_at_the_desks_terms_without_limits() {
        let clients = Clients::house_only();
        let filled = FilledToday::default();
        let house = clients
            .admit(
                &spec(Side::Buy, dec!(1000), "BTCUSDT"),
                RequestParams::default(),
                &filled,
                day(),
            )
            .unwrap();
        assert_eq!(house, RequestParams::default());
        let acme = clients
            .admit(
                &spec(Side::Buy, dec!(1000), "SOLUSDT"),
                for_client("acme"),
                &filled,
                day(),
            )
            .unwrap();
        assert_eq!(acme, for_client("acme"));
    }

    #[test]
    fn a_day_counted_is_forgotten_when_the_next_begins() {
        let filled = FilledToday::default();
        let acme = ClientId::new("acme").unwrap();
        let usdt: Asset = "BTCUSDT".parse::<Pair>().unwrap().quote;
        filled.add(day(), &acme, usdt, dec!(10));
        filled.add(day(), &acme, usdt, dec!(5.5));
        assert_eq!(filled.of(day(), &acme, usdt), dec!(15.5));
        let tomorrow = day().succ_opt().unwrap();
        assert_eq!(filled.of(tomorrow, &acme, usdt), dec!(0));
        filled.add(tomorrow, &acme, usdt, dec!(1));
        // A late fill of yesterday does not count against today.
        filled.add(day(), &acme, usdt, dec!(100));
        assert_eq!(filled.of(tomorrow, &acme, usdt), dec!(1));
    }
}
