//! Builds every test-only component for `wasm32-wasip2` and writes their paths into `components.rs`
//! (included by `src/lib.rs`). Only tests and benchmarks depend on this crate, so product builds never
//! compile a test component.
//!
//! Every crate under `tests/components/` must be listed in [`COMPONENTS`]: an unknown one fails the build,
//! so a component cannot be added without a name the tests use (the e2e suite checks that every name is
//! used by a test).

use okta_ingest_wasm_build::{cargo_env, copy, rerun_if_changed, workspace_root, NestedBuild};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::PathBuf;

/// (directory under `tests/components/`, package, constant, what it is).
const COMPONENTS: [(&str, &str, &str, &str); 3] = [
    (
        "hostile",
        "okta-ingest-test-hostile",
        "HOSTILE",
        "A connector that misbehaves on purpose; the instance's client id picks the misbehaviour.",
    ),
    (
        "wit-v1-3",
        "okta-ingest-test-wit-v1-3",
        "WIT_V1_3",
        "A connector built against WIT 1.3.0 (an added export), which a 1.2 host must run.",
    ),
    (
        "wit-v2",
        "okta-ingest-test-wit-v2",
        "WIT_V2",
        "A connector built against WIT major 2, which the host must refuse.",
    ),
];

/// The checked-in 1.0.0 connector build and its SHA-256.
const FIXTURE_1_0: (&str, &str) = (
    "tests/artifacts/fixtures/okta-connector-wit-1.0.0.wasm",
    "f420a41f1b049a38dc44a3e5bc94e05d7023e09efa3f6321db10352e5131e3b5",
);

/// The version the second build of the real connector claims (the live-swap tests and benchmark).
const SWAP_VERSION: &str = "9.9.9-swap-test";

fn main() {
    let root = workspace_root();
    let out_dir = PathBuf::from(cargo_env("OUT_DIR"));
    rerun_if_changed(
        &root,
        &[
            "tests/components",
            "connector/src",
            "connector/Cargo.toml",
            "spec/model",
            "wit",
            "Cargo.lock",
            "tests/artifacts/fixtures",
        ],
    );

    let listed: Vec<&str> = COMPONENTS.iter().map(|c| c.0).collect();
    let dir = root.join("tests/components");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    for name in &found {
        if !listed.contains(&name.as_str()) {
            // If you are reading this because the build failed: add the component to COMPONENTS above
            // and use its constant in a test. The list is the static check that each one is run.
            panic!("tests/components/{name} is not listed in tests/artifacts/build.rs");
        }
    }

    let target_dir = out_dir.join("components-target");
    let packages: Vec<&str> = COMPONENTS.iter().map(|c| c.1).collect();
    let built = NestedBuild {
        root: &root,
        target_dir: &target_dir,
        packages: &packages,
        envs: &[],
        what: "the test components",
    }
    .run();
    let mut code = String::new();
    let mut all = Vec::new();
    for (_, package, constant, doc) in COMPONENTS {
        let file = format!("{}.wasm", package.replace('-', "_"));
        let dest = out_dir.join(&file);
        copy(&built.join(&file), &dest);
        let _ = writeln!(
            code,
            "/// {doc}\npub const {constant}: &str = {:?};",
            dest.display().to_string()
        );
        all.push(constant);
    }

    // The real connector again, claiming another version: a second, different component to swap to.
    let built = NestedBuild {
        root: &root,
        target_dir: &target_dir,
        packages: &["okta-ingest-connector"],
        envs: &[("OKTA_CONNECTOR_VERSION", SWAP_VERSION)],
        what: "the swap-test connector",
    }
    .run();
    let swap = out_dir.join("okta_ingest_connector_swap_test.wasm");
    copy(&built.join("okta_ingest_connector.wasm"), &swap);
    let _ = writeln!(
        code,
        "/// The real connector built to report version [`SWAP_VERSION`] (a second version to activate).\npub const SWAP: &str = {:?};",
        swap.display().to_string()
    );
    let _ = writeln!(
        code,
        "/// The version [`SWAP`] reports.\npub const SWAP_VERSION: &str = {SWAP_VERSION:?};"
    );
    all.push("SWAP");

    // The released connector of WIT 1.0.0, as users have it stored: a checked-in build, verified by its
    // digest, so a host change that breaks 1.0 components fails the tests that load it.
    let fixture = root.join(FIXTURE_1_0.0);
    let bytes =
        std::fs::read(&fixture).unwrap_or_else(|e| panic!("reading {}: {e}", fixture.display()));
    let digest = sha256_hex(&bytes);
    assert_eq!(
        digest,
        FIXTURE_1_0.1,
        "{} is not the recorded 1.0.0 build (see tests/artifacts/fixtures/README.md)",
        fixture.display()
    );
    let _ = writeln!(
        code,
        "/// The real connector as released for WIT 1.0.0 (checked in; see `tests/artifacts/fixtures`).\npub const CONNECTOR_WIT_1_0: &str = {:?};",
        fixture.display().to_string()
    );
    all.push("CONNECTOR_WIT_1_0");
    let _ = writeln!(
        code,
        "/// Every component above by constant name (for the check that each is used by a test).\npub const ALL: &[(&str, &str)] = &[{}];",
        all.iter().map(|c| format!("({c:?}, {c})")).collect::<Vec<_>>().join(", ")
    );
    let dest = out_dir.join("components.rs");
    std::fs::write(&dest, code).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
