//! What one request brings with it beside the trade: who the client is
//! and the markup and threshold it is priced at. A desk serving many
//! clients prices each at its own terms, so these travel with the request
//! ([`QuoteRequest`]) and fall back to the desk's settings only where the
//! request says nothing.

use rust_decimal::Decimal;

use crate::market::Bps;
use crate::rfq::client_id::{Channel, ClientId};
use crate::rfq::engine::EngineParams;
use crate::rfq::RfqSpec;

/// The side a two-way request is asked with (`two-way` or `2w`, any
/// case), wherever a side is typed: `quote`, the prompt, the console.
pub(crate) fn is_two_way(side: &str) -> bool {
    let side = side.trim();
    side.eq_ignore_ascii_case("two-way") || side.eq_ignore_ascii_case("2w")
}

/// A request's term beyond the desk's limit for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("markup '{markup}' bps is above the desk's limit of {limit} bps")]
    Markup { markup: Bps, limit: Decimal },
    #[error("improvement threshold '{threshold}' bps is above the desk's limit of {limit} bps")]
    Threshold { threshold: Bps, limit: Decimal },
}

/// The request's own terms; each one it leaves out is the desk's setting.
/// The desk holds them to the limits of its own settings before it
/// starts the stream ([`RequestParams::check`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestParams {
    client: Option<ClientId>,
    markup: Option<Bps>,
    threshold: Option<Bps>,
    operator: Option<std::sync::Arc<str>>,
    two_way: bool,
    channel: Channel,
}

impl RequestParams {
    /// For `client`.
    pub fn with_client(mut self, client: ClientId) -> RequestParams {
        self.client = Some(client);
        self
    }

    /// The client asks for both sides (a two-way request): the desk
    /// quotes a bid and an offer, and the spec's side is not used.
    pub fn with_two_way(mut self) -> RequestParams {
        self.two_way = true;
        self
    }

    /// A two-way request.
    pub fn two_way(&self) -> bool {
        self.two_way
    }

    /// Asked by desk server operator `operator` (recorded on the RFQ).
    pub fn with_operator(mut self, operator: std::sync::Arc<str>) -> RequestParams {
        self.operator = Some(operator);
        self
    }

    /// Came in by `channel` (an operator's, unless this says otherwise).
    pub fn with_channel(mut self, channel: Channel) -> RequestParams {
        self.channel = channel;
        self
    }

    /// How the request came in.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The desk server's operator who asked, if any.
    pub fn operator(&self) -> Option<std::sync::Arc<str>> {
        self.operator.clone()
    }

    /// Priced at `markup` instead of the desk's MARKUP_BPS.
    pub fn with_markup(mut self, markup: Bps) -> RequestParams {
        self.markup = Some(markup);
        self
    }

    /// Locked with `threshold` instead of the desk's
    /// IMPROVEMENT_THRESHOLD_BPS.
    pub fn with_threshold(mut self, threshold: Bps) -> RequestParams {
        self.threshold = Some(threshold);
        self
    }

    /// Refuses a markup above `max_markup` bps or a threshold above
    /// `max_threshold` bps: the same hard caps the desk's own settings
    /// have (MAX_MARKUP_BPS, MAX_THRESHOLD_BPS). There is no floor: a
    /// request may price below the desk's default markup, as a desk does
    /// for a favoured client.
    pub fn check(&self, max_markup: Decimal, max_threshold: Decimal) -> Result<(), RequestError> {
        if let Some(markup) = self.markup.filter(|markup| markup.value() > max_markup) {
            return Err(RequestError::Markup {
                markup,
                limit: max_markup,
            });
        }
        if let Some(threshold) = self.threshold.filter(|t| t.value() > max_threshold) {
            return Err(RequestError::Threshold {
                threshold,
                limit: max_threshold,
            });
        }
        Ok(())
    }

    /// The client the request is for ([`ClientId::house`] when it names
    /// none).
    pub fn client(&self) -> ClientId {
        self.client.clone().unwrap_or_else(ClientId::house)
    }

    /// The client the request names, if it names one.
    pub fn named_client(&self) -> Option<&ClientId> {
        self.client.as_ref()
    }

    /// The improvement threshold the request brings, if it brings one.
    pub fn threshold(&self) -> Option<Bps> {
        self.threshold
    }

    /// The markup the request brings, if it brings one.
    pub fn markup(&self) -> Option<Bps> {
        self.markup
    }

    /// The desk's engine settings with this request's markup and
    /// threshold in place of the desk's.
    pub(crate) fn engine_params(&self, desk: EngineParams) -> EngineParams {
        EngineParams {
            markup: self.markup.unwrap_or(desk.markup),
            threshold: self.threshold.unwrap_or(desk.threshold),
            ..desk
        }
    }
}

/// A request as it reaches the desk: the trade, and the terms it is
/// priced at.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteRequest {
    pub spec: RfqSpec,
    pub params: RequestParams,
}

/// A bare trade is the house's, at the desk's terms.
impl From<RfqSpec> for QuoteRequest {
    fn from(spec: RfqSpec) -> QuoteRequest {
        QuoteRequest {
            spec,
            params: RequestParams::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn bps(value: Decimal) -> Bps {
        Bps::new(value).unwrap()
    }

    fn desk() -> EngineParams {
        EngineParams {
            markup: bps(dec!(5)),
            threshold: bps(dec!(1)),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            order_timeout_ms: 5_000,
            max_deviation: bps(dec!(200)),
            fade_tolerance: bps(dec!(2)),
        }
    }

    #[test]
    fn a_request_that_says_nothing_is_the_houses_at_the_desks_terms() {
        let params = RequestParams::default();
        assert_eq!(params.client().as_str(), "house");
        assert_eq!(params.engine_params(desk()), desk());
    }

    #[test]
    fn a_request_replaces_only_the_terms_it_names() {
        let params = RequestParams::default()
            .with_client(ClientId::new("acme-fund_1.a").unwrap())
            .with_markup(bps(dec!(12.5)));
        let engine = params.engine_params(desk());
        assert_eq!(params.client().as_str(), "acme-fund_1.a");
        assert_eq!(engine.markup, bps(dec!(12.5)));
        assert_eq!(engine.threshold, bps(dec!(1)));
        assert_eq!(
            EngineParams {
                markup: desk().markup,
                ..engine
            },
            desk()
        );
        let engine = RequestParams::default()
            .with_threshold(bps(dec!(0)))
            .engine_params(desk());
        assert_eq!((engine.markup, engine.threshold), (bps(dec!(5)), Bps::ZERO));
    }

    #[test]
    fn terms_beyond_the_desks_limits_are_refused() {
        let check = |params: RequestParams| params.check(dec!(500), dec!(1000));
        let markup = RequestParams::default().with_markup(bps(dec!(500.01)));
        assert_eq!(
            check(markup).unwrap_err().to_string(),
            "markup '500.01' bps is above the desk's limit of 500 bps"
        );
        assert_eq!(
            check(RequestParams::default().with_markup(bps(dec!(500)))),
            Ok(())
        );
        let threshold = RequestParams::default().with_threshold(bps(dec!(1000.5)));
        assert_eq!(
            check(threshold).unwrap_err().to_string(),
            "improvement threshold '1000.5' bps is above the desk's limit of 1000 bps"
        );
    }
}
