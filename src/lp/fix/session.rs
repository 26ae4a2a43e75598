//! One FIX 4.4 initiator session per venue: a tokio task that owns the TCP
//! connection and its sequence numbers, and that callers talk to over an
//! mpsc channel with a oneshot back per QuoteReqID (131) or ClOrdID (11),
//! as mini-redis's buffered client is an actor over its connection.
//!
//! The session layer behaves as a FIX engine such as QuickFIX does: Logon
//! (with ResetSeqNumFlag by default), heartbeats, TestRequests both ways,
//! sequence numbers checked both ways (a gap asks for a resend; a resend
//! asked of us is gap-filled, since stale quote requests and orders are
//! never sent again), Reject logged, Logout both ways, reconnect with
//! exponential backoff. While it is down every request fails at once.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::lp::fix::audit::{AuditLog, Direction};
use crate::lp::fix::codec::{msg_type, tag, utc_timestamp, Frame, Framer, Message};
use crate::secret::Secret;

/// How the session reaches and identifies itself to one venue.
#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    /// The venue's name, used in messages and the audit log.
    pub(crate) venue: Arc<str>,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Ours (49 on what we send).
    pub(crate) sender_comp_id: String,
    /// Theirs (56 on what we send).
    pub(crate) target_comp_id: String,
    /// HeartBtInt (108), whole seconds, at least one.
    pub(crate) heartbeat: Duration,
    /// Username (553), sent in the Logon when set.
    pub(crate) username: Option<String>,
    /// Password (554), sent in the Logon when set; masked in the audit log.
    pub(crate) password: Option<Secret>,
    /// Send ResetSeqNumFlag (141=Y) and start both sequences at 1 on every
    /// logon; otherwise sequences carry on across reconnects.
    pub(crate) reset_on_logon: bool,
    /// The first wait before reconnecting after a drop; doubled after each
    /// failed attempt up to `reconnect_max`.
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    /// How long a TCP connect, the answer to our Logon, or one write may take.
    pub(crate) logon_timeout: Duration,
    /// How long shutdown waits for the venue's Logout after ours.
    pub(crate) logout_timeout: Duration,
}

/// Whether the session can carry requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Logged on.
    Up,
    /// Not logged on, and why (connecting, dropped, refused): requests fail
    /// at once while it reconnects.
    Down(String),
    /// The venue refused our Logon: requests fail as an authentication
    /// error until a later logon succeeds.
    AuthFailed(String),
    /// Shut down for good.
    Closed,
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkState::Up => f.write_str("logged on"),
            LinkState::Down(reason) => f.write_str(reason),
            LinkState::AuthFailed(text) => write!(f, "logon refused: {text}"),
            LinkState::Closed => f.write_str("session shut down"),
        }
    }
}

/// Which id an answer is matched by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    /// By QuoteReqID (131): completed by a Quote (S) or a
    /// QuoteRequestReject (AG).
    Quote,
    /// By ClOrdID (11): completed by an ExecutionReport (8) that settles
    /// the order, or one answering an OrderStatusRequest (150=I).
    Order,
}

/// Why a request got no answer from the venue.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Never sent: the session was not logged on.
    NotConnected(LinkState),
    /// Never sent, for another reason (a duplicate id).
    Refused(String),
    /// Sent, then the connection was lost (or the session shut down)
    /// before an answer: the venue may or may not have acted on it.
    Lost(String),
    /// The venue rejected the message at session level (35=3).
    SessionReject(Message),
}

/// What a request gets back.
pub type Answer = Result<Message, Failure>;

