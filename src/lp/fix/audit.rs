//! The per-venue FIX audit log: every message in and out, one line each,
//! appended to `<log_dir>/<venue>.fix.log` with a UTC timestamp and a
//! direction, SOH shown as `|` and the password fields (554, 925) masked,
//! nothing else: it is the desk's record of what was said to a venue, so
//! no price or quantity may be rewritten, and it is written before a
//! message is acted on and flushed line by line. The file is created 0600
//! and its directory 0700.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::clock::iso_millis;
use crate::lp::fix::codec::{printable, tag, SOH};

/// Which way a line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
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
pub(crate) struct AuditLog {
    file: File,
    path: PathBuf,
    /// Set after the first failed write, so a full disk is reported once
    /// rather than on every message.
    failed: bool,
}

/// The log file of `venue` in `dir`: the venue's name with anything but
/// letters, digits, `.`, `-` and `_` turned into `_`, so a name cannot
/// reach outside the directory.
pub(crate) fn log_path(dir: &Path, venue: &str) -> PathBuf {
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
    /// Opens (creating the directory 0700 and the file 0600 if needed)
    /// the log of `venue` for appending.
    pub(crate) fn open(dir: &Path, venue: &str) -> std::io::Result<AuditLog> {
        crate::private_files::create_dir_all(dir)?;
        let path = log_path(dir, venue);
        let file = crate::private_files::open_append(&path)?;
        Ok(AuditLog {
            file,
            path,
            failed: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one message (or unframed bytes) as they went over the wire.
    pub fn message(&mut self, direction: Direction, raw: &[u8]) {
        let text = mask(raw);
        self.line(direction, &text);
    }

    /// Appends a session event.
    pub(crate) fn event(&mut self, text: &str) {
        self.line(Direction::Event, text);
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

/// The bytes as a log line with the values of Password (554) and
/// NewPassword (925) shown as `***`. Only those fields: replacing the
/// password's text wherever it appears would rewrite any price or
/// quantity that happens to contain it.
pub(crate) fn mask(raw: &[u8]) -> String {
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
    printable(&masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_fields_are_masked_and_nothing_else() {
        let raw = b"8=FIX.4.4\x019=9\x0135=A\x01553=desk\x01554=hunter2\x01925=new1\x0110=000\x01";
        assert_eq!(
            mask(raw),
            "8=FIX.4.4|9=9|35=A|553=desk|554=***|925=***|10=000|"
        );
        assert_eq!(mask(b"1554=x\x01554=y"), "1554=x|554=***");
    }

    #[rstest::rstest]
    #[case::one_digit_password("1")]
    #[case::a_password_inside_the_price("2345")]
    fn a_short_password_never_rewrites_a_price(#[case] password: &str) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path(), "LP").unwrap();
        log.message(
            Direction::Out,
            format!("35=A\x01554={password}\x01").as_bytes(),
        );
        log.message(
            Direction::In,
            b"35=S\x01117=Q1\x01132=1.2345\x01133=1.2346\x0144=1.2345\x0110=123\x01",
        );
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(" OUT 35=A|554=***|"), "{}", lines[0]);
        assert!(
            lines[1].ends_with(" IN  35=S|117=Q1|132=1.2345|133=1.2346|44=1.2345|10=123|"),
            "{}",
            lines[1]
        );
    }

    #[test]
    #[cfg(unix)]
    fn the_log_and_its_directory_are_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("fix-logs");
        let log = AuditLog::open(&logs, "LP").unwrap();
        assert_eq!((mode(&logs), mode(log.path())), (0o700, 0o600));
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
        let mut log = AuditLog::open(dir.path(), "LP").unwrap();
        log.message(Direction::Out, b"8=FIX.4.4\x0135=0\x01");
        log.event("connected");
        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z OUT 8=FIX.4.4|35=0|"), "{}", lines[0]);
        assert!(lines[1].ends_with("Z EVT connected"), "{}", lines[1]);
    }
}
