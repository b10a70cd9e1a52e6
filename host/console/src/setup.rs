//! `/setup`: from an Okta domain to a running instance on one page, each step's result shown in place.
//! The steps (SETUP-UX §6): the org (normalised as typed, then probed: DNS, TLS, discovery); the key
//! (generated here, or uploaded; only its public half is ever shown); the Okta checklist in the Admin
//! Console's own words, each step ticked only when the test connection proves it; the test connection,
//! stage by stage; what to collect, each group with its count of the org's last 24 hours and the
//! backfill with an estimate of events and time (from one bounded sample, taken when the test passes or
//! on request); the review with the equivalent command; save. Nothing is saved until the test passes:
//! "save" runs it again and refuses otherwise. The one exception is "save as draft": stored paused and
//! untested, for a setup waiting on someone in Okta; it ticks only once resumed.
//!
//! The page's state travels in the form (domain, client id, the key's `kid`, choices); the key itself
//! stays in `<keys dir>/<kid>.pem` on this host, found by its `kid`.

use crate::pages::{page, redirect, Flash};
use crate::Shared;
use askama::Template;
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::response::Response;
use okta_ingest::setup::{
    describe_group, suggest_domain, ConnectionTest, OrgProbe, ProbeFailure, Stage, StageState,
};
use okta_ingest::{
    keys, Categories, DpopMode, EventSample, NewInstance, PublicKeyInfo, MAX_BACKFILL_DAYS,
};
use std::path::{Path, PathBuf};

/// What the form carries between steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetupForm {
    pub(crate) action: String,
    pub(crate) domain: String,
    pub(crate) name: String,
    pub(crate) client_id: String,
    pub(crate) kid: String,
    /// An uploaded private key (PEM): written to the keys directory, never rendered back.
    private_key: String,
    pub(crate) ca_file: String,
    pub(crate) backfill_days: String,
    pub(crate) dpop: String,
    pub(crate) categories: Vec<String>,
    /// Minutes without an event before the instance counts as silent; empty or 0: off.
    pub(crate) silence_minutes: String,
}

impl SetupForm {
    fn initial() -> SetupForm {
        SetupForm {
            backfill_days: "7".into(),
            dpop: "auto".into(),
            silence_minutes: (okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() / 60).to_string(),
            categories: Categories::DEFAULT
                .names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            ..SetupForm::default()
        }
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> SetupForm {
        let mut f = SetupForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "action" => f.action = v,
                "domain" => f.domain = v.trim().to_string(),
                "name" => f.name = v.trim().to_string(),
                "client_id" => f.client_id = v.trim().to_string(),
                "kid" => f.kid = v.trim().to_string(),
                "private_key" => f.private_key = v,
                "ca_file" => f.ca_file = v.trim().to_string(),
                "backfill_days" => f.backfill_days = v.trim().to_string(),
                "dpop" => f.dpop = v,
                "category" => f.categories.push(v),
                "silence_minutes" => f.silence_minutes = v.trim().to_string(),
                _ => {}
            }
        }
        f
    }

    fn categories(&self) -> Categories {
        let mut c = Categories::NONE;
        for name in &self.categories {
            if let Some(one) = Categories::from_name(name) {
                c = Categories::from_bits(c.bits() | one.bits());
            }
        }
        c
    }

    /// The instance name: as given, else the org's first label (`acme` for `acme.okta.com`).
    fn instance_name(&self, domain: Option<&str>) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        domain
            .and_then(|d| d.split(['.', ':']).next())
            .map(str::to_string)
            .unwrap_or_default()
    }
}

/// One Okta checklist step and the test stage that proves it.
pub(crate) struct ChecklistStep {
    pub(crate) text: String,
    pub(crate) state: &'static str,
}

/// One stage row.
pub(crate) struct StageRow {
    pub(crate) title: &'static str,
    pub(crate) state: &'static str,
    pub(crate) mark: &'static str,
    pub(crate) detail: String,
    pub(crate) fix: String,
    pub(crate) answer: String,
}

/// One category checkbox.
pub(crate) struct CategoryBox {
    pub(crate) name: &'static str,
    pub(crate) checked: bool,
    pub(crate) title: String,
    /// The first few event types, then how many more.
    pub(crate) examples: String,
    /// What the org's sample holds of it (empty before a sample).
    pub(crate) count: String,
    pub(crate) event_types: Vec<String>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    pub(crate) flash: Option<Flash>,
    pub(crate) form: SetupForm,
    pub(crate) domain_note: String,
    pub(crate) canonical_domain: String,
    pub(crate) probe_ok: Option<OrgProbe>,
    pub(crate) probe_failed: Option<ProbeFailure>,
    pub(crate) key: Option<PublicKeyInfo>,
    pub(crate) key_path: String,
    pub(crate) checklist: Vec<ChecklistStep>,
    pub(crate) stages: Vec<StageRow>,
    pub(crate) test_passed: bool,
    pub(crate) category_boxes: Vec<CategoryBox>,
    /// What the sample says of the chosen backfill; or why there is no sample (empty before one).
    pub(crate) estimate: String,
    pub(crate) sample_failed: String,
    pub(crate) backfill_max: u8,
    pub(crate) command: String,
    pub(crate) sink: String,
    pub(crate) instance_name: String,
}

