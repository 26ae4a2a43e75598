//! The hooks a session offers a measurement that rides along with it (the
//! load bench's timings of LP answers through the session). The product
//! runs every session with [`NoProbe`]: zero-sized, its hooks empty and
//! inlined, so a desk's streams carry no clock reads, ready marks or
//! per-stream timing state. What the bench measures, and how, lives in
//! `crate::bench`.

use std::time::Duration;

use crate::rfq::RfqEvent;

/// What a session tells a measurement as it handles LP answers. The
/// session calls these at fixed points; it never reads what they record,
/// so a probe cannot change what the stream does.
pub(crate) trait StreamProbe: Send {
    /// A moment as the probe reads it (nothing, for [`NoProbe`]).
    type Moment: Copy + Send;
    /// When an LP answer was ready, as far as the probe knows it.
    type Ready: Copy + Send;

    /// The moment a stretch the probe times begins.
    fn moment(&self) -> Self::Moment;

    /// How long since `since` (zero for a probe that reads no clock).
    fn since(&self, since: Self::Moment) -> Duration;

    /// Called in the same poll of the session's requests that yielded an
    /// LP answer, before another answer can be yielded: when that answer
    /// was ready, if its LP said.
    fn answer_yielded(&self) -> Self::Ready;

    /// The engine has acted on an answer that was ready at `ready` (its
    /// events not yet handed on).
    fn answer_acted(&mut self, ready: Self::Ready);

    /// The engine's own time on one answer: from `started` to now, less
    /// `output_wait` spent waiting for room in the outlet.
    fn engine_worked(&mut self, started: Self::Moment, output_wait: Duration);

    /// An answer's events waited `waited` for room in the outlet (the
    /// consumers' back-pressure, apart from the engine's work).
    fn output_waited(&mut self, waited: Duration);

    /// `events` are about to be handed on.
    fn handing_on(&mut self, events: &[RfqEvent]);
}

/// The product's probe: measures nothing and costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoProbe;

impl StreamProbe for NoProbe {
    type Moment = ();
    type Ready = ();

    #[inline(always)]
    fn moment(&self) {}

    #[inline(always)]
    fn since(&self, _: ()) -> Duration {
        Duration::ZERO
    }

    #[inline(always)]
    fn answer_yielded(&self) {}

    #[inline(always)]
    fn answer_acted(&mut self, _: ()) {}

    #[inline(always)]
    fn engine_worked(&mut self, _: (), _: Duration) {}

    #[inline(always)]
    fn output_waited(&mut self, _: Duration) {}

    #[inline(always)]
    fn handing_on(&mut self, _: &[RfqEvent]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the product's streams carry for measurement: nothing, in the
    /// session's state or beside each answer.
    #[test]
    fn the_product_probe_takes_no_room() {
        assert_eq!(std::mem::size_of::<NoProbe>(), 0);
        assert_eq!(std::mem::size_of::<<NoProbe as StreamProbe>::Moment>(), 0);
        assert_eq!(std::mem::size_of::<<NoProbe as StreamProbe>::Ready>(), 0);
    }
}
