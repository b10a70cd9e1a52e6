//! The fleet's chaos test at full size: five emulated orgs, 30 instances (six per org, each with its own
//! category selection), about 200,000 events, three `okta-ingest run` hosts posting to one webhook
//! receiver that fails now and then, and a fourth host joining later. One host is SIGKILLed
//! mid-backfill; another is SIGSTOPped for longer than the lease TTL while a test-only delay holds its
//! fetched pages between fetch and commit, then SIGCONTed. Afterwards every instance's outbox covers
//! 1..N exactly once, the receiver holds every expected event once per idempotency key, the woken
//! host's commit was refused, failover took at most 2 x TTL, and the shards are spread evenly.

use crate::fleet::{
    add_instance_on, assert_outbox_exact, fleet_host, held_by, sql, wait_until, TTL,
};
use crate::receiver::{deduplicated, Action, Receiver};
use crate::support::*;
use okta_emulator::{ClientRegistration, Emulator, EmulatorConfig};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const ORGS: usize = 5;
const EVENTS_PER_ORG: usize = 20_000;
const SECRET: &str = "Bearer e2e-chaos-s3cret";

/// The six selections of an org's six instances: overlapping on purpose, so the same event reaches the
/// sink once per instance that selected it.
const SELECTIONS: [&[&str]; 6] = [
    &["authentication", "security", "itp", "lifecycle"],
    &["authentication"],
    &["security"],
    &["itp"],
    &["lifecycle"],
    &["authentication", "security"],
];

/// Paced (2 System Log requests per 1-second window per org, the host using half: about a page a
/// second per org) so that the backfill outlives the kill, the join and the pause.
fn org_config() -> EmulatorConfig {
    EmulatorConfig {
        events: EVENTS_PER_ORG,
        days: 13,
        rate_limit_per_minute: Some(2),
        rate_limit_window: Duration::from_secs(1),
        ..EmulatorConfig::default()
    }
}

/// A fleet host delivering to the receiver; the commit delay holds each fetched page for 200 ms.
fn webhook_host(fx: &Fixture, rx: &Receiver, name: &str) -> Running {
    let (url, ca) = (rx.url(), rx.ca_file.display().to_string());
    fleet_host(
        fx,
        name,
        &[
            "--sink",
            &url,
            "--webhook-ca-file",
            &ca,
            "--webhook-auth-env",
            "E2E_WEBHOOK_AUTH",
            "--webhook-retry-base",
            "10ms",
        ],
        &[("E2E_WEBHOOK_AUTH", SECRET)],
        200,
    )
}

/// Whether `hosts` hold every shard in `shards` between them, each within one of the others.
fn spread_evenly(fx: &Fixture, hosts: &[&str], shards: &HashSet<u32>) -> bool {
    let held: Vec<HashSet<u32>> = hosts.iter().map(|h| held_by(fx, h)).collect();
    let all: HashSet<u32> = held.iter().flatten().copied().collect();
    let sizes: Vec<usize> = held.iter().map(HashSet::len).collect();
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    &all == shards && sizes.iter().sum::<usize>() == shards.len() && max - min <= 1
}

