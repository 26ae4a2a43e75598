//! The per-venue FIX audit log: every message in and out, one line each,
//! appended to `<log_dir>/<venue>.fix.log` with a UTC timestamp and a
//! direction, SOH shown as `|` and passwords masked. It is the desk's
//! record of what was said to a venue, so it is written before a message
//! is acted on and flushed line by line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::clock::iso_millis;
use crate::lp::fix::codec::{printable, tag, SOH};
use crate::secret::Secret;

/// Which way a line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received from the venue.
    In,
    /// Sent to the venue.
    Out,
    /// Something the session did or saw that is not a message (connect,
    /// drop, bytes that were not a message).
    Event,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::In => "IN ",
            Direction::Out => "OUT",
            Direction::Event => "EVT",
        }
    }
}

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    file: File,
    path: PathBuf,
    password: Option<Secret>,
    /// Set after the first failed write, so a full disk is reported once
    /// rather than on every message.
    failed: bool,
}

/// The log file of `venue` in `dir`: the venue's name with anything but
/// letters, digits, `.`, `-` and `_` turned into `_`, so a name cannot
/// reach outside the directory.
pub fn log_path(dir: &Path, venue: &str) -> PathBuf {
    let safe: String = venue
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    dir.join(format!(
        "{}.fix.log",
        if safe.is_empty() { "_" } else { safe }
    ))
}

impl AuditLog {
    /// Opens (creating the directory and file if needed) the log of
    /// `venue` for appending. `password` is masked wherever it appears.
    pub fn open(dir: &Path, venue: &str, password: Option<Secret>) -> std::io::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        let path = log_path(dir, venue);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(AuditLog {
            file,
            path,
            password,
            failed: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one message (or unframed bytes) as they went over the wire.
    pub fn message(&mut self, direction: Direction, raw: &[u8]) {
        let text = mask(raw, self.password.as_ref());
        self.line(direction, &text);
    }

    /// Appends a session event.
    pub fn event(&mut self, text: &str) {
        let text = match &self.password {
            Some(secret) if secret.appears_in(text) => text.replace(secret.expose(), "***"),
            _ => text.to_string(),
        };
        self.line(Direction::Event, &text);
    }

    fn line(&mut self, direction: Direction, text: &str) {
        let line = format!("{} {} {text}\n", iso_millis(Utc::now()), direction.label());
        // One write per line: an append of a whole line is never
        // interleaved with another writer's half line.
        if let Err(error) = self.file.write_all(line.as_bytes()) {
            if !self.failed {
                tracing::error!(path = %self.path.display(), %error, "cannot write the FIX audit log");
                self.failed = true;
            }
        }
    }
}

/// The bytes as a log line with Password (554) and NewPassword (925)
/// shown as `***`, and the password masked anywhere else it appears
/// (a venue may echo it in a text).
pub fn mask(raw: &[u8], password: Option<&Secret>) -> String {
    let mut masked = Vec::with_capacity(raw.len());
    for (i, field) in raw.split(|b| *b == SOH).enumerate() {
        if i > 0 {
            masked.push(SOH);
        }
        let secret_field = [tag::PASSWORD, tag::NEW_PASSWORD]
            .iter()
            .find(|t| field.starts_with(format!("{t}=").as_bytes()));
        match secret_field {
            Some(t) => masked.extend_from_slice(format!("{t}=***").as_bytes()),
            None => masked.extend_from_slice(field),
        }
    }
    let text = printable(&masked);
    match password {
        Some(secret) if secret.appears_in(&text) => text.replace(secret.expose(), "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_by_tag_and_by_value() {
        let secret = Secret::new("hunter2");
        let raw = b"8=FIX.4.4\x019=9\x0135=A\x01553=desk\x01554=hunter2\x0158=bad password hunter2\x0110=000\x01";
        assert_eq!(
            mask(raw, Some(&secret)),
            "8=FIX.4.4|9=9|35=A|553=desk|554=***|58=bad password ***|10=000|"
        );
        assert_eq!(mask(b"1554=x\x01554=y", None), "1554=x|554=***");
    }

    #[test]
    fn a_venue_name_cannot_leave_the_log_directory() {
        let dir = Path::new("/var/log/desk");
        assert_eq!(
            log_path(dir, "Wintermute"),
            Path::new("/var/log/desk/Wintermute.fix.log")
        );
        assert_eq!(
            log_path(dir, "../etc/LP 1"),
            Path::new("/var/log/desk/_etc_LP_1.fix.log")
        );
    }

    #[test]
    fn lines_carry_a_timestamp_and_direction() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), "LP", None).unwrap();
        log.message(Direction::Out, b"8=FIX.4.4\x0135=0\x01");
        log.event("connected");
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z OUT 8=FIX.4.4|35=0|"), "{}", lines[0]);
        assert!(lines[1].ends_with("Z EVT connected"), "{}", lines[1]);
    }
}
