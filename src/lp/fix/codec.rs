//! The FIX 4.4 tag=value codec: messages as ordered fields, encoding with
//! BeginString, BodyLength and CheckSum computed, a [`Framer`] that cuts
//! complete messages out of a byte stream that may split or join them,
//! repeating groups, and the UTC timestamp format. It knows nothing of
//! sessions or venues.

use chrono::{DateTime, NaiveDateTime, Utc};

/// The field separator.
pub(crate) const SOH: u8 = 0x01;

/// The only BeginString this codec speaks.
pub(crate) const BEGIN_STRING: &str = "FIX.4.4";

/// Tags used by the session and the venue adapter, named as in the spec.
pub mod tag {
    pub const BEGIN_SEQ_NO: u32 = 7;
    pub(crate) const BEGIN_STRING: u32 = 8;
    pub(crate) const BODY_LENGTH: u32 = 9;
    pub(crate) const CHECK_SUM: u32 = 10;
    pub const CL_ORD_ID: u32 = 11;
    pub const CUM_QTY: u32 = 14;
    pub const CURRENCY: u32 = 15;
    pub const END_SEQ_NO: u32 = 16;
    pub const AVG_PX: u32 = 6;
    pub const EXEC_ID: u32 = 17;
    pub const LAST_PX: u32 = 31;
    pub const LAST_QTY: u32 = 32;
    pub const MSG_SEQ_NUM: u32 = 34;
    pub(crate) const MSG_TYPE: u32 = 35;
    pub const NEW_SEQ_NO: u32 = 36;
    pub const ORDER_ID: u32 = 37;
    pub const ORDER_QTY: u32 = 38;
    pub const ORD_STATUS: u32 = 39;
    pub const ORD_TYPE: u32 = 40;
    pub const POSS_DUP_FLAG: u32 = 43;
    pub const PRICE: u32 = 44;
    pub const REF_SEQ_NUM: u32 = 45;
    pub const SENDER_COMP_ID: u32 = 49;
    pub const SENDING_TIME: u32 = 52;
    pub const SIDE: u32 = 54;
    pub const SYMBOL: u32 = 55;
    pub const TARGET_COMP_ID: u32 = 56;
    pub const TEXT: u32 = 58;
    pub const TIME_IN_FORCE: u32 = 59;
    pub const TRANSACT_TIME: u32 = 60;
    pub const VALID_UNTIL_TIME: u32 = 62;
    pub const ENCRYPT_METHOD: u32 = 98;
    pub(crate) const ORD_REJ_REASON: u32 = 103;
    pub const HEART_BT_INT: u32 = 108;
    pub const TEST_REQ_ID: u32 = 112;
    pub const QUOTE_ID: u32 = 117;
    pub const ORIG_SENDING_TIME: u32 = 122;
    pub const GAP_FILL_FLAG: u32 = 123;
    pub const QUOTE_REQ_ID: u32 = 131;
    pub const BID_PX: u32 = 132;
    pub const OFFER_PX: u32 = 133;
    pub const BID_SIZE: u32 = 134;
    pub const OFFER_SIZE: u32 = 135;
    pub const RESET_SEQ_NUM_FLAG: u32 = 141;
    pub const NO_RELATED_SYM: u32 = 146;
    pub const EXEC_TYPE: u32 = 150;
    pub const CASH_ORDER_QTY: u32 = 152;
    pub(crate) const REF_TAG_ID: u32 = 371;
    pub const REF_MSG_TYPE: u32 = 372;
    pub(crate) const SESSION_REJECT_REASON: u32 = 373;
    pub(crate) const BUSINESS_REJECT_REF_ID: u32 = 379;
    pub(crate) const BUSINESS_REJECT_REASON: u32 = 380;
    pub(crate) const QUOTE_TYPE: u32 = 537;
    pub const USERNAME: u32 = 553;
    pub const PASSWORD: u32 = 554;
    pub const QUOTE_REQUEST_REJECT_REASON: u32 = 658;
    pub(crate) const NEW_PASSWORD: u32 = 925;
}

