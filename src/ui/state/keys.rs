//! Keys into commands: what each key does on each screen, the help
//! overlay, and the two-step acceptance (`a`, then Enter) that only ever
//! sends the quote the confirmation line shows, while it is still valid.
//! On a two-way stream `a` first asks which side the client takes, as
//! the prompt does: `b` (it buys at the offer) or `s` (it sells at the
//! bid); that side's quote then goes to the confirmation line. `r`
//! (release an unverified price) asks the same, and releases only the
//! side named, whose LP and price the confirmation line shows.
//!
//! The line follows the live quote: when it renews after `a`, the line says
//! so and shows the new price, and Enter executes that one. An Enter that
//! comes within [`RECONFIRM_SETTLE_MS`] of such a change was pressed for the
//! price before it (nobody reads a new price that fast), so it waits.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::stream::Validity;
use super::{App, Screen};
use crate::clock::StreamMs;
use crate::market::Side;
use crate::output::group_thousands;
use crate::rfq::event::ClientQuote;

/// After the confirmation line changes to a renewed quote, an Enter this
/// soon (stream ms) executes nothing: it was meant for the price before.
pub const RECONFIRM_SETTLE_MS: u64 = 500;

/// `a` was pressed: the quote the confirmation line shows, which Enter
/// executes and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirming {
    pub quote: Box<ClientQuote>,
    /// The client price shown before the quote renewed under the line.
    pub(crate) changed_from: Option<rust_decimal::Decimal>,
    /// Stream time the line began to show `quote`.
    pub(crate) shown_at_ms: StreamMs,
}

/// `a` or `r` was pressed on a two-way stream: `b` or `s` names the side
/// the client takes, or whose unverified price is released.
#[derive(Debug, Clone, PartialEq)]
pub struct SideAsked {
    /// The last key that named no side, as the question says it.
    pub(crate) wrong_key: Option<String>,
    /// The side is asked for a release (`r`), not an acceptance.
    pub(crate) release: bool,
}

/// `r` was pressed on this LP's unverified price: Enter releases it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseAsked {
    pub(crate) lp: Arc<str>,
    /// The side released, on a two-way stream; `None` on a one-sided one.
    pub(crate) side: Option<Side>,
}

