//! `--json`: one JSON object per event per line, for scripts and tools.
//! Every line names the client the stream is for (`client`) and the leg
//! its amount fixed (`fixed`: `base` or `quote`), so a script reading
//! several streams never has to remember each one's `started`.

use std::io::{self, Write};

use serde::Serialize;

use crate::market::Leg;
use crate::rfq::{ClientId, EventKind, RfqEvent};

/// An event as a `--json` line: its own fields, then `client` and
/// `fixed`.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    event: &'a RfqEvent,
    client: &'a ClientId,
    fixed: Leg,
}

/// Writes `event` of a stream for `client` whose amount is in the `fixed`
/// leg as one line of JSON (decimals as strings). `started` names its
/// client and leg already.
pub fn write_event(
    out: &mut impl Write,
    event: &RfqEvent,
    client: &ClientId,
    fixed: Leg,
) -> io::Result<()> {
    let written = match &event.kind {
        EventKind::Started(_) => serde_json::to_writer(&mut *out, event),
        _ => serde_json::to_writer(
            &mut *out,
            &Line {
                event,
                client,
                fixed,
            },
        ),
    };
    written.map_err(io::Error::other)?;
    out.write_all(b"\n")
}
