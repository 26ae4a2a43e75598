//! The desk's LPs for the whole process: built once from the settings,
//! started before the first stream and shut down after the last. A
//! network LP is one long-lived instance (its connection, logon and limits
//! shared by every stream). The simulated casts (the built-in mocks and
//! scenario LPs) are replays: each stream gets a freshly seeded cast, so a
//! seed replays every stream of a session exactly as the first.
//!
//! Each LP of a venues file is wrapped in its health ([`Guarded`]: rate
//! limit, breaker, fade), shared by every stream; the simulated casts are
//! rebuilt per stream and stay unlimited.

use std::sync::Arc;

use crate::config::Settings;
use crate::lp::adapter::AdapterError;
use crate::lp::b2c2::B2c2Lp;
use crate::lp::binance::BinanceConvertLp;
use crate::lp::fix::{Fix44Config, Fix44Error, Fix44Lp};
use crate::lp::guarded::{Guarded, HealthFeed, RecordHealth};
use crate::lp::isolated::Isolated;
use crate::lp::mock::{mock_lps, MockLp, MockSettings};
use crate::lp::SharedLp;
use crate::market::{Pair, PriceBand};
use crate::scenario::{Scenario, ScenarioContext};
use crate::venues::{VenueKind, VenueSpec};

/// Where the desk's LPs come from.
enum Cast {
    /// The built-in mock LPs, reseeded per stream.
    Mocks {
        settings: MockSettings,
        seed: Option<u64>,
    },
    /// A scenario's scripted LPs, replayed per stream.
    Scenario {
        scenario: &'static Scenario,
        context: ScenarioContext,
        seed: Option<u64>,
    },
    /// The same instances for every stream (venues, tests).
    Fixed(Vec<SharedLp>),
}

/// The LP registry; see the module docs.
pub struct LpRegistry {
    cast: Cast,
    /// Every LP is simulated.
    simulated: bool,
    /// Per LP of a venues file: its kind and where it is (no secrets).
    venues: Vec<(String, String)>,
    /// Per pair symbol, the range its quotes must fall in (venues file).
    bands: std::collections::HashMap<String, PriceBand>,
    /// The pairs some LP quotes.
    quotable: Quotable,
    /// Per LP, its health, when it has one (venues file).
    guards: Vec<Option<Arc<Guarded>>>,
    /// Where the LPs' health changes go once the blotter is open.
    feed: HealthFeed,
}

/// The pairs the desk's LPs quote, so that a request nobody quotes is
/// refused at entry instead of asking every LP and counting their
/// declines against them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quotable {
    /// Some LP has not said which pairs it quotes: every pair is asked.
    Any,
    /// Only these (sorted by symbol): the union of every LP's pairs.
    Only(Vec<Pair>),
}

impl Quotable {
    /// The union of each LP's pairs; `None` for an LP that does not say.
    pub(crate) fn union(per_lp: impl IntoIterator<Item = Option<Vec<Pair>>>) -> Quotable {
        let mut all = std::collections::BTreeMap::new();
        for pairs in per_lp {
            let Some(pairs) = pairs else {
                return Quotable::Any;
            };
            for pair in pairs {
                all.insert(pair.symbol(), pair);
            }
        }
        Quotable::Only(all.into_values().collect())
    }

    /// The pairs a venues file's LPs quote: each LP's `pairs`, the known
    /// pairs for a mock, any pair when a real LP does not say.
    pub(crate) fn of_venues(specs: &[VenueSpec]) -> Quotable {
        Quotable::union(specs.iter().map(|spec| match (&spec.pairs, &spec.kind) {
            (Some(pairs), _) => Some(pairs.clone()),
            (None, VenueKind::Mock) => Some(crate::market::known_pairs().collect()),
            (None, _) => None,
        }))
    }

    /// The pairs the settings' simulated LPs quote: the mocks the known
    /// pairs, a scenario's LPs any.
    pub(crate) fn of_simulation(settings: &Settings) -> Quotable {
        match settings.scenario {
            Some(_) => Quotable::Any,
            None => Quotable::union([Some(crate::market::known_pairs().collect())]),
        }
    }

