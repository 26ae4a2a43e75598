//! The line-by-line operator prompt: asks side, amount and pair the way a
//! desk operator expects, explains a bad entry and asks again, then
//! streams the request on the desk it is given ([`run`]).

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::desk::Desk;

use crate::desk::registry::Quotable;
use crate::market::{check_amount, NotionalLimits, Pair, Side};
use tokio::sync::mpsc;

use crate::output::{desk_writer, plain, OutputMode};
use crate::rfq::{RfqSpec, StreamCommand};
use crate::signals::{Interrupt, Interrupts};

/// No subcommand and no console: ask for a request, stream it, ask for the
/// next. During a stream, `a` + Enter accepts the live quote (the trade
/// ticket follows). Ctrl+C stops a stream and returns to the prompt; at
/// the prompt it quits; SIGTERM ends the program. With `--json` the
/// questions go to stderr so stdout stays pure JSON. Lines come from
/// `input` ([`LineInput::stdin`] in the binary, a channel in tests).
pub async fn run(
    desk: &Desk,
    mode: OutputMode,
    mut interrupts: Interrupts,
    mut input: LineInput,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner(desk.registry().simulated()));
        println!("Enter a client request (q to quit).");
    }
    let notional_limits = desk.settings().notional_limits();
    // The worst execution outcome of the session, for the exit code.
    let mut worst = 0u8;
    loop {
        // The blocking read owns the input until it answers; an interrupt
        // meanwhile quits, so the input is not needed back.
        let mut asking = input;
        let limits = notional_limits.clone();
        let quotable = desk.registry().quotable().clone();
        let asked = tokio::task::spawn_blocking(move || {
            let input = &mut asking;
            let answer = match mode {
                OutputMode::Plain => read_request(input, &mut io::stdout(), &limits, &quotable),
                OutputMode::Json => read_request(input, &mut io::stderr(), &limits, &quotable),
            };
            (asking, answer)
        });
        let answered = tokio::select! {
            joined = asked => {
                let (returned, answer) = joined.context("the prompt failed")?;
                answer
                    .context("cannot read the request")?
                    .map(|spec| (spec, returned))
            }
            _ = interrupts.recv() => None,
        };
        let Some((spec, returned)) = answered else {
            if mode == OutputMode::Plain {
                println!();
            }
            return Ok(ExitCode::from(worst));
        };
        input = returned;
        let handle = desk.start(spec);
        let commands = handle.commands.clone();
        let stopper = handle.stopper();
        hint(
            mode,
            "(a + Enter accepts the live quote; Ctrl+C stops the stream)",
        );
        let streamed = handle.drive(desk_writer(desk, mode));
        tokio::pin!(streamed);
        let mut terminated = false;
        // Lines typed during the stream: `a` accepts; anything else is the
        // next request's first answer, kept for the prompt.
        let mut listening = true;
        loop {
            tokio::select! {
                ended = &mut streamed => {
                    worst = worst.max(ended?.outcome.exit_code());
                    break;
                }
                Some(interrupt) = interrupts.recv() => {
                    // Ctrl+C only ends the stream; SIGTERM ends the program.
                    terminated |= interrupt == Interrupt::Terminate;
                    stopper.stop();
                }
                line = input.next_line(), if listening => match line {
                    Some(line) if is_accept(&line) => {
                        let _ = commands.send(StreamCommand::Accept { quote_id: None }).await;
                    }
                    Some(line) => {
                        input.push_back(line);
                        listening = false;
                    }
                    None => listening = false,
                },
            }
        }
        if terminated {
            return Ok(ExitCode::from(worst));
        }
    }
}

/// A line for the operator beside the stream's output (stderr with
/// `--json`, so stdout stays pure JSON).
fn hint(mode: OutputMode, text: &str) {
    match mode {
        OutputMode::Plain => println!("{text}"),
        OutputMode::Json => eprintln!("{text}"),
    }
}

/// Words that accept the live quote during a stream.
fn is_accept(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "a" | "accept")
}

/// The operator's lines, read by a thread of their own so that a stream can
/// listen for `a` while the prompt's questions read the same lines. A line
/// the stream does not want is pushed back for the next question.
pub struct LineInput {
    lines: mpsc::UnboundedReceiver<String>,
    pushed_back: std::collections::VecDeque<String>,
    /// The current line being read by `BufRead`.
    buffer: Vec<u8>,
    position: usize,
}

impl LineInput {
    /// Lines from stdin, read by a thread until end of input.
    pub fn stdin() -> LineInput {
        let (sender, lines) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("prompt-input".into())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut line = String::new();
                    match stdin.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if sender.send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            })
            .ok();
        LineInput::from_channel(lines)
    }

    /// Lines from a channel (tests).
    pub fn from_channel(lines: mpsc::UnboundedReceiver<String>) -> LineInput {
        LineInput {
            lines,
            pushed_back: std::collections::VecDeque::new(),
            buffer: Vec::new(),
            position: 0,
        }
    }

    /// The next whole line, waiting for it; `None` at end of input.
    pub async fn next_line(&mut self) -> Option<String> {
        if let Some(line) = self.pushed_back.pop_front() {
            return Some(line);
        }
        self.lines.recv().await
    }

    /// Gives `line` back: the next read returns it first.
    pub fn push_back(&mut self, line: String) {
        self.pushed_back.push_front(line);
    }
}