/// A key's name in the side question's explanation: `'x'`, `Enter`.
fn key_name(code: KeyCode) -> String {
    match code {
        KeyCode::Char(c) => format!("'{c}'"),
        other => other.to_string(),
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    None,
    /// Start a stream for this request (its client chosen on the form).
    Start(crate::rfq::QuoteRequest),
    /// Stop the running stream gracefully (its `ended` still arrives).
    Stop,
    /// The client accepts this client quote: execute it.
    Accept(Arc<str>),
    /// The operator vouches for the best unverified price (of this side,
    /// on a two-way stream; `None`: the one-sided stream's): offer it.
    Release(Option<Side>),
    /// Pause (`true`) or resume the client, desk-wide.
    PauseClient {
        client: crate::rfq::ClientId,
        pause: bool,
    },
    /// Turn the desk's kill switch on or off (confirmed with `y`).
    KillSwitch(bool),
    Quit,
}

impl App {
    fn stop(&mut self) -> Command {
        if self.stopping {
            return Command::None;
        }
        self.stopping = true;
        Command::Stop
    }

    /// Nothing more can be accepted in this stream: why.
    fn accepting_over(&self) -> Option<&'static str> {
        if self.stream.execution.accepted() {
            return Some("already accepted: one execution per stream");
        }
        if self.stream.ended.is_some() {
            return Some("the stream has ended");
        }
        None
    }

    /// The live quote of `side` (the client's side; one-sided streams
    /// have one) the client may accept now, if any: shown, not expired,
    /// and nothing accepted yet in this stream.
    fn acceptable(&self, side: Side) -> Result<&ClientQuote, &'static str> {
        if let Some(why) = self.accepting_over() {
            return Err(why);
        }
        let view = self.stream.side_view(side);
        let live = match (&view.quote, view.validity()) {
            (Some(live), Some(Validity::Live { .. } | Validity::Ending { .. })) => Ok(&*live.quote),
            (Some(_), _) => Err("the client quote has expired: it cannot be accepted"),
            (None, _) => Err("no client quote yet: nothing to accept"),
        };
        if !self.stream.two_way() {
            return live;
        }
        live.map_err(|why| match (side, why.starts_with("no")) {
            (Side::Buy, true) => "no offer yet: nothing to accept",
            (Side::Sell, true) => "no bid yet: nothing to accept",
            (Side::Buy, false) => "the offer has expired: it cannot be accepted",
            (Side::Sell, false) => "the bid has expired: it cannot be accepted",
        })
    }

    /// `a` on a two-way stream: asks which side the client takes, or says
    /// why nothing can be accepted.
    fn ask_for_side(&mut self) {
        match self.accepting_over() {
            Some(why) => self.stream_notice = Some(why.to_string()),
            None => {
                self.choosing_side = Some(SideAsked {
                    wrong_key: None,
                    release: false,
                });
                self.stream_notice = None;
            }
        }
    }

    /// `r` on a two-way stream: asks whose side's unverified price is
    /// released, or says why nothing can be.
    fn ask_for_release_side(&mut self) {
        match self.releasing_over() {
            Some(why) => self.stream_notice = Some(why.to_string()),
            None => {
                self.choosing_side = Some(SideAsked {
                    wrong_key: None,
                    release: true,
                });
                self.stream_notice = None;
            }
        }
    }

    /// Nothing more can be released in this stream: why.
    fn releasing_over(&self) -> Option<&'static str> {
        (self.stream.execution.accepted() || self.stream.ended.is_some())
            .then_some("nothing to release: the stream is accepted or over")
    }

    /// A key while the side is asked: `b` or `s` asks to confirm that
    /// side's quote, Esc backs out, anything else is explained and the
    /// side asked again.
    fn side_key(&mut self, key: KeyEvent) -> Command {
        let release = self
            .choosing_side
            .as_ref()
            .is_some_and(|asked| asked.release);
        let side = match key.code {
            KeyCode::Char('b' | 'B') => Side::Buy,
            KeyCode::Char('s' | 'S') => Side::Sell,
            KeyCode::Esc => {
                self.choosing_side = None;
                let said = if release {
                    "not released"
                } else {
                    "not accepted"
                };
                self.stream_notice = Some(said.to_string());
                return Command::None;
            }
            other => {
                self.choosing_side = Some(SideAsked {
                    wrong_key: Some(key_name(other)),
                    release,
                });
                return Command::None;
            }
        };
        self.choosing_side = None;
        if release {
            self.ask_to_release(Some(side));
        } else {
            self.ask_to_accept(side);
        }
        Command::None
    }

    /// The question while the side is asked: each side's live client
    /// price, and first, after a wrong key, that it was not a side.
    pub fn side_question(&self) -> Option<String> {
        let asked = self.choosing_side.as_ref()?;
        let price = |side: Side| {
            let view = self.stream.side_view(side);
            match (&view.quote, view.validity()) {
                (Some(live), Some(Validity::Live { .. } | Validity::Ending { .. })) => format!(
                    "{} {}",
                    group_thousands(live.quote.client_price),
                    self.stream
                        .request
                        .as_ref()
                        .map(|request| request.pair.quote.to_string())
                        .unwrap_or_default()
                ),
                (Some(_), _) => "expired".to_string(),
                (None, _) => "none yet".to_string(),
            }
        };
        let wrong = match &asked.wrong_key {
            Some(key) => format!("{key} is not a side: "),
            None => String::new(),
        };
        if asked.release {
            let unverified = |side: Side| match self.stream.best_unverified(side) {
                Some((lp, price)) => format!("{lp}'s unverified {}", group_thousands(price)),
                None => "none unverified".to_string(),
            };
            return Some(format!(
                " {wrong}RELEASE WHICH SIDE? b: the offer, {} · s: the bid, {} · Esc back",
                unverified(Side::Buy),
                unverified(Side::Sell),
            ));
        }
        Some(format!(
            " {wrong}WHICH SIDE? b: the client buys at the offer {} · s: the client sells at the bid {} · Esc back",
            price(Side::Buy),
            price(Side::Sell),
        ))
    }

    /// `a` (then, on a two-way stream, `b` or `s`): asks for
    /// confirmation of `side`'s live quote, or says why not.
    fn ask_to_accept(&mut self, side: Side) {
        match self.acceptable(side) {
            Ok(quote) => {
                self.confirm = Some(Confirming {
                    quote: Box::new(quote.clone()),
                    changed_from: None,
                    shown_at_ms: self.stream.now_ms,
                });
                self.stream_notice = None;
            }
            Err(why) => self.stream_notice = Some(why.to_string()),
        }
    }

    /// `r` (then, on a two-way stream, `b` or `s`: `side`): asks the
    /// operator to confirm the release of the best unverified price of
    /// that side (a deliberate act: it vouches for a price nothing else
    /// does), or says why there is none.
    fn ask_to_release(&mut self, side: Option<Side>) {
        if let Some(why) = self.releasing_over() {
            self.stream_notice = Some(why.into());
            return;
        }
        let own_side = self.stream.request.as_ref().map_or(Side::Buy, |r| r.side);
        let (named, nothing) = match side {
            None => ("", "no unverified price to release"),
            Some(Side::Buy) => (" offer", "no unverified offer to release"),
            Some(Side::Sell) => (" bid", "no unverified bid to release"),
        };
        match self.stream.best_unverified(side.unwrap_or(own_side)) {
            Some((lp, price)) => {
                self.stream_notice = Some(format!(
                    "release {lp}'s unverified{named} {} to the client? Nothing corroborates it. Enter releases (recorded), any other key cancels",
                    group_thousands(price)
                ));
                self.release_asked = Some(ReleaseAsked { lp, side });
            }
            None => self.stream_notice = Some(nothing.into()),
        }
    }

    /// While the operator confirms, the line follows a renewed quote: it
    /// shows the new one, says that it changed, and Enter's settle time
    /// starts again.
    pub(super) fn follow_renewed_quote(&mut self) {
        let Some(confirm) = self.confirm.as_mut() else {
            return;
        };
        let Some(live) = self.stream.side_view(confirm.quote.side).quote.as_ref() else {
            return;
        };
        if confirm.quote.quote_id == live.quote.quote_id {
            return;
        }
        confirm.changed_from = Some(confirm.quote.client_price);
        confirm.quote = live.quote.clone();
        confirm.shown_at_ms = self.stream.now_ms;
    }

    /// Enter on the confirmation: the quote the line shows goes to
    /// execution if it is still live and has been shown long enough to be
    /// read; a renewal not yet on the line is put there instead.
    fn execute(&mut self) -> Command {
        self.follow_renewed_quote();
        let Some(confirm) = self.confirm.take() else {
            return Command::None;
        };
        if let Err(why) = self.acceptable(confirm.quote.side) {
            self.stream_notice = Some(why.to_string());
            return Command::None;
        }
        let shown_for = self.stream.now_ms.saturating_sub(confirm.shown_at_ms);
        if confirm.changed_from.is_some() && shown_for < RECONFIRM_SETTLE_MS {
            self.confirm = Some(confirm);
            return Command::None;
        }
        self.stream_notice = None;
        Command::Accept(confirm.quote.quote_id.clone())
    }

    /// The confirmation line: side, amount, pair, the client price Enter
    /// executes, notional; after a renewal, first that the price changed.
    pub fn confirmation(&self) -> Option<String> {
        let confirm = self.confirm.as_ref()?;
        let quote = &confirm.quote;
        let request = self.stream.request.as_ref()?;
        let notional = match quote.side {
            Side::Buy => quote.client_pays,
            Side::Sell => quote.client_receives,
        };
        let price = group_thousands(quote.client_price);
        let currency = request.pair.quote;
        // The quote's own side: on a two-way stream, the side taken.
        let what = format!(
            "{} {} {}",
            quote.side.label(),
            quote.amount.normalize(),
            request.pair,
        );
        let notional = format!("notional {} {currency}", group_thousands(notional));
        Some(match confirm.changed_from {
            None => format!(
                " ACCEPT? client {what} at {price} {currency} · {notional} · Enter execute · other key cancels"
            ),
            Some(before) => format!(
                " QUOTE CHANGED: now {price} {currency}, was {} · client {what} · {notional} \
                 · Enter execute at {price} · other key cancels",
                group_thousands(before),
            ),
        })
    }

    /// `d` opens the desk view where it is no answer to a question and no
    /// character of the request: not while confirming or releasing, not
    /// on a form typed into by hand, not while quitting is asked.
    fn desk_key_free(&self) -> bool {
        if self.quit_asked {
            return false;
        }
        match self.screen {
            Screen::Stream => {
                self.confirm.is_none()
                    && self.release_asked.is_none()
                    && self.choosing_side.is_none()
            }
            Screen::Summary => true,
            Screen::Form => self.form.is_pristine(),
        }
    }

    pub fn key(&mut self, key: KeyEvent) -> Command {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if self.help {
            // Any key closes the overlay; Ctrl+C still does its job.
            self.help = false;
            if !ctrl_c {
                return Command::None;
            }
        }
        let plain = !key.modifiers.contains(KeyModifiers::CONTROL);
        if key.code == KeyCode::Char('?') && plain {
            self.help = true;
            return Command::None;
        }
        if self.showing_desk {
            if let Some(on) = self.desk_view.kill_switch_asked.take() {
                if key.code == KeyCode::Char('y') && plain {
                    return Command::KillSwitch(on);
                }
                self.desk_view.notice = Some("the kill switch is unchanged".into());
                if !ctrl_c {
                    return Command::None;
                }
            }
            // The screen underneath keeps running; only Ctrl+C reaches it.
            match key.code {
                KeyCode::Up => {
                    self.desk_view.select(-1);
                    return Command::None;
                }
                KeyCode::Down => {
                    self.desk_view.select(1);
                    return Command::None;
                }
                KeyCode::Char('p') if plain => {
                    return match self.desk_view.selected_client() {
                        Some((client, paused)) => Command::PauseClient {
                            client: client.clone(),
                            pause: !paused,
                        },
                        None => {
                            self.desk_view.notice =
                                Some("no clients file on this desk: no client to pause".into());
                            Command::None
                        }
                    };
                }
                KeyCode::Char('K') => {
                    let on = self.desk_view.pauses.kill_switch.is_none();
                    self.desk_view.kill_switch_asked = Some(on);
                    self.desk_view.notice = Some(if on {
                        "turn the kill switch ON? Every client is paused and its live RFQs stopped. y confirms, any other key cancels".into()
                    } else {
                        "turn the kill switch OFF? Clients are quoted again. y confirms, any other key cancels".into()
                    });
                    return Command::None;
                }
                KeyCode::Char('d') | KeyCode::Esc if plain => {
                    self.showing_desk = false;
                    return Command::None;
                }
                _ if ctrl_c => self.showing_desk = false,
                _ => return Command::None,
            }
        } else if key.code == KeyCode::Char('d') && plain && self.desk_key_free() {
            self.showing_desk = true;
            return Command::None;
        }
        match self.screen {
            Screen::Stream if self.release_asked.is_some() => match key.code {
                _ if ctrl_c => self.stop(),
                KeyCode::Enter => {
                    let side = self.release_asked.take().and_then(|asked| asked.side);
                    self.stream_notice = Some("released: recorded as the operator's".to_string());
                    Command::Release(side)
                }
                _ => {
                    self.release_asked = None;
                    self.stream_notice = Some("not released".to_string());
                    Command::None
                }
            },
            Screen::Stream if self.choosing_side.is_some() => match key.code {
                _ if ctrl_c => {
                    self.choosing_side = None;
                    self.stop()
                }
                _ => self.side_key(key),
            },
            Screen::Stream if self.confirm.is_some() => match key.code {
                _ if ctrl_c => self.stop(),
                KeyCode::Enter => self.execute(),
                // Anything else cancels: nothing is sent.
                _ => {
                    self.confirm = None;
                    self.stream_notice = Some("not accepted".to_string());
                    Command::None
                }
            },
            Screen::Stream => match key.code {
                _ if ctrl_c => self.stop(),
                KeyCode::Char('q') if plain => self.stop(),
                KeyCode::Char('a') if plain && self.stream.two_way() => {
                    self.ask_for_side();
                    Command::None
                }
                KeyCode::Char('a') if plain => {
                    let side = self.stream.request.as_ref().map_or(Side::Buy, |r| r.side);
                    self.ask_to_accept(side);
                    Command::None
                }
                KeyCode::Char('r') if plain && self.stream.two_way() => {
                    self.ask_for_release_side();
                    Command::None
                }
                KeyCode::Char('r') if plain => {
                    self.ask_to_release(None);
                    Command::None
                }
                KeyCode::Esc => {
                    self.back_to_form = true;
                    self.stop()
                }
                _ => Command::None,
            },
            // Ctrl+C quits at once; `q` asks first when the session's
            // history (kept only on screen) would be lost.
            Screen::Summary | Screen::Form if self.quit_asked => {
                self.quit_asked = false;
                match key.code {
                    _ if ctrl_c => Command::Quit,
                    KeyCode::Char('q') if plain => Command::Quit,
                    _ => Command::None,
                }
            }
            Screen::Summary => match key.code {
                _ if ctrl_c => Command::Quit,
                KeyCode::Char('q') if plain && !self.history.is_empty() => {
                    self.quit_asked = true;
                    Command::None
                }
                KeyCode::Char('q') if plain => Command::Quit,
                KeyCode::Enter | KeyCode::Esc | KeyCode::Char('n') => {
                    self.open_form();
                    Command::None
                }
                _ => Command::None,
            },
            Screen::Form => {
                if ctrl_c {
                    return Command::Quit;
                }
                self.notice = None;
                match self.form.key(key) {
                    crate::ui::form::FormOutcome::Editing => Command::None,
                    crate::ui::form::FormOutcome::Submit { spec, two_way } => {
                        // Without a clients file the request is the bare
                        // trade: the house's, at the desk's terms.
                        let params = match &self.form.clients {
                            Some(choice) => crate::rfq::RequestParams::default()
                                .with_client(choice.chosen().clone()),
                            None => crate::rfq::RequestParams::default(),
                        };
                        let params = if two_way {
                            params.with_two_way()
                        } else {
                            params
                        };
                        Command::Start(crate::rfq::QuoteRequest { spec, params })
                    }
                    crate::ui::form::FormOutcome::Quit if !self.history.is_empty() => {
                        self.quit_asked = true;
                        Command::None
                    }
                    crate::ui::form::FormOutcome::Quit => Command::Quit,
                }
            }
        }
    }
}