/// Message types (tag 35) this desk sends or understands.
pub mod msg_type {
    pub const HEARTBEAT: &str = "0";
    pub const TEST_REQUEST: &str = "1";
    pub const RESEND_REQUEST: &str = "2";
    pub const REJECT: &str = "3";
    pub const SEQUENCE_RESET: &str = "4";
    pub const LOGOUT: &str = "5";
    pub const EXECUTION_REPORT: &str = "8";
    pub const LOGON: &str = "A";
    pub const NEW_ORDER_SINGLE: &str = "D";
    pub const ORDER_STATUS_REQUEST: &str = "H";
    pub const QUOTE_REQUEST: &str = "R";
    pub const QUOTE: &str = "S";
    pub const QUOTE_REQUEST_REJECT: &str = "AG";
    pub(crate) const BUSINESS_MESSAGE_REJECT: &str = "j";
}

/// A run of fields in wire order, e.g. one entry of a repeating group.
pub(crate) type Fields = Vec<(u32, String)>;

/// One FIX message: its type (35) and every other field in wire order,
/// without the framing fields BeginString (8), BodyLength (9) and
/// CheckSum (10), which [`Message::encode`] computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    msg_type: String,
    fields: Fields,
}

/// Why a message's fields could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("repeating group {count_tag} says {declared} entries but has {found}")]
    GroupCount {
        count_tag: u32,
        declared: usize,
        found: usize,
    },
    #[error("repeating group {count_tag} has count '{value}', not a number")]
    GroupCountValue { count_tag: u32, value: String },
}

impl Message {
    /// An empty message of type `msg_type` (35).
    pub fn new(msg_type: &str) -> Message {
        Message {
            msg_type: msg_type.to_string(),
            fields: Vec::new(),
        }
    }

    /// The message type (35), e.g. `A` for Logon.
    pub fn msg_type(&self) -> &str {
        &self.msg_type
    }

    /// Appends a field; builder style.
    pub fn with(mut self, tag: u32, value: impl ToString) -> Message {
        self.push(tag, value);
        self
    }

    /// Appends a field. A separator inside a value would split the field
    /// on the wire, so it is replaced by a space rather than sent.
    pub fn push(&mut self, tag: u32, value: impl ToString) {
        let value = value.to_string().replace(SOH as char, " ");
        self.fields.push((tag, value));
    }

    /// Appends a repeating group: the count tag with the number of
    /// entries, then each entry's fields in order (the first field of an
    /// entry is the group's delimiter).
    pub(crate) fn push_group(&mut self, count_tag: u32, entries: &[Fields]) {
        self.push(count_tag, entries.len());
        for entry in entries {
            for (tag, value) in entry {
                self.push(*tag, value);
            }
        }
    }

    /// The first value of `tag`, if present.
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }

    /// Every field after the message type, in wire order.
    pub fn fields(&self) -> &[(u32, String)] {
        &self.fields
    }

    /// MsgSeqNum (34), when present and a number.
    pub(crate) fn seq_num(&self) -> Option<u64> {
        self.get(tag::MSG_SEQ_NUM)?.parse().ok()
    }

    /// True when PossDupFlag (43) is Y.
    pub fn poss_dup(&self) -> bool {
        self.get(tag::POSS_DUP_FLAG) == Some("Y")
    }

    /// Reads the repeating group counted by `count_tag`. `members` lists
    /// the tags an entry may hold, its delimiter first: an entry starts at
    /// each delimiter, and the group ends at the first field that is not a
    /// member. `Ok(vec![])` when the group is absent.
    pub fn group(&self, count_tag: u32, members: &[u32]) -> Result<Vec<Fields>, CodecError> {
        let Some(start) = self.fields.iter().position(|(t, _)| *t == count_tag) else {
            return Ok(Vec::new());
        };
        let count_value = &self.fields[start].1;
        let declared: usize = count_value
            .parse()
            .map_err(|_| CodecError::GroupCountValue {
                count_tag,
                value: count_value.clone(),
            })?;
        let mut entries: Vec<Fields> = Vec::new();
        for (tag, value) in &self.fields[start + 1..] {
            if members.first() == Some(tag) {
                entries.push(vec![(*tag, value.clone())]);
            } else if members.contains(tag) {
                match entries.last_mut() {
                    Some(entry) => entry.push((*tag, value.clone())),
                    // A member before the first delimiter: the group is
                    // not laid out as declared.
                    None => break,
                }
            } else {
                break;
            }
        }
        if entries.len() != declared {
            return Err(CodecError::GroupCount {
                count_tag,
                declared,
                found: entries.len(),
            });
        }
        Ok(entries)
    }

    /// The message on the wire: `8=FIX.4.4`, `9=` the byte count from
    /// after that field up to the checksum, `35=` the type, the fields,
    /// and `10=` the byte sum modulo 256 in three digits.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64 + self.fields.len() * 12);
        push_field(&mut body, tag::MSG_TYPE, &self.msg_type);
        for (tag, value) in &self.fields {
            push_field(&mut body, *tag, value);
        }
        let mut out = Vec::with_capacity(body.len() + 32);
        push_field(&mut out, tag::BEGIN_STRING, BEGIN_STRING);
        push_field(&mut out, tag::BODY_LENGTH, &body.len().to_string());
        out.extend_from_slice(&body);
        let sum = checksum(&out);
        push_field(&mut out, tag::CHECK_SUM, &format!("{sum:03}"));
        out
    }
}

