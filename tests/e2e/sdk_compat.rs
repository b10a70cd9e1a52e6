//! Emulator fidelity: the OFFICIAL Okta Python SDK (`okta==3.4.6`, pinned in
//! `tests/sdk/requirements.txt`) against the emulator over HTTPS. The SDK's own `private_key_jwt`
//! token flow must be accepted, its strict pydantic models must parse every event the emulator
//! serves (paged with `limit=1000` along the `after` cursors of the `rel="next"` links), its
//! 429 retry must work on the emulator's rate-limit answer, and the emulator's error bodies must
//! come out as `OktaAPIError`s. A second run does the same in the SDK's DPoP mode (`dpopEnabled`,
//! RFC 9449) against an app that requires DPoP. Needs `python3` (3.11 tested); the SDK is
//! installed once into `target/okta-sdk-venv` from PyPI. Does not use the okta-ingest binary.
//!
//! Installing from PyPI needs the network, and `cargo test` needs none by default: the test runs when
//! `OKTA_INGEST_SDK_TESTS=1` (`.ci/run` sets it, so CI always runs it) and says it was skipped otherwise.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use okta_emulator::{
    generate_client_key_pair, ClientKeyPair, ClientRegistration, Emulator, EmulatorConfig, Fault,
};

use crate::support::text;

const EVENTS: usize = 3_000;
const DAYS: u32 = 13;

/// The venv with the pinned SDK (see [`crate::python::venv`]).
async fn sdk_python() -> PathBuf {
    crate::python::venv("okta-sdk-venv", "tests/sdk/requirements.txt", "okta").await
}

/// Runs the SDK script against `emu` as `keys`'s client (with `extra` options) and checks its summary:
/// the SDK parsed every committed event once, over full pages and the empty page that ends the poll,
/// and both error checks ran. Returns the summary and how long the script took.
async fn run_script(
    python: &Path,
    emu: &Emulator,
    keys: &ClientKeyPair,
    extra: &[&str],
) -> (serde_json::Value, Duration) {
    let committed = emu.committed().len();
    let dir = tempfile::tempdir().expect("temp dir");
    let key = dir.path().join("client-key.pem");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&key, &keys.private_key_pem).unwrap();
    std::fs::write(&ca, emu.ca_pem()).unwrap();
    let script = crate::python::workspace().join("tests/sdk/okta_sdk_compat.py");
    let org_url = format!("https://{}", emu.domain());
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(&script)
        .args([
            "--org-url",
            &org_url,
            "--client-id",
            &keys.client_id,
            "--kid",
            &keys.kid,
        ])
        .args(extra)
        .arg("--private-key")
        .arg(&key)
        .arg("--ca-file")
        .arg(&ca)
        .args(["--expected", &committed.to_string()])
        // aiohttp reads SSL_CERT_FILE at import; requests/urllib3 read REQUESTS_CA_BUNDLE.
        .env("SSL_CERT_FILE", &ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    // Loopback only: never route the emulator's traffic through a proxy from the environment.
    for v in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("the SDK script finishes within 5 minutes")
        .expect("the SDK script runs");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "the Okta SDK ({extra:?}) disagrees with the emulator:\n{}",
        text(&out)
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| panic!("no summary:\n{}", text(&out)));
    let summary: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {line}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["sdk_version"], "3.4.6", "{summary}");
    assert_eq!(
        summary["events"].as_u64(),
        Some(committed as u64),
        "SDK parsed a different number of events: {summary}"
    );
    assert_eq!(
        summary["unique_uuids"].as_u64(),
        Some(committed as u64),
        "{summary}"
    );
    assert_eq!(summary["duplicates"].as_u64(), Some(0), "{summary}");
    // Full pages of 1,000 and the empty page that ends the poll.
    assert_eq!(
        summary["pages"].as_u64(),
        Some(committed.div_ceil(1000) as u64 + 1),
        "{summary}"
    );
    assert_eq!(
        summary["error_checks"].as_array().map(Vec::len),
        Some(2),
        "{summary}"
    );
    (summary, elapsed)
}

/// The opt-in variable (see the module documentation).
const OPT_IN: &str = "OKTA_INGEST_SDK_TESTS";

