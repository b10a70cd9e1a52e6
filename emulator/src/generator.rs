//! Deterministic generator of realistic Okta LogEvents.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::catalog::{self, Place};
use okta_ingest_model::time::format_ms;

/// One generated event, ready to store.
#[derive(Debug, Clone)]
pub struct GeneratedEvent {
    /// The exact JSON text to serve.
    pub raw: String,
    /// `uuid`.
    pub uuid: String,
    /// `eventType`.
    pub event_type: String,
    /// `published`, epoch ms.
    pub published_ms: u64,
    /// When Okta "committed" it, epoch ms (never in the future).
    pub commit_ms: u64,
}

/// `n` small events to commit by hand (`Emulator::commit_events`): a session start, a threat and a risk
/// change in turn, so each of the default categories gets some, all `published` at the given time, with
/// the uuid `uuid(i)` and `message` as their `displayMessage`.
pub fn minimal_events(
    n: usize,
    published: &str,
    uuid: impl Fn(usize) -> String,
    message: &str,
) -> Vec<Value> {
    const TYPES: [&str; 3] = [
        "user.session.start",
        "security.threat.detected",
        "user.risk.change",
    ];
    (0..n)
        .map(|i| {
            json!({
                "uuid": uuid(i),
                "published": published,
                "eventType": TYPES[i % TYPES.len()],
                "version": "0",
                "severity": "INFO",
                "displayMessage": message,
            })
        })
        .collect()
}

/// Seeded event source: the same seed and calls produce the same events (times aside, which
/// are relative to "now").
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    fragments: Fragments,
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    // The pools are non-empty constants; fall back to the first element defensively.
    items.choose(rng).unwrap_or(&items[0])
}

