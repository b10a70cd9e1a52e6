//! Results: one row per figure, printed as a table and written as JSON.

use super::machine::Machine;
use serde_json::json;
use std::path::Path;

/// One measured figure (or an honest "n/a").
#[derive(Debug, Clone)]
pub struct Figure {
    /// Benchmark, e.g. "1. backfill".
    pub bench: String,
    /// What is measured, e.g. "throughput".
    pub metric: String,
    /// The number, if measured.
    pub value: Option<f64>,
    /// Its unit.
    pub unit: String,
    /// Decimals to print.
    pub decimals: usize,
    /// Text instead of (or beside) a number.
    pub text: Option<String>,
    /// The target, as text (never asserted).
    pub target: Option<String>,
    /// Whether the target is met, when there is one and a value.
    pub met: Option<bool>,
    /// What the figure includes.
    pub includes: String,
}

impl Figure {
    /// A measured value.
    pub fn new(
        bench: &str,
        metric: &str,
        value: f64,
        unit: &str,
        decimals: usize,
        includes: &str,
    ) -> Figure {
        Figure {
            bench: bench.into(),
            metric: metric.into(),
            value: Some(value),
            unit: unit.into(),
            decimals,
            text: None,
            target: None,
            met: None,
            includes: includes.into(),
        }
    }

    /// Not measured, with the reason.
    pub fn na(bench: &str, metric: &str, why: &str) -> Figure {
        Figure {
            bench: bench.into(),
            metric: metric.into(),
            value: None,
            unit: String::new(),
            decimals: 0,
            text: Some(why.into()),
            target: None,
            met: None,
            includes: String::new(),
        }
    }

    /// A text result (e.g. a check).
    pub fn text(bench: &str, metric: &str, text: &str, includes: &str) -> Figure {
        Figure {
            includes: includes.into(),
            ..Figure::na(bench, metric, text)
        }
    }

    /// Adds a target: `at_least` (true: value ≥ bound) or at most.
    pub fn target(mut self, label: &str, bound: f64, at_least: bool) -> Figure {
        self.target = Some(label.into());
        self.met = self
            .value
            .map(|v| if at_least { v >= bound } else { v <= bound });
        self
    }

    fn value_text(&self) -> String {
        match (self.value, &self.text) {
            (Some(v), Some(t)) => format!("{} {} ({t})", group(v, self.decimals), self.unit),
            (Some(v), None) => format!("{} {}", group(v, self.decimals), self.unit),
            (None, Some(t)) => t.clone(),
            (None, None) => "n/a".into(),
        }
    }

    fn target_text(&self) -> String {
        match (&self.target, self.met) {
            (Some(t), Some(true)) => format!("{t}: met"),
            (Some(t), Some(false)) => format!("{t}: NOT met"),
            (Some(t), None) => format!("{t}: not measured"),
            (None, _) => String::new(),
        }
    }
}

/// A number with thousands separators.
pub fn group(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// All figures plus the machine.
pub struct Report {
    machine: Machine,
    command: String,
    quick: bool,
    figures: Vec<Figure>,
}

impl Report {
    /// An empty report.
    pub fn new(machine: Machine, command: String, quick: bool) -> Report {
        Report {
            machine,
            command,
            quick,
            figures: Vec::new(),
        }
    }

    /// Adds a figure and prints it at once (long runs show progress).
    pub fn push(&mut self, f: Figure) {
        eprintln!("  {} / {}: {}", f.bench, f.metric, f.value_text());
        self.figures.push(f);
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        let m = &self.machine;
        println!();
        println!(
            "okta-ingest benchmarks{}",
            if self.quick { " (--quick)" } else { "" }
        );
        println!(
            "machine: {} cores (available_parallelism), {} MiB RAM, {}; {}; build: {}",
            m.cores,
            m.mem_mib,
            m.cpu,
            m.os,
            if cfg!(debug_assertions) {
                "DEBUG"
            } else {
                "release"
            }
        );
        println!("date:    {}", m.date);
        println!(
            "load:    {} at the start, {} at the end (1/5/15 min; other processes on the machine skew the figures)",
            m.load,
            super::machine::load()
        );
        println!("command: {}", self.command);
        println!();
        let rows: Vec<[String; 5]> = self
            .figures
            .iter()
            .map(|f| {
                [
                    f.bench.clone(),
                    f.metric.clone(),
                    f.value_text(),
                    f.target_text(),
                    f.includes.clone(),
                ]
            })
            .collect();
        let head = ["benchmark", "figure", "value", "target", "includes"];
        let mut w = head.map(str::len);
        for r in &rows {
            for i in 0..4 {
                w[i] = w[i].max(r[i].chars().count().min(60));
            }
        }
        let line = |r: [&str; 5]| {
            println!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3]
            )
        };
        line(head);
        line([
            &"-".repeat(w[0]),
            &"-".repeat(w[1]),
            &"-".repeat(w[2]),
            &"-".repeat(w[3]),
            "--------",
        ]);
        for r in &rows {
            line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
        }
        println!();
        println!("Targets are printed for reference and never asserted.");
    }

    /// Writes the JSON document.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let m = &self.machine;
        let figures: Vec<_> = self
            .figures
            .iter()
            .map(|f| {
                json!({
                    "benchmark": f.bench,
                    "figure": f.metric,
                    "value": f.value,
                    "unit": f.unit,
                    "text": f.text,
                    "display": f.value_text(),
                    "target": f.target,
                    "target_met": f.met,
                    "includes": f.includes,
                })
            })
            .collect();
        let doc = json!({
            "date": m.date,
            "command": self.command,
            "quick": self.quick,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
            "machine": {
                "cores": m.cores,
                "memory_mib": m.mem_mib,
                "cpu": m.cpu,
                "os": m.os,
                "loadavg_start": m.load,
                "loadavg_end": super::machine::load(),
            },
            "version": env!("CARGO_PKG_VERSION"),
            "targets_asserted": false,
            "results": figures,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}
