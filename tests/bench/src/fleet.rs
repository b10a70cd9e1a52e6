//! Benchmark 7, fleet: hosts sharing one PostgreSQL cluster that the bench starts on loopback (durable:
//! `fsync`, `synchronous_commit` and `full_page_writes` on).
//!
//! (a) Idle fleet: N instances over many emulated orgs (one in-process emulator, so one domain and one
//! shard, each), ticked by two worker processes (`okta-ingest-bench worker idle --postgres URL`) that
//! each hold their share of the shards: round 1, then idle rounds, and what PostgreSQL wrote during the
//! idle rounds (`pg_stat_database`, `pg_stat_wal`, `pg_stat_user_tables`).
//!
//! (b) Failover: two real `okta-ingest run` processes over a handful of instances; one is SIGKILLed and
//! the time until the survivor holds every shard with instances is measured (`shard_leases`).

use super::idle::{tick_round, BenchWorkerArgs};
use super::report::{Figure, Report};
use super::{setup, BenchArgs};
use anyhow::Context;
use okta_emulator::Emulator;
use okta_ingest::state::{
    shard_of, Instance, InstanceStore, NewInstanceRecord, PostgresOptions, PostgresState,
    StateBackend,
};
use okta_ingest::{Categories, Host, HostConfig};
use okta_ingest_test_postgres::TestPostgres;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The two hosts of the fleet.
const HOSTS: [&str; 2] = ["hA", "hB"];

/// Instances created at once (each is one autocommit `INSERT` through `InstanceStore::add_instance`).
const CREATE_CONCURRENCY: usize = 16;

/// Connections of the pool that creates them: twice the calls at once, because
/// `PostgresState::add_instance` takes a second connection (to read the row back) while it holds its
/// first, so as many calls at once as connections deadlock the pool.
const CREATE_POOL: usize = 2 * CREATE_CONCURRENCY;

/// One emulated Okta org and the client registered with it.
struct Org {
    emu: Emulator,
    client: setup::Client,
}

/// Runs benchmark 7 (both parts) into `report`.
pub async fn run(
    exe: &Path,
    dir: &Path,
    args: &BenchArgs,
    report: &mut Report,
) -> anyhow::Result<()> {
    let n = args
        .fleet_instances
        .unwrap_or(if args.quick { 1_000 } else { 100_000 });
    eprintln!("[7] starting a durable PostgreSQL cluster ...");
    let pg =
        tokio::task::block_in_place(TestPostgres::start_durable).map_err(|e| anyhow::anyhow!(e))?;
    let mut orgs = Vec::new();
    for i in 0..args.fleet_orgs.max(1) {
        let emu = setup::emulator(0, 1).await?;
        let org_dir = dir.join(format!("org-{i:02}"));
        std::fs::create_dir_all(&org_dir)?;
        let client = setup::register(&emu, &org_dir, &format!("0oa-bench-fleet-{i:02}"))?;
        orgs.push(Org { emu, client });
    }
    if let Err(e) = idle(&pg, &orgs, dir, n, args, report).await {
        report.push(Figure::na(
            &format!("7. fleet {n}"),
            "idle ticks/s",
            &format!("failed: {e:#}"),
        ));
    }
    let ttls: &[u64] = if args.quick { &[3] } else { &[3, 15] };
    for &ttl in ttls {
        if let Err(e) = failover(&pg, &orgs, exe, dir, ttl, args.fleet_failover_runs, report).await
        {
            report.push(Figure::na(
                "7. fleet failover",
                &format!("TTL {ttl} s"),
                &format!("failed: {e:#}"),
            ));
        }
    }
    for org in orgs {
        org.emu.shutdown().await;
    }
    Ok(())
}

