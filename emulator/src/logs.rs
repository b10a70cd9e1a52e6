//! `GET /api/v1/logs`: parameters, polling (commit order, `after` cursors) and bounded (published
//! order) queries, Link headers, rate limits and faults; the token and DPoP checks are `auth.rs`.

use bytes::Bytes;
use serde_json::Value;

use crate::auth;
use crate::dpop;
use crate::filter::{self, Filter};
use crate::okta;
use crate::reply::{Outcome, Reply};
use crate::state::{lock, Shared};
use crate::store::{parse_cursor, Store};
use crate::Fault;
use okta_ingest_model::time::{now_ms, parse_ms};

/// Okta refuses `since` further back than this.
const MAX_SINCE_AGE_MS: u64 = 180 * 86_400_000;

/// Validated request parameters.
#[derive(Debug, Default)]
pub struct Query {
    /// All parameters in request order (for the Link headers).
    pub params: Vec<(String, String)>,
    /// `since`, epoch ms.
    pub since: Option<u64>,
    /// `until`, epoch ms.
    pub until: Option<u64>,
    /// `after`, parsed.
    pub after: Option<(u64, u64)>,
    /// `filter`.
    pub filter: Option<Filter>,
    /// `q` keywords, lower-cased.
    pub keywords: Vec<String>,
    /// `sortOrder=DESCENDING`.
    pub descending: bool,
    /// `limit`.
    pub limit: usize,
}

impl Query {
    /// Bounded queries (with `until`, or descending) order by `published`; polling ones by
    /// commit time.
    pub fn bounded(&self) -> bool {
        self.until.is_some() || self.descending
    }
}

fn validation(field: &str, cause: &str) -> Reply {
    Reply::json(
        400,
        okta::api_error(
            "E0000001",
            &format!("Api validation failed: {field}"),
            &[cause.to_string()],
        ),
    )
}

/// Parses and validates the query string; `Err` is the 400 to send.
pub fn parse_query(raw: &str, now: u64) -> Result<Query, Reply> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut q = Query {
        limit: 100,
        ..Query::default()
    };
    if let Some(l) = get("limit") {
        q.limit = match l.trim().parse::<i64>() {
            Ok(n) if (0..=1000).contains(&n) => n as usize,
            _ => {
                return Err(validation(
                    "limit",
                    "limit: The limit must be an integer between 0 and 1000.",
                ))
            }
        };
    }
    if get("since").is_some() && get("after").is_some() {
        return Err(validation(
            "since",
            "since: The since and after parameters cannot be used together.",
        ));
    }
    if let Some(s) = get("since") {
        let ms = parse_ms(s).ok_or_else(|| {
            validation(
                "since",
                "since: The value must be a valid ISO 8601 date-time.",
            )
        })?;
        if ms + MAX_SINCE_AGE_MS < now {
            return Err(Reply::json(
                400,
                okta::api_error(
                    "E0000053",
                    "Invalid search criteria.",
                    &[
                        "since: The since parameter may not be more than 180 days in the past."
                            .to_string(),
                    ],
                ),
            ));
        }
        q.since = Some(ms);
    }
    if let Some(u) = get("until") {
        q.until = Some(parse_ms(u).ok_or_else(|| {
            validation(
                "until",
                "until: The value must be a valid ISO 8601 date-time.",
            )
        })?);
    }
    if let (Some(s), Some(u)) = (q.since, q.until) {
        if u < s {
            return Err(validation(
                "until",
                "until: The until parameter must not be before since.",
            ));
        }
    }
    if let Some(a) = get("after") {
        q.after =
            Some(parse_cursor(a).ok_or_else(|| validation("after", "after: Invalid cursor."))?);
    }
    match get("sortOrder") {
        None => {}
        Some(s) if s.eq_ignore_ascii_case("ASCENDING") => {}
        Some(s) if s.eq_ignore_ascii_case("DESCENDING") => q.descending = true,
        Some(_) => {
            return Err(validation(
                "sortOrder",
                "sortOrder: The sortOrder must be ASCENDING or DESCENDING.",
            ))
        }
    }
    if let Some(f) = get("filter").filter(|f| !f.trim().is_empty()) {
        q.filter = Some(filter::parse(f).map_err(|e| {
            Reply::json(
                400,
                okta::api_error("E0000053", "Invalid filter", &[e.to_string()]),
            )
        })?);
    }
    if let Some(k) = get("q") {
        q.keywords = k.split_whitespace().map(str::to_lowercase).collect();
    }
    q.params = params;
    Ok(q)
}

