//! An LP on a thread of its own. A venue adapter is outside code: if it
//! blocks (a synchronous call, `std::thread::sleep`) or spins, it must cost
//! only its own answers, never the desk's runtime. Each isolated LP runs
//! its calls on its own current-thread runtime; the caller only waits on a
//! channel, so the engine's deadline still fires on time and the stream,
//! and every other LP and stream, carry on.
//!
//! It also owns the mark that says LP adapter code is running
//! ([`in_lp_task`]): the session sets it around every LP call it polls,
//! this thread around every call it runs, and the panic hook reads it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::lp::{
    ClientOrderIds, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
    OrderLookup, SharedLp, TwoWayAnswer,
};

tokio::task_local! {
    /// Set while an LP adapter's code runs (see [`in_lp_task`]).
    static LP_TASK: ();
}

/// Runs `future` marked as LP adapter code (see [`in_lp_task`]).
pub(crate) fn lp_scope<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    LP_TASK.scope((), future)
}

/// True while an LP adapter's request is being polled on this thread: a
/// panic there is contained and reported as an `lp_error`, not a program
/// bug.
pub(crate) fn in_lp_task() -> bool {
    LP_TASK.try_with(|_| ()).is_ok()
}

type Panic = Box<dyn std::any::Any + Send>;

enum Job {
    Quote(
        LpRequest,
        oneshot::Sender<Result<Result<LpQuote, LpError>, Panic>>,
    ),
    QuoteTwoWay(
        Box<(LpRequest, LpRequest)>,
        oneshot::Sender<Result<TwoWayAnswer, Panic>>,
    ),
    Execute(LpOrder, oneshot::Sender<Result<OrderAnswer, Panic>>),
    Status(OrderLookup, oneshot::Sender<Result<OrderAnswer, Panic>>),
    Start(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// Calls that may wait for an LP's thread; more are refused at once (a
/// blocked adapter must not pile up work).
const QUEUE: usize = 64;
/// The longest start or shutdown waits for an LP's thread.
const LIFECYCLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// An LP whose calls run on its own thread; see the module docs.
pub(crate) struct Isolated {
    inner: SharedLp,
    jobs: mpsc::Sender<Job>,
}

impl Isolated {
    /// Starts `lp`'s thread. Fails only if the OS refuses a thread.
    pub(crate) fn new(lp: SharedLp) -> std::io::Result<Isolated> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let worker = lp.clone();
        std::thread::Builder::new()
            .name(format!("lp-{}", lp.name()))
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = queue.recv().await {
                        let lp = worker.clone();
                        // Each call is a task of its own on this thread, so
                        // one slow answer does not hold up the next request.
                        tokio::spawn(lp_scope(async move {
                            match job {
                                Job::Quote(request, mut answer) => {
                                    // The caller gave up (its deadline passed
                                    // while this thread was busy): not asked.
                                    if answer.is_closed() {
                                        return;
                                    }
                                    let call = AssertUnwindSafe(lp.quote(&request)).catch_unwind();
                                    // Dropped as soon as the caller gives up,
                                    // as the engine drops a call at its deadline.
                                    tokio::select! {
                                        result = call => {
                                            let _ = answer.send(result);
                                        }
                                        _ = answer.closed() => {}
                                    }
                                }
                                Job::QuoteTwoWay(requests, mut answer) => {
                                    if answer.is_closed() {
                                        return;
                                    }
                                    let (offer, bid) = *requests;
                                    let call = AssertUnwindSafe(lp.quote_two_way(&offer, &bid))
                                        .catch_unwind();
                                    tokio::select! {
                                        result = call => {
                                            let _ = answer.send(result);
                                        }
                                        _ = answer.closed() => {}
                                    }
                                }
                                Job::Execute(order, answer) => {
                                    // Never send an order nobody waits for (the
                                    // desk already called it unknown) or one
                                    // whose quote ran out meanwhile.
                                    if answer.is_closed() {
                                        tracing::warn!(lp = lp.name(), order = %order.order_id, "order not sent: the desk stopped waiting before the LP's thread was free");
                                        return;
                                    }
                                    if order.clock.now_ms() >= order.valid_until_ms {
                                        let _ = answer.send(Ok(OrderAnswer::Refused {
                                            reason: "order not sent: the quote expired while the LP's thread was busy".into(),
                                            refusal: crate::lp::OrderRefusal::NotSent,
                                        }));
                                        return;
                                    }
                                    // Once sent, an order runs to its answer:
                                    // cancelling it half-way would only make
                                    // its outcome harder to learn.
                                    let result =
                                        AssertUnwindSafe(lp.execute(&order)).catch_unwind().await;
                                    let _ = answer.send(result);
                                }
                                Job::Status(order, answer) => {
                                    let result =
                                        AssertUnwindSafe(lp.order_status(&order)).catch_unwind().await;
                                    let _ = answer.send(result);
                                }
                                Job::Start(done) => {
                                    let _ = AssertUnwindSafe(lp.start()).catch_unwind().await;
                                    let _ = done.send(());
                                }
                                Job::Shutdown(done) => {
                                    let _ = AssertUnwindSafe(lp.shutdown()).catch_unwind().await;
                                    let _ = done.send(());
                                }
                            }
                        }));
                    }
                });
            })?;
        Ok(Isolated { inner: lp, jobs })
    }

    /// `lp` isolated, or as it is if no thread can be had (logged).
    pub(crate) fn wrap(lp: SharedLp) -> SharedLp {
        match Isolated::new(lp.clone()) {
            Ok(isolated) => Arc::new(isolated),
            Err(error) => {
                tracing::warn!(lp = lp.name(), %error, "cannot give the LP a thread of its own");
                lp
            }
        }
    }
}