/// `GET /setup`.
pub(crate) async fn start(State(console): State<Shared>) -> Response {
    render(&console, SetupForm::initial(), Outcome::default()).await
}

/// What a step found, for the page to show.
#[derive(Default)]
struct Outcome {
    flash: Option<Flash>,
    probe: Option<Result<OrgProbe, ProbeFailure>>,
    test: Option<ConnectionTest>,
    /// The org's sample, or why it could not be taken.
    sample: Option<Result<EventSample, String>>,
}

/// `POST /setup`: one step (`action` = probe, generate, upload, test, sample, save or draft).
pub(crate) async fn step(
    State(console): State<Shared>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let mut form = SetupForm::from_pairs(pairs);
    let keys_dir = console.options.keys_dir.clone();
    let mut out = Outcome::default();
    let (flash, probe, test) = (&mut out.flash, &mut out.probe, &mut out.test);
    match form.action.as_str() {
        "probe" => match suggest_domain(&form.domain) {
            Ok(s) => {
                let ca = non_empty(&form.ca_file).map(PathBuf::from);
                match console.host.probe_org(&s.domain, ca.as_deref()).await {
                    Ok(p) => *probe = Some(p),
                    Err(e) => *flash = Some(Flash::error(e.to_string())),
                }
            }
            Err(e) => *flash = Some(Flash::error(e.to_string())),
        },
        "generate" => match generate(&keys_dir).await {
            Ok(info) => {
                *flash = Some(Flash::ok(format!(
                    "A new {}-bit RSA key was made on this machine (kid {}). Its private half stays here; paste the public JWK below into Okta.",
                    info.bits, info.kid
                )));
                form.kid = info.kid;
            }
            Err(e) => *flash = Some(Flash::error(e)),
        },
        "upload" => {
            let text = std::mem::take(&mut form.private_key);
            match keys::store_private_pem(&keys_dir, &text) {
                Ok((_, info)) => {
                    *flash = Some(Flash::ok(format!(
                        "Key accepted (kid {}); it is stored on this machine and will not be shown again.",
                        info.kid
                    )));
                    form.kid = info.kid;
                }
                Err(e) => *flash = Some(Flash::error(e.to_string())),
            }
        }
        "test" | "save" => match new_instance(&form, &keys_dir) {
            Ok(new) => match console.host.test_connection(&new).await {
                Ok(t) if t.passed && form.action == "save" => {
                    return save(&console, new, &headers, false).await;
                }
                Ok(t) => {
                    if form.action == "save" {
                        *flash = Some(Flash::error(
                            "Not saved: the test connection must pass first (see the failed stage below).".into(),
                        ));
                    }
                    // A passing test is the moment the counts become possible: take them at once.
                    if t.passed {
                        out.sample = Some(sample(&console, &new).await);
                    }
                    *test = Some(t);
                }
                Err(e) => *flash = Some(Flash::error(e.to_string())),
            },
            Err(e) => *flash = Some(Flash::error(e)),
        },
        // Kept while something in Okta is still to do: stored paused, untested, ticking once resumed.
        "draft" => match new_instance(&form, &keys_dir) {
            Ok(new) => return save(&console, new, &headers, true).await,
            Err(e) => *flash = Some(Flash::error(e)),
        },
        "sample" => match new_instance(&form, &keys_dir) {
            Ok(new) => out.sample = Some(sample(&console, &new).await),
            Err(e) => *flash = Some(Flash::error(e)),
        },
        _ => {}
    }
    render(&console, form, out).await
}

/// The org's sample for the form's instance, or why not (Okta's refusal, an older connector).
async fn sample(console: &Shared, new: &NewInstance) -> Result<EventSample, String> {
    console
        .host
        .sample_org(new)
        .await
        .map_err(|e| format!("No counts: {e}"))
}

/// Saves an instance and sends the browser to its status page: a tested one (it polls at once), or a
/// draft (stored paused and untested; "check now" there tests it and "resume" starts it).
async fn save(console: &Shared, new: NewInstance, headers: &HeaderMap, draft: bool) -> Response {
    let name = new.name.clone();
    let saved = if draft {
        console.host.add_draft_instance(new).await
    } else {
        console.host.add_instance(new).await
    };
    match saved {
        Ok(_) => redirect(&format!("/instances/{}", urlencode(&name)), headers),
        Err(e) => page(&crate::pages::ErrorPage {
            flash: Some(Flash::error(format!("Not saved: {e}"))),
        }),
    }
}

