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
pub mod registry;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::blotter::{Blotter, BlotterError, BlotterSink, BlotterStats};
use crate::clock::StreamClock;
use crate::config::Settings;
use crate::desk::registry::LpRegistry;
use crate::ids;
use crate::recorder::Recorder;
use crate::rfq::event::{BlotterErrorEvent, Ended};
use crate::rfq::inbox::CommandSender;
use crate::rfq::{EventKind, QuoteRequest, RfqEvent, Session, StreamCommand};
use crate::streams::{DeskEvent, LpHealthChanged, StreamRegistry, StreamStopper, Subscription};

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
}

/// Why the desk could not open: each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Blotter(#[from] BlotterError),
    #[error(transparent)]
    Venues(#[from] crate::venues::VenuesError),
    #[error(transparent)]
    Adapter(#[from] crate::desk::registry::VenueBuildError),
    /// The blotter cannot write right now: a desk offers no quote it
    /// cannot record.
    #[error("{0} — not starting a new RFQ")]
    BlotterFailing(String),
    /// The request's own terms are beyond the desk's limits.
    #[error(transparent)]
    Request(#[from] crate::rfq::request::RequestError),
    /// The request is dust: under its pair's minimum (lot, MIN_NOTIONAL,
    /// tick). Checked here too, so no path to a stream can skip it.
    #[error(transparent)]
    BelowMinimum(#[from] crate::market::BelowMinimum),
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
        let registry = open_registry(&settings)?;
        let blotter = match &settings.blotter {
            Some(at) => Some(Blotter::open_at(at, &settings.desk())?),
            None => None,
        };
        // This process's own console or output is each stream's only
        // consumer, so no stream keeps a snapshot for a late one.
        let mut desk = Desk::assemble(
            settings,
            registry,
            blotter,
            StreamRegistry::without_snapshots(),
        );
        desk.record_health()?;
        Ok(desk)
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
        let announcer = streams.clone();
        registry.announce_health_to(Box::new(move |change| {
            announcer.announce(DeskEvent::LpHealth(LpHealthChanged::from(change)));
        }));
        Desk {
            settings,
            registry,
            blotter,
            streams_started: AtomicU64::new(0),
            streams,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn registry(&self) -> &LpRegistry {
        &self.registry
    }

    /// Starts the LPs (connections, logons) before the first stream.
    pub(crate) async fn start_lps(&self) {
        self.registry.start().await;
    }

    /// The blotter's counters, if one is open.
    pub(crate) fn blotter_stats(&self) -> Option<BlotterStats> {
        self.blotter.as_ref().map(Blotter::stats)
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
        let QuoteRequest { spec, params } = request.into();
        params.check(
            crate::config::MAX_MARKUP_BPS,
            crate::config::MAX_THRESHOLD_BPS,
        )?;
        self.settings.minimum_size().check(spec.pair, spec.amount)?;
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
            client: params.client(),
        };
        Ok(start_session_in(
            session,
            self.blotter.as_ref().map(Blotter::sink),
            &self.streams,
        ))
    }

    /// A handle that makes a running [`Desk::shutdown`] stop retrying the
    /// blotter's held events (a signal while closing).
    pub(crate) fn blotter_abandoner(&self) -> Option<crate::blotter::Abandon> {
        self.blotter.as_ref().map(Blotter::abandoner)
    }

    /// Shuts the LPs down and commits everything to the blotter. Stop the
    /// streams first: the blotter's writer ends once every stream is done.
    pub async fn shutdown(self) -> DeskClosed {
        self.registry.shutdown().await;
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
    let Some(file) = venues_file(settings)? else {
        return Ok(LpRegistry::from_settings(settings));
    };
    Ok(LpRegistry::from_venues(&file.lps, settings)?.with_bands(file.bands))
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
        task: tokio::spawn(async move { ended }),
    }
}

/// `start_session_in` a registry of its own: nobody else attaches.
pub fn start_session(session: Session, blotter: Option<BlotterSink>) -> StreamHandle {
    start_session_in(session, blotter, &StreamRegistry::default())
}

/// Runs `session` as its own task, listed in `streams` while it runs,
/// recording into `blotter` if given: a [`Recorder`] inside that same task
/// hands each event to the blotter before anyone sees it (and stops the
/// stream if its record can no longer be kept), so a full blotter channel
/// makes this stream wait rather than anything pile up. Then the
/// registry's fan-out offers it to the stream's subscribers, and the
/// handle's `events` get it.
pub(crate) fn start_session_in(
    session: Session,
    blotter: Option<BlotterSink>,
    streams: &StreamRegistry,
) -> StreamHandle {
    let rfq_id = session.rfq_id.clone();
    let clock = session.clock;
    let (commands, inbox) = crate::rfq::inbox::channel(COMMAND_BUFFER);
    let (sender, events) = mpsc::channel(EVENT_BUFFER);
    let fanout = match streams.register(
        rfq_id.clone(),
        clock,
        commands.clone(),
        blotter.clone(),
        sender,
    ) {
        Ok(fanout) => fanout,
        Err(live) => return refused(rfq_id, clock, live.to_string()),
    };
    let stopper = fanout.stopper();
    let task = match blotter {
        None => tokio::spawn(session.run_into(fanout, Some(inbox))),
        Some(sink) => tokio::spawn(session.run_into(Recorder::new(sink, fanout), Some(inbox))),
    };
    StreamHandle {
        rfq_id,
        clock,
        events,
        commands,
        stopper,
        task,
    }
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
    task: JoinHandle<Ended>,
}

impl StreamHandle {
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
        self.task.await.context("the RFQ session failed")
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
