//! A hostile connector component (`tests/components/hostile`, built by `tests/artifacts`) against the real
//! binary: every sandbox limit must stop it with a one-line error naming the limit, fail the run, deliver
//! nothing of its own, and leave the other instances of the same host process ingesting.
//!
//! How isolation is shown: `--component` replaces the connector for the whole process, so every instance
//! of a run executes the hostile component, which picks its behaviour from the instance's client id.
//! Each run has the hostile instance plus a `polite` instance (same component, same engine, same host
//! process, same database and delivery thread, ticking concurrently) that commits one valid event per
//! tick. That event reaching the sink while the hostile instance spins, grows, traps or is refused is
//! the property: one instance's misbehaviour costs the others nothing. (Real Okta fetching by the
//! other instance is the embedded connector's job and is covered by every other e2e test.)

use crate::support::*;
use okta_emulator::EmulatorConfig;
use okta_ingest::{ComponentSource, Host, HostConfig, HostError, NewInstance, RuntimeError};
use okta_ingest_test_artifacts::{HOSTILE, WIT_V2};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// The one event the `polite` behaviour commits on its first tick.
const POLITE_EVENT: &str = "{\"uuid\":\"polite-0\",\"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\"}";

/// Runs the binary against `db`.
async fn cli(db: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("binary runs")
}

/// `instance add NAME --client-id CLIENT_ID` for the fixture's emulator (the client id picks the
/// hostile component's behaviour).
async fn add(fx: &Fixture, db: &Path, name: &str, client_id: &str) {
    let key = fx.path("key.pem").display().to_string();
    let ca = fx.path("ca.pem").display().to_string();
    let domain = fx.emulator.domain();
    let out = cli(
        db,
        &[
            "instance",
            "add",
            name,
            "--domain",
            &domain,
            "--client-id",
            client_id,
            "--private-key",
            &key,
            "--ca-file",
            &ca,
        ],
    )
    .await;
    assert!(out.status.success(), "instance add failed: {}", text(&out));
}

/// `-v run --once --component HOSTILE --tick-timeout 3s` into a file sink (`-v` shows what the
/// component logs).
async fn run_hostile(db: &Path, sink: &Path) -> Output {
    let sink = format!("file:{}", sink.display());
    let mut args = vec![
        "-v",
        "run",
        "--once",
        "--component",
        HOSTILE,
        "--tick-timeout",
        "3s",
        "--sink",
        &sink,
    ];
    args.extend_from_slice(FAST);
    cli(db, &args).await
}

/// The stderr line reporting `instance`'s outcome.
fn outcome_line(out: &Output, instance: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let prefix = format!("{instance}: ");
    let found: Vec<&str> = err.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(
        found.len(),
        1,
        "one outcome line for {instance}: {}",
        text(out)
    );
    found[0].to_string()
}

