//! Builds the connector component from this tree (`connector/`) for `wasm32-wasip2` and embeds it as
//! the host's default connector version (`OKTA_INGEST_CONNECTOR_WASM`). The nested build, and installing
//! a missing wasm target, are `okta-ingest-wasm-build`'s. Test-only components are built by
//! `tests/artifacts`, never here.
//!
//! `OKTA_INGEST_PREBUILT_CONNECTOR=FILE` embeds a component built elsewhere instead (for packagers).

use okta_ingest_wasm_build::{cargo_env, copy, rerun_if_changed, workspace_root, NestedBuild};
use std::path::{Path, PathBuf};

fn main() {
    let root = workspace_root();
    let out_dir = PathBuf::from(cargo_env("OUT_DIR"));
    rerun_if_changed(
        &root,
        &[
            "connector/src",
            "connector/Cargo.toml",
            "spec/model",
            "wit",
            "spec/okta/event-categories.json",
            "Cargo.lock",
        ],
    );
    println!("cargo:rerun-if-env-changed=OKTA_INGEST_PREBUILT_CONNECTOR");

    let dest = out_dir.join("connector.wasm");
    if let Ok(prebuilt) = std::env::var("OKTA_INGEST_PREBUILT_CONNECTOR") {
        copy(Path::new(&prebuilt), &dest);
    } else {
        let built = NestedBuild {
            root: &root,
            target_dir: &out_dir.join("connector-target"),
            packages: &["okta-ingest-connector"],
            envs: &[],
            what: "the connector",
        }
        .run();
        copy(&built.join("okta_ingest_connector.wasm"), &dest);
    }
    println!(
        "cargo:rustc-env=OKTA_INGEST_CONNECTOR_WASM={}",
        dest.display()
    );
}
