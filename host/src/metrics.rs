//! In-process metrics of a running host, rendered in the Prometheus text exposition format (version
//! 0.0.4) by [`Metrics::render`]. Every tick is recorded (`Metrics::observe_tick`); the
//! scheduler loop beats a heartbeat that `/healthz` reads ([`Metrics::is_alive`]). Counters live from
//! process start (Prometheus handles restarts); per-tick history survives restarts in the state database
//! (see `status`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds (seconds) of the tick-duration histogram buckets; `+Inf` is implied.
pub const TICK_DURATION_BUCKETS: [f64; 8] = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0];

/// The longest the scheduler loop may go without a heartbeat before `/healthz` reports it dead (it wakes
/// at least every 10 s to rescan instances).
pub const HEARTBEAT_MAX_AGE: Duration = Duration::from_secs(60);

/// One finished tick, as the tick recorder reports it.
#[derive(Debug, Clone)]
pub(crate) struct TickObservation<'a> {
    /// Instance name.
    pub instance: &'a str,
    /// `ok`, `caught-up` or `error`.
    pub outcome: &'a str,
    /// Events committed.
    pub events: u64,
    /// Pages committed.
    pub pages: u64,
    /// 429s and rate-limit waits.
    pub rate_limited: u64,
    /// Wall time of the tick.
    pub duration: Duration,
}

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`TICK_DURATION_BUCKETS`]; cumulated when rendered.
    buckets: [u64; TICK_DURATION_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if let Some(i) = TICK_DURATION_BUCKETS.iter().position(|b| v <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

#[derive(Debug, Clone, Default)]
struct InstanceMetrics {
    ticks: BTreeMap<String, u64>,
    events: u64,
    pages: u64,
    rate_limited: u64,
    errors: u64,
    duration: Histogram,
}

/// One instance's counters since the process started, as `/metrics` has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceFigures {
    /// Ticks, whatever their outcome.
    pub ticks: u64,
    /// Events committed.
    pub events: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Answers 429 (rate limited), each followed by a wait.
    pub rate_limited: u64,
    /// Ticks that failed.
    pub errors: u64,
}

/// Delivery to the sink since the process started: what the delivery thread records and `/metrics`
/// shows, labelled with the sink's id.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    id: Mutex<String>,
    events: AtomicU64,
    batches: AtomicU64,
    failures: AtomicU64,
    write_ns: AtomicU64,
    last_delivery_ms: AtomicU64,
    /// Whether the last write succeeded (0 before the first: unknown, shown as up).
    failing: AtomicBool,
}

impl SinkCounters {
    /// Names the sink the counters are for.
    pub(crate) fn set_sink(&self, id: &str) {
        *self.id.lock().unwrap_or_else(|p| p.into_inner()) = id.to_string();
    }

    /// A batch of `events` written and acknowledged, its write taking `took`.
    pub(crate) fn delivered(&self, events: u64, took: Duration) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.write_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.last_delivery_ms
            .store(okta_ingest_model::time::now_ms(), Ordering::Relaxed);
        self.failing.store(false, Ordering::Relaxed);
    }

    /// A write failed (the batch stays queued).
    pub(crate) fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String) {
        let id = self.id.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if id.is_empty() {
            return;
        }
        let label = format!("{{sink=\"{}\"}}", escape_label(&id));
        let last = self.last_delivery_ms.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, String); 6] = [
            (
                "sink_events_total",
                "counter",
                "Events the sink took and delivery acknowledged.",
                self.events.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sink_batches_total",
                "counter",
                "Batches written to the sink and acknowledged.",
                self.batches.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sink_write_failures_total",
                "counter",
                "Writes that failed after the sink's own retries (the batch stayed queued).",
                self.failures.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sink_write_seconds_total",
                "counter",
                "Time spent in successful writes (events_total / this = the sink's throughput).",
                format!("{:.6}", self.write_ns.load(Ordering::Relaxed) as f64 / 1e9),
            ),
            (
                "sink_up",
                "gauge",
                "0 while the sink's last write failed, else 1.",
                u8::from(!self.failing.load(Ordering::Relaxed)).to_string(),
            ),
            (
                "sink_last_delivery_timestamp_seconds",
                "gauge",
                "When a batch was last acknowledged (Unix seconds; 0: none yet).",
                format!("{:.3}", last as f64 / 1000.0),
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP okta_ingest_{name} {help}");
            let _ = writeln!(out, "# TYPE okta_ingest_{name} {kind}");
            let _ = writeln!(out, "okta_ingest_{name}{label} {value}");
        }
    }
}

