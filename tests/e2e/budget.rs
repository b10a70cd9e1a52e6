//! Instances on the same Okta org share that org's rate budget: run together, they stay within the
//! default 50% share of it.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::time::{Duration, Instant};

/// Limit of the emulated org's `/api/v1/logs` bucket per window.
const LIMIT: u32 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_org_share_its_rate_budget() {
    let spec = CategorySpec::load();
    let fx = Fixture::new(EmulatorConfig {
        events: 40_000,
        days: 13,
        rate_limit_per_minute: Some(LIMIT),
        rate_limit_window: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    // Three instances of one app on one org, with disjoint categories so each event is expected once.
    let instances = [
        ("auth", "authentication"),
        ("sec", "security"),
        ("life", "lifecycle"),
    ];
    for (name, category) in instances {
        fx.add_instance(name, &["--backfill-days", "14", "--events", category])
            .await;
    }

    let out = fx.path("events.jsonl");
    let sink = format!("file:{}", out.display());
    let mut args = vec!["run", "--once", "--concurrency", "3", "--sink", &sink];
    args.extend_from_slice(FAST);
    let started = Instant::now();
    let res = fx.cli(&args).await;
    let elapsed = started.elapsed();
    assert!(res.status.success(), "{}", text(&res));

    let committed = fx.emulator.committed();
    let mut expected = Vec::new();
    for (_, category) in instances {
        expected.extend(spec.expected(&committed, &[category]));
    }
    assert_exactly(&lines(&out), &expected);

    let stats = fx.emulator.stats();
    eprintln!("{stats:?} in {elapsed:.1?}");
    // The backfill needed several windows' worth of requests (at the default 50% share, 6 a window), so
    // the instances had to pace together...
    assert!(
        stats.log_requests >= 2 * u64::from(LIMIT),
        "only {} requests: the backfill is too small to exercise pacing",
        stats.log_requests
    );
    // ...and together they never exceeded the org's limit, nor the default 50% share of it: the host
    // gates System Log requests per org, counting requests in flight.
    assert_eq!(
        stats.rate_limited, 0,
        "instances on one org went over its limit: {stats:?}"
    );
    assert!(
        stats.max_log_requests_per_window <= u64::from(LIMIT / 2),
        "instances on one org used more than half of its window: {stats:?}"
    );
}
