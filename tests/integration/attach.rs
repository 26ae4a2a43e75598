//! Streams anyone can attach to, under paused time: a late subscriber's
//! snapshot and the numbered events after it, subscribers that agree, a
//! command from a second subscriber, a stalled subscriber dropped while the
//! stream runs on, the registry forgetting ended streams, and the desk's
//! facts pushed to listeners.

use std::sync::Arc;

use lp_rfq::config::{Settings, SettingsArgs};
use lp_rfq::desk::registry::LpRegistry;
use lp_rfq::desk::{Desk, StreamHandle};
use lp_rfq::lp::health::{BreakerPolicy, HealthPolicy};
use lp_rfq::lp::scripted::{OrderStep, ScriptedLp, Step};
use lp_rfq::lp::{LpError, SharedLp};
use lp_rfq::market::Side;
use lp_rfq::rfq::event::{EndReason, HealthState, Outcome};
use lp_rfq::rfq::{EventKind, RfqEvent, StreamCommand};
use lp_rfq::streams::{CommandRefused, DeskEvent, Detached, Refusal, Sequenced, Subscription};
use rust_decimal_macros::dec;
use tokio::sync::broadcast;

use crate::support::spec;

/// A desk with no blotter, 3 s streams and these LPs.
fn desk(lps: Vec<SharedLp>) -> Desk {
    desk_of(LpRegistry::fixed(lps))
}

fn desk_of(registry: LpRegistry) -> Desk {
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        duration: Some("3".into()),
        ..Default::default()
    })
    .unwrap();
    Desk::with_parts(settings, registry, None)
}

/// A quotes 100 ms after each ask, B 150 ms after, both good for 10 s and
/// both filling an order 50 ms after it arrives.
fn two_lps() -> Vec<SharedLp> {
    let lp = |name: &str, delay, price| {
        Arc::new(
            ScriptedLp::steps(name, 10_000, vec![Step::price(delay, price)])
                .with_orders(|_, _| OrderStep::fill(50)),
        ) as SharedLp
    };
    vec![lp("A", 100, dec!(100010.00)), lp("B", 150, dec!(100020.00))]
}

/// Every event of the primary consumer, to the end.
async fn drain(handle: &mut StreamHandle, into: &mut Vec<RfqEvent>) {
    while let Some(event) = handle.events.recv().await {
        into.push(event);
    }
}

/// Every event a subscription gets until it is let go, and why.
async fn follow(subscription: &mut Subscription) -> (Vec<Sequenced>, Detached) {
    let mut seen = Vec::new();
    loop {
        match subscription.next().await {
            Ok(sequenced) => seen.push(sequenced),
            Err(why) => return (seen, why),
        }
    }
}

fn seqs(events: &[Sequenced]) -> Vec<u64> {
    events.iter().map(|sequenced| sequenced.seq).collect()
}

