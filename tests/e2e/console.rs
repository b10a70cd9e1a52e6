//! The web console in a real headless Chromium against the real binary (`okta-ingest ui`) and the
//! emulator over HTTPS: a new user goes from nothing to events in the sink. On the way, the staged test
//! connection names each Okta mistake (unknown client, no admin role, scope not granted, an
//! unreachable org) with its fix, and saving is refused until it passes; then pause, resume, key
//! rotation and removal. Every screen is saved under
//! `target/console-screenshots/`.

use crate::browser::Browser;
use crate::support::*;
use fantoccini::Locator;
use okta_emulator::{ClientRegistration, EmulatorConfig};
use std::time::Duration;

/// Starts `okta-ingest ui` on a free port; the process and the one-time login URL it printed.
async fn ui(fx: &Fixture, sink: &std::path::Path) -> (Running, String) {
    let sink = format!("file:{}", sink.display());
    let mut args = vec!["ui", "--ui", "127.0.0.1:0", "--sink", &sink];
    args.extend_from_slice(FAST);
    let run = Running::start(fx, &args, "ui.log");
    run.wait_for("the console's login link", |log| {
        log.contains("console: open http://")
    })
    .await;
    let log = run.log();
    let url = log
        .split("console: open ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a login URL")
        .to_string();
    (run, url)
}

