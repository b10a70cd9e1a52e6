//! `setup` on a terminal (cliclack): the org (the domain checked as typed, an optional CA file, the
//! probe), the key (made here, or the user's file), the Okta checklist, the Client ID, the staged test
//! (again and again until it passes, or quit), a count of the org's last 24 hours, what to collect (each
//! group with its count) and the backfill (with its estimate), the name, a review, save. Then the
//! `instance add` line that does the same and what to run next.
//!
//! Esc or Ctrl-C at a prompt, or SIGINT/SIGTERM/SIGHUP at any time, ends it with exit code 130 and
//! nothing saved; choosing to quit ends it with 1. Either way a key made in this run is removed again
//! ([`PendingKey`]). Each prompt runs on a blocking thread, raced against the signals: the prompt
//! crate is synchronous, and a signal must not wait for the next key press.

use super::answers::DEFAULT_BACKFILL_DAYS;
use super::key::{read_public, PendingKey};
use super::report::{print_epilogue, saved, stage_lines};
use crate::commands::open;
use crate::signals::Shutdown;
use okta_ingest::setup::{
    describe_group, event_groups, okta_steps, suggest_domain, ConnectionTest, OrgProbe,
};
use okta_ingest::{
    Categories, DpopMode, EventSample, Host, NewInstance, PublicKeyInfo, DEFAULT_SILENCE_AFTER,
};
use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tokio::sync::watch;

/// Why the wizard stopped before saving: carried as an error, so every step can end the run with `?`.
#[derive(Debug)]
enum Stop {
    /// Esc, Ctrl-C or a signal.
    Cancelled,
    /// The user chose to quit.
    Quit,
}

impl Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stop::Cancelled => "cancelled",
            Stop::Quit => "quit",
        })
    }
}

impl std::error::Error for Stop {}

/// The org as probed.
struct Org {
    domain: String,
    ca_file: Option<PathBuf>,
}

/// The key the instance signs with.
struct Key {
    path: PathBuf,
    key_id: Option<String>,
    public: PublicKeyInfo,
}

/// One run of the wizard.
struct Wizard<'a> {
    host: Host,
    db: &'a Path,
    shutdown: Shutdown,
    hangup: watch::Receiver<bool>,
    /// A key made in this run, removed unless the instance is saved.
    generated: Option<PendingKey>,
}

/// Runs the wizard on the terminal.
pub(super) async fn run(db: &Path) -> anyhow::Result<ExitCode> {
    let mut wizard = Wizard {
        host: open(db).await?,
        db,
        shutdown: Shutdown::install(),
        hangup: watch_hangup(),
        generated: None,
    };
    let result = wizard.steps().await;
    let removed_key = wizard.generated.take().is_some();
    let why = match result {
        Ok(code) => return Ok(code),
        Err(e) => match e.downcast_ref::<Stop>() {
            Some(stop) => match stop {
                Stop::Cancelled => crate::signals::interrupted(),
                Stop::Quit => ExitCode::FAILURE,
            },
            None => {
                cliclack::outro_cancel("Stopped: nothing was saved")?;
                return Err(e);
            }
        },
    };
    let key_note = if removed_key {
        " (the key made in this run was removed: if you added it to an app in Okta, delete it there too)"
    } else {
        ""
    };
    cliclack::outro_cancel(format!("Nothing was saved{key_note}."))?;
    Ok(why)
}