fn push_field(out: &mut Vec<u8>, tag: u32, value: &str) {
    out.extend_from_slice(tag.to_string().as_bytes());
    out.push(b'=');
    out.extend_from_slice(value.as_bytes());
    out.push(SOH);
}

/// The FIX checksum: the sum of every byte, modulo 256.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b))
}

/// Bytes as a log line shows them: SOH as `|`, anything unprintable
/// escaped, so one message is always one line.
pub(crate) fn printable(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            SOH => text.push('|'),
            0x20..=0x7e => text.push(b as char),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text
}

/// A complete message cut from the stream, with its bytes as received
/// (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub(crate) raw: Vec<u8>,
    pub message: Message,
}

/// Why bytes from the stream were not a message. The bytes are dropped
/// and framing goes on with what follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{} bytes that do not start a message: '{}'", .skipped.len(), printable(.skipped))]
    Garbage { skipped: Vec<u8> },
    #[error("bad BodyLength: {detail}: '{}'", printable(.raw))]
    BodyLength { raw: Vec<u8>, detail: String },
    #[error("bad CheckSum: computed {computed:03}, message says '{declared}': '{}'", printable(.raw))]
    CheckSum {
        raw: Vec<u8>,
        computed: u8,
        declared: String,
    },
    #[error("BeginString '{begin}' is not {BEGIN_STRING}: '{}'", printable(.raw))]
    BeginString { raw: Vec<u8>, begin: String },
    #[error("malformed message: {detail}: '{}'", printable(.raw))]
    Malformed { raw: Vec<u8>, detail: String },
}

/// The start of every frame.
const FRAME_START: &[u8] = b"8=FIX";

/// A body longer than this (1 MB) is refused rather than waited for: no
/// RFQ message comes near it, and the framer would hold it all.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The longest `9=` value we wait for before calling it corrupt.
const MAX_LENGTH_DIGITS: usize = 8;

