//! The console's view state and its pure reducers. [`App`] is the whole
//! console (the screen, the form, the running or last stream, the
//! session's history) and dispatches what arrives to the part it changes:
//! engine events to the stream's view ([`stream`]), a stream's end to the
//! history ([`history`]), keys to commands for the event loop (`keys`);
//! [`desk`] holds what the console knows of the desk itself, and
//! [`desk_view`] the desk view's rows (every live RFQ, every LP's health).

pub mod desk;
pub mod desk_view;
pub mod history;
pub(crate) mod keys;
pub mod stream;

pub use desk::InForce;
pub use history::HistoryEntry;
pub use keys::{Command, Confirming, ReleaseAsked, SideAsked, RECONFIRM_SETTLE_MS};
pub use stream::*;

use crate::clock::StreamMs;
use crate::rfq::event::EventKind;
use crate::rfq::RfqEvent;

/// Which screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Form,
    Stream,
    Summary,
}

/// The whole console's view state: the screen, the form, the current (or
/// last) stream and the session's history. Keys and events change it; the
/// event loop carries out the [`Command`]s it returns.
#[derive(Debug, Clone)]
pub struct App {
    pub screen: Screen,
    pub form: crate::ui::form::Form,
    pub stream: ConsoleState,
    /// Newest last.
    pub history: Vec<HistoryEntry>,
    pub help: bool,
    pub(crate) color: bool,
    /// A one-line message on the form (a failed stream, ...).
    pub(crate) notice: Option<String>,
    /// Where logs go while the console is up, for the help overlay.
    pub(crate) log_path: Option<String>,
    /// The settings the next stream runs with, shown on the form.
    pub in_force: Option<InForce>,
    /// `a` was pressed: the quote the confirmation line shows, waiting
    /// for Enter to execute it.
    pub confirm: Option<Confirming>,
    /// `a` was pressed on a two-way stream: `b` or `s` names the side
    /// the client takes.
    pub(crate) choosing_side: Option<SideAsked>,
    /// A one-line message in the stream's footer (why `a` did nothing...).
    pub stream_notice: Option<String>,
    /// `r` was pressed on this LP's unverified price: Enter releases it.
    pub(crate) release_asked: Option<ReleaseAsked>,
    /// `q` on the summary or the form with a history that is not saved
    /// anywhere: the next `q` quits, any other key stays.
    pub quit_asked: bool,
    /// A stop was asked; Esc asked it, so the form follows the summary.
    stopping: bool,
    back_to_form: bool,
    /// Blotter write failures and losses already told in the event log.
    blotter_trouble_told: u64,
    /// Every live RFQ on the desk and every LP's health (the `d` screen).
    pub desk_view: desk_view::DeskViewState,
    /// The desk view is up, over whichever screen is underneath.
    pub showing_desk: bool,
}

impl App {
    pub fn new(color: bool, log_path: Option<String>) -> App {
        App {
            screen: Screen::Form,
            form: crate::ui::form::Form::new(),
            stream: ConsoleState::new(color),
            history: Vec::new(),
            help: false,
            color,
            notice: None,
            log_path,
            in_force: None,
            confirm: None,
            choosing_side: None,
            stream_notice: None,
            release_asked: None,
            quit_asked: false,
            stopping: false,
            back_to_form: false,
            blotter_trouble_told: 0,
            desk_view: desk_view::DeskViewState::default(),
            showing_desk: false,
        }
    }

    /// The request was refused before any LP was asked (its client's
    /// terms): the form stays, saying why.
    pub fn refused(&mut self, why: String) {
        self.notice = Some(why);
    }

    /// A stream was started for `spec`: its events follow.
    pub fn stream_started(&mut self) {
        self.stream = ConsoleState::new(self.color);
        self.screen = Screen::Stream;
        self.notice = None;
        self.stopping = false;
        self.back_to_form = false;
        self.confirm = None;
        self.choosing_side = None;
        self.release_asked = None;
        self.stream_notice = None;
    }

    /// One engine event: the stream's view reduces it; its end also
    /// goes to the history (`App::stream_ended`).
    pub fn apply(&mut self, event: &RfqEvent, now_ms: StreamMs) {
        self.stream.apply(event, now_ms);
        self.follow_renewed_quote();
        if matches!(event.kind, EventKind::Ended(_)) {
            self.stream_ended(None);
        }
    }

    /// The notional limits for the form's fat-finger confirmation.
    pub fn with_notional_limits(mut self, limits: crate::market::NotionalLimits) -> App {
        self.form.notional_limits = Some(limits);
        self
    }

    /// The clients of a clients file, for the form to choose among (the
    /// first chosen); without a file the form does not ask.
    pub fn with_clients(mut self, names: Vec<crate::rfq::ClientId>) -> App {
        self.form.clients = crate::ui::form::ClientChoice::new(names);
        self
    }

    /// The smallest request per pair, refused under the form's amount.
    pub fn with_minimum_size(mut self, minimum: crate::market::MinimumSize) -> App {
        self.form.minimum = Some(minimum);
        self
    }

    fn open_form(&mut self) {
        let limits = self.form.notional_limits.take();
        let minimum = self.form.minimum.take();
        let quotable = self.form.quotable.take();
        let clients = self.form.clients.take();
        self.form = match &self.stream.request {
            Some(request) => crate::ui::form::Form::prefilled(&request.spec(), request.two_way),
            None => crate::ui::form::Form::new(),
        };
        self.form.notional_limits = limits;
        self.form.minimum = minimum;
        self.form.quotable = quotable;
        // The client chosen stays chosen for the next request.
        self.form.clients = clients;
        self.screen = Screen::Form;
    }

    /// Something on screen moves with time alone: the loop keeps ticking.
    pub(crate) fn animating(&self) -> bool {
        self.showing_desk
            || self.screen == Screen::Stream
            || (self.screen == Screen::Summary && self.stream.animating())
    }
}