enum Command {
    Request {
        route: Route,
        key: String,
        body: Message,
        reply: oneshot::Sender<Answer>,
    },
    Send {
        body: Message,
        sent: oneshot::Sender<Result<(), Failure>>,
    },
    Forget {
        route: Route,
        key: String,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Room for requests on their way to the session; callers wait (briefly)
/// when it is full rather than growing a queue without bound.
const COMMAND_QUEUE: usize = 1024;

/// The way to one venue's session, cloned by everyone who uses it.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<LinkState>,
}

/// An answer still to come. Dropping it before the answer arrived (the
/// engine timed the request out) removes the request from the session, so
/// a late answer is dropped rather than delivered to anyone.
pub(crate) struct PendingAnswer {
    route: Route,
    key: String,
    reply: oneshot::Receiver<Answer>,
    commands: mpsc::Sender<Command>,
    settled: bool,
}

impl PendingAnswer {
    /// Waits for the answer. Cancel-safe: a wait cut short by a timeout can
    /// be resumed by calling again.
    pub(crate) async fn answer(&mut self) -> Answer {
        if self.settled {
            return Err(Failure::Refused("answer already taken".to_string()));
        }
        let answer = (&mut self.reply)
            .await
            .unwrap_or_else(|_| Err(Failure::Lost("session ended".to_string())));
        self.settled = true;
        answer
    }
}

impl Drop for PendingAnswer {
    fn drop(&mut self) {
        if !self.settled {
            // If the queue is full the session's periodic sweep of closed
            // replies removes the entry instead.
            let _ = self.commands.try_send(Command::Forget {
                route: self.route,
                key: std::mem::take(&mut self.key),
            });
        }
    }
}

impl SessionHandle {
    /// Starts the session task (on the current tokio runtime); it connects
    /// and logs on in the background and reconnects until shut down.
    pub(crate) fn start(config: SessionConfig, audit: AuditLog) -> SessionHandle {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let initial = LinkState::Down(format!("connecting to {}:{}", config.host, config.port));
        let (state_tx, state) = watch::channel(initial);
        let actor = Actor {
            cfg: config,
            audit,
            state: state_tx,
            pending: HashMap::new(),
            next_out: 1,
            next_in: 1,
            ahead: BTreeSet::new(),
            resend_pending: false,
            closing: false,
            waiters: Vec::new(),
            test_requests: 0,
        };
        tokio::spawn(actor.run(rx));
        SessionHandle { commands, state }
    }

    /// The session's state now.
    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// Waits up to `limit` until `done` holds for the state, and returns
    /// the state then.
    pub(crate) async fn wait_for_state(
        &self,
        limit: Duration,
        done: impl FnMut(&LinkState) -> bool,
    ) -> LinkState {
        let mut state = self.state.clone();
        let _ = tokio::time::timeout(limit, state.wait_for(done)).await;
        let now = state.borrow().clone();
        now
    }

    /// Sends `body` and registers for the answer matched by `key` on
    /// `route`. Fails at once when the session is not logged on.
    pub(crate) async fn request(
        &self,
        route: Route,
        key: String,
        body: Message,
    ) -> Result<PendingAnswer, Failure> {
        let state = self.state();
        if state != LinkState::Up {
            return Err(Failure::NotConnected(state));
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            route,
            key: key.clone(),
            body,
            reply,
        };
        if self.commands.send(command).await.is_err() {
            return Err(Failure::NotConnected(LinkState::Closed));
        }
        Ok(PendingAnswer {
            route,
            key,
            reply: answer,
            commands: self.commands.clone(),
            settled: false,
        })
    }

    /// Sends `body` expecting no answer of its own, and waits until it is
    /// written.
    pub(crate) async fn send(&self, body: Message) -> Result<(), Failure> {
        let state = self.state();
        if state != LinkState::Up {
            return Err(Failure::NotConnected(state));
        }
        let (sent, written) = oneshot::channel();
        if self
            .commands
            .send(Command::Send { body, sent })
            .await
            .is_err()
        {
            return Err(Failure::NotConnected(LinkState::Closed));
        }
        written
            .await
            .unwrap_or(Err(Failure::NotConnected(LinkState::Closed)))
    }

    /// Logs out (waiting briefly for the venue's Logout), closes the
    /// connection and ends the session. Requests still waiting fail as
    /// lost; later requests fail as not connected.
    pub(crate) async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}

/// A request waiting for its answer.
struct Pending {
    reply: oneshot::Sender<Answer>,
    /// MsgSeqNum it went out with, to match a session-level Reject (45).
    seq: u64,
}

/// One connection's halves and the bytes read but not yet framed.
struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    framer: Framer,
    last_sent: Instant,
    last_received: Instant,
    /// Our TestRequest still unanswered: its id and when it went out.
    test_request: Option<(String, Instant)>,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        let (reader, writer) = stream.into_split();
        let now = Instant::now();
        Conn {
            reader,
            writer,
            framer: Framer::new(),
            last_sent: now,
            last_received: now,
            test_request: None,
        }
    }
}

/// How a logon attempt failed.
enum LogonError {
    Down(String),
    Auth(String),
}

/// How a logged-on session ended.
enum End {
    /// Dropped, logged out by the venue, or closed by us after a protocol
    /// breach: reconnect.
    Lost(String),
    /// Shut down on request.
    Shutdown,
}

/// What to do after one message.
enum Flow {
    Go,
    End(String),
    /// The venue answered our Logout.
    LoggedOut,
}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8192;

