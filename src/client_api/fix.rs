//! The client API over FIX 4.4 (`lp-rfq serve --client-fix ADDR`): the
//! desk is the acceptor (its CompID from `--fix-comp-id`), each client an
//! initiator known by the clients file's `fix_comp_id`, with an optional
//! Password (554) from the variable `fix_password_env` names. The session
//! layer is what a client's FIX engine expects of a counterparty:
//! sequence numbers kept across restarts in a private file per session
//! (never a forced reset), ResendRequests answered (ExecutionReports
//! again with PossDupFlag, everything else gap-filled), heartbeats and
//! TestRequests, Logout both ways, and a garbled message answered with a
//! Reject (3) while the session goes on. The application messages are a
//! translation of the same client session the WebSocket API runs
//! (`session::ClientSession`): R, Z, D and H in; S, Z, AG and 8 out.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client_api::session::{ClientSession, Outgoing};
use crate::client_api::{ClientApi, ExecutionReport, Inbound, OrderStatus, Outbound};
use crate::clients::Clients;
use crate::lp::fix::audit::{AuditLog, Direction};
use crate::lp::fix::codec::{
    msg_type, parse_utc_timestamp, tag, utc_timestamp, Frame, FrameError, Framer, Message,
};
use crate::rfq::{Channel, ClientId};
use crate::secret::Secret;
use crate::tls::ServerStream;

/// The desk's CompID when `--fix-comp-id` is not given.
pub const DEFAULT_COMP_ID: &str = "LPRFQ";
/// How long a new connection has to send its Logon.
const LOGON_WITHIN: Duration = Duration::from_secs(10);
/// The HeartBtInt range a client may ask for, in seconds.
const HEARTBEAT_RANGE: std::ops::RangeInclusive<u64> = 1..=300;
/// How long a closing session's Logout may take to leave.
const FAREWELL_WITHIN: Duration = Duration::from_secs(2);
/// How long one message may take to leave before the client is
/// considered gone.
const WRITE_WITHIN: Duration = Duration::from_secs(10);

/// Tags this API reads that the LP side does not.
mod more_tag {
    pub const EXPIRE_TIME: u32 = 126;
    pub const CASH_ORDER_QTY: u32 = 152;
    pub const GROSS_TRADE_AMT: u32 = 381;
    pub const LEAVES_QTY: u32 = 151;
    pub const QUOTE_CANCEL_TYPE: u32 = 298;
    pub const REF_TAG_ID: u32 = 371;
    pub const SESSION_REJECT_REASON: u32 = 373;
    pub const BUSINESS_REJECT_REASON: u32 = 380;
    pub const QUOTE_TYPE: u32 = 537;
    pub const ORD_STATUS_REQ_ID: u32 = 790;
}

/// Message types this API reads that the LP side does not.
const QUOTE_CANCEL: &str = "Z";
const BUSINESS_MESSAGE_REJECT: &str = "j";

/// SessionRejectReason (373) values we send.
const REQUIRED_TAG_MISSING: u32 = 1;
const VALUE_INCORRECT: u32 = 5;
const INVALID_MSG_TYPE: u32 = 11;
const OTHER: u32 = 99;

/// Who may log on: each client's SenderCompID and, when it has one, its
/// password, read from the variables the clients file names at start.
pub struct FixClients {
    by_comp_id: HashMap<String, (ClientId, Option<Secret>)>,
}

impl FixClients {
    /// Reads every client with a `fix_comp_id`; refuses a missing password
    /// variable, a CompID two clients share, and a file where no client
    /// has one, naming the client and the variable (never the value).
    pub fn load(clients: &Clients, desk_comp_id: &str) -> Result<FixClients, String> {
        if !clients.from_file() {
            return Err(
                "--client-fix needs a clients file (--clients or CLIENTS_FILE) naming each client's fix_comp_id"
                    .into(),
            );
        }
        let mut by_comp_id: HashMap<String, (ClientId, Option<Secret>)> = HashMap::new();
        for name in clients.names() {
            let Some(terms) = clients.get(name.as_str()) else {
                continue;
            };
            let Some(comp_id) = terms.fix_comp_id() else {
                continue;
            };
            if comp_id == desk_comp_id {
                return Err(format!(
                    "client '{name}': fix_comp_id '{comp_id}' is the desk's own --fix-comp-id"
                ));
            }
            let password = match terms.fix_password_env() {
                None => None,
                Some(var) => Some(Secret::from_env(var).map_err(|error| {
                    format!("client '{name}': fix_password_env '{var}': {error}")
                })?),
            };
            if let Some((first, _)) = by_comp_id.get(comp_id) {
                return Err(format!(
                    "clients '{first}' and '{name}' have the same fix_comp_id '{comp_id}': each client needs its own"
                ));
            }
            by_comp_id.insert(comp_id.to_string(), (name, password));
        }
        if by_comp_id.is_empty() {
            return Err(
                "--client-fix: no client in the clients file has a fix_comp_id, so none could log on"
                    .into(),
            );
        }
        Ok(FixClients { by_comp_id })
    }

    /// The client logging on as `comp_id` with `password`, or why not.
    fn who(&self, comp_id: &str, password: Option<&str>) -> Result<ClientId, String> {
        let (client, expected) = self
            .by_comp_id
            .get(comp_id)
            .ok_or_else(|| format!("SenderCompID '{comp_id}' is not a client of this desk"))?;
        match (expected, password) {
            (None, _) => Ok(client.clone()),
            (Some(expected), Some(given)) if same_bytes(expected.expose(), given) => {
                Ok(client.clone())
            }
            (Some(_), None) => Err(format!("client '{client}' must send its Password (554)")),
            (Some(_), Some(_)) => Err(format!("client '{client}': wrong Password (554)")),
        }
    }
}

fn same_bytes(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut differ = a.len() ^ b.len();
    for (index, byte) in a.iter().enumerate() {
        differ |= usize::from(byte ^ b.get(index).copied().unwrap_or(!byte));
    }
    differ == 0
}

/// What every FIX connection of the desk shares.
pub struct FixAcceptor {
    pub api: Arc<ClientApi>,
    pub clients: FixClients,
    /// The desk's CompID (49 on what it sends, 56 on what it accepts).
    pub comp_id: String,
    /// Where each session's sequence numbers, sent ExecutionReports and
    /// audit log are kept (`<FIX_LOG_DIR>/clients`).
    pub dir: PathBuf,
    /// The CompIDs logged on now: one session per client at a time, or
    /// two would share (and spoil) its sequence numbers.
    pub logged_on: Mutex<HashSet<String>>,
}

/// A CompID's place in [`FixAcceptor::logged_on`], given back when the
/// session ends however it ends.
struct LoggedOn {
    acceptor: Arc<FixAcceptor>,
    comp_id: String,
}

