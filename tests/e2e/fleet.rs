//! A fleet: three `okta-ingest run` processes on one PostgreSQL state, three emulated orgs. One host is
//! SIGKILLed mid-backfill, one joins late, one is SIGSTOPped for longer than the lease TTL and woken
//! up again while a test-only delay holds a fetched page between fetch and commit. Afterwards every
//! instance's outbox covers 1..N exactly once, every expected event reached a sink, each host's file
//! holds no event twice, and the woken host's commit was refused.

use crate::support::*;
use okta_emulator::{ClientRegistration, Emulator, EmulatorConfig};
use okta_ingest_test_postgres::TestPostgres;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const ALL: &[&str] = &["authentication", "security", "itp", "lifecycle"];
pub(crate) const TTL: Duration = Duration::from_secs(3);
const EVENTS_PER_ORG: usize = 12_000;

/// Paced (6 requests per 1-second window, half of it ours: about 3 pages a second per org) so that the
/// backfill outlives the kill, the join and the pause.
fn org_config() -> EmulatorConfig {
    EmulatorConfig {
        events: EVENTS_PER_ORG,
        days: 13,
        rate_limit_per_minute: Some(6),
        rate_limit_window: Duration::from_secs(1),
        ..EmulatorConfig::default()
    }
}

/// `okta-ingest run` as fleet host `name`, its file sink `NAME.jsonl`.
fn host(fx: &Fixture, name: &str) -> Running {
    let sink = format!("file:{}", fx.path(&format!("{name}.jsonl")).display());
    fleet_host(fx, name, &["--sink", &sink], &[], 150)
}

/// `okta-ingest run` as fleet host `name` (lease TTL [`TTL`], 1-second interval) with `sink_args` and
/// `env`; `commit_delay_ms` is the test-only pause between fetching a page and committing it, which
/// widens the window in which a paused host holds a fetched page while its lease moves.
pub(crate) fn fleet_host(
    fx: &Fixture,
    name: &str,
    sink_args: &[&str],
    env: &[(&str, &str)],
    commit_delay_ms: u64,
) -> Running {
    let ttl = format!("{}s", TTL.as_secs());
    let mut args = vec![
        "--host-name",
        name,
        "--lease-ttl",
        &ttl,
        "run",
        "--interval",
        "1s",
        "--allow-short-interval",
    ];
    args.extend_from_slice(sink_args);
    args.extend_from_slice(FAST);
    let delay = commit_delay_ms.to_string();
    let mut env = env.to_vec();
    env.push(("OKTA_INGEST_TEST_COMMIT_DELAY_MS", &delay));
    Running::start_with_env(fx, &args, &format!("{name}.log"), &env)
}

/// `instance add NAME` for the emulated org `org` (its CA written next to the key) as `client_id` with the
/// fixture's key, a 14-day backfill, and `extra`.
pub(crate) async fn add_instance_on(
    fx: &Fixture,
    org: &Emulator,
    client_id: &str,
    name: &str,
    extra: &[&str],
) {
    let ca = fx.path(&format!("ca-{}.pem", org.addr().port()));
    std::fs::write(&ca, org.ca_pem()).unwrap();
    let (domain, ca) = (org.domain(), ca.display().to_string());
    let key = fx.path("key.pem").display().to_string();
    let mut args = vec![
        "instance",
        "add",
        name,
        "--domain",
        &domain,
        "--client-id",
        client_id,
        "--private-key",
        &key,
        "--ca-file",
        &ca,
        "--backfill-days",
        "14",
    ];
    args.extend_from_slice(extra);
    let out = fx.cli(&args).await;
    assert!(out.status.success(), "instance add {name}: {}", text(&out));
}

/// `psql` on the fixture's database.
pub(crate) fn sql(fx: &Fixture, query: &str) -> String {
    let db = fx.db();
    let name = db.rsplit('/').next().unwrap().to_string();
    TestPostgres::shared().unwrap().psql(&name, query).unwrap()
}