/// Cuts messages out of a byte stream. Feed it whatever the socket gave
/// ([`Framer::push`]) and take frames until it has none
/// ([`Framer::next_frame`]); a partial message waits for more bytes.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, an error for bytes that are not one
    /// (they are dropped), or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if self.buf.is_empty() {
            return None;
        }
        let head = self.buf.len().min(FRAME_START.len());
        if self.buf[..head] != FRAME_START[..head] {
            return self.skip_garbage(0);
        }
        if self.buf.len() < FRAME_START.len() {
            return None;
        }
        let Some(begin_end) = find(&self.buf, &[SOH], 0) else {
            return (self.buf.len() > 32).then(|| self.resync_error("no end to BeginString"));
        };
        let length_start = begin_end + 1;
        let wanted = b"9=";
        let have = self
            .buf
            .len()
            .saturating_sub(length_start)
            .min(wanted.len());
        if self.buf[length_start..length_start + have] != wanted[..have] {
            return Some(self.resync_error("BodyLength (9) is not the second field"));
        }
        if have < wanted.len() {
            return None;
        }
        let digits_start = length_start + wanted.len();
        let Some(length_end) = find(&self.buf, &[SOH], digits_start) else {
            return (self.buf.len() - digits_start > MAX_LENGTH_DIGITS)
                .then(|| self.resync_error("BodyLength (9) is too long"));
        };
        let digits = &self.buf[digits_start..length_end];
        let body_len = match std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok())
        {
            Some(len) if len <= MAX_BODY => len,
            Some(len) => {
                let detail = format!("{len} bytes of body are over the 1 MB cap");
                return Some(self.resync_error(&detail));
            }
            None => {
                let detail = format!("'{}' is not a length", printable(digits));
                return Some(self.resync_error(&detail));
            }
        };
        let body_start = length_end + 1;
        let body_end = body_start + body_len;
        // "10=" three digits and SOH follow the body.
        let frame_end = body_end + 7;
        if self.buf.len() < frame_end {
            return None;
        }
        let trailer = &self.buf[body_end..frame_end];
        if &trailer[..3] != b"10=" || trailer[6] != SOH {
            let detail = format!("{body_len} bytes of body are not followed by CheckSum (10)");
            return Some(self.resync_error(&detail));
        }
        let raw: Vec<u8> = self.buf.drain(..frame_end).collect();
        let declared = String::from_utf8_lossy(&raw[body_end + 3..body_end + 6]).into_owned();
        let computed = checksum(&raw[..body_end]);
        if declared.parse::<u16>().ok() != Some(u16::from(computed)) {
            return Some(Err(FrameError::CheckSum {
                raw,
                computed,
                declared,
            }));
        }
        let begin = String::from_utf8_lossy(&raw[2..begin_end]).into_owned();
        if begin != BEGIN_STRING {
            return Some(Err(FrameError::BeginString { raw, begin }));
        }
        Some(parse_body(&raw[body_start..body_end]).map_or_else(
            |detail| {
                Err(FrameError::Malformed {
                    raw: raw.clone(),
                    detail,
                })
            },
            |message| {
                Ok(Frame {
                    raw: raw.clone(),
                    message,
                })
            },
        ))
    }

    /// Drops bytes up to the next frame start after `from`, reporting them.
    fn skip_garbage(&mut self, from: usize) -> Option<Result<Frame, FrameError>> {
        let cut = match next_frame_start(&self.buf, from + 1) {
            Some(start) => start,
            // Keep a tail that may be the start of a frame still arriving.
            None => self.buf.len() - partial_start_suffix(&self.buf),
        };
        if cut == 0 {
            return None;
        }
        let skipped: Vec<u8> = self.buf.drain(..cut).collect();
        Some(Err(FrameError::Garbage { skipped }))
    }

    /// Drops a frame whose framing fields are corrupt, up to the next frame
    /// start, so that the messages behind it are not lost.
    fn resync_error(&mut self, detail: &str) -> Result<Frame, FrameError> {
        let cut = next_frame_start(&self.buf, 1).unwrap_or(self.buf.len());
        let raw: Vec<u8> = self.buf.drain(..cut).collect();
        Err(FrameError::BodyLength {
            raw,
            detail: detail.to_string(),
        })
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Where the next `8=FIX` that starts a field (after SOH) begins, at or
/// after `from`. Searching after SOH keeps text such as `58=FIXED` from
/// passing for a frame.
fn next_frame_start(buf: &[u8], from: usize) -> Option<usize> {
    let mut search = from.saturating_sub(1);
    while let Some(p) = find(buf, FRAME_START, search) {
        if (p == 0 || buf[p - 1] == SOH) && p >= from {
            return Some(p);
        }
        search = p + 1;
    }
    None
}

/// How many bytes at the end of `buf` could be the first bytes of a frame.
fn partial_start_suffix(buf: &[u8]) -> usize {
    (1..FRAME_START.len())
        .rev()
        .find(|&n| n <= buf.len() && buf[buf.len() - n..] == FRAME_START[..n])
        .unwrap_or(0)
}

/// Parses the body (from `35=` up to the checksum) into a message.
fn parse_body(body: &[u8]) -> Result<Message, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let Some(text) = text.strip_suffix(SOH as char) else {
        return Err("body does not end with a separator".to_string());
    };
    let mut fields = text.split(SOH as char).map(|field| {
        let (tag, value) = field
            .split_once('=')
            .ok_or_else(|| format!("field '{field}' has no '='"))?;
        let tag: u32 = tag
            .parse()
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| format!("tag '{tag}' is not a number"))?;
        Ok::<_, String>((tag, value.to_string()))
    });
    let msg_type = match fields.next() {
        Some(Ok((tag::MSG_TYPE, value))) if !value.is_empty() => value,
        Some(Err(e)) => return Err(e),
        _ => return Err("MsgType (35) is not the first body field".to_string()),
    };
    let fields = fields.collect::<Result<Fields, String>>()?;
    Ok(Message { msg_type, fields })
}

