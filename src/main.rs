//! The `lp-rfq` binary: loads `.env`, parses flags into validated settings,
//! starts logging and hands over to the library.

use std::process::ExitCode;

use lp_rfq::cli::Cli;
use lp_rfq::config::Settings;
use lp_rfq::logging;

fn main() -> ExitCode {
    // `.env` never overrides the real environment; a missing file is fine,
    // a malformed one is a bad setting.
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            eprintln!("lp-rfq: cannot read .env: {error}");
            return ExitCode::from(2);
        }
    }
    let cli = Cli::parse_args();
    let mut settings = match Settings::from_args(&cli.settings) {
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
