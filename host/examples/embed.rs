//! Embedding okta-ingest in another tokio service, with a sink of your own.
//!
//! The "service" here consumes events from a channel and counts them per event type; okta-ingest feeds
//! that channel through a custom [`Sink`]. The example builds a [`Host`] from a state path
//! ([`HostConfig`]), adds an instance, subscribes to progress ([`Host::set_commit_observer`]), catches up
//! once ([`Host::run_once`]), then keeps polling on a schedule ([`Host::run`]) until a shutdown future
//! resolves, and prints a summary.
//!
//! Run it:
//!
//! ```sh
//! # Against the built-in Okta emulator (nothing to configure): 2,000 generated events, a fresh state dir.
//! cargo run -p okta-ingest-host --example embed
//! # Choose the number of emulated events and keep the state in DIR:
//! cargo run -p okta-ingest-host --example embed -- [DIR] [EVENTS]
//!
//! # Against a real Okta org (see README "Using it with a real Okta org" for the app set-up):
//! OKTA_DOMAIN=company.okta.com OKTA_CLIENT_ID=0oa1b2c3d4 OKTA_PRIVATE_KEY=./okta-app-key.pem \
//!     cargo run -p okta-ingest-host --example embed -- ./embed-state
//! ```
//!
//! Settings for a real org (environment variables; when `OKTA_DOMAIN` is unset the emulator is used):
//! - `OKTA_DOMAIN`: the org's domain, e.g. `company.okta.com`.
//! - `OKTA_CLIENT_ID`: client id of the API Services app.
//! - `OKTA_PRIVATE_KEY`: PEM file with the app's RSA private key.
//! - `OKTA_KEY_ID` (optional): `kid` of the registered key.
//! - `OKTA_BACKFILL_DAYS` (optional, default 1): history fetched on the first run, 0..=14.
//! - `OKTA_CA_FILE` (optional): extra CA certificates to trust (e.g. a TLS-inspecting proxy).
//! - `OKTA_EXAMPLE_FOLLOW=1` (optional): after catching up, keep polling every 5 minutes until Ctrl-C.
//!
//! The first argument is the state directory (default: a fresh temporary directory with the emulator,
//! `./embed-state` with a real org); its `state.db` keeps the cursor, so a second run continues where the
//! first stopped.

#![allow(
    dead_code,
    reason = "`main` is unused when tests/e2e/embed.rs includes this file as a module"
)]

use okta_emulator::{CommittedEvent, Emulator, EmulatorConfig};
use okta_ingest::{
    Categories, CommitStats, Host, HostConfig, NewInstance, OutboxEvent, RunSummary, Sink,
    SinkError,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// One event as the embedding service receives it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The instance that fetched it (okta-ingest's instance id).
    pub instance_id: i64,
    /// Okta `eventType`.
    pub event_type: String,
    /// The event JSON exactly as Okta sent it.
    pub raw: String,
}

/// A sink that hands events to the service through a bounded channel.
///
/// `write` runs on okta-ingest's delivery thread (not on the async runtime), so `blocking_send` is fine
/// and gives back-pressure. Returning `Ok` acknowledges the events: okta-ingest removes them from its
/// durable outbox. A sink that must not lose events across a crash should return only once they are
/// durable downstream; returning `Err` keeps them queued and delivery retries.
pub struct ChannelSink {
    tx: mpsc::Sender<Event>,
}

impl Sink for ChannelSink {
    fn id(&self) -> String {
        "channel:embed-example".into()
    }

    fn write(&mut self, events: &[OutboxEvent]) -> Result<(), SinkError> {
        for e in events {
            let event = Event {
                instance_id: e.instance_id,
                event_type: e.event_type.clone(),
                raw: e.raw.clone(),
            };
            self.tx.blocking_send(event).map_err(|_| SinkError::Other {
                sink: self.id(),
                message: "the service stopped consuming".into(),
            })?;
        }
        Ok(())
    }
}

/// What the service saw.
#[derive(Debug, Default)]
pub struct Summary {
    /// The result of the catch-up (`run_once`).
    pub run_once: RunSummary,
    /// Every event the service received, in delivery order (raw JSON).
    pub received: Vec<String>,
    /// Events received per event type.
    pub per_type: BTreeMap<String, u64>,
    /// Pages reported by the commit observer.
    pub observed_pages: u64,
    /// Events reported by the commit observer.
    pub observed_events: u64,
    /// Events the emulator committed (what a complete run must deliver, filtered by category); empty
    /// against a real org.
    pub source: Vec<CommittedEvent>,
}