/// `(seq, event name)` pairs, for readable expectations.
fn names(events: &[Sequenced]) -> Vec<(u64, &'static str)> {
    events
        .iter()
        .map(|sequenced| (sequenced.seq, sequenced.event.kind.name()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_late_subscriber_gets_a_snapshot_then_every_later_event_in_order() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    let mut early = desk.attach(&handle.rfq_id).expect("the stream is live");
    assert_eq!(early.snapshot.seq, 0);
    assert!(early.snapshot.events.is_empty());

    // The primary consumer reads on until the lock is set (the first poll
    // is complete), then a second subscriber attaches.
    let mut primary = Vec::new();
    while let Some(event) = handle.events.recv().await {
        let locked = matches!(event.kind, EventKind::Locked(_));
        primary.push(event);
        if locked {
            break;
        }
    }
    let mut late = desk.attach(&handle.rfq_id).expect("the stream is live");
    drain(&mut handle, &mut primary).await;
    let (early_seen, early_why) = follow(&mut early).await;
    let (late_seen, late_why) = follow(&mut late).await;

    // The first subscriber saw exactly what the primary consumer saw,
    // numbered from 1 without a gap.
    assert_eq!(
        seqs(&early_seen),
        (1..=primary.len() as u64).collect::<Vec<_>>()
    );
    let early_events: Vec<RfqEvent> = early_seen.iter().map(|s| s.event.clone()).collect();
    assert_eq!(early_events, primary);
    assert_eq!(early_why, Detached::Ended);

    // The late one: a snapshot up to `seq`, each of its events as it was
    // numbered, then every later event once, in order, up to `ended`.
    // (The session waits for its next poll once the lock is set: nothing
    // passed between the primary's last event and the attach.)
    // A's answer alone is unverified (3) until B's agrees (4): A is then
    // offered, and its `unverified` no longer holds, so the snapshot
    // leaves it out.
    let snapshot = &late.snapshot;
    assert_eq!(
        names(&snapshot.events),
        [
            (1, "started"),
            (2, "lp_quote"),
            (4, "lp_quote"),
            (5, "client_quote"),
            (6, "locked"),
        ]
    );
    assert_eq!(snapshot.seq, 6);
    assert_eq!(early_seen[2].event.kind.name(), "unverified");
    for kept in &snapshot.events {
        assert_eq!(kept, &early_seen[kept.seq as usize - 1]);
    }
    assert_eq!(late_seen[..], early_seen[snapshot.seq as usize..]);
    assert_eq!(late_why, Detached::Ended);
    assert!(matches!(
        late_seen.last().map(|s| &s.event.kind),
        Some(EventKind::Ended(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_keeps_each_lps_latest_answer_not_the_whole_history() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    // A's first quote wins the lock (a buy takes the lowest), so A is not
    // asked again while B is, every 500 ms.
    let mut primary = Vec::new();
    while let Some(event) = handle.events.recv().await {
        let late_enough = event.t_ms >= 2_000;
        primary.push(event);
        if late_enough {
            break;
        }
    }
    let late = desk.attach(&handle.rfq_id).expect("the stream is live");
    let seen_before_attach = primary.len() as u64;
    drain(&mut handle, &mut primary).await;
    let kinds: Vec<(&str, Option<&str>)> = late
        .snapshot
        .events
        .iter()
        .map(|s| {
            let lp = match &s.event.kind {
                EventKind::LpQuote(quote) => Some(&*quote.lp),
                _ => None,
            };
            (s.event.kind.name(), lp)
        })
        .collect();
    // The stream so far had five of B's quotes; the snapshot keeps the
    // latest of each LP's, with the client quote and the lock in force.
    assert_eq!(
        kinds,
        [
            ("started", None),
            ("lp_quote", Some("A")),
            ("client_quote", None),
            ("locked", None),
            ("lp_quote", Some("B")),
        ]
    );
    let b_quotes = primary[..seen_before_attach as usize]
        .iter()
        .filter(|event| matches!(&event.kind, EventKind::LpQuote(q) if &*q.lp == "B"))
        .count();
    assert_eq!(b_quotes, 5);
    assert_eq!(late.snapshot.seq, seen_before_attach);
    assert_eq!(
        late.snapshot.events.last().map(|kept| kept.event.clone()),
        primary.get(seen_before_attach as usize - 1).cloned()
    );
}

#[tokio::test(start_paused = true)]
async fn an_accept_from_a_second_subscriber_executes() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    let mut operator = desk.attach(&handle.rfq_id).expect("the stream is live");
    let quote_id = loop {
        let sequenced = operator.next().await.expect("the stream runs");
        if let EventKind::ClientQuote(quote) = &sequenced.event.kind {
            break quote.quote_id.clone();
        }
    };
    operator
        .send(StreamCommand::Accept {
            quote_id: Some(quote_id.clone()),
        })
        .await
        .expect("the stream takes commands");
    let mut primary = Vec::new();
    drain(&mut handle, &mut primary).await;
    let tail: Vec<&str> = primary
        .iter()
        .skip_while(|event| !matches!(event.kind, EventKind::OrderSent(_)))
        .map(|event| event.kind.name())
        .collect();
    // The first client quote comes with B's answer (B corroborates A), so
    // no answer is in flight when the order goes.
    assert_eq!(tail, ["order_sent", "filled", "ended"]);
    let Some(EventKind::Ended(ended)) = primary.last().map(|event| &event.kind) else {
        panic!("ended expected");
    };
    assert_eq!(
        (ended.reason, ended.outcome, ended.quote_id.as_ref()),
        (EndReason::Accepted, Outcome::Filled, Some(&quote_id))
    );
    let ended = handle.finish().await.unwrap();
    assert_eq!(ended.outcome, Outcome::Filled);
    // The stream is over: a command now is handed back.
    assert_eq!(
        operator.send(StreamCommand::Stop).await,
        Err(CommandRefused {
            command: StreamCommand::Stop,
            why: Refusal::Ended
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_stalled_subscriber_is_dropped_while_the_stream_runs_to_its_end() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    let mut stalled = desk
        .streams()
        .attach_with_buffer(&handle.rfq_id, 2)
        .expect("the stream is live");
    let mut keeping_up = desk.attach(&handle.rfq_id).expect("the stream is live");
    let mut primary = Vec::new();
    drain(&mut handle, &mut primary).await;
    assert_eq!(
        primary.last().map(|event| event.kind.name()),
        Some("ended"),
        "the primary consumer saw the whole stream"
    );
    let ended = handle.finish().await.unwrap();
    assert_eq!(ended.reason, EndReason::Duration);

    // The stalled one still gets what fitted in its buffer, then why.
    let (seen, why) = follow(&mut stalled).await;
    assert_eq!(names(&seen), [(1, "started"), (2, "lp_quote")]);
    assert_eq!(
        why,
        Detached::TooSlow {
            buffer: 2,
            missed: 3
        }
    );
    assert_eq!(
        why.to_string(),
        "dropped for falling 2 events behind (first missed event: 3)"
    );
    let (seen, why) = follow(&mut keeping_up).await;
    assert_eq!(seen.len(), primary.len());
    assert_eq!(why, Detached::Ended);
}

#[tokio::test(start_paused = true)]
async fn the_registry_lists_live_streams_and_forgets_ended_ones() {
    let desk = desk(two_lps());
    let mut desk_events = desk.subscribe_desk();
    let mut first = desk.start(spec(Side::Buy));
    let mut second = desk.start(spec(Side::Sell));
    assert_eq!(
        desk.live_streams(),
        [first.rfq_id.clone(), second.rfq_id.clone()]
    );
    second.stop();
    drain(&mut second, &mut Vec::new()).await;
    assert_eq!(desk.live_streams(), [first.rfq_id.clone()]);
    assert!(desk.attach(&second.rfq_id).is_none());
    drain(&mut first, &mut Vec::new()).await;
    assert!(desk.live_streams().is_empty());
    assert!(desk.attach(&first.rfq_id).is_none());

    let mut pushed = Vec::new();
    while let Ok(event) = desk_events.try_recv() {
        // The desk view's rows are tests/integration/desk_view.rs's.
        if !matches!(event, DeskEvent::Rfq(_)) {
            pushed.push(event);
        }
    }
    assert_eq!(
        pushed,
        [
            DeskEvent::StreamStarted {
                rfq_id: first.rfq_id.clone()
            },
            DeskEvent::StreamStarted {
                rfq_id: second.rfq_id.clone()
            },
            DeskEvent::StreamEnded {
                rfq_id: second.rfq_id.clone()
            },
            DeskEvent::StreamEnded {
                rfq_id: first.rfq_id.clone()
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_lps_health_change_is_pushed_to_desk_listeners_once() {
    let refused = Arc::new(ScriptedLp::steps(
        "Locked",
        10_000,
        vec![Step::fail(20, LpError::Auth("bad key".into()))],
    )) as SharedLp;
    let good = Arc::new(ScriptedLp::steps(
        "Good",
        10_000,
        vec![Step::price(100, dec!(100010.00))],
    )) as SharedLp;
    let policy = HealthPolicy {
        rate: None,
        breaker: BreakerPolicy::default(),
        fade_limit_pct: dec!(25),
    };
    let desk = desk_of(LpRegistry::guarded(
        vec![refused, good],
        &[policy, policy],
        1_000,
    ));
    let mut desk_events = desk.subscribe_desk();
    for _ in 0..2 {
        let mut handle = desk.start(spec(Side::Buy));
        drain(&mut handle, &mut Vec::new()).await;
    }
    let mut health = Vec::new();
    loop {
        match desk_events.try_recv() {
            Ok(DeskEvent::LpHealth(change)) => health.push(change),
            Ok(_) => {}
            Err(broadcast::error::TryRecvError::Empty) => break,
            Err(error) => panic!("{error}"),
        }
    }
    let seen: Vec<_> = health
        .iter()
        .map(|change| {
            (
                &*change.lp,
                change.change.previous,
                change.change.state,
                change.change.reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(
            "Locked",
            HealthState::Ok,
            HealthState::AuthFailed,
            Some("authentication failed: bad key")
        )]
    );
}

/// An inbox full of commands cannot lose the operator's Stop: the stream
/// ends interrupted at once rather than running its 3 s.
#[tokio::test(start_paused = true)]
async fn a_stop_behind_a_full_inbox_still_ends_the_stream() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    let unknown = StreamCommand::Accept {
        quote_id: Some("Q-none".into()),
    };
    let mut queued = 0;
    while handle.commands.try_send(unknown.clone()).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, 16, "the inbox is full");
    let began = tokio::time::Instant::now();
    handle.stop();
    drain(&mut handle, &mut Vec::new()).await;
    let ended = handle.finish().await.unwrap();
    assert_eq!(ended.reason, EndReason::Interrupted);
    assert_eq!(began.elapsed(), std::time::Duration::ZERO);
}

/// A subscriber's commands come within an allowance and never take more
/// than half the inbox; what is refused is handed back with the reason,
/// and the primary consumer's commands still find room.
#[tokio::test(start_paused = true)]
async fn a_subscribers_commands_are_limited_and_refusals_say_why() {
    let desk = desk(two_lps());
    let mut handle = desk.start(spec(Side::Buy));
    let unknown = StreamCommand::Accept {
        quote_id: Some("Q-none".into()),
    };
    let subscribers: Vec<Subscription> = (0..3)
        .map(|_| desk.attach(&handle.rfq_id).expect("the stream is live"))
        .collect();
    let mut answers = Vec::new();
    for subscriber in &subscribers {
        for _ in 0..5 {
            answers.push(
                subscriber
                    .send(unknown.clone())
                    .await
                    .map_err(|refused| refused.why),
            );
        }
    }
    let too_fast = Err(Refusal::TooFast { retry_in_ms: 250 });
    assert_eq!(
        answers,
        [
            Ok(()),
            Ok(()),
            Ok(()),
            Ok(()),
            too_fast,
            Ok(()),
            Ok(()),
            Ok(()),
            Ok(()),
            // Half the inbox is taken: the rest is the primary consumer's.
            Err(Refusal::Busy),
            Err(Refusal::Busy),
            Err(Refusal::Busy),
            Err(Refusal::Busy),
            Err(Refusal::Busy),
            Err(Refusal::Busy),
        ]
    );
    let mut primary_room = 0;
    while handle.commands.try_send(unknown.clone()).is_ok() {
        primary_room += 1;
    }
    assert_eq!(primary_room, 8);
    subscribers[2]
        .send(StreamCommand::Stop)
        .await
        .expect("a stop is always taken");
    drain(&mut handle, &mut Vec::new()).await;
    assert_eq!(
        handle.finish().await.unwrap().reason,
        EndReason::Interrupted
    );
}
