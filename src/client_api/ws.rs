//! The client API over a WebSocket (`lp-rfq serve --client-ws ADDR`): a
//! client authenticates with `Authorization: Bearer <token>` on the
//! upgrade (its token from the variable the clients file's `token_env`
//! names), then speaks JSON messages with a `type` field
//! (docs/client-api.md). A refused upgrade is answered 401 and logged
//! with why, never with the token.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::client_api::session::{ClientSession, Outgoing};
use crate::client_api::{ClientApi, Inbound, Outbound};
use crate::clients::Clients;
use crate::operators::Operators;
use crate::rfq::{Channel, ClientId};
use crate::secret::{desk_token, Secret};
use crate::tls::Opening;
use crate::ws_edge::{self, FAREWELL_WITHIN};

/// The largest message a client may send: each is a few hundred bytes.
const MAX_CLIENT_MESSAGE: usize = 16 << 10;

/// Each client's WebSocket token, read from the variables the clients
/// file names when the server starts.
pub struct ClientTokens {
    tokens: Vec<(ClientId, Secret)>,
}

impl ClientTokens {
    /// Reads the token of every client with a `token_env`; refuses a
    /// missing or short token, one shared with another client or with an
    /// operator (one leaked token would open both doors), and a file where
    /// no client has one, naming the client and the variable (never the
    /// value).
    pub fn load(clients: &Clients, operators: &Operators) -> Result<ClientTokens, String> {
        if !clients.from_file() {
            return Err(
                "--client-ws needs a clients file (--clients or CLIENTS_FILE) naming each client's token_env"
                    .into(),
            );
        }
        let mut tokens: Vec<(ClientId, Secret)> = Vec::new();
        for name in clients.names() {
            let Some(terms) = clients.get(name.as_str()) else {
                continue;
            };
            let Some(var) = terms.token_env() else {
                continue;
            };
            let token = desk_token(var)
                .map_err(|error| format!("client '{name}': token_env '{var}': {error}"))?;
            if let Some((first, _)) = tokens.iter().find(|(_, known)| *known == token) {
                return Err(format!(
                    "clients '{first}' and '{name}' have the same token: each client needs its own"
                ));
            }
            if let Some((operator, _)) = operators.tokens().find(|(_, known)| **known == token) {
                return Err(format!(
                    "client '{name}' has the same token as operator '{operator}': each client and operator needs their own"
                ));
            }
            tokens.push((name, token));
        }
        if tokens.is_empty() {
            return Err(
                "--client-ws: no client in the clients file has a token_env, so none could connect"
                    .into(),
            );
        }
        Ok(ClientTokens { tokens })
    }

    /// Tokens made up by the caller rather than read from the
    /// environment (the bench's clients, whose tokens live for one run).
    pub(crate) fn given(tokens: Vec<(ClientId, Secret)>) -> ClientTokens {
        ClientTokens { tokens }
    }

    /// The client whose token `token` is, compared in full whatever
    /// differs first.
    fn who(&self, token: &str) -> Option<ClientId> {
        let mut found = None;
        for (client, known) in &self.tokens {
            if known.matches(token) {
                found = Some(client.clone());
            }
        }
        found
    }
}

/// Who the upgrade request is from, or why it is refused.
fn authenticate(request: &Request, tokens: &ClientTokens) -> Result<ClientId, &'static str> {
    let header = request
        .headers()
        .get("authorization")
        .ok_or("no Authorization header: send Authorization: Bearer <token>")?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or("the Authorization header is not Bearer <token>")?;
    tokens
        .who(token.trim())
        .ok_or("the bearer token is not any client's on this desk")
}

/// One client's connection, from the upgrade to its close.
pub(crate) async fn connection(
    socket: TcpStream,
    opening: Opening,
    peer: SocketAddr,
    api: Arc<ClientApi>,
    tokens: Arc<ClientTokens>,
    mut stop: watch::Receiver<bool>,
) {
    let config = WebSocketConfig::default().max_message_size(Some(MAX_CLIENT_MESSAGE));
    let mut client = None;
    // The handshake's own callback type: its error is the HTTP refusal.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        match authenticate(request, &tokens) {
            Ok(who) => {
                client = Some(who);
                Ok(response)
            }
            Err(why) => {
                tracing::warn!(%peer, "client refused: {why}");
                let mut refusal = ErrorResponse::new(Some(why.to_string()));
                *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
        }
    };
    // TLS and the upgrade share one deadline: a client that stalls in
    // either is dropped alike.
    let upgrade = async {
        let stream = opening
            .open(socket)
            .await
            .map_err(|error| format!("no TLS: {error}"))?;
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
            .await
            .map_err(|error| error.to_string())
    };
    let socket = match ws_edge::handshake(upgrade, &mut stop).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(error)) => {
            tracing::info!(%peer, "client connection not opened: {error}");
            return;
        }
        Err(why) => {
            tracing::info!(%peer, "client connection dropped: {why}");
            return;
        }
    };
    let Some(client) = client else { return };
    tracing::info!(%peer, %client, "client connected (ws)");
    let (sink, mut incoming) = socket.split();
    let (out, to_send) = Outgoing::new();
    let hops = api.hops.clone();
    // The writer watches for overflow only: holding a sender would keep
    // its queue open, and every close would wait out the farewell.
    let mut writer = tokio::spawn(ws_edge::write_out(
        sink,
        to_send,
        out.overflow(),
        move |message| {
            if let (Some(hops), Outbound::Quote { quote_id, .. }) = (&hops, &message) {
                hops.quote_writing(quote_id);
            }
            frame(&message)
        },
        |reason| frame(&Outbound::Error { reason }),
    ));
    let mut session = ClientSession::new(api, client.clone(), Channel::Ws, out);
    let mut writer_done = false;
    loop {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Inbound>(text.as_str()) {
                    Ok(message) => session.on_message(message),
                    Err(error) => session.on_unreadable(error.to_string()),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            _ = stop.changed() => break,
            _ = session.reap() => {}
        }
    }
    session.close().await;
    if !writer_done {
        let _ = tokio::time::timeout(FAREWELL_WITHIN, &mut writer).await;
        writer.abort();
    }
    tracing::info!(%peer, %client, "client left (ws)");
}

fn frame(message: &Outbound) -> Message {
    Message::text(serde_json::to_string(message).expect("plain data"))
}
