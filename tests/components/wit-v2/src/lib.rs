//! A connector component built against `okta-ingest:connector@2.0.0` (a copy of the contract under
//! `wit/` with only the major version bumped). The host implements 1.x and must refuse to load it.
//! Natively this is an empty library, so `cargo test --workspace` builds it without a wasm toolchain.

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "okta-connector",
    });

    use exports::okta_ingest::connector::connector::Guest;
    use okta_ingest::connector::types as w;

    struct V2;
    export!(V2);

    impl Guest for V2 {
        fn describe() -> w::Description {
            w::Description {
                name: "wit-v2".into(),
                version: "2.0.0".into(),
                wit_version: "2.0.0".into(),
                state_schema: 1,
            }
        }

        fn tick(_input: w::TickInput) -> w::TickReport {
            w::TickReport {
                pages: 0,
                events: 0,
                filtered: 0,
                duplicates: 0,
                rate_limited: 0,
                caught_up: true,
                token: None,
                error: None,
            }
        }

        fn check(_config: w::InstanceConfig, _tuning: w::Tuning) -> Result<String, w::TickError> {
            Ok("wit-v2 component: nothing to check".into())
        }
    }
}