impl Wizard<'_> {
    async fn steps(&mut self) -> anyhow::Result<ExitCode> {
        cliclack::intro("okta-ingest setup")?;
        cliclack::log::remark(
            "Connects one Okta org: its domain, a key, four steps in the Okta Admin Console, a test.\nNothing is saved until the test connection passes. Esc or Ctrl-C quits.",
        )?;
        let org = self.org().await?;
        let provisional_name = super::default_name(&org.domain);
        let key = self.key(&provisional_name).await?;
        self.show_okta_steps(&key)?;
        let tested = self
            .test_until_passed(&org, &key, &provisional_name)
            .await?;
        let client_id = tested.client_id.clone();
        let sample = self.sample(&tested).await?;
        let categories = self.categories(sample.as_ref()).await?;
        let backfill_days = self.backfill(sample.as_ref(), categories).await?;
        let name = self.name(provisional_name).await?;
        let mut new = NewInstance {
            exclusions: Default::default(),
            redaction: Default::default(),
            name,
            domain: org.domain,
            client_id,
            private_key: key.path,
            key_id: key.key_id,
            backfill_days,
            categories,
            ca_file: org.ca_file,
            dpop: DpopMode::Auto,
            silence_after: Some(DEFAULT_SILENCE_AFTER),
        };
        self.review(&new).await?;
        if let Some(generated) = &mut self.generated {
            generated.rename(&new.name)?;
            new.private_key = generated.path().to_path_buf();
        }
        let rec = self.host.add_instance(new).await?;
        if let Some(generated) = self.generated.take() {
            generated.keep();
        }
        cliclack::outro(saved(&rec))?;
        print_epilogue(self.db, &rec)?;
        Ok(ExitCode::SUCCESS)
    }

    /// The org: asked until it answers as an Okta org.
    async fn org(&mut self) -> anyhow::Result<Org> {
        let mut typed = String::new();
        let mut ca_typed = String::new();
        loop {
            let before = typed.clone();
            typed = self
                .ask(move || {
                    let placeholder = if before.is_empty() {
                        "acme.okta.com (the Admin Console address works too)".to_string()
                    } else {
                        format!("{before} (Enter keeps it)")
                    };
                    cliclack::input("Okta domain")
                        .placeholder(&placeholder)
                        .default_input(&before)
                        .validate(|s: &String| suggest_domain(s).map(|_| ()))
                        .interact::<String>()
                })
                .await?;
            let suggestion = suggest_domain(&typed)?;
            if let Some(note) = &suggestion.note {
                cliclack::log::warning(format!("{note}: using {}", suggestion.domain))?;
            }
            let domain = suggestion.domain;
            let before = ca_typed.clone();
            ca_typed = self
                .ask(move || {
                    let placeholder = if before.is_empty() {
                        "empty: the system's trusted roots".to_string()
                    } else {
                        format!("{before} (Enter keeps it; none: the system's trusted roots)")
                    };
                    cliclack::input("CA file to trust for it (only behind a TLS-inspecting proxy)")
                        .placeholder(&placeholder)
                        .default_input(&before)
                        .required(false)
                        .validate(|s: &String| match ca_path(s) {
                            Some(p) if !p.is_file() => Err(format!("no file at {}", p.display())),
                            _ => Ok(()),
                        })
                        .interact::<String>()
                })
                .await?;
            let ca_file = ca_path(&ca_typed);
            let (spinner, probed) = self
                .spin(
                    format!("Looking up {domain}: DNS, TLS, discovery document"),
                    self.host.probe_org(&domain, ca_file.as_deref()),
                )
                .await?;
            match probed {
                Ok(Ok(probe)) => {
                    spinner.stop(found(&probe));
                    return Ok(Org { domain, ca_file });
                }
                Ok(Err(failure)) => {
                    spinner.error(format!("{}: {}", failure.step, failure.detail));
                    cliclack::log::info(format!("Fix: {}", failure.fix))?;
                }
                Err(e) => spinner.error(e),
            }
            cliclack::log::remark("Give the domain (and CA file) again; Esc quits.")?;
        }
    }

    /// The key: made here (recommended) or the user's file.
    async fn key(&mut self, provisional_name: &str) -> anyhow::Result<Key> {
        let choice = self
            .ask(|| {
                cliclack::select("The key okta-ingest signs its token requests with")
                    .item(
                        "generate",
                        "Generate a key here (recommended)",
                        "its private half never leaves this machine",
                    )
                    .item(
                        "existing",
                        "Use an existing private key file",
                        "RSA, PEM (PKCS#1 or PKCS#8)",
                    )
                    .interact()
            })
            .await?;
        if choice == "generate" {
            let (spinner, made) = self
                .spin(
                    "Generating an RSA key",
                    tokio::task::spawn_blocking(okta_ingest::GeneratedKey::generate),
                )
                .await?;
            let pending = PendingKey::write(
                made??,
                &crate::state_location::local_path(self.db),
                provisional_name,
            )?;
            spinner.stop(format!(
                "Key made: {} (mode 0600; it never leaves this machine)",
                pending.path().display()
            ));
            let key = Key {
                path: pending.path().to_path_buf(),
                key_id: Some(pending.public().kid.clone()),
                public: pending.public().clone(),
            };
            self.generated = Some(pending);
            return Ok(key);
        }
        let typed = self
            .ask(|| {
                cliclack::input("Private key file (PEM)")
                    .placeholder("/path/to/okta-app-key.pem")
                    .validate(|s: &String| {
                        read_public(&user_path(s))
                            .map(|_| ())
                            .map_err(|e| format!("{e:#}"))
                    })
                    .interact::<String>()
            })
            .await?;
        let path = user_path(&typed);
        let public = read_public(&path)?;
        cliclack::log::info(format!(
            "RSA {} bits; its thumbprint (the kid okta-ingest would give it) is {}",
            public.bits, public.kid
        ))?;
        let kid = self
            .ask(|| {
                cliclack::input("Key ID (kid) Okta shows for this key")
                    .placeholder("empty: the app has only this key")
                    .required(false)
                    .interact::<String>()
            })
            .await?;
        let kid = kid.trim();
        Ok(Key {
            path: std::path::absolute(&path).unwrap_or(path),
            key_id: (!kid.is_empty()).then(|| kid.to_string()),
            public,
        })
    }

    /// The public key to paste, then the steps in Okta's Admin Console. A key the user brings with the
    /// `kid` Okta gave it is in Okta already: its JWK (with another `kid`) would only mislead.
    fn show_okta_steps(&self, key: &Key) -> anyhow::Result<()> {
        let registered = self.generated.is_none() && key.key_id.is_some();
        if !registered {
            cliclack::log::step(
                "The public key, as Okta's \"Add key\" dialog takes it (copy it from here):",
            )?;
            // Plain lines, outside the prompt's frame, so they copy without its border.
            super::super::keygen::print_public_key(&key.public)?;
            outln!();
        }
        let kid = key.key_id.as_deref().unwrap_or(&key.public.kid);
        let steps: Vec<String> = okta_steps(kid)
            .into_iter()
            .enumerate()
            .map(|(i, step)| format!("{}. {}", i + 1, step.text))
            .collect();
        cliclack::log::step(format!(
            "Then, in Okta (the test that follows checks each step):\n{}",
            steps.join("\n")
        ))?;
        Ok(())
    }

    /// Asks for the Client ID and tests until every stage passes (or the user quits); the instance
    /// that passed (its collection choices are still the defaults).
    async fn test_until_passed(
        &mut self,
        org: &Org,
        key: &Key,
        provisional_name: &str,
    ) -> anyhow::Result<NewInstance> {
        let mut client_id = String::new();
        loop {
            if client_id.is_empty() {
                client_id = self
                    .ask(|| {
                        cliclack::input("Client ID of the app (General tab)")
                            .placeholder("0oa…")
                            .validate(|s: &String| {
                                let id = s.trim();
                                if id.is_empty() || !id.chars().all(|c| c.is_ascii_graphic()) {
                                    Err("the Client ID is one word, like 0oa1b2c3d4E5f6G7h8i9")
                                } else {
                                    Ok(())
                                }
                            })
                            .interact::<String>()
                    })
                    .await?
                    .trim()
                    .to_string();
            }
            // Only the connection is tested: what to collect and the name come once it works.
            let candidate = NewInstance {
                exclusions: Default::default(),
                redaction: Default::default(),
                name: provisional_name.to_string(),
                domain: org.domain.clone(),
                client_id: client_id.clone(),
                private_key: key.path.clone(),
                key_id: key.key_id.clone(),
                backfill_days: 0,
                categories: Categories::DEFAULT,
                ca_file: org.ca_file.clone(),
                dpop: DpopMode::Auto,
                silence_after: Some(DEFAULT_SILENCE_AFTER),
            };
            let (spinner, tested) = self
                .spin(
                    "Testing: the org, a token, one page of the System Log",
                    self.host.test_connection(&candidate),
                )
                .await?;
            match tested {
                Ok(test) if test.passed => {
                    spinner.stop("The test connection passed");
                    cliclack::log::success(stages(&test))?;
                    return Ok(candidate);
                }
                Ok(test) => {
                    let at = test.failed().map_or("a stage", |s| s.title);
                    spinner.error(format!("The test connection failed at {at}"));
                    cliclack::log::error(stages(&test))?;
                }
                Err(e) => spinner.error(format!("Cannot test: {e}")),
            }
            let next = self
                .ask(|| {
                    cliclack::select("Nothing is saved until the test passes. What now?")
                        .item("again", "Test again (after fixing it in Okta)", "")
                        .item("client", "Change the Client ID", "")
                        .item("quit", "Quit", "nothing is saved")
                        .interact()
                })
                .await?;
            match next {
                "again" => {}
                "client" => client_id.clear(),
                _ => return Err(Stop::Quit.into()),
            }
        }
    }

    /// One bounded read of the org's last 24 hours, to size the groups and the backfill. Not getting
    /// it (an older connector, Okta refusing) only costs the counts: the wizard goes on without them.
    async fn sample(&mut self, tested: &NewInstance) -> anyhow::Result<Option<EventSample>> {
        let (spinner, sampled) = self
            .spin(
                "Counting the org's events of the last 24 hours (one bounded read)",
                self.host.sample_org(tested),
            )
            .await?;
        Ok(match sampled {
            Ok(sample) => {
                spinner.stop(format!(
                    "Counted {} recent events in {} page(s)",
                    sample.events_in(Categories::ALL),
                    sample.pages
                ));
                Some(sample)
            }
            Err(e) => {
                spinner.error(format!("No counts: {e}"));
                None
            }
        })
    }

    /// The event groups to collect.
    async fn categories(&mut self, sample: Option<&EventSample>) -> anyhow::Result<Categories> {
        let hints: Vec<(&'static str, String)> = Categories::NAMED
            .iter()
            .map(|(name, c)| (*name, group_hint(name, sample, *c)))
            .collect();
        let picked = self
            .ask(move || {
                let mut prompt = cliclack::multiselect("Event groups to collect (Space toggles)")
                    .initial_values(Categories::DEFAULT.names())
                    .required(true);
                for (name, hint) in hints {
                    prompt = prompt.item(name, name, hint);
                }
                prompt.interact()
            })
            .await?;
        Ok(okta_ingest::parse_categories(&picked.join(","))?)
    }

    /// The days of history the first run fetches, then what they amount to at the sampled rate.
    async fn backfill(
        &mut self,
        sample: Option<&EventSample>,
        categories: Categories,
    ) -> anyhow::Result<u8> {
        let days = self
            .ask(|| {
                cliclack::input(format!(
                    "Days of history to fetch first (0 to {}; fixed once the instance is saved)",
                    okta_ingest::MAX_BACKFILL_DAYS
                ))
                .default_input(&DEFAULT_BACKFILL_DAYS.to_string())
                .validate(|s: &String| okta_ingest::parse_backfill(s).map(|_| ()))
                .interact::<String>()
            })
            .await?;
        let days = okta_ingest::parse_backfill(&days)?;
        if let Some(estimate) =
            sample.and_then(|s| self.host.estimate_backfill(s, categories, days))
        {
            cliclack::log::info(format!(
                "A backfill of {days} days at the sampled rate: {}",
                estimate.describe()
            ))?;
        }
        Ok(days)
    }

    /// The instance's name: any valid name no instance has.
    async fn name(&mut self, offered: String) -> anyhow::Result<String> {
        let taken: Vec<String> = self
            .host
            .list_instances()
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect();
        let name = self
            .ask(move || {
                cliclack::input("Instance name")
                    .default_input(&offered)
                    .validate(move |s: &String| {
                        okta_ingest::validate_name(s).map_err(|e| e.to_string())?;
                        if taken.contains(s) {
                            return Err(format!("an instance named {s} exists already"));
                        }
                        Ok(())
                    })
                    .interact::<String>()
            })
            .await?;
        Ok(name)
    }

    /// The summary, and the last chance not to save.
    async fn review(&mut self, new: &NewInstance) -> anyhow::Result<()> {
        cliclack::log::info(format!(
            "Instance {}: {} as client {}\nkey: {}{}\nevents: {}; backfill: {} days; DPoP: auto; silence alert after {}",
            new.name,
            new.domain,
            new.client_id,
            new.private_key.display(),
            new.key_id.as_deref().map(|k| format!(" (kid {k})")).unwrap_or_default(),
            new.categories,
            new.backfill_days,
            humantime::format_duration(DEFAULT_SILENCE_AFTER),
        ))?;
        let name = new.name.clone();
        let save = self
            .ask(move || {
                cliclack::confirm(format!("Save instance {name}?"))
                    .initial_value(true)
                    .interact()
            })
            .await?;
        if save {
            Ok(())
        } else {
            Err(Stop::Quit.into())
        }
    }

    /// Resolves at SIGINT, SIGTERM or SIGHUP.
    async fn stop_requested(&self) {
        let mut hangup = self.hangup.clone();
        let hung_up = async move {
            // An error means no handler: then no hangup will be seen.
            if hangup.wait_for(|h| *h).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = self.shutdown.clone().requested() => {}
            () = hung_up => {}
        }
    }

    /// One prompt, on a blocking thread (the prompt crate blocks on the terminal), raced against the
    /// signals. Esc and Ctrl-C at a prompt come back as `Interrupted`: the terminal is raw there.
    async fn ask<T: Send + 'static>(
        &self,
        prompt: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let answer = tokio::task::spawn_blocking(prompt);
        tokio::select! {
            answer = answer => match answer? {
                Ok(value) => Ok(value),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(Stop::Cancelled.into()),
                Err(e) => Err(e.into()),
            },
            () = self.stop_requested() => Err(Stop::Cancelled.into()),
        }
    }

    /// `work` under a spinner saying `message`, raced against the signals; the spinner is the caller's
    /// to stop with the outcome.
    async fn spin<T>(
        &self,
        message: impl Display,
        work: impl Future<Output = T>,
    ) -> anyhow::Result<(cliclack::ProgressBar, T)> {
        let spinner = cliclack::spinner();
        spinner.start(message);
        tokio::select! {
            out = work => Ok((spinner, out)),
            () = self.stop_requested() => {
                spinner.cancel("Stopped");
                Err(Stop::Cancelled.into())
            }
        }
    }
}

