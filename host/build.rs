//! Builds the connector component from this tree (`../connector`) for `wasm32-wasip2` and embeds it as the
//! host's default connector version.
//!
//! The nested cargo gets its own `CARGO_TARGET_DIR` under `OUT_DIR`: sharing the outer target dir would
//! deadlock on cargo's build-directory lock. A missing wasm target is installed with rustup (machines here
//! set `RUSTUP_AUTO_INSTALL=0`, so `rust-toolchain.toml` alone does not install it).
//!
//! It also builds the test-only components under `tests/components/` (a hostile connector and one built
//! for another WIT major) in the same nested target dir, so they share its compiled dependencies, and
//! exports their paths as `OKTA_INGEST_TEST_COMPONENT_*` for the e2e tests. With
//! `OKTA_INGEST_PREBUILT_CONNECTOR` nothing is built for wasm and those variables are not set.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// Version reported by the second connector build used by the live-swap test.
const SWAP_TEST_VERSION: &str = "9.9.9-swap-test";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ has a parent directory")
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    for path in [
        "connector/src",
        "connector/Cargo.toml",
        "wit",
        "spec/okta/event-categories.json",
        "Cargo.lock",
        "tests/components",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=OKTA_INGEST_PREBUILT_CONNECTOR");

    let dest = out_dir.join("connector.wasm");
    // An escape hatch for packagers who build the component separately.
    if let Ok(prebuilt) = std::env::var("OKTA_INGEST_PREBUILT_CONNECTOR") {
        copy(Path::new(&prebuilt), &dest);
    } else {
        ensure_wasm_target();
        let target_dir = out_dir.join("connector-target");
        let built = |file: &str| target_dir.join(TARGET).join("release").join(file);
        nested_build(
            &root,
            &target_dir,
            &["okta-ingest-connector"],
            &[],
            "the connector",
        );
        copy(&built("okta_ingest_connector.wasm"), &dest);
        build_test_components(&root, &target_dir, &out_dir);
        // The same connector claiming another version, for the live-swap test. Built after the default
        // one so the embedded copy above is the unmodified build.
        nested_build(
            &root,
            &target_dir,
            &["okta-ingest-connector"],
            &[("OKTA_CONNECTOR_VERSION", SWAP_TEST_VERSION)],
            "the swap-test connector",
        );
        let swap = out_dir.join("okta_ingest_connector_swap_test.wasm");
        copy(&built("okta_ingest_connector.wasm"), &swap);
        println!(
            "cargo:rustc-env=OKTA_INGEST_TEST_COMPONENT_SWAP={}",
            swap.display()
        );
        println!("cargo:rustc-env=OKTA_INGEST_TEST_SWAP_VERSION={SWAP_TEST_VERSION}");
    }
    println!(
        "cargo:rustc-env=OKTA_INGEST_CONNECTOR_WASM={}",
        dest.display()
    );
}

/// Test-only components (`tests/components/*`), built in the connector's nested target dir with the same
/// settings; each path is exported as `OKTA_INGEST_TEST_COMPONENT_<NAME>`.
fn build_test_components(root: &Path, target_dir: &Path, out_dir: &Path) {
    const COMPONENTS: [(&str, &str, &str); 2] = [
        (
            "okta-ingest-test-hostile",
            "okta_ingest_test_hostile",
            "HOSTILE",
        ),
        (
            "okta-ingest-test-wit-v2",
            "okta_ingest_test_wit_v2",
            "WIT_V2",
        ),
    ];
    let packages: Vec<&str> = COMPONENTS.iter().map(|(p, _, _)| *p).collect();
    nested_build(root, target_dir, &packages, &[], "the test components");
    for (_, file, var) in COMPONENTS {
        let dest = out_dir.join(format!("{file}.wasm"));
        copy(
            &target_dir
                .join(TARGET)
                .join("release")
                .join(format!("{file}.wasm")),
            &dest,
        );
        println!(
            "cargo:rustc-env=OKTA_INGEST_TEST_COMPONENT_{var}={}",
            dest.display()
        );
    }
}

/// `cargo build --release --target wasm32-wasip2 -p <packages>` in `target_dir`, with the host build's
/// flags kept out and without debug info (which would make components 10x larger and slower to compile).
fn nested_build(
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
    envs: &[(&str, &str)],
    what: &str,
) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--release", "--target", TARGET]);
    for package in packages {
        cmd.args(["-p", package]);
    }
    cmd.env("CARGO_TARGET_DIR", target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {what}: {e}"));
    if !status.success() {
        panic!("building {what} for {TARGET} failed (see the output above)");
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

/// Installs the wasm target with rustup when the toolchain lacks it, or fails with the command to run.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(|d| d.exists()) {
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
