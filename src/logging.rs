//! Logging: tracing to stderr or to LOG_FILE, level from RUST_LOG (warn by
//! default). Logs never go to stdout, so `--json` output stays pure.
//! Panics (an LP adapter's included) are logged rather than printed raw;
//! a panic on the console's own thread first restores the terminal.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::ThreadId;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber and the panic hook.
pub fn init(log_file: Option<&Path>) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| {
                    format!(
                        "invalid LOG_FILE '{}' (--log-file): cannot open it",
                        path.display()
                    )
                })?;
            builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .init();
        }
        None => {
            // Colour only for a person at a terminal (and not with NO_COLOR).
            use std::io::IsTerminal;
            let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(ansi).with_writer(std::io::stderr).init()
        }
    }
    std::panic::set_hook(Box::new(|info| {
        let console = CONSOLE_RESTORE.lock().ok().and_then(|mut slot| {
            slot.take_if(|(thread, _)| *thread == std::thread::current().id())
        });
        if let Some((_, restore)) = console {
            restore();
            eprintln!("lp-rfq: the console stopped: {info}");
        }
        // An LP adapter's panic is contained in its task and the stream
        // reports it as an `lp_error`, so it is logged quietly. Anywhere
        // else (the engine, a session, the console) it is a bug.
        if crate::rfq::session::in_lp_task() {
            tracing::info!(target: "lp_rfq::panic", "contained panic: {info}");
        } else {
            tracing::error!(target: "lp_rfq::panic", "{info}");
        }
    }));
    Ok(())
}

/// The console's terminal restore and the thread it runs on. Only a panic
/// on that thread ends the console; an LP adapter's panic on a worker
/// thread is contained and must not tear the screen down.
static CONSOLE_RESTORE: Mutex<Option<ConsoleRestore>> = Mutex::new(None);

/// The console's thread and the function that restores its terminal.
type ConsoleRestore = (ThreadId, fn());

/// While the console is up (`Some`), a panic on the calling thread runs
/// `restore` before it is logged; `None` when the console closes.
pub fn restore_terminal_on_panic(restore: Option<fn()>) {
    if let Ok(mut slot) = CONSOLE_RESTORE.lock() {
        *slot = restore.map(|restore| (std::thread::current().id(), restore));
    }
}

/// Where logs go while the console is up and LOG_FILE is not set: the
/// screen is the console's, so they go to `lp-rfq.log` in the temp dir.
pub fn console_log_file() -> PathBuf {
    std::env::temp_dir().join("lp-rfq.log")
}
