//! Logging: tracing to stderr or to LOG_FILE, level from RUST_LOG (warn by
//! default). Logs never go to stdout, so `--json` output stays pure.
//! Panics (an LP adapter's included) are logged rather than printed raw;
//! a panic on the console's own thread first restores the terminal.

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
            let file = open_log(path).with_context(|| {
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
        if crate::lp::isolated::in_lp_task() {
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
pub(crate) fn restore_terminal_on_panic(restore: Option<fn()>) {
    if let Ok(mut slot) = CONSOLE_RESTORE.lock() {
        *slot = restore.map(|restore| (std::thread::current().id(), restore));
    }
}

/// Where logs go while the console is up and LOG_FILE is not set: the
/// screen is the console's, so they go to `lp-rfq/console.log` in the
/// user's state directory (`$XDG_STATE_HOME`, else `~/.local/state`), which
/// no other user can plant a file or a link in (a shared temp directory
/// could be). Without a home, the temp directory is the fallback.
pub fn console_log_file() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|dir| !dir.is_empty())
                .map(|home| PathBuf::from(home).join(".local").join("state"))
        });
    match state {
        Some(dir) => {
            // The desk's own default, so its directory is made here (a
            // LOG_FILE the operator names must be in an existing one). If
            // it cannot be, opening the log says so.
            let dir = dir.join("lp-rfq");
            let _ = crate::private_files::create_dir_all(&dir);
            dir.join("console.log")
        }
        None => std::env::temp_dir().join("lp-rfq-console.log"),
    }
}

/// Opens a log file for appending, creating it (0600) if needed (its
/// directory must exist: see [`console_log_file`]), and refusing a symbolic link in its place: logs must
/// not be redirected into another file by whoever made the link.
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(std::io::Error::other("it is a symbolic link"));
    }
    crate::private_files::open_append(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn a_log_file_that_is_a_symbolic_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.path().join("console.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            open_log(&link).unwrap_err().to_string(),
            "it is a symbolic link"
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        // A fresh path in an existing directory is created.
        let fresh = dir.path().join("console-2.log");
        open_log(&fresh).unwrap();
        assert!(fresh.exists());
    }
}
