//! Operators' control of the desk's clients, end to end from the binary
//! over loopback: `lp-rfq clients pause|resume NAME` and `clients
//! kill-switch on|off` against `lp-rfq serve` with both client APIs. A
//! paused client's requests are refused on FIX (658=99, 58 "client paused
//! by desk") and on the WebSocket, its live quotes cancelled, an
//! operator's request for it refused too; resume and the kill switch's
//! release quote it again; every change is on the record with who made
//! it, and the kill switch survives a restart. An operator attached to
//! another's RFQ who accepts it is named on the order.

use std::time::Duration;

use lp_rfq::lp::fix::codec::{msg_type, tag};
use serde_json::{json, Value};

use crate::client_api::Client;
use crate::client_fix::{
    fields, quote_request, venue_script, FixClient, Server, ACME_PASSWORD, ACME_TOKEN, BOB_TOKEN,
    OPERATOR_TOKEN,
};
use crate::desk_server::{connect, next, operator, send, Socket};
use crate::fix_acceptor::Acceptor;

/// `lp-rfq clients ARGS --desk URL` as the operator of `token`: exit
/// code, stdout, stderr.
async fn clients(url: &str, token: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["clients"];
    all.extend_from_slice(args);
    let output = operator(url, Some(token), &all).await;
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ask(client_rfq_id: &str) -> Value {
    json!({"type": "quote_request", "client_rfq_id": client_rfq_id, "pair": "BTCUSDT", "side": "buy", "amount": "1"})
}

/// A quote request refused because acme is paused, as the WebSocket says it.
fn paused_reject(client_rfq_id: &str) -> Value {
    json!({"type": "quote_request_reject", "client_rfq_id": client_rfq_id, "reason": "other", "text": "client paused by desk"})
}

/// The desk's `desk_actions` rows: (operator, action, client).
fn actions(dir: &std::path::Path) -> Vec<(String, String, Option<String>)> {
    let conn = rusqlite::Connection::open(dir.join("desk.db")).unwrap();
    let mut select = conn
        .prepare(
            "SELECT operator, action, client FROM desk_actions WHERE rfq_id IS NULL ORDER BY id",
        )
        .unwrap();
    let rows = select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Pause by name: acme's live WebSocket quote is cancelled with
/// `client_paused` and its live FIX quote with a QuoteCancel; its new
/// requests are refused on both APIs, and an operator's request for it
/// too; an unknown client is refused by name; resume quotes it again.
/// The kill switch (bob's) cancels and refuses every client until it is
/// off. Every change is recorded with its operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_client_is_refused_and_cancelled_on_both_apis_until_resumed() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let desk = server.desk_url.clone();
    let mut ws = Client::connect(&server.ws_url, ACME_TOKEN).await;
    let mut fix = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    fix.logon(Some(ACME_PASSWORD)).await;

    ws.send(ask("ws-live")).await;
    let live = ws.next_of("quote").await;
    fix.send(quote_request("fix-live", "BTCUSDT", Some("1"), "1"))
        .await;
    let fix_live = fix.next_of(msg_type::QUOTE).await;

    let (code, out, err) = clients(&desk, OPERATOR_TOKEN, &["pause", "acme"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("client 'acme' paused by alice; 2 live RFQs stopped (R"),
        "{out}"
    );
    assert_eq!(
        ws.next_of("quote_cancel").await,
        json!({"type": "quote_cancel", "client_rfq_id": "ws-live", "quote_id": live["quote_id"], "reason": "client_paused"})
    );
    let cancel = fix.next_of("Z").await;
    assert_eq!(
        fields(&cancel, &[131, 117, 298]),
        vec![
            (131, Some("fix-live")),
            (117, fix_live.get(tag::QUOTE_ID)),
            (298, Some("5"))
        ]
    );

    ws.send(ask("ws-paused")).await;
    assert_eq!(
        ws.next_of("quote_request_reject").await,
        paused_reject("ws-paused")
    );
    fix.send(quote_request("fix-paused", "BTCUSDT", Some("1"), "1"))
        .await;
    let reject = fix.next_of(msg_type::QUOTE_REQUEST_REJECT).await;
    assert_eq!(
        fields(&reject, &[131, 658, 58]),
        vec![
            (131, Some("fix-paused")),
            (658, Some("99")),
            (58, Some("client paused by desk"))
        ]
    );
    // Paused desk-wide: an operator cannot quote it either.
    let quote = operator(
        &desk,
        Some(BOB_TOKEN),
        &[
            "quote", "buy", "1", "BTCUSDT", "--client", "acme", "--plain",
        ],
    )
    .await;
    assert_eq!(quote.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&quote.stderr),
        "lp-rfq: client 'acme' is paused by the desk: resume it first (lp-rfq clients resume acme)\n"
    );

    let (code, out, _) = clients(&desk, OPERATOR_TOKEN, &["pause", "acme"]).await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "client 'acme' was already paused\n")
    );
    let (code, out, err) = clients(&desk, OPERATOR_TOKEN, &["pause", "nobody"]).await;
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert_eq!(
        err,
        format!(
            "lp-rfq: unknown client 'nobody': clients file '{}' lists acme, open, house\n",
            dir.path().join("clients.toml").display()
        )
    );

    let (code, out, _) = clients(&desk, OPERATOR_TOKEN, &["resume", "acme"]).await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "client 'acme' resumed by alice\n")
    );
    ws.send(ask("ws-again")).await;
    assert_eq!(ws.next_of("quote").await["client_rfq_id"], "ws-again");
    fix.send(quote_request("fix-again", "BTCUSDT", Some("1"), "1"))
        .await;
    let again = fix.next_of(msg_type::QUOTE).await;
    assert_eq!(again.get(tag::QUOTE_REQ_ID), Some("fix-again"));

    let (code, out, err) = clients(&desk, BOB_TOKEN, &["kill-switch", "on"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("kill switch on by bob: every client is paused; 2 live RFQs stopped (R"),
        "{out}"
    );
    let cancelled = ws.next_of("quote_cancel").await;
    assert_eq!(
        (&cancelled["client_rfq_id"], &cancelled["reason"]),
        (&json!("ws-again"), &json!("client_paused"))
    );
    ws.send(ask("ws-killed")).await;
    assert_eq!(
        ws.next_of("quote_request_reject").await,
        paused_reject("ws-killed")
    );
    let (code, out, _) = clients(&desk, BOB_TOKEN, &["kill-switch", "off"]).await;
    assert_eq!(
        (code, out.as_str()),
        (
            Some(0),
            "kill switch off by bob: clients are quoted again\n"
        )
    );
    ws.send(ask("ws-released")).await;
    assert_eq!(ws.next_of("quote").await["client_rfq_id"], "ws-released");
    let (code, _, err) = clients(&desk, BOB_TOKEN, &["kill-switch", "maybe"]).await;
    assert_eq!(
        (code, err.as_str()),
        (
            Some(2),
            "lp-rfq: invalid kill-switch state 'maybe': expected on or off\n"
        )
    );

    drop(ws);
    drop(fix);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    let text = |s: &str| s.to_string();
    assert_eq!(
        actions(dir.path()),
        [
            (text("alice"), text("pause_client"), Some(text("acme"))),
            (text("alice"), text("resume_client"), Some(text("acme"))),
            (text("bob"), text("kill_switch_on"), None),
            (text("bob"), text("kill_switch_off"), None),
        ]
    );
}