/// The text of an element even where it is not displayed (inside a closed `<details>`).
async fn text_of(b: &Browser, id: &str) -> String {
    b.client
        .execute(
            "return document.getElementById(arguments[0]).textContent;",
            vec![serde_json::json!(id)],
        )
        .await
        .expect("script")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_goes_from_nothing_to_events_in_the_sink_in_the_console() {
    let fx = Fixture::new(EmulatorConfig {
        events: 400,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let sink = fx.path("events.jsonl");
    let (mut run, login) = ui(&fx, &sink).await;
    let b = Browser::start("guided-setup").await;

    b.client.goto(&login).await.expect("open the login link");
    assert_eq!(b.path().await, "/", "the token left the address bar");
    b.wait_text("#instances", "No instances yet").await;
    b.shot("01-no-instances").await;
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "okta_ingest_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));

    // 1. The org: a pasted URL is normalised, then probed through the emulator's CA.
    b.click("a.button").await;
    b.wait_text("#step-org", "Your Okta org").await;
    let domain = fx.emulator.domain();
    b.fill("#domain", &format!("https://{domain}/")).await;
    b.click("#step-org summary").await;
    b.fill("#ca_file", &fx.path("ca.pem").display().to_string())
        .await;
    b.click("#probe").await;
    b.wait_text("#probe-result", "is an Okta org").await;
    assert_eq!(b.path().await, "/setup", "an in-page swap");
    b.shot("02-org-reachable").await;

    // 2. A key made here; its public half is what Okta gets.
    b.click("#generate").await;
    let kid = b.wait_text("#kid", "").await;
    assert_eq!(kid.len(), 43, "an RFC 7638 thumbprint: {kid}");
    let jwk: serde_json::Value =
        serde_json::from_str(&b.wait_text("#jwk", "RS256").await).expect("the JWK is JSON");
    assert_eq!(jwk["kid"], kid.as_str());
    assert!(jwk.get("d").is_none(), "only the public half");
    let public_pem = text_of(&b, "public-pem").await;
    assert!(
        public_pem.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{public_pem}"
    );
    b.shot("03-key-and-checklist").await;

    // 3-4. Okta mistakes, one at a time, each named at its stage with its fix; nothing is saved.
    let client_id = "0oa-console-app";
    b.fill("#client_id", client_id).await;
    b.fill("#name", "acme").await;
    b.fill("#backfill_days", "2").await;
    let groups = b.wait_text("#step-collect", "Authentication events").await;
    assert!(
        groups.contains("Identity Threat Protection") || groups.contains("itp"),
        "{groups}"
    );
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "Client known").await;
    assert!(failed.contains("check the Client ID"), "{failed}");
    b.shot("04-unknown-client").await;
    b.click("#save").await;
    b.wait_text("#flash", "Not saved").await;
    assert_eq!(b.path().await, "/setup");
    let list = fx.cli(&["instance", "list", "--json"]).await;
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "[]",
        "nothing saved before the test passes"
    );

    fx.emulator.register_client(ClientRegistration {
        admin_role: false,
        ..ClientRegistration::logs_reader(client_id, &public_pem)
    });
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "Admin role").await;
    assert!(failed.contains("Report Administrator"), "{failed}");
    let passed = b
        .client
        .find_all(Locator::Css("#stages tr.passed"))
        .await
        .expect("rows");
    assert_eq!(
        passed.len(),
        5,
        "reachable, client, key, DPoP and scope passed"
    );
    b.shot("05-no-admin-role").await;

    fx.emulator.register_client(ClientRegistration {
        scopes: Vec::new(),
        ..ClientRegistration::logs_reader(client_id, &public_pem)
    });
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "Scope").await;
    assert!(failed.contains("Grant next to okta.logs.read"), "{failed}");
    b.shot("06-scope-not-granted").await;

    // The app as Okta makes new ones: DPoP required. The test passes; every checklist step is ticked.
    fx.emulator.register_client(ClientRegistration {
        require_dpop: true,
        ..ClientRegistration::logs_reader(client_id, &public_pem)
    });
    let before = okta_ingest_model::time::now_ms();
    b.click("#test").await;
    b.wait_text("#step-review", "The test passed").await;
    let after = okta_ingest_model::time::now_ms();
    let stages = b.wait_text("#stages", "DPoP").await;
    assert!(
        stages.contains("the app requires DPoP: handled"),
        "{stages}"
    );
    assert!(b
        .client
        .find_all(Locator::Css("#stages tr.failed"))
        .await
        .expect("rows")
        .is_empty());
    let ticked = b
        .client
        .find_all(Locator::Css(".checklist li.passed"))
        .await
        .expect("items");
    assert_eq!(ticked.len(), 5, "each Okta step ticked by the test");
    let command = b
        .wait_text("#command", "okta-ingest instance add acme")
        .await;
    assert!(
        command.contains(&format!("--key-id {kid}")) && command.contains("--backfill-days 2"),
        "{command}"
    );
    // 5. With the test passed, the org's last 24 hours are counted per group (400 events: one page,
    // exact) and the backfill is estimated from them.
    let spec = CategorySpec::load();
    for group in ["authentication", "security", "itp", "lifecycle"] {
        let shown = b
            .wait_text(&format!("#count-{group}"), "in the last 24 h")
            .await;
        let counted: u64 = shown
            .split(' ')
            .next()
            .map(|n| n.replace(',', ""))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a count: {shown}"));
        // The window ends when the sample ran, between `before` and `after`.
        let in_window = |end: u64| {
            fx.emulator
                .committed()
                .iter()
                .filter(|e| spec.selected(&[group], &e.event_type))
                .filter(|e| {
                    okta_ingest_model::time::parse_ms(&e.published)
                        .is_some_and(|p| p >= end.saturating_sub(86_400_000) && p <= end)
                })
                .count() as u64
        };
        assert!(
            (in_window(after)..=in_window(before)).contains(&counted) && counted > 0,
            "{group}: {shown}"
        );
    }
    let estimate = b.wait_text("#estimate", "A backfill of 2 days").await;
    assert!(
        estimate.contains("events") && estimate.contains("a minute"),
        "{estimate}"
    );
    b.shot("07-test-passed").await;

    // 6. Save and start: the instance polls at once, backfills and goes live.
    b.click("#save").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while b.path().await != "/instances/acme" {
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the instance page"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.shot("08-saved").await;
    b.wait_text("#state", "live").await;
    b.wait_text("#token", "authenticated (DPoP)").await;
    b.shot("09-live").await;

    let selection = ["authentication", "security", "itp"];
    let expected = CategorySpec::load().expected(&fx.emulator.committed(), &selection);
    assert!(!expected.is_empty());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while lines(&sink).len() < expected.len() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_exactly(&lines(&sink), &expected);

    // The chart counts what arrived, hour by hour.
    assert_eq!(
        b.client
            .find_all(Locator::Css("#chart rect"))
            .await
            .expect("bars")
            .len(),
        24
    );
    b.wait_text("#chart figcaption", &format!("{} in all", expected.len()))
        .await;
    let figures = b.wait_text("#process-figures", "pages").await;
    assert!(!figures.starts_with("0 polls"), "{figures}");

    // Pause and resume.
    b.click("#pause").await;
    b.wait_text("#state", "paused").await;
    b.shot("10-paused").await;
    b.click("#resume").await;
    b.wait_text("#flash", "Resumed").await;
    b.wait_text("#state", "live").await;

    // Rotate the key: nothing switches until Okta has the new one.
    b.click("#rotate").await;
    let new_kid = b.wait_text("#new-kid", "").await;
    assert_ne!(new_kid, kid);
    let new_pem = text_of(&b, "new-pem").await;
    b.shot("11-rotation-started").await;
    b.click("#rotate-finish").await;
    b.wait_text("#flash", "Not switched").await;
    b.shot("12-rotation-refused").await;
    fx.emulator.register_client(ClientRegistration {
        require_dpop: true,
        ..ClientRegistration::logs_reader(client_id, &new_pem)
    });
    b.click("#rotate-finish").await;
    b.wait_text("#flash", &format!("Switched to key {new_kid}"))
        .await;
    let figures = b.wait_text(".figures", &new_kid).await;
    assert!(!figures.contains(&kid), "the old kid is gone: {figures}");
    b.shot("13-rotated").await;

    let base = login.split_once("/?").expect("a login URL").0;
    b.client.goto(&format!("{base}/")).await.expect("dashboard");
    let row = b.wait_text("tr[data-instance=acme]", "live").await;
    assert!(
        row.contains(&expected.len().to_string()),
        "the dashboard counts the events: {row}"
    );
    b.shot("14-dashboard").await;

    // Remove, with the name typed as confirmation.
    b.click("tr[data-instance=acme] a").await;
    b.wait_text("#state", "live").await;
    b.fill("#confirm", "acme").await;
    b.click("#remove").await;
    b.wait_text("#instances", "No instances yet").await;
    b.shot("15-removed").await;

    let _ = b.client.close().await;
    run.signal(libc::SIGTERM);
    let status = run
        .exit_within(Duration::from_secs(10), "ui after SIGTERM")
        .await;
    assert!(status.success(), "{}", run.log());
    assert!(!run.log().contains("PRIVATE KEY"), "no key in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_org_a_wrong_key_or_dpop_off_is_named_at_its_stage() {
    let fx = Fixture::new(EmulatorConfig {
        events: 10,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let (_run, login) = ui(&fx, &fx.path("events.jsonl")).await;
    let b = Browser::start("stage-failures").await;
    b.client.goto(&login).await.expect("login");
    let base = login.split_once("/?").expect("url").0.to_string();
    b.client
        .goto(&format!("{base}/setup"))
        .await
        .expect("setup");

    // The Admin Console address is corrected as the user types it.
    b.fill("#domain", "acme-admin.okta.com").await;
    b.click("#probe").await;
    b.wait_text("#domain-note", "the org domain is acme.okta.com")
        .await;

    // The emulator without its CA: TLS fails at the first stage, with the CA file as the fix.
    b.fill("#domain", &fx.emulator.domain()).await;
    b.click("#generate").await;
    b.wait_text("#kid", "").await;
    b.fill("#client_id", &fx.client.client_id).await;
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "Org reachable").await;
    assert!(failed.contains("TLS") && failed.contains("CA"), "{failed}");
    b.shot("01-tls").await;

    // With the CA, the fixture's app does not know this freshly made key: the key stage fails.
    b.click("#step-org summary").await;
    b.fill("#ca_file", &fx.path("ca.pem").display().to_string())
        .await;
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "Key accepted").await;
    assert!(
        failed.contains("Add key") && failed.contains("kid"),
        "{failed}"
    );
    b.shot("02-wrong-key").await;

    // An app that requires DPoP, with the instance's DPoP turned off: the DPoP stage says to turn it on.
    let public_pem = text_of(&b, "public-pem").await;
    fx.emulator.register_client(ClientRegistration {
        require_dpop: true,
        ..ClientRegistration::logs_reader("0oa-dpop-app", &public_pem)
    });
    b.fill("#client_id", "0oa-dpop-app").await;
    b.client
        .find(Locator::Css("#dpop option[value=off]"))
        .await
        .expect("the DPoP choice")
        .click()
        .await
        .expect("choose off");
    b.click("#test").await;
    let failed = b.wait_text("#stages tr.failed", "DPoP").await;
    assert!(failed.contains("DPoP mode to auto"), "{failed}");
    b.shot("03-dpop-off").await;
    let _ = b.client.close().await;
}
