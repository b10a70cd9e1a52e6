//! Paths of the test-only connector components, built by this crate's `build.rs` (wasmtime's
//! `test-programs-artifacts` pattern): take this crate as a dev-dependency, never a normal one.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

#[cfg(test)]
mod tests {
    /// The contract copies of the test components may differ from `wit/connector.wit` only where they
    /// must: the package version, and (for 1.3) added lines. So they cannot drift from the real contract.
    /// And the real contract keeps every declaration of the released 1.0.0 (a copy is kept next to its
    /// build in `fixtures/`): a minor version only adds.
    #[test]
    fn test_contracts_differ_from_the_real_one_only_where_they_must() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let real = read("wit/connector.wit");
        assert!(real.contains("package okta-ingest:connector@1.2.0;"));
        let v2 = read("tests/components/wit-v2/wit/connector.wit");
        assert_eq!(
            v2,
            real.replace(
                "package okta-ingest:connector@1.2.0;",
                "package okta-ingest:connector@2.0.0;"
            ),
            "wit-v2 must be wit/connector.wit with only the major version changed"
        );
        let v13 = read("tests/components/wit-v1-3/wit/connector.wit");
        assert!(v13.contains("package okta-ingest:connector@1.3.0;"));
        keeps_in_order(
            &real,
            &v13,
            |_| true,
            "wit-v1-3 must keep every line of 1.2",
        );
        // Declarations only: documentation may be improved in a minor version.
        let v10 = read("tests/artifacts/fixtures/connector-1.0.0.wit");
        assert!(v10.contains("package okta-ingest:connector@1.0.0;"));
        let declaration = |l: &str| !l.trim_start().starts_with("//") && !l.trim().is_empty();
        keeps_in_order(
            &v10,
            &real,
            declaration,
            "1.2 must keep every declaration of 1.0",
        );
    }

    /// Every line of `older` that `wanted` selects (but the package line) appears in `newer`, in order.
    fn keeps_in_order(older: &str, newer: &str, wanted: impl Fn(&str) -> bool, what: &str) {
        let mut lines = newer.lines();
        for line in older
            .lines()
            .filter(|l| !l.starts_with("package ") && wanted(l))
        {
            assert!(lines.any(|l| l == line), "{what}; missing: {line:?}");
        }
    }

    #[test]
    fn every_built_component_exists() {
        for (name, path) in super::ALL {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name} at {path}: {e}"));
            assert!(bytes.starts_with(b"\0asm"), "{name} is not WebAssembly");
        }
    }
}
