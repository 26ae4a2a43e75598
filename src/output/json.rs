//! `--json`: one JSON object per event per line, for scripts and tools.

use std::io::{self, Write};

use crate::rfq::RfqEvent;

/// Writes `event` as one line of JSON (decimals as strings).
pub fn write_event(out: &mut impl Write, event: &RfqEvent) -> io::Result<()> {
    serde_json::to_writer(&mut *out, event).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
