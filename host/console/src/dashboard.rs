//! The console after setup: every instance's state line and figures (refreshed in place every 5 s),
//! one instance's page with its actions (check now, pause and resume, rotate its key, change its event
//! groups, remove with confirmation).

use crate::pages::{page, redirect, ErrorPage, Flash};
use crate::setup::urlencode;
use crate::Shared;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use okta_ingest::{InstanceStatus, LastOutcome, Phase, TokenScheme};
use okta_ingest_model::time::format_s;

/// One instance as the pages show it.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) href: String,
    /// `configured`, `backfilling`, `live`, `failing` (the CSS class too).
    pub(crate) phase: &'static str,
    /// The state line: `live: lag 2m 5s, last poll …`.
    pub(crate) state_line: String,
    pub(crate) token: String,
    pub(crate) events_total: u64,
    pub(crate) events_24h: u64,
    pub(crate) events_last_tick: u64,
    pub(crate) queued: i64,
    pub(crate) newest: String,
    pub(crate) last_tick: String,
    pub(crate) connector: String,
    pub(crate) error: String,
    /// Its silence alert fires.
    pub(crate) silent: bool,
}

fn seconds(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(|m| u64::try_from(m).ok())
        .filter(|m| *m > 0)
        .map_or_else(|| "never".into(), format_s)
}

impl Row {
    pub(crate) fn of(s: &InstanceStatus) -> Row {
        let lag = s.cursor_lag.map_or_else(|| "-".into(), seconds);
        let mut state_line = match s.phase {
            Phase::Configured => "configured: waiting for its first poll".to_string(),
            Phase::Backfilling { percent } => format!(
                "backfilling: {percent}% done, cursor at {}",
                s.last_published.as_deref().unwrap_or("the start")
            ),
            Phase::Live => format!("live: lag {lag}, last poll {}", when(s.last_tick_ms)),
            Phase::Paused => {
                "paused: no polls until it is resumed (queued events are still delivered)"
                    .to_string()
            }
            Phase::Failing => format!(
                "failing: {}",
                s.last_error.as_deref().unwrap_or("the last poll failed")
            ),
        };
        if s.silent() {
            state_line.push_str(&format!(
                "; SILENT: no events for {} (alert after {})",
                seconds(s.since_last_event),
                s.silence_after.map_or_else(String::new, seconds)
            ));
        }
        Row {
            silent: s.silent(),
            name: s.name.clone(),
            href: format!("/instances/{}", urlencode(&s.name)),
            phase: s.phase.as_str(),
            state_line,
            token: match s.token_scheme {
                Some(TokenScheme::Dpop) => "authenticated (DPoP)".into(),
                Some(TokenScheme::Bearer) => "authenticated (Bearer)".into(),
                None if s.last_outcome == Some(LastOutcome::Failed) => "not authenticated".into(),
                None => "no token yet".into(),
            },
            events_total: s.events_total,
            events_24h: s.events_24h,
            events_last_tick: s.events_last_tick,
            queued: s.outbox_depth,
            newest: s.last_published.clone().unwrap_or_else(|| "-".into()),
            last_tick: when(s.last_tick_ms),
            connector: s.connector.clone(),
            error: s.last_error.clone().unwrap_or_default(),
        }
    }
}

/// One bar of the events chart (SVG coordinates).
pub(crate) struct Bar {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) height: u32,
    pub(crate) label: String,
}

/// Events per hour over 24 hours as an SVG bar chart, drawn on the server (no script, no library).
pub(crate) struct Chart {
    pub(crate) bars: Vec<Bar>,
    pub(crate) max: u64,
    pub(crate) total: u64,
}

impl Chart {
    /// Chart height in SVG units; bars are 20 wide with a 4 gap.
    const HEIGHT: u32 = 80;

