//! One tick: follow Okta's `next` links from the stored cursor, committing each page with its cursor.

use crate::categories::classify;
use crate::env::Env;
use crate::filter::{logs_url, logs_url_after, selected_filter};
use crate::links::{next_link, query_param, validate_logs_url};
use crate::ratelimit::Pace;
use crate::session::Session;
use crate::state::{CursorState, Recent};
use crate::types::{ErrorKind, Event, InstanceConfig, LogLevel, TickError, TickInput, TickReport};
use std::collections::HashSet;

const DAY_MS: u64 = 86_400_000;

/// Run one tick: fetch pages until caught up, `max_pages`, or an error. Never panics on Okta's or the
/// user's input; failures end up in `TickReport::error` with everything committed before them kept.
pub fn run_tick<E: Env>(env: &mut E, input: TickInput) -> TickReport {
    let TickInput {
        config,
        state,
        token,
        tuning,
    } = input;
    let mut report = TickReport::default();
    let mut s = Session::new(env, &config, &tuning, token);
    let result = pages(&mut s, state, &mut report);
    report.rate_limited = s.rate_limited;
    report.token = s.token.take();
    if let Err(e) = result {
        s.env.log(
            LogLevel::Warn,
            &format!("tick ended early ({:?}): {}", e.kind, e.message),
        );
        report.error = Some(e);
    }
    report
}

/// Where to start: the stored `next` link, or a first-tick URL with `since`.
struct Start {
    url: String,
    recent: Recent,
    committed: Option<Vec<u8>>,
}

fn start<E: Env>(
    s: &mut Session<'_, E>,
    state: Option<Vec<u8>>,
    filter: &str,
) -> Result<Start, TickError> {
    let config = s.config;
    let Some(bytes) = state else {
        // Very first tick: the only time `since` is sent; afterwards Okta's cursor alone drives us.
        let since = s
            .env
            .now_ms()
            .saturating_sub(u64::from(config.backfill_days) * DAY_MS);
        let url = logs_url(&config.domain, s.tuning.page_size, filter, Some(since));
        return Ok(Start {
            url,
            recent: Recent::default(),
            committed: None,
        });
    };
    let st = CursorState::parse(&bytes)?;
    let state_err = |why: String| {
        TickError::new(
            ErrorKind::State,
            format!("stored cursor is unusable ({why}); remove and add the instance again to start over"),
        )
    };
    let query = validate_logs_url(&st.next, &config.domain).map_err(state_err)?;
    let url = if st.filter == filter {
        st.next.clone()
    } else {
        // Categories changed: continue from the same position with the new filter.
        let after =
            query_param(query, "after").ok_or_else(|| state_err("no after parameter".into()))?;
        logs_url_after(&config.domain, s.tuning.page_size, filter, after)
    };
    Ok(Start {
        url,
        recent: Recent::from_list(st.recent),
        committed: Some(bytes),
    })
}

fn pages<E: Env>(
    s: &mut Session<'_, E>,
    state: Option<Vec<u8>>,
    report: &mut TickReport,
) -> Result<(), TickError> {
    let config: &InstanceConfig = s.config;
    let filter = selected_filter(config.categories)?;
    let Start {
        mut url,
        mut recent,
        mut committed,
    } = start(s, state, &filter)?;
    let mut pace = Pace::None;
    while report.pages < s.tuning.max_pages {
        s.pace(pace)?;
        // Fetch the following page ahead only if this tick will ask for it.
        s.prefetch = report.pages + 1 < s.tuning.max_pages;
        let outcome = s.with_page(&url, |s, resp, page, page_pace| {
            report.pages += 1;
            let next = next_link(&resp.headers).ok_or_else(|| no_next(resp.status))?;
            validate_logs_url(next, &config.domain).map_err(|why| bad_next(resp.status, &why))?;

            let mut events = Vec::with_capacity(page.len());
            let mut seen: HashSet<&str> = HashSet::with_capacity(page.len());
            for ev in &page {
                if recent.contains(&ev.uuid) || !seen.insert(&ev.uuid) {
                    report.duplicates += 1;
                    continue;
                }
                let categories = classify(&ev.event_type, config.categories);
                if categories.is_empty() {
                    report.filtered += 1; // the query filter should exclude these; we check anyway
                    continue;
                }
                events.push(Event {
                    uuid: ev.uuid.to_string(),
                    event_type: ev.event_type.to_string(),
                    published: ev.published.to_string(),
                    categories,
                    raw: ev.raw.to_string(),
                });
            }
            for e in &events {
                recent.push(e.uuid.clone());
            }
            let new_state = recent.state_bytes(next, &filter);
            // Events and cursor move together. A page of only filtered/duplicate events still moves the
            // cursor; an empty page commits only when it changes the cursor.
            if !page.is_empty() || committed.as_deref() != Some(&new_state[..]) {
                let n = events.len() as u32;
                s.env.commit_page(events, new_state.clone()).map_err(|e| {
                    TickError::new(ErrorKind::Host, format!("the host could not commit a page ({e}); the page is fetched again next tick"))
                })?;
                report.events += n;
                committed = Some(new_state);
            }
            Ok((page.is_empty(), next.to_string(), page_pace))
        })?;
        let (empty, next, page_pace) = outcome;
        if empty {
            report.caught_up = true;
            return Ok(());
        }
        url = next;
        pace = page_pace;
    }
    Ok(())
}

fn no_next(status: u16) -> TickError {
    TickError::http(
        ErrorKind::BadResponse,
        "Okta sent a System Log page without a rel=\"next\" link; the cursor did not move, the next tick retries",
        status,
        None,
    )
}

fn bad_next(status: u16, why: &str) -> TickError {
    TickError::http(
        ErrorKind::BadResponse,
        format!("Okta sent an unacceptable next link ({why}); the cursor did not move, check the configured domain"),
        status,
        None,
    )
}
