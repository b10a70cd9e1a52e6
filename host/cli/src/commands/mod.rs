//! One file per subcommand. Each uses only the library's public API.

mod check;
mod component;
mod demo;
mod emulator;
mod instance;
mod keygen;
mod run;
mod setup;
mod state;
mod status;

use crate::args::{Cli, Command, ComponentCmd, InstanceCmd};
use anyhow::Context;
use okta_ingest::{Host, HostConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let must_exist = reads_existing_state(&cli.command);
    crate::state_location::set_fleet_args(cli.fleet.clone());
    // Resolved only by the commands that use a state file (`demo` and `emulator` make their own).
    let db = || state_path(cli.db.clone(), must_exist);
    match cli.command {
        Command::Instance(cmd) => instance::run(&db()?, cmd).await,
        Command::Check { name } => check::run(&db()?, &name).await,
        Command::Run(args) => run::run(&db()?, args).await,
        Command::Ui(mut args) => {
            if args.once {
                anyhow::bail!(
                    "`ui` runs until stopped; for one catch-up use `okta-ingest run --once`"
                );
            }
            args.ui
                .get_or_insert_with(|| crate::args::DEFAULT_UI_ADDRESS.to_string());
            run::run(&db()?, args).await
        }
        Command::Setup { answers } => setup::run(&db()?, answers.as_deref()).await,
        Command::Component(cmd) => component::run(&db()?, cmd).await,
        Command::Status(args) => status::run(&db()?, args).await,
        Command::State(cmd) => state::run(cmd).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Emulator(args) => emulator::run(args).await,
        Command::Keygen(args) => keygen::run(args),
        Command::Completions { shell } => completions(shell),
    }
}

/// `--db`, `OKTA_INGEST_DB`, or the default under the user's data directory; an error without any, so
/// the state never lands in whatever directory the command happens to run in. With `must_exist`, a
/// path where no state exists is an error too (a typo must not yield a new, empty state).
fn state_path(db: Option<PathBuf>, must_exist: bool) -> anyhow::Result<PathBuf> {
    let db = db.or_else(crate::args::default_db).context(
        "no state file: neither HOME nor XDG_DATA_HOME is set (as under some service managers); pass --db PATH or set OKTA_INGEST_DB",
    )?;
    if must_exist && !crate::state_location::is_fleet(&db) && !db.exists() {
        anyhow::bail!(
            "no state database at {} (nothing was set up there: `okta-ingest instance add` creates it; or pass the right --db / OKTA_INGEST_DB)",
            db.display()
        );
    }
    Ok(db)
}

/// A host on the state with the default settings (management commands).
async fn open(db: &Path) -> anyhow::Result<Host> {
    let config = HostConfig::new(crate::state_location::local_path(db));
    crate::state_location::open_host(db, config).await
}

/// Whether a command only reads or edits existing state: for those a mistyped path is an error, not
/// a new empty state.
fn reads_existing_state(cmd: &Command) -> bool {
    match cmd {
        Command::Check { .. } | Command::Status(_) => true,
        Command::Instance(i) => !matches!(i, InstanceCmd::Add(_)),
        Command::Component(c) => {
            matches!(c, ComponentCmd::List { .. } | ComponentCmd::Rollback { .. })
        }
        _ => false,
    }
}

/// `completions SHELL`: the script on stdout.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "okta-ingest", &mut script);
    use std::io::Write as _;
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
