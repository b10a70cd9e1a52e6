//! The System Log `filter` expression and request URLs built from the selected categories.

use crate::categories::defs;
use crate::fmt::percent_encode;
use crate::types::{Categories, ErrorKind, TickError};
use okta_ingest_model::time::format_ms;

/// The SCIM filter selecting `selected` categories, e.g.
/// `eventType eq "policy.evaluate_sign_on" or eventType sw "user.session."`.
/// Literals are deduplicated; exact values and prefixes already covered by a selected prefix are dropped
/// (shorter URLs, and Okta's filter parser has length limits).
pub fn build_filter(selected: Categories) -> String {
    let mut prefixes: Vec<&str> = Vec::new();
    let mut exact: Vec<&str> = Vec::new();
    for d in defs().iter().filter(|d| selected.contains(d.flag)) {
        prefixes.extend(d.prefixes.iter().map(String::as_str));
        exact.extend(d.exact.iter().map(String::as_str));
    }
    // A prefix covered by a different, shorter prefix is redundant; identical ones are deduped below.
    let covered_by = |s: &str, list: &[&str]| list.iter().any(|p| s != *p && s.starts_with(p));
    let mut kept_prefixes: Vec<&str> = Vec::new();
    for p in &prefixes {
        if !covered_by(p, &prefixes) && !kept_prefixes.contains(p) {
            kept_prefixes.push(p);
        }
    }
    let mut kept_exact: Vec<&str> = Vec::new();
    for e in &exact {
        if !kept_prefixes.iter().any(|p| e.starts_with(p)) && !kept_exact.contains(e) {
            kept_exact.push(e);
        }
    }
    let clauses = kept_exact
        .iter()
        .map(|e| format!("eventType eq {}", json_string(e)))
        .chain(
            kept_prefixes
                .iter()
                .map(|p| format!("eventType sw {}", json_string(p))),
        );
    clauses.collect::<Vec<_>>().join(" or ")
}

/// [`build_filter`] for a call that needs at least one category: the user's mistake otherwise.
pub fn selected_filter(selected: Categories) -> Result<String, TickError> {
    let filter = build_filter(selected);
    if filter.is_empty() {
        return Err(TickError::new(
            ErrorKind::InvalidRequest,
            "no event categories are selected; select at least one category",
        ));
    }
    Ok(filter)
}

/// Filter literals are JSON strings; escape them as such.
fn json_string(s: &str) -> String {
    // Serializing a &str cannot fail; fall back to a plain quote just in case.
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The polling URL without a cursor: ascending, no `until`, optional `since` (Unix ms).
pub fn logs_url(domain: &str, page_size: u32, filter: &str, since_ms: Option<u64>) -> String {
    let mut url = format!(
        "https://{domain}/api/v1/logs?limit={page_size}&sortOrder=ASCENDING&filter={}",
        percent_encode(filter)
    );
    if let Some(ms) = since_ms {
        url.push_str("&since=");
        url.push_str(&percent_encode(&format_ms(ms)));
    }
    url
}

/// The URL continuing from Okta's opaque `after` cursor (kept as sent, already encoded) with a new filter.
pub fn logs_url_after(domain: &str, page_size: u32, filter: &str, after_raw: &str) -> String {
    let mut url = logs_url(domain, page_size, filter, None);
    url.push_str("&after=");
    url.push_str(after_raw);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_only() {
        let f = build_filter(Categories::AUTHENTICATION);
        assert_eq!(
            f,
            "eventType eq \"policy.evaluate_sign_on\" or eventType eq \"user.device_session.start\" or \
             eventType eq \"device.platform_sso.authentication\" or eventType eq \"device.password_sync.authentication\" or \
             eventType sw \"user.authentication.\" or eventType sw \"user.session.\" or eventType sw \"user.mfa.okta_verify\""
        );
    }

    #[test]
    fn exact_values_covered_by_prefixes_are_dropped() {
        let f = build_filter(Categories::AUTHENTICATION | Categories::ITP);
        assert!(!f.contains("\"user.session.end\""), "{f}");
        assert!(!f.contains("universal_logout"), "{f}");
        assert!(f.contains("eventType eq \"analytics.feedback.provide\""));
        // Without authentication the ITP exact values stay.
        let itp = build_filter(Categories::ITP);
        assert!(itp.contains("eventType eq \"user.session.end\""));
        // security. covers the ITP exact security.* values.
        let s = build_filter(Categories::SECURITY | Categories::ITP);
        assert!(!s.contains("security.events.provider.receive_event"));
        assert!(s.contains("eventType sw \"security.\""));
    }

    #[test]
    fn no_duplicates_with_everything_selected() {
        let f = build_filter(Categories::ALL);
        let clauses: Vec<&str> = f.split(" or ").collect();
        let mut sorted = clauses.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), clauses.len());
        assert!(clauses
            .iter()
            .all(|c| c.starts_with("eventType eq \"") || c.starts_with("eventType sw \"")));
        assert_eq!(build_filter(Categories::NONE), "");
    }

    #[test]
    fn literals_are_json_escaped() {
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn urls() {
        let u = logs_url(
            "acme.okta.com",
            1000,
            "eventType eq \"a b\"",
            Some(1_794_457_980_000),
        );
        assert_eq!(
            u,
            "https://acme.okta.com/api/v1/logs?limit=1000&sortOrder=ASCENDING&filter=eventType%20eq%20%22a%20b%22\
             &since=2026-11-12T04%3A33%3A00.000Z"
        );
        assert!(!logs_url("d", 5, "x", None).contains("since"));
        assert!(logs_url_after("d", 5, "x", "123_1").ends_with("&after=123_1"));
    }
}