    fn of(hours: &[u64]) -> Chart {
        let max = hours.iter().copied().max().unwrap_or(0);
        let n = hours.len();
        let bars = hours
            .iter()
            .enumerate()
            .map(|(i, &count)| {
                let height = if max == 0 {
                    0
                } else {
                    // At least 1 unit for any non-zero hour, so a quiet hour still shows.
                    ((count * u64::from(Chart::HEIGHT)).div_ceil(max)) as u32
                };
                Bar {
                    x: i as u32 * 24,
                    y: Chart::HEIGHT - height,
                    height,
                    label: format!("{} h ago: {count} events", n - 1 - i),
                }
            })
            .collect();
        Chart {
            bars,
            max,
            total: hours.iter().sum(),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub(crate) struct DashboardPage {
    pub(crate) flash: Option<Flash>,
    pub(crate) rows: Vec<Row>,
    pub(crate) queued: i64,
    pub(crate) sink: String,
}

#[derive(Template)]
#[template(path = "instances_fragment.html")]
pub(crate) struct InstancesFragment {
    pub(crate) rows: Vec<Row>,
    pub(crate) queued: i64,
}

#[derive(Template)]
#[template(path = "instance.html")]
pub(crate) struct InstancePage {
    pub(crate) flash: Option<Flash>,
    pub(crate) row: Row,
    pub(crate) domain: String,
    pub(crate) client_id: String,
    pub(crate) key_id: String,
    pub(crate) categories: String,
    /// Each event group: its name, title, and whether the instance collects it.
    pub(crate) groups: Vec<(&'static str, String, bool)>,
    pub(crate) backfill_days: u8,
    pub(crate) dpop: String,
    pub(crate) paused: bool,
    /// This process's counters for it.
    pub(crate) figures: okta_ingest::InstanceFigures,
    /// Its events per hour over the last 24 hours.
    pub(crate) chart: Chart,
    /// The new key of a rotation in progress (its public half).
    pub(crate) pending_key: Option<okta_ingest::PublicKeyInfo>,
}

async fn rows(console: &Shared) -> Result<(Vec<Row>, i64), String> {
    let all = console.host.status().await.map_err(|e| e.to_string())?;
    let queued = console
        .host
        .outbox_depth()
        .await
        .map_err(|e| e.to_string())?;
    Ok((all.iter().map(Row::of).collect(), queued))
}

/// `GET /`.
pub(crate) async fn index(State(console): State<Shared>) -> Response {
    let (rows, queued, flash) = match rows(&console).await {
        Ok((r, q)) => (r, q, None),
        Err(e) => (Vec::new(), 0, Some(Flash::error(e))),
    };
    page(&DashboardPage {
        flash,
        rows,
        queued,
        sink: console.options.sink.clone(),
    })
}

/// `GET /fragments/instances`: the live table, polled by the dashboard.
pub(crate) async fn instances_fragment(State(console): State<Shared>) -> Response {
    match rows(&console).await {
        Ok((rows, queued)) => page(&InstancesFragment { rows, queued }),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

async fn instance_view(console: &Shared, name: &str, flash: Option<Flash>) -> Response {
    let instance = match console.host.instance(name).await {
        Ok(i) => i,
        Err(e) => {
            let mut r = page(&ErrorPage {
                flash: Some(Flash::error(e.to_string())),
            });
            *r.status_mut() = StatusCode::NOT_FOUND;
            return r;
        }
    };
    let status = match console.host.status().await {
        Ok(all) => all.into_iter().find(|s| s.name == name),
        Err(e) => {
            return page(&ErrorPage {
                flash: Some(Flash::error(e.to_string())),
            })
        }
    };
    let Some(status) = status else {
        return page(&ErrorPage {
            flash: Some(Flash::error(format!("no instance named {name}"))),
        });
    };
    page(&InstancePage {
        flash,
        row: Row::of(&status),
        domain: instance.domain,
        client_id: instance.client_id,
        key_id: instance.key_id.unwrap_or_else(|| "-".into()),
        categories: instance.categories.names().join(", "),
        groups: okta_ingest::Categories::NAMED
            .iter()
            .map(|(name, c)| {
                let title = okta_ingest::setup::event_groups()
                    .into_iter()
                    .find(|g| g.name == *name)
                    .map_or_else(|| name.to_string(), |g| g.title);
                (*name, title, instance.categories.contains(*c))
            })
            .collect(),
        backfill_days: instance.backfill_days,
        dpop: instance.dpop.to_string(),
        paused: instance.paused,
        figures: console.host.metrics().figures(name).unwrap_or_default(),
        chart: Chart::of(&console.host.events_per_hour(name).await.unwrap_or_default()),
        pending_key: instance.pending_key.as_ref().and_then(|(path, _)| {
            let text = std::fs::read_to_string(path).ok()?;
            okta_ingest::PublicKeyInfo::from_private_pem(&text).ok()
        }),
    })
}

/// `GET /instances/{name}`.
pub(crate) async fn instance_page(
    State(console): State<Shared>,
    Path(name): Path<String>,
) -> Response {
    instance_view(&console, &name, None).await
}

/// `POST /instances/{name}/check`: the check a tick's token and first page would pass.
pub(crate) async fn check_now(State(console): State<Shared>, Path(name): Path<String>) -> Response {
    let flash = match console.host.check(&name).await {
        Ok(summary) => Flash::ok(summary),
        Err(e) => Flash::error(e.to_string()),
    };
    instance_view(&console, &name, Some(flash)).await
}

/// `POST /instances/{name}/pause` and `/resume`.
pub(crate) async fn pause(State(console): State<Shared>, Path(name): Path<String>) -> Response {
    set_paused(&console, &name, true).await
}

/// `POST /instances/{name}/resume`.
pub(crate) async fn resume(State(console): State<Shared>, Path(name): Path<String>) -> Response {
    set_paused(&console, &name, false).await
}

async fn set_paused(console: &Shared, name: &str, paused: bool) -> Response {
    let flash = match console.host.set_paused(name, paused).await {
        Ok(()) if paused => Flash::ok("Paused: it does not poll until you resume it.".into()),
        Ok(()) => Flash::ok("Resumed: it polls again within 10 seconds.".into()),
        Err(e) => Flash::error(e.to_string()),
    };
    instance_view(console, name, Some(flash)).await
}

/// `POST /instances/{name}/rotate`: a new key, shown to add in Okta; the instance keeps its key.
pub(crate) async fn rotate(State(console): State<Shared>, Path(name): Path<String>) -> Response {
    let flash = match console.host.start_key_rotation(&name).await {
        Ok(k) => Flash::ok(format!(
            "New key {} made. Add it in Okta (below), then check and switch; until then the instance keeps its current key.",
            k.kid
        )),
        Err(e) => Flash::error(e.to_string()),
    };
    instance_view(&console, &name, Some(flash)).await
}

/// `POST /instances/{name}/rotate/finish`: switches once a check with the new key passes.
pub(crate) async fn rotate_finish(
    State(console): State<Shared>,
    Path(name): Path<String>,
) -> Response {
    let flash = match console.host.finish_key_rotation(&name).await {
        Ok(done) => Flash::ok(format!(
            "Switched to key {}. {} In Okta, deactivate and delete the old key {}.",
            done.new_kid,
            if done.old_key.1 {
                "The old key file was deleted."
            } else {
                "The old key file was not made here and was left in place."
            },
            done.old_kid.as_deref().unwrap_or("")
        )),
        Err(e) => Flash::error(format!(
            "Not switched: the check with the new key failed: {e}. The instance keeps its current key."
        )),
    };
    instance_view(&console, &name, Some(flash)).await
}

/// `POST /instances/{name}/rotate/cancel`.
pub(crate) async fn rotate_cancel(
    State(console): State<Shared>,
    Path(name): Path<String>,
) -> Response {
    let flash = match console.host.cancel_key_rotation(&name).await {
        Ok(()) => Flash::ok("Rotation cancelled; the new key was deleted.".into()),
        Err(e) => Flash::error(e.to_string()),
    };
    instance_view(&console, &name, Some(flash)).await
}

/// `POST /instances/{name}/categories`: the event groups it collects from now on (repeated
/// `category` fields). A group added now starts at the instance's current position: no history.
pub(crate) async fn edit_categories(
    State(console): State<Shared>,
    Path(name): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let picked = pairs
        .iter()
        .filter(|(k, _)| k == "category")
        .filter_map(|(_, v)| okta_ingest::Categories::from_name(v))
        .fold(okta_ingest::Categories::NONE, |acc, c| acc | c);
    let edit = okta_ingest::EditInstance {
        categories: Some(picked),
        ..okta_ingest::EditInstance::default()
    };
    let flash = match console.host.edit_instance(&name, edit).await {
        Ok(_) => Flash::ok(format!(
            "Now collecting {}. A group added now is collected from the current position on, without history.",
            picked.names().join(", ")
        )),
        Err(e) => Flash::error(format!("Not changed: {e}")),
    };
    instance_view(&console, &name, Some(flash)).await
}

/// The removal form: the name typed again.
#[derive(serde::Deserialize)]
pub(crate) struct RemoveForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /instances/{name}/remove`: only with the name typed as confirmation.
pub(crate) async fn remove(
    State(console): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RemoveForm>,
) -> Response {
    if form.confirm.trim() != name {
        let flash = Flash::error(format!(
            "Not removed: type the instance's name ({name}) to confirm."
        ));
        return instance_view(&console, &name, Some(flash)).await;
    }
    match console.host.remove_instance(&name).await {
        Ok(_) => redirect("/", &headers),
        Err(e) => instance_view(&console, &name, Some(Flash::error(e.to_string()))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_scales_to_the_busiest_hour_and_shows_quiet_ones() {
        let mut hours = vec![0u64; 24];
        hours[0] = 1;
        hours[23] = 200;
        let c = Chart::of(&hours);
        assert_eq!((c.max, c.total, c.bars.len()), (200, 201, 24));
        assert_eq!(c.bars[23].height, Chart::HEIGHT);
        assert_eq!(c.bars[0].height, 1, "a single event still draws");
        assert_eq!(c.bars[1].height, 0);
        assert_eq!(c.bars[0].label, "23 h ago: 1 events");
        assert_eq!(c.bars[23].x, 23 * 24);
        assert!(Chart::of(&[0; 24]).bars.iter().all(|b| b.height == 0));
    }
}
