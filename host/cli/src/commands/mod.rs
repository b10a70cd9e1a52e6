//! One file per subcommand. Each uses only the library's public API.

mod check;
mod component;
mod demo;
mod emulator;
mod instance;
mod run;
mod status;

use crate::args::{Cli, Command};
use okta_ingest::{Host, HostConfig};
use std::path::Path;
use std::process::ExitCode;

/// Runs the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Instance(cmd) => instance::run(&cli.db, cmd).await,
        Command::Check { name } => check::run(&cli.db, &name).await,
        Command::Run(args) => run::run(&cli.db, args).await,
        Command::Component(cmd) => component::run(&cli.db, cmd).await,
        Command::Status => status::run(&cli.db).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Emulator(args) => emulator::run(args).await,
    }
}

/// A host on the state file with the default settings (management commands).
fn open(db: &Path) -> anyhow::Result<Host> {
    Ok(Host::open(HostConfig::new(db))?)
}
