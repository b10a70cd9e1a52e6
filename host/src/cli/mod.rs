//! Subcommand implementations. Each uses only the library's public API.

pub mod args;
pub mod bench;
pub mod component;
pub mod demo;
pub mod emulator;
pub mod instance;
pub mod logging;
pub mod progress;
pub mod run;
pub mod status;

use args::{Cli, Command};
use std::process::ExitCode;

/// Runs the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Instance(cmd) => instance::run(&cli.db, cmd).await,
        Command::Check { name } => instance::check(&cli.db, &name).await,
        Command::Run(args) => run::run(&cli.db, args).await,
        Command::Component(cmd) => component::run(&cli.db, cmd).await,
        Command::Status => status::run(&cli.db),
        Command::Demo(args) => demo::run(args).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::BenchWorker(args) => bench::run_worker(&cli.db, args).await,
    }
}