/// Counters and the tick-duration histogram per instance, the sink's counters, plus the scheduler
/// heartbeat.
#[derive(Debug, Default)]
pub struct Metrics {
    instances: Mutex<BTreeMap<String, InstanceMetrics>>,
    sink: Arc<SinkCounters>,
    loop_alive: AtomicBool,
    heartbeat_ms: AtomicU64,
    /// When the host last made progress: a tick that did not fail, or a turn with nothing configured
    /// (set when the loop starts, so a fresh host is not "stalled").
    progress_ms: AtomicU64,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Records one tick.
    pub(crate) fn observe_tick(&self, t: &TickObservation<'_>) {
        let mut map = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let m = map.entry(t.instance.to_string()).or_default();
        *m.ticks.entry(t.outcome.to_string()).or_default() += 1;
        m.events += t.events;
        m.pages += t.pages;
        m.rate_limited += t.rate_limited;
        if t.outcome == "error" {
            m.errors += 1;
        }
        m.duration.observe(t.duration.as_secs_f64());
    }

    /// An instance's counters since the process started (`None` before its first tick).
    pub fn figures(&self, instance: &str) -> Option<InstanceFigures> {
        let map = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        map.get(instance).map(|m| InstanceFigures {
            ticks: m.ticks.values().sum(),
            events: m.events,
            pages: m.pages,
            rate_limited: m.rate_limited,
            errors: m.errors,
        })
    }

    /// Events committed by `instance` since the process started.
    pub fn events_total(&self, instance: &str) -> u64 {
        let map = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        map.get(instance).map_or(0, |m| m.events)
    }

    /// The counters the delivery thread records into.
    pub(crate) fn sink_counters(&self) -> Arc<SinkCounters> {
        self.sink.clone()
    }

    /// The scheduler loop is running (called on every iteration).
    pub(crate) fn heartbeat(&self) {
        let now = okta_ingest_model::time::now_ms();
        self.heartbeat_ms.store(now, Ordering::Relaxed);
        let _ = self
            .progress_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.loop_alive.store(true, Ordering::Relaxed);
    }

    /// A tick ended without failing (or there was nothing to tick).
    pub(crate) fn progressed(&self) {
        self.progress_ms
            .store(okta_ingest_model::time::now_ms(), Ordering::Relaxed);
    }

