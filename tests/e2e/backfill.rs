//! A 14-day backfill delivers exactly the selected events, each once and verbatim; later runs deliver
//! only new events (late-committed ones included); an idle run delivers nothing.

use crate::support::*;
use okta_emulator::{ClientRegistration, EmulatorConfig};

fn config(events: usize) -> EmulatorConfig {
    // 13 days so no event sits on the edge of the 14-day `since` window when the test runs.
    EmulatorConfig {
        events,
        days: 13,
        late_fraction: 0.05,
        ..EmulatorConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_delivers_exactly_the_selected_categories() {
    backfill_delivers_exactly_the_selected_categories_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_delivers_exactly_the_selected_categories_on_postgres() {
    backfill_delivers_exactly_the_selected_categories_on(Backend::Postgres).await;
}

async fn backfill_delivers_exactly_the_selected_categories_on(backend: Backend) {
    let spec = CategorySpec::load();
    let fx = Fixture::on(backend, config(6_000)).await;
    let committed = fx.emulator.committed();
    let selections: [(&str, &[&str]); 4] = [
        ("default", &["authentication", "security", "itp"]),
        ("all", &["authentication", "security", "itp", "lifecycle"]),
        ("lifecycle", &["lifecycle"]),
        ("itp", &["itp"]),
    ];
    // Four Okta apps on one org (one app may not read overlapping categories twice).
    for (name, selection) in selections {
        let mut extra = vec!["--backfill-days", "14"];
        let events = selection.join(",");
        if name != "default" {
            extra.extend_from_slice(&["--events", &events]);
        }
        let client_id = format!("0oa-{name}");
        fx.emulator.register_client(ClientRegistration::logs_reader(
            &client_id,
            &fx.client.public_key_pem,
        ));
        fx.add_instance_as(name, &client_id, &extra).await;
    }
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let got = lines(&out);
    // All four instances read the same org into one sink: each instance delivers its own selection.
    let mut expected = Vec::new();
    for (_, selection) in selections {
        let e = spec.expected(&committed, selection);
        assert!(
            !e.is_empty(),
            "the generator must produce events for {selection:?}"
        );
        expected.extend(e);
    }
    assert_eq!(got.len(), expected.len(), "{}", text(&run));
    let mut g = got.clone();
    let mut e = expected.clone();
    g.sort();
    e.sort();
    assert!(
        g == e,
        "delivered events are not exactly the selected ones, verbatim"
    );
    // Events outside every category exist and were not delivered.
    let all: &[&str] = &["authentication", "security", "itp", "lifecycle"];
    assert!(committed.iter().any(|c| !spec.selected(all, &c.event_type)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_runs_deliver_only_new_events_including_late_ones() {
    later_runs_deliver_only_new_events_including_late_ones_on(Backend::Sqlite).await;
}

/// The same on a fleet's state (PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_runs_deliver_only_new_events_including_late_ones_on_postgres() {
    later_runs_deliver_only_new_events_including_late_ones_on(Backend::Postgres).await;
}

async fn later_runs_deliver_only_new_events_including_late_ones_on(backend: Backend) {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp"];
    let fx = Fixture::on(backend, config(3_000)).await;
    fx.add_instance("org", &["--backfill-days", "14"]).await;
    let out = fx.path("events.jsonl");
    let first = fx.run_once(&out).await;
    assert!(first.status.success(), "{}", text(&first));
    let before = fx.emulator.committed();
    assert_exactly(&lines(&out), &spec.expected(&before, selection));

    // New events, some published well before events already served (committed late).
    let newest_published = before.iter().map(|e| e.published.clone()).max().unwrap();
    let mut fresh = Vec::new();
    for i in 0..30 {
        let (ty, published) = match i % 3 {
            0 => ("user.session.start", "2026-01-02T03:04:05.000Z".to_string()),
            1 => ("user.lifecycle.create", newest_published.clone()),
            _ => ("security.threat.detected", newest_published.clone()),
        };
        fresh.push(serde_json::json!({
            "uuid": format!("late-{i:04}-5a8e-11ef-9a4b-000000000000"),
            "published": published,
            "eventType": ty,
            "version": "0",
            "severity": "INFO",
            "displayMessage": "late committed \u{65e5}\u{672c}",
            "client": {"zone": "null"},
            "debugContext": {"debugData": {"risk": "{level=LOW}"}},
        }));
    }
    fx.emulator.commit_events(fresh);
    let second = fx.run_once(&out).await;
    assert!(second.status.success(), "{}", text(&second));
    let after = fx.emulator.committed();
    assert_exactly(&lines(&out), &spec.expected(&after, selection));
    assert_eq!(
        lines(&out).len(),
        spec.expected(&before, selection).len() + 20
    );

    // Nothing new: nothing delivered.
    let third = fx.run_once(&out).await;
    assert!(third.status.success(), "{}", text(&third));
    assert_eq!(lines(&out).len(), spec.expected(&after, selection).len());
}
