//! The desk: what lives for the whole process. Built once from the
//! settings, it owns the LP registry, the blotter, the registry of live
//! streams and the settings, and starts streams: [`Desk::start`] gives a
//! [`StreamHandle`] with the stream's events and its command inbox; any
//! number of others can [`Desk::attach`] to a live stream. Consumers
//! (console, prompt, headless `quote`) only ever talk to a desk and its
//! handles.
//!
//! Beside it: [`registry`] (the desk's LPs, built from the settings, a
//! scenario or the venues file) and `check` (`lp-rfq lps --check`).

pub(crate) mod check;
pub mod link;
pub mod protocol;
pub mod reconcile;
pub(crate) mod reference_feed;
pub mod registry;
pub mod remote;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blotter::client_orders::ClientOrderRecords;
use crate::blotter::desk_actions::{DeskAction, DeskActionRecords, DeskActionRow};
use crate::blotter::{Blotter, BlotterError, BlotterSink, BlotterStats};
use crate::clients::{Clients, FillCounter, FilledToday};
use crate::clock::StreamClock;
use crate::config::Settings;
use crate::desk::registry::LpRegistry;
use crate::ids;
use crate::recorder::Recorder;
use crate::rfq::event::{BlotterErrorEvent, Ended};
use crate::rfq::inbox::CommandSender;
use crate::rfq::outlet::Outlet;
use crate::rfq::reference::{PairReference, References};
use crate::rfq::ClientId;
use crate::rfq::{EventKind, QuoteRequest, RfqEvent, Session, StreamCommand};
use crate::streams::{
    AlreadyLive, ClientPauses, DeskEvent, LpHealthChanged, PauseMark, StreamRegistry,
    StreamStopper, Subscription,
};

/// Events buffered between a session and its consumer.
const EVENT_BUFFER: usize = 1024;
/// Commands buffered for a session (the operator types slowly).
pub(crate) const COMMAND_BUFFER: usize = 16;

/// The desk; see the module docs.
pub struct Desk {
    settings: Settings,
    registry: LpRegistry,
    blotter: Option<Blotter>,
    streams_started: AtomicU64,
    /// The live streams, for anyone who attaches, and the desk's pushed
    /// facts.
    streams: StreamRegistry,
    /// Whom requests may be for, at what markup, within what limits.
    clients: Clients,
    /// What each client filled today (UTC): its daily limit's count.
    filled_today: Arc<FilledToday>,
    /// The venues file's reference sources, feeding the streams'
    /// references once started.
    feeds: reference_feed::ReferenceFeeds,
    /// What the venues file should make the operator look at (a band for
    /// one pair and none for its dollar twin), said once at start.
    warnings: Vec<String>,
    /// The clients paused and the kill switch: every start is held to
    /// them. A start reads them until its stream is registered, and a
    /// change writes them until it has stopped what they now hold, so
    /// that no request slips between the two. Never held across an await.
    pauses: std::sync::RwLock<ClientPauses>,
    /// The record of operators' actions (the blotter's `desk_actions`, in
    /// whichever store it is): pauses are handed to it before they take
    /// effect and read back at start.
    actions: Option<Box<dyn DeskActionRecords>>,
}