/// The kill switch is on the record, and a restarted desk comes back with
/// it on: it says so at start and refuses the client until it is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_survives_a_server_restart() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let (code, _, err) = clients(&server.desk_url, OPERATOR_TOKEN, &["kill-switch", "on"]).await;
    assert_eq!(code, Some(0), "{err}");
    let (status, _) = server.stop();
    assert!(status.success());

    let server = Server::start(dir.path(), venue.port);
    let mut ws = Client::connect(&server.ws_url, ACME_TOKEN).await;
    ws.send(ask("after-restart")).await;
    assert_eq!(
        ws.next_of("quote_request_reject").await,
        paused_reject("after-restart")
    );
    let (code, _, _) = clients(&server.desk_url, OPERATOR_TOKEN, &["kill-switch", "off"]).await;
    assert_eq!(code, Some(0));
    ws.send(ask("released")).await;
    assert_eq!(ws.next_of("quote").await["client_rfq_id"], "released");
    drop(ws);
    let (status, said) = server.stop();
    assert!(status.success());
    assert!(
        said.contains("lp-rfq: the kill switch is on (turned on by alice at 20"),
        "{said}"
    );
}

/// On a PostgreSQL desk too: acme paused by alice stays paused across a
/// restart (said at start, its request refused), while the kill switch
/// bob turned on and off again does not come back; every change is in
/// the database's `desk_actions` with who made it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_paused_on_a_postgres_desk_stays_paused_across_a_restart() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let database = crate::postgres::Cluster::shared().database();
    let server = Server::start_on(dir.path(), venue.port, &database);
    let (code, out, err) = clients(&server.desk_url, OPERATOR_TOKEN, &["pause", "acme"]).await;
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "client 'acme' paused by alice\n"),
        "{err}"
    );
    for on in ["on", "off"] {
        let (code, _, err) = clients(&server.desk_url, BOB_TOKEN, &["kill-switch", on]).await;
        assert_eq!(code, Some(0), "{err}");
    }
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");

    let server = Server::start_on(dir.path(), venue.port, &database);
    let mut ws = Client::connect(&server.ws_url, ACME_TOKEN).await;
    ws.send(ask("after-restart")).await;
    assert_eq!(
        ws.next_of("quote_request_reject").await,
        paused_reject("after-restart")
    );
    drop(ws);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    assert!(
        said.contains("lp-rfq: client 'acme' is paused (by alice at 20"),
        "{said}"
    );
    assert!(!said.contains("kill switch is on"), "{said}");
    assert_eq!(
        crate::postgres::rows_of(
            &database,
            "SELECT operator, action, coalesce(client, '-') FROM desk_actions
             WHERE rfq_id IS NULL ORDER BY id"
        ),
        [
            ["alice", "pause_client", "acme"],
            ["bob", "kill_switch_on", "-"],
            ["bob", "kill_switch_off", "-"],
        ]
    );
}