struct Actor {
    cfg: SessionConfig,
    audit: AuditLog,
    state: watch::Sender<LinkState>,
    pending: HashMap<(Route, String), Pending>,
    /// MsgSeqNum of our next message.
    next_out: u64,
    /// MsgSeqNum we expect next from the venue.
    next_in: u64,
    /// Numbers received above a gap, waiting for it to be filled.
    ahead: BTreeSet<u64>,
    /// A ResendRequest of ours is outstanding.
    resend_pending: bool,
    /// We sent Logout and wait for the venue's.
    closing: bool,
    waiters: Vec<oneshot::Sender<()>>,
    test_requests: u64,
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut backoff = self.cfg.reconnect_min;
        let mut stop = false;
        while !stop {
            let attempt = {
                let state = self.state.subscribe();
                let waiters = &mut self.waiters;
                let mut logon_attempt = std::pin::pin!(connect_and_logon(
                    &self.cfg,
                    &mut self.audit,
                    &mut self.next_out,
                    &mut self.next_in,
                ));
                loop {
                    tokio::select! {
                        result = &mut logon_attempt => break Some(result),
                        command = rx.recv() => {
                            if refuse(command, &state.borrow(), waiters) {
                                break None;
                            }
                        }
                    }
                }
            };
            match attempt {
                None => {
                    self.audit.event("shut down while connecting");
                    stop = true;
                }
                Some(Ok((conn, logon_gap))) => {
                    backoff = self.cfg.reconnect_min;
                    self.ahead.clear();
                    self.resend_pending = false;
                    self.closing = false;
                    self.state.send_replace(LinkState::Up);
                    tracing::info!(venue = %self.cfg.venue, "fix session logged on");
                    match self.serve(conn, logon_gap, &mut rx).await {
                        End::Shutdown => stop = true,
                        End::Lost(reason) => {
                            tracing::warn!(venue = %self.cfg.venue, %reason, "fix session down");
                            self.audit.event(&format!("disconnected: {reason}"));
                            self.state.send_replace(LinkState::Down(reason.clone()));
                            self.fail_pending(&format!("connection lost: {reason}"));
                        }
                    }
                }
                Some(Err(LogonError::Auth(text))) => {
                    tracing::error!(venue = %self.cfg.venue, %text, "fix logon refused");
                    self.audit.event(&format!("logon refused: {text}"));
                    self.state.send_replace(LinkState::AuthFailed(text));
                    // Credentials do not fix themselves: try again rarely.
                    backoff = self.cfg.reconnect_max;
                }
                Some(Err(LogonError::Down(reason))) => {
                    tracing::warn!(venue = %self.cfg.venue, %reason, "fix logon failed");
                    self.audit.event(&format!("logon failed: {reason}"));
                    if !matches!(*self.state.borrow(), LinkState::AuthFailed(_)) {
                        self.state.send_replace(LinkState::Down(reason));
                    }
                }
            }
            if stop {
                break;
            }
            let state = self.state.subscribe();
            let mut pause = std::pin::pin!(tokio::time::sleep(backoff));
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    command = rx.recv() => {
                        if refuse(command, &state.borrow(), &mut self.waiters) {
                            stop = true;
                            break;
                        }
                    }
                }
            }
            backoff = (backoff * 2).min(self.cfg.reconnect_max);
        }
        self.state.send_replace(LinkState::Closed);
        self.fail_pending("session shut down");
        // Requests still queued were never written: they fail as not
        // connected (an order among them was not sent, so it is not
        // unknown).
        rx.close();
        while let Ok(command) = rx.try_recv() {
            refuse(Some(command), &LinkState::Closed, &mut self.waiters);
        }
        self.audit.event("session closed");
        for done in self.waiters.drain(..) {
            let _ = done.send(());
        }
    }

    /// Runs a logged-on connection until it ends. `logon_gap` is the
    /// venue's Logon MsgSeqNum when it already skipped numbers.
    async fn serve(
        &mut self,
        mut conn: Conn,
        logon_gap: Option<u64>,
        rx: &mut mpsc::Receiver<Command>,
    ) -> End {
        if let Some(seq) = logon_gap {
            self.ahead.insert(seq);
            if let Err(reason) = self.ask_resend(&mut conn).await {
                return End::Lost(reason);
            }
        }
        let mut logout_deadline: Option<Instant> = None;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            // Frames may already wait from the read that carried the Logon.
            while let Some(frame) = conn.framer.next_frame() {
                match self.on_frame(&mut conn, frame).await {
                    Flow::Go => {}
                    Flow::End(reason) => return End::Lost(reason),
                    Flow::LoggedOut => return End::Shutdown,
                }
            }
            let deadline = self.next_timer(&conn, logout_deadline);
            tokio::select! {
                read = conn.reader.read(&mut buf) => match read {
                    Ok(0) if self.closing => return End::Shutdown,
                    Ok(0) => return End::Lost("connection closed by the venue".to_string()),
                    Ok(n) => {
                        conn.last_received = Instant::now();
                        conn.test_request = None;
                        conn.framer.push(&buf[..n]);
                    }
                    Err(error) if self.closing => {
                        self.audit.event(&format!("read failed while logging out: {error}"));
                        return End::Shutdown;
                    }
                    Err(error) => return End::Lost(format!("read failed: {error}")),
                },
                command = rx.recv(), if !self.closing => {
                    let command = command.unwrap_or_else(|| {
                        // Every handle is gone: nobody can use the session.
                        let (done, _) = oneshot::channel();
                        Command::Shutdown { done }
                    });
                    match self.on_command(&mut conn, command).await {
                        Ok(true) => logout_deadline = Some(Instant::now() + self.cfg.logout_timeout),
                        Ok(false) => {}
                        Err(reason) if self.closing => {
                            self.audit.event(&format!("logout not sent: {reason}"));
                            return End::Shutdown;
                        }
                        Err(reason) => return End::Lost(reason),
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    if logout_deadline.is_some_and(|at| Instant::now() >= at) {
                        self.audit.event("no Logout from the venue in time; closing");
                        return End::Shutdown;
                    }
                    if let Err(reason) = self.on_timer(&mut conn).await {
                        if self.closing {
                            return End::Shutdown;
                        }
                        return End::Lost(reason);
                    }
                }
            }
        }
    }

    /// When the next heartbeat, TestRequest, silence limit or logout limit
    /// falls due.
    fn next_timer(&self, conn: &Conn, logout_deadline: Option<Instant>) -> Instant {
        let hb = self.cfg.heartbeat;
        let heartbeat_due = conn.last_sent + hb;
        // As QuickFIX: a TestRequest after 1.2 intervals of silence, and
        // the connection is given up 1.2 intervals after that.
        let silence_due = match &conn.test_request {
            Some((_, sent)) => *sent + hb * 6 / 5,
            None => conn.last_received + hb * 6 / 5,
        };
        let mut due = heartbeat_due.min(silence_due);
        if let Some(at) = logout_deadline {
            due = due.min(at);
        }
        due
    }

    async fn on_timer(&mut self, conn: &mut Conn) -> Result<(), String> {
        let now = Instant::now();
        let hb = self.cfg.heartbeat;
        // A receiver dropped without its Forget arriving (queue full).
        self.pending.retain(|_, p| !p.reply.is_closed());
        match &conn.test_request {
            Some((id, sent)) if now >= *sent + hb * 6 / 5 => {
                return Err(format!(
                    "venue silent: no answer to TestRequest '{id}' within {} ms",
                    (hb * 6 / 5).as_millis()
                ));
            }
            None if now >= conn.last_received + hb * 6 / 5 => {
                self.test_requests += 1;
                let id = format!("TEST-{}", self.test_requests);
                let request = Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, &id);
                self.write(conn, &request).await?;
                conn.test_request = Some((id, now));
            }
            _ => {}
        }
        if now >= conn.last_sent + hb {
            self.write(conn, &Message::new(msg_type::HEARTBEAT)).await?;
        }
        Ok(())
    }

    /// Handles one command; `Ok(true)` when it started the logout.
    async fn on_command(&mut self, conn: &mut Conn, command: Command) -> Result<bool, String> {
        match command {
            Command::Request {
                route,
                key,
                body,
                reply,
            } => {
                let id = (route, key);
                if self.pending.contains_key(&id) {
                    let _ = reply.send(Err(Failure::Refused(format!(
                        "a request with id '{}' is already waiting",
                        id.1
                    ))));
                    return Ok(false);
                }
                match self.write(conn, &body).await {
                    Ok(seq) => {
                        self.pending.insert(id, Pending { reply, seq });
                        Ok(false)
                    }
                    Err(reason) => {
                        // Part of it may have reached the venue.
                        let _ = reply.send(Err(Failure::Lost(reason.clone())));
                        Err(reason)
                    }
                }
            }
            Command::Send { body, sent } => match self.write(conn, &body).await {
                Ok(_) => {
                    let _ = sent.send(Ok(()));
                    Ok(false)
                }
                Err(reason) => {
                    let _ = sent.send(Err(Failure::Lost(reason.clone())));
                    Err(reason)
                }
            },
            Command::Forget { route, key } => {
                self.pending.remove(&(route, key));
                Ok(false)
            }
            Command::Shutdown { done } => {
                self.waiters.push(done);
                self.closing = true;
                self.audit.event("logging out");
                self.write(conn, &Message::new(msg_type::LOGOUT)).await?;
                Ok(true)
            }
        }
    }

    async fn on_frame(
        &mut self,
        conn: &mut Conn,
        frame: Result<Frame, crate::lp::fix::codec::FrameError>,
    ) -> Flow {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                // Dropped unread, as a FIX engine does with a garbled
                // message: its number then shows as a gap and is resent.
                tracing::warn!(venue = %self.cfg.venue, %error, "bad bytes from fix venue");
                self.audit.event(&format!("dropped: {error}"));
                return Flow::Go;
            }
        };
        self.audit.message(Direction::In, &frame.raw);
        match self.on_message(conn, frame.message).await {
            Ok(flow) => flow,
            Err(reason) => Flow::End(reason),
        }
    }

    /// Checks a message's identity and sequence number, then acts on it.
    async fn on_message(&mut self, conn: &mut Conn, msg: Message) -> Result<Flow, String> {
        let sender = msg.get(tag::SENDER_COMP_ID);
        let target = msg.get(tag::TARGET_COMP_ID);
        if sender != Some(self.cfg.target_comp_id.as_str())
            || target != Some(self.cfg.sender_comp_id.as_str())
        {
            let text = format!(
                "CompID problem: got SenderCompID '{}' TargetCompID '{}', expected '{}' '{}'",
                sender.unwrap_or(""),
                target.unwrap_or(""),
                self.cfg.target_comp_id,
                self.cfg.sender_comp_id
            );
            let reject = Message::new(msg_type::REJECT)
                .with(tag::REF_SEQ_NUM, msg.get(tag::MSG_SEQ_NUM).unwrap_or("0"))
                .with(tag::SESSION_REJECT_REASON, 9)
                .with(tag::TEXT, &text);
            self.write(conn, &reject).await?;
            return self.logout_and_end(conn, text).await;
        }
        let Some(seq) = msg.seq_num() else {
            let text = "MsgSeqNum (34) missing or not a number".to_string();
            return self.logout_and_end(conn, text).await;
        };
        let kind = msg.msg_type().to_string();
        if kind == msg_type::SEQUENCE_RESET && msg.get(tag::GAP_FILL_FLAG) != Some("Y") {
            // Reset mode moves the number whatever MsgSeqNum says.
            match msg.get(tag::NEW_SEQ_NO).and_then(|n| n.parse::<u64>().ok()) {
                Some(new) if new >= self.next_in => {
                    self.next_in = new;
                    self.settle_ahead();
                }
                _ => self
                    .audit
                    .event("ignored a SequenceReset that would move numbers back"),
            }
            return Ok(Flow::Go);
        }
        if seq > self.next_in {
            self.ahead.insert(seq);
            if !self.resend_pending {
                self.ask_resend(conn).await?;
            }
            if kind == msg_type::SEQUENCE_RESET {
                // The resend we asked for covers what it would fill.
                return Ok(Flow::Go);
            }
            // Acted on now (answers are matched by id, not order); its
            // number waits in `ahead` until the gap is filled.
            return self.dispatch(conn, msg).await;
        }
        if seq < self.next_in {
            if msg.poss_dup() {
                return Ok(Flow::Go);
            }
            let text = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.next_in
            );
            return self.logout_and_end(conn, text).await;
        }
        if kind == msg_type::SEQUENCE_RESET {
            let new = msg
                .get(tag::NEW_SEQ_NO)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            self.next_in = new.max(seq + 1);
            self.settle_ahead();
            return Ok(Flow::Go);
        }
        self.next_in = seq + 1;
        self.settle_ahead();
        self.dispatch(conn, msg).await
    }

    /// Moves past numbers already received above a filled gap.
    fn settle_ahead(&mut self) {
        self.ahead = self.ahead.split_off(&self.next_in);
        while self.ahead.remove(&self.next_in) {
            self.next_in += 1;
        }
        if self.ahead.is_empty() {
            self.resend_pending = false;
        }
    }

    async fn ask_resend(&mut self, conn: &mut Conn) -> Result<(), String> {
        self.audit.event(&format!(
            "gap: expected MsgSeqNum {}, asking for a resend",
            self.next_in
        ));
        let request = Message::new(msg_type::RESEND_REQUEST)
            .with(tag::BEGIN_SEQ_NO, self.next_in)
            .with(tag::END_SEQ_NO, 0);
        self.write(conn, &request).await?;
        self.resend_pending = true;
        Ok(())
    }

    /// Acts on a message whose number has been accepted.
    async fn dispatch(&mut self, conn: &mut Conn, msg: Message) -> Result<Flow, String> {
        match msg.msg_type() {
            msg_type::HEARTBEAT => {}
            msg_type::TEST_REQUEST => {
                let mut heartbeat = Message::new(msg_type::HEARTBEAT);
                if let Some(id) = msg.get(tag::TEST_REQ_ID) {
                    heartbeat.push(tag::TEST_REQ_ID, id);
                }
                self.write(conn, &heartbeat).await?;
            }
            msg_type::RESEND_REQUEST => self.gap_fill(conn, &msg).await?,
            msg_type::REJECT => self.on_reject(&msg),
            msg_type::LOGOUT => {
                if self.closing {
                    self.audit.event("logged out");
                    return Ok(Flow::LoggedOut);
                }
                let text = msg.get(tag::TEXT).unwrap_or("no reason given").to_string();
                self.write(conn, &Message::new(msg_type::LOGOUT)).await?;
                return Ok(Flow::End(format!("venue logged out: {text}")));
            }
            msg_type::LOGON => self.audit.event("ignored a Logon while logged on"),
            msg_type::QUOTE | msg_type::QUOTE_REQUEST_REJECT => {
                let key = msg.get(tag::QUOTE_REQ_ID).unwrap_or("").to_string();
                self.deliver(Route::Quote, key, msg);
            }
            msg_type::EXECUTION_REPORT => {
                let key = msg.get(tag::CL_ORD_ID).unwrap_or("").to_string();
                if settles_order(&msg) {
                    self.deliver(Route::Order, key, msg);
                } else if !self.pending.contains_key(&(Route::Order, key.clone())) {
                    self.note_unmatched(Route::Order, &key);
                }
            }
            msg_type::BUSINESS_MESSAGE_REJECT => {
                let key = msg
                    .get(tag::BUSINESS_REJECT_REF_ID)
                    .unwrap_or("")
                    .to_string();
                let route = if self.pending.contains_key(&(Route::Order, key.clone())) {
                    Route::Order
                } else {
                    Route::Quote
                };
                self.deliver(route, key, msg);
            }
            other => {
                self.audit
                    .event(&format!("ignored a message of type '{other}'"));
            }
        }
        Ok(Flow::Go)
    }

    /// Hands an answer to the request waiting for it, if one still is.
    fn deliver(&mut self, route: Route, key: String, msg: Message) {
        match self.pending.remove(&(route, key.clone())) {
            Some(pending) => {
                if pending.reply.send(Ok(msg)).is_err() {
                    self.note_unmatched(route, &key);
                }
            }
            None => self.note_unmatched(route, &key),
        }
    }

    /// An answer nobody waits for: its request timed out or was answered
    /// already. Dropped, and said so in the audit log; for an order this
    /// may be a fill the desk reported as unknown, so it is also logged
    /// loudly.
    fn note_unmatched(&mut self, route: Route, key: &str) {
        let (what, id) = match route {
            Route::Quote => ("QuoteReqID", tag::QUOTE_REQ_ID),
            Route::Order => ("ClOrdID", tag::CL_ORD_ID),
        };
        self.audit.event(&format!(
            "dropped an answer to {what} ({id}) '{key}' that no request waits for"
        ));
        match route {
            Route::Quote => tracing::debug!(venue = %self.cfg.venue, key, "late fix quote dropped"),
            Route::Order => tracing::warn!(
                venue = %self.cfg.venue,
                key,
                "execution report for an order no longer waited for: reconcile with the venue"
            ),
        }
    }

    fn on_reject(&mut self, msg: &Message) {
        let text = msg.get(tag::TEXT).unwrap_or("no reason given");
        let ref_seq = msg
            .get(tag::REF_SEQ_NUM)
            .and_then(|n| n.parse::<u64>().ok());
        tracing::warn!(
            venue = %self.cfg.venue,
            ref_seq = ?ref_seq,
            ref_tag = msg.get(tag::REF_TAG_ID).unwrap_or(""),
            reason = msg.get(tag::SESSION_REJECT_REASON).unwrap_or(""),
            text,
            "fix venue rejected one of our messages"
        );
        let Some(ref_seq) = ref_seq else { return };
        let rejected = self
            .pending
            .iter()
            .find(|(_, p)| p.seq == ref_seq)
            .map(|(id, _)| id.clone());
        if let Some(id) = rejected {
            if let Some(pending) = self.pending.remove(&id) {
                let _ = pending.reply.send(Err(Failure::SessionReject(msg.clone())));
            }
        }
    }

    /// Answers a ResendRequest with one SequenceReset-GapFill over the
    /// whole range: we never resend a quote request or an order, since the
    /// moment they were meant for has passed.
    async fn gap_fill(&mut self, conn: &mut Conn, msg: &Message) -> Result<(), String> {
        let begin = msg
            .get(tag::BEGIN_SEQ_NO)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        if begin >= self.next_out {
            self.audit.event(&format!(
                "nothing to resend from {begin}: next MsgSeqNum is {}",
                self.next_out
            ));
            return Ok(());
        }
        let fill = Message::new(msg_type::SEQUENCE_RESET)
            .with(tag::POSS_DUP_FLAG, "Y")
            .with(tag::ORIG_SENDING_TIME, utc_timestamp(Utc::now()))
            .with(tag::GAP_FILL_FLAG, "Y")
            .with(tag::NEW_SEQ_NO, self.next_out);
        self.write_as(conn, &fill, begin).await
    }

    async fn logout_and_end(&mut self, conn: &mut Conn, text: String) -> Result<Flow, String> {
        let logout = Message::new(msg_type::LOGOUT).with(tag::TEXT, &text);
        // The connection is given up either way; a failed write changes
        // nothing but the reason.
        if let Err(reason) = self.write(conn, &logout).await {
            self.audit.event(&format!("logout not sent: {reason}"));
        }
        Ok(Flow::End(text))
    }

    /// Sends a message with the next MsgSeqNum; returns that number.
    async fn write(&mut self, conn: &mut Conn, body: &Message) -> Result<u64, String> {
        let seq = self.next_out;
        self.write_as(conn, body, seq).await?;
        self.next_out += 1;
        Ok(seq)
    }

    /// Sends a message numbered `seq` without moving our sequence (a
    /// gap fill reuses the numbers it covers).
    async fn write_as(&mut self, conn: &mut Conn, body: &Message, seq: u64) -> Result<(), String> {
        let bytes = stamp(&self.cfg, body, seq).encode();
        self.audit.message(Direction::Out, &bytes);
        write_bytes(&mut conn.writer, &bytes, self.cfg.logon_timeout).await?;
        conn.last_sent = Instant::now();
        Ok(())
    }

    fn fail_pending(&mut self, reason: &str) {
        for (_, pending) in self.pending.drain() {
            let _ = pending.reply.send(Err(Failure::Lost(reason.to_string())));
        }
    }
}