/// A flag raised when the terminal hangs up (SIGHUP): the wizard then ends as if cancelled, so a
/// closed terminal leaves no key behind either. Never raised where the handler cannot be installed.
fn watch_hangup() -> watch::Receiver<bool> {
    let (raised, flag) = watch::channel(false);
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hangup) = signal(SignalKind::hangup()) {
            hangup.recv().await;
            let _ = raised.send(true);
        }
    });
    #[cfg(not(unix))]
    drop(raised);
    flag
}

/// What the event group `name` holds, shown beside it: its title and, with a sample, its count and most
/// frequent event types; else a few of its event types from the spec the connector filters with.
fn group_hint(name: &str, sample: Option<&EventSample>, category: Categories) -> String {
    let Some(group) = event_groups().into_iter().find(|g| g.name == name) else {
        return String::new();
    };
    if let Some(counted) = sample.and_then(|s| describe_group(s, category)) {
        return format!("{}: {counted}", group.title);
    }
    let examples: Vec<&str> = group
        .event_types
        .iter()
        .take(3)
        .map(String::as_str)
        .collect();
    let more = if group.event_types.len() > examples.len() {
        ", …"
    } else {
        ""
    };
    format!("{}: {}{more}", group.title, examples.join(", "))
}

/// What the probe found, in one line.
fn found(probe: &OrgProbe) -> String {
    format!(
        "{} is an Okta org: issuer {}, token endpoint {}{}",
        probe.domain,
        probe.issuer,
        probe.token_endpoint,
        if probe.dpop_supported {
            " (DPoP supported)"
        } else {
            ""
        }
    )
}

/// The stages as lines.
fn stages(test: &ConnectionTest) -> String {
    stage_lines(test).join("\n")
}

/// The CA file typed, if any (`none` clears one typed before).
fn ca_path(typed: &str) -> Option<PathBuf> {
    match typed.trim() {
        "" | "none" => None,
        path => Some(user_path(path)),
    }
}

/// A path as typed at a prompt: trimmed, `~/` meaning the home directory (no shell expands it here).
fn user_path(typed: &str) -> PathBuf {
    let typed = typed.trim();
    match (typed.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(typed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_paths_are_trimmed_and_none_clears_the_ca_file() {
        assert_eq!(ca_path("  "), None);
        assert_eq!(ca_path("none"), None);
        assert_eq!(ca_path(" /etc/ca.pem "), Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(user_path("key.pem"), PathBuf::from("key.pem"));
    }
}
