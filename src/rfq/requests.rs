//! Request bookkeeping for one RFQ: which LP has a request in flight, when
//! each request's deadline passes, which polls still have requests out,
//! which LPs declined. No pricing and no lock rules. (A pause an LP asks
//! for is its shared health's business, `lp::health`, not one stream's.)

use crate::clock::StreamMs;

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    pub(crate) request_id: u64,
    pub(crate) poll: u32,
    pub(crate) sent_ms: StreamMs,
}

/// One LP's requests (one Vec of these per RFQ, not one per field:
/// thousands of streams each keep one).
#[derive(Debug, Clone, Copy)]
struct Slot {
    in_flight: Option<InFlight>,
    /// The LP's request timeout (a venue may have its own).
    timeout_ms: u64,
    /// The LP's latest answer was a decline.
    declined: bool,
}

/// A poll with requests still out.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    poll: u32,
    remaining: u32,
}

/// The requests of one RFQ; see the module docs.
#[derive(Debug)]
pub(crate) struct Requests {
    slots: Vec<Slot>,
    outstanding: Vec<Outstanding>,
}

impl Requests {
    pub(crate) fn new(lps: usize, timeout_ms: u64) -> Requests {
        Requests {
            slots: vec![
                Slot {
                    in_flight: None,
                    timeout_ms,
                    declined: false,
                };
                lps
            ],
            outstanding: Vec::new(),
        }
    }

    /// Gives LP `lp` its own request timeout.
    pub(crate) fn set_timeout(&mut self, lp: usize, timeout_ms: u64) {
        self.slots[lp].timeout_ms = timeout_ms;
    }

    /// LP `lp`'s request timeout.
    pub(crate) fn timeout_of(&self, lp: usize) -> u64 {
        self.slots[lp].timeout_ms
    }

    /// LP `lp` may be asked: nothing in flight.
    pub(crate) fn can_ask(&self, lp: usize) -> bool {
        self.slots[lp].in_flight.is_none()
    }

    /// Notes a request sent to `lp`; the id is unique across the process.
    pub(crate) fn send(&mut self, lp: usize, poll: u32, now: StreamMs) -> u64 {
        let request_id = crate::lp::next_request_id();
        self.slots[lp].in_flight = Some(InFlight {
            request_id,
            poll,
            sent_ms: now,
        });
        request_id
    }

    /// Notes that poll `poll` sent `count` requests.
    pub(crate) fn poll_sent(&mut self, poll: u32, count: u32) {
        self.outstanding.push(Outstanding {
            poll,
            remaining: count,
        });
    }

    /// Takes LP `lp`'s request in flight if `request_id` is the one out:
    /// the late result of a request already timed out gives `None`.
    pub(crate) fn take_answered(&mut self, lp: usize, request_id: u64) -> Option<InFlight> {
        let slot = self.slots.get_mut(lp)?;
        if slot.in_flight?.request_id != request_id {
            return None;
        }
        slot.in_flight.take()
    }

    /// One request of poll `poll` is over; true when that completes it.
    pub(crate) fn request_done(&mut self, poll: u32) -> bool {
        let Some(position) = self.outstanding.iter().position(|o| o.poll == poll) else {
            return false;
        };
        let remaining = &mut self.outstanding[position].remaining;
        *remaining -= 1;
        if *remaining > 0 {
            return false;
        }
        self.outstanding.remove(position);
        true
    }

    /// True when every request sent so far has been answered or timed out.
    pub(crate) fn all_complete(&self) -> bool {
        self.outstanding.is_empty()
    }

    /// The oldest poll that still has requests out.
    pub(crate) fn oldest_outstanding(&self) -> Option<u32> {
        self.outstanding.iter().map(|o| o.poll).min()
    }

    /// When the first request in flight runs out of time, if any is out.
    pub(crate) fn next_timeout(&self) -> Option<StreamMs> {
        if self.outstanding.is_empty() {
            return None;
        }
        self.slots
            .iter()
            .filter_map(|slot| slot.in_flight.map(|f| f.sent_ms + slot.timeout_ms))
            .min()
    }

    /// The requests whose timeout is over at `now`: (LP, request id).
    pub(crate) fn timed_out(&self, now: StreamMs, expired: &mut Vec<(usize, u64)>) {
        expired.clear();
        for (lp, slot) in self.slots.iter().enumerate() {
            if let Some(in_flight) = slot.in_flight {
                if in_flight.sent_ms + slot.timeout_ms <= now {
                    expired.push((lp, in_flight.request_id));
                }
            }
        }
    }

    /// Remembers whether LP `lp`'s latest answer was a decline.
    pub(crate) fn set_declined(&mut self, lp: usize, declined: bool) {
        self.slots[lp].declined = declined;
    }

    /// Every LP's latest answer was a decline: nobody quotes this request.
    pub(crate) fn all_declined(&self) -> bool {
        self.slots.iter().all(|slot| slot.declined)
    }
}