/// An instance row for `org` (all categories, no backfill: the emulators hold no events).
fn record(name: String, org: &Org) -> anyhow::Result<NewInstanceRecord> {
    Ok(NewInstanceRecord {
        exclusions: Default::default(),
        redaction: Default::default(),
        name,
        domain: org.emu.domain(),
        client_id: org.client.client_id.clone(),
        key_id: Some(org.client.kid.clone()),
        private_key_path: std::path::absolute(&org.client.key_path)?,
        backfill_days: 0,
        categories: Categories::ALL,
        ca_file: Some(std::path::absolute(&org.client.ca_path)?),
        dpop: okta_ingest::DpopMode::Auto,
        silence_after_s: okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() as i64,
        paused: false,
    })
}

/// `psql` on a blocking section of this worker thread (the emulators keep serving on the others).
fn psql(pg: &TestPostgres, db: &str, sql: &str) -> anyhow::Result<String> {
    tokio::task::block_in_place(|| pg.psql(db, sql)).map_err(|e| anyhow::anyhow!(e))
}

/// What PostgreSQL had written at one moment.
struct Snapshot {
    /// `pg_stat_wal.wal_bytes` (the whole cluster).
    wal_bytes: f64,
    /// `pg_stat_wal.wal_records` and `wal_fpi` (full-page images).
    wal_records: i64,
    wal_fpi: i64,
    /// `tup_inserted + tup_updated + tup_deleted` of the database (`pg_stat_database`).
    rows: f64,
    /// Per table of the database: `n_tup_ins + n_tup_upd + n_tup_del` (`pg_stat_user_tables`).
    tables: BTreeMap<String, i64>,
    at: Instant,
}

/// How long the statistics of finished transactions may take to reach the views: a backend flushes
/// them at most once a second, and one that goes idle within a second of its last flush waits
/// `PGSTAT_IDLE_INTERVAL` (10 s) before it flushes again.
const STATS_SETTLE: Duration = Duration::from_secs(11);

/// Waits [`STATS_SETTLE`] for the statistics to reach the views, then reads them.
async fn snapshot(pg: &TestPostgres, db: &str) -> anyhow::Result<Snapshot> {
    tokio::time::sleep(STATS_SETTLE).await;
    let at = Instant::now();
    let text = psql(
        pg,
        db,
        &format!(
            "SELECT 'total', (SELECT wal_bytes FROM pg_stat_wal), (SELECT wal_records FROM pg_stat_wal), (SELECT wal_fpi FROM pg_stat_wal), (SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = '{db}');\n\
             SELECT 'table', relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables;\n"
        ),
    )?;
    let mut snap = Snapshot {
        wal_bytes: f64::NAN,
        wal_records: 0,
        wal_fpi: 0,
        rows: f64::NAN,
        tables: BTreeMap::new(),
        at,
    };
    for line in text.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        match cols.as_slice() {
            ["total", wal, records, fpi, rows] => {
                snap.wal_bytes = wal.parse().context("pg_stat_wal.wal_bytes")?;
                snap.wal_records = records.parse().context("pg_stat_wal.wal_records")?;
                snap.wal_fpi = fpi.parse().context("pg_stat_wal.wal_fpi")?;
                snap.rows = rows.parse().context("pg_stat_database tuples")?;
            }
            ["table", name, n] => {
                snap.tables.insert(name.to_string(), n.parse().unwrap_or(0));
            }
            _ => {}
        }
    }
    anyhow::ensure!(
        snap.rows.is_finite(),
        "no statistics for database {db}: {text}"
    );
    Ok(snap)
}

