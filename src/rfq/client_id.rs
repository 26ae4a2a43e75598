//! Who a request is for: the id that names a desk's client in its events,
//! its blotter and (later) its FIX and WebSocket sessions.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest client id: room for an account code or a FIX CompID.
const CLIENT_ID_MAX: usize = 64;

/// Who a request is for: 1 to 64 ASCII letters, digits, `-`, `_` or `.`,
/// so it is safe in a log line, a blotter column or a FIX field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(Arc<str>);

/// A client id outside its alphabet or length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client id '{0}' must be 1 to 64 letters, digits, '-', '_' or '.'")]
pub struct InvalidClientId(pub(crate) String);

impl ClientId {
    /// The client of every request that names none: the desk trading on
    /// its own behalf, as every request did before clients had ids.
    pub(crate) const HOUSE: &'static str = "house";

    /// The desk's own id, `ClientId::HOUSE`.
    pub fn house() -> ClientId {
        ClientId(Arc::from(ClientId::HOUSE))
    }

    pub fn new(id: &str) -> Result<ClientId, InvalidClientId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.len() > CLIENT_ID_MAX || !id.chars().all(allowed) {
            return Err(InvalidClientId(id.to_string()));
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

/// How a request reached the desk: recorded on every RFQ (`rfqs.channel`)
/// so a client's own sessions can be told apart from its operators'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The console, the prompt, `quote`, or a desk server's operator.
    #[default]
    Operator,
    /// A client's WebSocket session (`serve --client-ws`).
    Ws,
    /// A client's FIX 4.4 session (`serve --client-fix`).
    Fix,
}

impl Channel {
    /// The word the blotter and the wire use.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Operator => "operator",
            Channel::Ws => "ws",
            Channel::Fix => "fix",
        }
    }

    /// An operator's: the `started` line leaves it out, as it did before
    /// clients had sessions of their own.
    pub fn is_operator(&self) -> bool {
        *self == Channel::Operator
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

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
