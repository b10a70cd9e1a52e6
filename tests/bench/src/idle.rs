//! Benchmark 3, idle fleet: many instances with nothing new. The parent creates the rows and the
//! emulator; a hidden worker subcommand (`okta-ingest-bench worker idle`) ticks every instance through
//! the `Host` library API, round after round, and prints one JSON line per round; the parent measures
//! its peak RSS.

use super::report::{Figure, Report};
use super::{proc, setup, BenchArgs};
use anyhow::Context;
use clap::Args;
use okta_ingest::state::{InstanceStore, NewInstanceRecord};
use okta_ingest::{Categories, Host, HostConfig, SqliteState};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The emulator's token endpoint limit (requests per minute), see `emulator/src/state.rs`.
const TOKEN_LIMIT_PER_MIN: usize = 2_000;

/// `worker` (hidden): the measured side of a benchmark.
#[derive(Debug, Args)]
pub struct BenchWorkerArgs {
    /// Which worker: `idle`.
    pub kind: String,
    /// The state file the parent prepared.
    #[arg(long)]
    pub db: std::path::PathBuf,
    /// Rounds over every instance (round 1 is the first tick: token + initial cursor).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Instances ticking at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Stop round 1 after this many seconds and report how far it got.
    #[arg(long, default_value_t = 600)]
    pub round1_budget: u64,
    /// Fleet mode (benchmark 7): the state is this PostgreSQL database (`--db` is then only the local
    /// path of this host's caches). The worker joins the fleet, waits for commands on stdin (`status`,
    /// `round N`, end of input) and ticks only the instances of the shards it holds.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Fleet mode: this host's name in the shard leases.
    #[arg(long, default_value = "bench-worker")]
    pub host_name: String,
    /// Fleet mode: the lease time, seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_ttl: u64,
}

