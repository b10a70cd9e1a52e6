//! The `okta-ingest` command: a thin CLI over the `okta_ingest` library. Only this crate knows about
//! command-line flags; it adds them as hints to the library's errors ([`hints`]).

/// `println!` that reports a closed stdout as an error instead of panicking: `status | head` ends the
/// command quietly (see `main`), and guards such as the demo's temporary directory still clean up.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}

/// `print!` with `outln!`'s handling of a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

mod args;
mod commands;
mod config_file;
mod format;
mod hints;
mod logging;
mod progress;
mod signals;
mod sink_spec;
mod state_location;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = match config_file::expand(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e}");
            // What clap returns for a bad option: the file stands for options.
            return ExitCode::from(2);
        }
    };
    let args = args::Cli::parse_from(argv);
    logging::init(args.verbose, args.log_format);
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
    let result = runtime.block_on(commands::dispatch(args));
    // Blocking threads still busy (a sink write abandoned at a stop) are not waited for: everything
    // that counts is committed, and their work is repaired or redone at the next start.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => code,
        // The reader went away (`| head`): what it wanted it has; that is not a failure.
        Err(e) if closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", hints::render(&e));
            ExitCode::FAILURE
        }
    }
}

/// True when the command's own output (`outln!`, which returns the bare `io::Error`) found stdout
/// closed. A broken pipe deeper down (the stdout sink of `run`, a receiver) is a real failure: its
/// events stay queued, and the exit code says so.
fn closed_stdout(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
