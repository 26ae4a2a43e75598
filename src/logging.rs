//! Logging: tracing to stderr or to LOG_FILE, level from RUST_LOG (warn by
//! default). Logs never go to stdout, so `--json` output stays pure.
//! Panics (an LP adapter's included) are logged rather than printed raw.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

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
        None => builder.with_writer(std::io::stderr).init(),
    }
    std::panic::set_hook(Box::new(|info| {
        // A panic on a runtime worker is an LP adapter (or a session) whose
        // task contained it; the stream already reports it as an
        // `lp_error`, so it is logged quietly. Anywhere else it is a bug.
        let on_worker = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("tokio-runtime-worker"));
        if on_worker {
            tracing::info!(target: "lp_rfq::panic", "contained panic: {info}");
        } else {
            tracing::error!(target: "lp_rfq::panic", "{info}");
        }
    }));
    Ok(())
}
