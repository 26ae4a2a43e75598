//! The `lp-rfq` binary: loads `.env`, parses flags into validated settings,
//! starts logging and hands over to the library.

use std::process::ExitCode;

use lp_rfq::cli::Cli;
use std::path::PathBuf;

use lp_rfq::config::{self, Settings};
use lp_rfq::logging;

/// jemalloc rather than the C library's malloc. A desk allocates and
/// frees an event's worth of memory per LP answer on every worker, often
/// freed on another thread (the blotter's writer, a connection's writer):
/// glibc's allocator spent ~13 % of the process's CPU on it at 1000
/// streams, in bursts when it consolidates its free lists. With jemalloc
/// the p99 at 1000 fell about a third through the desk server and for a
/// steady client load (docs/performance.md). mimalloc was tried too: less
/// CPU still, but a slower desk server.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The `.env` dotenvy would read: the first one in the current directory
/// or its parents.
fn find_dot_env() -> Option<PathBuf> {
    let here = std::env::current_dir().ok()?;
    here.ancestors()
        .map(|dir| dir.join(".env"))
        .find(|candidate| candidate.is_file())
}

/// Loads `.env` (never over the real environment) and warns on stderr of
/// keys that look like a misspelt setting. A syntax error or a key set
/// twice names the line and its key, never the line: it may hold a secret.
fn load_dot_env() -> Result<(), String> {
    match dotenvy::dotenv() {
        Ok(path) => {
            let contents = std::fs::read_to_string(&path).unwrap_or_default();
            let keys: Vec<String> = dotenvy::from_path_iter(&path)
                .map(|iter| iter.filter_map(Result::ok).map(|(key, _)| key).collect())
                .unwrap_or_default();
            if let Some(error) =
                config::dot_env_duplicate(&contents, keys.iter().map(String::as_str))
            {
                return Err(error);
            }
            for warning in config::dot_env_warnings(&contents, keys.iter().map(String::as_str)) {
                eprintln!("lp-rfq: warning: {warning}");
            }
            Ok(())
        }
        Err(error) if error.not_found() => Ok(()),
        Err(dotenvy::Error::LineParse(line, _)) => {
            let contents = find_dot_env()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .unwrap_or_default();
            Err(config::dot_env_syntax_error(&contents, &line))
        }
        Err(dotenvy::Error::Io(error)) => Err(format!("cannot read .env: {error}")),
        Err(_) => Err("cannot read .env".to_string()),
    }
}

fn main() -> ExitCode {
    // `.env` never overrides the real environment; a missing file is fine,
    // a malformed one is a bad setting, a key like one of ours a warning.
    if let Err(message) = load_dot_env() {
        eprintln!("lp-rfq: {message}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse_args();
    let mut settings = match Settings::from_args(&cli.settings_in_use()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return ExitCode::from(2);
        }
    };
    // The console owns the screen: its logs go to a file.
    if settings.log_file.is_none() && cli.wants_console() {
        settings.log_file = Some(logging::console_log_file());
    }
    if let Err(error) = logging::init(settings.log_file.as_deref()) {
        eprintln!("lp-rfq: {error:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lp-rfq: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(lp_rfq::app::run(cli, settings)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("lp-rfq: {error:#}");
            ExitCode::FAILURE
        }
    };
    // Everything that matters (the blotter included) is closed by now; a
    // prompt's read of stdin may still block a thread, and must not keep
    // the process alive after Ctrl+C.
    runtime.shutdown_background();
    code
}