/// Says hello as `token`.
async fn hello(socket: &mut Socket, token: &str) {
    send(
        socket,
        json!({"op": "hello", "protocol": 2, "token": token}),
    )
    .await;
    assert_eq!(next(socket).await["type"], "welcome");
}

/// The next message on `socket` of `type`, skipping others.
async fn next_of(socket: &mut Socket, kind: &str, event: Option<&str>) -> Value {
    loop {
        let message = next(socket).await;
        if message["type"] == kind && event.is_none_or(|name| message["event"] == name) {
            return message;
        }
    }
}

/// A head of desk (bob) attaches to alice's RFQ and accepts its client
/// quote: the order is filled, and the record names bob as the operator
/// who accepted it, while the RFQ stays alice's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_operator_who_accepts_is_named_on_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let blotter = dir.path().join("desk.db").display().to_string();
    let (rfq_id, quote_id) = bob_accepts_alices_rfq(dir.path(), &blotter).await;

    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let order: (String, String, String) = conn
        .query_row(
            "SELECT o.accepted_by, o.outcome, r.operator FROM orders o JOIN rfqs r ON r.id = o.rfq",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(order, ("bob".into(), "filled".into(), "alice".into()));
    let accepted: (String, String, Option<String>) = conn
        .query_row(
            "SELECT operator, action, quote_id FROM desk_actions WHERE rfq_id = ?1",
            [&rfq_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(accepted, ("bob".into(), "accept".into(), Some(quote_id)));
    drop(conn);
    the_reports_count_bob_s_accept(&blotter);
}

/// The same on a PostgreSQL desk: bob's accept is in its `desk_actions`,
/// its `orders` view and its report as on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_operator_who_accepts_is_named_on_the_order_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::postgres::Cluster::shared().database();
    let (rfq_id, quote_id) = bob_accepts_alices_rfq(dir.path(), &database).await;
    assert_eq!(
        crate::postgres::rows_of(
            &database,
            "SELECT o.accepted_by, o.outcome, r.operator FROM orders o JOIN rfqs r ON r.id = o.rfq"
        ),
        [["bob", "filled", "alice"]]
    );
    assert_eq!(
        crate::postgres::rows_of(
            &database,
            &format!(
                "SELECT operator, action, quote_id FROM desk_actions WHERE rfq_id = '{rfq_id}'"
            )
        ),
        [["bob".to_string(), "accept".to_string(), quote_id]]
    );
    the_reports_count_bob_s_accept(&database);
}

/// Bob attaches to alice's RFQ on a desk server recording into `blotter`
/// and accepts its client quote; the server is stopped once it is
/// filled. The RFQ's id and the quote's.
async fn bob_accepts_alices_rfq(dir: &std::path::Path, blotter: &str) -> (String, String) {
    let venue = Acceptor::start(venue_script()).await;
    let server = Server::start_on(dir, venue.port, blotter);
    let mut alice = connect(&server.desk_url).await;
    hello(&mut alice, OPERATOR_TOKEN).await;
    send(
        &mut alice,
        json!({"op": "start", "request": 1, "side": "buy", "amount": "1", "pair": "BTCUSDT"}),
    )
    .await;
    let started = next_of(&mut alice, "started", None).await;
    let rfq_id = started["rfq_id"].as_str().unwrap().to_string();
    let quote = next_of(&mut alice, "event", Some("client_quote")).await;

    let mut bob = connect(&server.desk_url).await;
    hello(&mut bob, BOB_TOKEN).await;
    send(&mut bob, json!({"op": "attach", "rfq_id": rfq_id})).await;
    assert_eq!(next(&mut bob).await["type"], "snapshot");
    send(
        &mut bob,
        json!({"op": "command", "rfq_id": rfq_id, "command": "accept", "quote_id": quote["quote_id"]}),
    )
    .await;
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        next_of(&mut alice, "event", Some("ended")),
    )
    .await
    .unwrap();
    assert_eq!(ended["outcome"], "filled", "{ended}");
    drop(alice);
    drop(bob);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    (rfq_id, quote["quote_id"].as_str().unwrap().to_string())
}