/// The SDK's Python and an emulator with the test's events, or `None` (saying so) when not opted in.
async fn opted_in() -> Option<(PathBuf, Emulator)> {
    if std::env::var(OPT_IN).as_deref() != Ok("1") {
        eprintln!("skipped: installs the Okta SDK from PyPI; set {OPT_IN}=1 to run it (CI does)");
        return None;
    }
    let python = sdk_python().await;
    let emu = Emulator::start(EmulatorConfig {
        events: EVENTS,
        days: DAYS,
        ..Default::default()
    })
    .await
    .expect("emulator starts");
    Some((python, emu))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_okta_python_sdk_reads_every_event() {
    let Some((python, emu)) = opted_in().await else {
        return;
    };
    let keys = generate_client_key_pair("0oa-sdk-compat").expect("key pair");
    emu.register_client(keys.logs_reader());
    let committed = emu.committed().len();
    assert_eq!(committed, EVENTS);
    // The SDK's first logs request is rate-limited: it must wait for X-Rate-Limit-Reset (against
    // the emulator's Date header) and retry. The reset is 1 s ahead, so this costs ~2 s.
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    emu.push_fault(Fault::Status {
        status: 429,
        body: r#"{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"oaeSdkCompatRateLimit0001","errorCauses":[]}"#.into(),
        headers: vec![
            ("x-rate-limit-limit".into(), "60".into()),
            ("x-rate-limit-remaining".into(), "0".into()),
            ("x-rate-limit-reset".into(), reset.to_string()),
        ],
    });

    let (summary, elapsed) = run_script(&python, &emu, &keys, &[]).await;

    let stats = emu.stats();
    assert_eq!(stats.faults_served, 1, "the 429 was served");
    assert!(stats.rate_limited >= 1);
    // 1 rate-limited + 4 pages + the since-too-old check; the unknown client never gets a token.
    assert_eq!(stats.log_requests, 6, "{stats:?}");
    assert_eq!(
        stats.tokens_issued, 2,
        "one token per SDK client that authenticates: {stats:?}"
    );
    eprintln!("Okta SDK read {committed} events in {elapsed:?}: {summary}");
    emu.shutdown().await;
}

/// The SDK's DPoP mode (`dpopEnabled`, added in okta 3.4.0) with its `PrivateKey` flow, against an
/// app with "Require DPoP": its proof on the token request, the `use_dpop_nonce` handshake (with a
/// new assertion, as Okta requires), and a fresh proof with `ath` on every `/api/v1/logs` page
/// must all pass the emulator's Okta checks, and every event must parse.
///
/// Unlike the Bearer run, no 429 is injected: the SDK's 429 retry
/// (`okta/request_executor.py`, `RequestExecutor.fire_request_helper`) re-sends the request with
/// the same `DPoP` header, which Okta refuses as "The DPoP proof JWT has already been used." (a
/// 429 consumes the proof's `jti`; DPOP.md §2.2), and so does the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_okta_python_sdk_reads_every_event_with_dpop() {
    let Some((python, emu)) = opted_in().await else {
        return;
    };
    let keys = generate_client_key_pair("0oa-sdk-compat-dpop").expect("key pair");
    emu.register_client(ClientRegistration {
        require_dpop: true,
        ..keys.logs_reader()
    });
    let committed = emu.committed().len();
    assert_eq!(committed, EVENTS);
    let (summary, elapsed) = run_script(&python, &emu, &keys, &["--dpop"]).await;
    assert_eq!(summary["token_type"], "DPoP", "{summary}");

    let stats = emu.stats();
    assert!(stats.dpop_tokens_issued >= 1, "{stats:?}");
    assert_eq!(stats.replayed_proofs, 0, "a proof was re-sent: {stats:?}");
    assert_eq!(
        (stats.bearer_tokens_issued, stats.dpop_errors),
        (0, 0),
        "{stats:?}"
    );
    // 4 pages + the since-too-old check; the unknown client never gets a token.
    assert_eq!(stats.log_requests, 5, "{stats:?}");
    eprintln!("Okta SDK (DPoP) read {committed} events in {elapsed:?}: {summary}");
    emu.shutdown().await;
}