impl io::Read for LineInput {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = io::BufRead::fill_buf(self)?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl BufRead for LineInput {
    /// Blocks for the next line (call it off the async workers).
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.position >= self.buffer.len() {
            let next = match self.pushed_back.pop_front() {
                Some(line) => Some(line),
                None => self.lines.blocking_recv(),
            };
            self.buffer = next.map(String::into_bytes).unwrap_or_default();
            self.position = 0;
        }
        Ok(&self.buffer[self.position..])
    }

    fn consume(&mut self, amount: usize) {
        self.position = (self.position + amount).min(self.buffer.len());
    }
}

/// Words that leave the prompt at any question.
fn is_quit(line: &str) -> bool {
    matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "q" | "quit" | "exit"
    )
}

/// Asks one question; `None` on end of input or a quit word.
fn ask(
    input: &mut impl BufRead,
    output: &mut impl Write,
    question: &str,
) -> io::Result<Option<String>> {
    write!(output, "{question}")?;
    output.flush()?;
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 || is_quit(&line) {
        return Ok(None);
    }
    Ok(Some(line.trim().to_string()))
}

/// Asks until `parse` accepts the answer; a refusal is shown and the
/// question asked again. `None` when the operator quits or input ends.
fn ask_until<T, E: std::fmt::Display>(
    input: &mut impl BufRead,
    output: &mut impl Write,
    question: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> io::Result<Option<T>> {
    loop {
        let Some(answer) = ask(input, output, question)? else {
            return Ok(None);
        };
        match parse(&answer) {
            Ok(value) => return Ok(Some(value)),
            Err(error) => writeln!(output, "  {error}; try again")?,
        }
    }
}

/// Reads one request: side, amount, pair. An amount finer than the pair's
/// lot size is explained once the pair is known, and the amount asked again.
///
/// A pair no configured LP quotes is explained and the pair asked again.
/// A request whose notional is above its pair's limit (or cannot be checked)
/// is only returned once the operator types `yes`; anything else drops it
/// and the request is asked again from the side.
pub fn read_request(
    input: &mut impl BufRead,
    output: &mut impl Write,
    limits: &NotionalLimits,
    quotable: &Quotable,
) -> io::Result<Option<RfqSpec>> {
    loop {
        let Some(spec) = read_one_request(input, output, quotable)? else {
            return Ok(None);
        };
        let Some(warning) = limits.check(spec.pair, spec.amount).warning() else {
            return Ok(Some(spec));
        };
        let Some(answer) = ask(
            input,
            output,
            &format!("{warning}: type yes to ask for quotes: "),
        )?
        else {
            return Ok(None);
        };
        if answer.eq_ignore_ascii_case("yes") {
            return Ok(Some(spec));
        }
        writeln!(output, "  not asked; enter the request again")?;
    }
}

fn read_one_request(
    input: &mut impl BufRead,
    output: &mut impl Write,
    quotable: &Quotable,
) -> io::Result<Option<RfqSpec>> {
    let Some(side) = ask_until(
        input,
        output,
        "Side (b/buy or s/sell): ",
        str::parse::<Side>,
    )?
    else {
        return Ok(None);
    };
    // The amount is kept as typed: it is checked against the pair's lot
    // once the pair is known, and never rounded.
    let Some(mut amount) = ask_until(input, output, "Amount: ", |text: &str| {
        check_amount(text).map(|()| text.trim().to_string())
    })?
    else {
        return Ok(None);
    };
    let quotable_pair = |text: &str| {
        let pair = text.parse::<Pair>().map_err(|error| error.to_string())?;
        match quotable.refusal(pair) {
            Some(why) => Err(why),
            None => Ok(pair),
        }
    };
    let Some(pair) = ask_until(input, output, "Pair (e.g., BTCUSDT): ", quotable_pair)? else {
        return Ok(None);
    };
    loop {
        match pair.parse_amount(&amount) {
            Ok(checked) => {
                return Ok(Some(RfqSpec {
                    side,
                    amount: checked,
                    pair,
                }))
            }
            Err(error) => {
                writeln!(output, "  {error}; try again")?;
                let parsed: Option<String> = ask_until(input, output, "Amount: ", |text: &str| {
                    pair.parse_amount(text).map(|_| text.trim().to_string())
                })?;
                let Some(parsed) = parsed else {
                    return Ok(None);
                };
                amount = parsed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Reads `typed` with LPs that may quote any pair.
    fn run(typed: &str) -> (Option<RfqSpec>, String) {
        run_with(typed, &Quotable::Any)
    }

    fn run_with(typed: &str, quotable: &Quotable) -> (Option<RfqSpec>, String) {
        let mut input = typed.as_bytes();
        let mut output = Vec::new();
        let spec = read_request(
            &mut input,
            &mut output,
            &NotionalLimits::uniform(dec!(1000000)),
            quotable,
        )
        .unwrap();
        (spec, String::from_utf8(output).unwrap())
    }

    #[test]
    fn a_pair_no_lp_quotes_is_explained_and_the_pair_asked_again() {
        let quotable = Quotable::Only(vec!["BTCUSDT".parse().unwrap(), "ETHUSDT".parse().unwrap()]);
        let (spec, shown) = run_with("b\n1\nDOGEUSDT\neth/usdt\n", &quotable);
        assert_eq!(spec.unwrap().pair.symbol(), "ETHUSDT");
        assert_eq!(
            shown,
            concat!(
                "Side (b/buy or s/sell): Amount: Pair (e.g., BTCUSDT): ",
                "  no configured LP quotes DOGE/USDT (quotable: BTCUSDT, ETHUSDT); try again\n",
                "Pair (e.g., BTCUSDT): "
            )
        );
    }

    #[test]
    fn a_notional_above_the_limit_is_asked_only_after_yes() {
        let (spec, shown) = run("b\n20\nBTCUSDT\nyes\n");
        assert_eq!(spec.unwrap().amount, dec!(20));
        assert!(shown.ends_with(
            "notional 2,000,000.00 USDT is above MAX_NOTIONAL 1,000,000: type yes to ask for quotes: "
        ));
    }

    #[test]
    fn a_notional_not_confirmed_is_dropped_and_the_request_asked_again() {
        let (spec, shown) = run("b\n20\nBTCUSDT\nno\ns\n2\nBTCUSDT\n");
        let spec = spec.unwrap();
        assert_eq!((spec.side, spec.amount), (Side::Sell, dec!(2)));
        assert!(shown.contains(
            "type yes to ask for quotes:   not asked; enter the request again\nSide (b/buy or s/sell): "
        ));
    }

    #[test]
    fn a_pair_without_a_reference_price_needs_confirmation() {
        let (spec, shown) = run("b\n1\nDOGEUSDT\n");
        assert_eq!(spec, None);
        assert!(shown.ends_with(
            "notional of DOGE/USDT cannot be checked against MAX_NOTIONAL 1,000,000 (no reference price for DOGE/USDT): type yes to ask for quotes: "
        ));
    }

    #[test]
    fn a_clean_request_is_read_in_three_answers() {
        let (spec, shown) = run("b\n1.5\nBTCUSDT\n");
        let spec = spec.unwrap();
        assert_eq!(spec.side, Side::Buy);
        assert_eq!(spec.amount, dec!(1.5));
        assert_eq!(spec.pair.symbol(), "BTCUSDT");
        assert_eq!(
            shown,
            "Side (b/buy or s/sell): Amount: Pair (e.g., BTCUSDT): "
        );
    }

    #[test]
    fn bad_answers_are_explained_and_asked_again() {
        let (spec, shown) = run("long\nsell\nlots\n-2\n2\nBTCXYZ\neth/usdt\n");
        let spec = spec.unwrap();
        assert_eq!(
            (spec.side, spec.amount, spec.pair.symbol().as_str()),
            (Side::Sell, dec!(2), "ETHUSDT")
        );
        assert_eq!(
            shown,
            "Side (b/buy or s/sell):   side 'long' is not one of b, buy, s, sell; try again\n\
             Side (b/buy or s/sell): Amount:   amount 'lots' is not a number; try again\n\
             Amount:   amount '-2' must be greater than zero; try again\n\
             Amount: Pair (e.g., BTCUSDT):   pair 'BTCXYZ' has no known quote asset (known: USDT, USDC, USD, EUR, BTC, ETH); try again\n\
             Pair (e.g., BTCUSDT): "
        );
    }

    #[test]
    fn an_amount_too_fine_for_the_pair_is_asked_again_after_the_pair() {
        let (spec, shown) = run("b\n1.0000001\nETHUSDT\n0.5\n");
        assert_eq!(spec.unwrap().amount, dec!(0.5));
        assert!(shown.contains("amount '1.0000001' has more than 6 decimals, the most ETH/USDT allows; try again\nAmount: "));
    }

    #[test]
    fn an_amount_beyond_a_decimal_is_refused_not_rounded() {
        let (spec, shown) = run("b\n1.99999999999999999999999999999\nBTCUSDT\n1.5\n");
        assert_eq!(spec.unwrap().amount, dec!(1.5));
        assert!(shown.contains("amount '1.99999999999999999999999999999' has more than 8 decimals, the most BTC/USDT allows; try again\nAmount: "));
    }

    #[test]
    fn quit_or_end_of_input_leaves_quietly() {
        assert_eq!(run("q\n").0, None);
        assert_eq!(run("b\n1\n").0, None);
        assert_eq!(run("").0, None);
    }
}
