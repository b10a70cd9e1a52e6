//! The versions service against a real state and the embedded connector (stored as a file).

use super::*;
use crate::state::{InstanceStore, SqliteState};

struct Fixture {
    _dir: tempfile::TempDir,
    versions: Versions,
    cache: PathBuf,
    connector_file: PathBuf,
    instance: Instance,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let state = SqliteState::open(&dir.path().join("s.db")).unwrap();
    let instance = state
        .add_instance(&crate::state::testing::new_instance("a"))
        .await
        .unwrap();
    let cache = dir.path().join("cache");
    let connector_file = dir.path().join("connector.wasm");
    std::fs::write(&connector_file, crate::runtime::embedded_connector()).unwrap();
    let state = Arc::new(state);
    let versions = Versions::new(
        state.clone(),
        SandboxEngine::new(Some(crate::runtime::CompileCache {
            dir: cache.clone(),
            ledger: state,
        }))
        .unwrap(),
        VersionsConfig {
            source: ComponentSource::Embedded,
            limits: SandboxLimits::default(),
            store_dir: dir.path().join("store"),
            auto_rollback_after: 2,
        },
    );
    Fixture {
        _dir: dir,
        versions,
        cache,
        connector_file,
        instance,
    }
}

fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::test]
async fn adding_a_component_compiles_it_once_and_stores_it_by_hash() {
    let fx = fixture().await;
    let rec = fx.versions.add(&fx.connector_file).await.unwrap();
    assert_eq!(
        rec.hash,
        ComponentHash::of(crate::runtime::embedded_connector())
    );
    assert!(rec.path.ends_with(format!("{}.wasm", rec.hash)));
    assert_eq!(
        files(&fx.cache),
        1,
        "one compiled entry, written by the one compile"
    );
    // Again: harmless, nothing new.
    let again = fx.versions.add(&fx.connector_file).await.unwrap();
    assert_eq!(again.hash, rec.hash);
    assert_eq!(fx.versions.list().await.unwrap().len(), 1);
    assert_eq!(files(&fx.cache), 1);
}

#[tokio::test]
async fn a_refused_file_leaves_no_trace() {
    let fx = fixture().await;
    let bad = fx.cache.with_file_name("bad.wasm");
    std::fs::write(&bad, b"\0asm\x01\0\0\0").unwrap();
    assert!(fx.versions.add(&bad).await.is_err());
    assert!(fx.versions.list().await.unwrap().is_empty());
    assert_eq!(files(&fx.cache.with_file_name("store")), 0);
}

#[tokio::test]
async fn versions_nobody_runs_any_more_are_dropped() {
    let fx = fixture().await;
    let rec = fx.versions.add(&fx.connector_file).await.unwrap();
    fx.versions
        .activate(rec.hash.short(12), None)
        .await
        .unwrap();
    let (_, v) = fx.versions.resolve(&fx.instance).await.unwrap();
    assert_eq!(v, Version::Stored(rec.hash.clone()));
    assert_eq!(fx.versions.loaded_count().await, 1);
    // Resolving again reuses it.
    fx.versions.resolve(&fx.instance).await.unwrap();
    assert_eq!(fx.versions.loaded_count().await, 1);
    fx.versions.activate("embedded", None).await.unwrap();
    let (_, v) = fx.versions.resolve(&fx.instance).await.unwrap();
    assert_eq!(v, Version::Embedded);
    assert_eq!(
        fx.versions.loaded_count().await,
        0,
        "the stored version is dropped"
    );
}

#[tokio::test]
async fn a_stored_component_changed_on_disk_is_not_loaded() {
    let fx = fixture().await;
    let rec = fx.versions.add(&fx.connector_file).await.unwrap();
    fx.versions
        .activate(rec.hash.short(12), None)
        .await
        .unwrap();
    // Someone with write access to the store swaps the file's content (here: the same bytes plus one,
    // still a file named by the original hash).
    let mut changed = std::fs::read(&rec.path).unwrap();
    changed.push(0);
    std::fs::write(&rec.path, changed).unwrap();
    let refused = fx.versions.resolve(&fx.instance).await.map(|_| ());
    assert!(
        matches!(&refused, Err(HostError::VersionTampered { path, .. }) if path.ends_with(".wasm")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_embedded_label_is_what_the_connector_describes() {
    let fx = fixture().await;
    let info = fx.versions.default_info().await.unwrap();
    assert_eq!(
        fx.versions.label(&Version::Embedded).await.unwrap(),
        format!("embedded {}", info.version)
    );
    let unknown = Version::Stored(ComponentHash::from_stored("abc".into()));
    assert_eq!(fx.versions.label(&unknown).await.unwrap(), "unknown (abc)");
}

#[tokio::test]
async fn unknown_and_ambiguous_versions_are_refused() {
    let fx = fixture().await;
    assert!(matches!(
        fx.versions.activate("9.9.9", None).await,
        Err(HostError::VersionNotFound(_))
    ));
    assert!(matches!(
        fx.versions.rollback(None).await,
        Err(HostError::NothingToRollBack)
    ));
}

#[tokio::test]
async fn repeated_failures_roll_a_stored_version_back_for_that_instance_only() {
    let fx = fixture().await;
    let rec = fx.versions.add(&fx.connector_file).await.unwrap();
    fx.versions
        .activate(rec.hash.short(12), None)
        .await
        .unwrap();
    let stored = Version::Stored(rec.hash.clone());
    assert_eq!(
        fx.versions
            .note_outcome(&fx.instance, &stored, Some("trapped"))
            .await,
        None,
        "one failure is not enough"
    );
    let rolled = fx
        .versions
        .note_outcome(&fx.instance, &stored, Some("trapped"))
        .await
        .expect("rolled back after 2");
    assert!(rolled
        .reason
        .starts_with("auto-rollback after 2 failures in a row: trapped"));
    assert!(rolled.to.starts_with("embedded "), "{rolled:?}");
    let active = fx
        .versions
        .active_activation(fx.instance.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (active.kind, active.version),
        (ActivationKind::AutoRollback, Version::Embedded)
    );
    // A good tick clears the count; the embedded connector is never rolled back.
    assert_eq!(
        fx.versions
            .note_outcome(&fx.instance, &Version::Embedded, None)
            .await,
        None
    );
    for _ in 0..3 {
        assert_eq!(
            fx.versions
                .note_outcome(&fx.instance, &Version::Embedded, Some("x"))
                .await,
            None
        );
    }
}