/// Rows, WAL bytes and the tables written between two snapshots (the text also has the WAL records
/// and full-page images).
fn written(a: &Snapshot, b: &Snapshot) -> (f64, f64, String) {
    let mut tables: Vec<(String, i64)> = b
        .tables
        .iter()
        .map(|(t, n)| (t.clone(), n - a.tables.get(t).copied().unwrap_or(0)))
        .filter(|(_, d)| *d != 0)
        .collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.1));
    let text = if tables.is_empty() {
        "no table".to_string()
    } else {
        tables
            .iter()
            .map(|(t, d)| format!("{t} {d}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "{text}; {} WAL records, {} of them full-page images",
        b.wal_records - a.wal_records,
        b.wal_fpi - a.wal_fpi
    );
    (b.rows - a.rows, b.wal_bytes - a.wal_bytes, text)
}

/// One worker process of the idle fleet, driven over its stdin and stdout.
struct Worker {
    name: &'static str,
    child: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    log: PathBuf,
}

impl Worker {
    /// Reads the worker's next JSON line (its answer), within `timeout`.
    async fn answer(&mut self, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let read = async {
            loop {
                match self.lines.next_line().await? {
                    Some(line) => {
                        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                            return Ok(v);
                        }
                    }
                    None => anyhow::bail!(
                        "worker {} ended: {}",
                        self.name,
                        super::proc::tail(&self.log, 5)
                    ),
                }
            }
        };
        tokio::time::timeout(timeout, read).await.map_err(|_| {
            anyhow::anyhow!(
                "worker {} did not answer within {} s: {}",
                self.name,
                timeout.as_secs(),
                super::proc::tail(&self.log, 5)
            )
        })?
    }

    /// Sends `command` and waits for its answer.
    async fn ask(&mut self, command: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let stdin = self.stdin.as_mut().context("worker stdin closed")?;
        stdin.write_all(format!("{command}\n").as_bytes()).await?;
        stdin.flush().await?;
        self.answer(timeout).await
    }

    /// Ends the worker: end of input, then SIGKILL if it has not exited within 20 s.
    async fn finish(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Part (a): the idle fleet of `n` instances over two worker processes.
async fn idle(
    pg: &TestPostgres,
    orgs: &[Org],
    dir: &Path,
    n: usize,
    args: &BenchArgs,
    report: &mut Report,
) -> anyhow::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let b = format!("7. fleet {n}");
    let db = "fleet";
    let url =
        tokio::task::block_in_place(|| pg.create_database(db)).map_err(|e| anyhow::anyhow!(e))?;
    let mut options = PostgresOptions::new(&url);
    options.host_name = "bench-setup".into();
    options.pool_size = CREATE_POOL;
    let creator = PostgresState::connect(options).await?;
    let recs = (0..n)
        .map(|i| record(format!("fleet-{i:06}"), &orgs[i % orgs.len()]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let active: BTreeSet<u32> = recs.iter().map(|r| shard_of(&r.domain)).collect();
    eprintln!(
        "[7] creating {n} instances over {} orgs ({} shards) in PostgreSQL ...",
        orgs.len().min(n),
        active.len()
    );
    let t = Instant::now();
    {
        let creator = &creator;
        futures::stream::iter(recs)
            .map(|rec| async move { creator.add_instance(&rec).await.map(|_| ()) })
            .buffer_unordered(CREATE_CONCURRENCY)
            .try_collect::<()>()
            .await?;
    }
    let create_s = t.elapsed().as_secs_f64();
    drop(creator);
    eprintln!("[7] {n} instances created in {create_s:.1} s");
    report.push(Figure::new(
        &b,
        "creating the instances",
        create_s,
        "s",
        1,
        &format!(
            "{n} rows through InstanceStore::add_instance (one autocommit INSERT each, fsync on), {CREATE_CONCURRENCY} at once over a pool of {CREATE_POOL} connections (add_instance holds 2 at a time): {:.0} rows/s; round-robin over {} orgs = {} shards",
            n as f64 / create_s,
            orgs.len().min(n),
            active.len()
        ),
    ));

    // Both workers start at once and join the fleet.
    let me = std::env::current_exe().context("locating the benchmark binary")?;
    let concurrency = args.idle_concurrency;
    let mut workers = Vec::new();
    for name in HOSTS {
        let wdir = dir.join(format!("worker-{name}"));
        std::fs::create_dir_all(&wdir)?;
        let log = wdir.join("worker.log");
        let mut cmd = tokio::process::Command::new(&me);
        cmd.args(["worker", "idle", "--db"])
            .arg(wdir.join("state"))
            .args(["--postgres", &url, "--host-name", name])
            .args(["--concurrency", &concurrency.to_string()])
            .args(["--round1-budget", &args.idle_round1_budget.to_string()])
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawning a fleet worker")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("worker stdout")?;
        workers.push(Worker {
            name,
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            log,
        });
    }
    let result = drive(
        pg,
        db,
        &mut workers,
        &active,
        orgs,
        concurrency,
        args,
        &b,
        report,
    )
    .await;
    for w in workers {
        w.finish().await;
    }
    result
}

/// The rounds of part (a), with both workers joined.
#[allow(clippy::too_many_arguments, reason = "the parts of one benchmark run")]
async fn drive(
    pg: &TestPostgres,
    db: &str,
    workers: &mut [Worker],
    active: &BTreeSet<u32>,
    orgs: &[Org],
    concurrency: usize,
    args: &BenchArgs,
    b: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    let t = Instant::now();
    for w in workers.iter_mut() {
        let joined = w.answer(Duration::from_secs(300)).await?;
        eprintln!("[7] worker {}: {joined}", w.name);
    }
    // Wait until the shards are shared out: all of them held, each host its fair share.
    let fair = active.len() / workers.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    let held = loop {
        let mut held = Vec::new();
        for w in workers.iter_mut() {
            let s = w.ask("status", Duration::from_secs(30)).await?;
            held.push(s["shards"].as_u64().unwrap_or(0) as usize);
        }
        if held.iter().sum::<usize>() == active.len() && held.iter().all(|h| *h >= fair) {
            break held;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the shards were not shared out within 120 s (held: {held:?} of {})",
            active.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let settle_s = t.elapsed().as_secs_f64();
    eprintln!("[7] shards shared out {held:?} after {settle_s:.1} s");
    let timeout = Duration::from_secs(args.idle_round1_budget + 600);
    eprintln!("[7] round 1 on both hosts ...");
    let r1 = round_on_all(1, workers, timeout).await?;
    let (tokens, logs) = orgs.iter().fold((0, 0), |(t, l), o| {
        let s = o.emu.stats();
        (t + s.tokens_issued, l + s.log_requests)
    });
    let outcomes = |pg: &TestPostgres| {
        psql(
            pg,
            db,
            "SELECT coalesce(last_outcome, '-') || '/' || coalesce(token_scheme, '-') || '/' || coalesce(left(last_error, 60), '-') || ': ' || count(*) FROM instances GROUP BY last_outcome, token_scheme, left(last_error, 60) ORDER BY 1",
        )
        .map(|t| t.lines().collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|e| format!("({e:#})"))
    };
    let mut states = vec![outcomes(pg)];
    eprintln!("[7] instance outcomes after round 1: {}", states[0]);
    let mut idle_rounds: Vec<Vec<serde_json::Value>> = Vec::new();
    // A snapshot before, between and after the idle rounds (each after the statistics settled).
    let mut snaps = vec![snapshot(pg, db).await?];
    for k in 2..=3 {
        eprintln!("[7] idle round {k} on both hosts ...");
        idle_rounds.push(round_on_all(k, workers, timeout).await?);
        snaps.push(snapshot(pg, db).await?);
        states.push(outcomes(pg));
        eprintln!(
            "[7] instance outcomes after round {k}: {}",
            states[states.len() - 1]
        );
    }
    let (before, after) = (&snaps[0], &snaps[snaps.len() - 1]);
    let window = after.at - before.at;
    // A while without ticks (at least three lease rounds of the 15 s TTL): what the lease loops and
    // heartbeats write by themselves.
    let quiet_len = window.clamp(Duration::from_secs(16), Duration::from_secs(120));
    eprintln!(
        "[7] {:.0} s without ticks (lease upkeep only) ...",
        quiet_len.as_secs_f64()
    );
    tokio::time::sleep(quiet_len.saturating_sub(STATS_SETTLE)).await;
    let quiet = snapshot(pg, db).await?;

    let rate = |v: &serde_json::Value| {
        v["ticks"].as_f64().unwrap_or(0.0) / v["seconds"].as_f64().unwrap_or(f64::NAN)
    };
    let describe = |v: &serde_json::Value| {
        format!(
            "{} ticks in {:.1} s, {} errors{}",
            v["ticks"].as_u64().unwrap_or(0),
            v["seconds"].as_f64().unwrap_or(f64::NAN),
            v["errors"].as_u64().unwrap_or(0),
            v["first_error"]
                .as_str()
                .map(|e| format!(" (e.g. {e})"))
                .unwrap_or_default()
        )
    };
    for (i, w) in workers.iter().enumerate() {
        report.push(Figure::new(
            b,
            &format!("host {}: shards held", w.name),
            held[i] as f64,
            "shards",
            0,
            &format!(
                "of the {} shards with instances (SHA-256 of the domain mod 1024), {} instances; shared out {settle_s:.1} s after both workers started (lease TTL 15 s)",
                active.len(),
                r1[i]["instances"].as_u64().unwrap_or(0)
            ),
        ));
    }
    let mut r1_sum = 0.0;
    for (i, w) in workers.iter().enumerate() {
        r1_sum += rate(&r1[i]);
        report.push(Figure::new(
            b,
            &format!("host {}: round 1 (first ticks)", w.name),
            rate(&r1[i]),
            "ticks/s",
            0,
            &format!(
                "first tick of each instance of its shards: a token per org and app when none is cached, first page, fenced commit of the initial cursor; concurrency {concurrency}; {}",
                describe(&r1[i])
            ),
        ));
    }
    report.push(Figure::new(
        b,
        "both hosts: round 1 (first ticks)",
        r1_sum,
        "ticks/s",
        0,
        &format!(
            "sum of the two hosts' rates, both running at once on this machine with PostgreSQL and the {} emulators; the emulators issued {tokens} tokens and served {logs} System Log requests in round 1",
            orgs.len()
        ),
    ));
    let mut idle_sum = 0.0;
    let mut commits = 0u64;
    for (i, w) in workers.iter().enumerate() {
        let best = idle_rounds
            .iter()
            .map(|r| rate(&r[i]))
            .fold(f64::NAN, f64::max);
        idle_sum += best;
        commits += idle_rounds
            .iter()
            .map(|r| r[i]["commits"].as_u64().unwrap_or(0))
            .sum::<u64>();
        let per: Vec<String> = idle_rounds.iter().map(|r| describe(&r[i])).collect();
        report.push(Figure::new(
            b,
            &format!("host {}: idle ticks/s", w.name),
            best,
            "ticks/s",
            0,
            &format!(
                "best of {} idle rounds over the instances of its shards ({}): Host::tick (lease check, fresh Store + instantiate, 1 HTTPS request answered by an empty page); concurrency {concurrency}, pool of 8 connections",
                idle_rounds.len(),
                per.join("; ")
            ),
        ));
    }
    report.push(Figure::new(
        b,
        "both hosts: idle ticks/s",
        idle_sum,
        "ticks/s",
        0,
        "sum of the two hosts' best idle rounds, run at the same time on the same cores",
    ));
    report.push(
        Figure::new(
            b,
            "pages committed during idle rounds",
            commits as f64,
            "commits",
            0,
            "both hosts' commit observers over the idle rounds",
        )
        .target("0 (idle ticks write nothing)", 0.0, false),
    );
    let (rows, wal, tables) = written(before, after);
    let (q_rows, q_wal, q_tables) = written(after, &quiet);
    let secs = window.as_secs_f64();
    let q_secs = (quiet.at - after.at).as_secs_f64();
    let per_round: Vec<String> = snaps
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (r, b, t) = written(&w[0], &w[1]);
            format!(
                "round {}: {r} rows, {b} WAL bytes in {:.1} s ({t})",
                i + 2,
                (w[1].at - w[0].at).as_secs_f64()
            )
        })
        .collect();
    // What the ticks wrote: every table but the lease upkeep's (`shard_leases`, `hosts`).
    let upkeep = ["shard_leases", "hosts"];
    let by_ticks: i64 = after
        .tables
        .iter()
        .filter(|(t, _)| !upkeep.contains(&t.as_str()))
        .map(|(t, n)| n - before.tables.get(t).copied().unwrap_or(0))
        .sum();
    report.push(
        Figure::new(
            b,
            "rows written by idle ticks",
            by_ticks as f64,
            "rows",
            0,
            &format!(
                "tuples inserted + updated + deleted during both idle rounds of both hosts in every table of the state but the lease upkeep's (shard_leases, hosts), from pg_stat_user_tables; per round: {}",
                per_round.join("; ")
            ),
        )
        .target("0 (idle ticks write nothing)", 0.0, false),
    );
    report.push(Figure::new(
        b,
        "rows written during idle rounds, all",
        rows,
        "rows",
        0,
        &format!(
            "pg_stat_database tup_inserted + tup_updated + tup_deleted over {secs:.1} s: both idle rounds of both hosts, each between two snapshots taken after an 11 s wait for PostgreSQL's statistics to settle (so the lease upkeep of those waits is in); by table: {tables}; for comparison, {q_secs:.1} s without ticks wrote {q_rows} rows ({q_tables}; the rest are system catalogs)"
        ),
    ));
    report.push(Figure::new(
        b,
        "WAL bytes during idle rounds",
        wal,
        "bytes",
        0,
        &format!(
            "pg_stat_wal.wal_bytes (whole cluster) over the same {secs:.1} s ({:.0} bytes/s); {q_secs:.1} s without ticks: {q_wal} bytes ({:.0} bytes/s)",
            wal / secs,
            q_wal / q_secs
        ),
    ));
    Ok(())
}

/// Round `k` on every worker at once; their answers in order.
async fn round_on_all(
    k: u32,
    workers: &mut [Worker],
    timeout: Duration,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let command = format!("round {k}");
    let asks = workers.iter_mut().map(|w| w.ask(&command, timeout));
    futures::future::try_join_all(asks).await
}

/// Part (b): `runs` SIGKILL failovers between two `okta-ingest run` processes with lease time `ttl`.
async fn failover(
    pg: &TestPostgres,
    orgs: &[Org],
    exe: &Path,
    dir: &Path,
    ttl: u64,
    runs: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let b = "7. fleet failover";
    let mut times = Vec::new();
    let mut notes = Vec::new();
    let mut shards = 0;
    for rep in 0..runs.max(1) {
        match failover_once(pg, orgs, exe, dir, ttl, rep).await {
            Ok((s, k, victim)) => {
                eprintln!(
                    "[7] failover TTL {ttl} s, run {}: {s:.2} s ({victim} killed)",
                    rep + 1
                );
                shards = k;
                times.push(s);
            }
            Err(e) => {
                eprintln!("[7] failover TTL {ttl} s, run {}: {e:#}", rep + 1);
                notes.push(format!("run {} failed: {e:#}", rep + 1));
            }
        }
    }
    anyhow::ensure!(!times.is_empty(), "{}", notes.join("; "));
    let list: Vec<String> = times.iter().map(|s| format!("{s:.2}")).collect();
    let max = times.iter().copied().fold(f64::NAN, f64::max);
    let median = setup::median(&mut times.clone());
    let what = format!(
        "{} runs ({} s{}): two `okta-ingest run --interval 1s --lease-ttl {ttl}s` processes on {shards} shards with instances; SIGKILL of one (alternately hA, hB) at a random point of the lease cycle (0 to TTL/3 after the shards were shared out), timed until the survivor holds every one of those leases unexpired (shard_leases polled every 50 ms)",
        times.len(),
        list.join(", "),
        if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        }
    );
    let bound = 2.0 * ttl as f64;
    let label = format!("<= 2 x TTL ({bound:.0} s)");
    report.push(
        Figure::new(b, &format!("TTL {ttl} s: median"), median, "s", 2, &what)
            .target(&label, bound, false),
    );
    report.push(
        Figure::new(
            b,
            &format!("TTL {ttl} s: max"),
            max,
            "s",
            2,
            &format!("the slowest of the {} runs above", times.len()),
        )
        .target(&label, bound, false),
    );
    Ok(())
}

/// The lease counts per host name over `shards` (unexpired leases only).
fn leases_by_host(
    pg: &TestPostgres,
    db: &str,
    shards: &str,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let text = psql(
        pg,
        db,
        &format!(
            "SELECT split_part(owner, '/', 1), count(*) FROM shard_leases WHERE owner IS NOT NULL AND expires_at > now() AND shard IN ({shards}) GROUP BY 1"
        ),
    )?;
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some((host, n)) = line.split_once('|') {
            out.insert(host.trim().to_string(), n.trim().parse().unwrap_or(0));
        }
    }
    Ok(out)
}

/// One failover: returns the seconds from SIGKILL to the survivor holding every shard, the number of
/// shards, and which host was killed.
async fn failover_once(
    pg: &TestPostgres,
    orgs: &[Org],
    exe: &Path,
    dir: &Path,
    ttl: u64,
    rep: usize,
) -> anyhow::Result<(f64, usize, &'static str)> {
    let db = format!("failover_{ttl}_{rep}");
    let url =
        tokio::task::block_in_place(|| pg.create_database(&db)).map_err(|e| anyhow::anyhow!(e))?;
    let k = orgs.len().min(8);
    let mut active = BTreeSet::new();
    {
        let mut options = PostgresOptions::new(&url);
        options.host_name = "bench-setup".into();
        let state = PostgresState::connect(options).await?;
        for (i, org) in orgs.iter().take(k).enumerate() {
            let rec = record(format!("fo-{i:02}"), org)?;
            active.insert(shard_of(&rec.domain));
            state.add_instance(&rec).await?;
        }
    }
    let shard_list = active
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let run_dir = dir.join(format!("failover-{ttl}-{rep}"));
    std::fs::create_dir_all(&run_dir)?;
    let mut children = Vec::new();
    for name in HOSTS {
        let log = run_dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log)?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("--db")
            .arg(&url)
            .args(["--host-name", name, "--lease-ttl", &format!("{ttl}s")])
            .args([
                "run",
                "--interval",
                "1s",
                "--allow-short-interval",
                "--sink",
            ])
            .arg(format!(
                "file:{}",
                run_dir.join(format!("{name}.jsonl")).display()
            ))
            // A data directory per host name, kept over the runs: its compiled-component cache.
            .env("XDG_DATA_HOME", dir.join(format!("xdg-{name}")))
            .env_remove("RUST_LOG")
            .env_remove("OKTA_INGEST_DB")
            .env_remove("OKTA_INGEST_HOST_NAME")
            .env_remove("OKTA_INGEST_LEASE_TTL")
            .env_remove("OKTA_INGEST_CONFIG")
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .kill_on_drop(true);
        let child = cmd.spawn().context("spawning okta-ingest run")?;
        children.push((name, child, log));
    }
    // Both hold shards, and every shard with instances is held.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        for (name, child, log) in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!(
                    "{name} exited early ({status}): {}",
                    super::proc::tail(log, 5)
                );
            }
        }
        let held = leases_by_host(pg, &db, &shard_list)?;
        let a = held.get(HOSTS[0]).copied().unwrap_or(0);
        let b = held.get(HOSTS[1]).copied().unwrap_or(0);
        if a > 0 && b > 0 && a + b == active.len() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the two hosts did not share the {} shards within 180 s (held: {held:?})",
            active.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim = rep % 2;
    let survivor = HOSTS[1 - victim];
    // At a random point of the lease cycle (renewals every TTL/3), not just after the round that
    // completed the sharing.
    let phase = rand::random::<f64>() * ttl as f64 / 3.0;
    tokio::time::sleep(Duration::from_secs_f64(phase)).await;
    let killed_at = Instant::now();
    children[victim].1.start_kill().context("SIGKILL")?;
    let limit = Duration::from_secs(4 * ttl + 30);
    let result = loop {
        let held = leases_by_host(pg, &db, &shard_list)?;
        if held.get(survivor).copied().unwrap_or(0) == active.len() {
            break Ok(killed_at.elapsed().as_secs_f64());
        }
        if killed_at.elapsed() > limit {
            break Err(anyhow::anyhow!(
                "the survivor {survivor} did not hold all {} shards within {} s of the SIGKILL (held: {held:?})",
                active.len(),
                limit.as_secs()
            ));
        }
        if let Some(status) = children[1 - victim].1.try_wait()? {
            break Err(anyhow::anyhow!(
                "the survivor exited ({status}): {}",
                super::proc::tail(&children[1 - victim].2, 5)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = children[victim].1.wait().await;
    // The survivor stops as a service would (SIGTERM), or is killed after 15 s.
    let (_, survivor_child, _) = &mut children[1 - victim];
    if let Some(pid) = survivor_child.id() {
        // SAFETY: `pid` is our own child, not yet reaped (`id()` is `None` once it is).
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    }
    if tokio::time::timeout(Duration::from_secs(15), survivor_child.wait())
        .await
        .is_err()
    {
        let _ = survivor_child.kill().await;
    }
    result.map(|s| (s, active.len(), HOSTS[victim]))
}

/// `worker idle --postgres URL`: joins the fleet as `--host-name`, then answers commands on stdin, one
/// JSON line each on stdout: `status` (the shards and instances it holds now), `round N` (ticks every
/// instance of the shards it holds now, once, round 1 within `--round1-budget`; then writes the
/// outcomes still held in memory). End of input ends it.
pub async fn worker(args: BenchWorkerArgs) -> anyhow::Result<ExitCode> {
    let url = args.postgres.clone().context("--postgres URL")?;
    let mut options = PostgresOptions::new(&url);
    options.host_name = args.host_name.clone();
    options.lease_ttl = Duration::from_secs(args.lease_ttl.max(1));
    let t = Instant::now();
    let state = Arc::new(PostgresState::connect(options).await?);
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut cfg = HostConfig::new(&args.db);
    cfg.concurrency = args.concurrency;
    let host = Host::with_state(cfg, state.clone())?;
    let commits = Arc::new(AtomicU64::new(0));
    let c = commits.clone();
    host.set_commit_observer(Arc::new(move |_, _| {
        c.fetch_add(1, Ordering::Relaxed);
    }));
    let all = host.list_instances().await?;
    host.connector_info().await?;
    host.claim_runner().await?;
    println!(
        "{}",
        serde_json::json!({"joined": state.host_id(), "instances": all.len(), "setup_seconds": t.elapsed().as_secs_f64()})
    );
    let held = |state: &PostgresState| -> (Vec<Instance>, usize) {
        let mine: Vec<Instance> = all.iter().filter(|i| state.holds(i)).cloned().collect();
        let shards: BTreeSet<u32> = mine.iter().map(|i| shard_of(&i.domain)).collect();
        (mine, shards.len())
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let command = line.trim();
        let (mine, shards) = held(&state);
        if command == "status" {
            println!(
                "{}",
                serde_json::json!({"status": true, "shards": shards, "instances": mine.len()})
            );
        } else if let Some(k) = command.strip_prefix("round ") {
            let round: u32 = k.trim().parse().context("round number")?;
            let budget = (round == 1).then(|| Duration::from_secs(args.round1_budget));
            let mut line =
                tick_round(&host, &mine, round, args.concurrency, budget, &commits).await;
            // Outcomes are written at most every second, when a later tick is recorded: write this
            // round's last ones now, so they are not counted in the next round.
            let flush = Instant::now();
            host.flush_status().await;
            line["flush_seconds"] = flush.elapsed().as_secs_f64().into();
            line["shards"] = shards.into();
            line["instances"] = mine.len().into();
            line["shards_after"] = held(&state).1.into();
            println!("{line}");
            eprintln!("{line}");
        } else {
            anyhow::bail!("unknown command {command:?} (known: status, round N)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
