//! What the console knows of the desk itself rather than of one stream:
//! the settings and LPs in force for the next stream, and desk-wide
//! trouble it must tell the operator of (the blotter failing to write).

use std::sync::Arc;

use super::stream::LogKind;
use super::App;
use crate::clock::StreamMs;
use crate::market::Bps;

/// The desk's settings in force for the next stream, shown on the form
/// before anything is asked: what the client will be charged, what moves
/// the lock, and who is asked (and whether any of it is real).
#[derive(Debug, Clone, PartialEq)]
pub struct InForce {
    pub markup_bps: Bps,
    pub threshold_bps: Bps,
    pub duration_ms: u64,
    /// Every LP a stream asks, with whether it is a simulation.
    pub lps: Vec<(Arc<str>, bool)>,
    /// The pairs they quote.
    pub quotable: crate::desk::registry::Quotable,
}

impl InForce {
    /// From the desk: its terms and LPs.
    pub fn of(desk: &crate::desk::link::DeskLink<'_>) -> InForce {
        let facts = desk.facts();
        InForce {
            quotable: facts.quotable(),
            markup_bps: facts.markup_bps,
            threshold_bps: facts.threshold_bps,
            duration_ms: facts.duration_ms,
            lps: facts
                .lps
                .into_iter()
                .map(|lp| (lp.name, lp.simulated))
                .collect(),
        }
    }

    /// Every LP is a simulation: no price on screen is real.
    pub(crate) fn all_simulated(&self) -> bool {
        self.lps.iter().all(|(_, simulated)| *simulated)
    }

    /// "markup 5 bps · threshold 1 bps · 30 s streams".
    pub(crate) fn pricing_line(&self) -> String {
        format!(
            "markup {} bps · threshold {} bps · {} streams",
            self.markup_bps,
            self.threshold_bps,
            crate::output::seconds(self.duration_ms)
        )
    }

    /// "3 LPs, SIMULATED: LP1, LP2, LP3", or with real venues beside a
    /// simulation, "2 LPs: B2C2, Sim (simulated)".
    pub(crate) fn lps_line(&self) -> String {
        let count = self.lps.len();
        let plural = if count == 1 { "" } else { "s" };
        if self.all_simulated() {
            let names: Vec<&str> = self.lps.iter().map(|(name, _)| &**name).collect();
            return format!("{count} LP{plural}, SIMULATED: {}", names.join(", "));
        }
        let names: Vec<String> = self
            .lps
            .iter()
            .map(|(name, simulated)| {
                if *simulated {
                    format!("{name} (simulated)")
                } else {
                    name.to_string()
                }
            })
            .collect();
        format!("{count} LP{plural}: {}", names.join(", "))
    }
}

impl App {
    /// The settings in force, for the form to show; the form refuses a
    /// pair they do not quote.
    pub fn with_in_force(mut self, in_force: InForce) -> App {
        self.form.quotable = Some(in_force.quotable.clone());
        self.in_force = Some(in_force);
        self
    }

    /// The blotter's running totals of failed commits and lost events:
    /// trouble that is new since the last look goes into the stream's event
    /// log, so the operator knows the record is incomplete.
    pub(crate) fn blotter_trouble(&mut self, failed_commits: u64, lost: u64, now_ms: StreamMs) {
        let trouble = failed_commits + lost;
        if trouble <= self.blotter_trouble_told {
            return;
        }
        self.blotter_trouble_told = trouble;
        let text = format!(
            "blotter: {failed_commits} failed writes (retrying), {lost} events lost; see the log"
        );
        self.stream.log(now_ms, LogKind::Error, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(app: &App) -> Vec<(StreamMs, LogKind, &str)> {
        app.stream
            .log
            .iter()
            .map(|line| (line.t_ms, line.kind, line.text.as_str()))
            .collect()
    }

    #[test]
    fn blotter_trouble_is_told_once_and_again_only_when_it_grows() {
        let mut app = App::new(false, None);
        app.blotter_trouble(0, 0, 100);
        assert_eq!(told(&app), []);
        app.blotter_trouble(2, 0, 200);
        app.blotter_trouble(2, 0, 300);
        app.blotter_trouble(2, 1, 400);
        assert_eq!(
            told(&app),
            [
                (
                    200,
                    LogKind::Error,
                    "blotter: 2 failed writes (retrying), 0 events lost; see the log"
                ),
                (
                    400,
                    LogKind::Error,
                    "blotter: 2 failed writes (retrying), 1 events lost; see the log"
                ),
            ]
        );
    }

    #[test]
    fn blotter_trouble_told_in_one_stream_is_not_told_again_in_the_next() {
        let mut app = App::new(false, None);
        app.blotter_trouble(1, 0, 100);
        app.stream_started();
        app.blotter_trouble(1, 0, 50);
        assert_eq!(told(&app), []);
        app.blotter_trouble(3, 0, 60);
        assert_eq!(
            told(&app),
            [(
                60,
                LogKind::Error,
                "blotter: 3 failed writes (retrying), 0 events lost; see the log"
            )]
        );
    }
}
