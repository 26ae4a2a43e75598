//! The fallback journal: where a stream's outcome goes when the blotter
//! cannot take it (an order already out when writing began to fail). An
//! append-only file beside the blotter (`<blotter>.journal`, created 0600),
//! one JSON event per line, each append synced to disk before it counts.
//! The writer keeps it while writing fails and rewrites it at close with
//! everything still held; it is merged into the blotter when writing works
//! again, or by the next [`super::Blotter::open`].

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::rfq::{EventKind, RfqEvent};

/// The journal beside the blotter at `blotter`.
pub fn beside(blotter: &Path) -> PathBuf {
    let mut path = blotter.as_os_str().to_owned();
    path.push(".journal");
    PathBuf::from(path)
}

/// An event that says how an accepted quote went (or the stream's end):
/// what must never be lost, so it is journalled the moment it cannot be
/// written.
pub fn is_outcome(event: &RfqEvent) -> bool {
    matches!(
        event.kind,
        EventKind::OrderSent(_)
            | EventKind::Filled(_)
            | EventKind::OrderRejected(_)
            | EventKind::ExecutionUnknown(_)
            | EventKind::NotFilled(_)
            | EventKind::Ended(_)
    )
}

/// Appends `events`, one line each, and syncs them to disk.
pub(crate) fn append<'e>(
    path: &Path,
    events: impl IntoIterator<Item = &'e RfqEvent>,
) -> io::Result<()> {
    let mut file = crate::private_files::open_append(path)?;
    let mut lines = Vec::new();
    for event in events {
        serde_json::to_writer(&mut lines, event)?;
        lines.push(b'\n');
    }
    file.write_all(&lines)?;
    file.sync_data()
}

/// Replaces the journal with exactly `events` (none: it is removed), in
/// one step: a crash leaves the old journal or the new one, never half.
pub(crate) fn rewrite<'e>(
    path: &Path,
    events: impl IntoIterator<Item = &'e RfqEvent>,
) -> io::Result<()> {
    let mut events = events.into_iter().peekable();
    if events.peek().is_none() {
        return match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    }
    let mut fresh = path.as_os_str().to_owned();
    fresh.push(".new");
    let fresh = PathBuf::from(fresh);
    let _ = std::fs::remove_file(&fresh);
    append(&fresh, events)?;
    std::fs::rename(&fresh, path)
}

/// The journal's events, oldest first; none when there is no journal. A
/// last line cut short (a crash while appending) was never synced whole,
/// so never counted: it is skipped.
pub fn read(path: &Path) -> io::Result<Vec<RfqEvent>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut events = Vec::new();
    let mut lines = io::BufReader::new(file).lines().peekable();
    while let Some(line) = lines.next() {
        let line = line?;
        match serde_json::from_str(&line) {
            Ok(event) => events.push(event),
            Err(_) if lines.peek().is_none() => {
                tracing::warn!(path = %path.display(), "the fallback journal's last line is cut short; skipped");
            }
            Err(error) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {}: {error}", events.len() + 1),
                ))
            }
        }
    }
    Ok(events)
}
