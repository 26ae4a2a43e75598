//! Headless outputs: readable `--plain` lines and `--json` lines. Both only
//! format events; neither computes a price.

pub mod json;
pub mod plain;

use std::fmt::Write as _;
use std::io::{self, Write};

use rust_decimal::Decimal;

use crate::rfq::{ClientId, RfqEvent};

/// How headless streams are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Plain,
    Json,
}

/// [`stdout_writer`] that also says once on stderr when the desk's blotter
/// has trouble writing (the record is incomplete: the operator must know).
pub(crate) fn desk_writer<'a>(
    desk: &'a crate::desk::link::DeskLink<'_>,
    mode: OutputMode,
    client: ClientId,
) -> impl FnMut(&RfqEvent) -> io::Result<()> + 'a {
    let mut write = stdout_writer(mode, client);
    let mut warned = false;
    move |event| {
        if !warned {
            if let Some(problem) = desk.blotter_problem() {
                eprintln!("lp-rfq: warning: {problem}");
                warned = true;
            }
        }
        write(event)
    }
}

/// Writes the events of a stream for `client` to stdout in `mode`,
/// flushing each so that a pipe sees every line at once.
pub(crate) fn stdout_writer(
    mode: OutputMode,
    client: ClientId,
) -> impl FnMut(&RfqEvent) -> io::Result<()> {
    let mut printer = plain::PlainPrinter::new();
    // Learned from the stream's `started`, which every other line follows.
    let mut fixed = crate::market::Leg::Base;
    move |event| {
        if let crate::rfq::EventKind::Started(started) = &event.kind {
            fixed = started.fixed;
        }
        let mut out = io::stdout().lock();
        match mode {
            OutputMode::Json => json::write_event(&mut out, event, &client, fixed)?,
            OutputMode::Plain => out.write_all(printer.render(event).as_bytes())?,
        }
        out.flush()
    }
}

/// A decimal with thousands separators, keeping every decimal digit:
/// `150082.5500` → `150,082.5500`.
pub(crate) fn group_thousands(value: Decimal) -> String {
    let text = value.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let mut grouped = String::with_capacity(text.len() + whole.len() / 3);
    grouped.push_str(sign);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if let Some(fraction) = fraction {
        let _ = write!(grouped, ".{fraction}");
    }
    grouped
}

/// Stream milliseconds as seconds with one decimal: 7900 → "7.9 s".
pub(crate) fn seconds(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, (ms % 1000) / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn thousands_are_grouped_without_touching_decimals() {
        assert_eq!(group_thousands(dec!(150082.5500)), "150,082.5500");
        assert_eq!(group_thousands(dec!(100)), "100");
        assert_eq!(group_thousands(dec!(1000)), "1,000");
        assert_eq!(group_thousands(dec!(-1234567.8)), "-1,234,567.8");
        assert_eq!(group_thousands(dec!(0.035000)), "0.035000");
    }

    #[test]
    fn seconds_show_one_decimal() {
        assert_eq!(seconds(7_900), "7.9 s");
        assert_eq!(seconds(0), "0.0 s");
        assert_eq!(seconds(12_345), "12.3 s");
    }
}