/// `report` and `orders` on `blotter` after [`bob_accepts_alices_rfq`].
fn the_reports_count_bob_s_accept(blotter: &str) {
    let read = |args: &[&str]| {
        let output = crate::support::lp_rfq_in(crate::support::empty_dir())
            .args(args)
            .args(["--blotter", blotter])
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    // The order is bob's accept on alice's RFQ: `--operator bob` lists
    // it, and counts it as bob's accepted order, not as his RFQ.
    let bobs: Value =
        serde_json::from_str(&read(&["report", "--json", "--operator", "bob"])).unwrap();
    assert_eq!(
        (
            &bobs["rfqs"].as_array().unwrap().len(),
            &bobs["operators"][0]["operator"],
            &bobs["operators"][0]["rfqs"],
            &bobs["operators"][0]["accepted"],
            bobs["operators"].as_array().unwrap().len()
        ),
        (&1, &json!("bob"), &json!(0), &json!(1), 1)
    );
    let whole: Value = serde_json::from_str(&read(&["report", "--json"])).unwrap();
    let counts: Vec<(Value, Value, Value)> = whole["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["operator"].clone(),
                o["rfqs"].clone(),
                o["accepted"].clone(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            (json!("alice"), json!(1), json!(0)),
            (json!("bob"), json!(0), json!(1))
        ]
    );
    let order: Value = serde_json::from_str(read(&["orders", "--json"]).trim()).unwrap();
    assert_eq!(
        (&order["operator"], &order["accepted_by"]),
        (&json!("alice"), &json!("bob"))
    );
}

/// A pause made right after a request for the client started, before
/// its stream has said anything, still stops it; the next request for it
/// is refused, and after the resume it is taken again.
#[tokio::test(start_paused = true)]
async fn a_pause_stops_a_stream_that_has_not_sent_its_first_event_yet() {
    use lp_rfq::rfq::event::EndReason;
    use lp_rfq::rfq::{ClientId, EventKind, QuoteRequest, RequestParams};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, "[[client]]\nname = \"acme\"\n").unwrap();
    let settings = lp_rfq::config::Settings::from_args(&lp_rfq::config::SettingsArgs {
        no_blotter: Some("true".into()),
        duration: Some("3".into()),
        ..Default::default()
    })
    .unwrap();
    let lp: lp_rfq::lp::SharedLp = std::sync::Arc::new(lp_rfq::lp::scripted::ScriptedLp::steps(
        "A",
        10_000,
        vec![lp_rfq::lp::scripted::Step::price(
            100,
            rust_decimal_macros::dec!(100010.00),
        )],
    ));
    let desk = lp_rfq::desk::Desk::with_parts(
        settings,
        lp_rfq::desk::registry::LpRegistry::fixed(vec![lp]),
        None,
    )
    .with_clients(lp_rfq::clients::load(&file).unwrap());
    let request = || QuoteRequest {
        spec: crate::support::spec(lp_rfq::market::Side::Buy),
        params: RequestParams::default().with_client(ClientId::new("acme").unwrap()),
    };
    let mut handle = desk.try_start(request()).unwrap();
    let alice = std::sync::Arc::from("alice");
    let change = desk.pause_client(&alice, "acme").unwrap();
    assert_eq!(change.stopped, vec![handle.rfq_id.clone()]);
    let mut last = None;
    while let Some(event) = handle.events.recv().await {
        last = Some(event.kind);
    }
    match last {
        Some(EventKind::Ended(ended)) => assert_eq!(ended.reason, EndReason::Interrupted),
        other => panic!("an end: {other:?}"),
    }
    assert_eq!(
        desk.try_start(request()).err().map(|e| e.to_string()),
        Some(
            "client 'acme' is paused by the desk: resume it first (lp-rfq clients resume acme)"
                .into()
        )
    );
    desk.resume_client(&alice, "acme").unwrap();
    assert!(desk.try_start(request()).is_ok());
}

