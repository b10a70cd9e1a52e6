//! The `okta-ingest` command: a thin CLI over the `okta_ingest` library. Only this crate knows about
//! command-line flags; it adds them as hints to the library's errors ([`hints`]).

mod args;
mod commands;
mod format;
mod hints;
mod logging;
mod progress;
mod sink_spec;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    logging::init(args.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", hints::render(&e));
            ExitCode::FAILURE
        }
    }
}