impl Drop for LoggedOn {
    fn drop(&mut self) {
        self.acceptor
            .logged_on
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.comp_id);
    }
}

/// One session's numbers and the ExecutionReports it sent, on disk so
/// that a restarted desk carries on where it left off.
struct SessionStore {
    seqnums: PathBuf,
    sent: PathBuf,
    /// The next MsgSeqNum the desk sends.
    next_out: u64,
    /// The next MsgSeqNum the client should send.
    next_in: u64,
}

impl SessionStore {
    fn open(dir: &Path, desk: &str, client: &str) -> std::io::Result<SessionStore> {
        crate::private_files::create_dir_all(dir)?;
        let stem = safe_name(&format!("{desk}-{client}"));
        let seqnums = dir.join(format!("{stem}.seqnums"));
        let sent = dir.join(format!("{stem}.sent"));
        crate::private_files::create_if_missing(&seqnums)?;
        crate::private_files::create_if_missing(&sent)?;
        let text = std::fs::read_to_string(&seqnums)?;
        let mut numbers = text.split_whitespace().map(|n| n.parse::<u64>().ok());
        let (next_out, next_in) = match (numbers.next(), numbers.next()) {
            (Some(Some(out)), Some(Some(inn))) if out > 0 && inn > 0 => (out, inn),
            (None, _) => (1, 1),
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "'{}' is not two sequence numbers: fix or remove it",
                        seqnums.display()
                    ),
                ))
            }
        };
        Ok(SessionStore {
            seqnums,
            sent,
            next_out,
            next_in,
        })
    }

    fn save(&self) {
        let text = format!("{} {}\n", self.next_out, self.next_in);
        if let Err(error) = std::fs::write(&self.seqnums, text) {
            tracing::error!(path = %self.seqnums.display(), %error, "cannot keep the FIX session's sequence numbers");
        }
    }

    fn keep_sent(&self, raw: &[u8]) {
        let kept = crate::private_files::open_append(&self.sent)
            .and_then(|mut file| std::io::Write::write_all(&mut file, raw));
        if let Err(error) = kept {
            tracing::error!(path = %self.sent.display(), %error, "cannot keep a sent ExecutionReport for resending");
        }
    }

    /// The ExecutionReports sent with MsgSeqNum in `from..=to`.
    fn sent_between(&self, from: u64, to: u64) -> Vec<(u64, Message)> {
        let bytes = std::fs::read(&self.sent).unwrap_or_default();
        let mut framer = Framer::new();
        framer.push(&bytes);
        let mut found = Vec::new();
        while let Some(frame) = framer.next_frame() {
            let Ok(frame) = frame else { continue };
            let seq = frame
                .message
                .get(tag::MSG_SEQ_NUM)
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(seq) = seq.filter(|seq| (from..=to).contains(seq)) {
                found.push((seq, frame.message));
            }
        }
        found.sort_by_key(|(seq, _)| *seq);
        found.dedup_by_key(|(seq, _)| *seq);
        found
    }

    /// Both sequences back to 1 (the client asked, with 141=Y).
    fn reset(&mut self) {
        self.next_out = 1;
        self.next_in = 1;
        let _ = std::fs::write(&self.sent, b"");
        self.save();
    }
}

fn safe_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What the client asked for, kept so that the answers can name it (a
/// Quote carries its Symbol; an ExecutionReport its Symbol, Side and
/// OrderQty, or CashOrderQty and Currency).
#[derive(Clone)]
struct Asked {
    symbol: String,
    side: Option<String>,
    qty: Option<String>,
    /// CashOrderQty (152) and its Currency (15), when the amount was one.
    cash: Option<(String, String)>,
}

/// One client's FIX connection, from its Logon to its close.
pub(crate) async fn connection(
    mut socket: ServerStream,
    peer: SocketAddr,
    acceptor: Arc<FixAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 16 << 10];
    // The Logon: the first message, within LOGON_WITHIN.
    let logon = tokio::time::timeout(LOGON_WITHIN, async {
        loop {
            if let Some(frame) = framer.next_frame() {
                return frame.ok();
            }
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => framer.push(&buf[..n]),
            }
        }
    })
    .await;
    let Ok(Some(logon)) = logon else {
        tracing::info!(%peer, "FIX connection closed before a Logon");
        return;
    };
    let msg = &logon.message;
    let refused = |why: String| async move {
        tracing::warn!(%peer, "FIX client refused: {why}");
        why
    };
    let sender = msg.get(tag::SENDER_COMP_ID).unwrap_or("").to_string();
    let why = if msg.msg_type() != msg_type::LOGON {
        Some(
            refused(format!(
                "the first message must be a Logon (A), not '{}'",
                msg.msg_type()
            ))
            .await,
        )
    } else if msg.get(tag::TARGET_COMP_ID) != Some(acceptor.comp_id.as_str()) {
        Some(
            refused(format!(
                "TargetCompID '{}' is not this desk's '{}'",
                msg.get(tag::TARGET_COMP_ID).unwrap_or(""),
                acceptor.comp_id
            ))
            .await,
        )
    } else {
        None
    };
    let client = match why {
        Some(why) => Err(why),
        None => match acceptor.clients.who(&sender, msg.get(tag::PASSWORD)) {
            Ok(client) => Ok(client),
            Err(why) => Err(refused(why).await),
        },
    };
    let heartbeat = msg
        .get(tag::HEART_BT_INT)
        .and_then(|h| h.parse::<u64>().ok())
        .filter(|h| HEARTBEAT_RANGE.contains(h));
    let client = match (client, heartbeat) {
        (Ok(client), Some(heartbeat)) => (client, Duration::from_secs(heartbeat)),
        (Ok(_), None) => {
            let why = refused(format!(
                "HeartBtInt (108) '{}' must be whole seconds from 1 to 300",
                msg.get(tag::HEART_BT_INT).unwrap_or("")
            ))
            .await;
            return refuse_logon(socket, &acceptor.comp_id, &sender, why).await;
        }
        (Err(why), _) => return refuse_logon(socket, &acceptor.comp_id, &sender, why).await,
    };
    let (client, heartbeat) = client;
    let fresh = acceptor
        .logged_on
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(sender.clone());
    if !fresh {
        let why = refused(format!("client '{client}' already has a session logged on")).await;
        return refuse_logon(socket, &acceptor.comp_id, &sender, why).await;
    }
    let _logged_on = LoggedOn {
        acceptor: acceptor.clone(),
        comp_id: sender.clone(),
    };
    let store = match SessionStore::open(&acceptor.dir, &acceptor.comp_id, &sender) {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%peer, %client, "cannot open the FIX session's store: {error}");
            let why = "the desk cannot keep this session's sequence numbers right now".into();
            return refuse_logon(socket, &acceptor.comp_id, &sender, why).await;
        }
    };
    let audit = AuditLog::open(&acceptor.dir, &format!("{}-{sender}", acceptor.comp_id)).ok();
    let (out, to_send) = Outgoing::new();
    let overflow = out.overflow();
    let session = ClientSession::new(acceptor.api.clone(), client.clone(), Channel::Fix, out);
    let mut conn = FixConnection {
        socket,
        framer,
        acceptor: acceptor.clone(),
        client: client.clone(),
        their_comp_id: sender,
        heartbeat,
        store,
        audit,
        session,
        asked: HashMap::new(),
        orders: HashMap::new(),
        last_sent: Instant::now(),
        last_received: Instant::now(),
        test_request_out: None,
        resend_asked: false,
        exec_ids: 0,
        logout_sent: false,
    };
    if let Some(audit) = conn.audit.as_mut() {
        audit.message(Direction::In, &logon.raw);
    }
    tracing::info!(%peer, %client, "client logged on (fix)");
    if conn.logon(&logon.message).await.is_ok() {
        conn.run(to_send, overflow, &mut stop).await;
    }
    let FixConnection { session, .. } = conn;
    session.close().await;
    tracing::info!(%peer, %client, "client left (fix)");
}

