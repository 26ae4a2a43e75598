//! Operator interrupts as messages. `main`'s side (`listen`) turns
//! Ctrl+C, SIGTERM and SIGHUP into [`Interrupt`]s on a channel; the console and the
//! prompt only read the channel, so tests drive them with their own.

use tokio::sync::mpsc;

/// Which signal asked lp-rfq to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Ctrl+C: stop the current stream (at the prompt: quit).
    CtrlC,
    /// SIGTERM: stop the stream and exit, as a service manager expects.
    Terminate,
    /// SIGHUP (the terminal closed, the SSH session dropped): as SIGTERM.
    /// Its default action would kill the process with an order out, and
    /// leave the order's outcome unrecorded.
    Hangup,
}

impl Interrupt {
    /// Whether it ends the program, not only the stream.
    pub(crate) fn ends_the_program(self) -> bool {
        matches!(self, Interrupt::Terminate | Interrupt::Hangup)
    }
}

/// The interrupts a consumer receives.
pub(crate) type Interrupts = mpsc::UnboundedReceiver<Interrupt>;

/// Listens for Ctrl+C, SIGTERM and SIGHUP for the rest of the process and
/// hands each to the returned channel. The handlers are installed once,
/// when the listening task first runs, so none is missed between two.
pub(crate) fn listen() -> Interrupts {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // A signal whose handler cannot be installed is never heard;
            // the others still are.
            let mut terminate = signal(SignalKind::terminate()).ok();
            let mut hangup = signal(SignalKind::hangup()).ok();
            loop {
                let interrupt = tokio::select! {
                    _ = tokio::signal::ctrl_c() => Interrupt::CtrlC,
                    Some(()) = next(&mut terminate) => Interrupt::Terminate,
                    Some(()) = next(&mut hangup) => Interrupt::Hangup,
                };
                if sender.send(interrupt).is_err() {
                    break;
                }
            }
        }
        #[cfg(not(unix))]
        while tokio::signal::ctrl_c().await.is_ok() {
            if sender.send(Interrupt::CtrlC).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The next delivery of a signal whose handler is installed (`None`:
/// never, for one that is not).
#[cfg(unix)]
async fn next(signals: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}