/// The parent side for a fleet of `n`. `tokens_per_instance`: what an earlier (smaller) fleet showed; when
/// the host fetches about one token per instance and round 1 cannot fit the emulator's 2,000 tokens a
/// minute within the budget, round 1 is only probed for 60 s and reported as blocked. Returns this fleet's
/// tokens issued per first tick.
pub async fn run(
    dir: &Path,
    n: usize,
    args: &BenchArgs,
    tokens_per_instance: Option<f64>,
    report: &mut Report,
) -> anyhow::Result<Option<f64>> {
    let b = format!("3. idle fleet {n}");
    let emu = setup::emulator(0, 1).await?;
    let client = setup::register(&emu, dir, "0oa-bench-idle")?;
    let db = dir.join("state.db");
    let t = Instant::now();
    create_rows(&db, n, &emu.domain(), &client).await?;
    eprintln!(
        "[3] {n} instances created in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let needed = |per: f64| (n as f64 * per / TOKEN_LIMIT_PER_MIN as f64) * 60.0;
    let probe = tokens_per_instance
        .is_some_and(|per| per > 0.5 && needed(per) > args.idle_round1_budget as f64);
    let budget = if probe { 60 } else { args.idle_round1_budget };
    let concurrency = args.idle_concurrency;
    let me = std::env::current_exe().context("locating the benchmark binary")?;
    let mut cmd = Command::new(me);
    cmd.args(["worker", "idle", "--db"])
        .arg(&db)
        .args(["--rounds", "3"])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--round1-budget", &budget.to_string()])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    let out_path = dir.join("worker.jsonl");
    let log = dir.join("worker.log");
    cmd.stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&log)?);
    eprintln!(
        "[3] worker: {n} instances, concurrency {concurrency}, round-1 budget {budget} s{} ...",
        if probe {
            " (probe: the smaller fleet needed a token per instance, which cannot fit the emulator's token rate limit)"
        } else {
            ""
        }
    );
    let r = proc::run_async(cmd).await?;
    let stats = emu.stats();
    emu.shutdown().await;
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let rounds: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("round").is_some())
        .collect();
    if r.code != 0 && rounds.is_empty() {
        anyhow::bail!("worker exited with {}: {}", r.code, proc::tail(&log, 5));
    }
    let rss = r.maxrss_kib as f64 / 1024.0;
    let token_note = format!(
        "emulator: {} token requests, {} tokens issued (limit {TOKEN_LIMIT_PER_MIN}/min), {} log requests",
        stats.token_requests, stats.tokens_issued, stats.log_requests
    );
    let round1 = rounds.iter().find(|v| v["round"] == 1);
    let round1_done = round1.is_some_and(|v| v["completed"] == true);
    let mut per_tick = None;
    if let Some(v) = round1 {
        let ticks = v["ticks"].as_f64().unwrap_or(0.0);
        let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
        let errs = v["errors"].as_u64().unwrap_or(0);
        let per = stats.tokens_issued as f64 / ticks.max(1.0);
        per_tick = Some(per);
        let what = if round1_done {
            format!("first tick of all {n}: a token when the host has none cached for the app, first page, commit of the initial cursor, SQLite DB on disk; concurrency {concurrency}; {errs} errors; {token_note}")
        } else {
            let why = if per > 0.5 {
                format!(
                    "; the host fetched about one token per instance, so at the emulator's {TOKEN_LIMIT_PER_MIN} tokens/min round 1 needs >= {:.0} min",
                    needed(per) / 60.0
                )
            } else {
                String::new()
            };
            format!(
                "BLOCKED: round 1 stopped after {secs:.0} s with {} of {n} first ticks done ({errs} errors{}){why}; {token_note}",
                ticks as u64,
                v["first_error"].as_str().map(|e| format!(", e.g. {e}")).unwrap_or_default(),
            )
        };
        report.push(Figure::new(
            &b,
            "round 1 (first ticks)",
            ticks / secs,
            "ticks/s",
            0,
            &what,
        ));
    }
    let idle: Vec<&serde_json::Value> = rounds
        .iter()
        .filter(|v| v["round"].as_u64().unwrap_or(0) >= 2 && v["completed"] == true)
        .collect();
    let best = idle
        .iter()
        .map(|v| v["ticks"].as_f64().unwrap_or(0.0) / v["seconds"].as_f64().unwrap_or(f64::NAN))
        .fold(f64::NAN, f64::max);
    if idle.is_empty() {
        report.push(Figure::na(
            &b,
            "idle ticks/s",
            "not measured: round 1 did not complete (see above)",
        ));
    } else {
        let commits: u64 = idle
            .iter()
            .map(|v| v["commits"].as_u64().unwrap_or(0))
            .sum();
        let errors: u64 = idle.iter().map(|v| v["errors"].as_u64().unwrap_or(0)).sum();
        let per: Vec<String> = idle
            .iter()
            .map(|v| format!("{:.1} s", v["seconds"].as_f64().unwrap_or(f64::NAN)))
            .collect();
        report.push(
            Figure::new(
                &b,
                "idle ticks/s",
                best,
                "ticks/s",
                0,
                &format!(
                    "best of {} idle rounds ({}) over all {n}: Host::tick (fresh Store + instantiate, 1 HTTPS request answered by an empty page, tick outcome written to the SQLite DB on disk); concurrency {concurrency}; {commits} pages committed, {errors} errors",
                    idle.len(),
                    per.join(", ")
                ),
            )
            .target(">= 2,000 ticks/s", 2_000.0, true),
        );
    }
    let rss_fig = Figure::new(
        &b,
        "worker peak RSS",
        rss,
        "MiB",
        1,
        if round1_done {
            "VmHWM of the worker process over all rounds (/proc, sampled every 10 ms)"
        } else {
            "VmHWM of the worker during the incomplete round 1 (/proc, sampled every 10 ms)"
        },
    );
    report.push(if n >= 100_000 {
        rss_fig.target(
            "<= 300 MB (286 MiB) at 100,000",
            300.0 * 1e6 / 1048576.0,
            false,
        )
    } else {
        rss_fig
    });
    Ok(per_tick)
}