/// Answers a refused Logon with a Logout saying why (never the password),
/// then closes.
async fn refuse_logon(mut socket: ServerStream, desk: &str, them: &str, why: String) {
    let logout = Message::new(msg_type::LOGOUT)
        .with(tag::MSG_SEQ_NUM, 1)
        .with(tag::SENDER_COMP_ID, desk)
        .with(tag::TARGET_COMP_ID, them)
        .with(tag::SENDING_TIME, utc_timestamp(Utc::now()))
        .with(tag::TEXT, why);
    let _ = tokio::time::timeout(FAREWELL_WITHIN, async {
        let _ = socket.write_all(&logout.encode()).await;
        let _ = socket.flush().await;
        let _ = socket.shutdown().await;
    })
    .await;
}

/// Why the session loop ended.
type Ended = Result<(), String>;

struct FixConnection {
    socket: ServerStream,
    framer: Framer,
    acceptor: Arc<FixAcceptor>,
    client: ClientId,
    their_comp_id: String,
    heartbeat: Duration,
    store: SessionStore,
    audit: Option<AuditLog>,
    session: ClientSession,
    /// Each live QuoteReqID's symbol and side.
    asked: HashMap<Arc<str>, Asked>,
    /// Each ClOrdID's symbol, side and quantity.
    orders: HashMap<Arc<str>, Asked>,
    last_sent: Instant,
    last_received: Instant,
    /// When our TestRequest went out, unanswered.
    test_request_out: Option<Instant>,
    /// A ResendRequest of ours is out: later messages wait for the gap.
    resend_asked: bool,
    exec_ids: u64,
    logout_sent: bool,
}

