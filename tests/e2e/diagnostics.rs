//! `check` diagnoses what a user can fix: DPoP required, wrong key, unknown client, no admin role.

use crate::support::*;
use okta_emulator::{generate_client_key_pair, ClientRegistration, EmulatorConfig};

async fn fixture() -> Fixture {
    Fixture::new(EmulatorConfig {
        events: 50,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await
}

fn register(
    fx: &Fixture,
    client_id: &str,
    public_key_pem: &str,
    require_dpop: bool,
    admin_role: bool,
) {
    fx.emulator.register_client(ClientRegistration {
        require_dpop,
        admin_role,
        ..ClientRegistration::logs_reader(client_id, public_key_pem)
    });
}

async fn check(fx: &Fixture, client_id: &str, extra: &[&str]) -> std::process::Output {
    fx.add_instance_as(client_id, client_id, extra).await;
    fx.cli(&["check", client_id]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_ok_for_a_good_setup() {
    let fx = fixture().await;
    let out = check(&fx, &fx.client.client_id.clone(), &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OK"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_diagnoses_dpop_wrong_key_unknown_client_and_missing_role() {
    let fx = fixture().await;
    register(&fx, "dpop-app", &fx.client.public_key_pem, true, true);
    let other = generate_client_key_pair("other").unwrap();
    register(&fx, "wrong-key-app", &other.public_key_pem, false, true);
    register(&fx, "no-role-app", &fx.client.public_key_pem, false, false);
    // DPoP is diagnosed where the instance sends no proof (tests/e2e/dpop.rs has the rest).
    let cases = [
        ("dpop-app", &["--dpop", "off"][..], "DPoP mode is off"),
        ("wrong-key-app", &[], "key"),
        ("unknown-app", &[], "client id"),
        ("no-role-app", &[], "role"),
    ];
    for (client, extra, want) in cases {
        let out = check(&fx, client, extra).await;
        assert!(!out.status.success(), "{client}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            said.to_lowercase().contains(&want.to_lowercase()),
            "{client}: expected {want:?} in: {said}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_an_untrusted_certificate() {
    let fx = fixture().await;
    let key = fx.path("key.pem").display().to_string();
    let domain = fx.emulator.domain();
    // No --ca-file: the emulator's CA is not trusted.
    let add = fx
        .cli(&[
            "instance",
            "add",
            "tls",
            "--domain",
            &domain,
            "--client-id",
            &fx.client.client_id,
            "--private-key",
            &key,
        ])
        .await;
    assert!(add.status.success(), "{}", text(&add));
    let out = fx.cli(&["check", "tls"]).await;
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        said.contains("tls") || said.contains("certificate"),
        "{}",
        text(&out)
    );
}