#[async_trait]
impl LiquidityProvider for Isolated {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn shared_name(&self) -> Arc<str> {
        self.inner.shared_name()
    }

    fn simulated(&self) -> bool {
        self.inner.simulated()
    }

    fn timeout_ms(&self) -> Option<u64> {
        self.inner.timeout_ms()
    }

    fn order_timeout_ms(&self) -> Option<u64> {
        self.inner.order_timeout_ms()
    }

    fn client_order_ids(&self) -> ClientOrderIds {
        self.inner.client_order_ids()
    }

    fn order_lookup(&self) -> Option<&'static str> {
        self.inner.order_lookup()
    }

    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        let (answer, answered) = oneshot::channel();
        if self
            .jobs
            .try_send(Job::Status(order.clone(), answer))
            .is_err()
        {
            return OrderAnswer::Unknown {
                reason: "not asked: the LP's thread is busy or stopped".into(),
            };
        }
        match answered.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => OrderAnswer::Unknown {
                reason: "the LP's thread stopped while the status was asked".into(),
            },
        }
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let (answer, answered) = oneshot::channel();
        if let Err(refused) = self.jobs.try_send(Job::Quote(request.clone(), answer)) {
            return Err(LpError::Unavailable(match refused {
                mpsc::error::TrySendError::Full(_) => "the LP's thread is busy".into(),
                mpsc::error::TrySendError::Closed(_) => "the LP's thread has stopped".into(),
            }));
        }
        match answered.await {
            Ok(Ok(result)) => result,
            // Re-raised in the caller's task, where the engine reports it
            // as `lp panicked: …` like any adapter panic.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(LpError::Unavailable("the LP's thread has stopped".into())),
        }
    }

    fn quotes_two_way(&self) -> bool {
        self.inner.quotes_two_way()
    }

    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        let (answer, answered) = oneshot::channel();
        let requests = Box::new((offer.clone(), bid.clone()));
        if let Err(refused) = self.jobs.try_send(Job::QuoteTwoWay(requests, answer)) {
            return TwoWayAnswer::both(LpError::Unavailable(match refused {
                mpsc::error::TrySendError::Full(_) => "the LP's thread is busy".into(),
                mpsc::error::TrySendError::Closed(_) => "the LP's thread has stopped".into(),
            }));
        }
        match answered.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => {
                TwoWayAnswer::both(LpError::Unavailable("the LP's thread has stopped".into()))
            }
        }
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let (answer, answered) = oneshot::channel();
        if let Err(refused) = self.jobs.try_send(Job::Execute(order.clone(), answer)) {
            let why = match refused {
                mpsc::error::TrySendError::Full(_) => "the LP's thread is busy",
                mpsc::error::TrySendError::Closed(_) => "the LP's thread has stopped",
            };
            return OrderAnswer::Refused {
                reason: format!("order not sent: {why}"),
                refusal: crate::lp::OrderRefusal::NotSent,
            };
        }
        match answered.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => OrderAnswer::Unknown {
                reason: "the LP's thread stopped while the order was out".into(),
            },
        }
    }

    /// Bounded: a blocked adapter must not keep the desk from starting.
    async fn start(&self) {
        let (done, started) = oneshot::channel();
        if self.jobs.try_send(Job::Start(done)).is_ok() {
            let _ = tokio::time::timeout(LIFECYCLE_WAIT, started).await;
        }
    }

    /// Bounded: a blocked adapter must not keep the process from exiting.
    async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.jobs.try_send(Job::Shutdown(done)).is_ok()
            && tokio::time::timeout(LIFECYCLE_WAIT, stopped).await.is_err()
        {
            tracing::warn!(lp = self.inner.name(), "the LP did not shut down in time");
        }
    }
}