/// Why the desk could not open: each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Blotter(#[from] BlotterError),
    #[error(transparent)]
    Venues(#[from] crate::venues::VenuesError),
    #[error(transparent)]
    Clients(#[from] crate::clients::ClientsError),
    /// The fills that count against the clients' daily limits could not
    /// be read from the blotter: a limit that cannot be counted is not
    /// held, so the desk does not open.
    #[error("cannot count today's fills for the clients' daily limits: {0}")]
    ClientFills(#[from] crate::blotter::read::ReadError),
    /// The request's client, pair or size is refused by the client's
    /// terms (before any LP is asked).
    #[error(transparent)]
    Client(Box<crate::clients::ClientRefusal>),
    #[error(transparent)]
    Adapter(#[from] crate::desk::registry::VenueBuildError),
    /// The blotter cannot write right now: a desk offers no quote it
    /// cannot record.
    #[error("{0} — not starting a new RFQ")]
    BlotterFailing(String),
    /// The request's own terms are beyond the desk's limits.
    #[error(transparent)]
    Request(#[from] crate::rfq::request::RequestError),
    /// Another live stream already has the id this one was given (ids
    /// are unique within a process: never expected).
    #[error("{0}")]
    AlreadyLive(String),
    /// The request is dust: under its pair's minimum (lot, MIN_NOTIONAL,
    /// tick). Checked here too, so no path to a stream can skip it.
    #[error(transparent)]
    BelowMinimum(#[from] crate::market::BelowMinimum),
    /// The request's client is paused by the desk (by name, or by the
    /// kill switch): nothing of it is quoted until it is resumed.
    #[error("{}", paused_words(.client, *.kill_switch))]
    ClientPaused { client: ClientId, kill_switch: bool },
    #[error("--scenario {scenario} cannot be used with a venues file ('{file}'): choose one source of LPs")]
    ScenarioWithVenues {
        scenario: &'static str,
        file: String,
    },
    #[error("'{file}' mixes simulated LPs ({simulated}) with real ones: a simulated fill would look real; remove them, or pass --allow-simulated-with-real (ALLOW_SIMULATED_WITH_REAL) to stream with both, every screen marked MIXED")]
    SimulatedWithReal { simulated: String, file: String },
    #[error("--speed {speed} cannot be used with real LPs ('{lp}' in '{file}'): real LPs quote on real time")]
    SpeedWithRealLps {
        speed: rust_decimal::Decimal,
        lp: String,
        file: String,
    },
}

/// Gives the desk's reference prices their age limit and the locks its
/// blotter holds from within it: a restarted desk vouches for a lone LP
/// near the price it locked a minute ago as the running one did. A
/// blotter that cannot be read for them only costs the references.
fn seed_references(settings: &Settings, has_blotter: bool, references: &References) {
    let max_age_ms = settings.reference_max_age_secs.saturating_mul(1000);
    references.set_desk_max_age_ms(max_age_ms);
    let Some(path) = settings
        .blotter
        .as_ref()
        .filter(|_| has_blotter && max_age_ms > 0)
    else {
        return;
    };
    let since_ms = chrono::Utc::now()
        .timestamp_millis()
        .saturating_sub(i64::try_from(max_age_ms).unwrap_or(i64::MAX));
    match crate::blotter::recent::recent_locks(path, since_ms) {
        Ok(locks) => {
            for lock in &locks {
                references.note_desk(&lock.pair, lock.price, lock.at_ms);
            }
        }
        Err(error) => tracing::warn!("no reference prices from the blotter: {error}"),
    }
}

/// Why a paused client's request is refused, as an operator reads it (a
/// client reads only [`crate::streams::CLIENT_PAUSED`]).
fn paused_words(client: &ClientId, kill_switch: bool) -> String {
    if kill_switch {
        format!("the desk's kill switch is on: no request for client '{client}' is taken until it is turned off (lp-rfq clients kill-switch off)")
    } else {
        format!("client '{client}' is paused by the desk: resume it first (lp-rfq clients resume {client})")
    }
}

/// A pause, resume or kill switch asked of the desk, and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PauseChange {
    /// False when it was already so (paused twice, resumed when not
    /// paused): nothing was recorded or stopped.
    pub changed: bool,
    /// The RFQs stopped by it.
    pub stopped: Vec<Arc<str>>,
    /// The desk's pauses after it.
    pub pauses: ClientPauses,
}

/// A change to the desk's client pauses, asked by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseControl {
    Pause(String),
    Resume(String),
    KillSwitch(bool),
}

impl PauseControl {
    /// What came of it, in one line for `operator` (`lp-rfq clients`,
    /// the console's desk view).
    pub fn outcome(&self, change: &PauseChange, operator: &str) -> String {
        let stopped = match change.stopped.len() {
            0 => String::new(),
            n => format!(
                "; {n} live RFQ{} stopped ({})",
                if n == 1 { "" } else { "s" },
                change
                    .stopped
                    .iter()
                    .map(|id| id.as_ref())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        match (self, change.changed) {
            (PauseControl::Pause(name), true) => format!("client '{name}' paused by {operator}{stopped}"),
            (PauseControl::Pause(name), false) => format!("client '{name}' was already paused"),
            (PauseControl::Resume(name), true) if change.pauses.kill_switch.is_some() => format!(
                "client '{name}' resumed by {operator}; the kill switch is still on: nothing is quoted for it until it is off"
            ),
            (PauseControl::Resume(name), true) => format!("client '{name}' resumed by {operator}"),
            (PauseControl::Resume(name), false) => format!("client '{name}' was not paused"),
            (PauseControl::KillSwitch(true), true) => {
                format!("kill switch on by {operator}: every client is paused{stopped}")
            }
            (PauseControl::KillSwitch(true), false) => "the kill switch was already on".to_string(),
            (PauseControl::KillSwitch(false), true) => {
                let still: Vec<&str> = change
                    .pauses
                    .paused
                    .iter()
                    .map(|paused| paused.client.as_str())
                    .collect();
                if still.is_empty() {
                    format!("kill switch off by {operator}: clients are quoted again")
                } else {
                    format!(
                        "kill switch off by {operator}: clients are quoted again, except those paused by name: {}",
                        still.join(", ")
                    )
                }
            }
            (PauseControl::KillSwitch(false), false) => "the kill switch was already off".to_string(),
        }
    }
}

impl From<crate::clients::ClientRefusal> for DeskError {
    fn from(refusal: crate::clients::ClientRefusal) -> DeskError {
        DeskError::Client(Box::new(refusal))
    }
}

/// How the desk ended: what its blotter holds and lost.
#[derive(Debug, Clone, PartialEq)]
pub struct DeskClosed {
    /// The blotter's path and its final counters, if one was open.
    pub blotter: Option<(PathBuf, BlotterStats)>,
    /// Its fallback journal (beside a file; in the working directory for
    /// a database).
    pub journal: Option<PathBuf>,
}

impl Desk {
    /// Builds the LP registry (the venues file's LPs, else the scenario's
    /// or the built-in mocks) and opens the blotter the settings name (a
    /// desk must not trade on a run it cannot record).
    pub fn open(settings: Settings) -> Result<Desk, DeskError> {
        // This process's own console or output is each stream's only
        // consumer, so no stream keeps a snapshot for a late one.
        Desk::open_with(settings, StreamRegistry::without_snapshots())
    }

    fn open_with(settings: Settings, streams: StreamRegistry) -> Result<Desk, DeskError> {
        let (registry, venues) = open_parts(&settings)?;
        let clients = match &settings.clients_file {
            Some(path) => crate::clients::load(path)?,
            None => Clients::house_only(),
        };
        let blotter = match &settings.blotter {
            Some(at) => Some(Blotter::open_at(at, &settings.desk())?),
            None => None,
        };
        let filled_today = FilledToday::default();
        if let (Some(at), Some(_), true) = (&settings.blotter, &blotter, clients.from_file()) {
            let today = chrono::Utc::now().date_naive();
            let midnight = today
                .and_hms_opt(0, 0, 0)
                .map(|at| at.and_utc().timestamp_millis())
                .unwrap_or(0);
            for fill in crate::blotter::recent::client_fills_since(at, midnight)? {
                filled_today.add(today, &fill.client, fill.asset, fill.notional);
            }
        }
        let mut desk = Desk::assemble(settings, registry, blotter, streams).with_venues(venues);
        desk.clients = clients;
        desk.filled_today = Arc::new(filled_today);
        desk.record_health()?;
        Ok(desk)
    }

    /// [`Desk::open`] for a desk others attach to (`lp-rfq serve`): every
    /// stream keeps a snapshot, so an operator may attach to it at any
    /// time.
    ///
    /// Its operators' actions are recorded (the blotter's `desk_actions`,
    /// in an SQLite file or a PostgreSQL database), and the pauses and
    /// kill switch in force when the desk (by its name) last stopped are
    /// in force again.
    pub fn open_shared(settings: Settings) -> Result<Desk, DeskError> {
        let mut desk = Desk::open_with(settings, StreamRegistry::default())?;
        if let Some(blotter) = &desk.blotter {
            let actions = blotter.desk_action_records(&desk.settings.desk())?;
            let mut pauses = ClientPauses::default();
            for pause in actions.pauses_in_force()? {
                let mark = PauseMark {
                    by: Arc::from(pause.operator.as_str()),
                    at: pause.at,
                };
                match pause.client.as_deref().map(ClientId::new) {
                    None => pauses.kill_switch = Some(mark),
                    Some(Ok(client)) => {
                        pauses.pause(client, mark);
                    }
                    Some(Err(_)) => {}
                }
            }
            *desk.pauses.get_mut().unwrap_or_else(|p| p.into_inner()) = pauses;
            desk.actions = Some(actions);
        }
        Ok(desk)
    }

    /// The clients paused and the kill switch, now.
    pub fn pauses(&self) -> ClientPauses {
        self.pauses
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Pauses client `name` for operator `by`: its new requests are
    /// refused and its live RFQs stopped (an order out is waited for).
    /// Refused, with the clients the desk knows, for a client it does not.
    pub fn pause_client(&self, by: &Arc<str>, name: &str) -> Result<PauseChange, DeskError> {
        let client = self.clients.known(name)?;
        self.change_pauses(
            by,
            DeskAction::PauseClient,
            Some(&client),
            |pauses, mark| pauses.pause(client.clone(), mark),
        )
    }

    /// Resumes client `name` for operator `by` (the kill switch, if on,
    /// still holds it).
    pub fn resume_client(&self, by: &Arc<str>, name: &str) -> Result<PauseChange, DeskError> {
        let client = self.clients.known(name)?;
        self.change_pauses(by, DeskAction::ResumeClient, Some(&client), |pauses, _| {
            pauses.resume(&client)
        })
    }

    /// Turns the kill switch on (every client paused) or off, for `by`.
    pub fn set_kill_switch(&self, by: &Arc<str>, on: bool) -> Result<PauseChange, DeskError> {
        let action = if on {
            DeskAction::KillSwitchOn
        } else {
            DeskAction::KillSwitchOff
        };
        self.change_pauses(by, action, None, |pauses, mark| {
            let was_on = pauses.kill_switch.is_some();
            pauses.kill_switch = if on {
                pauses.kill_switch.take().or(Some(mark))
            } else {
                None
            };
            was_on != on
        })
    }

    /// Applies one pause change under the lock: recorded first (a pause
    /// that cannot be recorded still takes effect, said in the log: the
    /// desk stops quoting rather than keep quoting a client it was told
    /// to stop), then the live RFQs it now holds are stopped, and every
    /// desk view is told.
    fn change_pauses(
        &self,
        by: &Arc<str>,
        action: DeskAction,
        client: Option<&ClientId>,
        change: impl FnOnce(&mut ClientPauses, PauseMark) -> bool,
    ) -> Result<PauseChange, DeskError> {
        let mut pauses = self.pauses.write().unwrap_or_else(|p| p.into_inner());
        let mut changed_pauses = pauses.clone();
        let mark = PauseMark {
            by: by.clone(),
            at: crate::clock::iso_millis(chrono::Utc::now()),
        };
        if !change(&mut changed_pauses, mark) {
            return Ok(PauseChange {
                changed: false,
                stopped: Vec::new(),
                pauses: pauses.clone(),
            });
        }
        let at = self.record_action(DeskActionRow {
            operator: by.to_string(),
            action,
            client: client.map(ClientId::to_string),
            rfq_id: None,
            quote_id: None,
            side: None,
        });
        if let Some(at) = at {
            // The mark says the time on the record.
            let client_mark = changed_pauses
                .paused
                .iter_mut()
                .find(|paused| Some(&paused.client) == client)
                .map(|paused| &mut paused.mark);
            if let Some(mark) = client_mark.or(changed_pauses.kill_switch.as_mut()) {
                if mark.by == *by
                    && matches!(action, DeskAction::PauseClient | DeskAction::KillSwitchOn)
                {
                    mark.at = at;
                }
            }
        }
        *pauses = changed_pauses.clone();
        let stopped = self
            .streams
            .stop_where(|client, channel| changed_pauses.holds(client, channel));
        drop(pauses);
        tracing::warn!(operator = %by, action = action.as_str(), client = ?client.map(ClientId::as_str), stopped = stopped.len(), "client pauses changed");
        self.streams
            .announce(DeskEvent::ClientPauses(changed_pauses.clone()));
        Ok(PauseChange {
            changed: true,
            stopped,
            pauses: changed_pauses,
        })
    }

    /// Carries out `control` for operator `by`.
    pub fn control(&self, by: &Arc<str>, control: &PauseControl) -> Result<PauseChange, DeskError> {
        match control {
            PauseControl::Pause(name) => self.pause_client(by, name),
            PauseControl::Resume(name) => self.resume_client(by, name),
            PauseControl::KillSwitch(on) => self.set_kill_switch(by, *on),
        }
    }

    /// Records an operator's action on the desk (`desk_actions`), when it
    /// keeps a record of them; the time recorded, or `None` (a failure is
    /// logged: the record of who did it is lost, the action is not).
    pub fn record_action(&self, row: DeskActionRow) -> Option<String> {
        let actions = self.actions.as_ref()?;
        match actions.record(&row) {
            Ok(at) => Some(at),
            Err(error) => {
                tracing::error!(operator = %row.operator, action = row.action.as_str(), "an operator's action cannot be recorded: {error}");
                None
            }
        }
    }

    /// What an operator needs to know of this desk (the server's
    /// `welcome`, the console's form).
    pub fn facts(&self) -> protocol::DeskFacts {
        let settings = &self.settings;
        protocol::DeskFacts {
            markup_bps: settings.engine.markup,
            threshold_bps: settings.engine.threshold,
            duration_ms: settings.duration_ms,
            lps: self
                .registry
                .listing()
                .into_iter()
                .map(|listed| protocol::DeskLp {
                    name: listed.name,
                    simulated: listed.simulated,
                })
                .collect(),
            pairs: match self.registry.quotable() {
                crate::desk::registry::Quotable::Any => None,
                crate::desk::registry::Quotable::Only(pairs) => Some(pairs.clone()),
            },
            simulated: self.registry.simulated(),
            clients: if self.clients.from_file() {
                self.clients.names()
            } else {
                Vec::new()
            },
        }
    }

    /// Records every change of an LP's health in the blotter (`lp_health`),
    /// when there is a blotter and some LP has a health (a venues file).
    pub(crate) fn record_health(&mut self) -> Result<(), DeskError> {
        let Some(blotter) = &self.blotter else {
            return Ok(());
        };
        if self.registry.tracks_health() {
            // Only the first call counts: a second one records nothing twice.
            self.registry.record_health_to(blotter.health_sink());
        }
        Ok(())
    }

    /// A desk from parts already built (tests, other front ends).
    /// Its streams keep snapshots, so a subscriber may attach at any time.
    pub fn with_parts(settings: Settings, registry: LpRegistry, blotter: Option<Blotter>) -> Desk {
        Desk::assemble(settings, registry, blotter, StreamRegistry::default())
    }

    fn assemble(
        settings: Settings,
        registry: LpRegistry,
        blotter: Option<Blotter>,
        streams: StreamRegistry,
    ) -> Desk {
        seed_references(&settings, blotter.is_some(), streams.references());
        let announcer = streams.clone();
        registry.announce_health_to(Box::new(move |change| {
            announcer.announce(DeskEvent::LpHealth(LpHealthChanged::from(change)));
        }));
        Desk {
            settings,
            registry,
            blotter,
            streams_started: AtomicU64::new(0),
            feeds: reference_feed::ReferenceFeeds::new(&[], streams.references()),
            streams,
            clients: Clients::house_only(),
            filled_today: Arc::default(),
            warnings: Vec::new(),
            pauses: std::sync::RwLock::default(),
            actions: None,
        }
    }

    /// This desk serving `clients` (tests, other front ends; [`Desk::open`]
    /// reads the settings' clients file).
    pub fn with_clients(mut self, clients: Clients) -> Desk {
        self.clients = clients;
        self
    }

    /// Whom requests may be for.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Whether `request`'s client may make it now (known, enabled, the
    /// pair allowed, within its per-RFQ and daily limits): what
    /// [`Desk::try_start`] checks before any LP is asked, for a front end
    /// to explain and ask again.
    pub fn admit(&self, request: &QuoteRequest) -> Result<(), crate::clients::ClientRefusal> {
        let today = chrono::Utc::now().date_naive();
        self.clients
            .admit(
                &request.spec,
                request.params.clone(),
                &self.filled_today,
                today,
            )
            .map(drop)
    }

    /// The desk with what its venues file adds beside the LPs: its
    /// reference sources and its warnings.
    fn with_venues(mut self, venues: Option<crate::venues::VenuesFile>) -> Desk {
        if let Some(file) = venues {
            self.feeds =
                reference_feed::ReferenceFeeds::new(&file.references, self.streams.references());
            let path = self
                .settings
                .lps_file
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            self.warnings = file.band_warnings(&path.display().to_string());
        }
        self
    }

    /// What the operator should look at in the configuration, one line
    /// each (the caller shows them at start).
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn registry(&self) -> &LpRegistry {
        &self.registry
    }

    /// Starts the LPs (connections, logons) and the reference sources
    /// (their first prices, each within its timeout) before the first
    /// stream.
    pub(crate) async fn start_lps(&self) {
        tokio::join!(self.registry.start(), self.feeds.start());
    }

    /// Looks every order the blotter holds without an outcome up with its
    /// venue (call after [`Desk::start_lps`]: a FIX venue answers once
    /// logged on) and appends what is learned; the line to show, if any
    /// order was found.
    pub(crate) async fn reconcile_orders(&self) -> Option<String> {
        let blotter = self.blotter.as_ref()?;
        let cannot = |error: &dyn std::fmt::Display| {
            Some(format!(
                "cannot reconcile orders in the blotter '{}': {error}",
                blotter.path().display()
            ))
        };
        let mut records = match blotter.order_records() {
            Ok(records) => records,
            Err(error) => return cannot(&error),
        };
        let default_wait_ms = self.settings.engine.order_timeout_ms;
        // Every outcome reconciliation appends is stamped from here on.
        let learning_from_ms = chrono::Utc::now().timestamp_millis();
        match reconcile::reconcile(records.as_mut(), &self.registry, default_wait_ms).await {
            Ok(found) => {
                if found.as_ref().is_some_and(|done| done.filled > 0) {
                    self.count_learned_fills(learning_from_ms);
                }
                found.map(|done| done.line())
            }
            Err(problem) => cannot(&problem),
        }
    }

    /// Adds the fills reconciliation appended (recorded at or after unix
    /// ms `since_ms`) to today's client limits: they were dealt, and the
    /// counts were seeded from the blotter before they were known.
    fn count_learned_fills(&self, since_ms: i64) {
        let Some(at) = self
            .settings
            .blotter
            .as_ref()
            .filter(|_| self.blotter.is_some() && self.clients.from_file())
        else {
            return;
        };
        let today = chrono::Utc::now().date_naive();
        match crate::blotter::recent::client_fills_since(at, since_ms) {
            Ok(fills) => {
                for fill in fills {
                    self.filled_today
                        .add(today, &fill.client, fill.asset, fill.notional);
                }
            }
            Err(error) => {
                tracing::warn!("reconciled fills not counted toward client limits: {error}")
            }
        }
    }

    /// The blotter's counters, if one is open.
    pub(crate) fn blotter_stats(&self) -> Option<BlotterStats> {
        self.blotter.as_ref().map(Blotter::stats)
    }

    /// The record of the client API's orders in the blotter's store
    /// (an SQLite file or a PostgreSQL database), if a blotter is open.
    pub(crate) fn client_order_records(
        &self,
    ) -> Option<Result<Box<dyn ClientOrderRecords>, BlotterError>> {
        self.blotter.as_ref().map(Blotter::client_order_records)
    }

    /// The registry of live streams.
    pub fn streams(&self) -> &StreamRegistry {
        &self.streams
    }

    /// The RFQ ids of the streams running now.
    pub fn live_streams(&self) -> Vec<Arc<str>> {
        self.streams.live_streams()
    }

    /// Attaches to the live stream `rfq_id`: its snapshot, then every
    /// later event, and its command inbox. `None` when it is not running.
    pub fn attach(&self, rfq_id: &str) -> Option<Subscription> {
        self.streams.attach(rfq_id)
    }

    /// The desk view now: every live RFQ's row and every LP's health.
    pub fn desk_view(&self) -> crate::streams::DeskView {
        crate::streams::DeskView {
            rfqs: self.streams.live_rfqs(),
            lps: self.registry.health_rows(),
            pauses: self.pauses(),
        }
    }

    /// Every desk-wide fact from now on (LP health, blotter trouble,
    /// streams starting and ending), pushed as it happens.
    pub fn subscribe_desk(&self) -> tokio::sync::broadcast::Receiver<DeskEvent> {
        self.streams.subscribe_desk()
    }

    /// What opening the blotter merged from a fallback journal an earlier
    /// run left, if anything (the caller shows it).
    pub(crate) fn blotter_merged(&self) -> Option<&str> {
        self.blotter.as_ref().and_then(Blotter::merged)
    }

    /// The first blotter write problem, if any happened (the caller shows
    /// it: a line on stderr, the console's event log).
    pub(crate) fn blotter_problem(&self) -> Option<String> {
        self.blotter.as_ref().and_then(Blotter::problem)
    }

    /// Starts one stream as its own task. Every consumer reads the same
    /// events from the returned handle. With a blotter, each event is
    /// handed to it before the consumer sees it, so no consumer can skip
    /// recording and the blotter never lags what was shown.
    ///
    /// While the blotter cannot write, no RFQ starts: the handle's stream
    /// is only a `blotter_error` saying why and an `ended`
    /// (`interrupted`), and no LP is asked. [`Desk::try_start`] gives the
    /// refusal as an error instead.
    ///
    /// A bare [`crate::rfq::RfqSpec`] is the house's request at the desk's
    /// markup and threshold; a [`QuoteRequest`] brings its own.
    pub fn start(&self, request: impl Into<QuoteRequest>) -> StreamHandle {
        match self.try_start(request) {
            Ok(handle) => handle,
            Err(error) => {
                if let Some(blotter) = &self.blotter {
                    self.streams.watch_blotter(&blotter.sink());
                }
                let clock = StreamClock::start_with_speed(self.settings.speed_per_mille);
                refused(
                    ids::next_rfq_id(clock.wall_origin()),
                    clock,
                    error.to_string(),
                )
            }
        }
    }

    /// [`Desk::start`], refusing with [`DeskError::BlotterFailing`] while
    /// the blotter cannot write, with [`DeskError::Request`] a
    /// request whose own markup or threshold is beyond the limits of the
    /// desk's settings, and with [`DeskError::BelowMinimum`] one under its
    /// pair's minimum size.
    pub fn try_start(&self, request: impl Into<QuoteRequest>) -> Result<StreamHandle, DeskError> {
        self.try_start_keeping(request, |_| true)
    }

    /// [`Desk::try_start`] whose handle's `events` get only the events
    /// `keep` passes (the blotter and every other subscriber still get
    /// them all): a consumer that acts on a few kinds is not woken for
    /// the rest.
    pub(crate) fn try_start_keeping(
        &self,
        request: impl Into<QuoteRequest>,
        keep: fn(&EventKind) -> bool,
    ) -> Result<StreamHandle, DeskError> {
        let (session, counter, two_way) = self.session_for(request.into())?;
        Ok(start_session_in(
            session,
            self.blotter.as_ref().map(Blotter::sink),
            &self.streams,
            counter,
            (two_way, keep),
        ))
    }

    /// [`Desk::try_start`] for a consumer that takes the stream's events
    /// itself, inside the stream's own task, as an [`Outlet`] made by
    /// `consumer` from the stream's id and clock: no channel and no task
    /// between the session and it (the desk server's connections, each
    /// carrying thousands of events a second). The consumer sees the
    /// events exactly as a [`StreamHandle`]'s `events` would, after the
    /// blotter and the registry's subscribers.
    pub(crate) fn try_start_into<C: Outlet + 'static>(
        &self,
        request: QuoteRequest,
        consumer: impl FnOnce(&Arc<str>, StreamClock) -> C,
    ) -> Result<DirectStream, DeskError> {
        let (session, counter, two_way) = self.session_for(request)?;
        let consumer = consumer(&session.rfq_id, session.clock);
        spawn_session(
            session,
            self.blotter.as_ref().map(Blotter::sink),
            &self.streams,
            counter,
            two_way,
            consumer,
        )
        .map_err(|live| DeskError::AlreadyLive(live.to_string()))
    }

    /// The checks every start makes, and the session they admit: its
    /// client's fill counter (a client with a daily limit) and whether it
    /// is two-way.
    fn session_for(
        &self,
        request: QuoteRequest,
    ) -> Result<(Session, Option<FillCounter>, bool), DeskError> {
        let QuoteRequest { spec, params } = request;
        params.check(
            crate::config::MAX_MARKUP_BPS,
            crate::config::MAX_THRESHOLD_BPS,
        )?;
        self.settings
            .minimum_size()
            .check(spec.pair, spec.fixed, spec.amount)?;
        let client = params.client();
        // Read until the stream is registered (the end of this function):
        // a pause made meanwhile waits for it, then finds and stops it.
        let pauses = self.pauses.read().unwrap_or_else(|p| p.into_inner());
        if pauses.holds(&client, params.channel()) {
            return Err(DeskError::ClientPaused {
                kill_switch: !pauses.is_paused(&client),
                client,
            });
        }
        let today = chrono::Utc::now().date_naive();
        let (params, reservation) =
            self.clients
                .admit_reserving(&spec, params, &self.filled_today, today)?;
        if let Some(failure) = self.blotter.as_ref().and_then(Blotter::failure) {
            return Err(DeskError::BlotterFailing(failure));
        }
        let index = self.streams_started.fetch_add(1, Ordering::Relaxed);
        let clock = StreamClock::start_with_speed(self.settings.speed_per_mille);
        let rfq_id = ids::next_rfq_id(clock.wall_origin());
        let session = Session {
            rfq_id: rfq_id.clone(),
            spec,
            lps: self.registry.lps_for_stream(index),
            params: params.engine_params(self.settings.engine),
            duration_ms: self.settings.duration_ms,
            clock,
            band: self.registry.band_for(&spec.pair),
            // Read afresh at every poll: a reference source's price can
            // arrive, or grow too old, while the stream runs.
            reference: None,
            desk_reference: Some(PairReference::new(
                self.streams.references().clone(),
                spec.pair.symbol(),
            )),
            client: params.client(),
            operator: params.operator(),
            channel: params.channel(),
        };
        let counter = self
            .clients
            .get(params.client().as_str())
            .filter(|terms| terms.counts_fills())
            .map(|_| FillCounter {
                filled: self.filled_today.clone(),
                client: params.client(),
                reservation,
            });
        Ok((session, counter, params.two_way()))
    }

    /// A handle that makes a running [`Desk::shutdown`] stop retrying the
    /// blotter's held events (a signal while closing).
    pub(crate) fn blotter_abandoner(&self) -> Option<crate::blotter::Abandon> {
        self.blotter.as_ref().map(Blotter::abandoner)
    }

    /// Shuts the LPs down and commits everything to the blotter. Stop the
    /// streams first: the blotter's writer ends once every stream is done.
    pub async fn shutdown(mut self) -> DeskClosed {
        self.registry.shutdown().await;
        if let Some(actions) = self.actions.take() {
            // Closing a record may wait for its writer to drain (a
            // PostgreSQL database's): a blocking thread waits, not a worker.
            if let Err(error) = tokio::task::spawn_blocking(move || drop(actions)).await {
                tracing::error!("the operators' actions' record did not close: {error}");
            }
        }
        let journal = self
            .blotter
            .as_ref()
            .and_then(|blotter| blotter.journal().map(Path::to_path_buf));
        let blotter = match self.blotter {
            Some(blotter) => {
                let path = blotter.path().to_path_buf();
                // LP health changes that could not be written are counted
                // in `lost` with the events: one writer records both.
                let stats = blotter.close().await;
                tracing::info!(?stats, path = %path.display(), "blotter closed");
                Some((path, stats))
            }
            None => None,
        };
        DeskClosed { blotter, journal }
    }
}

/// The LPs the settings name: the venues file's (`--lps`), else the
/// scenario's or the built-in mocks. Refuses a venues file together with a
/// scenario, and `--speed` other than 1 with real LPs.
pub fn open_registry(settings: &Settings) -> Result<LpRegistry, DeskError> {
    Ok(open_parts(settings)?.0)
}

/// [`open_registry`], with the venues file it was built from, if any.
fn open_parts(
    settings: &Settings,
) -> Result<(LpRegistry, Option<crate::venues::VenuesFile>), DeskError> {
    let Some(file) = venues_file(settings)? else {
        return Ok((LpRegistry::from_settings(settings), None));
    };
    let registry = LpRegistry::from_venues(&file.lps, settings)?.with_bands(file.bands.clone());
    Ok((registry, Some(file)))
}

/// The venues file's reference sources, read without starting any
/// (`lp-rfq lps`).
pub(crate) fn list_references(
    settings: &Settings,
) -> Result<Vec<crate::venues::ReferenceSpec>, DeskError> {
    Ok(venues_file(settings)?.map_or_else(Vec::new, |file| file.references))
}

/// The LPs [`open_registry`] would open, listed without opening any: a
/// venues file's from the file alone (nothing connects, nothing is
/// created), a simulation's from its cast.
pub(crate) fn list_lps(settings: &Settings) -> Result<Vec<registry::Listed>, DeskError> {
    Ok(match venues_file(settings)? {
        Some(file) => registry::listing_of_venues(&file.lps, settings),
        None => LpRegistry::from_settings(settings).listing(),
    })
}

/// The venues file the settings name, read and checked against them;
/// `None` without `--lps`.
fn venues_file(settings: &Settings) -> Result<Option<crate::venues::VenuesFile>, DeskError> {
    let Some(path) = &settings.lps_file else {
        return Ok(None);
    };
    if let Some(scenario) = settings.scenario {
        return Err(DeskError::ScenarioWithVenues {
            scenario: scenario.name,
            file: path.display().to_string(),
        });
    }
    let file = crate::venues::load_file(path)?;
    let simulated: Vec<&str> = file
        .lps
        .iter()
        .filter(|spec| !spec.kind.is_real())
        .map(|spec| spec.name.as_str())
        .collect();
    let mixed = !simulated.is_empty() && simulated.len() < file.lps.len();
    if mixed && !settings.allow_simulated_with_real {
        return Err(DeskError::SimulatedWithReal {
            simulated: simulated.join(", "),
            file: path.display().to_string(),
        });
    }
    if settings.speed_per_mille != 1000 {
        if let Some(real) = file.lps.iter().find(|spec| spec.kind.is_real()) {
            return Err(DeskError::SpeedWithRealLps {
                speed: StreamClock::start_with_speed(settings.speed_per_mille).speed(),
                lp: real.name.clone(),
                file: path.display().to_string(),
            });
        }
    }
    Ok(Some(file))
}

/// The pairs the settings' LPs quote, read without opening them (no
/// blotter, no connection), so a request nobody quotes is refused before
/// anything is opened. A venues file that cannot be read is `Any`: opening
/// the desk then reports it.
pub(crate) fn quotable_pairs(settings: &Settings) -> crate::desk::registry::Quotable {
    use crate::desk::registry::Quotable;
    match &settings.lps_file {
        None => Quotable::of_simulation(settings),
        Some(path) => crate::venues::load_file(path)
            .map(|file| Quotable::of_venues(&file.lps))
            .unwrap_or(Quotable::Any),
    }
}

/// A stream that never started: its events say why, then `ended`.
fn refused(rfq_id: Arc<str>, clock: StreamClock, reason: String) -> StreamHandle {
    let (sender, events) = mpsc::channel(2);
    let ended = Ended {
        simulated: false,
        reason: crate::rfq::event::EndReason::Interrupted,
        outcome: crate::rfq::event::Outcome::NotAccepted,
        improvements: 0,
        quote_id: None,
        lp: None,
        client_price: None,
    };
    let event = |kind| RfqEvent {
        kind,
        rfq_id: rfq_id.clone(),
        t_ms: 0,
        two_way_side: None,
    };
    let _ = sender.try_send(event(EventKind::BlotterError(BlotterErrorEvent { reason })));
    let _ = sender.try_send(event(EventKind::Ended(ended.clone())));
    let (commands, _) = crate::rfq::inbox::channel(1);
    StreamHandle {
        rfq_id: rfq_id.clone(),
        clock,
        events,
        stopper: StreamStopper::new(commands.clone()),
        commands,
        task: StreamTask::Local(tokio::spawn(async move { ended })),
    }
}

/// Runs `session` one-sided, or as a two-way stream. The two-way one is
/// boxed: a one-sided stream's future stays the size it was.
fn run_stream<O: Outlet + 'static>(
    session: Session,
    outlet: O,
    inbox: crate::rfq::inbox::Inbox<StreamCommand>,
    two_way: bool,
) -> impl std::future::Future<Output = Ended> + Send + 'static {
    if two_way {
        futures::future::Either::Right(Box::pin(crate::rfq::two_way::run_two_way(
            session,
            outlet,
            Some(inbox),
        )))
    } else {
        futures::future::Either::Left(session.run_into(outlet, Some(inbox)))
    }
}

/// `start_session_in` a registry of its own: nobody else attaches.
pub fn start_session(session: Session, blotter: Option<BlotterSink>) -> StreamHandle {
    start_session_in(
        session,
        blotter,
        &StreamRegistry::default(),
        None,
        (false, |_| true),
    )
}

/// Runs `session` as its own task, listed in `streams` while it runs,
/// recording into `blotter` if given: a [`Recorder`] inside that same task
/// hands each event to the blotter before anyone sees it (and stops the
/// stream if its record can no longer be kept), so a full blotter channel
/// makes this stream wait rather than anything pile up. Then the
/// registry's fan-out offers it to the stream's subscribers, and the
/// handle's `events` get it. With a `counter`, each fill is counted into
/// its client's day as it lands (before the blotter records it).
pub(crate) fn start_session_in(
    session: Session,
    blotter: Option<BlotterSink>,
    streams: &StreamRegistry,
    counter: Option<FillCounter>,
    (two_way, keep): (bool, fn(&EventKind) -> bool),
) -> StreamHandle {
    let rfq_id = session.rfq_id.clone();
    let clock = session.clock;
    let (sender, events) = mpsc::channel(EVENT_BUFFER);
    let consumer = crate::rfq::outlet::Only {
        outlet: sender,
        keep,
    };
    match spawn_session(session, blotter, streams, counter, two_way, consumer) {
        Ok(DirectStream {
            rfq_id,
            clock,
            commands,
            stopper,
            task,
        }) => StreamHandle {
            rfq_id,
            clock,
            events,
            commands,
            stopper,
            task: StreamTask::Local(task),
        },
        Err(live) => refused(rfq_id, clock, live.to_string()),
    }
}

/// Lists `session` in `streams` and runs it as its own task, its events
/// handed (after the recorder, the registry's fan-out and the fill
/// counter, as [`start_session_in`] says) to `consumer`.
fn spawn_session<C: Outlet + 'static>(
    session: Session,
    blotter: Option<BlotterSink>,
    streams: &StreamRegistry,
    counter: Option<FillCounter>,
    two_way: bool,
    consumer: C,
) -> Result<DirectStream, AlreadyLive> {
    let rfq_id = session.rfq_id.clone();
    let clock = session.clock;
    let (commands, inbox) = crate::rfq::inbox::channel(COMMAND_BUFFER);
    let fanout = streams.register(
        rfq_id.clone(),
        clock,
        commands.clone(),
        blotter.clone(),
        consumer,
    )?;
    let stopper = fanout.stopper();
    fanout.note_requester(session.client.clone(), session.channel);
    // Only a client with a daily limit pays for the counting outlet.
    let task = match (blotter, counter) {
        (None, None) => tokio::spawn(run_stream(session, fanout, inbox, two_way)),
        (Some(sink), None) => tokio::spawn(run_stream(
            session,
            Recorder::new(sink, fanout),
            inbox,
            two_way,
        )),
        (None, Some(counter)) => tokio::spawn(run_stream(
            session,
            counter.around(fanout, clock),
            inbox,
            two_way,
        )),
        (Some(sink), Some(counter)) => tokio::spawn(run_stream(
            session,
            counter.around(Recorder::new(sink, fanout), clock),
            inbox,
            two_way,
        )),
    };
    Ok(DirectStream {
        rfq_id,
        clock,
        commands,
        stopper,
        task,
    })
}

/// A stream started by [`Desk::try_start_into`]: its events go to the
/// consumer it was given, so this only commands it and waits for its end.
pub(crate) struct DirectStream {
    pub(crate) rfq_id: Arc<str>,
    pub(crate) clock: StreamClock,
    pub(crate) commands: CommandSender<StreamCommand>,
    pub(crate) stopper: StreamStopper,
    /// The session's task: its summary once every event has been handed
    /// to the blotter and the consumer.
    pub(crate) task: JoinHandle<Ended>,
}

/// A running stream: its events arrive on `events`, in order, ending with
/// `ended`; `commands` is its inbox.
pub struct StreamHandle {
    pub rfq_id: Arc<str>,
    /// The stream's clock: `clock.now_ms()` is the stream time that event
    /// `t_ms` values count in (for countdowns between events).
    pub clock: StreamClock,
    pub events: mpsc::Receiver<RfqEvent>,
    pub commands: CommandSender<StreamCommand>,
    stopper: StreamStopper,
    task: StreamTask,
}

/// Where a stream's summary comes from: its own task in this process, or
/// a desk server's `ended` (an error when the connection is lost first).
enum StreamTask {
    Local(JoinHandle<Ended>),
    Remote(tokio::sync::oneshot::Receiver<anyhow::Result<Ended>>),
}

impl StreamHandle {
    /// A stream running on a desk server: its events arrive on `events`,
    /// commands put into `commands`' inbox are the caller's to forward,
    /// and `ended` gives its summary (or why the desk was lost).
    pub(crate) fn remote(
        rfq_id: Arc<str>,
        clock: StreamClock,
        events: mpsc::Receiver<RfqEvent>,
        commands: CommandSender<StreamCommand>,
        ended: tokio::sync::oneshot::Receiver<anyhow::Result<Ended>>,
    ) -> StreamHandle {
        StreamHandle {
            rfq_id,
            clock,
            events,
            stopper: StreamStopper::new(commands.clone()),
            commands,
            task: StreamTask::Remote(ended),
        }
    }

    /// Ends the stream early; its `ended` event says `interrupted`. Never
    /// lost, however full the inbox is.
    pub fn stop(&self) {
        self.stopper.stop();
    }

    /// What stops this stream from elsewhere (a signal handler), after
    /// the handle has been handed to the stream's driver.
    pub(crate) fn stopper(&self) -> StreamStopper {
        self.stopper.clone()
    }

    /// Hands `command` to the stream; a stream that has already ended
    /// ignores it. A Stop is [`StreamHandle::stop`].
    pub fn send(&self, command: StreamCommand) {
        match command {
            StreamCommand::Stop => self.stop(),
            command => {
                let _ = self.commands.try_send(command);
            }
        }
    }

    /// Waits for the session to finish and returns its summary; by then
    /// every event has been handed to the blotter.
    pub async fn finish(self) -> anyhow::Result<Ended> {
        match self.task {
            StreamTask::Local(task) => task.await.context("the RFQ session failed"),
            StreamTask::Remote(ended) => ended
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the desk connection ended"))),
        }
    }

    /// Hands every event, in order, to `on_event` until the stream ends,
    /// and returns its summary. An output that fails (a closed pipe) stops
    /// the stream early; any other output error is returned.
    pub(crate) async fn drive(
        mut self,
        mut on_event: impl FnMut(&RfqEvent) -> io::Result<()>,
    ) -> anyhow::Result<Ended> {
        while let Some(event) = self.events.recv().await {
            if let Err(error) = on_event(&event) {
                self.stop();
                if error.kind() != io::ErrorKind::BrokenPipe {
                    return Err(error).context("cannot write the stream's output");
                }
            }
        }
        self.finish().await
    }
}

/// A stream that never started because `reason`: its events say so, then
/// `ended` (a desk server that refused, or was lost, at the start).
pub(crate) fn refused_stream(reason: String) -> StreamHandle {
    let clock = StreamClock::start();
    refused(ids::next_rfq_id(clock.wall_origin()), clock, reason)
}
