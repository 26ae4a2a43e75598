//! The desk's LPs for the whole process: built once from the settings,
//! started before the first stream and shut down after the last. A
//! network LP is one long-lived instance (its connection, logon and limits
//! shared by every stream). The simulated casts (the built-in mocks and
//! scenario LPs) are replays: each stream gets a freshly seeded cast, so a
//! seed replays every stream of a session exactly as the first.

use std::sync::Arc;

use crate::config::Settings;
use crate::lp::mock::{mock_lps, MockSettings};
use crate::lp::SharedLp;
use crate::scenario::{Scenario, ScenarioContext};

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
}

impl LpRegistry {
    /// The LPs the settings name: a scenario's, else the built-in mocks.
    pub fn from_settings(settings: &Settings) -> LpRegistry {
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
        LpRegistry { cast }
    }

    /// A registry of these LPs, shared by every stream.
    pub fn fixed(lps: Vec<SharedLp>) -> LpRegistry {
        LpRegistry {
            cast: Cast::Fixed(lps),
        }
    }

    /// True when every LP is simulated (mocks or a scenario): nothing real
    /// is quoted, and every screen says so.
    pub fn simulated(&self) -> bool {
        !matches!(self.cast, Cast::Fixed(_))
    }

    /// The LPs that stream number `stream_index` (from 0) asks. Seeded per
    /// stream, so that a seeded session is repeatable request by request.
    pub fn lps_for_stream(&self, stream_index: u64) -> Vec<SharedLp> {
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
        if let Cast::Fixed(lps) = &self.cast {
            for lp in lps {
                lp.start().await;
            }
        }
    }

    /// Closes connections cleanly (logouts) after the last stream.
    pub async fn shutdown(&self) {
        if let Cast::Fixed(lps) = &self.cast {
            for lp in lps {
                lp.shutdown().await;
            }
        }
    }
}
