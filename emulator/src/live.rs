//! Live traffic: while the emulator runs, new events keep arriving at a steady rate, `published` now,
//! so a polling client has something to find at every poll.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::state::Shared;

/// Events due after `elapsed` at `per_minute` (rounded down): the schedule is computed from the
/// start, so late or skipped ticks neither lose nor double events.
pub fn due(elapsed: Duration, per_minute: u32) -> u64 {
    let n = elapsed.as_millis() * u128::from(per_minute) / 60_000;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// How often to wake for `per_minute`: once per event, between 10 ms and 1 s.
pub fn period(per_minute: u32) -> Duration {
    let per_event_ms = 60_000 / u64::from(per_minute.max(1));
    Duration::from_millis(per_event_ms.clamp(10, 1_000))
}

/// Commits generated events at `per_minute` until `stop` turns true (or its sender is gone).
pub async fn run(shared: Arc<Shared>, per_minute: u32, mut stop: watch::Receiver<bool>) {
    if per_minute == 0 {
        return;
    }
    let start = Instant::now();
    let mut tick = tokio::time::interval(period(per_minute));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut produced = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
        }
        if *stop.borrow() {
            break;
        }
        let now_due = due(start.elapsed(), per_minute);
        // After a long stall (a suspended laptop) at most a minute's worth at once.
        let n = now_due.saturating_sub(produced).min(u64::from(per_minute));
        produced = now_due;
        if n > 0 {
            shared.generate_now(usize::try_from(n).unwrap_or(usize::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_the_rate_from_the_start() {
        let s = Duration::from_secs;
        assert_eq!(due(s(0), 60), 0);
        assert_eq!(due(Duration::from_millis(999), 60), 0);
        assert_eq!(due(s(1), 60), 1);
        assert_eq!(due(s(59), 60), 59);
        assert_eq!(due(s(60), 1), 1);
        assert_eq!(due(s(30), 1), 0);
        assert_eq!(due(s(3600), 600_000), 36_000_000);
        assert_eq!(due(Duration::from_millis(250), 60_000), 250);
        // Summing the increments over uneven ticks gives the same total as one look at the end.
        let ticks = [13u64, 250, 251, 999, 1000, 4321, 60_000];
        let mut produced = 0;
        let mut total = 0;
        for t in ticks {
            let d = due(Duration::from_millis(t), 90);
            total += d - produced;
            produced = d;
        }
        assert_eq!(total, due(Duration::from_millis(60_000), 90));
        assert_eq!(period(60), s(1));
        assert_eq!(period(6), s(1));
        assert_eq!(period(600), Duration::from_millis(100));
        assert_eq!(period(600_000), Duration::from_millis(10));
        assert_eq!(period(0), s(1));
    }
}