/// Percent-encodes an instance name for a path (names are letters, digits, `-`, `_`, `.`; anything else
/// is encoded anyway).
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

/// A `kid` is an RFC 7638 thumbprint: 43 base64url characters. Checked before it becomes a file name.
fn kid_ok(kid: &str) -> bool {
    kid.len() == 43
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn key_path(keys_dir: &Path, kid: &str) -> Option<PathBuf> {
    kid_ok(kid).then(|| keys_dir.join(format!("{kid}.pem")))
}

/// Generates a key off the async threads (RSA key generation takes a moment) and stores it.
async fn generate(keys_dir: &Path) -> Result<PublicKeyInfo, String> {
    let dir = keys_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let key = okta_ingest::GeneratedKey::generate().map_err(|e| e.to_string())?;
        let info = key.public().clone();
        let path = dir.join(format!("{}.pem", info.kid));
        key.write_private_pem(&path).map_err(|e| e.to_string())?;
        Ok(info)
    })
    .await
    .map_err(|e| format!("key generation stopped: {e}"))?
}

/// The instance the form describes, or what is missing.
fn new_instance(form: &SetupForm, keys_dir: &Path) -> Result<NewInstance, String> {
    let domain = suggest_domain(&form.domain)
        .map_err(|e| e.to_string())?
        .domain;
    if form.client_id.is_empty() {
        return Err("Give the app's Client ID (step 3).".into());
    }
    let Some(private_key) = key_path(keys_dir, &form.kid) else {
        return Err("Generate a key or upload one first (step 2).".into());
    };
    let backfill_days = form
        .backfill_days
        .parse::<u8>()
        .ok()
        .filter(|d| *d <= MAX_BACKFILL_DAYS)
        .ok_or_else(|| {
            format!("The backfill is a whole number of days from 0 to {MAX_BACKFILL_DAYS}.")
        })?;
    let categories = form.categories();
    if categories.is_empty() {
        return Err("Select at least one event group (step 5).".into());
    }
    Ok(NewInstance {
        exclusions: Default::default(),
        redaction: Default::default(),
        name: form.instance_name(Some(&domain)),
        domain,
        client_id: form.client_id.clone(),
        private_key,
        key_id: Some(form.kid.clone()),
        backfill_days,
        categories,
        ca_file: non_empty(&form.ca_file).map(PathBuf::from),
        dpop: DpopMode::parse(&form.dpop).unwrap_or(DpopMode::Auto),
        silence_after: match form.silence_minutes.as_str() {
            "" | "0" => None,
            m => Some(std::time::Duration::from_secs(
                60 * m.parse::<u64>().map_err(|_| {
                    "The silence alert is a whole number of minutes (0: off).".to_string()
                })?,
            )),
        },
    })
}

/// The command line that sets up the same instance.
fn command(form: &SetupForm, domain: &str, key: &str) -> String {
    let mut c = format!(
        "okta-ingest instance add {} --domain {} --client-id {} --private-key {} --key-id {} --backfill-days {} --events {}",
        form.instance_name(Some(domain)),
        domain,
        if form.client_id.is_empty() { "CLIENT_ID" } else { &form.client_id },
        key,
        if form.kid.is_empty() { "KID" } else { &form.kid },
        if form.backfill_days.is_empty() { "7" } else { &form.backfill_days },
        form.categories().names().join(","),
    );
    let default_minutes = (okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() / 60).to_string();
    match form.silence_minutes.as_str() {
        "" | "0" => c.push_str(" --silence-alert off"),
        m if m == default_minutes => {}
        m => c.push_str(&format!(" --silence-alert {m}m")),
    }
    if form.dpop != "auto" && !form.dpop.is_empty() {
        c.push_str(&format!(" --dpop {}", form.dpop));
    }
    if !form.ca_file.is_empty() {
        c.push_str(&format!(" --ca-file {}", form.ca_file));
    }
    c
}

