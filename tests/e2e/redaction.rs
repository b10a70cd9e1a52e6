//! Per-instance redaction: the members the rules name are gone from what the sink receives (here
//! `debugContext.debugData.*` except `requestUri`, and `client.ipAddress`), every other byte of each
//! event is as Okta sent it (the delivered text is the original with members cut out, and equal as
//! JSON to the original minus exactly those members), and `instance show` says what is removed.

use crate::support::*;

const SELECTION: &[&str] = &["authentication", "security", "itp", "lifecycle"];

/// The original minus the members the test's rules remove, as JSON.
fn without_redacted(raw: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(raw).unwrap();
    if let Some(data) = v
        .pointer_mut("/debugContext/debugData")
        .and_then(|d| d.as_object_mut())
    {
        data.retain(|k, _| k == "requestUri");
    }
    if let Some(client) = v.get_mut("client").and_then(|c| c.as_object_mut()) {
        client.remove("ipAddress");
    }
    v
}

/// True when `short` is `long` with some bytes left out (in order).
fn is_cut_from(short: &str, long: &str) -> bool {
    let mut rest = long.bytes();
    short.bytes().all(|b| rest.any(|c| c == b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redacted_members_never_reach_the_sink_and_every_other_byte_does() {
    let fx = Fixture::new(okta_emulator::EmulatorConfig {
        events: 1_500,
        days: 13,
        ..Default::default()
    })
    .await;
    fx.add_org_with(&[
        "--redact",
        "debugContext.debugData.*,client.ipAddress",
        "--redact-keep",
        "debugContext.debugData.requestUri",
    ])
    .await;
    let show = text(&fx.cli(&["instance", "show", "org"]).await);
    assert!(
        show.contains("redacted:      debugContext.debugData.*, client.ipAddress, keeping debugContext.debugData.requestUri"),
        "{show}"
    );

    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let spec = CategorySpec::load();
    let originals: std::collections::HashMap<String, String> = fx
        .emulator
        .committed()
        .into_iter()
        .filter(|e| spec.selected(SELECTION, &e.event_type))
        .map(|e| (e.uuid, e.raw))
        .collect();
    let delivered = lines(&out);
    assert_eq!(delivered.len(), originals.len(), "every event once");
    let mut cut = 0;
    for line in &delivered {
        let got: serde_json::Value = serde_json::from_str(line).expect("still JSON");
        let original = &originals[got["uuid"].as_str().unwrap()];
        assert_eq!(got, without_redacted(original), "{line}");
        assert!(is_cut_from(line, original), "only cuts: {line}");
        assert!(
            !line.contains("\"dtHash\"") && !line.contains("\"ipAddress\""),
            "{line}"
        );
        if line.len() < original.len() {
            cut += 1;
        }
    }
    assert!(
        cut > delivered.len() / 2,
        "most events had something removed: {cut}"
    );

    // Bad rules are refused, naming the options; the instance keeps its rules.
    let bad = fx
        .cli(&["instance", "edit", "org", "--redact", "uuid"])
        .await;
    assert!(!bad.status.success());
    assert!(text(&bad).contains("--redact"), "{}", text(&bad));
    let cleared = fx
        .cli(&[
            "instance",
            "edit",
            "org",
            "--redact",
            "",
            "--redact-keep",
            "",
        ])
        .await;
    assert!(cleared.status.success(), "{}", text(&cleared));
    assert!(!text(&cleared).contains("redacted:"), "{}", text(&cleared));
}