impl Summary {
    /// Prints the summary.
    pub fn print(&self) {
        let r = &self.run_once;
        println!(
            "catch-up: {} events delivered in {:.1?}, {} queued{}",
            r.delivered,
            r.elapsed,
            r.queued,
            r.sink_error
                .as_deref()
                .map(|e| format!(", sink error: {e}"))
                .unwrap_or_default()
        );
        for i in &r.instances {
            println!(
                "  instance {}: {} ticks, {} pages, {} events, {} duplicates dropped, {} rate-limit waits{}",
                i.name,
                i.ticks,
                i.pages,
                i.events,
                i.duplicates,
                i.rate_limited,
                i.error
                    .as_deref()
                    .map(|e| format!(", error: {e}"))
                    .unwrap_or_default()
            );
        }
        println!(
            "service received {} events ({} pages / {} events committed per the observer):",
            self.received.len(),
            self.observed_pages,
            self.observed_events
        );
        for (ty, n) in &self.per_type {
            println!("  {n:>6}  {ty}");
        }
    }
}

/// Where the instance points.
enum Target {
    /// The built-in emulator with this many generated events.
    Emulator(usize),
    /// A real org, from the environment.
    Okta {
        domain: String,
        client_id: String,
        private_key: PathBuf,
        key_id: Option<String>,
        backfill_days: u8,
        ca_file: Option<PathBuf>,
        follow: bool,
    },
}

/// Runs the example against a fresh emulator with `events` generated events, state in `dir`.
pub async fn run_example(dir: &Path, events: usize) -> anyhow::Result<Summary> {
    run_target(dir, Target::Emulator(events)).await
}

async fn run_target(dir: &Path, target: Target) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir)?;

    // 1. The org: the emulator (registering a generated key) or a real one.
    let (emulator, new_instance, follow) = match target {
        Target::Emulator(events) => {
            let emulator = Emulator::start(EmulatorConfig {
                events,
                ..EmulatorConfig::default()
            })
            .await?;
            let client = okta_emulator::generate_client_key_pair("0oa-embed-example")?;
            emulator.register_client(okta_emulator::ClientRegistration::logs_reader(
                &client.client_id,
                &client.public_key_pem,
            ));
            std::fs::write(dir.join("key.pem"), &client.private_key_pem)?;
            std::fs::write(dir.join("ca.pem"), emulator.ca_pem())?;
            let new = NewInstance {
                exclusions: Default::default(),
                redaction: Default::default(),
                name: "emulated".into(),
                domain: emulator.domain(),
                client_id: client.client_id,
                private_key: dir.join("key.pem"),
                key_id: None,
                backfill_days: 14,
                categories: Categories::DEFAULT,
                ca_file: Some(dir.join("ca.pem")),
                dpop: okta_ingest::DpopMode::Auto,
                silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
            };
            (Some(emulator), new, true)
        }
        Target::Okta {
            domain,
            client_id,
            private_key,
            key_id,
            backfill_days,
            ca_file,
            follow,
        } => {
            let new = NewInstance {
                exclusions: Default::default(),
                redaction: Default::default(),
                name: "prod".into(),
                domain,
                client_id,
                private_key,
                key_id,
                backfill_days,
                categories: Categories::DEFAULT,
                ca_file,
                dpop: okta_ingest::DpopMode::Auto,
                silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
            };
            (None, new, follow)
        }
    };

    // 2. The host: state (cursor, outbox) in `dir/state.db`; the connector embedded in the library.
    let host = Host::open(HostConfig::new(dir.join("state.db")))?;
    let exists = host
        .list_instances()
        .await?
        .iter()
        .any(|i| i.name == new_instance.name);
    if exists && emulator.is_some() {
        host.remove_instance(&new_instance.name).await?; // a new emulator each run: start over
    }
    if !exists || emulator.is_some() {
        host.add_instance(new_instance).await?;
    }

    // 3. Progress: called after every committed page, on the ticking task (keep it cheap). `stats` is
    //    cumulative for the current tick (pages, events so far); a new tick starts again at page 1.
    let pages = Arc::new(AtomicU64::new(0));
    let committed = Arc::new(AtomicU64::new(0));
    {
        let (pages, committed) = (pages.clone(), committed.clone());
        let last: Mutex<BTreeMap<String, CommitStats>> = Mutex::default();
        host.set_commit_observer(Arc::new(move |instance: &str, stats: &CommitStats| {
            let mut last = last.lock().unwrap();
            let prev = last.entry(instance.to_string()).or_default();
            let (new_pages, new_events) = if stats.pages > prev.pages {
                (stats.pages - prev.pages, stats.events - prev.events) // same tick
            } else {
                (stats.pages, stats.events) // a new tick
            };
            *prev = stats.clone();
            pages.fetch_add(new_pages, Ordering::Relaxed);
            let total = committed.fetch_add(new_events, Ordering::Relaxed) + new_events;
            if new_events > 0 {
                eprintln!("[{instance}] +{new_events} events (total {total})");
            }
        }));
    }

    // 4. The service: consumes the channel and counts per event type.
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let seen = Arc::new(Mutex::new((
        Vec::<String>::new(),
        BTreeMap::<String, u64>::new(),
    )));
    let (count_tx, count_rx) = watch::channel(0usize);
    let service = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let mut s = seen.lock().unwrap();
                *s.1.entry(event.event_type).or_default() += 1;
                s.0.push(event.raw);
                count_tx.send_replace(s.0.len());
            }
        })
    };

    // 5. Catch up once: every instance ticks until caught up; delivery runs alongside.
    let run_once = host
        .run_once(Box::new(ChannelSink { tx: tx.clone() }))
        .await?;

    // 6. Keep polling on a schedule until a shutdown future resolves. With the emulator, a few new events
    //    are committed and the schedule stops once the service has them; with a real org (FOLLOW), Ctrl-C.
    if follow {
        let interval;
        let shutdown: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
        if let Some(emulator) = &emulator {
            let fresh = fresh_events(5);
            emulator.commit_events(fresh);
            let want = run_once.delivered as usize + 5;
            let mut count_rx = count_rx.clone();
            interval = Duration::from_millis(250);
            shutdown = Box::pin(async move {
                let reached = count_rx.wait_for(|n| *n >= want);
                tokio::select! {
                    _ = reached => {}
                    _ = tokio::signal::ctrl_c() => {}
                    _ = tokio::time::sleep(Duration::from_secs(60)) => {
                        eprintln!("gave up waiting for the new events");
                    }
                }
            });
        } else {
            interval = Duration::from_secs(300);
            eprintln!("caught up; polling every 5 minutes until Ctrl-C");
            shutdown = Box::pin(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        }
        host.run(Box::new(ChannelSink { tx: tx.clone() }), interval, shutdown)
            .await?;
    }

    // 7. Stop the service once okta-ingest has handed everything over.
    drop(tx);
    service.await?;
    let source = match emulator {
        Some(e) => {
            let source = e.committed();
            e.shutdown().await;
            source
        }
        None => Vec::new(),
    };
    let (received, per_type) = std::mem::take(&mut *seen.lock().unwrap());
    Ok(Summary {
        run_once,
        received,
        per_type,
        observed_pages: pages.load(Ordering::Relaxed),
        observed_events: committed.load(Ordering::Relaxed),
        source,
    })
}