/// Creates `n` instance rows (one client id and key file) in the state directly. Inserting on tmpfs and
/// copying avoids `n` fsyncs; the worker then runs on the copy on disk.
async fn create_rows(
    db: &Path,
    n: usize,
    domain: &str,
    client: &setup::Client,
) -> anyhow::Result<()> {
    let shm = Path::new("/dev/shm");
    let scratch = if shm.is_dir() {
        shm.join(format!("okta-ingest-bench-{}-{n}.db", std::process::id()))
    } else {
        db.to_path_buf()
    };
    {
        let state = SqliteState::open(&scratch)?;
        for i in 0..n {
            state
                .add_instance(&NewInstanceRecord {
                    exclusions: Default::default(),
                    redaction: Default::default(),
                    name: format!("idle-{i:06}"),
                    domain: domain.to_string(),
                    client_id: client.client_id.clone(),
                    key_id: Some(client.kid.clone()),
                    private_key_path: std::path::absolute(&client.key_path)?,
                    backfill_days: 0,
                    categories: Categories::ALL,
                    ca_file: Some(std::path::absolute(&client.ca_path)?),
                    dpop: okta_ingest::DpopMode::Auto,
                    silence_after_s: okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() as i64,
                    paused: false,
                })
                .await?;
        }
    }
    if scratch != db {
        std::fs::copy(&scratch, db)
            .with_context(|| format!("copying {} to {}", scratch.display(), db.display()))?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", scratch.display()));
        }
    }
    Ok(())
}

/// What one round over a list of instances did.
#[derive(Default)]
pub struct Round {
    ticks: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Ticks every instance of `recs` once, `concurrency` at a time, within `budget` if given, and returns
/// the round's JSON line (`round`, `completed`, `seconds`, `ticks`, `errors`, `commits`,
/// `first_error`); `commits` counts what the host's commit observer saw during the round.
pub async fn tick_round(
    host: &Host,
    recs: &[okta_ingest::state::Instance],
    round: u32,
    concurrency: usize,
    budget: Option<Duration>,
    commits: &AtomicU64,
) -> serde_json::Value {
    use futures::StreamExt;
    let state = Round::default();
    let commits_before = commits.load(Ordering::Relaxed);
    let started = Instant::now();
    let all = futures::stream::iter(recs.iter())
        .map(|rec| host.tick(rec))
        .buffer_unordered(concurrency.max(1))
        .for_each(|r| {
            state.ticks.fetch_add(1, Ordering::Relaxed);
            let err = match r {
                Ok(report) => report.outcome.failure().map(|f| f.message.clone()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = err {
                state.errors.fetch_add(1, Ordering::Relaxed);
                state
                    .first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
            }
            async {}
        });
    let completed = match budget {
        Some(budget) => tokio::time::timeout(budget, all).await.is_ok(),
        None => {
            all.await;
            true
        }
    };
    serde_json::json!({
        "round": round,
        "completed": completed,
        "seconds": started.elapsed().as_secs_f64(),
        "ticks": state.ticks.load(Ordering::Relaxed),
        "errors": state.errors.load(Ordering::Relaxed),
        "commits": commits.load(Ordering::Relaxed) - commits_before,
        "first_error": state.first_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    })
}

/// `worker`: the measured process.
pub async fn worker(args: BenchWorkerArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.kind == "idle",
        "unknown bench worker {:?} (known: idle)",
        args.kind
    );
    if args.postgres.is_some() {
        return super::fleet::worker(args).await;
    }
    let mut cfg = HostConfig::new(&args.db);
    cfg.concurrency = args.concurrency;
    let host = Host::open(cfg)?;
    let commits = Arc::new(AtomicU64::new(0));
    let c = commits.clone();
    host.set_commit_observer(Arc::new(move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    }));
    let t = Instant::now();
    let recs = host.list_instances().await?;
    host.connector_info().await?;
    println!(
        "{}",
        serde_json::json!({"instances": recs.len(), "setup_seconds": t.elapsed().as_secs_f64()})
    );
    for round in 1..=args.rounds {
        let budget = (round == 1).then(|| Duration::from_secs(args.round1_budget));
        let line = tick_round(&host, &recs, round, args.concurrency, budget, &commits).await;
        println!("{line}");
        eprintln!("{line}");
        if line["completed"] != true {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}
