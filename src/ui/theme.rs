//! The console's look: every colour and text style it draws with, named
//! for what it marks, each with its stand-in for `NO_COLOR` terminals
//! (where only bold, reversed and crossed-out text can carry the meaning).

use ratatui::style::{Color, Modifier, Style};

/// A style in colour and its stand-in without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Look {
    colored: Style,
    plain: Style,
}

impl Look {
    const fn new(colored: Style, plain: Style) -> Look {
        Look { colored, plain }
    }

    /// A colour that has no stand-in: without colour the text is plain.
    const fn color_only(colored: Style) -> Look {
        Look::new(colored, Style::new())
    }

    /// The same weight with and without colour.
    const fn emphasis(modifier: Modifier) -> Look {
        Look::new(
            Style::new().add_modifier(modifier),
            Style::new().add_modifier(modifier),
        )
    }

    /// Adds `modifier` in both, so the emphasis survives `NO_COLOR`.
    const fn with(self, modifier: Modifier) -> Look {
        Look::new(
            self.colored.add_modifier(modifier),
            self.plain.add_modifier(modifier),
        )
    }
}

/// Chooses each [`Look`]'s colour or its stand-in, once per frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    color: bool,
}

impl Palette {
    /// `color` is false under `NO_COLOR`.
    pub(crate) fn new(color: bool) -> Palette {
        Palette { color }
    }

    pub(crate) fn style(self, look: Look) -> Style {
        if self.color {
            look.colored
        } else {
            look.plain
        }
    }
}

// The few tones everything below is made of.
const GREEN: Look = Look::color_only(Style::new().fg(Color::Green));
// Yellow and red are bold too, so they still stand out without colour.
const YELLOW: Look = Look::color_only(Style::new().fg(Color::Yellow)).with(Modifier::BOLD);
const RED: Look = Look::color_only(Style::new().fg(Color::Red)).with(Modifier::BOLD);
const GRAY: Look = Look::color_only(Style::new().fg(Color::DarkGray));
const CYAN: Look = Look::color_only(Style::new().fg(Color::Cyan));
/// Black on green: good news the operator must not miss.
const GREEN_BANNER: Look = Look::new(
    Style::new()
        .fg(Color::Black)
        .bg(Color::Green)
        .add_modifier(Modifier::BOLD),
    Style::new().add_modifier(Modifier::REVERSED.union(Modifier::BOLD)),
);
/// Red, reversed: the outcome or the record is in doubt.
const RED_BANNER: Look = RED.with(Modifier::BOLD.union(Modifier::REVERSED));

// ---- text in general ------------------------------------------------------

/// Text with nothing to mark.
pub(crate) const PLAIN: Look = Look::new(Style::new(), Style::new());
/// A panel's title, a help section, the focused form field's label.
pub(crate) const TITLE: Look = CYAN.with(Modifier::BOLD);
/// A table's column headings.
pub(crate) const HEADING: Look = GRAY.with(Modifier::BOLD);
/// A label beside its value ("Client pays", "In force").
pub(crate) const LABEL: Look = GRAY;
/// Secondary text: hints, event times, price ranges, the empty part of
/// the countdown, "waiting…".
pub(crate) const MUTED: Look = GRAY;
/// A key in the help overlay.
pub(crate) const KEY: Look = Look::emphasis(Modifier::BOLD);

// ---- the client quote -----------------------------------------------------

/// The client price while it stands.
pub(crate) const CLIENT_PRICE: Look = Look::emphasis(Modifier::BOLD);
/// The client price once expired: crossed out, so it never looks live.
pub(crate) const EXPIRED_PRICE: Look = RED.with(Modifier::CROSSED_OUT);
/// The client quote's validity with time to spare.
pub(crate) const QUOTE_LIVE: Look = GREEN;
/// Its last [`crate::ui::state::WARN_MS`].
pub(crate) const QUOTE_ENDING: Look = YELLOW;
/// "EXPIRED", or expired by the end of the stream.
pub(crate) const QUOTE_EXPIRED: Look = RED;
/// The PRICE IMPROVEMENT banner.
pub(crate) const IMPROVEMENT_BANNER: Look = GREEN_BANNER;
/// The stream's time left as a bar.
pub(crate) const COUNTDOWN: Look = CYAN;
/// ENDED in the header, once the stream is over.
pub(crate) const ENDED: Look = YELLOW;
/// The blotter cannot record this stream: loud, in every terminal.
pub(crate) const BLOTTER_ERROR: Look = RED_BANNER;
/// Simulated LPs stream beside real ones: their prices are not real.
pub(crate) const MIXED_BANNER: Look = RED_BANNER;

// ---- execution ------------------------------------------------------------

/// An order is out, its outcome not known yet.
pub(crate) const ORDER_IN_FLIGHT: Look = YELLOW;
/// An LP rejected the order on last look.
pub(crate) const ORDER_REJECTED: Look = YELLOW;
/// Filled, in the header.
pub(crate) const FILLED: Look = GREEN;
/// The trade ticket's FILLED line.
pub(crate) const FILLED_BANNER: Look = GREEN_BANNER;
/// The desk's P&L on a fill.
pub(crate) const DESK_PNL: Look = GREEN;
/// Not filled, in the header.
pub(crate) const NOT_FILLED: Look = YELLOW;
/// The trade ticket's NOT FILLED line.
pub(crate) const NOT_FILLED_BANNER: Look = YELLOW.with(Modifier::BOLD);
/// Unknown outcome, and what to do about it.
pub(crate) const UNKNOWN_OUTCOME: Look = RED;
/// The trade ticket's UNKNOWN line.
pub(crate) const UNKNOWN_BANNER: Look = RED_BANNER;

