//! Builds crates of this workspace as `wasm32-wasip2` components from a build script, in a nested
//! `cargo build`. The two build scripts that need components use it: `host/build.rs` (the connector it
//! embeds) and `tests/artifacts/build.rs` (the test-only components).
//!
//! The nested cargo gets its own target directory under the calling build's `OUT_DIR`: sharing the
//! outer target directory would deadlock on cargo's build-directory lock. The host build's flags are kept
//! out (they are for the native target), and components are built without debug info, which would make
//! them 10x larger and slower to compile.
//!
//! A fresh machine runs the README's two commands and nothing else, and machines here set
//! `RUSTUP_AUTO_INSTALL=0` (so `rust-toolchain.toml` alone does not install the target): a missing
//! `wasm32-wasip2` target is installed with `rustup`, with a warning saying so.
//!
//! Build scripts report failures by panicking (cargo prints the message), so these functions do too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The component target.
pub const TARGET: &str = "wasm32-wasip2";

/// A nested build of `packages` into `target_dir` with extra environment `envs`.
pub struct NestedBuild<'a> {
    /// The workspace root (where `Cargo.lock` is).
    pub root: &'a Path,
    /// The nested build's own target directory (under `OUT_DIR`).
    pub target_dir: &'a Path,
    /// Packages to build (`-p`).
    pub packages: &'a [&'a str],
    /// Extra environment, e.g. a version a test build should claim.
    pub envs: &'a [(&'a str, &'a str)],
    /// What is built, for messages ("the connector").
    pub what: &'a str,
}

impl NestedBuild<'_> {
    /// `cargo build --release --target wasm32-wasip2 -p …`; returns the release output directory.
    pub fn run(&self) -> PathBuf {
        ensure_wasm_target();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(self.root)
            .args(["build", "--release", "--locked", "--target", TARGET]);
        for package in self.packages {
            cmd.args(["-p", package]);
        }
        // The outer build's flags and wrappers are for the native target: under `cargo clippy` the
        // wrapper would lint (and fail) the nested build too.
        cmd.env("CARGO_TARGET_DIR", self.target_dir)
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "true");
        for (k, v) in self.envs {
            cmd.env(k, v);
        }
        let what = self.what;
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("could not run cargo to build {what}: {e}"));
        if !status.success() {
            panic!("building {what} for {TARGET} failed (see the output above)");
        }
        self.target_dir.join(TARGET).join("release")
    }
}

/// The value of an environment variable cargo sets for build scripts.
pub fn cargo_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

/// The workspace root: the nearest ancestor of `CARGO_MANIFEST_DIR` holding `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(cargo_env("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or_else(|| panic!("no Cargo.lock above {}", manifest_dir.display()))
        .to_path_buf()
}

/// Copies a built file, panicking with both paths on failure.
pub fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

/// Asks cargo to rebuild when any of `paths` (relative to the workspace root) changes.
pub fn rerun_if_changed(root: &Path, paths: &[&str]) {
    for path in paths {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
}

/// True when the toolchain has the wasm target's standard library.
fn has_wasm_target() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|d| d.exists())
}

/// Installs the wasm target with rustup when the toolchain lacks it, or fails with the command to run.
/// Two build scripts may get here at once on a fresh machine: a lock file makes the second wait for the
/// first's install instead of running rustup concurrently.
fn ensure_wasm_target() {
    if has_wasm_target() {
        return;
    }
    let lock_path = std::env::temp_dir().join("okta-ingest-wasm-target.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path);
    let _guard = lock.ok().filter(|f| f.lock().is_ok());
    if has_wasm_target() {
        return;
    }
    println!(
        "cargo:warning=installing the {TARGET} target with rustup (needed to build the connector)"
    );
    let installed = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !installed {
        panic!("the Rust target {TARGET} is missing and `rustup target add {TARGET}` failed; run it by hand");
    }
}
