//! Benchmark 6: the official Okta Python SDK paging the same emulator data, and Airbyte's source
//! (n/a, with why).
//!
//! The venv logic mirrors `tests/e2e/sdk_compat.rs` (same directory, stamp and lock file, so the test and
//! the benchmark share one install): `<workspace>/target/okta-sdk-venv`, created from
//! `tests/sdk/requirements.txt` when missing or stale.

use super::backfill::Backfill;
use super::report::{Figure, Report};
use super::setup;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const B: &str = "6. Okta Python SDK";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_ready(venv: &Path, requirements: &str) -> bool {
    let stamp = std::fs::read_to_string(venv.join("requirements.installed")).unwrap_or_default();
    stamp == requirements
        && Command::new(venv.join("bin/python"))
            .args(["-c", "import okta"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

fn checked(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot run"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// The venv's python, installing the pinned SDK once (blocking; may take a minute the first time).
fn sdk_python() -> anyhow::Result<PathBuf> {
    let ws = workspace();
    let req_path = ws.join("tests/sdk/requirements.txt");
    let requirements =
        std::fs::read_to_string(&req_path).context("reading tests/sdk/requirements.txt")?;
    let target = ws.join("target");
    let venv = target.join("okta-sdk-venv");
    let python = venv.join("bin/python");
    if venv_ready(&venv, &requirements) {
        return Ok(python);
    }
    std::fs::create_dir_all(&target)?;
    let lock = target.join("okta-sdk-venv.lock");
    let started = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if venv_ready(&venv, &requirements) {
                    return Ok(python);
                }
                if started.elapsed() > Duration::from_secs(20 * 60) {
                    bail!("waited too long for {}", lock.display());
                }
                std::thread::sleep(Duration::from_secs(2));
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", lock.display())),
        }
    }
    let result = (|| {
        if venv_ready(&venv, &requirements) {
            return Ok(());
        }
        eprintln!(
            "[6] installing the Okta Python SDK into {} (one-off)",
            venv.display()
        );
        let _ = std::fs::remove_file(venv.join("requirements.installed"));
        checked(
            Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
            "python3 -m venv",
        )?;
        checked(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "-q",
                    "-r",
                ])
                .arg(&req_path),
            "pip install -r tests/sdk/requirements.txt",
        )?;
        std::fs::write(venv.join("requirements.installed"), &requirements)?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&lock);
    result.map(|_| python)
}

/// Pages the backfill emulator's data with the SDK (same query as okta-ingest: same `since`, same filter).
pub async fn run(
    bf: &Backfill,
    dir: &Path,
    cap: Option<usize>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let python = tokio::task::spawn_blocking(sdk_python).await??;
    let script = workspace().join("tests/sdk/okta_sdk_bench.py");
    let filter =
        okta_ingest_connector::filter::build_filter(okta_ingest_connector::Categories::ALL);
    let since = okta_ingest_model::time::format_ms(setup::now_ms() - 14 * 86_400_000);
    let mut cmd = Command::new(&python);
    cmd.arg(&script)
        .arg("--org-url")
        .arg(format!("https://{}", bf.emulator.domain()))
        .args(["--client-id", &bf.client.client_id, "--kid", &bf.client.kid])
        .arg("--private-key")
        .arg(&bf.client.key_path)
        .arg("--ca-file")
        .arg(&bf.client.ca_path)
        .args(["--since", &since, "--filter", &filter])
        .args(["--max-events", &cap.unwrap_or(0).to_string()])
        .env("SSL_CERT_FILE", &bf.client.ca_path)
        .env("REQUESTS_CA_BUNDLE", &bf.client.ca_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null());
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
    let log = dir.join("sdk.log");
    cmd.stderr(std::fs::File::create(&log)?);
    eprintln!("[6] Okta Python SDK paging the same data ...");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| {
            format!(
                "no JSON from the SDK script: {}",
                super::proc::tail(&log, 5)
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    if let Some(e) = v["error"].as_str() {
        bail!("the SDK script failed: {e}");
    }
    let events = v["events"].as_f64().unwrap_or(0.0);
    let secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
    let eps = events / secs;
    let scope = match cap {
        Some(c) if c < bf.selected => format!(
            "first {} of the {} selected events of benchmark 1 (capped at {c}: the SDK is too slow for all)",
            events as u64, bf.selected
        ),
        _ => format!("all {} selected events of benchmark 1", events as u64),
    };
    report.push(Figure::new(
        B,
        "throughput",
        eps,
        "events/s",
        0,
        &format!(
            "okta==3.4.6, list_log_events(limit=1000), same since + filter; {scope}; {} pages; time from client creation (token) to last page, no imports/interpreter start; no sink, no state",
            v["pages"]
        ),
    ));
    match bf.events_per_s {
        Some(ours) => report.push(
            Figure::new(
                B,
                "okta-ingest / SDK",
                ours / eps,
                "x",
                1,
                "benchmark 1 events/s (whole process, incl. durable delivery) / SDK events/s",
            )
            .target(">= 15x", 15.0, true),
        ),
        None => report.push(Figure::na(
            B,
            "okta-ingest / SDK",
            "n/a (benchmark 1 not run)",
        )),
    }
    Ok(())
}

/// Airbyte's source-okta cannot be pointed at the emulator.
pub fn airbyte_na() -> Figure {
    Figure::na(
        "6b. Airbyte source-okta",
        "throughput",
        "n/a: airbyte-source-okta 0.3.26 (wheel from PyPI, inspected) hard-codes https://{domain}.okta.com as its API base and token audience, so it cannot reach the loopback emulator (would need DNS + a forged *.okta.com certificate); its auth options are API token (SSWS), OAuth refresh token, or private-key JWT",
    )
}
