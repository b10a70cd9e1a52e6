//! Connector versions: stored, activated and rolled back while `run` keeps going; no event lost or
//! doubled across swaps; a version that keeps failing is rolled back automatically.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use std::time::Duration;

use okta_ingest_test_artifacts::{
    CONNECTOR_WIT_1_0, HOSTILE, SWAP, SWAP_VERSION, WIT_V1_3, WIT_V2,
};

fn fresh_events(round: usize, n: usize, published: &str) -> Vec<serde_json::Value> {
    okta_emulator::minimal_events(
        n,
        published,
        |i| format!("swap-{round:03}-{i:04}-0000-000000000000"),
        &format!("round {round}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_swap_live_without_losing_or_doubling_events() {
    versions_swap_live_without_losing_or_doubling_events_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL): the stored versions' bytes and the activations are in the
/// database, and the running host sees another process's `component activate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_swap_live_without_losing_or_doubling_events_on_postgres() {
    versions_swap_live_without_losing_or_doubling_events_on(Backend::Postgres).await;
}

async fn versions_swap_live_without_losing_or_doubling_events_on(backend: Backend) {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp"];
    let fx = Fixture::on(
        backend,
        EmulatorConfig {
            events: 2_000,
            days: 13,
            ..EmulatorConfig::default()
        },
    )
    .await;
    fx.add_instance("org", &["--backfill-days", "14"]).await;

    // Incompatible versions are refused and leave nothing behind.
    let bad = fx.cli(&["component", "add", WIT_V2]).await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("another major version"),
        "{}",
        text(&bad)
    );
    let added = fx.cli(&["component", "add", SWAP]).await;
    assert!(added.status.success(), "{}", text(&added));
    assert!(String::from_utf8_lossy(&added.stdout).contains(SWAP_VERSION));

    let out = fx.path("events.jsonl");
    let sink = format!("file:{}", out.display());
    let mut args = vec![
        "--db".to_string(),
        fx.db(),
        "-v".into(),
        "run".into(),
        "--interval".into(),
        "300ms".into(),
        "--allow-short-interval".into(),
        "--sink".into(),
        sink,
    ];
    args.extend(FAST.iter().map(|s| s.to_string()));
    let child = tokio::process::Command::new(BIN)
        .args(&args)
        .envs(fx.env())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // A failing assertion must not leave the run going.
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let newest = fx
        .emulator
        .committed()
        .iter()
        .map(|e| e.published.clone())
        .max()
        .unwrap();
    for round in 0..8 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        // Events keep flowing, some published before ones already served (committed late).
        let published = if round % 2 == 0 {
            newest.clone()
        } else {
            "2026-01-01T00:00:00.000Z".to_string()
        };
        fx.emulator
            .commit_events(fresh_events(round, 30, &published));
        let version = if round % 2 == 0 {
            SWAP_VERSION
        } else {
            "embedded"
        };
        let act = fx.cli(&["component", "activate", version]).await;
        assert!(act.status.success(), "{}", text(&act));
    }
    // Let the last activation and events land, then stop the run the way an operator would.
    let expected = spec.expected(&fx.emulator.committed(), selection);
    for _ in 0..100 {
        if lines(&out).len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = child.id().unwrap().to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let done = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("run stops on SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "exit {:?}: {stderr}", done.status);
    assert_exactly(&lines(&out), &expected);
    let swapped = format!("connector={SWAP_VERSION}");
    let embedded = format!("connector={}", env!("CARGO_PKG_VERSION"));
    assert!(
        stderr.contains(&swapped) && stderr.contains(&embedded),
        "ticks ran on both versions:\n{stderr}"
    );
    let list = fx.cli(&["component", "list"]).await;
    assert!(
        String::from_utf8_lossy(&list.stdout).contains(SWAP_VERSION),
        "{}",
        text(&list)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_keeps_trapping_is_rolled_back_for_that_instance() {
    let fx = Fixture::new(EmulatorConfig {
        events: 100,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    // The hostile test component traps when the client id says so.
    fx.add_instance_as("canary", "trap", &[]).await;
    let added = fx.cli(&["component", "add", HOSTILE]).await;
    assert!(added.status.success(), "{}", text(&added));
    let hash: String = String::from_utf8_lossy(&added.stdout)
        .split("sha256 ")
        .nth(1)
        .unwrap()
        .chars()
        .take(16)
        .collect();
    let act = fx
        .cli(&["component", "activate", &hash, "--instance", "canary"])
        .await;
    assert!(act.status.success(), "{}", text(&act));
    let out = fx.path("events.jsonl");
    for _ in 0..3 {
        let run = fx.run_once(&out).await;
        assert!(!run.status.success());
        assert!(
            String::from_utf8_lossy(&run.stderr).contains("trapped"),
            "{}",
            text(&run)
        );
    }
    let status = fx.cli(&["status"]).await;
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown.contains("auto-rollback after 3 failures"),
        "{}",
        text(&status)
    );
    assert!(shown.contains("connector embedded"), "{}", text(&status));
    // The next run is on the embedded connector: no trap (the made-up client id is refused by Okta).
    let run = fx.run_once(&out).await;
    assert!(
        !String::from_utf8_lossy(&run.stderr).contains("trapped"),
        "{}",
        text(&run)
    );
}

/// The WIT versioning promise: a component built against a newer minor of the contract that only adds an
/// export (`tests/components/wit-v1-3`: 1.3.0 plus `features`) is accepted by this 1.2 host, stored, and
/// runs: its one event reaches the sink, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minor_version_that_adds_an_export_runs_on_this_host() {
    let fx = Fixture::new(EmulatorConfig {
        events: 10,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    fx.add_instance("org", &[]).await;
    let added = fx.cli(&["component", "add", WIT_V1_3]).await;
    assert!(added.status.success(), "{}", text(&added));
    let said = String::from_utf8_lossy(&added.stdout);
    assert!(
        said.contains("1.3.0-test") && said.contains("WIT 1.3.0"),
        "{said}"
    );
    let act = fx.cli(&["component", "activate", "1.3.0-test"]).await;
    assert!(act.status.success(), "{}", text(&act));
    let out = fx.path("events.jsonl");
    for _ in 0..2 {
        let run = fx.run_once(&out).await;
        assert!(run.status.success(), "{}", text(&run));
    }
    assert_eq!(
        lines(&out),
        ["{\"uuid\":\"wit-v1-3-0\",\"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\"}"]
    );
}

/// The other half of the promise: the connector as released for WIT 1.0.0 (a checked-in build, which
/// knows nothing of the 1.1 `dpop` interface) still loads on this host and ingests a Bearer app's
/// System Log, every selected event once; against an app that requires DPoP it says what it always
/// said, and the host does not fail in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_released_wit_1_0_connector_still_ingests_with_a_bearer_app() {
    let fx = Fixture::with_org(3_000).await;
    let added = fx.cli(&["component", "add", CONNECTOR_WIT_1_0]).await;
    assert!(added.status.success(), "{}", text(&added));
    let said = String::from_utf8_lossy(&added.stdout);
    assert!(
        said.contains("0.1.0+wit-1.0") && said.contains("WIT 1.0.0"),
        "{said}"
    );
    let act = fx.cli(&["component", "activate", "0.1.0+wit-1.0"]).await;
    assert!(act.status.success(), "{}", text(&act));
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let spec = CategorySpec::load();
    let all = ["authentication", "security", "itp", "lifecycle"];
    assert_exactly(&lines(&out), &spec.expected(&fx.emulator.committed(), &all));
    let stats = fx.emulator.stats();
    assert_eq!(
        (stats.bearer_tokens_issued, stats.dpop_tokens_issued),
        (1, 0),
        "{stats:?}"
    );
    let status = fx.cli(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let label = doc["instances"][0]["connector"]
        .as_str()
        .unwrap_or_default();
    assert!(label.contains("0.1.0+wit-1.0"), "{doc}");
    assert_eq!(doc["instances"][0]["token_scheme"], "bearer", "{doc}");

    // The same app now requires DPoP: the 1.0 connector cannot prove possession and says so.
    fx.emulator
        .register_client(okta_emulator::ClientRegistration {
            require_dpop: true,
            ..okta_emulator::ClientRegistration::logs_reader(
                &fx.client.client_id,
                &fx.client.public_key_pem,
            )
        });
    let check = fx.cli(&["check", "org"]).await;
    assert!(!check.status.success(), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("DPoP"),
        "{}",
        text(&check)
    );
}