impl Generator {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            fragments: Fragments::new(),
        }
    }

    /// `n` events published over the last `days` days before `now_ms`, sorted by commit time.
    /// Commit = published + 0..2 s, except `late_fraction` of them: published + 2..30 min.
    pub fn generate(
        &mut self,
        n: usize,
        days: u32,
        late_fraction: f64,
        now_ms: u64,
    ) -> Vec<GeneratedEvent> {
        let late_fraction = if late_fraction.is_finite() {
            late_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let span = u64::from(days) * 86_400_000;
        let mut out: Vec<GeneratedEvent> = (0..n)
            .map(|_| {
                let delay = if self.rng.gen_bool(late_fraction) {
                    self.rng.gen_range(120_000..=1_800_000)
                } else {
                    self.rng.gen_range(0..=2_000)
                };
                let back = self.rng.gen_range(0..=span);
                let published_ms = now_ms.saturating_sub(delay + back + 1);
                let event_type = self.event_type().to_string();
                let (raw, uuid) = self.event_raw(&event_type, published_ms);
                GeneratedEvent {
                    raw,
                    uuid,
                    event_type,
                    published_ms,
                    commit_ms: published_ms + delay,
                }
            })
            .collect();
        out.sort_by_key(|e| e.commit_ms);
        out
    }

    /// `n` events published and committed at `now_ms`, their types drawn like [`Generator::generate`]'s:
    /// what a live emulator keeps adding while it runs.
    pub fn generate_now(&mut self, n: usize, now_ms: u64) -> Vec<GeneratedEvent> {
        (0..n)
            .map(|_| {
                let event_type = self.event_type().to_string();
                let (raw, uuid) = self.event_raw(&event_type, now_ms);
                GeneratedEvent {
                    raw,
                    uuid,
                    event_type,
                    published_ms: now_ms,
                    commit_ms: now_ms,
                }
            })
            .collect()
    }

    /// ~20% uncategorised types, the rest spread over the categorised ones.
    pub fn event_type(&mut self) -> &'static str {
        if self.rng.gen_bool(0.2) {
            pick::<&str>(&mut self.rng, catalog::UNCATEGORIZED)
        } else {
            pick::<&str>(&mut self.rng, catalog::CATEGORIZED)
        }
    }

    /// One event as JSON text with Okta's key order, plus its uuid.
    pub fn event_raw(&mut self, event_type: &str, published_ms: u64) -> (String, String) {
        let f = &self.fragments;
        let r = &mut self.rng;
        let (ui, ai, gi) = (
            r.gen_range(0..catalog::USERS.len()),
            r.gen_range(0..catalog::APPS.len()),
            r.gen_range(0..catalog::GROUPS.len()),
        );
        let (pi, ugi) = (
            r.gen_range(0..catalog::PLACES.len()),
            r.gen_range(0..catalog::AGENTS.len()),
        );
        let system_actor = event_type.starts_with("system.")
            || event_type.starts_with("core.")
            || event_type.starts_with("zone.");
        let actor = if system_actor && r.gen_bool(0.5) {
            &f.system_actor
        } else {
            &f.actors[ui]
        };
        // Okta really sends the *string* "null" for an unknown zone most of the time.
        let zone = match r.gen_range(0..10) {
            0..=5 => r#""null""#,
            6 => "null",
            7 => r#""BlockedIpZone""#,
            _ => r#""LegacyIpZone""#,
        };
        let client_id = if r.gen_bool(0.3) {
            js(catalog::APPS[ai].0)
        } else {
            "null".to_string()
        };
        let agent_os = catalog::AGENTS[ugi].1;
        let client_device = if agent_os == "iOS" || agent_os == "Android" {
            "Mobile"
        } else {
            "Computer"
        };
        let client = format!(
            r#"{{"userAgent":{},"zone":{zone},"device":"{client_device}","id":{client_id},"ipAddress":{},"geographicalContext":{}}}"#,
            f.agents[ugi],
            js(catalog::PLACES[pi].0),
            f.geos[pi]
        );
        let device = if r.gen_bool(0.7) {
            "null".to_string()
        } else {
            format!(
                r#"{{"id":"guo{}","name":"MacBook Pro – Büro","os_platform":"OSX","os_version":"14.4.1","managed":false,"registered":true,"device_integrator":null,"disk_encryption_type":"ALL_INTERNAL_VOLUMES","screen_lock_type":"BIOMETRIC","jailbreak":null,"secure_hardware_present":true}}"#,
                alnum(r, 17)
            )
        };
        let auth_provider = *pick(
            r,
            &[
                "null",
                r#""OKTA_AUTHENTICATION_PROVIDER""#,
                r#""FACTOR_PROVIDER""#,
            ],
        );
        let cred_type = *pick(r, &["null", r#""PASSWORD""#, r#""OTP""#, r#""ASSERTION""#]);
        let root_session = alnum(r, 22);
        let ext_session = if r.gen_bool(0.8) {
            format!("\"102{}\"", alnum(r, 22))
        } else {
            r#""unknown""#.to_string()
        };
        let step: u8 = r.gen_range(0..3);
        let authentication_context = format!(
            r#"{{"authenticationProvider":{auth_provider},"credentialProvider":null,"credentialType":{cred_type},"issuer":null,"interface":null,"authenticationStep":{step},"rootSessionId":"idx{root_session}","externalSessionId":{ext_session}}}"#
        );
        let (result, reason) = outcome(r, event_type);
        let severity = severity(r, event_type, result);
        let risk = *pick(r, &["LOW", "LOW", "LOW", "MEDIUM", "HIGH"]);
        let geo_behaviour = if r.gen_bool(0.85) {
            "NEGATIVE"
        } else {
            "POSITIVE"
        };
        let request_id = alnum(r, 27);
        let dt_hash = hex(&r.gen::<[u8; 32]>());
        let threat = if severity == "WARN" { "true" } else { "false" };
        // Java-map-like strings, exactly as Okta renders them: not JSON.
        let debug = format!(
            r#"{{"debugData":{{"requestId":"{request_id}","requestUri":"/idp/idx/authenticators/poll","url":"/idp/idx/authenticators/poll?","dtHash":"{dt_hash}","threatSuspected":"{threat}","behaviors":"{{New Geo-Location={geo_behaviour}, New Device=POSITIVE, New IP=NEGATIVE, New State=NEGATIVE, New Country=NEGATIVE, Velocity=NEGATIVE, New City=NEGATIVE}}","risk":"{{reasons=Anomalous Device, level={risk}}}","logOnlySecurityData":"{{behaviors=[New Geo-Location={geo_behaviour}], risk={{level={risk}}}}}"}}}}"#
        );
        let tx_type = if event_type.starts_with("system.") || event_type.contains("lifecycle") {
            "JOB"
        } else {
            "WEB"
        };
        let tx_id = alnum(r, 27);
        let uuid = uuid_v4(r);
        let (tu, ta, tg) = (
            &f.target_users[ui],
            &f.target_apps[ai],
            &f.target_groups[gi],
        );
        let target = if event_type.starts_with("group.") {
            format!("[{tu},{tg}]")
        } else if event_type.starts_with("app") || event_type.contains("sso") {
            format!("[{ta},{tu}]")
        } else if event_type.starts_with("user.session.") {
            "[]".to_string()
        } else {
            format!("[{tu}]")
        };
        let legacy = catalog::legacy_event_type(event_type).map_or_else(|| "null".to_string(), js);
        let reason = reason.map_or_else(|| "null".to_string(), js);
        let raw = format!(
            concat!(
                r#"{{"actor":{},"client":{},"device":{},"authenticationContext":{},"displayMessage":{},"#,
                r#""eventType":{},"outcome":{{"result":"{}","reason":{}}},"published":"{}","securityContext":{},"#,
                r#""severity":"{}","debugContext":{},"legacyEventType":{},"transaction":{{"type":"{}","id":"{}","detail":{{}}}},"#,
                r#""uuid":"{}","version":"0","request":{},"target":{}}}"#
            ),
            actor,
            client,
            device,
            authentication_context,
            js(&catalog::display_message(event_type)),
            js(event_type),
            result,
            reason,
            format_ms(published_ms),
            f.security[pi],
            severity,
            debug,
            legacy,
            tx_type,
            tx_id,
            uuid,
            f.requests[pi],
            target
        );
        (raw, uuid)
    }
}

/// A random (seeded) version-4 UUID.
fn uuid_v4(r: &mut StdRng) -> String {
    let mut b: [u8; 16] = r.gen();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// JSON string literal for `s`.
fn js(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn alnum(r: &mut StdRng, len: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| A[r.gen_range(0..A.len())] as char)
        .collect()
}

/// The pool-derived parts of events, serialised once (most of an event's bytes).
#[derive(Debug)]
struct Fragments {
    actors: Vec<String>,
    system_actor: String,
    agents: Vec<String>,
    geos: Vec<String>,
    security: Vec<String>,
    requests: Vec<String>,
    target_users: Vec<String>,
    target_apps: Vec<String>,
    target_groups: Vec<String>,
}

impl Fragments {
    fn new() -> Self {
        let geo = |p: &Place| {
            format!(
                r#"{{"city":{},"state":{},"country":{},"postalCode":{},"geolocation":{{"lat":{},"lon":{}}}}}"#,
                js(p.1),
                js(p.2),
                js(p.3),
                js(p.4),
                json!(p.5),
                json!(p.6)
            )
        };
        let user = |u: &(&str, &str, &str)| {
            format!(
                r#"{{"id":{},"type":"User","alternateId":{},"displayName":{},"detailEntry":null}}"#,
                js(u.0),
                js(u.1),
                js(u.2)
            )
        };
        Fragments {
            actors: catalog::USERS.iter().map(user).collect(),
            system_actor: r#"{"id":"0oa1okta0system00000","type":"SystemPrincipal","alternateId":"system@okta.com","displayName":"Okta System","detailEntry":null}"#.to_string(),
            agents: catalog::AGENTS.iter()
                .map(|a| format!(r#"{{"rawUserAgent":{},"os":{},"browser":{}}}"#, js(a.0), js(a.1), js(a.2)))
                .collect(),
            geos: catalog::PLACES.iter().map(geo).collect(),
            security: catalog::PLACES.iter()
                .map(|p| format!(r#"{{"asNumber":{},"asOrg":{},"isp":{},"domain":{},"isProxy":{}}}"#, p.7, js(p.8), js(p.9), js(p.10), p.11))
                .collect(),
            requests: catalog::PLACES.iter()
                .map(|p| format!(r#"{{"ipChain":[{{"ip":{},"geographicalContext":{},"version":"{}","source":null}}]}}"#,
                    js(p.0), geo(p), if p.0.contains(':') { "V6" } else { "V4" }))
                .collect(),
            target_users: catalog::USERS.iter().map(user).collect(),
            target_apps: catalog::APPS.iter()
                .map(|a| format!(r#"{{"id":{},"type":"AppInstance","alternateId":{},"displayName":{},"detailEntry":{{"signOnModeType":"SAML_2_0"}}}}"#, js(a.0), js(a.1), js(a.1)))
                .collect(),
            target_groups: catalog::GROUPS.iter()
                .map(|g| format!(r#"{{"id":{},"type":"UserGroup","alternateId":"unknown","displayName":{},"detailEntry":null}}"#, js(g.0), js(g.1)))
                .collect(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[usize::from(b >> 4)] as char);
        s.push(H[usize::from(b & 15)] as char);
    }
    s
}

fn outcome(r: &mut StdRng, event_type: &str) -> (&'static str, Option<&'static str>) {
    match event_type {
        "security.request.blocked" | "app.generic.unauth_app_access_attempt" => {
            ("DENY", Some("BLOCKED"))
        }
        "policy.evaluate_sign_on" => (*pick(r, &["ALLOW", "ALLOW", "CHALLENGE", "DENY"]), None),
        _ => match r.gen_range(0..100) {
            0..=84 => ("SUCCESS", None),
            85..=96 => (
                "FAILURE",
                Some(*pick(
                    r,
                    &["INVALID_CREDENTIALS", "VERIFICATION_ERROR", "LOCKED_OUT"],
                )),
            ),
            _ => ("SKIPPED", None),
        },
    }
}

fn severity(r: &mut StdRng, event_type: &str, result: &str) -> &'static str {
    if event_type.starts_with("security.")
        || event_type.contains("rate_limit")
        || event_type.contains("lock")
    {
        "WARN"
    } else if event_type.starts_with("system.") && r.gen_bool(0.05) {
        "ERROR"
    } else if result == "FAILURE" || result == "DENY" {
        "WARN"
    } else if event_type == "policy.evaluate_sign_on" {
        "DEBUG"
    } else {
        "INFO"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> Vec<(Vec<String>, Vec<String>)> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../spec/okta/event-categories.json"
        );
        let spec: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("spec file")).expect("json");
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        spec["categories"]
            .as_object()
            .expect("categories")
            .values()
            .map(|c| (strs(&c["exact"]), strs(&c["prefixes"])))
            .collect()
    }

    fn in_any(t: &str, cats: &[(Vec<String>, Vec<String>)]) -> bool {
        cats.iter()
            .any(|(e, p)| e.iter().any(|x| x == t) || p.iter().any(|x| t.starts_with(x.as_str())))
    }

    #[test]
    fn catalog_covers_every_category_exactly() {
        let cats = categories();
        for (exact, prefixes) in &cats {
            for e in exact {
                assert!(
                    catalog::CATEGORIZED.contains(&e.as_str()),
                    "missing exact {e}"
                );
            }
            for p in prefixes {
                let n = catalog::CATEGORIZED
                    .iter()
                    .filter(|t| t.starts_with(p.as_str()))
                    .count();
                assert!(
                    n >= 2 || p == "user.mfa.okta_verify" && n >= 1,
                    "prefix {p} has {n} types"
                );
            }
        }
        assert!(catalog::CATEGORIZED.iter().all(|t| in_any(t, &cats)));
        assert!(catalog::UNCATEGORIZED.iter().all(|t| !in_any(t, &cats)));
    }

    #[test]
    fn events_are_realistic_ordered_and_deterministic() {
        let now = 1_780_000_000_000;
        let a = Generator::new(7).generate(2000, 14, 0.05, now);
        let b = Generator::new(7).generate(2000, 14, 0.05, now);
        assert_eq!(
            a.iter().map(|e| &e.raw).collect::<Vec<_>>(),
            b.iter().map(|e| &e.raw).collect::<Vec<_>>()
        );
        assert!(a.windows(2).all(|w| w[0].commit_ms <= w[1].commit_ms));
        let cats = categories();
        let uncategorised = a.iter().filter(|e| !in_any(&e.event_type, &cats)).count();
        assert!(
            (250..=550).contains(&uncategorised),
            "{uncategorised} of 2000 uncategorised"
        );
        let late = a
            .iter()
            .filter(|e| e.commit_ms - e.published_ms >= 120_000)
            .count();
        assert!((50..=160).contains(&late), "{late} late");
        let mut uuids = std::collections::HashSet::new();
        for e in &a {
            assert!(e.commit_ms <= now && e.published_ms + 14 * 86_400_000 + 1_900_000 >= now);
            let v: Value = serde_json::from_str(&e.raw).expect("valid json");
            assert_eq!(v["uuid"], json!(e.uuid));
            assert_eq!(v["eventType"], json!(e.event_type));
            assert_eq!(v["version"], json!("0"));
            assert_eq!(
                okta_ingest_model::time::parse_ms(v["published"].as_str().expect("published")),
                Some(e.published_ms)
            );
            for k in [
                "actor",
                "client",
                "authenticationContext",
                "outcome",
                "securityContext",
                "debugContext",
                "transaction",
                "request",
            ] {
                assert!(v[k].is_object(), "{k} missing");
            }
            assert!(v["target"].is_array() && v.get("device").is_some());
            assert_eq!(e.uuid.len(), 36);
            assert_eq!(&e.uuid[14..15], "4");
            assert!(uuids.insert(e.uuid.clone()));
        }
        assert!(a[0].raw.starts_with(r#"{"actor":{"#), "Okta key order");
        let all: String = a.iter().map(|e| e.raw.as_str()).collect();
        assert!(
            all.contains(r#""zone":"null""#)
                && all.contains(r#""device":null"#)
                && all.contains("José Müller 日本")
        );
        assert!(all.contains("{behaviors=[New Geo-Location="));
    }
}

#[cfg(test)]
mod live_tests {
    use super::*;

    #[test]
    fn events_generated_now_are_published_now_and_spread_over_the_types() {
        let now = 1_780_000_000_000;
        let v = Generator::new(3).generate_now(500, now);
        assert_eq!(v.len(), 500);
        let types: std::collections::HashSet<&str> =
            v.iter().map(|e| e.event_type.as_str()).collect();
        assert!(types.len() > 20, "{} types", types.len());
        let uncategorised = v
            .iter()
            .filter(|e| catalog::UNCATEGORIZED.contains(&e.event_type.as_str()))
            .count();
        assert!((40..=160).contains(&uncategorised), "{uncategorised}");
        for e in &v {
            assert_eq!((e.published_ms, e.commit_ms), (now, now));
            let j: Value = serde_json::from_str(&e.raw).expect("json");
            assert_eq!(j["published"], json!(format_ms(now)));
            assert_eq!(j["uuid"], json!(e.uuid));
        }
    }
}

#[cfg(test)]
mod perf {
    #[test]
    #[ignore]
    fn time_generation() {
        let t = std::time::Instant::now();
        let v = super::Generator::new(1).generate(10_000, 14, 0.02, 1_780_000_000_000);
        eprintln!(
            "10k in {:?}, {} bytes avg",
            t.elapsed(),
            v.iter().map(|e| e.raw.len()).sum::<usize>() / v.len()
        );
    }
}
