//! `sample` (WIT 1.2 `sampling`): count the org's newest events of a recent window per event type,
//! reading at most a few pages, committing nothing. A setup screen shows the counts beside each
//! category and turns the rate into a backfill estimate.
//!
//! The query is a bounded one (`since` and `until`, newest first): Okta orders it by `published`, which
//! is what "the last 24 hours" means to a user. Its `next` link is followed only while pages come back
//! full, the way Okta ends a bounded query.

use crate::categories::classify;
use crate::env::Env;
use crate::filter::selected_filter;
use crate::fmt::percent_encode;
use crate::links::{next_link, validate_logs_url};
use crate::session::Session;
use crate::types::{Categories, ErrorKind, InstanceConfig, TickError, Tuning};
use okta_ingest_model::rate_limit::RateLimit;
use okta_ingest_model::time::{format_ms, parse_ms};
use okta_ingest_model::{EventSample, EventTypeCount};
use std::collections::BTreeMap;

/// Most pages a sample reads, whatever it is asked: a setup screen must not spend an org's budget.
pub const MAX_SAMPLE_PAGES: u32 = 10;

/// Read the newest events of the last `window_ms` in `config.categories`, at most `max_pages` pages
/// (capped at [`MAX_SAMPLE_PAGES`]), and count them per event type.
pub fn run_sample<E: Env>(
    env: &mut E,
    config: &InstanceConfig,
    tuning: &Tuning,
    window_ms: u64,
    max_pages: u32,
) -> Result<EventSample, TickError> {
    let filter = selected_filter(config.categories)?;
    let max_pages = max_pages.clamp(1, MAX_SAMPLE_PAGES);
    let until = env.now_ms();
    let since = until.saturating_sub(window_ms);
    let page_size = tuning.page_size.clamp(1, 1000);
    let mut url = format!(
        "https://{}/api/v1/logs?limit={page_size}&sortOrder=DESCENDING&since={}&until={}&filter={}",
        config.domain,
        percent_encode(&format_ms(since)),
        percent_encode(&format_ms(until)),
        percent_encode(&filter)
    );
    let mut counts: BTreeMap<String, (Categories, u32)> = BTreeMap::new();
    let mut oldest_ms = until;
    let mut sample = EventSample::default();
    let mut s = Session::new(env, config, tuning, None);
    loop {
        let (read, next, pace, limit) = s.with_page(&url, |_, resp, page, pace| {
            for e in &page {
                let entry = counts
                    .entry(e.event_type.to_string())
                    .or_insert_with(|| (classify(&e.event_type, config.categories), 0));
                entry.1 += 1;
                if let Some(ms) = parse_ms(&e.published) {
                    oldest_ms = oldest_ms.min(ms);
                }
            }
            let limit = RateLimit::parse(|n| resp.header(n)).limit;
            Ok((
                page.len(),
                next_link(&resp.headers).map(str::to_string),
                pace,
                limit,
            ))
        })?;
        sample.pages += 1;
        if let Some(l) = limit {
            sample.rate_limit_per_minute = Some(u32::try_from(l).unwrap_or(u32::MAX));
        }
        // A page short of the limit is the end of a bounded query (its next link, if any, is empty).
        let next = next.filter(|_| read as u64 >= u64::from(page_size));
        let Some(next) = next else {
            sample.complete = true;
            break;
        };
        if sample.pages >= max_pages {
            break;
        }
        validate_logs_url(&next, &config.domain).map_err(|m| {
            TickError::new(
                ErrorKind::BadResponse,
                format!("Okta sent an unusable System Log link ({m})"),
            )
        })?;
        s.pace(pace)?;
        url = next;
    }
    sample.covered_ms = if sample.complete {
        window_ms
    } else {
        until.saturating_sub(oldest_ms)
    };
    sample.event_types = counts
        .into_iter()
        .map(|(event_type, (categories, events))| EventTypeCount {
            event_type,
            categories,
            events,
        })
        .collect();
    sample.sort();
    Ok(sample)
}