/// `n` new events published now, in the default categories.
fn fresh_events(n: usize) -> Vec<serde_json::Value> {
    let now = okta_ingest_model::time::now_ms();
    let published = okta_ingest_model::time::format_ms(now);
    okta_emulator::minimal_events(
        n,
        &published,
        |i| format!("embed-{now}-{i}"),
        "embed example: new event",
    )
}

fn target_from_env(events: usize) -> anyhow::Result<Target> {
    let Ok(domain) = std::env::var("OKTA_DOMAIN") else {
        return Ok(Target::Emulator(events));
    };
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Ok(Target::Okta {
        domain,
        client_id: var("OKTA_CLIENT_ID")
            .ok_or_else(|| anyhow::anyhow!("OKTA_DOMAIN is set: set OKTA_CLIENT_ID too"))?,
        private_key: var("OKTA_PRIVATE_KEY")
            .ok_or_else(|| {
                anyhow::anyhow!("OKTA_DOMAIN is set: set OKTA_PRIVATE_KEY (PEM file) too")
            })?
            .into(),
        key_id: var("OKTA_KEY_ID"),
        backfill_days: var("OKTA_BACKFILL_DAYS")
            .map(|d| d.parse())
            .transpose()?
            .unwrap_or(1),
        ca_file: var("OKTA_CA_FILE").map(PathBuf::from),
        follow: var("OKTA_EXAMPLE_FOLLOW").is_some_and(|v| v != "0"),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir_arg = args.next().map(PathBuf::from);
    let events: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2_000);
    let target = target_from_env(events)?;
    let _temp; // a fresh directory for the emulator, removed at the end
    let dir = match (dir_arg, &target) {
        (Some(d), _) => d,
        (None, Target::Emulator(_)) => {
            _temp = tempfile::tempdir()?;
            _temp.path().to_path_buf()
        }
        (None, Target::Okta { .. }) => PathBuf::from("embed-state"),
    };
    let summary = run_target(&dir, target).await?;
    summary.print();
    anyhow::ensure!(summary.run_once.ok(), "the catch-up did not complete");
    Ok(())
}
