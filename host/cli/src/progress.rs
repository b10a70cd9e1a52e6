//! Progress bars for long backfills: one bar per instance, positioned by how far the last committed
//! event's `published` time has come through the backfill window. Hidden when stderr is not a terminal.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use okta_ingest::{CommitObserver, CommitStats, Instance};
use std::collections::HashMap;
use std::sync::Arc;

const SCALE: u64 = 1000;

/// An instance's bar, and its backfill window (Unix ms) when it has one.
type Bar = (ProgressBar, Option<(i64, i64)>);

/// Bars for a set of instances.
pub struct Progress {
    bars: Arc<HashMap<String, Bar>>,
    _multi: MultiProgress,
}

/// Okta's `published` as Unix ms.
fn published_ms(s: &str) -> Option<i64> {
    okta_ingest_model::time::parse_ms(s).and_then(|ms| i64::try_from(ms).ok())
}

impl Progress {
    /// One bar per instance; instances on their first tick with a backfill get a percentage.
    pub fn new(instances: &[Instance]) -> Progress {
        let multi = MultiProgress::new();
        let now = i64::try_from(okta_ingest_model::time::now_ms()).unwrap_or(i64::MAX);
        let mut bars = HashMap::new();
        for rec in instances {
            let window = (!rec.has_cursor && rec.backfill_days > 0)
                .then(|| (now - i64::from(rec.backfill_days) * 86_400_000, now));
            let bar = match window {
                Some(_) => {
                    let b = multi.add(ProgressBar::new(SCALE));
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix:>12} [{bar:30}] {percent:>3}% {msg} ({elapsed})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    b
                }
                None => {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(
                        ProgressStyle::with_template("{prefix:>12} {spinner} {msg} ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    b
                }
            };
            bar.set_prefix(rec.name.clone());
            bar.set_message("connecting");
            bars.insert(rec.name.clone(), (bar, window));
        }
        Progress {
            bars: Arc::new(bars),
            _multi: multi,
        }
    }

    /// The observer to give the host.
    pub fn observer(&self) -> CommitObserver {
        let bars = self.bars.clone();
        Arc::new(move |instance: &str, stats: &CommitStats| {
            let Some((bar, window)) = bars.get(instance) else {
                return;
            };
            let last = stats.last_published.as_deref().unwrap_or("-");
            bar.set_message(format!(
                "{} events, {} pages, up to {last}",
                stats.events, stats.pages
            ));
            if let (Some((start, end)), Some(p)) = (
                window,
                stats.last_published.as_deref().and_then(published_ms),
            ) {
                let span = (end - start).max(1);
                let pos =
                    ((p - start).clamp(0, span) as u128 * u128::from(SCALE) / span as u128) as u64;
                bar.set_position(pos.max(bar.position()));
            } else {
                bar.tick();
            }
        })
    }

    /// Marks every bar done.
    pub fn finish(&self) {
        for (bar, window) in self.bars.values() {
            if window.is_some() {
                bar.set_position(SCALE);
            }
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_okta_timestamps() {
        assert_eq!(super::published_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(super::published_ms("garbage"), None);
    }
}