/// One hostile behaviour in its own run (own database and sink), next to a polite instance; asserts
/// the hostile instance failed with every `expected` fragment in its one-line error, the run exited
/// non-zero, and the sink holds the polite event and nothing else. Returns the run's duration and stderr.
async fn assert_stopped(
    fx: &Fixture,
    tag: &str,
    client_id: &str,
    expected: &[&str],
) -> (Duration, String) {
    let db = fx.path(&format!("{tag}.db"));
    let sink = fx.path(&format!("{tag}.jsonl"));
    add(fx, &db, "hostile", client_id).await;
    add(fx, &db, "polite", "polite").await;
    let started = Instant::now();
    let out = run_hostile(&db, &sink).await;
    let took = started.elapsed();
    assert!(
        !out.status.success(),
        "{tag}: the run must fail: {}",
        text(&out)
    );
    let line = outcome_line(&out, "hostile");
    assert!(line.starts_with("hostile: FAILED"), "{tag}: {}", text(&out));
    for e in expected {
        assert!(
            line.contains(e),
            "{tag}: {e:?} not in {line:?}\n{}",
            text(&out)
        );
    }
    assert_eq!(
        outcome_line(&out, "polite"),
        "polite: caught up: 1 events in 1 pages",
        "{tag}: the other instance keeps ingesting"
    );
    assert_eq!(
        lines(&sink),
        vec![POLITE_EVENT.to_string()],
        "{tag}: only the polite instance's event is delivered"
    );
    (took, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_components_are_stopped_by_the_deadline_and_the_memory_cap() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let ((looped, _), _, _) = tokio::join!(
        assert_stopped(
            &fx,
            "loop",
            "loop",
            &["connector ran longer than its limit of 3s and was stopped"]
        ),
        assert_stopped(
            &fx,
            "grow",
            "grow",
            &[
                "connector tried to use",
                "MiB of memory, over its limit of 512 MiB, and was stopped"
            ]
        ),
        assert_stopped(&fx, "trap", "trap", &["connector trapped", "unreachable"]),
    );
    // The deadline really is the tick timeout, not the 15-minute default or a hang.
    assert!(
        looped < Duration::from_secs(30),
        "the looping run took {looped:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_the_instance_domain_are_refused_before_any_connection() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let domain = fx.emulator.domain();
    // A loopback port that is not the emulator's: count every connection that reaches it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let acceptor = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let allowed = format!("it may only reach https://{domain}; the request was refused");
    let port_uri = format!("connector tried to reach https://127.0.0.1:{port}/");
    let port_id = format!("exfiltrate-port:{port}");
    let metadata_expected = [
        "connector tried to reach https://169.254.169.254/latest/meta-data",
        allowed.as_str(),
    ];
    let port_expected = [port_uri.as_str(), allowed.as_str()];
    let (_, (_, port_err)) = tokio::join!(
        assert_stopped(&fx, "metadata", "exfiltrate-metadata", &metadata_expected),
        // Tries a raw wasi:sockets TCP connection first (no sockets: denied), then wasi:http.
        assert_stopped(&fx, "port", &port_id, &port_expected),
    );
    // What the component itself got back (it logs it through host.log, shown by -v).
    assert!(
        (port_err.contains("tcp: create-tcp-socket refused: ")
            || port_err.contains("tcp: start-connect refused: "))
            && port_err.contains("\"access-denied\""),
        "the raw TCP connection was denied: {port_err}"
    );
    assert!(
        port_err.contains("http: handle refused: ErrorCode::HttpRequestDenied")
            || port_err.contains("http: request failed: ErrorCode::HttpRequestDenied"),
        "the request was denied: {port_err}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    acceptor.abort();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection may reach a port other than the instance's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_output_is_refused_and_fails_the_tick() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    tokio::join!(
        assert_stopped(
            &fx,
            "malformed-json",
            "malformed-json",
            &[
                "connector produced invalid output",
                "event u-malformed is not valid JSON"
            ]
        ),
        assert_stopped(
            &fx,
            "no-uuid",
            "no-uuid",
            &[
                "connector produced invalid output",
                "is not a JSON object with a uuid"
            ]
        ),
        assert_stopped(
            &fx,
            "huge-event",
            "huge-event",
            &[
                "connector produced invalid output",
                "event u-huge is",
                "over the limit of 8388608"
            ]
        ),
        assert_stopped(
            &fx,
            "too-many",
            "too-many",
            &[
                "connector produced invalid output",
                "page has 10001 events, over the limit of 10000"
            ]
        ),
    );
}

/// `check` has no `--component` option on the command line, so it is driven through the library (the
/// same `Host::check` the CLI calls): a hostile component's "all good" does not hide what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_a_hostile_component_reports_the_enforced_limit() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let mut cfg = HostConfig::new(fx.path("check.db"));
    cfg.component = ComponentSource::File(PathBuf::from(HOSTILE));
    cfg.sandbox.call_timeout = Duration::from_secs(2);
    let host = Host::open(cfg).unwrap();
    for id in ["loop", "grow", "trap", "exfiltrate-metadata", "polite"] {
        host.add_instance(NewInstance {
            exclusions: Default::default(),
            redaction: Default::default(),
            name: id.into(),
            domain: fx.emulator.domain(),
            client_id: id.into(),
            private_key: fx.path("key.pem"),
            key_id: None,
            backfill_days: 0,
            categories: okta_ingest::Categories::AUTHENTICATION,
            ca_file: Some(fx.path("ca.pem")),
            dpop: okta_ingest::DpopMode::Auto,
            silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
        })
        .await
        .unwrap();
    }
    let err = |name: &'static str| {
        let host = &host;
        async move {
            match host.check(name).await {
                Err(HostError::Runtime(e)) => e,
                other => panic!("check {name}: expected a sandbox error, got {other:?}"),
            }
        }
    };
    assert!(matches!(err("loop").await, RuntimeError::Timeout(d) if d == Duration::from_secs(2)));
    let grow = err("grow").await;
    assert!(
        matches!(grow, RuntimeError::MemoryLimit { limit_mib: 512, .. }),
        "{grow}"
    );
    assert!(matches!(err("trap").await, RuntimeError::Trap(_)));
    let refused = err("exfiltrate-metadata").await;
    assert!(
        refused
            .to_string()
            .contains("tried to reach https://169.254.169.254/latest/meta-data"),
        "{refused}"
    );
    // The same host, the same runtime: a polite instance still checks fine afterwards.
    assert_eq!(host.check("polite").await.unwrap(), "all good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_are_not_compatible_components_are_refused_with_one_line() {
    let fx = Fixture::new(EmulatorConfig::default()).await;
    let db = fx.path("state.db");
    add(&fx, &db, "org", &fx.client.client_id).await;
    let random = fx.path("random.wasm");
    std::fs::write(
        &random,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    // The smallest core module: magic and version 1, no sections.
    let core = fx.path("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let cases: [(&Path, &[&str]); 3] = [
        (
            &random,
            &[
                "is not a WebAssembly component",
                "no WebAssembly component header",
            ],
        ),
        (
            &core,
            &[
                "is not a WebAssembly component",
                "it is a core WebAssembly module, not a component",
            ],
        ),
        (
            Path::new(WIT_V2),
            &[
                "is not a compatible okta-ingest connector",
                "okta-ingest:connector/connector@2.0.0",
                "another major version",
                "this host needs okta-ingest:connector/connector@1.x",
            ],
        ),
    ];
    let sink = fx.path("events.jsonl");
    let sink_arg = format!("file:{}", sink.display());
    for (file, expected) in cases {
        let file = file.display().to_string();
        let out = cli(
            &db,
            &["run", "--once", "--component", &file, "--sink", &sink_arg],
        )
        .await;
        assert!(!out.status.success(), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line: {}",
            text(&out)
        );
        assert!(err.starts_with("error: "), "{}", text(&out));
        assert!(err.contains(&file), "names the file: {}", text(&out));
        for e in expected {
            assert!(err.contains(e), "{e:?} not in {err}");
        }
    }
    assert!(lines(&sink).is_empty());
}

/// The private key's PEM text, its base64 body and any line of it appear nowhere: not in the state
/// database and its WAL, not in the captured output of `run -vv` (real connector and hostile one), and
/// not in what a hostile component can see of its host — which it logs and commits as an event, so the
/// dump itself is checked to have arrived (the test cannot pass by the dump going missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_private_key_is_nowhere_and_the_database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new(EmulatorConfig {
        events: 200,
        days: 1,
        ..EmulatorConfig::default()
    })
    .await;
    let pem = fx.client.private_key_pem.clone();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let mut secrets: Vec<String> = vec![pem.trim().to_string(), body.clone()];
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 32)
            .map(str::to_string),
    );
    assert!(secrets.len() > 3 && body.len() > 1000, "a real RSA key");
    let assert_clean = |what: &str, haystack: &[u8]| {
        let hay = String::from_utf8_lossy(haystack);
        for s in &secrets {
            assert!(
                !hay.contains(s.as_str()),
                "{what} contains (part of) the private key: {:?}...",
                &s[..s.len().min(40)]
            );
        }
    };

    // The real connector, verbose, to stdout: it signs with the key on every token request.
    let key = fx.path("key.pem").display().to_string();
    fx.add_instance("org", &["--backfill-days", "1"]).await;
    let mut args = vec!["-vv", "run", "--once", "--sink", "stdout"];
    args.extend_from_slice(FAST);
    let real = fx.cli(&args).await;
    assert!(real.status.success(), "{}", text(&real));
    assert!(!real.stdout.is_empty(), "events were delivered to stdout");
    assert_clean("stdout of run -vv", &real.stdout);
    assert_clean("stderr of run -vv", &real.stderr);

    // The hostile component, told the key's path, looks around and reports what it saw.
    let spy_db = fx.path("spy.db");
    let spy_id = format!("dump-env:{key}");
    add(&fx, &spy_db, "spy", &spy_id).await;
    let spy = cli(
        &spy_db,
        &[
            "-vv",
            "run",
            "--once",
            "--component",
            HOSTILE,
            "--sink",
            "stdout",
        ],
    )
    .await;
    assert!(spy.status.success(), "{}", text(&spy));
    let out = String::from_utf8_lossy(&spy.stdout);
    let event: serde_json::Value = serde_json::from_str(out.trim()).expect("the dump event");
    let seen = event["seen"].as_str().expect("what the component saw");
    for expected in [
        "env=[]",
        "args=[]",
        "preopens=[]",
        &format!("read {key}: "),
        "read /etc/passwd: ",
        "list /: ",
    ] {
        assert!(
            seen.contains(expected),
            "{expected:?} not in what the component saw:\n{seen}"
        );
    }
    assert!(
        !seen.contains("READ ") && !seen.contains("LISTED "),
        "{seen}"
    );
    assert!(
        String::from_utf8_lossy(&spy.stderr).contains("connector: hostile dump-env: "),
        "the dump was logged through host.log: {}",
        text(&spy)
    );
    assert_clean("what the component saw", seen.as_bytes());
    // Of the DPoP proof key the component gets the public JWK only (an EC point, no private `d`).
    let jwk_line = seen
        .lines()
        .find_map(|l| l.strip_prefix("dpop public-key alg=ES256 jwk="))
        .unwrap_or_else(|| panic!("the DPoP public key was seen:\n{seen}"));
    let jwk: serde_json::Value = serde_json::from_str(jwk_line).expect("a JWK object");
    let mut members: Vec<&str> = jwk
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["crv", "kty", "x", "y"], "{jwk}");
    assert_clean("stdout of the hostile run -vv", &spy.stdout);
    assert_clean("stderr of the hostile run -vv", &spy.stderr);

    // The databases: main file, WAL and shared memory, if present; all private to the user.
    for db in [fx.path("state.db"), spy_db] {
        for suffix in ["", "-wal", "-shm"] {
            let f = PathBuf::from(format!("{}{suffix}", db.display()));
            let Ok(bytes) = std::fs::read(&f) else {
                assert!(!suffix.is_empty(), "{} exists", f.display());
                continue;
            };
            assert_clean(&f.display().to_string(), &bytes);
            if suffix != "-shm" {
                let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", f.display());
            }
        }
    }
}
