//! A hostile connector component for the host's sandbox tests (`tests/e2e/hostile.rs`). It implements the
//! real `okta-connector` world (WIT 1.1.0) and chooses how to misbehave in `tick` and `check` from
//! `config.client-id` (`VERB` or `VERB:ARG`):
//!
//! - `loop`: spin forever (the call deadline must stop it).
//! - `grow`: grow linear memory without bound (the memory cap must stop it).
//! - `exfiltrate-metadata`: request `https://169.254.169.254/latest/meta-data` (the allow-list must refuse).
//! - `exfiltrate-port:PORT`: open a TCP socket to `127.0.0.1:PORT` through `wasi:sockets`, then request
//!   `https://127.0.0.1:PORT/` through `wasi:http` (both must be refused; no connection may reach PORT).
//! - `malformed-json`, `no-uuid`, `huge-event`, `too-many`: commit a page the host must refuse.
//! - `trap`: trap.
//! - `dump-env:PATH`: collect everything it can see (tick input, WASI environment, arguments, cwd,
//!   preopened directories, the files PATH, /etc/passwd, /proc/self/environ, what signing and the DPoP
//!   interface hand out, ...), log it through
//!   `host.log` and commit it as one event.
//! - `polite`: commit one small valid event and report caught-up.
//! - anything else: commit nothing and report caught-up.
//!
//! A hostile component ignores every refusal and reports success: the host, not the component, must
//! turn a refused request or page into a failed tick. Natively this is an empty library.

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "okta-connector",
    });

    use exports::okta_ingest::connector::connector::Guest;
    use okta_ingest::connector::host;
    use okta_ingest::connector::types as w;

    struct Hostile;
    export!(Hostile);

    fn report(events: u32) -> w::TickReport {
        w::TickReport {
            pages: events.min(1),
            events,
            filtered: 0,
            duplicates: 0,
            rate_limited: 0,
            caught_up: true,
            token: None,
            error: None,
        }
    }

    fn event(uuid: &str, raw: String) -> w::Event {
        w::Event {
            uuid: uuid.into(),
            event_type: "user.session.start".into(),
            published: "2026-01-01T00:00:00.000Z".into(),
            categories: w::Categories::AUTHENTICATION,
            raw,
        }
    }

    /// Commits, ignoring a refusal (only logged), and returns how many events the host took.
    fn commit(events: &[w::Event], state: &[u8]) -> u32 {
        match host::commit_page(events, state) {
            Ok(()) => events.len() as u32,
            Err(e) => {
                host::log(
                    host::LogLevel::Info,
                    &format!("hostile: commit refused: {e}"),
                );
                0
            }
        }
    }

    fn json_str(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// GET `https://authority/path` through wasi:http; returns what happened, as text.
    fn http_get(authority: &str, path: &str) -> String {
        use wasip2::http::outgoing_handler;
        use wasip2::http::types::{Fields, OutgoingRequest, Scheme};
        let req = OutgoingRequest::new(Fields::new());
        let _ = req.set_scheme(Some(&Scheme::Https));
        let _ = req.set_authority(Some(authority));
        let _ = req.set_path_with_query(Some(path));
        let fut = match outgoing_handler::handle(req, None) {
            Err(e) => return format!("handle refused: {e:?}"),
            Ok(f) => f,
        };
        loop {
            match fut.get() {
                None => fut.subscribe().block(),
                Some(Err(())) => return "response already taken".into(),
                Some(Ok(Err(e))) => return format!("request failed: {e:?}"),
                Some(Ok(Ok(resp))) => return format!("GOT A RESPONSE: status {}", resp.status()),
            }
        }
    }

    /// Connects to `127.0.0.1:port` through wasi:sockets; returns what happened, as text.
    fn tcp_connect(port: u16) -> String {
        use wasip2::sockets::instance_network::instance_network;
        use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
        use wasip2::sockets::tcp_create_socket::create_tcp_socket;
        let net = instance_network();
        let sock = match create_tcp_socket(IpAddressFamily::Ipv4) {
            Err(e) => return format!("create-tcp-socket refused: {e:?}"),
            Ok(s) => s,
        };
        let addr = IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port,
            address: (127, 0, 0, 1),
        });
        if let Err(e) = sock.start_connect(&net, addr) {
            return format!("start-connect refused: {e:?}");
        }
        sock.subscribe().block();
        match sock.finish_connect() {
            Err(e) => format!("finish-connect refused: {e:?}"),
            Ok(_) => "CONNECTED".into(),
        }
    }

    /// Everything this component can see of its host.
    fn dump_env(input: &str, path: &str) -> String {
        use wasip2::cli::environment;
        use wasip2::filesystem::preopens;
        let mut seen = Vec::new();
        seen.push(format!("input={input}"));
        seen.push(format!("env={:?}", environment::get_environment()));
        seen.push(format!("args={:?}", environment::get_arguments()));
        seen.push(format!("cwd={:?}", environment::initial_cwd()));
        let dirs: Vec<String> = preopens::get_directories()
            .into_iter()
            .map(|(_, name)| name)
            .collect();
        seen.push(format!("preopens={dirs:?}"));
        for p in [
            path,
            "key.pem",
            "/etc/passwd",
            "/proc/self/environ",
            "/proc/self/cmdline",
            "state.db",
        ] {
            match std::fs::read(p) {
                Ok(b) => seen.push(format!("READ {p}: {}", String::from_utf8_lossy(&b))),
                Err(e) => seen.push(format!("read {p}: {e}")),
            }
        }
        for d in ["/", ".", "/tmp"] {
            match std::fs::read_dir(d) {
                Ok(it) => {
                    let names: Vec<String> = it
                        .filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                    seen.push(format!("LISTED {d}: {names:?}"));
                }
                Err(e) => seen.push(format!("list {d}: {e}")),
            }
        }
        for (k, v) in std::env::vars() {
            seen.push(format!("std env {k}={v}"));
        }
        seen.push(format!(
            "std args={:?}",
            std::env::args().collect::<Vec<_>>()
        ));
        // What signing hands out: a signature, never the key; and of the DPoP key, the public JWK.
        seen.push(format!("sign={:?}", host::sign("e30.e30")));
        match okta_ingest::connector::dpop::public_key() {
            Ok(k) => seen.push(format!("dpop public-key alg={} jwk={}", k.alg, k.jwk)),
            Err(e) => seen.push(format!("dpop public-key refused: {e}")),
        }
        seen.push(format!(
            "dpop sign-proof={:?}",
            okta_ingest::connector::dpop::sign_proof("e30.e30")
        ));
        seen.join("\n")
    }

    /// The misbehaviours shared by `tick` and `check`; `None` for the commit-only ones.
    fn misbehave(client_id: &str) -> Option<String> {
        let (verb, arg) = client_id.split_once(':').unwrap_or((client_id, ""));
        match verb {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = core::hint::black_box(x.wrapping_add(1));
                }
            }
            "grow" => {
                // 1 MiB at a time, never touched: only the cap stops this.
                let mut grown_mib = 0u64;
                loop {
                    if core::arch::wasm32::memory_grow(0, 16) == usize::MAX {
                        // The host let the grow fail instead of stopping us: keep trying, politely.
                        return Some(format!(
                            "memory.grow failed (no trap) after {grown_mib} MiB"
                        ));
                    }
                    grown_mib += 1;
                }
            }
            "exfiltrate-metadata" => Some(http_get("169.254.169.254", "/latest/meta-data")),
            "exfiltrate-port" => {
                let port: u16 = arg.parse().unwrap_or(1);
                let tcp = tcp_connect(port);
                let http = http_get(&format!("127.0.0.1:{port}"), "/");
                Some(format!("tcp: {tcp}; http: {http}"))
            }
            "trap" => core::arch::wasm32::unreachable(),
            _ => None,
        }
    }

    impl Guest for Hostile {
        fn describe() -> w::Description {
            w::Description {
                name: "hostile-test-component".into(),
                version: "0.0.0".into(),
                wit_version: "1.0.0".into(),
                state_schema: 1,
            }
        }

        fn tick(input: w::TickInput) -> w::TickReport {
            let id = input.config.client_id.clone();
            if let Some(what) = misbehave(&id) {
                host::log(host::LogLevel::Info, &format!("hostile {id}: {what}"));
                return report(0);
            }
            let (verb, arg) = id.split_once(':').unwrap_or((id.as_str(), ""));
            let n = match verb {
                "malformed-json" => {
                    commit(&[event("u-malformed", "{this is not json}".into())], b"s")
                }
                "no-uuid" => commit(
                    &[event("", "{\"eventType\":\"user.session.start\"}".into())],
                    b"s",
                ),
                "huge-event" => {
                    let pad = "a".repeat((8 << 20) + 16);
                    commit(
                        &[event(
                            "u-huge",
                            format!("{{\"uuid\":\"u-huge\",\"pad\":\"{pad}\"}}"),
                        )],
                        b"s",
                    )
                }
                "too-many" => {
                    let events: Vec<w::Event> = (0..10_001)
                        .map(|i| {
                            let uuid = format!("u-many-{i}");
                            let raw = format!("{{\"uuid\":\"{uuid}\"}}");
                            event(&uuid, raw)
                        })
                        .collect();
                    commit(&events, b"s")
                }
                "dump-env" => {
                    let seen = dump_env(&format!("{input:?}"), arg);
                    host::log(host::LogLevel::Info, &format!("hostile dump-env: {seen}"));
                    let raw = format!(
                        "{{\"uuid\":\"u-dump-env\",\"eventType\":\"user.session.start\",\"seen\":{}}}",
                        json_str(&seen)
                    );
                    commit(&[event("u-dump-env", raw)], b"s")
                }
                "polite" => {
                    // One event per tick, numbered by the cursor state, so every tick commits a new uuid.
                    let n = input
                        .state
                        .as_deref()
                        .and_then(|s| std::str::from_utf8(s).ok())
                        .and_then(|s| s.parse::<u64>().ok())
                        .unwrap_or(0);
                    let uuid = format!("polite-{n}");
                    let raw = format!(
                        "{{\"uuid\":\"{uuid}\",\"eventType\":\"user.session.start\",\"published\":\"2026-01-01T00:00:00.000Z\"}}"
                    );
                    commit(&[event(&uuid, raw)], (n + 1).to_string().as_bytes())
                }
                _ => 0,
            };
            report(n)
        }

        fn check(config: w::InstanceConfig, _tuning: w::Tuning) -> Result<String, w::TickError> {
            match misbehave(&config.client_id) {
                // A hostile component claims success whatever happened.
                Some(what) => Ok(format!("all good ({what})")),
                None => Ok("all good".into()),
            }
        }
    }
}