/// The review finding over the wire: a two-way RFQ on a pair with no band
/// (ETHUSDT: the lone FIX venue's prices stay unverified on both sides).
/// A release naming no side releases nothing; `release_unverified_side`
/// with `sell` releases the bid only: the bid is offered at the LP's
/// 99,900.00 less 5 bps, the offer never, and the record names the side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_releases_one_side_of_a_two_way_rfq() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut alice = connect(&server.desk_url).await;
    hello(&mut alice, OPERATOR_TOKEN).await;
    send(
        &mut alice,
        json!({"op": "start", "request": 1, "side": "buy", "two_way": true, "amount": "1", "pair": "ETHUSDT"}),
    )
    .await;
    let started = next_of(&mut alice, "started", None).await;
    let rfq_id = started["rfq_id"].as_str().unwrap().to_string();
    let mut unverified = std::collections::BTreeSet::new();
    while unverified.len() < 2 {
        let event = next_of(&mut alice, "event", Some("unverified")).await;
        unverified.insert(event["two_way_side"].as_str().unwrap().to_string());
    }
    send(
        &mut alice,
        json!({"op": "command", "rfq_id": rfq_id, "command": "release_unverified"}),
    )
    .await;
    send(
        &mut alice,
        json!({"op": "command", "rfq_id": rfq_id, "command": "release_unverified_side", "side": "sell"}),
    )
    .await;
    let mut seen = Vec::new();
    loop {
        let message = next(&mut alice).await;
        assert_ne!(message["type"], "command_refused", "{message}");
        let ended = message["event"] == "ended";
        if message["type"] == "event" {
            seen.push(message);
        }
        if ended {
            break;
        }
    }
    let released: Vec<_> = seen
        .iter()
        .filter(|event| event["event"] == "released")
        .map(|event| (event["two_way_side"].clone(), event["price"].clone()))
        .collect();
    assert_eq!(released, [(json!("sell"), json!("99900.00"))]);
    let quoted: std::collections::BTreeSet<_> = seen
        .iter()
        .filter(|event| event["event"] == "client_quote")
        .map(|event| format!("{} {}", event["side"], event["client_price"]))
        .collect();
    assert_eq!(
        quoted.into_iter().collect::<Vec<_>>(),
        [r#""sell" "99850.05""#]
    );
    drop(alice);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    // Both asks are on the record as alice's; only the one naming the
    // side released anything.
    let released: Vec<(String, String, Option<String>)> = conn
        .prepare("SELECT operator, action, side FROM desk_actions WHERE rfq_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([&rfq_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        released,
        [
            ("alice".into(), "release".into(), None),
            ("alice".into(), "release".into(), Some("sell".into()))
        ]
    );
}
