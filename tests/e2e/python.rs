//! Python venvs for the tests that check okta-ingest (or the emulator) against real Python software
//! from PyPI: the official Okta SDK (sdk_compat.rs) and moto's S3 (s3.rs). Each venv lives in
//! `<workspace>/target/NAME`, is installed once from a pinned requirements file, and is reinstalled when
//! that file changes. `.ci/run` makes them before the tests; a test makes one itself when missing.

use crate::support::text;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Removes the install lock when the installer is done (or panics).
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// True when `venv` was installed from exactly `requirements` and `import` works in it.
async fn venv_ready(venv: &Path, requirements: &str, import: &str) -> bool {
    let stamp = std::fs::read_to_string(venv.join("requirements.installed")).unwrap_or_default();
    if stamp != requirements {
        return false;
    }
    tokio::process::Command::new(venv.join("bin/python"))
        .args(["-c", &format!("import {import}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

async fn run_checked(cmd: &mut tokio::process::Command, what: &str) {
    let out = cmd
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(out.status.success(), "{what} failed: {}", text(&out));
}

/// Ensures `<workspace>/target/NAME` holds what `requirements` (a path in the workspace) pins, checked
/// by `import` (Python module names, comma-separated); returns its python. A lock file
/// (`create_new`) keeps two test processes from installing at the same time.
pub async fn venv(name: &str, requirements: &str, import: &str) -> PathBuf {
    let ws = workspace();
    let requirements_path = ws.join(requirements);
    let pins = std::fs::read_to_string(&requirements_path)
        .unwrap_or_else(|e| panic!("{requirements}: {e}"));
    let target = ws.join("target");
    let venv = target.join(name);
    let python = venv.join("bin/python");
    if venv_ready(&venv, &pins, import).await {
        return python;
    }
    std::fs::create_dir_all(&target).expect("target dir");
    let lock = target.join(format!("{name}.lock"));
    let started = Instant::now();
    let _guard = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => break LockGuard(lock.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process is installing: wait for it, then use its venv.
                if venv_ready(&venv, &pins, import).await {
                    return python;
                }
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(20 * 60));
                if stale {
                    let _ = std::fs::remove_file(&lock);
                    continue;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(25 * 60),
                    "waited too long for {}",
                    lock.display()
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("cannot create {}: {e}", lock.display()),
        }
    };
    if venv_ready(&venv, &pins, import).await {
        return python;
    }
    eprintln!(
        "installing {requirements} into {} (one-off)",
        venv.display()
    );
    let _ = std::fs::remove_file(venv.join("requirements.installed"));
    run_checked(
        tokio::process::Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(&venv),
        "python3 -m venv (is python3 with the venv module installed?)",
    )
    .await;
    run_checked(
        tokio::process::Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-q",
                "-r",
            ])
            .arg(&requirements_path),
        &format!("pip install -r {requirements}"),
    )
    .await;
    std::fs::write(venv.join("requirements.installed"), &pins).expect("venv stamp");
    assert!(
        venv_ready(&venv, &pins, import).await,
        "{import} does not import after installing {requirements}"
    );
    python
}
