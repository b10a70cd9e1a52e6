//! `okta-ingest-bench`: the benchmark suite. Every figure is measured on this machine against the
//! in-process Okta emulator and printed with its unit, its target and what it includes; the same goes to
//! a JSON file. Targets are printed, never asserted: a slow machine is a finding, not a failure. See
//! `BENCHMARKS.md`.
//!
//! It measures the real `okta-ingest` binary (found next to this one; build both with `cargo build
//! --release -p okta-ingest -p okta-ingest-bench`) and, for the idle fleets (SQLite and PostgreSQL), its
//! own `worker` subcommand, which ticks through the library's `Host` API.

mod backfill;
mod cold;
mod fleet;
mod idle;
mod machine;
mod proc;
mod report;
mod sandbox;
mod sdk;
mod setup;
mod swap;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use report::{Figure, Report};
use std::path::PathBuf;
use std::process::ExitCode;

/// Measure okta-ingest against the built-in Okta emulator: backfill throughput, the Okta Python SDK
/// on the same data, idle-fleet cost, cold start, sandbox overhead, live swap and a PostgreSQL fleet.
#[derive(Debug, Parser)]
#[command(name = "okta-ingest-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    args: BenchArgs,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Internal: the measured side of the idle-fleet benchmark (not for direct use).
    #[command(hide = true)]
    Worker(idle::BenchWorkerArgs),
}

/// The suite's options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The `okta-ingest` binary to measure (default: the one next to this benchmark binary).
    #[arg(long, value_name = "FILE")]
    pub okta_ingest: Option<PathBuf>,
    /// Small smoke version (seconds; what CI runs): 20,000 backfill events, 1,000 idle instances.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the results as JSON (directories are created).
    #[arg(long, value_name = "PATH", default_value = "target/bench/results.json")]
    pub json: PathBuf,
    /// Backfill events the emulator generates (default 1,000,000; --quick 20,000).
    #[arg(long)]
    pub events: Option<usize>,
    /// Most events the Okta Python SDK pages through (default: all with --quick, else 200,000).
    #[arg(long)]
    pub sdk_events: Option<usize>,
    /// Idle-fleet sizes, comma-separated (default 10000,100000; --quick 1000).
    #[arg(long, value_delimiter = ',')]
    pub idle_sizes: Option<Vec<usize>>,
    /// Instances ticking at once in the idle-fleet benchmark.
    #[arg(long, default_value_t = 64)]
    pub idle_concurrency: usize,
    /// Longest the first idle-fleet round (a token for every instance) may take, seconds. A fleet whose
    /// first round cannot fit (the emulator issues 2,000 tokens a minute) is probed for 60 s and reported
    /// as blocked.
    #[arg(long, default_value_t = 600)]
    pub idle_round1_budget: u64,
    /// Fleet benchmark: idle instances spread over two hosts sharing one PostgreSQL (default 100,000;
    /// --quick 1,000).
    #[arg(long, value_name = "N")]
    pub fleet_instances: Option<usize>,
    /// Fleet benchmark: emulated Okta orgs (one emulator and domain each), so instances spread over
    /// that many shards.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub fleet_orgs: usize,
    /// Fleet benchmark: SIGKILL failovers per lease time (3 s, and the default 15 s unless --quick).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub fleet_failover_runs: usize,
    /// Runs of the cold-start benchmark.
    #[arg(long, default_value_t = 10)]
    pub cold_runs: usize,
    /// Only these benchmarks (comma-separated: backfill, sdk, sandbox, idle, cold, swap, airbyte, fleet).
    #[arg(long, value_delimiter = ',')]
    pub only: Option<Vec<String>>,
    /// Keep the work directory (databases, keys, outputs) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
}