/// The shards whose live lease names host `name`.
pub(crate) fn held_by(fx: &Fixture, name: &str) -> HashSet<u32> {
    sql(
        fx,
        &format!(
            "SELECT string_agg(shard::text, ',') FROM shard_leases
             WHERE owner LIKE '{name}/%' AND expires_at > now()"
        ),
    )
    .split(',')
    .filter_map(|s| s.parse().ok())
    .collect()
}

pub(crate) async fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_killed_paused_and_joining_lose_and_double_nothing() {
    let fx = Fixture::on(Backend::Postgres, org_config()).await;
    let mut orgs: Vec<Emulator> = Vec::new();
    for _ in 0..2 {
        let org = Emulator::start(org_config()).await.unwrap();
        org.register_client(ClientRegistration::logs_reader(
            &fx.client.client_id,
            &fx.client.public_key_pem,
        ));
        orgs.push(org);
    }
    let mut expected_by_instance: HashMap<String, Vec<String>> = HashMap::new();
    let spec = CategorySpec::load();
    fx.add_instance(
        "org0",
        &["--backfill-days", "14", "--events", &ALL.join(",")],
    )
    .await;
    expected_by_instance.insert("org0".into(), spec.expected(&fx.emulator.committed(), ALL));
    for (i, org) in orgs.iter().enumerate() {
        let name = format!("org{}", i + 1);
        add_instance_on(
            &fx,
            org,
            &fx.client.client_id,
            &name,
            &["--events", &ALL.join(",")],
        )
        .await;
        expected_by_instance.insert(name, spec.expected(&org.committed(), ALL));
    }
    let expected: Vec<String> = expected_by_instance.values().flatten().cloned().collect();
    assert!(expected.len() > 20_000, "{}", expected.len());
    let shards: HashSet<u32> = sql(
        &fx,
        "SELECT string_agg(DISTINCT shard::text, ',') FROM instances",
    )
    .split(',')
    .map(|s| s.parse().unwrap())
    .collect();

    // Two hosts share the shards.
    let mut a = host(&fx, "ha");
    let b = host(&fx, "hb");
    wait_until(
        "both hosts hold a share of the shards",
        Duration::from_secs(30),
        || {
            let (ha, hb) = (held_by(&fx, "ha").len(), held_by(&fx, "hb").len());
            ha > 0 && hb > 0 && ha + hb == shards.len()
        },
    )
    .await;
    wait_until("ha delivering", Duration::from_secs(60), || {
        lines(&fx.path("ha.jsonl")).len() > 500
    })
    .await;

    // SIGKILL ha mid-backfill: hb takes its shards within 2 x TTL of the kill.
    let ha_shards = held_by(&fx, "ha");
    a.signal(libc::SIGKILL);
    let _ = a
        .exit_within(Duration::from_secs(10), "ha after SIGKILL")
        .await;
    let failover = wait_until("hb holds every shard", TTL * 4, || {
        held_by(&fx, "hb") == shards
    })
    .await;
    eprintln!(
        "failover after SIGKILL: {failover:?} (TTL {TTL:?}, ha had {} shard(s))",
        ha_shards.len()
    );
    assert!(
        failover <= TTL * 2 + Duration::from_millis(500),
        "failover took {failover:?}"
    );
    assert!(
        sql(&fx, "SELECT count(*) FROM outbox_pages")
            .parse::<i64>()
            .unwrap()
            > 0,
        "the backfill was under way; ha:\n{}\nhb:\n{}",
        a.log(),
        b.log()
    );
    let remaining = expected.len() - lines(&fx.path("ha.jsonl")).len().min(expected.len());
    assert!(
        remaining > 2_000,
        "the kill must land mid-backfill ({remaining} left)"
    );

    // hc joins: the shards are spread again.
    let c = host(&fx, "hc");
    wait_until("hc gets a share", Duration::from_secs(20), || {
        let (hb, hc) = (held_by(&fx, "hb").len(), held_by(&fx, "hc").len());
        hb + hc == shards.len() && hb.abs_diff(hc) <= 1 && hc > 0
    })
    .await;

    // hb pauses for longer than the TTL (a zombie): hc takes everything; hb wakes up and cannot commit.
    b.signal(libc::SIGSTOP);
    let paused = Instant::now();
    wait_until("hc holds every shard", TTL * 4, || {
        held_by(&fx, "hc") == shards
    })
    .await;
    tokio::time::sleep((TTL * 2).saturating_sub(paused.elapsed())).await;
    b.signal(libc::SIGCONT);

    // Everything arrives, in hb's and hc's files (and ha's, before its death).
    let files = ["ha.jsonl", "hb.jsonl", "hc.jsonl"];
    let want: HashSet<&String> = expected.iter().collect();
    wait_until("every event delivered", Duration::from_secs(180), || {
        let got: HashSet<String> = files.iter().flat_map(|f| lines(&fx.path(f))).collect();
        want.iter().all(|e| got.contains(*e))
    })
    .await;
    b.wait_for("hb noticing it lost its leases", |log| {
        log.contains("lost the lease") || log.contains("commit refused: fenced")
    })
    .await;

    assert_outbox_exact(&fx, &expected_by_instance);

    // Each host's file holds no event twice; across files an event may repeat only where a host's
    // lease moved between its write and its acknowledgement (the documented file-sink semantics).
    let mut across = 0usize;
    let mut seen: HashSet<String> = HashSet::new();
    for f in files {
        let l = lines(&fx.path(f));
        let own: HashSet<&String> = l.iter().collect();
        assert_eq!(own.len(), l.len(), "{f} holds an event twice");
        for e in l {
            assert!(want.contains(&e), "{f} holds an event nobody selected");
            if !seen.insert(e) {
                across += 1;
            }
        }
    }
    eprintln!(
        "{} events; repeated across hosts' files after the takeovers: {across}; hb's log:\n{}",
        expected.len(),
        b.log()
            .lines()
            .filter(|l| l.contains("lease") || l.contains("fenced"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let status = fx.cli(&["status", "--json"]).await;
    assert!(status.status.success(), "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let hosts = doc["fleet"]["hosts"].as_array().unwrap();
    assert!(
        hosts
            .iter()
            .any(|h| h["name"] == "hc" && h["alive"] == true),
        "{doc}"
    );
    assert!(
        doc["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["runs_on"].is_string()),
        "{doc}"
    );
    drop(c);
    drop(b);
}

/// Per instance, the outbox pages' own numbering covers 1..N exactly once (N: its expected events) and
/// its `events_total` is N; per shard, the stream's pages follow each other without a gap or overlap.
pub(crate) fn assert_outbox_exact(
    fx: &Fixture,
    expected_by_instance: &HashMap<String, Vec<String>>,
) {
    // The outbox: per instance, the pages' own numbering covers 1..N exactly once, N = its events.
    for (name, events) in expected_by_instance {
        let ranges = sql(
            fx,
            &format!(
                "SELECT string_agg(p.instance_first_seq || '+' || (p.last_seq - p.first_seq + 1), ','
                    ORDER BY p.instance_first_seq)
                 FROM outbox_pages p JOIN instances i ON i.id = p.instance_id WHERE i.name = '{name}'"
            ),
        );
        // Delivered partitions may be dropped already; what remains must still be gap- and overlap-free
        // from wherever it starts, and the instance's total must be exact.
        let mut next: Option<i64> = None;
        for r in ranges.split(',').filter(|r| !r.is_empty()) {
            let (first, n) = r.split_once('+').unwrap();
            let (first, n): (i64, i64) = (first.parse().unwrap(), n.parse().unwrap());
            if let Some(expect) = next {
                assert_eq!(first, expect, "{name}: a gap or an overlap in {ranges}");
            }
            next = Some(first + n);
        }
        let total: usize = sql(
            fx,
            &format!("SELECT events_total FROM instances WHERE name = '{name}'"),
        )
        .parse()
        .unwrap();
        assert_eq!(
            total,
            events.len(),
            "{name}: committed exactly its events once"
        );
    }
    // Per shard, the stream is 1..M with every page once.
    let streams = sql(
        fx,
        "SELECT string_agg(shard || ':' || first_seq || '-' || last_seq, ',' ORDER BY shard, first_seq) FROM outbox_pages",
    );
    let mut by_shard: HashMap<&str, i64> = HashMap::new();
    for r in streams.split(',').filter(|r| !r.is_empty()) {
        let (shard, range) = r.split_once(':').unwrap();
        let (first, last) = range.split_once('-').unwrap();
        let (first, last): (i64, i64) = (first.parse().unwrap(), last.parse().unwrap());
        if let Some(prev) = by_shard.get(shard) {
            assert_eq!(first, prev + 1, "shard {shard}: {streams}");
        }
        by_shard.insert(shard, last);
    }
}

/// `state migrate` from a SQLite state killed mid-backfill (cursor mid-way, events queued, a write
/// unacknowledged): refused while a host runs the source; afterwards the fleet delivers the rest, and
/// every event arrives once (the old file cut back where the report says its acknowledged part ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_migrate_mid_stream_loses_and_doubles_nothing() {
    let fx = Fixture::new(org_config()).await;
    fx.add_instance(
        "org",
        &["--backfill-days", "14", "--events", &ALL.join(",")],
    )
    .await;
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), ALL);
    let before = fx.path("before.jsonl");
    let sink = format!("file:{}", before.display());
    let mut args = vec![
        "run",
        "--interval",
        "1s",
        "--allow-short-interval",
        "--sink",
        &sink,
    ];
    args.extend_from_slice(FAST);
    let mut running = Running::start(&fx, &args, "sqlite.log");
    wait_until(
        "the SQLite host delivering",
        Duration::from_secs(60),
        || lines(&before).len() > 1_000,
    )
    .await;

    let url = postgres_database();
    let migrate = |fx: &Fixture, url: String| {
        let from = fx.db();
        async move {
            tokio::process::Command::new(BIN)
                .args(["state", "migrate", "--from", &from, "--to", &url])
                .env_remove("RUST_LOG")
                .output()
                .await
                .unwrap()
        }
    };
    let refused = migrate(&fx, url.clone()).await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("in use by another okta-ingest run"),
        "{}",
        text(&refused)
    );

    running.signal(libc::SIGKILL);
    let _ = running
        .exit_within(Duration::from_secs(10), "the SQLite host")
        .await;
    assert!(
        lines(&before).len() < expected.len(),
        "the kill must land mid-backfill"
    );
    let moved = migrate(&fx, url.clone()).await;
    assert!(moved.status.success(), "{}", text(&moved));
    let report = text(&moved);
    assert!(report.contains("moved 1 instance(s)"), "{report}");
    // A batch recorded for the old file and not acknowledged is delivered again by the fleet: the
    // report says where the old file's acknowledged part ends, and the old file is cut back there.
    if let Some(bytes) = report
        .split("cut it back to ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
    {
        let bytes: u64 = bytes.parse().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&before)
            .unwrap()
            .set_len(bytes)
            .unwrap();
    }
    let delivered_before = lines(&before);

    // The old file is retired: a run on it fetches and delivers nothing.
    let stale = fx.path("stale.jsonl");
    let run_old = fx.run_once(&stale).await;
    assert!(run_old.status.success(), "{}", text(&run_old));
    assert!(
        lines(&stale).is_empty(),
        "the retired state delivered again"
    );

    // The fleet goes on where the source stopped.
    let after = fx.path("after.jsonl");
    let sink = format!("file:{}", after.display());
    let mut args = vec![
        "--db",
        &url,
        "--lease-ttl",
        "3s",
        "run",
        "--once",
        "--sink",
        &sink,
    ];
    args.extend_from_slice(FAST);
    let fleet = tokio::process::Command::new(BIN)
        .args(&args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(fleet.status.success(), "{}", text(&fleet));
    let delivered_after = lines(&after);
    let all: Vec<String> = delivered_before
        .iter()
        .chain(&delivered_after)
        .cloned()
        .collect();
    let distinct: HashSet<&String> = all.iter().collect();
    let want: HashSet<&String> = expected.iter().collect();
    assert_eq!(distinct, want, "every expected event, and nothing else");
    assert_eq!(all.len(), expected.len(), "each event once");
    let own: HashSet<&String> = delivered_after.iter().collect();
    assert_eq!(
        own.len(),
        delivered_after.len(),
        "the fleet delivered an event twice"
    );
}

/// Four processes of the real binary opening one fresh PostgreSQL database at the same moment: one
/// migrates the schema, the others wait for it and find the work done; all of them work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_starting_together_on_a_fresh_database_migrate_it_once() {
    let db = postgres_database();
    let starts: Vec<_> = (0..4)
        .map(|i| {
            tokio::process::Command::new(BIN)
                .args(["--db", &db, "-v", "--host-name", &format!("h{i}")])
                .args(["instance", "list"])
                .env_remove("RUST_LOG")
                .output()
        })
        .collect();
    let outs = futures::future::join_all(starts).await;
    let mut logs = String::new();
    for out in outs {
        let out = out.expect("binary runs");
        assert!(out.status.success(), "{}", text(&out));
        logs.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // Each migration of the schema (PostgreSQL schema 2 has two) ran once, by one of the hosts.
    for what in [
        "migrating the state database: instances, shard leases",
        "migrating the state database: each instance's excluded event types",
    ] {
        assert_eq!(logs.matches(what).count(), 1, "{what}:\n{logs}");
    }
    assert_eq!(
        logs.matches("migrating the state database").count(),
        2,
        "{logs}"
    );
    let name = db.rsplit('/').next().unwrap();
    let version = TestPostgres::shared()
        .unwrap()
        .psql(
            name,
            "SELECT value FROM okta_ingest_meta WHERE key = 'schema_version'",
        )
        .unwrap();
    assert_eq!(version, "2");
}

/// `okta-ingest run` reaching PostgreSQL through a proxy that starts dropping every byte: the host logs
/// the failed lease round, stops ticking once its lease's local deadline passes (events committed at
/// Okta meanwhile are not delivered), keeps running, and after the network heals resumes by itself
/// and delivers them, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_from_postgres_pauses_and_resumes_by_itself() {
    use okta_ingest_test_postgres::BlackholeProxy;
    let fx = Fixture::on(
        Backend::Postgres,
        EmulatorConfig {
            events: 2_000,
            days: 13,
            ..EmulatorConfig::default()
        },
    )
    .await;
    fx.add_instance(
        "org",
        &["--backfill-days", "14", "--events", &ALL.join(",")],
    )
    .await;
    let pg = TestPostgres::shared().unwrap();
    let proxy = BlackholeProxy::start(pg.port()).unwrap();
    let via_proxy = fx
        .db()
        .replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port()));
    let out = fx.path("events.jsonl");
    let log = fx.path("run.log");
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--db",
            &via_proxy,
            "--lease-ttl",
            "3s",
            "run",
            "--interval",
            "1s",
        ])
        .args(["--allow-short-interval", "--sink"])
        .arg(format!("file:{}", out.display()))
        .args(FAST)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let spec = CategorySpec::load();
    let backfill = spec.expected(&fx.emulator.committed(), ALL);
    wait_until("the backfill delivered", Duration::from_secs(60), || {
        lines(&out).len() >= backfill.len()
    })
    .await;

    // Cut off: new events at Okta are not fetched while the host cannot renew its lease.
    proxy.set_blackhole(true);
    let newest = fx
        .emulator
        .committed()
        .iter()
        .map(|e| e.published.clone())
        .max()
        .unwrap();
    fx.emulator.commit_events(okta_emulator::minimal_events(
        40,
        &newest,
        |i| format!("cutoff-{i:04}-0000-0000-000000000000"),
        "committed while the host was cut off",
    ));
    let run_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the failed lease round logged", TTL * 3, || {
        run_log().contains("lease round failed")
    })
    .await;
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(
        lines(&out).len(),
        backfill.len(),
        "nothing delivered while cut off from the state"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run keeps going: {}",
        run_log()
    );

    // Healed: the host resumes by itself and delivers the events from the cut-off time, each once.
    proxy.set_blackhole(false);
    let expected = spec.expected(&fx.emulator.committed(), ALL);
    let resumed = wait_until("delivery resumed", Duration::from_secs(90), || {
        lines(&out).len() >= expected.len()
    })
    .await;
    eprintln!("delivered again {resumed:?} after the network healed");
    assert_exactly(&lines(&out), &expected);
    assert!(
        run_log().contains("the state database answers again"),
        "{}",
        run_log()
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
}
