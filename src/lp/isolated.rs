//! An LP on a thread of its own. A venue adapter is outside code: if it
//! blocks (a synchronous call, `std::thread::sleep`) or spins, it must cost
//! only its own answers, never the desk's runtime. Each isolated LP runs
//! its calls on its own current-thread runtime; the caller only waits on a
//! channel, so the engine's deadline still fires on time and the stream,
//! and every other LP and stream, carry on.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::lp::{LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp};

type Panic = Box<dyn std::any::Any + Send>;

enum Job {
    Quote(
        LpRequest,
        oneshot::Sender<Result<Result<LpQuote, LpError>, Panic>>,
    ),
    Execute(LpOrder, oneshot::Sender<Result<OrderAnswer, Panic>>),
    Start(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// An LP whose calls run on its own thread; see the module docs.
pub struct Isolated {
    inner: SharedLp,
    jobs: mpsc::UnboundedSender<Job>,
}

impl Isolated {
    /// Starts `lp`'s thread. Fails only if the OS refuses a thread.
    pub fn new(lp: SharedLp) -> std::io::Result<Isolated> {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
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
                        tokio::spawn(crate::rfq::session::lp_scope(async move {
                            match job {
                                Job::Quote(request, answer) => {
                                    let result =
                                        AssertUnwindSafe(lp.quote(&request)).catch_unwind().await;
                                    let _ = answer.send(result);
                                }
                                Job::Execute(order, answer) => {
                                    let result =
                                        AssertUnwindSafe(lp.execute(&order)).catch_unwind().await;
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
    pub fn wrap(lp: SharedLp) -> SharedLp {
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

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let (answer, answered) = oneshot::channel();
        if self.jobs.send(Job::Quote(request.clone(), answer)).is_err() {
            return Err(LpError::Unavailable("the LP's thread has stopped".into()));
        }
        match answered.await {
            Ok(Ok(result)) => result,
            // Re-raised in the caller's task, where the engine reports it
            // as `lp panicked: …` like any adapter panic.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(LpError::Unavailable("the LP's thread has stopped".into())),
        }
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let (answer, answered) = oneshot::channel();
        if self.jobs.send(Job::Execute(order.clone(), answer)).is_err() {
            return OrderAnswer::Rejected {
                reason: "order not sent: the LP's thread has stopped".into(),
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

    async fn start(&self) {
        let (done, started) = oneshot::channel();
        if self.jobs.send(Job::Start(done)).is_ok() {
            let _ = started.await;
        }
    }

    async fn shutdown(&self) {
        let (done, stopped) = oneshot::channel();
        if self.jobs.send(Job::Shutdown(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}