/// One page of results.
#[derive(Debug)]
pub struct Page {
    /// `[raw,raw,…]`.
    pub body: Bytes,
    /// Events on the page.
    pub count: usize,
    /// The `after` for the next link; `None` = no next link (exhausted bounded query).
    pub next_after: Option<String>,
}

/// Whether events pass `q`'s keywords and filter. When the filter reads only `eventType` (worked out once
/// per request), its verdict is computed once per distinct type and remembered for the request.
struct Matcher<'q> {
    q: &'q Query,
    type_only: bool,
    by_type: std::cell::RefCell<std::collections::HashMap<String, bool>>,
}

impl<'q> Matcher<'q> {
    fn new(q: &'q Query) -> Matcher<'q> {
        Matcher {
            q,
            type_only: q.filter.as_ref().is_some_and(|f| f.reads_only_event_type()),
            by_type: Default::default(),
        }
    }

    fn matches(&self, raw: &str, event_type: &str) -> bool {
        if self.type_only && self.q.keywords.is_empty() && !event_type.is_empty() {
            if let Some(&verdict) = self.by_type.borrow().get(event_type) {
                return verdict;
            }
            let verdict = matches(self.q, raw, event_type, true);
            self.by_type
                .borrow_mut()
                .insert(event_type.to_string(), verdict);
            return verdict;
        }
        matches(self.q, raw, event_type, self.type_only)
    }
}

/// `type_only`: the filter reads only `eventType` (worked out once per request).
fn matches(q: &Query, raw: &str, event_type: &str, type_only: bool) -> bool {
    if !q.keywords.is_empty() {
        let lower = raw.to_lowercase();
        if !q.keywords.iter().all(|k| lower.contains(k.as_str())) {
            return false;
        }
    }
    match &q.filter {
        None => true,
        // The usual polling filter reads only eventType: evaluate it on the stored type instead of
        // parsing every event (which made the emulator, not the client, the bottleneck in benchmarks).
        Some(f) if type_only && !event_type.is_empty() => {
            f.matches(&serde_json::json!({ "eventType": event_type }))
        }
        Some(f) => serde_json::from_str::<Value>(raw)
            .map(|v| f.matches(&v))
            .unwrap_or(false),
    }
}

fn body_of<'a>(raws: impl Iterator<Item = &'a str> + Clone) -> Bytes {
    let mut out = Vec::with_capacity(2 + raws.clone().map(|r| r.len() + 1).sum::<usize>());
    out.push(b'[');
    for (i, r) in raws.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b']');
    Bytes::from(out)
}

