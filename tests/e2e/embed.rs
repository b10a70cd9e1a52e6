//! The embedding example (`host/examples/embed.rs`), run as is: a custom sink in a tokio "service",
//! `run_once` then `run` with a shutdown future, against the emulator.

#[path = "../../host/examples/embed.rs"]
mod embed_example;

use crate::support::*;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_example_delivers_exactly_the_selected_events_to_a_custom_sink() {
    let dir = tempfile::tempdir().unwrap();
    let summary = embed_example::run_example(dir.path(), 1_500)
        .await
        .expect("the example runs");
    summary.print();
    assert!(
        summary.run_once.ok(),
        "catch-up failed: {:?}",
        summary.run_once
    );

    // Exactly the events of the default categories, each once and verbatim, through the channel sink
    // (the catch-up plus the 5 events committed while `run` was polling).
    let spec = CategorySpec::load();
    let expected = spec.expected(&summary.source, &["authentication", "security", "itp"]);
    assert!(expected.len() > 100, "too few events to be meaningful");
    assert_exactly(&summary.received, &expected);
    assert_eq!(summary.run_once.delivered as usize, expected.len() - 5);

    // Per-type counts match the events received; the commit observer saw every committed event.
    let mut per_type: BTreeMap<String, u64> = BTreeMap::new();
    for e in summary.source.iter() {
        if spec.selected(&["authentication", "security", "itp"], &e.event_type) {
            *per_type.entry(e.event_type.clone()).or_default() += 1;
        }
    }
    assert_eq!(summary.per_type, per_type);
    assert_eq!(summary.observed_events, expected.len() as u64);
    assert!(summary.observed_pages >= 2);
}