// ---- the leaderboard ------------------------------------------------------

/// The locked LP's row.
pub(crate) const LOCKED: Look = GREEN.with(Modifier::BOLD);
/// The locked LP's row just after it took the lock.
pub(crate) const LOCK_FLASH: Look = GREEN_BANNER;
/// An LP without a price on the board.
pub(crate) const NO_PRICE: Look = GRAY;
/// An LP whose latest request failed.
pub(crate) const LP_FAILED: Look = RED;
/// An LP asked and not answered yet.
pub(crate) const LP_WAITING: Look = GRAY;
/// An LP held back by its own limits (throttled, probing).
pub(crate) const HEALTH_HELD_BACK: Look = GRAY;
/// An LP down, rate-limited, fading or refused.
pub(crate) const HEALTH_TROUBLE: Look = RED;
/// A client the desk has paused: nothing is quoted for it.
pub(crate) const CLIENT_PAUSED: Look = RED;
/// The desk's kill switch is on: no client is quoted.
pub(crate) const KILL_SWITCH_ON: Look = RED_BANNER;

// ---- the event log --------------------------------------------------------

pub(crate) const LOG_LOCK: Look = GREEN;
pub(crate) const LOG_IMPROVEMENT: Look = GREEN.with(Modifier::BOLD);
pub(crate) const LOG_REFRESH: Look = CYAN;
/// LP errors are routine in a race: quiet, not red.
pub(crate) const LOG_ERROR: Look = GRAY;
pub(crate) const LOG_EXPIRED: Look = RED;
pub(crate) const LOG_END: Look = YELLOW;

// ---- the best LP price sparkline ------------------------------------------

pub(crate) const SPARKLINE: Look = CYAN;

// ---- the summary ----------------------------------------------------------

/// The final LP and client price of a stream not accepted.
pub(crate) const FINAL_PRICE: Look = GREEN.with(Modifier::BOLD);
/// No live quote at the end.
pub(crate) const NO_FINAL_QUOTE: Look = YELLOW;
/// The accepted quote's outcome.
pub(crate) const OUTCOME_FILLED: Look = GREEN.with(Modifier::BOLD);
pub(crate) const OUTCOME_NOT_FILLED: Look = YELLOW.with(Modifier::BOLD);
pub(crate) const OUTCOME_UNKNOWN: Look = RED.with(Modifier::BOLD);

// ---- the form -------------------------------------------------------------

/// A value carried over from the last request, not typed yet.
pub(crate) const PREFILLED: Look = GRAY;
/// A value typed by hand.
pub(crate) const TYPED: Look = Look::emphasis(Modifier::BOLD);
pub(crate) const FIELD_ERROR: Look = RED;
/// The fat-finger question before a large request.
pub(crate) const FORM_CONFIRM: Look = YELLOW.with(Modifier::BOLD);
/// A failed stream, told on the form.
pub(crate) const FORM_NOTICE: Look = YELLOW;
/// Every LP is a simulation: no price is real.
pub(crate) const SIMULATED: Look = YELLOW;

// ---- the bottom line ------------------------------------------------------

/// The keys of the screen.
pub(crate) const KEYS_BAR: Look = Look::new(
    Style::new().fg(Color::Black).bg(Color::Gray),
    Style::new().add_modifier(Modifier::REVERSED),
);
/// Why a key did nothing.
pub(crate) const NOTICE_BAR: Look = Look::new(
    Style::new().fg(Color::Black).bg(Color::Gray),
    Style::new().add_modifier(Modifier::REVERSED.union(Modifier::BOLD)),
);
/// A question to answer (accept? quit?).
pub(crate) const QUESTION_BAR: Look = Look::new(
    Style::new()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD),
    Style::new().add_modifier(Modifier::REVERSED.union(Modifier::BOLD)),
);
/// The terminal is too small to show the client price and the best LP.
pub(crate) const TOO_SMALL: Look = YELLOW;

#[cfg(test)]
mod tests {
    use super::*;

    const BOLD: Modifier = Modifier::BOLD;
    const REVERSED: Modifier = Modifier::REVERSED;

    #[rstest::rstest]
    #[case::an_expired_quote(QUOTE_EXPIRED, BOLD)]
    #[case::an_expired_price(EXPIRED_PRICE, BOLD.union(Modifier::CROSSED_OUT))]
    #[case::a_quote_about_to_expire(QUOTE_ENDING, BOLD)]
    #[case::the_blotter_failing(BLOTTER_ERROR, BOLD.union(REVERSED))]
    #[case::an_unknown_outcome(UNKNOWN_BANNER, BOLD.union(REVERSED))]
    #[case::a_fill(FILLED_BANNER, BOLD.union(REVERSED))]
    #[case::a_new_lock(LOCK_FLASH, BOLD.union(REVERSED))]
    #[case::the_locked_row(LOCKED, BOLD)]
    #[case::a_question(QUESTION_BAR, BOLD.union(REVERSED))]
    #[case::the_keys(KEYS_BAR, REVERSED)]
    fn without_colour_what_must_not_be_missed_is_still_marked(
        #[case] look: Look,
        #[case] modifier: Modifier,
    ) {
        assert_eq!(
            Palette::new(false).style(look),
            Style::new().add_modifier(modifier)
        );
    }

    #[test]
    fn with_colour_the_states_of_a_quote_differ_by_colour() {
        let palette = Palette::new(true);
        assert_eq!(palette.style(QUOTE_LIVE).fg, Some(Color::Green));
        assert_eq!(palette.style(QUOTE_ENDING).fg, Some(Color::Yellow));
        assert_eq!(palette.style(QUOTE_EXPIRED).fg, Some(Color::Red));
    }
}
