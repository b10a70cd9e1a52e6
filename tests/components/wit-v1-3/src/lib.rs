//! A connector component built against `okta-ingest:connector@1.3.0`: the contract under `wit/` plus one
//! exported function (`features`), the kind of change a minor version may make. A 1.2 host must load it
//! and run it: its `tick` commits one valid event per first tick and reports caught-up, and its 1.2
//! `sampling` export answers a fixed sample. Natively this is an empty library.

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        path: "wit",
        world: "okta-connector-sampling",
    });

    use exports::okta_ingest::connector::connector::Guest;
    use exports::okta_ingest::connector::sampling::{self, Guest as SamplingGuest};
    use okta_ingest::connector::host;
    use okta_ingest::connector::types as w;

    struct V13;
    export!(V13);

    /// The event a first tick commits.
    const EVENT: &str = "{\"uuid\":\"wit-v1-3-0\",\"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\"}";

    impl Guest for V13 {
        fn describe() -> w::Description {
            w::Description {
                name: "wit-v1-3".into(),
                version: "1.3.0-test".into(),
                wit_version: "1.3.0".into(),
                state_schema: 1,
            }
        }

        fn tick(input: w::TickInput) -> w::TickReport {
            // The cursor is just "done": the event is committed once per instance.
            let first = input.state.is_none();
            let events = if first {
                vec![w::Event {
                    uuid: "wit-v1-3-0".into(),
                    event_type: "user.session.start".into(),
                    published: "2026-01-01T00:00:00.000Z".into(),
                    categories: w::Categories::AUTHENTICATION,
                    raw: EVENT.into(),
                }]
            } else {
                Vec::new()
            };
            let error = host::commit_page(&events, b"done")
                .err()
                .map(|e| w::TickError {
                    kind: w::ErrorKind::Host,
                    message: e,
                    http_status: None,
                    okta_code: None,
                });
            w::TickReport {
                pages: 1,
                events: events.len() as u32,
                filtered: 0,
                duplicates: 0,
                rate_limited: 0,
                caught_up: true,
                token: None,
                error,
            }
        }

        fn check(_config: w::InstanceConfig, _tuning: w::Tuning) -> Result<String, w::TickError> {
            Ok("wit-v1-3 component: nothing to check".into())
        }

        fn features() -> Vec<String> {
            vec!["example-feature".into()]
        }
    }

    /// A fixed sample: 42 `user.session.start` events, the whole window read.
    impl SamplingGuest for V13 {
        fn sample(
            _config: w::InstanceConfig,
            _tuning: w::Tuning,
            window_ms: u64,
            _max_pages: u32,
        ) -> Result<sampling::EventSample, w::TickError> {
            Ok(sampling::EventSample {
                covered_ms: window_ms,
                complete: true,
                pages: 1,
                event_types: vec![sampling::EventTypeCount {
                    event_type: "user.session.start".into(),
                    categories: w::Categories::AUTHENTICATION,
                    events: 42,
                }],
                rate_limit_per_minute: None,
            })
        }
    }
}
