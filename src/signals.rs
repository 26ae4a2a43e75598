//! Operator interrupts as messages. `main`'s side ([`listen`]) turns
//! Ctrl+C and SIGTERM into [`Interrupt`]s on a channel; the console and the
//! prompt only read the channel, so tests drive them with their own.

use tokio::sync::mpsc;

/// Which signal asked lp-rfq to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Ctrl+C: stop the current stream (at the prompt: quit).
    CtrlC,
    /// SIGTERM: stop the stream and exit, as a service manager expects.
    Terminate,
}

/// The interrupts a consumer receives.
pub type Interrupts = mpsc::UnboundedReceiver<Interrupt>;

/// Listens for Ctrl+C and SIGTERM for the rest of the process and hands
/// each to the returned channel.
pub fn listen() -> Interrupts {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let interrupt = next_signal().await;
            if sender.send(interrupt).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Completes on the next Ctrl+C or SIGTERM, saying which.
async fn next_signal() -> Interrupt {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => Interrupt::CtrlC,
                    _ = terminate.recv() => Interrupt::Terminate,
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                Interrupt::CtrlC
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Interrupt::CtrlC
    }
}
