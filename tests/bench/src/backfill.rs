//! Benchmark 1, backfill throughput: `okta-ingest run --once` as a child process against the
//! in-process emulator.

use super::report::{Figure, Report};
use super::{proc, setup};
use okta_emulator::Emulator;
use std::path::Path;
use std::time::Instant;

const B: &str = "1. backfill";

/// What benchmark 6 reuses: the same emulator and data.
pub struct Backfill {
    /// The emulator (still running).
    pub emulator: Emulator,
    /// A registered client.
    pub client: setup::Client,
    /// Events the emulator holds (all types).
    pub total: usize,
    /// Events okta-ingest selects with every category.
    pub selected: usize,
    /// okta-ingest's events/s, if measured.
    pub events_per_s: Option<f64>,
}

/// Generates `n` events over 13 days (all inside the 14-day backfill window) and measures the child.
pub async fn run(
    exe: &Path,
    dir: &Path,
    n: usize,
    report: &mut Report,
    measure: bool,
) -> anyhow::Result<Backfill> {
    eprintln!("[1] generating {n} events over 13 days in the emulator ...");
    let t = Instant::now();
    let emulator = setup::emulator(n, 13).await?;
    let (total, selected) = setup::selected_count(&emulator);
    eprintln!(
        "[1] generated {total} events ({selected} in the four categories) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let client = setup::register(&emulator, dir, "0oa-bench-backfill")?;
    let mut bf = Backfill {
        emulator,
        client,
        total,
        selected,
        events_per_s: None,
    };
    if !measure {
        return Ok(bf);
    }
    let bearer = measure_run(exe, dir, "bearer", None, &bf.emulator, &bf.client).await?;
    let wall = bearer.wall_s;
    let delivered = bearer.delivered;
    let eps = delivered as f64 / wall;
    let what = format!(
        "{} generated, {selected} selected (all 4 categories), 14-day backfill, file sink, an app without DPoP (Bearer token)",
        bf.total
    );
    let check = |delivered: u64| {
        if delivered as usize == selected {
            format!("{delivered} = expected {selected}")
        } else {
            format!("MISMATCH: {delivered} lines, expected {selected}")
        }
    };
    report.push(Figure::text(
        B,
        "events delivered",
        &check(delivered),
        &what,
    ));
    report.push(Figure::new(
        B,
        "wall time",
        wall,
        "s",
        2,
        "child process start to exit: component compile, token, paging over HTTPS, SQLite commits (fsync), file sink writes + fsync",
    ));
    report.push(
        Figure::new(
            B,
            "throughput",
            eps,
            "events/s",
            0,
            "events delivered / wall time above",
        )
        .target(">= 50,000 events/s", 50_000.0, true),
    );
    report.push(Figure::new(
        B,
        "child CPU",
        bearer.cpu_s / delivered.max(1) as f64 * 1e6,
        "CPU s per million events",
        1,
        &format!(
            "user + sys of the okta-ingest child (wait4); the in-process emulator used another {:.2} CPU s, not counted",
            bearer.emulator_cpu_s
        ),
    ));
    report.push(Figure::new(
        B,
        "child peak RSS",
        bearer.peak_rss_mib,
        "MiB",
        1,
        &format!(
            "VmHWM of the okta-ingest child (/proc, sampled every 10 ms); wait4's ru_maxrss said {:.0} MiB, which Linux inherits from this bench process over fork + exec",
            bearer.ru_maxrss_mib
        ),
    ));

    // The same backfill through an app that requires DPoP: one ES256 proof signed per request (and one
    // SHA-256 for its `ath`), a proof on the token request, the nonce exchange; the emulator verifies
    // every proof (its CPU is not the child's).
    let dpop_client = setup::register_requiring_dpop(&bf.emulator, dir, "0oa-bench-backfill-dpop")?;
    let dpop = measure_run(exe, dir, "dpop", None, &bf.emulator, &dpop_client).await?;
    report.push(Figure::text(
        B,
        "DPoP app: events delivered",
        &check(dpop.delivered),
        &format!(
            "the same backfill through an app with \"Require DPoP\" checked: {} DPoP-bound token(s), {} proofs verified by the emulator, {} replayed",
            dpop.dpop_tokens, dpop.requests, dpop.replayed
        ),
    ));
    report.push(Figure::new(
        B,
        "DPoP app: throughput",
        dpop.delivered as f64 / dpop.wall_s,
        "events/s",
        0,
        "events delivered / wall time, same run, same events as the Bearer figures above",
    ));
    let pages = dpop.requests.max(1) as f64;
    report.push(Figure::new(
        B,
        "DPoP cost per page",
        (dpop.cpu_s - bearer.cpu_s) / pages * 1e3,
        "ms child CPU per page",
        3,
        &format!(
            "(DPoP child CPU {:.2} s - Bearer child CPU {:.2} s) / {} System Log requests of 1,000 events; wall difference {:+.3} ms per page",
            dpop.cpu_s,
            bearer.cpu_s,
            dpop.requests,
            (dpop.wall_s - bearer.wall_s) / pages * 1e3
        ),
    ));
    let per_proof = proof_cost_us();
    report.push(Figure::new(
        B,
        "DPoP proof cost",
        per_proof,
        "µs per request",
        1,
        "in this process, median of 5 × 2,000: the connector's proof claims and header (okta_ingest_connector::dpop::signing_input, with ath) plus one ES256 signature (p256, as the host signs) — what DPoP adds to each System Log request besides the wasm boundary and ~300 bytes on the wire",
    ));
    if let Err(e) = postgres(exe, dir, &bf, &bearer, report).await {
        report.push(Figure::na(
            B,
            "PostgreSQL: throughput",
            &format!("failed: {e:#}"),
        ));
    }
    bf.events_per_s = Some(eps);
    Ok(bf)
}

/// The same backfill into a fleet's state: a PostgreSQL cluster of its own on loopback, as durable as
/// SQLite's (`fsync`, `synchronous_commit` and `full_page_writes` on), one host.
async fn postgres(
    exe: &Path,
    dir: &Path,
    bf: &Backfill,
    sqlite: &Measured,
    report: &mut Report,
) -> anyhow::Result<()> {
    let pg =
        okta_ingest_test_postgres::TestPostgres::start_durable().map_err(|e| anyhow::anyhow!(e))?;
    let url = pg
        .create_database("bench")
        .map_err(|e| anyhow::anyhow!(e))?;
    let client = setup::register(&bf.emulator, dir, "0oa-bench-backfill-pg")?;
    let wal = |pg: &okta_ingest_test_postgres::TestPostgres| -> anyhow::Result<(f64, f64)> {
        let row = pg
            .psql(
                "bench",
                "SELECT (SELECT wal_bytes FROM pg_stat_wal), (SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = 'bench')",
            )
            .map_err(|e| anyhow::anyhow!(e))?;
        let (bytes, rows) = row.split_once('|').unwrap_or((&row, "0"));
        Ok((bytes.trim().parse()?, rows.trim().parse()?))
    };
    // The schema is made first, so the figures below count the backfill only.
    okta_ingest::state::PostgresState::connect(okta_ingest::state::PostgresOptions::new(&url))
        .await?;
    // Statistics reach pg_stat_database up to a second after a backend's transactions.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = wal(&pg)?;
    let m = measure_run(exe, dir, "postgres", Some(&url), &bf.emulator, &client).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = wal(&pg)?;
    let events = m.delivered.max(1) as f64;
    let eps = m.delivered as f64 / m.wall_s;
    let sqlite_eps = sqlite.delivered as f64 / sqlite.wall_s;
    report.push(Figure::text(
        B,
        "PostgreSQL: events delivered",
        &if m.delivered as usize == bf.selected {
            format!("{} = expected {}", m.delivered, bf.selected)
        } else {
            format!("MISMATCH: {} lines, expected {}", m.delivered, bf.selected)
        },
        "the same backfill with --db postgres://… (a local PostgreSQL with fsync on), one host holding the shard lease, fenced page commits",
    ));
    report.push(
        Figure::new(
            B,
            "PostgreSQL: throughput",
            eps,
            "events/s",
            0,
            "events delivered / wall time of the child, same events as the SQLite figures above",
        )
        .target(">= 50% of SQLite's", 0.5 * sqlite_eps, true),
    );
    report.push(Figure::new(
        B,
        "PostgreSQL vs SQLite",
        eps / sqlite_eps * 100.0,
        "% of SQLite's events/s",
        0,
        "same run, same machine",
    ));
    report.push(Figure::new(
        B,
        "PostgreSQL: child CPU",
        m.cpu_s / events * 1e6,
        "CPU s per million events",
        1,
        &format!(
            "user + sys of the okta-ingest child; SQLite's was {:.1}; the PostgreSQL server's CPU is not counted",
            sqlite.cpu_s / sqlite.delivered.max(1) as f64 * 1e6
        ),
    ));
    report.push(Figure::new(
        B,
        "PostgreSQL: WAL bytes per event",
        (after.0 - before.0) / events,
        "bytes",
        0,
        "pg_stat_wal.wal_bytes during the run / events (the pages are zstd-compressed blobs)",
    ));
    report.push(Figure::new(
        B,
        "PostgreSQL: rows written per 1,000 events",
        (after.1 - before.1) / events * 1000.0,
        "rows",
        1,
        "tuples inserted + updated + deleted in the database during the run (pg_stat_database: the instance's row, pages and the TOAST chunks (~2 KB each) of their compressed blobs, stream, tick log, lease heartbeats), per 1,000 events",
    ));
    Ok(())
}

/// One measured `run --once` backfill.
struct Measured {
    wall_s: f64,
    cpu_s: f64,
    emulator_cpu_s: f64,
    delivered: u64,
    peak_rss_mib: f64,
    ru_maxrss_mib: f64,
    /// `/api/v1/logs` requests the emulator served during the run.
    requests: u64,
    dpop_tokens: u64,
    replayed: u64,
}

/// Adds an instance for `client` in a state of its own (`state-TAG.db`, or the PostgreSQL database at
/// `postgres_url`) and measures one child `run --once` into `events-TAG.jsonl`.
async fn measure_run(
    exe: &Path,
    dir: &Path,
    tag: &str,
    postgres_url: Option<&str>,
    emulator: &Emulator,
    client: &setup::Client,
) -> anyhow::Result<Measured> {
    let db = match postgres_url {
        Some(url) => std::path::PathBuf::from(url),
        None => dir.join(format!("state-{tag}.db")),
    };
    let out = dir.join(format!("events-{tag}.jsonl"));
    setup::add_instance(&db, "bench", emulator, client, 14).await?;
    let log = dir.join(format!("run-{tag}.log"));
    let cmd = setup::run_once_cmd(exe, &db, &out, &log, &["--rate-limit-share", "100"])?;
    eprintln!("[1] okta-ingest run --once (child process, {tag}) ...");
    let before = emulator.stats();
    let cpu_before = proc::self_cpu();
    let r = proc::run_async(cmd).await?;
    let emulator_cpu_s = proc::self_cpu() - cpu_before;
    let after = emulator.stats();
    let delivered = setup::count_lines(&out).unwrap_or(0);
    if r.code != 0 {
        anyhow::bail!(
            "run --once ({tag}) exited with {}: {}",
            r.code,
            proc::tail(&log, 5)
        );
    }
    // A million events are ~1.5 GB of output; only the count matters once taken.
    let _ = std::fs::remove_file(&out);
    Ok(Measured {
        wall_s: r.wall.as_secs_f64(),
        cpu_s: r.cpu(),
        emulator_cpu_s,
        delivered,
        peak_rss_mib: r.maxrss_kib as f64 / 1024.0,
        ru_maxrss_mib: r.ru_maxrss_kib as f64 / 1024.0,
        requests: after.log_requests - before.log_requests,
        dpop_tokens: after.dpop_tokens_issued - before.dpop_tokens_issued,
        replayed: after.replayed_proofs - before.replayed_proofs,
    })
}

/// Median cost of building and signing one System Log proof, µs.
fn proof_cost_us() -> f64 {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    let key = SigningKey::random(&mut rand::rngs::OsRng);
    let point = key.verifying_key().to_encoded_point(false);
    let b64 = |c: Option<&p256::FieldBytes>| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(c.map(|b| b.as_slice()).unwrap_or_default())
    };
    let proof_key = okta_ingest_connector::env::ProofKey {
        alg: "ES256".into(),
        jwk: format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
            b64(point.x()),
            b64(point.y())
        ),
    };
    let token = "a".repeat(900); // Okta's access tokens are JWTs of about this size
    let url = "https://acme.okta.com/api/v1/logs?limit=1000&after=1764633600000_1";
    let mut samples = Vec::new();
    for _ in 0..5 {
        let n = 2_000;
        let t = Instant::now();
        for i in 0..n {
            let input = okta_ingest_connector::dpop::signing_input(
                &proof_key,
                okta_ingest_connector::dpop::ProofFor {
                    htm: "GET",
                    url,
                    nonce: None,
                    access_token: Some(&token),
                },
                setup::now_ms(),
                &(i as u128).to_le_bytes(),
            )
            .unwrap_or_default();
            let sig: Signature = key.sign(input.as_bytes());
            std::hint::black_box(sig);
        }
        samples.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
