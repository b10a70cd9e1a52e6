//! Paths of the test-only connector components, built by this crate's `build.rs` (wasmtime's
//! `test-programs-artifacts` pattern): take this crate as a dev-dependency, never a normal one.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

#[cfg(test)]
mod tests {
    /// The contract copies of the test components may differ from `wit/connector.wit` only where they
    /// must: the package version, and (for 1.1) added lines. So they cannot drift from the real contract.
    #[test]
    fn test_contracts_differ_from_the_real_one_only_where_they_must() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        let real = read("wit/connector.wit");
        let v2 = read("tests/components/wit-v2/wit/connector.wit");
        assert_eq!(
            v2,
            real.replace(
                "package okta-ingest:connector@1.0.0;",
                "package okta-ingest:connector@2.0.0;"
            ),
            "wit-v2 must be wit/connector.wit with only the major version changed"
        );
        // 1.1 only adds: every line of 1.0 but the package line appears in it, in order.
        let v11 = read("tests/components/wit-v1-1/wit/connector.wit");
        assert!(v11.contains("package okta-ingest:connector@1.1.0;"));
        let mut newer = v11.lines();
        for line in real.lines().filter(|l| !l.starts_with("package ")) {
            assert!(
                newer.any(|l| l == line),
                "wit-v1-1 must keep every line of the 1.0 contract in order; missing: {line:?}"
            );
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