impl BenchArgs {
    fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x.trim().eq_ignore_ascii_case(name)))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(BenchCommand::Worker(w)) => idle::worker(w).await,
        None => run(cli.args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `okta-ingest` binary next to this one, or `--okta-ingest`.
fn product_binary(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.okta_ingest {
        return Ok(p.clone());
    }
    let me = std::env::current_exe().context("locating the benchmark binary")?;
    let exe = me.with_file_name(format!("okta-ingest{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        exe.is_file(),
        "no okta-ingest binary at {}: build it with `cargo build --release -p okta-ingest -p okta-ingest-bench`, or pass --okta-ingest FILE",
        exe.display()
    );
    Ok(exe)
}

/// Runs the suite.
async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let exe = product_binary(&args)?;
    let json_path = std::path::absolute(&args.json).unwrap_or(args.json.clone());
    let out_dir = json_path
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let work = out_dir.join(format!("work-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let machine = machine::Machine::detect();
    let command: Vec<String> = std::env::args().collect();
    eprintln!(
        "okta-ingest bench{}: {} cores, {} MiB, {}; work dir {}",
        if args.quick { " --quick" } else { "" },
        machine.cores,
        machine.mem_mib,
        machine.cpu,
        work.display()
    );
    if cfg!(debug_assertions) {
        eprintln!(
            "WARNING: this is a debug build; run `cargo build --release -p okta-ingest -p okta-ingest-bench && target/release/okta-ingest-bench`"
        );
    }
    let mut report = Report::new(machine, command.join(" "), args.quick);
    let result = run_all(&args, &exe, &work, &mut report).await;
    if let Err(e) = &result {
        report.push(Figure::na("suite", "aborted", &format!("{e:#}")));
    }
    report.print();
    report
        .write_json(&json_path)
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("results written to {}", json_path.display());
    if args.keep {
        eprintln!("work directory kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result.map(|_| ExitCode::SUCCESS)
}

async fn run_all(
    args: &BenchArgs,
    exe: &std::path::Path,
    work: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let events = args
        .events
        .unwrap_or(if args.quick { 20_000 } else { 1_000_000 });
    if args.wants("backfill") || args.wants("sdk") {
        let dir = work.join("backfill");
        std::fs::create_dir_all(&dir)?;
        let b = backfill::run(exe, &dir, events, report, args.wants("backfill")).await;
        match b {
            Ok(bf) => {
                if args.wants("sdk") {
                    let cap = args
                        .sdk_events
                        .or(if args.quick { None } else { Some(200_000) });
                    if let Err(e) = sdk::run(&bf, &dir, cap, report).await {
                        report.push(Figure::na(
                            "6. Okta Python SDK",
                            "events/s",
                            &format!("failed: {e:#}"),
                        ));
                    }
                }
                bf.emulator.shutdown().await;
            }
            Err(e) => report.push(Figure::na(
                "1. backfill",
                "events/s",
                &format!("failed: {e:#}"),
            )),
        }
    }
    if args.wants("airbyte") {
        report.push(sdk::airbyte_na());
    }
    if args.wants("cold") {
        let dir = work.join("cold");
        std::fs::create_dir_all(&dir)?;
        if let Err(e) = cold::run(exe, &dir, args.cold_runs, report).await {
            report.push(Figure::na(
                "4. cold start",
                "median",
                &format!("failed: {e:#}"),
            ));
        }
    }
    if args.wants("idle") {
        let sizes = args.idle_sizes.clone().unwrap_or(if args.quick {
            vec![1_000]
        } else {
            vec![10_000, 100_000]
        });
        let mut tokens_per_instance = None;
        for n in sizes {
            let dir = work.join(format!("idle-{n}"));
            std::fs::create_dir_all(&dir)?;
            match idle::run(&dir, n, args, tokens_per_instance, report).await {
                Ok(per) => tokens_per_instance = per.or(tokens_per_instance),
                Err(e) => report.push(Figure::na(
                    &format!("3. idle fleet {n}"),
                    "idle ticks/s",
                    &format!("failed: {e:#}"),
                )),
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    if args.wants("sandbox") {
        let dir = work.join("sandbox");
        std::fs::create_dir_all(&dir)?;
        if let Err(e) = sandbox::run(&dir, args.quick, report).await {
            report.push(Figure::na(
                "2. sandbox overhead",
                "per page",
                &format!("failed: {e:#}"),
            ));
        }
    }
    if args.wants("swap") {
        let dir = work.join("swap");
        std::fs::create_dir_all(&dir)?;
        let rounds = if args.quick { 2 } else { 5 };
        if let Err(e) = swap::run(exe, &dir, rounds, report).await {
            report.push(Figure::na(
                "5. live swap",
                "activate -> first tick",
                &format!("failed: {e:#}"),
            ));
        }
    }
    if args.wants("fleet") {
        let dir = work.join("fleet");
        std::fs::create_dir_all(&dir)?;
        if let Err(e) = fleet::run(exe, &dir, args, report).await {
            report.push(Figure::na(
                "7. fleet",
                "idle ticks/s",
                &format!("failed: {e:#}"),
            ));
        }
    }
    Ok(())
}
