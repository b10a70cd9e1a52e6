//! Scenario tests of `run_tick` / `run_check` against the scripted [`FakeEnv`](crate::fake::FakeEnv).

mod auth;
mod dpop;
mod limits;
mod paging;
mod sample;

use crate::env::HttpResponse;
use crate::fake::FakeEnv;
use crate::types::{
    AccessToken, Categories, DpopMode, InstanceConfig, TickInput, TokenScheme, Tuning,
};

pub const DOMAIN: &str = "acme.okta.com";
/// 2026-11-26T00:00:00Z.
pub const NOW: u64 = 1_795_651_200_000;

pub fn config(categories: Categories) -> InstanceConfig {
    InstanceConfig {
        domain: DOMAIN.into(),
        client_id: "0oaclient".into(),
        key_id: None,
        backfill_days: 7,
        categories,
        dpop: DpopMode::Auto,
    }
}

/// Fast retries; the scenario tests were written for a 65 s longest wait and a 30 s request timeout.
pub fn tuning() -> Tuning {
    Tuning {
        max_retries: 2,
        retry_base_ms: 100,
        max_wait_ms: 65_000,
        request_timeout_ms: 30_000,
        ..Tuning::default()
    }
}

pub fn valid_token() -> AccessToken {
    AccessToken {
        token: "cached".into(),
        expires_at_ms: NOW + 3_600_000,
        scheme: TokenScheme::Bearer,
    }
}

pub fn input(state: Option<Vec<u8>>, token: Option<AccessToken>) -> TickInput {
    TickInput {
        config: config(Categories::AUTHENTICATION | Categories::SECURITY | Categories::ITP),
        state,
        token,
        tuning: tuning(),
    }
}

pub fn next_url(after: &str) -> String {
    format!("https://{DOMAIN}/api/v1/logs?limit=1000&after={after}")
}

pub fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

/// A 200 page with self and next links as two headers.
pub fn page(events: &[String], after: &str) -> HttpResponse {
    let body = format!("[{}]", events.join(","));
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "link".into(),
                format!("<https://{DOMAIN}/api/v1/logs?limit=1000>; rel=\"self\""),
            ),
            (
                "link".into(),
                format!("<{}>; rel=\"next\"", next_url(after)),
            ),
        ],
        body: body.into_bytes(),
    }
}

pub fn ev(uuid: &str, event_type: &str) -> String {
    format!("{{\"uuid\":\"{uuid}\",\"published\":\"2026-11-25T10:00:00.000Z\",\"eventType\":\"{event_type}\"}}")
}

pub fn token_ok(token: &str) -> HttpResponse {
    resp(
        200,
        &[],
        &format!("{{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"{token}\",\"scope\":\"okta.logs.read\"}}"),
    )
}

pub fn env() -> FakeEnv {
    FakeEnv::new(NOW)
}

/// The state bytes of the last commit.
pub fn last_state(e: &FakeEnv) -> Option<Vec<u8>> {
    e.commits.last().map(|(_, s)| s.clone())
}
