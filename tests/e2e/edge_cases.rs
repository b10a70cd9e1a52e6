//! Oddities of real Okta data pass through untouched: `"null"` strings, nested free-form `debugData`,
//! unicode and escapes, very large events (1 MiB), and full pages of 1,000 events.

use crate::support::*;
use okta_emulator::EmulatorConfig;
use serde_json::json;

fn event(i: usize, ty: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut e = json!({
        "actor": {"id": "00u1", "type": "User", "alternateId": "jos\u{e9}@example.com", "displayName": "Jos\u{e9} M\u{fc}ller \u{65e5}\u{672c} \u{1F600}", "detailEntry": null},
        "client": {"userAgent": null, "zone": "null", "device": "Unknown", "id": null, "ipAddress": "203.0.113.7"},
        "device": null,
        "displayMessage": "quote \" backslash \\ newline \n tab \t nul-ish \u{1} end",
        "eventType": ty,
        "outcome": {"result": "SUCCESS", "reason": null},
        "published": "2026-11-20T10:00:00.000Z",
        "severity": "INFO",
        "uuid": format!("edge-{i:06}-0000-11ef-0000-000000000000"),
        "version": "0",
        "debugContext": {"debugData": {
            "behaviors": "{New Geo-Location=NEGATIVE, New Device=POSITIVE}",
            "risk": "{reasons=Anomalous Device, level=HIGH}",
            "nested": {"deeper": [1, 2.5, -0.0, 1e21, true, null, {"k": "v"}]},
            "threatSuspected": "false"
        }},
        "target": [],
    });
    if let (Some(obj), Some(more)) = (e.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_and_huge_events_and_full_pages_arrive_verbatim() {
    let spec = CategorySpec::load();
    let selection: &[&str] = &["authentication", "security", "itp", "lifecycle"];
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let mut events = Vec::new();
    // Three full pages (the connector asks for limit=1000) plus a remainder.
    for i in 0..3_050 {
        let ty = [
            "user.session.start",
            "security.threat.detected",
            "user.risk.change",
            "user.lifecycle.create",
        ][i % 4];
        events.push(event(i, ty, json!({})));
    }
    // Very large events: 1 MiB of free-form debugData each.
    let big = "x".repeat(1 << 20);
    for i in 0..3 {
        events.push(event(
            10_000 + i,
            "user.authentication.sso",
            json!({"debugContext": {"debugData": {"blob": big, "n": i}}}),
        ));
    }
    fx.emulator.commit_events(events);
    fx.add_instance(
        "org",
        &[
            "--backfill-days",
            "1",
            "--events",
            "authentication,security,itp,lifecycle",
        ],
    )
    .await;
    let out = fx.path("events.jsonl");
    let run = fx.run_once(&out).await;
    assert!(run.status.success(), "{}", text(&run));
    let got = lines(&out);
    let expected = spec.expected(&fx.emulator.committed(), selection);
    assert_eq!(expected.len(), 3_053);
    assert_exactly(&got, &expected);
    // Same JSON value too (not just the same text): nothing added, dropped or "cleaned".
    let first: serde_json::Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["client"]["zone"], "null");
    assert!(first["device"].is_null());
    assert!(
        got.iter().any(|l| l.len() > 1 << 20),
        "the 1 MiB events arrived whole"
    );
}