impl FixConnection {
    /// Checks the Logon's sequence number and answers it.
    async fn logon(&mut self, logon: &Message) -> Ended {
        if logon.get(tag::RESET_SEQ_NUM_FLAG) == Some("Y") {
            self.store.reset();
        }
        let seq = logon.seq_num().unwrap_or(0);
        if seq < self.store.next_in && !logon.poss_dup() {
            let why = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.store.next_in
            );
            tracing::warn!(client = %self.client, "{why}");
            self.send(Message::new(msg_type::LOGOUT).with(tag::TEXT, &why))
                .await?;
            return Err(why);
        }
        let mut answer = Message::new(msg_type::LOGON)
            .with(tag::ENCRYPT_METHOD, 0)
            .with(tag::HEART_BT_INT, self.heartbeat.as_secs());
        if logon.get(tag::RESET_SEQ_NUM_FLAG) == Some("Y") {
            answer.push(tag::RESET_SEQ_NUM_FLAG, "Y");
        }
        self.send(answer).await?;
        if seq > self.store.next_in {
            self.ask_resend().await?;
        } else {
            self.store.next_in = seq + 1;
            self.store.save();
        }
        Ok(())
    }

    async fn run(
        &mut self,
        mut to_send: tokio::sync::mpsc::Receiver<Outbound>,
        overflow: crate::ws_edge::Overflow,
        stop: &mut watch::Receiver<bool>,
    ) {
        let mut buf = vec![0u8; 16 << 10];
        // Whatever the Logon's read brought with it.
        if let Err(why) = self.drain_frames().await {
            tracing::info!(client = %self.client, "FIX session ended: {why}");
            return;
        }
        let ended: Ended = loop {
            let timer = self.next_timer();
            tokio::select! {
                read = self.socket.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break Err("the client closed the connection".into()),
                    Ok(n) => {
                        self.framer.push(&buf[..n]);
                        if let Err(why) = self.drain_frames().await {
                            break Err(why);
                        }
                    }
                },
                message = to_send.recv() => match message {
                    Some(message) => {
                        if let Err(why) = self.outbound(message).await {
                            break Err(why);
                        }
                    }
                    None => break Ok(()),
                },
                _ = tokio::time::sleep_until(timer) => {
                    if let Err(why) = self.on_timer().await {
                        break Err(why);
                    }
                }
                _ = self.session.reap() => {}
                _ = overflow.happened() => {
                    let why = format!(
                        "the session fell {} messages behind the desk: logged out",
                        crate::client_api::session::CLIENT_BUFFER
                    );
                    let _ = tokio::time::timeout(FAREWELL_WITHIN, self.send(
                        Message::new(msg_type::LOGOUT).with(tag::TEXT, &why),
                    )).await;
                    break Err(why);
                }
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(FAREWELL_WITHIN, self.send(
                        Message::new(msg_type::LOGOUT).with(tag::TEXT, "the desk is stopping"),
                    )).await;
                    break Ok(());
                }
            }
        };
        if let Err(why) = ended {
            tracing::info!(client = %self.client, "FIX session ended: {why}");
        }
    }

    fn next_timer(&self) -> Instant {
        let beat = self.last_sent + self.heartbeat;
        let quiet = match self.test_request_out {
            Some(at) => at + self.heartbeat,
            // Silence of a beat and a fifth is a TestRequest's cue.
            None => self.last_received + self.heartbeat + self.heartbeat / 5,
        };
        beat.min(quiet)
    }

    async fn on_timer(&mut self) -> Ended {
        let now = Instant::now();
        if let Some(at) = self.test_request_out {
            if now >= at + self.heartbeat {
                return Err("the client answered no TestRequest: connection dropped".into());
            }
        } else if now >= self.last_received + self.heartbeat + self.heartbeat / 5 {
            self.test_request_out = Some(now);
            let id = format!("TEST-{}", Utc::now().timestamp_millis());
            self.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, id))
                .await?;
        }
        if now >= self.last_sent + self.heartbeat {
            self.send(Message::new(msg_type::HEARTBEAT)).await?;
        }
        Ok(())
    }

    async fn drain_frames(&mut self) -> Ended {
        while let Some(frame) = self.framer.next_frame() {
            self.last_received = Instant::now();
            match frame {
                Ok(frame) => self.on_frame(frame).await?,
                Err(error) => self.on_garbled(error).await?,
            }
            if self.logout_sent {
                return Err("logged out".into());
            }
        }
        Ok(())
    }

    /// Bytes that are not a sound message: a Reject saying so, and the
    /// session goes on. A garbled message's MsgSeqNum, when it can be
    /// read and is the one expected, is taken as used, so that no gap
    /// stalls the session for a message the client cannot usefully resend.
    async fn on_garbled(&mut self, error: FrameError) -> Ended {
        let raw = match &error {
            FrameError::Garbage { skipped } => skipped,
            FrameError::BodyLength { raw, .. }
            | FrameError::CheckSum { raw, .. }
            | FrameError::BeginString { raw, .. }
            | FrameError::Malformed { raw, .. } => raw,
        };
        if let Some(audit) = self.audit.as_mut() {
            audit.message(Direction::In, raw);
            audit.event(&format!("garbled: {error}"));
        }
        tracing::warn!(client = %self.client, "a garbled FIX message from the client: {error}");
        let seq = seq_in_raw(raw);
        let mut reject = Message::new(msg_type::REJECT);
        reject.push(tag::REF_SEQ_NUM, seq.unwrap_or(0));
        reject.push(more_tag::SESSION_REJECT_REASON, OTHER);
        let text = match &error {
            FrameError::CheckSum {
                computed, declared, ..
            } => format!("bad CheckSum (10): '{declared}', computed {computed:03}"),
            FrameError::Garbage { .. } => "bytes that do not start a FIX message".to_string(),
            FrameError::BodyLength { detail, .. } => format!("bad BodyLength (9): {detail}"),
            FrameError::BeginString { begin, .. } => {
                format!("BeginString (8) '{begin}' is not FIX.4.4")
            }
            FrameError::Malformed { detail, .. } => format!("malformed message: {detail}"),
        };
        reject.push(tag::TEXT, text);
        if seq == Some(self.store.next_in) {
            self.store.next_in += 1;
            self.store.save();
        }
        self.send(reject).await
    }

    async fn on_frame(&mut self, frame: Frame) -> Ended {
        if let Some(audit) = self.audit.as_mut() {
            audit.message(Direction::In, &frame.raw);
        }
        let msg = frame.message;
        let kind = msg.msg_type().to_string();
        let Some(seq) = msg.seq_num() else {
            return self
                .session_reject(
                    &msg,
                    0,
                    tag::MSG_SEQ_NUM,
                    REQUIRED_TAG_MISSING,
                    "MsgSeqNum (34) is missing",
                )
                .await;
        };
        // A SequenceReset-Reset moves the expected number whatever its own.
        if kind == msg_type::SEQUENCE_RESET && msg.get(tag::GAP_FILL_FLAG) != Some("Y") {
            if let Some(new) = msg.get(tag::NEW_SEQ_NO).and_then(|n| n.parse::<u64>().ok()) {
                self.store.next_in = new.max(self.store.next_in);
                self.store.save();
                self.resend_asked = false;
            }
            return Ok(());
        }
        if seq > self.store.next_in {
            if kind == msg_type::LOGOUT {
                return self.logout("logged out by the client").await;
            }
            if kind == msg_type::RESEND_REQUEST {
                self.answer_resend(&msg).await?;
            }
            if !self.resend_asked {
                self.ask_resend().await?;
            }
            return Ok(());
        }
        if seq < self.store.next_in {
            if msg.poss_dup() {
                return Ok(());
            }
            let why = format!(
                "MsgSeqNum too low, expecting {} but received {seq}",
                self.store.next_in
            );
            self.send(Message::new(msg_type::LOGOUT).with(tag::TEXT, &why))
                .await?;
            self.logout_sent = true;
            return Err(why);
        }
        self.store.next_in = seq + 1;
        self.store.save();
        self.resend_asked = false;
        match kind.as_str() {
            msg_type::HEARTBEAT => {
                if msg.get(tag::TEST_REQ_ID).is_some() {
                    self.test_request_out = None;
                }
                Ok(())
            }
            msg_type::TEST_REQUEST => {
                let id = msg.get(tag::TEST_REQ_ID).unwrap_or("").to_string();
                self.send(Message::new(msg_type::HEARTBEAT).with(tag::TEST_REQ_ID, id))
                    .await
            }
            msg_type::RESEND_REQUEST => self.answer_resend(&msg).await,
            msg_type::SEQUENCE_RESET => {
                if let Some(new) = msg.get(tag::NEW_SEQ_NO).and_then(|n| n.parse::<u64>().ok()) {
                    if new > self.store.next_in {
                        self.store.next_in = new;
                        self.store.save();
                    }
                }
                Ok(())
            }
            msg_type::REJECT => {
                tracing::warn!(client = %self.client, "the client rejected our message {}: {}", msg.get(tag::REF_SEQ_NUM).unwrap_or("?"), msg.get(tag::TEXT).unwrap_or(""));
                Ok(())
            }
            msg_type::LOGOUT => self.logout("logged out by the client").await,
            msg_type::LOGON => {
                self.session_reject(
                    &msg,
                    seq,
                    tag::MSG_TYPE,
                    VALUE_INCORRECT,
                    "already logged on",
                )
                .await
            }
            msg_type::QUOTE_REQUEST => self.quote_request(&msg, seq).await,
            QUOTE_CANCEL => {
                let Some(id) = msg.get(tag::QUOTE_REQ_ID) else {
                    return self
                        .session_reject(
                            &msg,
                            seq,
                            tag::QUOTE_REQ_ID,
                            REQUIRED_TAG_MISSING,
                            "QuoteReqID (131) is missing",
                        )
                        .await;
                };
                self.session.on_message(Inbound::CancelQuoteRequest {
                    client_rfq_id: id.to_string(),
                });
                Ok(())
            }
            msg_type::NEW_ORDER_SINGLE => self.new_order(&msg, seq).await,
            msg_type::ORDER_STATUS_REQUEST => self.status_request(&msg, seq).await,
            other => {
                let text = format!("MsgType '{other}' is not taken by this desk");
                self.session_reject(&msg, seq, tag::MSG_TYPE, INVALID_MSG_TYPE, &text)
                    .await
            }
        }
    }

    async fn logout(&mut self, why: &str) -> Ended {
        self.send(Message::new(msg_type::LOGOUT)).await?;
        self.logout_sent = true;
        Err(why.to_string())
    }

    async fn ask_resend(&mut self) -> Ended {
        self.resend_asked = true;
        let request = Message::new(msg_type::RESEND_REQUEST)
            .with(tag::BEGIN_SEQ_NO, self.store.next_in)
            .with(tag::END_SEQ_NO, 0);
        self.send(request).await
    }

    /// Sends the ExecutionReports of the range again (PossDupFlag,
    /// OrigSendingTime), and gap-fills everything else: a stale quote or
    /// heartbeat is no use to the client.
    async fn answer_resend(&mut self, msg: &Message) -> Ended {
        let begin = msg
            .get(tag::BEGIN_SEQ_NO)
            .and_then(|b| b.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1);
        let last_sent = self.store.next_out - 1;
        let end = match msg.get(tag::END_SEQ_NO).and_then(|e| e.parse::<u64>().ok()) {
            Some(0) | None => last_sent,
            Some(end) => end.min(last_sent),
        };
        if begin > end {
            return Ok(());
        }
        let mut next = begin;
        for (seq, original) in self.store.sent_between(begin, end) {
            if seq > next {
                self.gap_fill(next, seq).await?;
            }
            self.resend(seq, &original).await?;
            next = seq + 1;
        }
        if next <= end {
            self.gap_fill(next, end + 1).await?;
        }
        Ok(())
    }

    async fn gap_fill(&mut self, at: u64, new_seq_no: u64) -> Ended {
        let fill = Message::new(msg_type::SEQUENCE_RESET)
            .with(tag::MSG_SEQ_NUM, at)
            .with(tag::SENDER_COMP_ID, &self.acceptor.comp_id)
            .with(tag::TARGET_COMP_ID, &self.their_comp_id)
            .with(tag::SENDING_TIME, utc_timestamp(Utc::now()))
            .with(tag::POSS_DUP_FLAG, "Y")
            .with(tag::GAP_FILL_FLAG, "Y")
            .with(tag::NEW_SEQ_NO, new_seq_no);
        self.write(&fill.encode()).await
    }

    async fn resend(&mut self, seq: u64, original: &Message) -> Ended {
        let mut again = Message::new(original.msg_type())
            .with(tag::MSG_SEQ_NUM, seq)
            .with(tag::SENDER_COMP_ID, &self.acceptor.comp_id)
            .with(tag::TARGET_COMP_ID, &self.their_comp_id)
            .with(tag::SENDING_TIME, utc_timestamp(Utc::now()))
            .with(tag::POSS_DUP_FLAG, "Y");
        if let Some(sent_at) = original.get(tag::SENDING_TIME) {
            again.push(tag::ORIG_SENDING_TIME, sent_at);
        }
        for (field, value) in original.fields() {
            if !matches!(
                *field,
                tag::MSG_SEQ_NUM
                    | tag::SENDER_COMP_ID
                    | tag::TARGET_COMP_ID
                    | tag::SENDING_TIME
                    | tag::POSS_DUP_FLAG
                    | tag::ORIG_SENDING_TIME
            ) {
                again.push(*field, value);
            }
        }
        self.write(&again.encode()).await
    }

    async fn session_reject(
        &mut self,
        msg: &Message,
        seq: u64,
        ref_tag: u32,
        reason: u32,
        text: &str,
    ) -> Ended {
        if seq == self.store.next_in && seq > 0 {
            self.store.next_in += 1;
            self.store.save();
        }
        let reject = Message::new(msg_type::REJECT)
            .with(tag::REF_SEQ_NUM, seq)
            .with(more_tag::REF_TAG_ID, ref_tag)
            .with(tag::REF_MSG_TYPE, msg.msg_type())
            .with(more_tag::SESSION_REJECT_REASON, reason)
            .with(tag::TEXT, text);
        self.send(reject).await
    }

    async fn quote_request(&mut self, msg: &Message, seq: u64) -> Ended {
        let Some(id) = msg.get(tag::QUOTE_REQ_ID) else {
            return self
                .session_reject(
                    msg,
                    seq,
                    tag::QUOTE_REQ_ID,
                    REQUIRED_TAG_MISSING,
                    "QuoteReqID (131) is missing",
                )
                .await;
        };
        let members = [
            tag::SYMBOL,
            tag::SIDE,
            tag::ORDER_QTY,
            more_tag::CASH_ORDER_QTY,
            tag::CURRENCY,
            more_tag::EXPIRE_TIME,
        ];
        let entries = match msg.group(tag::NO_RELATED_SYM, &members) {
            Ok(entries) if !entries.is_empty() => entries,
            Ok(_) => {
                return self
                    .session_reject(
                        msg,
                        seq,
                        tag::NO_RELATED_SYM,
                        REQUIRED_TAG_MISSING,
                        "NoRelatedSym (146) with a Symbol (55) is missing",
                    )
                    .await
            }
            Err(error) => {
                return self
                    .session_reject(
                        msg,
                        seq,
                        tag::NO_RELATED_SYM,
                        VALUE_INCORRECT,
                        &error.to_string(),
                    )
                    .await
            }
        };
        if entries.len() > 1 {
            return self
                .session_reject(
                    msg,
                    seq,
                    tag::NO_RELATED_SYM,
                    VALUE_INCORRECT,
                    "one instrument per QuoteRequest: NoRelatedSym (146) must be 1",
                )
                .await;
        }
        let field = |t: u32| {
            entries[0]
                .iter()
                .find(|(tag, _)| *tag == t)
                .map(|(_, v)| v.clone())
        };
        let symbol = field(tag::SYMBOL).unwrap_or_default();
        let side = match field(tag::SIDE).as_deref() {
            None => "two_way",
            Some("1") => "buy",
            Some("2") => "sell",
            Some(_) => {
                return self
                    .session_reject(
                        msg,
                        seq,
                        tag::SIDE,
                        VALUE_INCORRECT,
                        "Side (54) must be 1 (buy) or 2 (sell), or absent for two-way",
                    )
                    .await
            }
        };
        let (amount, amount_currency) = match (
            field(tag::ORDER_QTY),
            field(more_tag::CASH_ORDER_QTY),
        ) {
            (Some(qty), _) => {
                let base = symbol
                    .parse::<crate::market::Pair>()
                    .map(|pair| pair.base.to_string())
                    .ok();
                match (field(tag::CURRENCY), base) {
                    // OrderQty is of the base: 38=50 15=USDT meaning 50
                    // USDT must not be quoted as 50 of the base.
                    (Some(currency), Some(base)) if !currency.eq_ignore_ascii_case(&base) => {
                        let reject = Outbound::QuoteRequestReject {
                            client_rfq_id: Arc::from(id),
                            reason: crate::client_api::RejectReason::Other,
                            text: format!(
                                "Currency (15) '{currency}' must be {base}, the base currency of {symbol}, for OrderQty (38); an amount of the quote currency is CashOrderQty (152)"
                            ),
                        };
                        self.asked.insert(
                            Arc::from(id),
                            Asked {
                                symbol,
                                side: None,
                                qty: None,
                                cash: None,
                            },
                        );
                        return self.outbound(reject).await;
                    }
                    _ => (qty, None),
                }
            }
            (None, Some(cash)) => {
                let quote = symbol
                    .parse::<crate::market::Pair>()
                    .map(|pair| pair.quote.to_string())
                    .ok();
                match (field(tag::CURRENCY), quote) {
                    // CashOrderQty is cash: an amount of the base in
                    // it would be a different request.
                    (Some(currency), Some(quote)) if !currency.eq_ignore_ascii_case(&quote) => {
                        let reject = Outbound::QuoteRequestReject {
                                client_rfq_id: Arc::from(id),
                                reason: crate::client_api::RejectReason::Other,
                                text: format!(
                                    "Currency (15) '{currency}' must be {quote}, the quote currency of {symbol}, for CashOrderQty (152)"
                                ),
                            };
                        self.asked.insert(
                            Arc::from(id),
                            Asked {
                                symbol,
                                side: None,
                                qty: None,
                                cash: None,
                            },
                        );
                        return self.outbound(reject).await;
                    }
                    (_, Some(quote)) => (cash, Some(quote)),
                    // Not a pair: the session refuses it as such.
                    (currency, None) => (cash, currency),
                }
            }
            (None, None) => {
                return self
                    .session_reject(
                        msg,
                        seq,
                        tag::ORDER_QTY,
                        REQUIRED_TAG_MISSING,
                        "OrderQty (38) or CashOrderQty (152) is missing",
                    )
                    .await
            }
        };
        let id: Arc<str> = Arc::from(id);
        if let Some(expire) = field(more_tag::EXPIRE_TIME) {
            let too_late = parse_utc_timestamp(&expire).is_none_or(|at| at <= Utc::now());
            if too_late {
                let reject = Outbound::QuoteRequestReject {
                    client_rfq_id: id.clone(),
                    reason: crate::client_api::RejectReason::TooLate,
                    text: format!("ExpireTime (126) '{expire}' has passed"),
                };
                self.asked.insert(
                    id,
                    Asked {
                        symbol,
                        side: None,
                        qty: None,
                        cash: None,
                    },
                );
                return self.outbound(reject).await;
            }
        }
        self.asked.insert(
            id.clone(),
            Asked {
                symbol: symbol.clone(),
                side: field(tag::SIDE),
                qty: amount_currency.is_none().then(|| amount.clone()),
                cash: amount_currency
                    .clone()
                    .map(|currency| (amount.clone(), currency)),
            },
        );
        self.session.on_message(Inbound::QuoteRequest {
            client_rfq_id: id.to_string(),
            pair: symbol,
            side: side.to_string(),
            amount,
            amount_currency,
        });
        Ok(())
    }

    async fn new_order(&mut self, msg: &Message, seq: u64) -> Ended {
        for (required, name) in [
            (tag::CL_ORD_ID, "ClOrdID (11)"),
            (tag::QUOTE_ID, "QuoteID (117)"),
            (tag::SIDE, "Side (54)"),
            (tag::PRICE, "Price (44)"),
            (tag::ORD_TYPE, "OrdType (40)"),
        ] {
            if msg.get(required).is_none() {
                let text = format!("{name} is missing");
                return self
                    .session_reject(msg, seq, required, REQUIRED_TAG_MISSING, &text)
                    .await;
            }
        }
        let field = |t: u32| msg.get(t).unwrap_or("").to_string();
        // The amount as the quote was asked: OrderQty (38) of the base,
        // or CashOrderQty (152) of the quote currency.
        let pair = msg
            .get(tag::SYMBOL)
            .and_then(|symbol| symbol.parse::<crate::market::Pair>().ok());
        let (amount, amount_currency, cash) =
            match (msg.get(tag::ORDER_QTY), msg.get(more_tag::CASH_ORDER_QTY)) {
                (Some(qty), _) => (qty, pair.map(|pair| pair.base.to_string()), None),
                (None, Some(cash)) => {
                    let currency = msg
                        .get(tag::CURRENCY)
                        .map(str::to_string)
                        .or_else(|| pair.map(|pair| pair.quote.to_string()));
                    let kept = (cash.to_string(), currency.clone().unwrap_or_default());
                    (cash, currency, Some(kept))
                }
                (None, None) => {
                    return self
                        .session_reject(
                            msg,
                            seq,
                            tag::ORDER_QTY,
                            REQUIRED_TAG_MISSING,
                            "OrderQty (38) or CashOrderQty (152) is missing",
                        )
                        .await
                }
            };
        let order_id: Arc<str> = Arc::from(field(tag::CL_ORD_ID).as_str());
        // A repeated ClOrdID is answered with its first order, whose own
        // side and quantity its reports keep carrying: this message's are
        // kept only when its id is new to the session.
        let first_of_its_id = !self.orders.contains_key(&order_id);
        if first_of_its_id {
            self.orders.insert(
                order_id.clone(),
                Asked {
                    symbol: msg.get(tag::SYMBOL).unwrap_or("").to_string(),
                    side: Some(field(tag::SIDE)),
                    qty: msg.get(tag::ORDER_QTY).map(str::to_string),
                    cash,
                },
            );
        }
        let refusal = if field(tag::ORD_TYPE) != "D" {
            Some(format!(
                "OrdType (40) '{}' must be D (previously quoted)",
                field(tag::ORD_TYPE)
            ))
        } else if let Some(tif) = msg.get(tag::TIME_IN_FORCE).filter(|tif| *tif != "4") {
            Some(format!("TimeInForce (59) '{tif}' must be 4 (fill or kill)"))
        } else if !matches!(field(tag::SIDE).as_str(), "1" | "2") {
            Some(format!(
                "Side (54) '{}' must be 1 (buy) or 2 (sell)",
                field(tag::SIDE)
            ))
        } else {
            match (msg.get(tag::ORDER_QTY), msg.get(tag::CURRENCY), pair) {
                // OrderQty is of the base: 38=50 15=USDT meaning 50 USDT
                // must never trade 50 of the base.
                (Some(_), Some(currency), Some(pair))
                    if !currency.eq_ignore_ascii_case(pair.base.as_str()) =>
                {
                    Some(format!(
                        "Currency (15) '{currency}' must be {}, the base currency of {}, for OrderQty (38); an amount of the quote currency is CashOrderQty (152)",
                        pair.base,
                        field(tag::SYMBOL)
                    ))
                }
                _ => None,
            }
        };
        if let Some(why) = refusal {
            let refused = Outbound::ExecutionReport(ExecutionReport::rejected(
                order_id.clone(),
                Some(Arc::from(field(tag::QUOTE_ID).as_str())),
                why,
            ));
            let sent = self.outbound(refused).await;
            // Refused before it was claimed: the id is still free for an
            // order of its own.
            if first_of_its_id {
                self.orders.remove(&order_id);
            }
            return sent;
        }
        let side = if field(tag::SIDE) == "1" {
            "buy"
        } else {
            "sell"
        };
        self.session.on_message(Inbound::Order {
            client_order_id: order_id.to_string(),
            quote_id: field(tag::QUOTE_ID),
            side: side.to_string(),
            amount: amount.to_string(),
            price: field(tag::PRICE),
            amount_currency,
        });
        Ok(())
    }

    async fn status_request(&mut self, msg: &Message, seq: u64) -> Ended {
        let Some(id) = msg.get(tag::CL_ORD_ID) else {
            return self
                .session_reject(
                    msg,
                    seq,
                    tag::CL_ORD_ID,
                    REQUIRED_TAG_MISSING,
                    "ClOrdID (11) is missing",
                )
                .await;
        };
        let id: Arc<str> = Arc::from(id);
        // The request names the order's instrument and side (FIX 4.4
        // requires them), which a restarted desk does not keep.
        self.orders.entry(id.clone()).or_insert_with(|| Asked {
            symbol: msg.get(tag::SYMBOL).unwrap_or("").to_string(),
            side: msg.get(tag::SIDE).map(str::to_string),
            qty: None,
            cash: None,
        });
        let status_id = msg.get(more_tag::ORD_STATUS_REQ_ID).map(str::to_string);
        let report = match self.acceptor.api.order_status(&self.client, &id).await {
            Ok(report) => report,
            Err(reason) => {
                let refused = Message::new(BUSINESS_MESSAGE_REJECT)
                    .with(tag::REF_MSG_TYPE, msg_type::ORDER_STATUS_REQUEST)
                    .with(more_tag::BUSINESS_REJECT_REASON, 0)
                    .with(tag::TEXT, reason);
                return self.send(refused).await;
            }
        };
        let mut message = self.execution_report(&report);
        if let Some(status_id) = status_id {
            message.push(more_tag::ORD_STATUS_REQ_ID, status_id);
        }
        self.send(message).await
    }

    /// One of the client session's messages, in FIX.
    async fn outbound(&mut self, message: Outbound) -> Ended {
        let fix = match message {
            Outbound::Quote {
                client_rfq_id,
                quote_id,
                bid,
                offer,
                amount,
                amount_currency,
                bid_size,
                offer_size,
                valid_until,
                simulated: _,
            } => {
                let asked = self.asked.get(&client_rfq_id);
                let mut quote = Message::new(msg_type::QUOTE)
                    .with(tag::QUOTE_REQ_ID, &client_rfq_id)
                    .with(tag::QUOTE_ID, &quote_id)
                    .with(more_tag::QUOTE_TYPE, 1)
                    .with(tag::SYMBOL, asked.map_or("", |a| a.symbol.as_str()));
                if let Some(side) = asked.and_then(|a| a.side.as_deref()) {
                    quote.push(tag::SIDE, side);
                }
                // The sizes are the base each side trades: for a cash
                // amount they follow from each side's price.
                if let Some(bid) = bid {
                    quote.push(tag::BID_PX, bid);
                    quote.push(tag::BID_SIZE, bid_size.unwrap_or(amount));
                }
                if let Some(offer) = offer {
                    quote.push(tag::OFFER_PX, offer);
                    quote.push(tag::OFFER_SIZE, offer_size.unwrap_or(amount));
                }
                if let Some(currency) = amount_currency {
                    quote.push(more_tag::CASH_ORDER_QTY, amount);
                    quote.push(tag::CURRENCY, currency);
                }
                quote.push(tag::VALID_UNTIL_TIME, fix_time(&valid_until));
                quote.push(tag::TRANSACT_TIME, utc_timestamp(Utc::now()));
                quote
            }
            Outbound::QuoteCancel {
                client_rfq_id,
                quote_id,
                reason,
            } => {
                // FIX 4.4's QuoteCancel has no Text: the reason is the
                // desk's log's, not the wire's.
                tracing::debug!(client = %self.client, %client_rfq_id, %quote_id, ?reason, "quote cancelled");
                Message::new(QUOTE_CANCEL)
                    .with(tag::QUOTE_REQ_ID, &client_rfq_id)
                    .with(tag::QUOTE_ID, &quote_id)
                    .with(more_tag::QUOTE_CANCEL_TYPE, 5)
            }
            Outbound::QuoteRequestReject {
                client_rfq_id,
                reason,
                text,
            } => {
                let symbol = self
                    .asked
                    .remove(&client_rfq_id)
                    .map(|a| a.symbol)
                    .unwrap_or_default();
                let mut reject = Message::new(msg_type::QUOTE_REQUEST_REJECT)
                    .with(tag::QUOTE_REQ_ID, &client_rfq_id)
                    .with(tag::QUOTE_REQUEST_REJECT_REASON, reason.fix_code());
                reject.push_group(tag::NO_RELATED_SYM, &[vec![(tag::SYMBOL, symbol)]]);
                reject.push(tag::TEXT, text);
                reject
            }
            Outbound::ExecutionReport(report) => self.execution_report(&report),
            // The only business error a FIX session meets: a QuoteCancel
            // for a request that is not live.
            Outbound::Error { reason } => Message::new(BUSINESS_MESSAGE_REJECT)
                .with(tag::REF_MSG_TYPE, QUOTE_CANCEL)
                .with(more_tag::BUSINESS_REJECT_REASON, 0)
                .with(tag::TEXT, reason),
        };
        self.send(fix).await
    }

    /// An ExecutionReport (8) of `report`: filled F/2, rejected 8/8, the
    /// answer to a status request 150=I.
    fn execution_report(&mut self, report: &ExecutionReport) -> Message {
        self.exec_ids += 1;
        let asked = self.orders.get(&report.client_order_id).cloned();
        let (exec_type, ord_status) = match report.status {
            OrderStatus::Filled => ("F", "2"),
            OrderStatus::Rejected | OrderStatus::NotFound => ("8", "8"),
            OrderStatus::Pending | OrderStatus::Unknown => ("A", "A"),
        };
        let exec_type = if report.status_request {
            "I"
        } else {
            exec_type
        };
        let qty = report
            .amount
            .map(|a| a.to_string())
            .or_else(|| asked.as_ref().and_then(|a| a.qty.clone()))
            .unwrap_or_else(|| "0".into());
        let order_id = match report.status {
            OrderStatus::NotFound => "NONE".to_string(),
            _ => format!("{}-{}", self.client, report.client_order_id),
        };
        let mut message = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::ORDER_ID, order_id)
            .with(tag::CL_ORD_ID, &report.client_order_id)
            .with(
                tag::EXEC_ID,
                format!(
                    "{}-{}-{}",
                    report.client_order_id,
                    Utc::now().timestamp_millis(),
                    self.exec_ids
                ),
            )
            .with(tag::EXEC_TYPE, exec_type)
            .with(tag::ORD_STATUS, ord_status)
            .with(
                tag::SYMBOL,
                asked.as_ref().map_or("", |a| a.symbol.as_str()),
            )
            .with(
                tag::SIDE,
                asked
                    .as_ref()
                    .and_then(|a| a.side.clone())
                    .unwrap_or_default(),
            )
            .with(tag::ORDER_QTY, &qty);
        if let Some((cash, currency)) = asked.as_ref().and_then(|a| a.cash.as_ref()) {
            message.push(more_tag::CASH_ORDER_QTY, cash);
            if !currency.is_empty() {
                message.push(tag::CURRENCY, currency);
            }
        }
        match (report.status, report.price, report.amount) {
            (OrderStatus::Filled, Some(price), Some(amount)) => {
                message.push(tag::LAST_PX, price);
                message.push(tag::LAST_QTY, amount);
                message.push(tag::AVG_PX, price);
                message.push(tag::CUM_QTY, amount);
                message.push(more_tag::LEAVES_QTY, 0);
                // The cash leg exactly, where LastQty × LastPx is not it
                // (the base was rounded to the lot).
                if let Some(cash) = report.cash_amount {
                    message.push(more_tag::GROSS_TRADE_AMT, cash);
                }
            }
            _ => {
                message.push(tag::AVG_PX, 0);
                message.push(tag::CUM_QTY, 0);
                message.push(more_tag::LEAVES_QTY, 0);
            }
        }
        if let Some(reason) = &report.reason {
            message.push(tag::TEXT, reason);
        }
        message.push(tag::TRANSACT_TIME, utc_timestamp(Utc::now()));
        message
    }

    /// Stamps `body` with the header and the next MsgSeqNum and sends it;
    /// an ExecutionReport is kept for a later ResendRequest first.
    async fn send(&mut self, body: Message) -> Ended {
        let seq = self.store.next_out;
        let mut stamped = Message::new(body.msg_type())
            .with(tag::MSG_SEQ_NUM, seq)
            .with(tag::SENDER_COMP_ID, &self.acceptor.comp_id)
            .with(tag::TARGET_COMP_ID, &self.their_comp_id)
            .with(tag::SENDING_TIME, utc_timestamp(Utc::now()));
        for (field, value) in body.fields() {
            stamped.push(*field, value);
        }
        let raw = stamped.encode();
        if body.msg_type() == msg_type::EXECUTION_REPORT {
            self.store.keep_sent(&raw);
        }
        self.store.next_out += 1;
        self.store.save();
        if body.msg_type() == msg_type::LOGOUT {
            self.logout_sent = true;
        }
        self.write(&raw).await
    }

    async fn write(&mut self, raw: &[u8]) -> Ended {
        if let Some(audit) = self.audit.as_mut() {
            audit.message(Direction::Out, raw);
        }
        self.last_sent = Instant::now();
        write_within(&mut self.socket, raw, WRITE_WITHIN).await
    }
}