async fn render(console: &Shared, form: SetupForm, out: Outcome) -> Response {
    let Outcome {
        flash,
        probe,
        test,
        sample,
    } = out;
    let (sample, sample_failed) = match sample {
        Some(Ok(s)) => (Some(s), String::new()),
        Some(Err(e)) => (None, e),
        None => (None, String::new()),
    };
    let keys_dir = &console.options.keys_dir;
    let (canonical_domain, domain_note) = match suggest_domain(&form.domain) {
        Ok(s) => (s.domain, s.note.unwrap_or_default()),
        Err(_) => (String::new(), String::new()),
    };
    let (probe_ok, probe_failed) = match probe {
        Some(Ok(p)) => (Some(p), None),
        Some(Err(f)) => (None, Some(f)),
        None => (None, None),
    };
    let path = key_path(keys_dir, &form.kid);
    let key = path.as_ref().and_then(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        PublicKeyInfo::from_private_pem(&text).ok()
    });
    let key_path = path.map(|p| p.display().to_string()).unwrap_or_default();
    let state_of = |stage: Stage| match test
        .as_ref()
        .and_then(|t| t.stages.iter().find(|s| s.stage == stage))
        .map(|s| s.state)
    {
        Some(StageState::Passed) => "passed",
        Some(StageState::Failed) => "failed",
        _ => "pending",
    };
    let kid = if form.kid.is_empty() {
        "(generate a key first)".to_string()
    } else {
        form.kid.clone()
    };
    let checklist = okta_ingest::setup::okta_steps(&kid)
        .into_iter()
        .map(|step| ChecklistStep {
            text: step.text,
            state: state_of(step.proven_by),
        })
        .collect();
    let stages = test
        .as_ref()
        .map(|t| {
            t.stages
                .iter()
                .map(|s| StageRow {
                    title: s.title,
                    state: match s.state {
                        StageState::Passed => "passed",
                        StageState::Failed => "failed",
                        StageState::NotRun => "not-run",
                    },
                    mark: match s.state {
                        StageState::Passed => "✓",
                        StageState::Failed => "✗",
                        StageState::NotRun => "·",
                    },
                    detail: s.detail.clone(),
                    fix: s.fix.clone().unwrap_or_default(),
                    answer: s.okta_answer().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let selected = form.categories();
    let groups = okta_ingest::setup::event_groups();
    let category_boxes = Categories::NAMED
        .iter()
        .map(|(name, c)| {
            let group = groups.iter().find(|g| g.name == *name);
            let event_types = group.map(|g| g.event_types.clone()).unwrap_or_default();
            let mut examples = event_types
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if event_types.len() > 3 {
                examples.push_str(&format!(" and {} more", event_types.len() - 3));
            }
            CategoryBox {
                name,
                count: sample
                    .as_ref()
                    .and_then(|s| describe_group(s, *c))
                    .unwrap_or_default(),
                checked: selected.contains(*c),
                title: group.map_or_else(|| name.to_string(), |g| g.title.clone()),
                examples,
                event_types,
            }
        })
        .collect();
    let shown_domain = if canonical_domain.is_empty() {
        "DOMAIN"
    } else {
        &canonical_domain
    };
    let command = command(
        &form,
        shown_domain,
        if key_path.is_empty() {
            "KEY.pem"
        } else {
            &key_path
        },
    );
    let instance_name = form.instance_name(non_empty(&canonical_domain));
    let days = form.backfill_days.parse::<u8>().unwrap_or(0);
    let estimate = match (&sample, selected.is_empty()) {
        (Some(s), false) => console
            .host
            .estimate_backfill(s, selected, days)
            .map(|e| {
                format!(
                    "A backfill of {days} days of the selected groups: {}.",
                    e.describe()
                )
            })
            .unwrap_or_default(),
        (Some(_), true) => "Select a group to see an estimate.".to_string(),
        (None, _) => String::new(),
    };
    page(&SetupPage {
        flash,
        domain_note,
        probe_ok,
        probe_failed,
        key,
        key_path,
        checklist,
        stages,
        test_passed: test.as_ref().is_some_and(|t| t.passed),
        category_boxes,
        estimate,
        sample_failed,
        backfill_max: MAX_BACKFILL_DAYS,
        command,
        sink: console.options.sink.clone(),
        instance_name,
        canonical_domain,
        form,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kid_must_be_a_thumbprint_before_it_names_a_file() {
        let dir = Path::new("/keys");
        let kid = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(key_path(dir, kid), Some(dir.join(format!("{kid}.pem"))));
        for bad in [
            "",
            "../../etc/passwd",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X/",
            "short",
        ] {
            assert_eq!(key_path(dir, bad), None, "{bad}");
        }
    }

    #[test]
    fn the_form_reads_repeated_categories_and_names_the_instance_after_the_org() {
        let f = SetupForm::from_pairs(vec![
            ("domain".into(), " acme.okta.com ".into()),
            ("category".into(), "security".into()),
            ("category".into(), "itp".into()),
            ("category".into(), "nonsense".into()),
        ]);
        assert_eq!(f.categories().names(), vec!["security", "itp"]);
        assert_eq!(f.instance_name(Some("acme.okta.com")), "acme");
        assert_eq!(f.domain, "acme.okta.com");
    }
}
