//! `instance pause` / `resume`: a paused instance is not polled (a run catches up without it, `status`
//! says paused and its silence alert stays quiet); resumed, it continues from its cursor with nothing
//! lost or doubled.

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_instance_is_not_polled_and_resumes_where_it_stopped() {
    let fx = Fixture::with_org(300).await;
    let out = fx.path("events.jsonl");
    let paused = fx.cli(&["instance", "pause", "org"]).await;
    assert!(paused.status.success(), "{}", text(&paused));
    assert!(String::from_utf8_lossy(&paused.stdout).contains("paused instance org"));
    let show = fx.cli(&["instance", "show", "org"]).await;
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("paused:        yes"),
        "{}",
        text(&show)
    );

    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    assert!(lines(&out).is_empty(), "a paused instance fetches nothing");
    assert_eq!(
        fx.emulator.stats().log_requests,
        0,
        "not one System Log request"
    );
    let status = fx.cli(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["instances"][0]["phase"], "paused");
    assert_eq!(
        doc["instances"][0]["silent"], false,
        "paused on purpose: no alert"
    );

    let resumed = fx.cli(&["instance", "resume", "org"]).await;
    assert!(resumed.status.success(), "{}", text(&resumed));
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let spec = CategorySpec::load();
    let all = ["authentication", "security", "itp", "lifecycle"];
    assert_exactly(&lines(&out), &spec.expected(&fx.emulator.committed(), &all));
    let status = fx.cli(&["status", "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(doc["instances"][0]["phase"], "live");
}