/// How often each event text occurs.
fn counts(events: &[String]) -> HashMap<&str, i64> {
    let mut c: HashMap<&str, i64> = HashMap::new();
    for e in events {
        *c.entry(e.as_str()).or_default() += 1;
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_orgs_thirty_instances_four_hosts_kill_pause_join_lose_and_double_nothing() {
    let fx = Fixture::on(Backend::Postgres, org_config()).await;
    let mut orgs: Vec<Emulator> = Vec::new();
    for _ in 1..ORGS {
        orgs.push(Emulator::start(org_config()).await.unwrap());
    }
    // One app per selection in every org (an org refuses two instances of one app that select the
    // same category), all with the fixture's key.
    let client = |j: usize| format!("0oa-chaos-{j}");
    for org in std::iter::once(&fx.emulator).chain(&orgs) {
        for j in 0..SELECTIONS.len() {
            org.register_client(ClientRegistration::logs_reader(
                &client(j),
                &fx.client.public_key_pem,
            ));
        }
    }
    let spec = CategorySpec::load();
    let mut expected_by_instance: HashMap<String, Vec<String>> = HashMap::new();
    for (j, selection) in SELECTIONS.iter().enumerate() {
        let name = format!("o0-{j}");
        fx.add_instance_as(
            &name,
            &client(j),
            &["--backfill-days", "14", "--events", &selection.join(",")],
        )
        .await;
        expected_by_instance.insert(name, spec.expected(&fx.emulator.committed(), selection));
    }
    for (i, org) in orgs.iter().enumerate() {
        for (j, selection) in SELECTIONS.iter().enumerate() {
            let name = format!("o{}-{j}", i + 1);
            add_instance_on(
                &fx,
                org,
                &client(j),
                &name,
                &["--events", &selection.join(",")],
            )
            .await;
            expected_by_instance.insert(name, spec.expected(&org.committed(), selection));
        }
    }
    assert_eq!(expected_by_instance.len(), 30);
    let expected: Vec<String> = expected_by_instance.values().flatten().cloned().collect();
    assert!(expected.len() >= 200_000, "{} events", expected.len());
    let shards: HashSet<u32> = sql(
        &fx,
        "SELECT string_agg(DISTINCT shard::text, ',') FROM instances",
    )
    .split(',')
    .map(|s| s.parse().unwrap())
    .collect();
    eprintln!(
        "{} events for 30 instances of {ORGS} orgs in {} shards",
        expected.len(),
        shards.len()
    );

    // A receiver that fails a few times at first (server errors, a dropped connection, a 429).
    let rx = Receiver::start(
        fx.dir.path(),
        "chaos",
        &[
            Action::Status(503),
            Action::Drop,
            Action::Status(500),
            Action::Status(429),
        ],
        200,
    )
    .await;
    let received = || {
        rx.log()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count()
    };

    // Three hosts share the shards.
    let mut a = webhook_host(&fx, &rx, "ha");
    let b = webhook_host(&fx, &rx, "hb");
    let c = webhook_host(&fx, &rx, "hc");
    wait_until(
        "three hosts share the shards evenly",
        Duration::from_secs(30),
        || spread_evenly(&fx, &["ha", "hb", "hc"], &shards),
    )
    .await;
    wait_until("deliveries under way", Duration::from_secs(60), || {
        received() >= 3
    })
    .await;

    // SIGKILL ha mid-backfill: hb and hc take its shards within 2 x TTL of the kill.
    let ha_shards = held_by(&fx, "ha");
    assert!(!ha_shards.is_empty());
    a.signal(libc::SIGKILL);
    let killed = Instant::now();
    let _ = a
        .exit_within(Duration::from_secs(10), "ha after SIGKILL")
        .await;
    wait_until("hb and hc hold ha's shards", TTL * 4, || {
        let taken: HashSet<u32> = held_by(&fx, "hb")
            .union(&held_by(&fx, "hc"))
            .copied()
            .collect();
        ha_shards.is_subset(&taken)
    })
    .await;
    let failover = killed.elapsed();
    eprintln!(
        "failover after SIGKILL: {failover:?} (TTL {TTL:?}, ha had {} shard(s))",
        ha_shards.len()
    );
    assert!(failover <= TTL * 2, "failover took {failover:?}");
    let delivered = deduplicated(&rx.log()).len();
    assert!(
        expected.len() - delivered.min(expected.len()) > 50_000,
        "the kill must land mid-backfill ({delivered} of {} delivered)",
        expected.len()
    );

    // hd joins: the shards are spread again, evenly.
    let d = webhook_host(&fx, &rx, "hd");
    wait_until(
        "hb, hc and hd share the shards evenly",
        Duration::from_secs(30),
        || spread_evenly(&fx, &["hb", "hc", "hd"], &shards) && !held_by(&fx, "hd").is_empty(),
    )
    .await;

    // hb pauses for longer than the TTL (a zombie), holding fetched pages: hc and hd take its shards;
    // hb wakes up and its commits are refused.
    let hb_shards = held_by(&fx, "hb");
    assert!(!hb_shards.is_empty());
    b.signal(libc::SIGSTOP);
    let paused = Instant::now();
    wait_until("hc and hd hold hb's shards", TTL * 4, || {
        let taken: HashSet<u32> = held_by(&fx, "hc")
            .union(&held_by(&fx, "hd"))
            .copied()
            .collect();
        hb_shards.is_subset(&taken)
    })
    .await;
    let takeover = paused.elapsed();
    tokio::time::sleep((TTL * 2).saturating_sub(paused.elapsed())).await;
    b.signal(libc::SIGCONT);
    eprintln!(
        "hb's shards taken over {takeover:?} after SIGSTOP; woken after {:?}",
        paused.elapsed()
    );
    assert!(
        takeover <= TTL * 2,
        "takeover from the paused host took {takeover:?}"
    );
    b.wait_for("hb's commit refused", |log| {
        log.contains("commit refused: fenced")
    })
    .await;

    // hb is back: the shards are spread over the three live hosts again.
    wait_until(
        "hb, hc and hd share the shards evenly after hb woke",
        Duration::from_secs(30),
        || spread_evenly(&fx, &["hb", "hc", "hd"], &shards) && !held_by(&fx, "hb").is_empty(),
    )
    .await;

    // Everything arrives; per idempotency key one body, and the events once per selecting instance.
    let want = counts(&expected);
    // (Polled every few seconds: each look parses every body received so far.)
    let t0 = Instant::now();
    while deduplicated(&rx.log()).len() < expected.len() {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "not every event delivered within 300 s"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let log = rx.log();
    assert!(log.iter().all(|r| r.auth.as_deref() == Some(SECRET)));
    let got = deduplicated(&log);
    let have = counts(&got);
    let wrong: Vec<(&str, i64, i64)> = want
        .iter()
        .map(|(e, n)| (*e, *n, have.get(e).copied().unwrap_or(0)))
        .filter(|(_, n, h)| n != h)
        .chain(
            have.iter()
                .filter(|(e, _)| !want.contains_key(*e))
                .map(|(e, h)| (*e, 0, *h)),
        )
        .collect();
    assert!(
        wrong.is_empty(),
        "{} event(s) delivered a wrong number of times (expected, got), e.g. {:?}",
        wrong.len(),
        wrong
            .iter()
            .take(3)
            .map(|(e, n, h)| (&e[..e.len().min(120)], n, h))
            .collect::<Vec<_>>()
    );
    assert_eq!(got.len(), expected.len());
    assert_outbox_exact(&fx, &expected_by_instance);

    let keys: HashSet<&str> = log.iter().filter_map(|r| r.key.as_deref()).collect();
    let resent = log.len() - keys.len();
    let hb_log = b.log();
    let refused: Vec<&str> = hb_log
        .lines()
        .filter(|l| l.contains("commit refused: fenced"))
        .collect();
    // Refused by hb's own lease deadline ("not held by this host"), or by the lease row in PostgreSQL.
    let by_database = refused.iter().filter(|l| l.contains("epoch")).count();
    eprintln!(
        "{} events in {} batches ({} requests, {resent} of them a resend of a key); hb: {} refused commit(s), {by_database} of them by the database",
        got.len(),
        keys.len(),
        log.len(),
        refused.len()
    );
    let status = fx.cli(&["status", "--json"]).await;
    assert!(status.status.success(), "{}", text(&status));
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let alive: HashSet<&str> = doc["fleet"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["alive"] == true)
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(alive, HashSet::from(["hb", "hc", "hd"]), "{doc}");
    drop((b, c, d));
}