/// A UTC time as FIX writes it: `YYYYMMDD-HH:MM:SS.sss`.
pub fn utc_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d-%H:%M:%S%.3f").to_string()
}

/// Reads a FIX UTC timestamp, with or without a fraction of a second
/// (venues send seconds, milliseconds, micro- or nanoseconds).
pub fn parse_utc_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let mut at = NaiveDateTime::parse_from_str(whole, "%Y%m%d-%H:%M:%S").ok()?;
    if let Some(fraction) = fraction {
        if fraction.is_empty()
            || fraction.len() > 9
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let nanos: i64 = format!("{fraction:0<9}").parse().ok()?;
        at += chrono::Duration::nanoseconds(nanos);
    }
    Some(at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// `|` for SOH, to write vectors readably.
    fn wire(text: &str) -> Vec<u8> {
        text.replace('|', "\x01").into_bytes()
    }

    /// A Logon whose BodyLength (67) and CheckSum (236) were worked out by
    /// hand: 67 is the byte count from `35=` through the SOH before `10=`.
    const LOGON: &str =
        "8=FIX.4.4|9=67|35=A|49=DESK|56=LP|34=1|52=20250119-14:30:25.123|98=0|108=30|141=Y|10=236|";

    fn logon() -> Message {
        Message::new("A")
            .with(tag::SENDER_COMP_ID, "DESK")
            .with(tag::TARGET_COMP_ID, "LP")
            .with(tag::MSG_SEQ_NUM, 1)
            .with(tag::SENDING_TIME, "20250119-14:30:25.123")
            .with(tag::ENCRYPT_METHOD, 0)
            .with(tag::HEART_BT_INT, 30)
            .with(tag::RESET_SEQ_NUM_FLAG, "Y")
    }

    #[test]
    fn encoding_computes_body_length_and_checksum() {
        assert_eq!(printable(&logon().encode()), LOGON);
    }

    #[test]
    fn the_published_logon_vector_has_its_checksum() {
        // The FIX 4.2 Logon printed in most FIX primers: BodyLength 65,
        // CheckSum 062.
        let bytes = wire(
            "8=FIX.4.2|9=65|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16|98=0|108=30|",
        );
        assert_eq!(checksum(&bytes), 62);
        assert_eq!(bytes.len() - "8=FIX.4.2|9=65|".len(), 65);
        // It is a well-formed frame, but not the version we speak.
        let mut framer = Framer::new();
        framer.push(&bytes);
        framer.push(b"10=062\x01");
        match framer.next_frame() {
            Some(Err(FrameError::BeginString { begin, .. })) => assert_eq!(begin, "FIX.4.2"),
            other => panic!("expected a BeginString error, got {other:?}"),
        }
    }

    #[test]
    fn a_frame_decodes_to_its_fields() {
        let mut framer = Framer::new();
        framer.push(&wire(LOGON));
        let frame = framer.next_frame().unwrap().unwrap();
        assert_eq!(frame.message, logon());
        assert_eq!(frame.raw, wire(LOGON));
        assert_eq!(frame.message.seq_num(), Some(1));
        assert!(framer.next_frame().is_none());
        assert_eq!(framer.pending(), 0);
    }

    #[test]
    fn a_frame_split_anywhere_waits_for_the_rest() {
        let bytes = wire(LOGON);
        for cut in 1..bytes.len() {
            let mut framer = Framer::new();
            framer.push(&bytes[..cut]);
            assert!(framer.next_frame().is_none(), "cut at {cut}");
            framer.push(&bytes[cut..]);
            assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
        }
    }

    #[test]
    fn frames_joined_in_one_read_come_out_one_by_one() {
        let heartbeat = Message::new("0").with(tag::MSG_SEQ_NUM, 2);
        let mut joined = wire(LOGON);
        joined.extend(heartbeat.encode());
        joined.extend(&wire(LOGON)[..20]);
        let mut framer = Framer::new();
        framer.push(&joined);
        assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
        assert_eq!(framer.next_frame().unwrap().unwrap().message, heartbeat);
        assert!(framer.next_frame().is_none());
        assert_eq!(framer.pending(), 20);
    }

    #[test]
    fn a_corrupted_checksum_is_reported_and_the_next_frame_survives() {
        let mut framer = Framer::new();
        framer.push(&wire(&LOGON.replace("10=236", "10=237")));
        framer.push(&wire(LOGON));
        match framer.next_frame() {
            Some(Err(FrameError::CheckSum {
                computed, declared, ..
            })) => assert_eq!((computed, declared.as_str()), (236, "237")),
            other => panic!("expected a checksum error, got {other:?}"),
        }
        assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
    }

    #[test]
    fn a_corrupted_byte_in_the_body_fails_the_checksum() {
        let mut framer = Framer::new();
        framer.push(&wire(&LOGON.replace("108=30", "108=31")));
        assert!(matches!(
            framer.next_frame(),
            Some(Err(FrameError::CheckSum { computed: 237, .. }))
        ));
    }

    #[test]
    fn a_wrong_body_length_is_reported_and_framing_resumes() {
        let mut framer = Framer::new();
        framer.push(&wire(&LOGON.replace("9=67", "9=66")));
        framer.push(&wire(LOGON));
        let error = framer.next_frame().unwrap().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("bad BodyLength: 66 bytes of body are not followed by CheckSum (10)"),
            "{error}"
        );
        assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
    }

    #[test]
    fn garbage_before_a_frame_is_skipped_and_reported() {
        let mut framer = Framer::new();
        framer.push(b"hello\x0158=FIXED\x01");
        framer.push(&wire(LOGON));
        match framer.next_frame() {
            Some(Err(FrameError::Garbage { skipped })) => {
                assert_eq!(skipped, b"hello\x0158=FIXED\x01")
            }
            other => panic!("expected garbage, got {other:?}"),
        }
        assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
    }

    #[test]
    fn a_non_numeric_body_length_is_reported_not_panicked_on() {
        let mut framer = Framer::new();
        framer.push(&wire("8=FIX.4.4|9=x1|35=0|10=000|"));
        assert!(matches!(
            framer.next_frame(),
            Some(Err(FrameError::BodyLength { .. }))
        ));
        assert!(framer.next_frame().is_none());
    }

    #[test]
    fn a_body_over_the_cap_is_refused_before_it_arrives_and_framing_resumes() {
        let mut framer = Framer::new();
        framer.push(&wire("8=FIX.4.4|9=5242880|35=W|"));
        let error = framer.next_frame().unwrap().unwrap_err();
        assert_eq!(
            error.to_string(),
            "bad BodyLength: 5242880 bytes of body are over the 1 MB cap: '8=FIX.4.4|9=5242880|35=W|'"
        );
        // The rest of it is skipped as it comes; the next message is read.
        framer.push(&vec![b'x'; 64 * 1024]);
        assert!(matches!(
            framer.next_frame(),
            Some(Err(FrameError::Garbage { .. }))
        ));
        assert!(framer.pending() < 16, "{}", framer.pending());
        framer.push(&logon().encode());
        assert_eq!(framer.next_frame().unwrap().unwrap().message, logon());
    }

    #[test]
    fn a_field_without_a_tag_is_malformed() {
        let body = "35=0|=x|";
        let mut text = format!("8=FIX.4.4|9={}|{body}", body.len());
        let sum = checksum(&wire(&text));
        text.push_str(&format!("10={sum:03}|"));
        let mut framer = Framer::new();
        framer.push(&wire(&text));
        let error = framer.next_frame().unwrap().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("malformed message: tag '' is not a number"),
            "{error}"
        );
    }

    #[test]
    fn a_repeating_group_round_trips() {
        let entries = vec![
            vec![
                (tag::SYMBOL, "BTC/USDT".to_string()),
                (tag::SIDE, "1".to_string()),
                (tag::ORDER_QTY, "1.5".to_string()),
                (tag::CURRENCY, "BTC".to_string()),
                (tag::TRANSACT_TIME, "20250119-14:30:25.123".to_string()),
            ],
            vec![
                (tag::SYMBOL, "ETH/USDT".to_string()),
                (tag::SIDE, "2".to_string()),
                (tag::ORDER_QTY, "10".to_string()),
            ],
        ];
        let mut message = Message::new("R").with(tag::QUOTE_REQ_ID, "k7m2-1");
        message.push_group(tag::NO_RELATED_SYM, &entries);
        message.push(tag::TEXT, "after the group");
        let mut framer = Framer::new();
        framer.push(&message.encode());
        let decoded = framer.next_frame().unwrap().unwrap().message;
        let members = [
            tag::SYMBOL,
            tag::SIDE,
            tag::ORDER_QTY,
            tag::CURRENCY,
            tag::TRANSACT_TIME,
        ];
        assert_eq!(decoded.group(tag::NO_RELATED_SYM, &members), Ok(entries));
        assert_eq!(decoded.get(tag::TEXT), Some("after the group"));
    }

    #[test]
    fn a_quote_request_with_its_group_matches_a_hand_computed_vector() {
        let mut message = Message::new("R").with(tag::QUOTE_REQ_ID, "Q1");
        message.push_group(
            tag::NO_RELATED_SYM,
            &[vec![
                (tag::SYMBOL, "BTC/USDT".to_string()),
                (tag::SIDE, "1".to_string()),
                (tag::ORDER_QTY, "1.5".to_string()),
                (tag::CURRENCY, "BTC".to_string()),
                (tag::TRANSACT_TIME, "20250119-14:30:25.123".to_string()),
            ]],
        );
        // 5 + 7 + 6 + 12 + 5 + 7 + 7 + 25 = 74 body bytes.
        assert_eq!(
            printable(&message.encode()),
            "8=FIX.4.4|9=74|35=R|131=Q1|146=1|55=BTC/USDT|54=1|38=1.5|15=BTC|60=20250119-14:30:25.123|10=168|"
        );
    }

    #[test]
    fn a_group_whose_count_lies_is_an_error() {
        let message = Message::new("R")
            .with(tag::NO_RELATED_SYM, 2)
            .with(tag::SYMBOL, "BTC/USDT")
            .with(tag::SIDE, 1);
        assert_eq!(
            message.group(tag::NO_RELATED_SYM, &[tag::SYMBOL, tag::SIDE]),
            Err(CodecError::GroupCount {
                count_tag: 146,
                declared: 2,
                found: 1
            })
        );
    }

    #[test]
    fn a_separator_in_a_value_cannot_split_a_field() {
        let message = Message::new("0").with(tag::TEXT, "a\x0135=D");
        assert_eq!(message.get(tag::TEXT), Some("a 35=D"));
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = Utc.with_ymd_and_hms(2025, 1, 19, 14, 30, 25).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(utc_timestamp(at), "20250119-14:30:25.123");
        assert_eq!(parse_utc_timestamp("20250119-14:30:25.123"), Some(at));
        assert_eq!(
            parse_utc_timestamp("20250119-14:30:25.123456"),
            Some(at + chrono::Duration::microseconds(456))
        );
        assert_eq!(
            parse_utc_timestamp("20250119-14:30:25"),
            Some(at - chrono::Duration::milliseconds(123))
        );
        assert_eq!(parse_utc_timestamp("2025-01-19T14:30:25Z"), None);
        assert_eq!(parse_utc_timestamp("20250119-14:30:25."), None);
    }
}