/// Writes `raw` and flushes it, both within `within`: a client that stops
/// reading must not hold its session's loop (and so its heartbeats and
/// its streams) forever, and over TLS a record can sit in the session's
/// buffer until the next write unless it is flushed, so an
/// ExecutionReport would wait for a heartbeat to reach the client.
async fn write_within(
    socket: &mut (impl tokio::io::AsyncWrite + Unpin),
    raw: &[u8],
    within: Duration,
) -> Ended {
    let written = async {
        socket.write_all(raw).await?;
        socket.flush().await
    };
    match tokio::time::timeout(within, written).await {
        Ok(written) => written.map_err(|error| format!("cannot write to the client: {error}")),
        Err(_) => Err(format!(
            "the client read nothing for {} s: connection dropped",
            within.as_secs()
        )),
    }
}

/// The MsgSeqNum (34) of bytes that did not make a message, if readable.
fn seq_in_raw(raw: &[u8]) -> Option<u64> {
    raw.split(|b| *b == crate::lp::fix::codec::SOH)
        .find_map(|field| field.strip_prefix(b"34="))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok())
}

/// `2026-01-19T14:30:25.123Z` as FIX writes it: `20260119-14:30:25.123`.
fn fix_time(iso: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|at| utc_timestamp(at.with_timezone(&Utc)))
        .unwrap_or_else(|_| iso.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS session buffers what is written until it is flushed, as a
    /// `BufWriter` does: a message must reach the peer at once anyway.
    #[tokio::test(start_paused = true)]
    async fn a_message_written_through_a_buffering_stream_reaches_the_peer_at_once() {
        let (near, mut far) = tokio::io::duplex(4096);
        let mut buffering = tokio::io::BufWriter::new(near);
        let raw = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01";
        assert_eq!(
            write_within(&mut buffering, raw, Duration::from_secs(10)).await,
            Ok(())
        );
        let mut got = vec![0u8; raw.len()];
        let read = tokio::time::timeout(Duration::from_millis(10), far.read_exact(&mut got)).await;
        assert!(read.is_ok(), "nothing reached the peer");
        assert_eq!(got, raw);
    }

    #[test]
    fn the_sequence_numbers_and_sent_reports_outlive_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SessionStore::open(dir.path(), "LPRFQ", "ACME").unwrap();
        assert_eq!((store.next_out, store.next_in), (1, 1));
        store.next_out = 7;
        store.next_in = 4;
        store.save();
        let report = Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::MSG_SEQ_NUM, 5)
            .with(tag::CL_ORD_ID, "o-1");
        store.keep_sent(&report.encode());
        let reopened = SessionStore::open(dir.path(), "LPRFQ", "ACME").unwrap();
        assert_eq!((reopened.next_out, reopened.next_in), (7, 4));
        assert_eq!(reopened.sent_between(1, 6), vec![(5, report)]);
        assert_eq!(reopened.sent_between(6, 9), vec![]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&reopened.seqnums)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_garbled_message_s_sequence_number_is_read_from_its_bytes() {
        assert_eq!(
            seq_in_raw(b"8=FIX.4.4\x019=5\x0135=D\x0134=12\x0110=000\x01"),
            Some(12)
        );
        assert_eq!(seq_in_raw(b"8=FIX.4.4\x019=5\x0135=D\x01"), None);
    }

    #[test]
    fn valid_until_is_written_as_a_fix_utc_timestamp() {
        assert_eq!(
            fix_time("2026-01-19T14:30:25.123Z"),
            "20260119-14:30:25.123"
        );
    }
}
