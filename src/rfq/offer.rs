//! The client's side of one RFQ: prices a candidate with the desk's markup,
//! gives each client quote its id (the RFQ's id and a per-stream
//! sequence), and keeps the one live quote until its validity runs out.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::ids;
use crate::market::Bps;
use crate::rfq::event::{ClientQuote, QuoteReason};
use crate::rfq::lock::Candidate;
use crate::rfq::pricing::{client_valid_until, price_client_in};
use crate::rfq::spec::RfqSpec;

/// The client quote currently offered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Live {
    pub(crate) quote_id: Arc<str>,
    /// The LP quote behind it.
    pub(crate) candidate: Candidate,
    pub(crate) client_price: Decimal,
    pub(crate) client_valid_until_ms: StreamMs,
    /// The quote as the client saw it (what an acceptance accepts).
    pub(crate) shown: Box<ClientQuote>,
}

/// Client quotes of one RFQ; see the module docs.
#[derive(Debug)]
pub(crate) struct Offers {
    rfq_id: Arc<str>,
    spec: RfqSpec,
    markup: Bps,
    validity_buffer_ms: u64,
    /// Client quotes issued so far: the sequence in their ids.
    issued: u32,
    live: Option<Live>,
}

impl Offers {
    pub(crate) fn new(
        rfq_id: Arc<str>,
        spec: RfqSpec,
        markup: Bps,
        validity_buffer_ms: u64,
    ) -> Offers {
        Offers {
            rfq_id,
            spec,
            markup,
            validity_buffer_ms,
            issued: 0,
            live: None,
        }
    }

    /// Quote ids are stemmed from `stem` rather than the RFQ's id.
    pub(crate) fn set_stem(&mut self, stem: Arc<str>) {
        self.rfq_id = stem;
    }

    /// Makes `candidate` (from LP `lp_name`) the live client quote at
    /// `now` and returns it; `None` when its client validity is already
    /// over (such a quote is never shown).
    pub(crate) fn offer(
        &mut self,
        now: StreamMs,
        candidate: Candidate,
        (lp_name, simulated): (Arc<str>, bool),
        reason: QuoteReason,
    ) -> Option<ClientQuote> {
        let client_valid_until_ms =
            client_valid_until(now, candidate.valid_until_ms, self.validity_buffer_ms)?;
        let spec = &self.spec;
        let priced = price_client_in(
            spec.side,
            &spec.pair,
            spec.fixed,
            spec.amount,
            candidate.price,
            self.markup,
        );
        // A quote-currency amount too small to buy one lot at this price
        // is no trade to offer.
        if priced.base.is_zero() {
            return None;
        }
        self.issued += 1;
        let quote_id = ids::quote_id(&self.rfq_id, self.issued);
        let quote = ClientQuote {
            quote_id: quote_id.clone(),
            lp: lp_name,
            side: spec.side,
            lp_price: candidate.price,
            client_price: priced.price,
            markup_bps: self.markup,
            amount: priced.base,
            client_pays: priced.pays,
            pays_asset: priced.pays_asset,
            client_receives: priced.receives,
            receives_asset: priced.receives_asset,
            client_valid_for_ms: client_valid_until_ms - now,
            reason,
            simulated,
        };
        self.live = Some(Live {
            quote_id,
            candidate,
            client_price: priced.price,
            client_valid_until_ms,
            shown: Box::new(quote.clone()),
        });
        Some(quote)
    }

    /// The live client quote, whatever the time.
    pub(crate) fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    /// The client quote still valid at `now`, if any.
    pub(crate) fn live_at(&self, now: StreamMs) -> Option<&Live> {
        self.live
            .as_ref()
            .filter(|live| live.client_valid_until_ms > now)
    }

    /// When the live client quote's validity runs out, if one is live.
    pub(crate) fn deadline(&self) -> Option<StreamMs> {
        self.live.as_ref().map(|live| live.client_valid_until_ms)
    }

    /// Takes the live quote away if its validity is over at `now`.
    pub(crate) fn expire(&mut self, now: StreamMs) -> Option<Live> {
        if self.live.as_ref()?.client_valid_until_ms > now {
            return None;
        }
        self.live.take()
    }

    /// Withdraws the live quote (the client accepted it, or the stream
    /// stops offering).
    pub(crate) fn withdraw(&mut self) -> Option<Live> {
        self.live.take()
    }
}