/// Selects the page for `q`. Call [`Store::reindex`] first when the query is bounded.
pub fn select(store: &Store, q: &Query, raw_after: Option<&str>) -> Page {
    let events = store.events();
    let matcher = Matcher::new(q);
    if !q.bounded() {
        let start = match (q.after, q.since) {
            (Some(c), _) => store.after_cursor(c),
            (None, Some(s)) => store.committed_since(s),
            (None, None) => 0,
        };
        let picked: Vec<usize> = if q.limit == 0 {
            Vec::new()
        } else {
            (start..events.len())
                .filter(|&i| matcher.matches(&events[i].raw, &events[i].event_type))
                .take(q.limit)
                .collect()
        };
        // On an empty page the cursor stays where the request left it.
        let next = match (picked.last(), raw_after) {
            (Some(&i), _) => events[i].cursor(),
            (None, Some(a)) => a.to_string(),
            (None, None) if start > 0 => events[start - 1].cursor(),
            (None, None) => format!("{}_0", q.since.unwrap_or(0)),
        };
        return Page {
            body: body_of(picked.iter().map(|&i| &*events[i].raw)),
            count: picked.len(),
            next_after: Some(next),
        };
    }
    let order = store.by_published();
    let key = |&i: &usize| (events[i].published_ms, i as u64);
    let lo = q.since.map_or(0, |s| {
        order.partition_point(|&i| events[i].published_ms < s)
    });
    let hi = q
        .until
        .map_or(order.len(), |u| {
            order.partition_point(|&i| events[i].published_ms < u)
        })
        .max(lo);
    let (lo, hi) = match q.after {
        Some(c) if q.descending => (lo, order.partition_point(|i| key(i) < c).clamp(lo, hi)),
        Some(c) => (order.partition_point(|i| key(i) <= c).clamp(lo, hi), hi),
        None => (lo, hi),
    };
    let range = &order[lo..hi];
    let candidates: Box<dyn Iterator<Item = &usize>> = if q.descending {
        Box::new(range.iter().rev())
    } else {
        Box::new(range.iter())
    };
    let picked: Vec<usize> = candidates
        .filter(|&&i| matcher.matches(&events[i].raw, &events[i].event_type))
        .take(q.limit)
        .copied()
        .collect();
    let next_after = match picked.last() {
        Some(&i) if picked.len() == q.limit => Some(format!("{}_{}", events[i].published_ms, i)),
        _ => None,
    };
    Page {
        body: body_of(picked.iter().map(|&i| &*events[i].raw)),
        count: picked.len(),
        next_after,
    }
}

fn link_url(host: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return format!("https://{host}/api/v1/logs");
    }
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    format!("https://{host}/api/v1/logs?{}", ser.finish())
}

/// Handles one `/api/v1/logs` request; `path` is the request path as sent.
pub async fn handle(
    shared: &Shared,
    headers: &http::HeaderMap,
    path: &str,
    raw_query: &str,
    host: &str,
) -> Outcome {
    let now = shared.clock.now_ms();
    let (decision, fault, proof_replayed) = {
        let mut inner = lock(&shared.inner);
        inner.stats.log_requests += 1;
        // Okta consumes a proof's jti on sight, before rate limiting: a proof re-sent after a 429
        // is refused as already used (DPOP.md §2.2; terraform-provider-okta#2392).
        let mut proof_replayed = false;
        if let Some((jti, iat)) = dpop::header(headers).ok().flatten().and_then(dpop::peek) {
            proof_replayed = inner.proof_jtis.record(&jti, iat, now);
            if proof_replayed {
                inner.stats.replayed_proofs += 1;
            }
        }
        // Rate limits run on real time: a shifted clock must not open or close windows.
        let decision = inner.logs_bucket.hit(now_ms());
        if !decision.allowed {
            inner.stats.rate_limited += 1;
        }
        let pos = inner
            .faults
            .iter()
            .position(|f| !matches!(f, Fault::TokenEndpoint { .. }));
        let fault = pos.and_then(|p| inner.faults.remove(p));
        if let Some(f) = &fault {
            inner.stats.faults_served += 1;
            // An injected 429 is a 429 the client saw; count it unless the bucket already did.
            if decision.allowed && matches!(f, Fault::Status { status: 429, .. }) {
                inner.stats.rate_limited += 1;
            }
        }
        (decision, fault, proof_replayed)
    };
    let with_limits = |mut r: Reply| {
        for (n, v) in decision.headers() {
            if !r.has_header(n) {
                r = r.header(n, v);
            }
        }
        r
    };
    match &fault {
        Some(Fault::ResetConnection) => return Outcome::Reset,
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        Some(Fault::Status {
            status,
            body,
            headers: extra,
        }) => {
            let mut r = Reply {
                status: *status,
                headers: vec![],
                body: Bytes::from(body.clone()),
                truncated: false,
            };
            for (n, v) in extra {
                r = r.header(n, v.clone());
            }
            if !r.has_header("content-type") {
                r = r.header("content-type", "application/json");
            }
            return Outcome::Reply(with_limits(r));
        }
        Some(Fault::NotJson) => {
            let r = Reply {
                status: 200,
                headers: vec![],
                body: Bytes::from_static(b"<html>oops</html>"),
                truncated: false,
            }
            .header("content-type", "text/html");
            return Outcome::Reply(with_limits(r));
        }
        _ => {}
    }
    let mut reply = if !decision.allowed {
        Reply::json(429, okta::rate_limited())
    } else {
        let req = auth::Request {
            headers,
            host,
            path,
            now,
            proof_replayed,
        };
        answer(
            shared,
            &req,
            raw_query,
            matches!(fault, Some(Fault::NoNextLink)),
        )
    };
    reply.truncated = matches!(fault, Some(Fault::TruncatedBody));
    Outcome::Reply(with_limits(reply))
}

