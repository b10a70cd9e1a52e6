//! Per-instance event-type exclusions: the excluded types (exact and prefixes) never reach the sink,
//! everything else of the selected categories arrives once, byte for byte; `instance show` says what
//! is excluded; the cursor moves past excluded events, so clearing the list lets new events of those
//! types through without fetching the old ones again.

use crate::support::*;

const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];
const EXCLUDED: &str = "policy.evaluate_sign_on,user.authentication.*";

fn excluded(event_type: &str) -> bool {
    event_type == "policy.evaluate_sign_on" || event_type.starts_with("user.authentication.")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_event_types_never_reach_the_sink_and_the_rest_arrives_verbatim() {
    let fx = Fixture::new(okta_emulator::EmulatorConfig {
        events: 2_500,
        days: 13,
        ..Default::default()
    })
    .await;
    fx.add_org_with(&["--exclude-event-types", EXCLUDED]).await;
    let spec = CategorySpec::load();
    let committed = fx.emulator.committed();
    let selected: Vec<_> = committed
        .iter()
        .filter(|e| spec.selected(SELECTION, &e.event_type))
        .collect();
    let kept: Vec<String> = selected
        .iter()
        .filter(|e| !excluded(&e.event_type))
        .map(|e| e.raw.clone())
        .collect();
    let dropped = selected.len() - kept.len();
    assert!(
        dropped > 200 && !kept.is_empty(),
        "the emulator generates both: {dropped} excluded, {} kept",
        kept.len()
    );

    let show = fx.cli(&["instance", "show", "org"]).await;
    let text_out = text(&show);
    assert!(
        text_out.contains("excluded:      policy.evaluate_sign_on, user.authentication.*")
            && text_out.contains("no sink receives them"),
        "{text_out}"
    );
    let json = fx.cli(&["instance", "list", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        v[0]["excluded_event_types"],
        serde_json::json!(["policy.evaluate_sign_on", "user.authentication.*"])
    );

    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert_exactly(&lines(&out), &kept);

    // Cleared: new events of those types arrive; the ones passed over are not fetched again.
    let edit = fx
        .cli(&["instance", "edit", "org", "--exclude-event-types", ""])
        .await;
    assert!(edit.status.success(), "{}", text(&edit));
    assert!(!text(&edit).contains("excluded:"), "{}", text(&edit));
    fx.emulator.generate_events(600, 1, 0.0);
    let newer: Vec<String> = fx.emulator.committed()[committed.len()..]
        .iter()
        .filter(|e| spec.selected(SELECTION, &e.event_type))
        .map(|e| e.raw.clone())
        .collect();
    assert!(
        newer
            .iter()
            .any(|raw| raw.contains("\"policy.evaluate_sign_on\"")
                || raw.contains("\"user.authentication.")),
        "the new events include formerly excluded types"
    );
    let again = fx.run_once(&out).await;
    assert!(again.status.success(), "{}", text(&again));
    let all: Vec<String> = kept.into_iter().chain(newer).collect();
    assert_exactly(&lines(&out), &all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exclusion_that_is_not_an_event_type_is_refused_and_nothing_is_stored() {
    let fx = Fixture::new(okta_emulator::EmulatorConfig::default()).await;
    for bad in ["*", "user.*.start", "user session"] {
        let out = fx
            .try_add_instance_as("org", &fx.client.client_id, &["--exclude-event-types", bad])
            .await;
        assert!(!out.status.success(), "{bad}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains("--exclude-event-types"), "{t}");
    }
    let show = fx.cli(&["instance", "show", "org"]).await;
    assert!(!show.status.success(), "nothing stored: {}", text(&show));
}
