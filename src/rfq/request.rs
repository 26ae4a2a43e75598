//! What one request brings with it beside the trade: who the client is
//! and the markup and threshold it is priced at. A desk serving many
//! clients prices each at its own terms, so these travel with the request
//! ([`QuoteRequest`]) and fall back to the desk's settings only where the
//! request says nothing.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::{MAX_MARKUP_BPS, MAX_THRESHOLD_BPS};
use crate::market::Bps;
use crate::rfq::engine::{EngineParams, RfqSpec};

/// Longest client id: room for an account code or a FIX CompID.
const CLIENT_ID_MAX: usize = 64;

/// Who a request is for: 1 to 64 ASCII letters, digits, `-`, `_` or `.`,
/// so it is safe in a log line, a blotter column or a FIX field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(Arc<str>);

impl ClientId {
    /// The client of every request that names none: the desk trading on
    /// its own behalf, as every request did before clients had ids.
    pub const HOUSE: &'static str = "house";

    /// The desk's own id, [`ClientId::HOUSE`].
    pub fn house() -> ClientId {
        ClientId(Arc::from(ClientId::HOUSE))
    }

    pub fn new(id: &str) -> Result<ClientId, RequestError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.len() > CLIENT_ID_MAX || !id.chars().all(allowed) {
            return Err(RequestError::ClientId(id.to_string()));
        }
        Ok(ClientId(Arc::from(id)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClientId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ClientId::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A per-request value the desk would not price at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("client id '{0}' must be 1 to 64 letters, digits, '-', '_' or '.'")]
    ClientId(String),
    #[error("markup '{0}' bps is above the desk's limit of {MAX_MARKUP_BPS} bps")]
    Markup(Bps),
    #[error(
        "improvement threshold '{0}' bps is above the desk's limit of {MAX_THRESHOLD_BPS} bps"
    )]
    Threshold(Bps),
}

/// The request's own terms; each one it leaves out is the desk's setting.
/// Built with the `with_*` methods, which hold a value to the same limits
/// as the desk's settings (a client's terms are no looser than the desk's
/// own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestParams {
    client: Option<ClientId>,
    markup: Option<Bps>,
    threshold: Option<Bps>,
}

impl RequestParams {
    /// For `client`.
    pub fn with_client(mut self, client: ClientId) -> RequestParams {
        self.client = Some(client);
        self
    }

    /// Priced at `markup` instead of the desk's MARKUP_BPS.
    pub fn with_markup(mut self, markup: Bps) -> Result<RequestParams, RequestError> {
        if markup.value() > MAX_MARKUP_BPS {
            return Err(RequestError::Markup(markup));
        }
        self.markup = Some(markup);
        Ok(self)
    }

    /// Locked with `threshold` instead of the desk's
    /// IMPROVEMENT_THRESHOLD_BPS.
    pub fn with_threshold(mut self, threshold: Bps) -> Result<RequestParams, RequestError> {
        if threshold.value() > MAX_THRESHOLD_BPS {
            return Err(RequestError::Threshold(threshold));
        }
        self.threshold = Some(threshold);
        Ok(self)
    }

    /// The client the request is for ([`ClientId::house`] when it names
    /// none).
    pub fn client(&self) -> ClientId {
        self.client.clone().unwrap_or_else(ClientId::house)
    }

    /// The desk's engine settings with this request's markup and
    /// threshold in place of the desk's.
    pub fn engine_params(&self, desk: EngineParams) -> EngineParams {
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
    use rstest::rstest;
    use rust_decimal::Decimal;
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
            .with_markup(bps(dec!(12.5)))
            .unwrap();
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
            .unwrap()
            .engine_params(desk());
        assert_eq!((engine.markup, engine.threshold), (bps(dec!(5)), Bps::ZERO));
    }

    #[rstest]
    #[case("")]
    #[case("acme fund")]
    #[case("acme\nLP1")]
    #[case("ümlaut")]
    fn a_client_id_outside_its_alphabet_is_refused(#[case] id: &str) {
        assert_eq!(
            ClientId::new(id).unwrap_err().to_string(),
            format!("client id '{id}' must be 1 to 64 letters, digits, '-', '_' or '.'")
        );
    }

    #[test]
    fn a_client_id_may_be_64_characters_long_and_no_longer() {
        assert!(ClientId::new(&"a".repeat(64)).is_ok());
        assert!(ClientId::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn terms_beyond_the_desks_limits_are_refused() {
        let markup = RequestParams::default().with_markup(bps(dec!(500.01)));
        assert_eq!(
            markup.unwrap_err().to_string(),
            "markup '500.01' bps is above the desk's limit of 500 bps"
        );
        assert!(RequestParams::default().with_markup(bps(dec!(500))).is_ok());
        let threshold = RequestParams::default().with_threshold(bps(dec!(1000.5)));
        assert_eq!(
            threshold.unwrap_err().to_string(),
            "improvement threshold '1000.5' bps is above the desk's limit of 1000 bps"
        );
    }

    #[test]
    fn a_client_id_travels_as_its_text_and_is_checked_on_the_way_in() {
        let id = ClientId::new("acme").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""acme""#);
        assert_eq!(serde_json::from_str::<ClientId>(r#""acme""#).unwrap(), id);
        let error = serde_json::from_str::<ClientId>(r#""LP1 price""#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "client id 'LP1 price' must be 1 to 64 letters, digits, '-', '_' or '.'"
        );
    }
}
