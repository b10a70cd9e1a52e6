//! Every test component the artifacts crate builds is used by a test here (wasmtime's static check that
//! test programs actually run): a component nobody names would be built for nothing, or its test lost.

#[test]
fn every_test_component_is_used_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e");
    let sources: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rs") && !p.ends_with("components.rs"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for (name, _) in okta_ingest_test_artifacts::ALL {
        let used = sources.iter().any(|s| {
            s.match_indices(name).any(|(i, _)| {
                // As a whole identifier: `SWAP` must not count because `SWAP_VERSION` is used.
                let before = s[..i].chars().next_back();
                let after = s[i + name.len()..].chars().next();
                let ident =
                    |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                !ident(before) && !ident(after)
            })
        });
        assert!(
            used,
            "test component {name} is built but no e2e test uses it"
        );
    }
}