/// True for an ExecutionReport the order's waiter should have: one that
/// settles the order, or the answer to our OrderStatusRequest.
fn settles_order(msg: &Message) -> bool {
    let exec_type = msg.get(tag::EXEC_TYPE).unwrap_or("");
    let status = msg.get(tag::ORD_STATUS).unwrap_or("");
    matches!(exec_type, "F" | "8" | "4" | "C" | "I") || matches!(status, "2" | "8" | "4" | "C")
}

/// Answers a command that arrives while not logged on; true when the
/// session should stop.
fn refuse(
    command: Option<Command>,
    state: &LinkState,
    waiters: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    match command {
        None => true,
        Some(Command::Request { reply, .. }) => {
            let _ = reply.send(Err(Failure::NotConnected(state.clone())));
            false
        }
        Some(Command::Send { sent, .. }) => {
            let _ = sent.send(Err(Failure::NotConnected(state.clone())));
            false
        }
        Some(Command::Forget { .. }) => false,
        Some(Command::Shutdown { done }) => {
            waiters.push(done);
            true
        }
    }
}

/// The message with the standard header: 49, 56, 34, 52, then its own
/// fields.
fn stamp(cfg: &SessionConfig, body: &Message, seq: u64) -> Message {
    let mut message = Message::new(body.msg_type())
        .with(tag::SENDER_COMP_ID, &cfg.sender_comp_id)
        .with(tag::TARGET_COMP_ID, &cfg.target_comp_id)
        .with(tag::MSG_SEQ_NUM, seq)
        .with(tag::SENDING_TIME, utc_timestamp(Utc::now()));
    for (t, value) in body.fields() {
        message.push(*t, value);
    }
    message
}