    /// How long since the host last made progress (see [`Metrics::progressed`]); `None` before the
    /// loop started.
    pub fn since_progress(&self) -> Option<Duration> {
        match self.progress_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(
                okta_ingest_model::time::now_ms().saturating_sub(at),
            )),
        }
    }

    /// The scheduler loop has ended.
    pub(crate) fn scheduler_stopped(&self) {
        self.loop_alive.store(false, Ordering::Relaxed);
    }

    /// True while the scheduler loop runs and beat within [`HEARTBEAT_MAX_AGE`].
    pub fn is_alive(&self) -> bool {
        let age = okta_ingest_model::time::now_ms()
            .saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed));
        self.loop_alive.load(Ordering::Relaxed) && age <= HEARTBEAT_MAX_AGE.as_millis() as u64
    }

    /// The Prometheus text format: per-instance counters and histogram, and the outbox gauge when
    /// `outbox_depth` is known.
    pub fn render(&self, outbox_depth: Option<i64>) -> String {
        let map = self
            .instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        if let Some(age) = self.since_progress() {
            head(
                &mut out,
                "okta_ingest_seconds_since_progress",
                "gauge",
                "Seconds since a tick last ended without failing (alert when it exceeds a few intervals).",
            );
            let _ = writeln!(
                out,
                "okta_ingest_seconds_since_progress {:.3}",
                age.as_secs_f64()
            );
        }
        head(
            &mut out,
            "okta_ingest_ticks_total",
            "counter",
            "Ticks run, by outcome (ok, caught-up, error).",
        );
        for (name, m) in &map {
            for (outcome, n) in &m.ticks {
                let _ = writeln!(
                    out,
                    "okta_ingest_ticks_total{{instance=\"{}\",outcome=\"{}\"}} {n}",
                    escape_label(name),
                    escape_label(outcome)
                );
            }
        }
        type Counter = (&'static str, &'static str, fn(&InstanceMetrics) -> u64);
        let counters: [Counter; 4] = [
            (
                "okta_ingest_events_total",
                "Events committed to the outbox.",
                |m| m.events,
            ),
            ("okta_ingest_pages_total", "Pages committed.", |m| m.pages),
            (
                "okta_ingest_rate_limited_total",
                "429 responses and rate-limit waits.",
                |m| m.rate_limited,
            ),
            (
                "okta_ingest_errors_total",
                "Ticks that ended with an error.",
                |m| m.errors,
            ),
        ];
        for (metric, help, get) in counters {
            head(&mut out, metric, "counter", help);
            for (name, m) in &map {
                let _ = writeln!(
                    out,
                    "{metric}{{instance=\"{}\"}} {}",
                    escape_label(name),
                    get(m)
                );
            }
        }
        if let Some(depth) = outbox_depth {
            head(
                &mut out,
                "okta_ingest_outbox_depth",
                "gauge",
                "Events committed but not yet delivered to the sink.",
            );
            let _ = writeln!(out, "okta_ingest_outbox_depth {depth}");
        }
        let metric = "okta_ingest_tick_duration_seconds";
        head(&mut out, metric, "histogram", "Wall time of a tick.");
        for (name, m) in &map {
            let inst = escape_label(name);
            let mut cumulative = 0;
            for (bound, n) in TICK_DURATION_BUCKETS.iter().zip(m.duration.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{metric}_bucket{{instance=\"{inst}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let h = &m.duration;
            let _ = writeln!(
                out,
                "{metric}_bucket{{instance=\"{inst}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{metric}_sum{{instance=\"{inst}\"}} {}", h.sum);
            let _ = writeln!(out, "{metric}_count{{instance=\"{inst}\"}} {}", h.count);
        }
        self.sink.render(&mut out);
        out
    }
}

/// Escapes a label value: backslash, double quote and newline, as the text format requires.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A fleet host's lease and fencing counters for `/metrics` (Prometheus text).
pub fn fleet_metrics(c: &crate::state::FleetCounters) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP okta_ingest_{name} {help}\n# TYPE okta_ingest_{name} {kind}\nokta_ingest_{name} {value}\n"
        ));
    };
    metric(
        "shard_leases_held",
        "gauge",
        "Shard leases this host holds now.",
        c.held,
    );
    metric(
        "shard_lease_claims_total",
        "counter",
        "Shard leases this host claimed (free or expired shards taken over).",
        c.claims,
    );
    metric(
        "shard_lease_releases_total",
        "counter",
        "Shard leases this host gave back for another host's fair share.",
        c.releases,
    );
    metric(
        "shard_lease_losses_total",
        "counter",
        "Shard leases this host lost (taken over, or not renewed in time).",
        c.losses,
    );
    metric(
        "fenced_commits_total",
        "counter",
        "Commits and acknowledgements the database refused because the shard's lease had moved on.",
        c.refused_commits,
    );
    metric(
        "lease_round_failures_total",
        "counter",
        "Lease rounds that failed (the state database unreachable or erroring).",
        c.failed_rounds,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A strict parser of one sample line: `name{k="v",...} value`, unescaping label values.
    fn parse(line: &str) -> (String, Vec<(String, String)>, f64) {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let (n, v) = line.split_once(' ').expect("name value");
                return (n.to_string(), vec![], v.parse().expect("number"));
            }
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        let mut labels = vec![];
        let mut chars = rest.chars().peekable();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut val = String::new();
            loop {
                match chars.next().expect("closing quote") {
                    '\\' => match chars.next().expect("escape") {
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        'n' => val.push('\n'),
                        c => panic!("bad escape \\{c} in {line}"),
                    },
                    '"' => break,
                    '\n' => panic!("raw newline in {line}"),
                    c => val.push(c),
                }
            }
            labels.push((key, val));
            match chars.next() {
                Some(',') => continue,
                Some('}') => break,
                c => panic!("unexpected {c:?} in {line}"),
            }
        }
        let rest: String = chars.collect();
        let value = rest.strip_prefix(' ').expect("space before value");
        let value = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        (name.to_string(), labels, value)
    }

    fn obs<'a>(instance: &'a str, outcome: &'a str, secs: f64) -> TickObservation<'a> {
        TickObservation {
            instance,
            outcome,
            events: 10,
            pages: 2,
            rate_limited: 1,
            duration: Duration::from_secs_f64(secs),
        }
    }

    #[test]
    fn every_line_parses_and_every_metric_is_typed() {
        let m = Metrics::new();
        m.observe_tick(&obs("a", "ok", 0.2));
        m.observe_tick(&obs("a", "caught-up", 0.02));
        m.observe_tick(&obs("b", "error", 3.0));
        let text = m.render(Some(7));
        let mut typed = std::collections::HashSet::new();
        let mut samples = vec![];
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(["counter", "gauge", "histogram"].contains(&kind));
                typed.insert(name.to_string());
            } else if !line.starts_with("# HELP ") {
                samples.push(parse(line));
            }
        }
        for (name, _, _) in &samples {
            let base = name
                .strip_suffix("_bucket")
                .or_else(|| name.strip_suffix("_sum"))
                .or_else(|| name.strip_suffix("_count"))
                .filter(|b| typed.contains(*b))
                .unwrap_or(name);
            assert!(typed.contains(base), "{name} has no TYPE line");
        }
        let get = |name: &str, labels: &[(&str, &str)]| {
            samples
                .iter()
                .find(|(n, l, _)| {
                    n == name
                        && labels
                            .iter()
                            .all(|(k, v)| l.iter().any(|(a, b)| a == k && b == v))
                })
                .map(|s| s.2)
        };
        assert_eq!(
            get(
                "okta_ingest_ticks_total",
                &[("instance", "a"), ("outcome", "ok")]
            ),
            Some(1.0)
        );
        assert_eq!(
            get("okta_ingest_events_total", &[("instance", "a")]),
            Some(20.0)
        );
        assert_eq!(
            get("okta_ingest_pages_total", &[("instance", "b")]),
            Some(2.0)
        );
        assert_eq!(
            get("okta_ingest_rate_limited_total", &[("instance", "a")]),
            Some(2.0)
        );
        assert_eq!(
            get("okta_ingest_errors_total", &[("instance", "a")]),
            Some(0.0)
        );
        assert_eq!(
            get("okta_ingest_errors_total", &[("instance", "b")]),
            Some(1.0)
        );
        assert_eq!(get("okta_ingest_outbox_depth", &[]), Some(7.0));
        assert_eq!(m.events_total("a"), 20);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let m = Metrics::new();
        for secs in [0.005, 0.2, 0.7, 3.0, 200.0] {
            m.observe_tick(&obs("a", "ok", secs));
        }
        let text = m.render(None);
        let buckets: Vec<(String, f64)> = text
            .lines()
            .filter(|l| l.starts_with("okta_ingest_tick_duration_seconds_bucket"))
            .map(|l| {
                let (_, labels, v) = parse(l);
                let le = labels.iter().find(|(k, _)| k == "le").unwrap().1.clone();
                (le, v)
            })
            .collect();
        let expected: Vec<(String, f64)> = [
            ("0.01", 1.0),
            ("0.05", 1.0),
            ("0.1", 1.0),
            ("0.5", 2.0),
            ("1", 3.0),
            ("5", 4.0),
            ("30", 4.0),
            ("120", 4.0),
            ("+Inf", 5.0),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), *b))
        .collect();
        assert_eq!(buckets, expected);
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        let count = parse(
            text.lines()
                .find(|l| l.starts_with("okta_ingest_tick_duration_seconds_count"))
                .unwrap(),
        );
        let sum = parse(
            text.lines()
                .find(|l| l.starts_with("okta_ingest_tick_duration_seconds_sum"))
                .unwrap(),
        );
        assert_eq!(count.2, 5.0);
        assert!((sum.2 - 203.905).abs() < 1e-6, "{}", sum.2);
        assert!(
            !text.contains("okta_ingest_outbox_depth"),
            "unknown depth is left out"
        );
    }

    #[test]
    fn label_values_escape_quotes_backslashes_and_newlines() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let m = Metrics::new();
        let nasty = "we\"ird\\na\nme";
        m.observe_tick(&obs(nasty, "ok", 0.1));
        let text = m.render(Some(0));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, labels, _) = parse(line);
            if let Some((_, v)) = labels.iter().find(|(k, _)| k == "instance") {
                assert_eq!(v, nasty, "{line}");
            }
        }
        assert_eq!(text.lines().filter(|l| l.contains("we\\\"ird")).count(), 16);
    }

    #[test]
    fn health_follows_the_heartbeat() {
        let m = Metrics::new();
        assert!(!m.is_alive(), "not alive before the loop starts");
        m.heartbeat();
        assert!(m.is_alive());
        m.heartbeat_ms.store(
            okta_ingest_model::time::now_ms() - HEARTBEAT_MAX_AGE.as_millis() as u64 - 1000,
            Ordering::Relaxed,
        );
        assert!(!m.is_alive(), "a stalled loop is not healthy");
        m.heartbeat();
        m.scheduler_stopped();
        assert!(!m.is_alive());
    }
}
