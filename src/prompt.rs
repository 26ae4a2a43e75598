//! The line-by-line operator prompt: asks side, amount and pair the way a
//! desk operator expects, explains a bad entry and asks again, then
//! streams the request on the desk it is given ([`run`]).

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::desk::link::DeskLink;

use crate::desk::registry::Quotable;
use crate::market::{check_amount, Leg, MinimumSize, NotionalLimits, Pair, Side};
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::clients::Clients;
use crate::clock::StreamMs;
use crate::output::{desk_writer, group_thousands, plain, OutputMode};
use crate::rfq::event::{ClientQuote, EventKind};
use crate::rfq::{ClientId, QuoteRequest, RequestParams, RfqEvent, RfqSpec, StreamCommand};
use crate::signals::Interrupts;

/// No subcommand and no console: ask for a request, stream it, ask for the
/// next. During a stream, `a` shows the live quote's price and id, and an
/// empty line (Enter) then executes exactly that quote (`Acceptance`;
/// the trade ticket follows). Ctrl+C stops a stream and returns to the prompt; at
/// the prompt it quits; SIGTERM ends the program. With `--json` the
/// questions go to stderr so stdout stays pure JSON. Lines come from
/// `input` ([`LineInput::stdin`] in the binary, a channel in tests).
pub async fn run(
    desk: &DeskLink<'_>,
    mode: OutputMode,
    mut interrupts: Interrupts,
    mut input: LineInput,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner(desk.simulated()));
        println!("Enter a client request (q to quit).");
    }
    let notional_limits = desk.settings().notional_limits();
    let minimum_size = desk.settings().minimum_size();
    // With a clients file each request names its client, the previous
    // one's by default; without one every request is the house's.
    let clients = Some(desk.clients()).filter(crate::clients::Clients::from_file);
    let mut client = ClientId::house();
    // The worst execution outcome of the session, for the exit code.
    let mut worst = 0u8;
    loop {
        // The blocking read owns the input until it answers; an interrupt
        // meanwhile quits, so the input is not needed back.
        let mut asking = input;
        let limits = notional_limits.clone();
        let minimum = minimum_size.clone();
        let quotable = desk.quotable();
        let known = clients.clone();
        let previous = client.clone();
        let asked = tokio::task::spawn_blocking(move || {
            let input = &mut asking;
            let ask_all = |mut output: &mut dyn Write| {
                let client = match &known {
                    None => previous,
                    Some(known) => match read_client(input, &mut output, known, &previous)? {
                        Some(client) => client,
                        None => return Ok(None),
                    },
                };
                let spec = read_request(input, &mut output, &limits, &minimum, &quotable)?;
                Ok(spec.map(|spec| (spec, client)))
            };
            let answer: io::Result<Option<(Requested, ClientId)>> = match mode {
                OutputMode::Plain => ask_all(&mut io::stdout()),
                OutputMode::Json => ask_all(&mut io::stderr()),
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
        let Some(((requested, named), returned)) = answered else {
            if mode == OutputMode::Plain {
                println!();
            }
            return Ok(ExitCode::from(worst));
        };
        input = returned;
        client = named;
        let params = RequestParams::default().with_client(client.clone());
        let request = QuoteRequest {
            spec: requested.spec,
            params: if requested.two_way {
                params.with_two_way()
            } else {
                params
            },
        };
        // The client's terms are held before any LP is asked; a refusal
        // is explained and the request asked again.
        if let Err(refusal) = desk.admit(&request) {
            hint(mode, &format!("  {refusal}; enter the request again"));
            continue;
        }
        let handle = desk.start(request).await;
        let commands = handle.commands.clone();
        let clock = handle.clock;
        let stopper = handle.stopper();
        hint(
            mode,
            if requested.two_way {
                "(a then b or s shows the offer or the bid, then Enter accepts it; Ctrl+C stops the stream)"
            } else {
                "(a shows the live quote, then Enter accepts it; Ctrl+C stops the stream)"
            },
        );
        // What the acceptance must follow, handed over as it is written.
        let (seen_sender, mut seen) = mpsc::unbounded_channel();
        let mut write = desk_writer(desk, mode, client.clone());
        let streamed = handle.drive(move |event| {
            if Acceptance::follows(event) || ReleasableLps::follows(event) {
                let _ = seen_sender.send(event.clone());
            }
            write(event)
        });
        tokio::pin!(streamed);
        let mut acceptance = Acceptance::new(requested.two_way);
        let mut releasable = ReleasableLps::new(requested.two_way);
        let mut terminated = false;
        // Lines typed during the stream: `a` accepts, `r` releases an
        // unverified price; anything else is the next request's first
        // answer, kept for the prompt.
        let mut listening = true;
        loop {
            tokio::select! {
                // In this order: an event is handed to `seen` before it is
                // printed, so a line typed after reading it always finds
                // it taken in (unbiased, `a` could be read before the
                // quote the operator saw: `none live`).
                biased;
                ended = &mut streamed => {
                    let ended = match ended {
                        Ok(ended) => ended,
                        // A lost desk server: what was last known, and an
                        // exit that says whether an order was out.
                        Err(error) => match error.downcast_ref::<crate::desk::remote::DeskLost>() {
                            Some(lost) => {
                                eprintln!("lp-rfq: {lost}");
                                return Ok(ExitCode::from(lost.exit_code()));
                            }
                            None => return Err(error),
                        },
                    };
                    worst = worst.max(ended.outcome.exit_code());
                    break;
                }
                Some(interrupt) = interrupts.recv() => {
                    // Ctrl+C only ends the stream; SIGTERM and SIGHUP end
                    // the program.
                    terminated |= interrupt.ends_the_program();
                    stopper.stop();
                }
                Some(event) = seen.recv() => {
                    releasable.on_event(&event);
                    if let Some(question) = acceptance.on_event(&event, clock.now_ms()) {
                        hint(mode, &question);
                    }
                }
                line = input.next_line(), if listening => match line {
                    // The operator's override for a price nothing
                    // corroborates: the session releases the best
                    // unverified one (on a two-way stream, of the side
                    // the next line names) and records it (`released`).
                    Some(line) if releasable.choosing() || is_release(&line) => {
                        match releasable.on_line(&line) {
                            Release::Send(command) => {
                                let _ = commands.send(command).await;
                            }
                            Release::Say(text) => hint(mode, &text),
                        }
                    }
                    Some(line) => match acceptance.on_line(&line, clock.now_ms()) {
                        Answer::Execute(quote_id) => {
                            let quote_id = Some(quote_id);
                            let _ = commands.send(StreamCommand::Accept { quote_id }).await;
                        }
                        Answer::Say(text) => hint(mode, &text),
                        Answer::NotMine => {
                            input.push_back(line);
                            listening = false;
                        }
                    },
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

/// What `r` says when no price is waiting for the operator's word.
pub(crate) const NOTHING_TO_RELEASE: &str =
    "nothing unverified to release: every price shown is corroborated";

/// The LPs whose latest price was shown `unverified` and has not been
/// corroborated, offered or released since, per side: what `r` would
/// release. On a two-way stream `r` first asks the side (`b`: the offer,
/// `s`: the bid), showing each side's best unverified LP and price, and
/// releases that side only: a release of both would offer a price on a
/// side the operator never saw.
#[derive(Default)]
struct ReleasableLps {
    /// The offer's (a one-sided stream's own) first, then the bid's.
    prices: [std::collections::HashMap<Arc<str>, rust_decimal::Decimal>; 2],
    two_way: bool,
    /// `r` was typed on a two-way stream: the next line names the side.
    choosing: bool,
}

/// What a line about releasing comes to.
#[derive(Debug, PartialEq)]
enum Release {
    /// Send this command to the stream.
    Send(StreamCommand),
    /// Tell the operator this.
    Say(String),
}

impl ReleasableLps {
    fn follows(event: &RfqEvent) -> bool {
        matches!(
            event.kind,
            EventKind::Unverified(_)
                | EventKind::Released(_)
                | EventKind::LpQuote(_)
                | EventKind::ClientQuote(_)
                | EventKind::Locked(_)
        )
    }

    fn new(two_way: bool) -> ReleasableLps {
        ReleasableLps {
            two_way,
            ..ReleasableLps::default()
        }
    }

    fn on_event(&mut self, event: &RfqEvent) {
        let prices = &mut self.prices[slot(event.two_way_side.unwrap_or(Side::Buy))];
        match &event.kind {
            EventKind::Unverified(unverified) => {
                prices.insert(unverified.lp.clone(), unverified.price);
            }
            // `unverified` is said once per price: a new price either says
            // it again or was corroborated.
            EventKind::LpQuote(quote) if prices.get(&quote.lp) != Some(&quote.price) => {
                prices.remove(&quote.lp);
            }
            EventKind::Released(released) => {
                prices.remove(&released.lp);
            }
            EventKind::ClientQuote(quote) => {
                prices.remove(&quote.lp);
            }
            EventKind::Locked(locked) => {
                prices.remove(&locked.lp);
            }
            _ => {}
        }
    }

    /// The side is asked: the next line is the answer.
    fn choosing(&self) -> bool {
        self.choosing
    }

    /// `r`, or (while the side is asked) the side's line.
    fn on_line(&mut self, line: &str) -> Release {
        if std::mem::take(&mut self.choosing) {
            let side = match line.trim().to_ascii_lowercase().as_str() {
                "b" | "buy" => Side::Buy,
                "s" | "sell" => Side::Sell,
                _ => return Release::Say("  not released: b or s names the side".to_string()),
            };
            if self.prices[slot(side)].is_empty() {
                return Release::Say(match side {
                    Side::Buy => "  no unverified offer to release".to_string(),
                    Side::Sell => "  no unverified bid to release".to_string(),
                });
            }
            return Release::Send(StreamCommand::ReleaseUnverifiedSide { side });
        }
        if self.prices.iter().all(|prices| prices.is_empty()) {
            return Release::Say(NOTHING_TO_RELEASE.to_string());
        }
        if !self.two_way {
            return Release::Send(StreamCommand::ReleaseUnverified);
        }
        self.choosing = true;
        let unverified = |side: Side| match self.best(side) {
            Some((lp, price)) => format!("{lp}'s unverified {}", group_thousands(price)),
            None => "none unverified".to_string(),
        };
        Release::Say(format!(
            "RELEASE WHICH SIDE? b: the offer, {} · s: the bid, {}",
            unverified(Side::Buy),
            unverified(Side::Sell),
        ))
    }

    /// `side`'s best unverified LP and price: what its release offers.
    fn best(&self, side: Side) -> Option<(&Arc<str>, rust_decimal::Decimal)> {
        self.prices[slot(side)]
            .iter()
            .map(|(lp, price)| (lp, *price))
            .reduce(|best, next| {
                // Ties by name, so the question is the same every time.
                let better =
                    side.is_better(next.1, best.1) || (next.1 == best.1 && next.0 < best.0);
                if better {
                    next
                } else {
                    best
                }
            })
    }
}

/// Words that release the best unverified price during a stream.
fn is_release(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "r" | "release")
}

/// Words that ask to accept the live quote during a stream.
fn is_accept(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "a" | "accept")
}

/// After the question changes to a renewed quote, an Enter this soon
/// (stream ms) executes nothing: it was typed for the price before.
pub const RECONFIRM_SETTLE_MS: u64 = 500;

/// The prompt's two-step acceptance, as in the console: `a` shows the live
/// client quote (price, notional, id) and an empty line executes exactly
/// that quote id. A quote that renews while it is asked is shown again,
/// saying so, and an empty line then takes the new one, once it has been
/// up [`RECONFIRM_SETTLE_MS`]. Never "whatever is live at Enter". On a
/// two-way stream `a` first asks which side the client takes (`b`: it
/// buys at the offer, `s`: it sells at the bid), then shows that side's
/// quote.
#[derive(Debug, Default)]
pub(crate) struct Acceptance {
    /// The live client quote of each side: the offer (a client BUY)
    /// first, then the bid; a one-sided stream has only its own.
    live: [Option<Box<ClientQuote>>; 2],
    two_way: bool,
    /// `a` was typed on a two-way stream: the next line names the side.
    choosing: bool,
    asking: Option<Asking>,
    /// An order went out (or the stream ended): nothing more to accept.
    done: bool,
}

#[derive(Debug)]
struct Asking {
    quote_id: Arc<str>,
    side: Side,
    /// The client price the question showed.
    client_price: rust_decimal::Decimal,
    changed: bool,
    shown_at_ms: StreamMs,
}

/// What a line typed during a stream comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Execute this client quote, the one the question showed.
    Execute(Arc<str>),
    /// Tell the operator this.
    Say(String),
    /// Not about accepting: the next request's first answer.
    NotMine,
}

/// Where a side's live quote is kept.
fn slot(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl Acceptance {
    /// For a one-sided stream, or a two-way one (`two_way`).
    pub(crate) fn new(two_way: bool) -> Acceptance {
        Acceptance {
            two_way,
            ..Acceptance::default()
        }
    }

    /// Events the acceptance follows (the rest need not be handed over).
    pub(crate) fn follows(event: &RfqEvent) -> bool {
        matches!(
            event.kind,
            EventKind::ClientQuote(_)
                | EventKind::LockExpired(_)
                | EventKind::OrderSent(_)
                | EventKind::NotFilled(_)
                | EventKind::Ended(_)
        )
    }

    /// One event of the stream; while a quote is asked, what to show again.
    pub(crate) fn on_event(&mut self, event: &RfqEvent, now_ms: StreamMs) -> Option<String> {
        match &event.kind {
            EventKind::ClientQuote(quote) => {
                self.live[slot(quote.side)] = Some(quote.clone());
                let asking = self
                    .asking
                    .as_mut()
                    .filter(|asking| asking.side == quote.side)?;
                if asking.quote_id == quote.quote_id {
                    return None;
                }
                let was = group_thousands(asking.client_price);
                *asking = Asking {
                    quote_id: quote.quote_id.clone(),
                    side: quote.side,
                    client_price: quote.client_price,
                    changed: true,
                    shown_at_ms: now_ms,
                };
                Some(question(quote, Some(was)))
            }
            EventKind::LockExpired(_) => {
                // A two-way stream's expiry is its side's; a one-sided
                // stream has one quote.
                let expired = |side: Side| event.two_way_side.is_none_or(|of| of == side);
                for side in [Side::Buy, Side::Sell] {
                    if expired(side) {
                        self.live[slot(side)] = None;
                    }
                }
                self.asking
                    .as_ref()
                    .filter(|asking| expired(asking.side))
                    .map(|_| {
                        "  the quote expired: Enter will accept nothing until a fresh one is shown"
                            .to_string()
                    })
            }
            EventKind::OrderSent(_) | EventKind::NotFilled(_) | EventKind::Ended(_) => {
                self.done = true;
                self.asking = None;
                self.choosing = false;
                None
            }
            _ => None,
        }
    }

    /// One line typed during the stream.
    pub(crate) fn on_line(&mut self, line: &str, now_ms: StreamMs) -> Answer {
        if let Some(asking) = self.asking.take() {
            if !line.trim().is_empty() {
                return Answer::Say("  not accepted".to_string());
            }
            let Some(live) = self.live[slot(asking.side)]
                .as_ref()
                .filter(|q| q.quote_id == asking.quote_id)
            else {
                return Answer::Say("  no live quote to accept: a asks again".to_string());
            };
            if asking.changed && now_ms.saturating_sub(asking.shown_at_ms) < RECONFIRM_SETTLE_MS {
                let text = format!(
                    "  the price just changed: Enter again to accept {} {}",
                    group_thousands(live.client_price),
                    quote_currency(live),
                );
                self.asking = Some(asking);
                return Answer::Say(text);
            }
            return Answer::Execute(asking.quote_id);
        }
        if std::mem::take(&mut self.choosing) {
            let side = match line.trim().to_ascii_lowercase().as_str() {
                "b" | "buy" => Side::Buy,
                "s" | "sell" => Side::Sell,
                _ => return Answer::Say("  not accepted: b or s names the side".to_string()),
            };
            return self.ask(side, now_ms);
        }
        if !is_accept(line) {
            return Answer::NotMine;
        }
        if self.done {
            return Answer::Say("  already accepted: one execution per stream".to_string());
        }
        if self.two_way {
            self.choosing = true;
            return Answer::Say(self.which_side());
        }
        match self.live.iter().flatten().next() {
            Some(live) => {
                let side = live.side;
                self.ask(side, now_ms)
            }
            None => Answer::Say("  no client quote live: nothing to accept".to_string()),
        }
    }

    /// Shows `side`'s live quote and waits for Enter.
    fn ask(&mut self, side: Side, now_ms: StreamMs) -> Answer {
        let Some(live) = &self.live[slot(side)] else {
            return Answer::Say(match (self.two_way, side) {
                (false, _) => "  no client quote live: nothing to accept".to_string(),
                (true, Side::Buy) => "  no offer live: nothing to accept".to_string(),
                (true, Side::Sell) => "  no bid live: nothing to accept".to_string(),
            });
        };
        self.asking = Some(Asking {
            quote_id: live.quote_id.clone(),
            side,
            client_price: live.client_price,
            changed: false,
            shown_at_ms: now_ms,
        });
        Answer::Say(question(live, None))
    }

    /// The two-way question: the side the client takes, with each side's
    /// live price.
    fn which_side(&self) -> String {
        let price = |side: Side| match &self.live[slot(side)] {
            Some(quote) => format!(
                "{} {}",
                group_thousands(quote.client_price),
                quote_currency(quote)
            ),
            None => "none live".to_string(),
        };
        format!(
            "WHICH SIDE? b: the client buys at the offer {} · s: the client sells at the bid {}",
            price(Side::Buy),
            price(Side::Sell),
        )
    }
}

fn quote_currency(quote: &ClientQuote) -> crate::market::Asset {
    match quote.side {
        Side::Buy => quote.pays_asset,
        Side::Sell => quote.receives_asset,
    }
}

/// The question for `quote`; `was`: the price asked before it renewed.
fn question(quote: &ClientQuote, was: Option<String>) -> String {
    let currency = quote_currency(quote);
    let (base, notional) = match quote.side {
        Side::Buy => (quote.receives_asset, quote.client_pays),
        Side::Sell => (quote.pays_asset, quote.client_receives),
    };
    let price = group_thousands(quote.client_price);
    let changed = match was {
        Some(was) => format!("QUOTE CHANGED: now {price} {currency}, was {was}. "),
        None => String::new(),
    };
    format!(
        "{changed}ACCEPT? client {} {} {base} at {price} {currency} · notional {} {currency} \
         · quote {}: Enter executes at {price}, any other line cancels",
        quote.side.label(),
        quote.amount.normalize(),
        group_thousands(notional),
        quote.quote_id,
    )
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
    pub(crate) async fn next_line(&mut self) -> Option<String> {
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

/// Asks whom the request is for, among `clients`; an empty answer keeps
/// `previous`. `None` when the operator quits or input ends.
pub(crate) fn read_client(
    input: &mut impl BufRead,
    output: &mut impl Write,
    clients: &Clients,
    previous: &ClientId,
) -> io::Result<Option<ClientId>> {
    let names: Vec<String> = clients.names().iter().map(ToString::to_string).collect();
    let question = format!("Client ({}; Enter = {previous}): ", names.join(", "));
    ask_until(input, output, &question, |text: &str| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(previous.clone());
        }
        match clients.get(text) {
            Some(terms) => Ok(terms.id.clone()),
            None => Err(format!(
                "unknown client '{text}': the clients are {}",
                names.join(", ")
            )),
        }
    })
}

/// A request as the prompt reads it: the trade, asked on one side or on
/// both (`two_way`, the spec's side then the offer's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Requested {
    pub(crate) spec: RfqSpec,
    pub(crate) two_way: bool,
}

/// Reads one request: side (or both), amount, pair. An amount finer than the pair's
/// lot size, or under the pair's minimum (`minimum`: dust), is explained
/// once the pair is known, and the amount asked again.
///
/// A pair no configured LP quotes is explained and the pair asked again.
/// A request whose notional is above its pair's limit (or cannot be checked)
/// is only returned once the operator types `yes` or the amount again; any
/// other answer (an empty line too) drops it and the request is asked again
/// from the side.
pub(crate) fn read_request(
    input: &mut impl BufRead,
    output: &mut impl Write,
    limits: &NotionalLimits,
    minimum: &MinimumSize,
    quotable: &Quotable,
) -> io::Result<Option<Requested>> {
    loop {
        let Some(requested) = read_one_request(input, output, minimum, quotable)? else {
            return Ok(None);
        };
        let spec = requested.spec;
        let Some(warning) = limits.check(spec.pair, spec.fixed, spec.amount).warning() else {
            return Ok(Some(requested));
        };
        let Some(answer) = ask(
            input,
            output,
            &format!("{warning}: type yes or the amount again to ask for quotes: "),
        )?
        else {
            return Ok(None);
        };
        if spec.confirmed_by(&answer) {
            return Ok(Some(requested));
        }
        writeln!(output, "  not asked; enter the request again")?;
    }
}

/// The amount is in the base unless a currency follows it: `1000000 USDT`
/// fixes the quote leg.
const AMOUNT_PROMPT: &str = "Amount: ";

fn read_one_request(
    input: &mut impl BufRead,
    output: &mut impl Write,
    minimum: &MinimumSize,
    quotable: &Quotable,
) -> io::Result<Option<Requested>> {
    // `None`: both sides (a two-way request).
    let asked_side = |text: &str| -> Result<Option<Side>, String> {
        if crate::rfq::request::is_two_way(text) {
            return Ok(None);
        }
        text.parse::<Side>().map(Some).map_err(|_| {
            format!(
                "side '{}' is not one of b, buy, s, sell, 2w, two-way",
                text.trim()
            )
        })
    };
    let Some(side) = ask_until(
        input,
        output,
        "Side (b/buy, s/sell or 2w/two-way): ",
        asked_side,
    )?
    else {
        return Ok(None);
    };
    // The amount is kept as typed: it is checked against the pair's lot
    // once the pair is known, and never rounded.
    let Some(mut amount) = ask_until(input, output, AMOUNT_PROMPT, |text: &str| {
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
    let sized = |text: &str| -> Result<(Leg, rust_decimal::Decimal), String> {
        let (fixed, amount) = pair
            .parse_leg_amount(text)
            .map_err(|error| error.to_string())?;
        minimum
            .check(pair, fixed, amount)
            .map_err(|below| below.to_string())?;
        Ok((fixed, amount))
    };
    loop {
        match sized(&amount) {
            Ok((fixed, checked)) => {
                return Ok(Some(Requested {
                    spec: RfqSpec {
                        // A two-way request's spec carries the offer's
                        // side, as `quote two-way` does.
                        side: side.unwrap_or(Side::Buy),
                        amount: checked,
                        pair,
                        fixed,
                    },
                    two_way: side.is_none(),
                }));
            }
            Err(error) => {
                writeln!(output, "  {error}; try again")?;
                let parsed: Option<String> =
                    ask_until(input, output, AMOUNT_PROMPT, |text: &str| {
                        sized(text).map(|_| text.trim().to_string())
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
        let (requested, shown) = read_with(typed, quotable);
        (requested.map(|requested| requested.spec), shown)
    }

    fn read_with(typed: &str, quotable: &Quotable) -> (Option<Requested>, String) {
        let mut input = typed.as_bytes();
        let mut output = Vec::new();
        let spec = read_request(
            &mut input,
            &mut output,
            &NotionalLimits::uniform(dec!(1000000)),
            &MinimumSize::uniform(dec!(10)),
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
                "Side (b/buy, s/sell or 2w/two-way): Amount: Pair (e.g., BTCUSDT): ",
                "  no configured LP quotes DOGE/USDT (quotable: BTCUSDT, ETHUSDT); try again\n",
                "Pair (e.g., BTCUSDT): "
            )
        );
    }

    #[rstest::rstest]
    #[case("yes")]
    #[case("20")]
    fn a_notional_above_the_limit_is_asked_only_after_yes_or_the_amount_again(
        #[case] answer: &str,
    ) {
        let (spec, shown) = run(&format!("b\n20\nBTCUSDT\n{answer}\n"));
        assert_eq!(spec.unwrap().amount, dec!(20));
        assert!(shown.ends_with(
            "notional 2,000,000.00 USDT is above MAX_NOTIONAL 1,000,000: type yes or the amount again to ask for quotes: "
        ));
    }

    #[test]
    fn an_empty_line_does_not_confirm_a_fat_finger() {
        // Enter pressed once more after the pair, as a console hand would.
        let (spec, shown) = run("b\n500\nBTCUSDT\n\n");
        assert_eq!(spec, None, "nothing is asked for");
        assert!(shown.ends_with(
            "to ask for quotes:   not asked; enter the request again\nSide (b/buy, s/sell or 2w/two-way): "
        ));
    }

    #[test]
    fn a_notional_not_confirmed_is_dropped_and_the_request_asked_again() {
        let (spec, shown) = run("b\n20\nBTCUSDT\nno\ns\n2\nBTCUSDT\n");
        let spec = spec.unwrap();
        assert_eq!((spec.side, spec.amount), (Side::Sell, dec!(2)));
        assert!(shown.contains(
            "to ask for quotes:   not asked; enter the request again\nSide (b/buy, s/sell or 2w/two-way): "
        ));
    }

    #[test]
    fn dust_is_refused_by_name_and_the_amount_asked_again() {
        let (spec, shown) = run("s\n0.00000001\nBTCUSDT\n0.0001\n");
        assert_eq!(spec.unwrap().amount, dec!(0.0001));
        assert_eq!(
            shown,
            concat!(
                "Side (b/buy, s/sell or 2w/two-way): Amount: Pair (e.g., BTCUSDT): ",
                "  amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under MIN_NOTIONAL 10 USDT; try again\n",
                "Amount: "
            )
        );
    }

    #[test]
    fn a_pair_without_a_reference_price_needs_confirmation() {
        let (spec, shown) = run("b\n1\nDOGEUSDT\n");
        assert_eq!(spec, None);
        assert!(shown.ends_with(
            "notional of DOGE/USDT cannot be checked against MAX_NOTIONAL 1,000,000 (no reference price for DOGE/USDT): type yes or the amount again to ask for quotes: "
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
            "Side (b/buy, s/sell or 2w/two-way): Amount: Pair (e.g., BTCUSDT): "
        );
    }

    #[test]
    fn an_amount_with_the_quote_currency_fixes_the_quote_leg() {
        let (spec, _) = run("b\n1000000 usdt\nBTCUSDT\n");
        let spec = spec.unwrap();
        assert_eq!(
            (spec.amount, spec.fixed, spec.pair.symbol().as_str()),
            (dec!(1000000), Leg::Quote, "BTCUSDT")
        );
        let (spec, shown) = run("s\n1000000 ETH\nBTCUSDT\n1000000 USDT\n");
        assert_eq!(
            shown,
            "Side (b/buy, s/sell or 2w/two-way): Amount: Pair (e.g., BTCUSDT):   currency 'ETH' (--in) is not a leg of BTC/USDT: write BTC or USDT; try again\nAmount: "
        );
        assert_eq!(spec.unwrap().fixed, Leg::Quote);
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
            "Side (b/buy, s/sell or 2w/two-way):   side 'long' is not one of b, buy, s, sell, 2w, two-way; try again\n\
             Side (b/buy, s/sell or 2w/two-way): Amount:   amount 'lots' is not a number; try again\n\
             Amount:   amount '-2' must be greater than zero; try again\n\
             Amount: Pair (e.g., BTCUSDT):   pair 'BTCXYZ' has no known quote asset (known: USDT, USDC, USD, EUR, BTC, ETH); try again\n\
             Pair (e.g., BTCUSDT): "
        );
    }

    #[rstest::rstest]
    #[case("2w")]
    #[case("two-way")]
    #[case("2W")]
    fn two_way_is_read_as_a_request_for_both_sides(#[case] side: &str) {
        let (requested, shown) = read_with(&format!("{side}\n1.5\nBTCUSDT\n"), &Quotable::Any);
        let requested = requested.unwrap();
        assert!(requested.two_way);
        assert_eq!(
            (
                requested.spec.side,
                requested.spec.amount,
                requested.spec.pair.symbol().as_str()
            ),
            (Side::Buy, dec!(1.5), "BTCUSDT")
        );
        assert_eq!(
            shown,
            "Side (b/buy, s/sell or 2w/two-way): Amount: Pair (e.g., BTCUSDT): "
        );
        let (requested, _) = read_with("s\n1.5\nBTCUSDT\n", &Quotable::Any);
        assert!(!requested.unwrap().two_way);
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

    fn client_quote(t_ms: u64, quote_id: &str, client_price: rust_decimal::Decimal) -> RfqEvent {
        RfqEvent {
            rfq_id: Arc::from("R-test"),
            t_ms,
            kind: EventKind::ClientQuote(Box::new(ClientQuote {
                simulated: false,
                quote_id: Arc::from(quote_id),
                lp: Arc::from("LP1"),
                side: Side::Buy,
                lp_price: client_price - dec!(50),
                client_price,
                markup_bps: crate::market::Bps::new(dec!(5)).unwrap(),
                amount: dec!(1),
                client_pays: client_price,
                pays_asset: "BTCUSDT".parse::<Pair>().unwrap().quote,
                client_receives: dec!(1),
                receives_asset: "BTCUSDT".parse::<Pair>().unwrap().base,
                client_valid_for_ms: 8_000,
                reason: crate::rfq::event::QuoteReason::First,
            })),
            two_way_side: None,
        }
    }

    #[test]
    fn a_shows_the_price_and_enter_executes_exactly_that_quote() {
        let mut acceptance = Acceptance::default();
        assert_eq!(
            acceptance.on_event(&client_quote(100, "Q-1", dec!(100050.31)), 100),
            None
        );
        assert_eq!(
            acceptance.on_line("a\n", 1_000),
            Answer::Say(
                "ACCEPT? client BUY 1 BTC at 100,050.31 USDT · notional 100,050.31 USDT \
                 · quote Q-1: Enter executes at 100,050.31, any other line cancels"
                    .to_string()
            )
        );
        assert_eq!(
            acceptance.on_line("\n", 1_200),
            Answer::Execute(Arc::from("Q-1"))
        );
    }

    /// A two-way stream's client quote of `side`, tagged with it.
    fn side_quote(
        side: Side,
        t_ms: u64,
        quote_id: &str,
        client_price: rust_decimal::Decimal,
    ) -> RfqEvent {
        let mut event = client_quote(t_ms, quote_id, client_price);
        if let EventKind::ClientQuote(quote) = &mut event.kind {
            quote.side = side;
            if side == Side::Sell {
                quote.pays_asset = "BTCUSDT".parse::<Pair>().unwrap().base;
                quote.client_pays = dec!(1);
                quote.receives_asset = "BTCUSDT".parse::<Pair>().unwrap().quote;
                quote.client_receives = client_price;
            }
        }
        event.two_way_side = Some(side);
        event
    }

    /// `unverified` of `lp` at `price` on `side` (`None`: a one-sided
    /// stream's).
    fn unverified(side: Option<Side>, lp: &str, price: rust_decimal::Decimal) -> RfqEvent {
        let mut event = client_quote(100, "Q-unused", price);
        event.kind = EventKind::Unverified(crate::rfq::event::Unverified {
            lp: Arc::from(lp),
            price,
        });
        event.two_way_side = side;
        event
    }

    #[test]
    fn on_a_two_way_stream_r_asks_the_side_and_releases_only_that_side() {
        let mut releasable = ReleasableLps::new(true);
        assert_eq!(
            releasable.on_line("r"),
            Release::Say(NOTHING_TO_RELEASE.to_string())
        );
        releasable.on_event(&unverified(Some(Side::Buy), "A", dec!(100010.00)));
        releasable.on_event(&unverified(Some(Side::Buy), "B", dec!(100005.00)));
        releasable.on_event(&unverified(Some(Side::Sell), "A", dec!(99990.00)));
        assert_eq!(
            releasable.on_line("r"),
            Release::Say(
                "RELEASE WHICH SIDE? b: the offer, B's unverified 100,005.00 \
                 · s: the bid, A's unverified 99,990.00"
                    .to_string()
            )
        );
        assert!(releasable.choosing());
        assert_eq!(
            releasable.on_line("x"),
            Release::Say("  not released: b or s names the side".to_string())
        );
        releasable.on_line("release");
        assert_eq!(
            releasable.on_line("s"),
            Release::Send(StreamCommand::ReleaseUnverifiedSide { side: Side::Sell })
        );
        assert!(!releasable.choosing());
        // The bid offered (its client quote): only the offer is left.
        let mut offered = side_quote(Side::Sell, 200, "Q-bid-1", dec!(99890.01));
        if let EventKind::ClientQuote(quote) = &mut offered.kind {
            quote.lp = Arc::from("A");
        }
        releasable.on_event(&offered);
        releasable.on_line("r");
        assert_eq!(
            releasable.on_line("s"),
            Release::Say("  no unverified bid to release".to_string())
        );
        releasable.on_line("r");
        assert_eq!(
            releasable.on_line("buy"),
            Release::Send(StreamCommand::ReleaseUnverifiedSide { side: Side::Buy })
        );
    }

    #[test]
    fn on_a_one_sided_stream_r_releases_at_once() {
        let mut releasable = ReleasableLps::new(false);
        releasable.on_event(&unverified(None, "A", dec!(100010.00)));
        assert_eq!(
            releasable.on_line("r"),
            Release::Send(StreamCommand::ReleaseUnverified)
        );
        assert!(!releasable.choosing());
    }

    #[test]
    fn on_a_two_way_stream_a_asks_the_side_and_enter_executes_that_sides_quote() {
        let mut acceptance = Acceptance::new(true);
        acceptance.on_event(
            &side_quote(Side::Buy, 100, "Q-offer-1", dec!(100110.01)),
            100,
        );
        acceptance.on_event(&side_quote(Side::Sell, 100, "Q-bid-1", dec!(99890.01)), 100);
        assert_eq!(
            acceptance.on_line("a\n", 1_000),
            Answer::Say(
                "WHICH SIDE? b: the client buys at the offer 100,110.01 USDT \
                 · s: the client sells at the bid 99,890.01 USDT"
                    .to_string()
            )
        );
        assert_eq!(
            acceptance.on_line("s\n", 1_100),
            Answer::Say(
                "ACCEPT? client SELL 1 BTC at 99,890.01 USDT · notional 99,890.01 USDT \
                 · quote Q-bid-1: Enter executes at 99,890.01, any other line cancels"
                    .to_string()
            )
        );
        // The offer renewing does not touch the bid asked.
        assert_eq!(
            acceptance.on_event(
                &side_quote(Side::Buy, 1_150, "Q-offer-2", dec!(100100.00)),
                1_150
            ),
            None
        );
        assert_eq!(
            acceptance.on_line("\n", 1_200),
            Answer::Execute(Arc::from("Q-bid-1"))
        );
    }

    #[test]
    fn on_a_two_way_stream_a_side_without_a_live_quote_or_an_unknown_side_accepts_nothing() {
        let mut acceptance = Acceptance::new(true);
        acceptance.on_event(
            &side_quote(Side::Buy, 100, "Q-offer-1", dec!(100110.01)),
            100,
        );
        assert_eq!(
            acceptance.on_line("a\n", 1_000),
            Answer::Say(
                "WHICH SIDE? b: the client buys at the offer 100,110.01 USDT \
                 · s: the client sells at the bid none live"
                    .to_string()
            )
        );
        assert_eq!(
            acceptance.on_line("s\n", 1_100),
            Answer::Say("  no bid live: nothing to accept".to_string())
        );
        acceptance.on_line("a\n", 1_200);
        assert_eq!(
            acceptance.on_line("x\n", 1_300),
            Answer::Say("  not accepted: b or s names the side".to_string())
        );
        // The offer side's expiry takes its quote away.
        let mut expired = side_quote(Side::Buy, 2_000, "Q-offer-1", dec!(1));
        expired.kind = EventKind::LockExpired(crate::rfq::event::LockExpired {
            lp: Arc::from("LP1"),
        });
        acceptance.on_event(&expired, 2_000);
        acceptance.on_line("a\n", 2_100);
        assert_eq!(
            acceptance.on_line("b\n", 2_200),
            Answer::Say("  no offer live: nothing to accept".to_string())
        );
    }

    #[test]
    fn a_refresh_while_asked_is_shown_and_only_then_accepted() {
        let mut acceptance = Acceptance::default();
        acceptance.on_event(&client_quote(100, "Q-1", dec!(100050.31)), 100);
        acceptance.on_line("a\n", 1_000);
        // The quote expires and is refreshed at another price while asked.
        let expired = RfqEvent {
            rfq_id: Arc::from("R-test"),
            t_ms: 8_100,
            kind: EventKind::LockExpired(crate::rfq::event::LockExpired {
                lp: Arc::from("LP1"),
            }),
            two_way_side: None,
        };
        assert_eq!(
            acceptance.on_event(&expired, 8_100).as_deref(),
            Some("  the quote expired: Enter will accept nothing until a fresh one is shown")
        );
        assert_eq!(
            acceptance.on_event(&client_quote(8_300, "Q-2", dec!(100083.83)), 8_300),
            Some(
                "QUOTE CHANGED: now 100,083.83 USDT, was 100,050.31. ACCEPT? client BUY 1 BTC \
                 at 100,083.83 USDT · notional 100,083.83 USDT · quote Q-2: Enter executes at \
                 100,083.83, any other line cancels"
                    .to_string()
            )
        );
        // An Enter typed as the price changed was meant for the old one.
        assert_eq!(
            acceptance.on_line("\n", 8_300),
            Answer::Say(
                "  the price just changed: Enter again to accept 100,083.83 USDT".to_string()
            )
        );
        assert_eq!(
            acceptance.on_line("\n", 8_900),
            Answer::Execute(Arc::from("Q-2"))
        );
    }

    #[test]
    fn any_other_line_cancels_and_a_line_not_about_accepting_is_not_taken() {
        let mut acceptance = Acceptance::default();
        assert_eq!(
            acceptance.on_line("a\n", 0),
            Answer::Say("  no client quote live: nothing to accept".to_string())
        );
        acceptance.on_event(&client_quote(100, "Q-1", dec!(100050.31)), 100);
        acceptance.on_line("a\n", 1_000);
        assert_eq!(
            acceptance.on_line("no\n", 1_100),
            Answer::Say("  not accepted".to_string())
        );
        assert_eq!(acceptance.on_line("\n", 1_200), Answer::NotMine);
        assert_eq!(acceptance.on_line("b\n", 1_300), Answer::NotMine);
    }

    #[test]
    fn quit_or_end_of_input_leaves_quietly() {
        assert_eq!(run("q\n").0, None);
        assert_eq!(run("b\n1\n").0, None);
        assert_eq!(run("").0, None);
    }
}
