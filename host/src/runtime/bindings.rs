//! The Rust bindings generated from `wit/connector.wit` (world `okta-connector-sampling`: every import
//! and both exports, of which `sampling` is optional at load time), quarantined here, and
//! the conversions between them and the host's own types. Nothing generated leaves `runtime/`: the rest
//! of the host, and the public API, see only the host's types.

/// Generated; `wit/connector.wit` documents each item.
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "okta-connector-sampling",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

pub(super) use generated::exports::okta_ingest::connector::connector::GuestIndices as ConnectorIndices;
pub(super) use generated::exports::okta_ingest::connector::sampling::{
    self as wit_sampling, GuestIndices as SamplingIndices,
};
pub(super) use generated::okta_ingest::connector::dpop as wit_dpop;
pub(super) use generated::okta_ingest::connector::host::{Host as HostImports, LogLevel};
pub(super) use generated::okta_ingest::connector::types as wit;
pub(super) use generated::OktaConnectorSampling as OktaConnector;

use super::{AccessToken, ConnectorConfig, ConnectorError, ConnectorReport, TickInput};
use okta_ingest_model::{Categories, ErrorKind, EventSample, EventTypeCount, TokenScheme, Tuning};

impl wit::Host for super::store::StoreData {}

/// Each category with its WIT flag.
const FLAGS: [(Categories, wit::Categories); 4] = [
    (Categories::AUTHENTICATION, wit::Categories::AUTHENTICATION),
    (Categories::SECURITY, wit::Categories::SECURITY),
    (Categories::ITP, wit::Categories::ITP),
    (Categories::LIFECYCLE, wit::Categories::LIFECYCLE),
];

/// The host's categories of the WIT flags.
pub(super) fn categories_from_wit(c: wit::Categories) -> Categories {
    FLAGS
        .iter()
        .filter(|(_, w)| c.contains(*w))
        .fold(Categories::NONE, |acc, (h, _)| acc | *h)
}

fn categories_to_wit(c: Categories) -> wit::Categories {
    FLAGS
        .iter()
        .filter(|(h, _)| c.contains(*h))
        .fold(wit::Categories::empty(), |acc, (_, w)| acc | *w)
}

pub(super) fn config_to_wit(c: &ConnectorConfig) -> wit::InstanceConfig {
    wit::InstanceConfig {
        domain: c.domain.clone(),
        client_id: c.client_id.clone(),
        key_id: c.key_id.clone(),
        backfill_days: c.backfill_days,
        categories: categories_to_wit(c.categories),
    }
}

pub(super) fn tuning_to_wit(t: &Tuning) -> wit::Tuning {
    wit::Tuning {
        max_pages: t.max_pages,
        max_wait_ms: t.max_wait_ms,
        retry_base_ms: t.retry_base_ms,
        max_retries: t.max_retries,
        rate_limit_share_percent: t.rate_limit_share_percent.clamp(1, 100),
        page_size: t.page_size.clamp(1, 1000),
        request_timeout_ms: t.request_timeout_ms,
    }
}

pub(super) fn input_to_wit(i: &TickInput) -> wit::TickInput {
    wit::TickInput {
        config: config_to_wit(&i.config),
        state: i.state.clone(),
        token: i.token.as_ref().map(|t| wit::AccessToken {
            token: t.token.clone(),
            expires_at_ms: t.expires_at_ms,
        }),
        tuning: tuning_to_wit(&i.tuning),
    }
}

fn kind_from_wit(k: wit::ErrorKind) -> ErrorKind {
    use wit::ErrorKind as W;
    match k {
        W::DpopRequired => ErrorKind::DpopRequired,
        W::InvalidSignature => ErrorKind::InvalidSignature,
        W::UnknownClient => ErrorKind::UnknownClient,
        W::ScopeNotGranted => ErrorKind::ScopeNotGranted,
        W::Forbidden => ErrorKind::Forbidden,
        W::AuthFailed => ErrorKind::AuthFailed,
        W::Network => ErrorKind::Network,
        W::RateLimited => ErrorKind::RateLimited,
        W::ServerError => ErrorKind::ServerError,
        W::BadResponse => ErrorKind::BadResponse,
        W::InvalidRequest => ErrorKind::InvalidRequest,
        W::State => ErrorKind::State,
        W::Host => ErrorKind::Host,
    }
}

pub(super) fn error_from_wit(e: wit::TickError) -> ConnectorError {
    ConnectorError {
        kind: kind_from_wit(e.kind),
        message: e.message,
        http_status: e.http_status,
        okta_code: e.okta_code,
    }
}

/// The host's report; `scheme` is how the returned token is presented (the WIT 1.1 `dpop` interface
/// tells it apart from the report).
pub(super) fn report_from_wit(r: wit::TickReport, scheme: TokenScheme) -> ConnectorReport {
    ConnectorReport {
        pages: r.pages,
        filtered: r.filtered,
        duplicates: r.duplicates,
        rate_limited: r.rate_limited,
        caught_up: r.caught_up,
        token: r.token.map(|t| AccessToken {
            token: t.token,
            expires_at_ms: t.expires_at_ms,
            scheme,
        }),
        error: r.error.map(error_from_wit),
    }
}

/// The host's sample (WIT 1.2 `sampling`).
pub(super) fn sample_from_wit(s: wit_sampling::EventSample) -> EventSample {
    let mut sample = EventSample {
        covered_ms: s.covered_ms,
        complete: s.complete,
        pages: s.pages,
        event_types: s
            .event_types
            .into_iter()
            .map(|t| EventTypeCount {
                event_type: t.event_type,
                categories: categories_from_wit(t.categories),
                events: t.events,
            })
            .collect(),
        rate_limit_per_minute: s.rate_limit_per_minute,
    };
    // The contract promises the order; a component that breaks it must not reorder a screen.
    sample.sort();
    sample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_bits_match_the_wit_flags() {
        for (name, c) in Categories::NAMED {
            let w = categories_to_wit(c);
            let expected = match name {
                "authentication" => wit::Categories::AUTHENTICATION,
                "security" => wit::Categories::SECURITY,
                "itp" => wit::Categories::ITP,
                _ => wit::Categories::LIFECYCLE,
            };
            assert_eq!(w, expected, "{name}");
            assert_eq!(categories_from_wit(w), c);
        }
    }
}
