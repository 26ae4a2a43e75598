//! The line-by-line operator prompt: asks side, amount and pair the way a
//! desk operator expects, explains a bad entry and asks again, then
//! streams the request on the desk it is given ([`run`]).

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use rust_decimal::Decimal;

use crate::desk::Desk;
use crate::market::{parse_positive_amount, Pair, Side};
use crate::output::{plain, stdout_writer, OutputMode};
use crate::rfq::RfqSpec;
use crate::signals::{Interrupt, Interrupts};

/// No subcommand and no console: ask for a request, stream it, ask for the
/// next. Ctrl+C stops a stream and returns to the prompt; at the prompt it
/// quits; SIGTERM ends the program. With `--json` the questions go to
/// stderr so stdout stays pure JSON. Requests are read from stdin.
pub async fn run(
    desk: &Desk,
    mode: OutputMode,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner());
        println!("Enter a client request (q to quit).");
    }
    loop {
        let asked = tokio::task::spawn_blocking(move || {
            let mut input = io::stdin().lock();
            match mode {
                OutputMode::Plain => read_request(&mut input, &mut io::stdout()),
                OutputMode::Json => read_request(&mut input, &mut io::stderr()),
            }
        });
        let spec = tokio::select! {
            answer = asked => answer.context("the prompt failed")?.context("cannot read the request")?,
            _ = interrupts.recv() => None,
        };
        let Some(spec) = spec else {
            if mode == OutputMode::Plain {
                println!();
            }
            return Ok(ExitCode::SUCCESS);
        };
        let handle = desk.start(spec);
        let commands = handle.commands.clone();
        let mut write = stdout_writer(mode);
        let mut warned = false;
        let streamed = handle.drive(|event| {
            if !warned {
                if let Some(problem) = desk.blotter_problem() {
                    eprintln!("lp-rfq: warning: {problem}");
                    warned = true;
                }
            }
            write(event)
        });
        tokio::pin!(streamed);
        let mut terminated = false;
        loop {
            tokio::select! {
                ended = &mut streamed => {
                    ended?;
                    break;
                }
                Some(interrupt) = interrupts.recv() => {
                    // Ctrl+C only ends the stream; SIGTERM ends the program.
                    terminated |= interrupt == Interrupt::Terminate;
                    let _ = commands.try_send(crate::rfq::StreamCommand::Stop);
                }
            }
        }
        if terminated {
            return Ok(ExitCode::SUCCESS);
        }
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
pub fn read_request(
    input: &mut impl BufRead,
    output: &mut impl Write,
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
    let Some(mut amount) = ask_until(input, output, "Amount: ", parse_positive_amount)? else {
        return Ok(None);
    };
    let Some(pair) = ask_until(input, output, "Pair (e.g., BTCUSDT): ", str::parse::<Pair>)? else {
        return Ok(None);
    };
    loop {
        match pair.parse_amount(&amount.to_string()) {
            Ok(checked) => {
                return Ok(Some(RfqSpec {
                    side,
                    amount: checked,
                    pair,
                }))
            }
            Err(error) => {
                writeln!(output, "  {error}; try again")?;
                let parsed: Option<Decimal> =
                    ask_until(input, output, "Amount: ", |text: &str| {
                        pair.parse_amount(text)
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

    fn run(typed: &str) -> (Option<RfqSpec>, String) {
        let mut input = typed.as_bytes();
        let mut output = Vec::new();
        let spec = read_request(&mut input, &mut output).unwrap();
        (spec, String::from_utf8(output).unwrap())
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
        let (spec, shown) = run("b\n0.0000001\nETHUSDT\n0.5\n");
        assert_eq!(spec.unwrap().amount, dec!(0.5));
        assert!(shown.contains("amount '0.0000001' has more than 6 decimals, the most ETH/USDT allows; try again\nAmount: "));
    }

    #[test]
    fn quit_or_end_of_input_leaves_quietly() {
        assert_eq!(run("q\n").0, None);
        assert_eq!(run("b\n1\n").0, None);
        assert_eq!(run("").0, None);
    }
}
