//! Which clients the desk has paused, and its kill switch: the state the
//! desk holds and pushes to every desk view, and the one rule that says
//! whether a request is held by it. A paused client is paused desk-wide:
//! its own sessions' requests and an operator's requests for it are
//! refused alike. The kill switch holds every client's sessions and every
//! operator request for a named client; the house's own requests (an
//! operator's, e.g. a hedge) go on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::rfq::{Channel, ClientId};

/// The words a client is told when its request is refused or its quote
/// cancelled because it is paused (FIX 58 Text, the WebSocket's `text`).
pub const CLIENT_PAUSED: &str = "client paused by desk";

/// Who set a pause, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseMark {
    /// The operator (the operators file's name).
    pub by: Arc<str>,
    /// UTC, ISO-8601 with milliseconds.
    pub at: String,
}

/// One paused client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedClient {
    pub client: ClientId,
    #[serde(flatten)]
    pub mark: PauseMark,
}

/// The desk's pauses now. On the wire (`client_pauses`): `kill_switch`
/// (absent: off) and `paused` (the clients paused one by one, in the
/// order they were paused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPauses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_switch: Option<PauseMark>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<PausedClient>,
}

impl ClientPauses {
    /// Whether a request for `client` that came in by `channel` is held
    /// back: `client` is paused, or the kill switch is on and the request
    /// is a client's own or for a named client.
    pub fn holds(&self, client: &ClientId, channel: Channel) -> bool {
        self.is_paused(client)
            || (self.kill_switch.is_some()
                && (!channel.is_operator() || *client != ClientId::house()))
    }

    /// `client` is paused by name.
    pub fn is_paused(&self, client: &ClientId) -> bool {
        self.paused.iter().any(|paused| paused.client == *client)
    }

    /// Pauses `client` (a client already paused keeps its first mark);
    /// `false` when it already was.
    pub fn pause(&mut self, client: ClientId, mark: PauseMark) -> bool {
        if self.is_paused(&client) {
            return false;
        }
        self.paused.push(PausedClient { client, mark });
        true
    }

    /// Resumes `client`; `false` when it was not paused.
    pub fn resume(&mut self, client: &ClientId) -> bool {
        let before = self.paused.len();
        self.paused.retain(|paused| paused.client != *client);
        self.paused.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> PauseMark {
        PauseMark {
            by: Arc::from("alice"),
            at: "2026-12-07T10:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_paused_client_is_held_on_every_channel_the_kill_switch_spares_only_the_houses_own() {
        let acme = ClientId::new("acme").unwrap();
        let beta = ClientId::new("beta").unwrap();
        let house = ClientId::house();
        let mut pauses = ClientPauses::default();
        assert!(pauses.pause(acme.clone(), mark()));
        assert!(!pauses.pause(acme.clone(), mark()), "already paused");
        let held = |pauses: &ClientPauses| {
            [
                pauses.holds(&acme, Channel::Ws),
                pauses.holds(&acme, Channel::Operator),
                pauses.holds(&beta, Channel::Fix),
                pauses.holds(&beta, Channel::Operator),
                pauses.holds(&house, Channel::Operator),
                pauses.holds(&house, Channel::Ws),
            ]
        };
        assert_eq!(held(&pauses), [true, true, false, false, false, false]);
        pauses.kill_switch = Some(mark());
        assert_eq!(held(&pauses), [true, true, true, true, false, true]);
        assert!(pauses.resume(&acme));
        assert!(!pauses.resume(&acme), "no longer paused");
        pauses.kill_switch = None;
        assert_eq!(held(&pauses), [false; 6]);
        assert_eq!(
            serde_json::to_string(&ClientPauses {
                kill_switch: Some(mark()),
                paused: vec![PausedClient {
                    client: beta,
                    mark: mark()
                }],
            })
            .unwrap(),
            r#"{"kill_switch":{"by":"alice","at":"2026-12-07T10:00:00.000Z"},"paused":[{"client":"beta","by":"alice","at":"2026-12-07T10:00:00.000Z"}]}"#
        );
    }
}