    /// The pairs as the operator types them: "BTCUSDT, ETHUSDT"; `None`
    /// when every pair may be asked.
    pub(crate) fn list(&self) -> Option<String> {
        match self {
            Quotable::Any => None,
            Quotable::Only(pairs) => Some(
                pairs
                    .iter()
                    .map(Pair::symbol)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }

    /// Why `pair` cannot be asked for, e.g. "no configured LP quotes
    /// DOGE/USDT (quotable: BTCUSDT, ETHUSDT)"; `None` when it can.
    pub fn refusal(&self, pair: Pair) -> Option<String> {
        match self {
            Quotable::Any => None,
            Quotable::Only(pairs) if pairs.contains(&pair) => None,
            Quotable::Only(_) => Some(format!(
                "no configured LP quotes {pair} (quotable: {})",
                self.list().unwrap_or_default()
            )),
        }
    }
}

/// Why an LP of the venues file could not be built; each names the LP.
/// Here, where both kinds of adapter are built, so that neither adapter
/// has to know the other's errors.
#[derive(Debug, thiserror::Error)]
pub enum VenueBuildError {
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// A FIX venue's settings or audit log.
    #[error(transparent)]
    Fix(#[from] Fix44Error),
}

/// One LP as `lp-rfq lps` lists it.
pub struct Listed {
    pub name: Arc<str>,
    /// A simulation (a mock or a scenario LP): no price of it is real.
    pub(crate) simulated: bool,
    /// `b2c2`, `binance-convert`, `fix44`, `mock`, or `scenario NAME`.
    pub kind: String,
    /// Its URL or host:port; `simulated` for a simulation.
    pub(crate) location: String,
    /// Its health now and its limits, e.g. `ok · 5/s burst 5 · breaker 5
    /// in 30 s, cool-off 30 s`; `None` when it has none (simulations).
    pub(crate) health: Option<String>,
}

/// Where a venue is: its URL or host:port; `simulated` for a mock.
fn venue_location(kind: &VenueKind) -> String {
    match kind {
        VenueKind::B2c2 { url, .. } | VenueKind::BinanceConvert { url, .. } => url.clone(),
        VenueKind::Fix44 { host, port, .. } => format!("{host}:{port}"),
        VenueKind::Mock => "simulated".to_string(),
    }
}

/// The venues file's LPs as `lp-rfq lps` lists them, from the file alone:
/// no adapter is built, so nothing connects (a FIX venue's session would
/// log on at once) and no FIX log directory is created. Their health is
/// not known until something asks them (`--check`), so only their limits
/// are shown.
pub(crate) fn listing_of_venues(specs: &[VenueSpec], settings: &Settings) -> Vec<Listed> {
    specs
        .iter()
        .map(|spec| Listed {
            name: Arc::from(spec.name.as_str()),
            simulated: !spec.kind.is_real(),
            kind: spec.kind.label().to_string(),
            location: venue_location(&spec.kind),
            health: Some(format!(
                "not checked · {}",
                spec.health_policy(settings.fade_limit_pct).describe()
            )),
        })
        .collect()
}

impl LpRegistry {
    /// The LPs the settings name: a scenario's, else the built-in mocks.
    pub(crate) fn from_settings(settings: &Settings) -> LpRegistry {
        let cast = match settings.scenario {
            Some(scenario) => Cast::Scenario {
                scenario,
                context: ScenarioContext {
                    duration_ms: settings.duration_ms,
                    threshold: settings.engine.threshold,
                    validity_buffer_ms: settings.engine.validity_buffer_ms,
                    btc_reference: settings.mock.base_price,
                    seed: 0,
                },
                seed: settings.seed,
            },
            None => Cast::Mocks {
                settings: settings.mock.clone(),
                seed: settings.seed,
            },
        };
        let quotable = Quotable::of_simulation(settings);
        LpRegistry {
            cast,
            simulated: true,
            venues: Vec::new(),
            bands: Default::default(),
            quotable,
            guards: Vec::new(),
            feed: HealthFeed::default(),
        }
    }

    /// A registry of these LPs, shared by every stream. Every LP that is
    /// not one of lp-rfq's own simulations runs on a thread of its own
    /// (`Isolated`): an adapter that blocks or spins costs only its own
    /// answers.
    pub fn fixed(lps: Vec<SharedLp>) -> LpRegistry {
        let lps: Vec<SharedLp> = lps
            .into_iter()
            .map(|lp| {
                if lp.simulated() {
                    lp
                } else {
                    Isolated::wrap(lp)
                }
            })
            .collect();
        let simulated = lps.iter().all(|lp| lp.simulated());
        LpRegistry {
            cast: Cast::Fixed(lps),
            simulated,
            venues: Vec::new(),
            bands: Default::default(),
            // Adapters handed in say nothing of their pairs.
            quotable: Quotable::Any,
            guards: Vec::new(),
            feed: HealthFeed::default(),
        }
    }

    /// A registry of these LPs each wrapped in its health with `policies`
    /// (in order), shared by every stream; as [`LpRegistry::fixed`]
    /// otherwise. `default_timeout_ms` is the desk's LP_TIMEOUT_MS.
    pub fn guarded(
        lps: Vec<SharedLp>,
        policies: &[crate::lp::health::HealthPolicy],
        default_timeout_ms: u64,
    ) -> LpRegistry {
        let feed = HealthFeed::default();
        let lps_simulated = lps.iter().all(|lp| lp.simulated());
        let mut guards = Vec::with_capacity(lps.len());
        let wrapped: Vec<SharedLp> = LpRegistry::fixed(lps)
            .lps_for_stream(0)
            .into_iter()
            .zip(policies)
            .map(|(lp, policy)| {
                let guard = Arc::new(Guarded::new(lp, *policy, default_timeout_ms, feed.clone()));
                guards.push(Some(guard.clone()));
                guard as SharedLp
            })
            .collect();
        // Already isolated: the health wraps the LP's thread, so that a
        // request held back never waits for that thread.
        LpRegistry {
            cast: Cast::Fixed(wrapped),
            simulated: lps_simulated,
            venues: Vec::new(),
            bands: Default::default(),
            // The caller sets what the LPs quote (`Quotable::of_venues`).
            quotable: Quotable::Any,
            guards,
            feed,
        }
    }

    /// Some LP has a health (a venues file's LPs).
    pub(crate) fn tracks_health(&self) -> bool {
        self.guards.iter().any(Option::is_some)
    }

    /// Sends every later change of an LP's health to `recorder` (the
    /// blotter). Only the first call counts.
    pub(crate) fn record_health_to(&self, recorder: impl RecordHealth) {
        let _ = self.feed.set(recorder);
    }

    /// Hands every later change of an LP's health to `announce` too (the
    /// desk pushes it to its subscribers). Only the first call counts.
    pub(crate) fn announce_health_to(&self, announce: crate::lp::guarded::Announce) {
        self.feed.announce_to(announce);
    }

    /// With these per-pair price bands.
    pub(crate) fn with_bands(
        mut self,
        bands: std::collections::HashMap<String, PriceBand>,
    ) -> LpRegistry {
        self.bands = bands;
        self
    }

    /// The price band for `pair`, if the venues file gives one.
    pub(crate) fn band_for(&self, pair: &crate::market::Pair) -> Option<PriceBand> {
        self.bands.get(&pair.symbol()).copied()
    }

    /// Every LP with its kind and location, for `lp-rfq lps`.
    pub fn listing(&self) -> Vec<Listed> {
        let kind_of = |index: usize| match &self.cast {
            Cast::Mocks { .. } => ("mock".to_string(), "simulated (built-in)".to_string()),
            Cast::Scenario { scenario, .. } => (
                format!("scenario {}", scenario.name),
                "simulated".to_string(),
            ),
            Cast::Fixed(_) => self
                .venues
                .get(index)
                .cloned()
                .unwrap_or_else(|| ("adapter".to_string(), "-".to_string())),
        };
        self.lps_for_stream(0)
            .into_iter()
            .enumerate()
            .map(|(index, lp)| {
                let (kind, location) = kind_of(index);
                let health = self
                    .guards
                    .get(index)
                    .and_then(Option::as_ref)
                    .map(|guard| {
                        let now = lp
                            .health()
                            .map(|view| {
                                crate::rfq::event::LpHealthEvent {
                                    lp: lp.shared_name(),
                                    state: view.state,
                                    retry_in_ms: view.retry_in_ms,
                                    reject_rate: view.reject_rate,
                                    fading: view.fading,
                                    reason: view.reason,
                                }
                                .label(0)
                            })
                            .unwrap_or_default();
                        format!("{now} · {}", guard.policy().describe())
                    });
                Listed {
                    name: lp.shared_name(),
                    simulated: lp.simulated(),
                    kind,
                    location,
                    health,
                }
            })
            .collect()
    }

    /// The venues file's LPs, one long-lived adapter each. Fails naming
    /// the LP whose settings an adapter refuses.
    pub(crate) fn from_venues(
        specs: &[VenueSpec],
        settings: &Settings,
    ) -> Result<LpRegistry, VenueBuildError> {
        let mock_settings = std::sync::Arc::new(settings.mock.clone());
        let mut lps = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let timeouts = spec.timeouts(settings.engine.lp_timeout_ms);
            let lp: SharedLp = match &spec.kind {
                VenueKind::B2c2 { url, token, symbol } => std::sync::Arc::new(B2c2Lp::new(
                    &spec.name,
                    url,
                    token.clone(),
                    symbol,
                    timeouts,
                )?),
                VenueKind::BinanceConvert {
                    url,
                    key,
                    secret,
                    recv_window_ms,
                } => std::sync::Arc::new(BinanceConvertLp::new(
                    &spec.name,
                    url,
                    key.clone(),
                    secret.clone(),
                    *recv_window_ms,
                    timeouts,
                )?),
                VenueKind::Fix44 {
                    host,
                    port,
                    sender_comp_id,
                    target_comp_id,
                    heartbeat_secs,
                    symbol,
                    password,
                } => {
                    let mut config = Fix44Config::new(
                        spec.name.clone(),
                        host.clone(),
                        *port,
                        sender_comp_id.clone(),
                        target_comp_id.clone(),
                        settings.fix_log_dir.clone(),
                    );
                    config.heartbeat_secs = *heartbeat_secs;
                    config.symbol_template = symbol.clone();
                    config.password = password.clone();
                    config.quote_timeout_ms = spec.timeout_ms;
                    if let Some(order_timeout_ms) = spec.order_timeout_ms {
                        config.order_timeout_ms = order_timeout_ms;
                    }
                    std::sync::Arc::new(Fix44Lp::start(config)?)
                }
                VenueKind::Mock => {
                    let seed = settings
                        .seed
                        .map(|seed| seed.wrapping_add(index as u64))
                        .unwrap_or_else(rand::random);
                    std::sync::Arc::new(MockLp::new(spec.name.clone(), mock_settings.clone(), seed))
                }
            };
            lps.push(lp);
        }
        let policies: Vec<_> = specs
            .iter()
            .map(|spec| spec.health_policy(settings.fade_limit_pct))
            .collect();
        let mut registry = LpRegistry::guarded(lps, &policies, settings.engine.lp_timeout_ms);
        registry.quotable = Quotable::of_venues(specs);
        registry.venues = specs
            .iter()
            .map(|spec| (spec.kind.label().to_string(), venue_location(&spec.kind)))
            .collect();
        Ok(registry)
    }

    /// The pairs the LPs quote.
    pub fn quotable(&self) -> &Quotable {
        &self.quotable
    }

    /// True when every LP is simulated (mocks or a scenario): nothing real
    /// is quoted, and every screen says so.
    pub fn simulated(&self) -> bool {
        self.simulated
    }

    /// The LPs that stream number `stream_index` (from 0) asks. Seeded per
    /// stream, so that a seeded session is repeatable request by request.
    pub(crate) fn lps_for_stream(&self, stream_index: u64) -> Vec<SharedLp> {
        match &self.cast {
            Cast::Mocks { settings, seed } => {
                mock_lps(settings, seed.map(|seed| seed.wrapping_add(stream_index)))
            }
            Cast::Scenario {
                scenario,
                context,
                seed,
            } => scenario.lps(&ScenarioContext {
                seed: seed
                    .map(|seed| seed.wrapping_add(stream_index))
                    .unwrap_or_else(rand::random),
                ..*context
            }),
            Cast::Fixed(lps) => lps.clone(),
        }
    }

    /// The long-lived LP named `name` (a venue), which can be asked about
    /// an order it took in an earlier run; `None` for simulations, which
    /// are made afresh per stream and remember nothing.
    pub(crate) fn venue_named(&self, name: &str) -> Option<SharedLp> {
        match &self.cast {
            Cast::Fixed(lps) => lps.iter().find(|lp| lp.name() == name).cloned(),
            _ => None,
        }
    }

    /// Each LP's desk-wide health now, in the desk's order, for the desk
    /// view; an LP without a health (a simulation) has no state.
    pub(crate) fn health_rows(&self) -> Vec<crate::streams::LpHealthRow> {
        self.names()
            .into_iter()
            .enumerate()
            .map(|(index, lp)| {
                let health = self
                    .guards
                    .get(index)
                    .and_then(Option::as_ref)
                    .map(|guard| guard.health_now());
                crate::streams::LpHealthRow {
                    lp,
                    state: health.as_ref().map(|view| view.state),
                    retry_in_ms: health.as_ref().and_then(|view| view.retry_in_ms),
                    reject_rate: health.as_ref().map(|view| view.reject_rate),
                    reason: health.and_then(|view| view.reason),
                }
            })
            .collect()
    }

    /// The names of the LPs a stream asks.
    pub fn names(&self) -> Vec<Arc<str>> {
        match &self.cast {
            Cast::Fixed(lps) => lps.iter().map(|lp| lp.shared_name()).collect(),
            _ => self
                .lps_for_stream(0)
                .iter()
                .map(|lp| lp.shared_name())
                .collect(),
        }
    }

    /// Connects what needs connecting (logons, sessions) before the first
    /// stream. Simulated LPs need nothing.
    pub async fn start(&self) {
        // Every LP at once: one slow logon must not delay the others.
        if let Cast::Fixed(lps) = &self.cast {
            futures::future::join_all(lps.iter().map(|lp| lp.start())).await;
        }
    }

    /// Closes connections cleanly (logouts) after the last stream.
    pub async fn shutdown(&self) {
        // Every LP at once, each bounded by its own wait.
        if let Cast::Fixed(lps) = &self.cast {
            futures::future::join_all(lps.iter().map(|lp| lp.shutdown())).await;
        }
    }
}