async fn write_bytes(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    limit: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("write failed: {error}")),
        Err(_) => Err(format!("write blocked for {} ms", limit.as_millis())),
    }
}

/// Connects and logs on. On success returns the connection and, when the
/// venue's Logon skipped numbers, its MsgSeqNum (to ask for a resend).
async fn connect_and_logon(
    cfg: &SessionConfig,
    audit: &mut AuditLog,
    next_out: &mut u64,
    next_in: &mut u64,
) -> Result<(Conn, Option<u64>), LogonError> {
    let addr = format!("{}:{}", cfg.host, cfg.port);
    audit.event(&format!("connecting to {addr}"));
    let stream = match tokio::time::timeout(
        cfg.logon_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            return Err(LogonError::Down(format!(
                "connect to {addr} failed: {error}"
            )))
        }
        Err(_) => {
            return Err(LogonError::Down(format!(
                "connect to {addr} timed out after {} ms",
                cfg.logon_timeout.as_millis()
            )))
        }
    };
    // Quotes are small and urgent: never hold one back to fill a packet.
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    if cfg.reset_on_logon {
        *next_out = 1;
        *next_in = 1;
    }
    let mut logon = Message::new(msg_type::LOGON)
        .with(tag::ENCRYPT_METHOD, 0)
        .with(tag::HEART_BT_INT, cfg.heartbeat.as_secs());
    if cfg.reset_on_logon {
        logon.push(tag::RESET_SEQ_NUM_FLAG, "Y");
    }
    if let Some(username) = &cfg.username {
        logon.push(tag::USERNAME, username);
    }
    if let Some(password) = &cfg.password {
        logon.push(tag::PASSWORD, password.expose());
    }
    let logon_seq = *next_out;
    let bytes = stamp(cfg, &logon, logon_seq).encode();
    audit.message(Direction::Out, &bytes);
    write_bytes(&mut conn.writer, &bytes, cfg.logon_timeout)
        .await
        .map_err(|e| LogonError::Down(format!("logon not sent: {e}")))?;
    *next_out += 1;
    conn.last_sent = Instant::now();

    let deadline = Instant::now() + cfg.logon_timeout;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        while let Some(frame) = conn.framer.next_frame() {
            let frame = match frame {
                Ok(frame) => frame,
                Err(error) => {
                    audit.event(&format!("dropped: {error}"));
                    continue;
                }
            };
            audit.message(Direction::In, &frame.raw);
            let msg = frame.message;
            match msg.msg_type() {
                msg_type::LOGON => {
                    let seq = msg.seq_num().unwrap_or(0);
                    if seq < *next_in {
                        let text = format!(
                            "MsgSeqNum too low, expecting {} but received {seq}",
                            *next_in
                        );
                        let logout = stamp(
                            cfg,
                            &Message::new(msg_type::LOGOUT).with(tag::TEXT, &text),
                            *next_out,
                        )
                        .encode();
                        audit.message(Direction::Out, &logout);
                        let _ = write_bytes(&mut conn.writer, &logout, cfg.logon_timeout).await;
                        *next_out += 1;
                        return Err(LogonError::Down(text));
                    }
                    let gap = (seq > *next_in).then_some(seq);
                    if gap.is_none() {
                        *next_in = seq + 1;
                    }
                    audit.event("logged on");
                    conn.last_received = Instant::now();
                    return Ok((conn, gap));
                }
                msg_type::LOGOUT => {
                    let text = msg
                        .get(tag::TEXT)
                        .unwrap_or("venue logged out right after our Logon")
                        .to_string();
                    return Err(LogonError::Auth(text));
                }
                msg_type::REJECT
                    if msg
                        .get(tag::REF_SEQ_NUM)
                        .is_none_or(|r| r == logon_seq.to_string()) =>
                {
                    let text = msg.get(tag::TEXT).unwrap_or("no reason given");
                    return Err(LogonError::Auth(format!("Logon rejected: {text}")));
                }
                other => audit.event(&format!("ignored a message of type '{other}' before logon")),
            }
        }
        let read = tokio::time::timeout_at(deadline, conn.reader.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) => {
                return Err(LogonError::Down(
                    "connection closed during logon".to_string(),
                ))
            }
            Ok(Ok(n)) => conn.framer.push(&buf[..n]),
            Ok(Err(error)) => {
                return Err(LogonError::Down(format!(
                    "connection lost during logon: {error}"
                )))
            }
            Err(_) => {
                return Err(LogonError::Down(format!(
                    "no answer to our Logon within {} ms",
                    cfg.logon_timeout.as_millis()
                )))
            }
        }
    }
}