fn answer(shared: &Shared, req: &auth::Request<'_>, raw_query: &str, no_next: bool) -> Reply {
    if let Err(r) = auth::authorize(shared, req) {
        return r;
    }
    let host = req.host;
    // Events live on real time (the clock shift is for Okta's token and DPoP decisions).
    let now = now_ms();
    let q = match parse_query(raw_query, now) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if q.bounded() && shared.store_read().needs_reindex() {
        shared.store_write().reindex();
    }
    let raw_after = q
        .params
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.as_str());
    let page = {
        let store = shared.store_read();
        if q.bounded() && store.needs_reindex() {
            // Appended between the reindex and this read: serve from a fresh index.
            drop(store);
            let mut w = shared.store_write();
            w.reindex();
            select(&w, &q, raw_after)
        } else {
            select(&store, &q, raw_after)
        }
    };
    tracing::debug!(
        events = page.count,
        bounded = q.bounded(),
        "served a logs page"
    );
    let self_link = format!("<{}>; rel=\"self\"", link_url(host, &q.params));
    let next_link = page.next_after.filter(|_| !no_next).map(|after| {
        let mut params: Vec<(String, String)> = q
            .params
            .iter()
            .filter(|(k, _)| k != "since" && k != "after")
            .cloned()
            .collect();
        params.push(("after".into(), after));
        format!("<{}>; rel=\"next\"", link_url(host, &params))
    });
    // Okta sends the links either as separate headers or as one comma-joined header;
    // alternate so clients are exercised on both.
    let joined = {
        let mut inner = lock(&shared.inner);
        inner.link_toggle += 1;
        inner.link_toggle.is_multiple_of(2)
    };
    let mut reply = Reply::json(200, page.body);
    match (next_link, joined) {
        (Some(next), true) => reply = reply.header("link", format!("{self_link}, {next}")),
        (Some(next), false) => reply = reply.header("link", self_link).header("link", next),
        (None, _) => reply = reply.header("link", self_link),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewEvent;

    fn store() -> Store {
        let mut s = Store::default();
        // commit order: published deliberately out of order.
        let evs = [
            (1000, 900, "user.session.start"),
            (1000, 100, "zone.update"),
            (2000, 1900, "user.session.end"),
            (3000, 50, "user.lifecycle.create"),
            (4000, 3990, "user.session.start"),
        ];
        s.append(evs.iter().enumerate().map(|(i, &(c, p, t))| NewEvent {
            uuid: format!("u{i}"),
            event_type: t.into(),
            published: None,
            published_ms: p,
            commit_ms: c,
            raw: format!(r#"{{"uuid":"u{i}","eventType":"{t}"}}"#),
        }));
        s.reindex();
        s
    }

    fn uuids(p: &Page) -> Vec<String> {
        let v: Vec<Value> = serde_json::from_slice(&p.body).expect("json array");
        v.iter()
            .map(|e| e["uuid"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn q(raw: &str) -> Query {
        // `now` far enough ahead of the tiny test timestamps... but not 180 days.
        parse_query(raw, 1000).unwrap_or_else(|r| panic!("{raw}: {:?}", r.body))
    }

    #[test]
    fn polling_pages_follow_cursors_in_commit_order() {
        let s = store();
        let p1 = select(&s, &q("limit=2"), None);
        assert_eq!(uuids(&p1), ["u0", "u1"]);
        assert_eq!(p1.next_after.as_deref(), Some("1000_2"));
        let p2 = select(&s, &q("limit=2&after=1000_2"), Some("1000_2"));
        assert_eq!(uuids(&p2), ["u2", "u3"]);
        let p3 = select(&s, &q("limit=2&after=3000_1"), Some("3000_1"));
        assert_eq!(uuids(&p3), ["u4"]);
        let p4 = select(&s, &q("limit=2&after=4000_1"), Some("4000_1"));
        assert_eq!(
            (p4.count, p4.next_after.as_deref()),
            (0, Some("4000_1")),
            "empty page keeps its cursor"
        );
        assert_eq!(&p4.body[..], b"[]");
        let since = select(&s, &q("since=1970-01-01T00:00:02.000Z"), None);
        assert_eq!(uuids(&since), ["u2", "u3", "u4"]);
        let empty = select(&s, &q("since=1970-01-01T00:00:05.000Z"), None);
        assert_eq!(empty.next_after.as_deref(), Some("4000_1"));
        let filtered = select(
            &s,
            &q("filter=eventType+sw+%22user.session.%22&limit=2"),
            None,
        );
        assert_eq!(uuids(&filtered), ["u0", "u2"]);
        let kw = select(&s, &q("q=LIFECYCLE"), None);
        assert_eq!(uuids(&kw), ["u3"]);
    }

    #[test]
    fn bounded_queries_order_by_published() {
        let s = store();
        let all = select(&s, &q("until=1970-01-01T00:00:05Z&limit=2"), None);
        assert_eq!(uuids(&all), ["u3", "u1"]);
        let after = all.next_after.clone().expect("more");
        let rest = select(
            &s,
            &q(&format!("until=1970-01-01T00:00:05Z&limit=2&after={after}")),
            None,
        );
        assert_eq!(uuids(&rest), ["u0", "u2"]);
        let window = select(
            &s,
            &q("since=1970-01-01T00:00:00.100Z&until=1970-01-01T00:00:01.900Z"),
            None,
        );
        assert_eq!(uuids(&window), ["u1", "u0"]);
        assert!(
            window.next_after.is_none(),
            "exhausted bounded query has no next link"
        );
        let desc = select(&s, &q("sortOrder=DESCENDING&limit=3"), None);
        assert_eq!(uuids(&desc), ["u4", "u2", "u0"]);
    }

    #[test]
    fn invalid_parameters_are_okta_errors() {
        let code = |raw: &str| {
            let r = parse_query(raw, 1_700_000_000_000).expect_err(raw);
            let v: Value = serde_json::from_slice(&r.body).expect("json");
            (r.status, v["errorCode"].as_str().unwrap_or("").to_string())
        };
        assert_eq!(code("limit=1001"), (400, "E0000001".into()));
        assert_eq!(code("limit=-1"), (400, "E0000001".into()));
        assert_eq!(code("limit=ten"), (400, "E0000001".into()));
        assert_eq!(
            code("since=2023-11-01T00:00:00Z&after=1_1"),
            (400, "E0000001".into())
        );
        assert_eq!(code("since=2020-01-01T00:00:00Z"), (400, "E0000053".into()));
        assert_eq!(code("since=garbage"), (400, "E0000001".into()));
        assert_eq!(code("after=garbage"), (400, "E0000001".into()));
        assert_eq!(
            code("filter=published+gt+%222023-01-01%22"),
            (400, "E0000053".into())
        );
        assert_eq!(code("filter=eventType+eq"), (400, "E0000053".into()));
        assert_eq!(code("sortOrder=sideways"), (400, "E0000001".into()));
        assert!(parse_query("limit=1000&limit=5", 0).is_ok());
    }
}
