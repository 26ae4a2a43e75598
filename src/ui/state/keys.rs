//! Keys into commands: what each key does on each screen, the help
//! overlay, and the two-step acceptance (`a`, then Enter) that only ever
//! sends the quote the operator confirmed while it is still valid.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::stream::Validity;
use super::{App, Screen};
use crate::market::Side;
use crate::output::group_thousands;
use crate::rfq::event::ClientQuote;
use crate::rfq::RfqSpec;

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    None,
    Start(RfqSpec),
    /// Stop the running stream gracefully (its `ended` still arrives).
    Stop,
    /// The client accepts this client quote: execute it.
    Accept(Arc<str>),
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

    /// The live quote the client may accept now, if any: shown, not
    /// expired, and nothing accepted yet in this stream.
    fn acceptable(&self) -> Result<&ClientQuote, &'static str> {
        let stream = &self.stream;
        if stream.execution.accepted() {
            return Err("already accepted: one execution per stream");
        }
        if stream.ended.is_some() {
            return Err("the stream has ended");
        }
        match (&stream.quote, stream.validity()) {
            (Some(live), Some(Validity::Live { .. } | Validity::Ending { .. })) => Ok(&live.quote),
            (Some(_), _) => Err("the client quote has expired: it cannot be accepted"),
            (None, _) => Err("no client quote yet: nothing to accept"),
        }
    }

    /// `a`: asks for confirmation of the live quote, or says why not.
    fn ask_to_accept(&mut self) {
        match self.acceptable() {
            Ok(quote) => {
                self.confirm = Some(quote.quote_id.clone());
                self.stream_notice = None;
            }
            Err(why) => self.stream_notice = Some(why.to_string()),
        }
    }

    /// Enter on the confirmation: the quote goes to execution if it is
    /// still the one confirmed and still valid.
    fn execute(&mut self) -> Command {
        let confirmed = self.confirm.take();
        match (self.acceptable(), confirmed) {
            (Ok(quote), Some(id)) if quote.quote_id == id => {
                self.stream_notice = None;
                Command::Accept(id)
            }
            (Ok(_), _) => {
                self.stream_notice =
                    Some("the quote changed before Enter: press a to accept the new one".into());
                Command::None
            }
            (Err(why), _) => {
                self.stream_notice = Some(why.to_string());
                Command::None
            }
        }
    }

    /// The confirmation line: side, amount, pair, client price, notional.
    pub fn confirmation(&self) -> Option<String> {
        self.confirm.as_ref()?;
        let live = self.stream.quote.as_ref()?;
        let quote = &live.quote;
        let request = self.stream.request.as_ref()?;
        let notional = match quote.side {
            Side::Buy => quote.client_pays,
            Side::Sell => quote.client_receives,
        };
        Some(format!(
            " ACCEPT? client {} {} {} at {} {} · notional {} {} · Enter execute · other key cancels",
            request.side.label(),
            quote.amount,
            request.pair,
            group_thousands(quote.client_price),
            request.pair.quote,
            group_thousands(notional),
            request.pair.quote,
        ))
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
        match self.screen {
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
                KeyCode::Char('a') if plain => {
                    self.ask_to_accept();
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
            Screen::Summary if self.quit_asked => {
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
                    crate::ui::form::FormOutcome::Submit(spec) => Command::Start(spec),
                    crate::ui::form::FormOutcome::Quit => Command::Quit,
                }
            }
        }
    }
}
