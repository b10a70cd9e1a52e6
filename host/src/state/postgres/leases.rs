//! Shard leases: which host ticks and delivers which shard, with an epoch every commit checks.
//!
//! A host joins by running [`Leases::round`] every TTL/3 (FLEET.md §2.3):
//! 1. heartbeat its `hosts` row (`expires_at = now() + TTL`, the database's clock);
//! 2. renew the leases it still holds (`owner` = this process and not expired); a held shard that did
//!    not renew was taken over or lapsed: it is dropped at once, and counted as lost;
//! 3. count live hosts and the active shards (those with instances or undelivered events); the fair
//!    share is `ceil(active / live)`;
//! 4. release shards above the share (a host joined), or claim free and expired active shards up to it
//!    (`FOR UPDATE SKIP LOCKED`, `epoch + 1`).
//!
//! Expiry is only ever computed by the database. This process stops acting on a shard by a *local,
//! monotonic* deadline: the instant just before the statement that renewed or claimed it was sent,
//! plus TTL, minus a margin. That deadline always passes before the database's expiry (the statement's
//! `now()` is later than the send), whatever the clocks' offsets: a paused or partitioned host stops
//! ticking before another can claim its shards. The commit is fenced regardless (`FOR SHARE` on the
//! lease row, owner and epoch compared), so a host that wakes up late cannot commit.

use super::connect::{classify, classify_pool};
use crate::state::{FleetCounters, StateError};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A lease this process holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: i64,
    /// After this instant, nothing is done for the shard until a renewal succeeds.
    deadline: Instant,
}

/// This process's leases, shared by the lease loop, the page commits and delivery.
pub(crate) struct Leases {
    /// The owner written into lease rows: the host's name and this process's incarnation.
    pub(crate) me: String,
    /// The host's name (default: the machine's hostname).
    pub(crate) name: String,
    pub(crate) ttl: Duration,
    held: Mutex<HashMap<u32, Held>>,
    claims: AtomicU64,
    releases: AtomicU64,
    losses: AtomicU64,
    refused: AtomicU64,
    failed_rounds: AtomicU64,
}

/// The share of the TTL kept free between this process's deadline and the database's expiry.
fn margin(ttl: Duration) -> Duration {
    ttl / 5
}

/// `ceil(active / live)`, at least 1 while there is anything to hold.
pub(crate) fn fair_share(active: usize, live: usize) -> usize {
    if active == 0 {
        return 0;
    }
    active.div_ceil(live.max(1))
}

impl Leases {
    /// This process's leases: none yet. `name` is the host's name, `ttl` the lease time.
    pub(crate) fn new(name: &str, ttl: Duration) -> Leases {
        let incarnation: u64 = rand::random();
        Leases {
            me: format!("{name}/{:08x}", incarnation as u32),
            name: name.to_string(),
            ttl,
            held: Mutex::new(HashMap::new()),
            claims: AtomicU64::new(0),
            releases: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            failed_rounds: AtomicU64::new(0),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch of `shard`'s lease while this process holds it and its deadline has not passed. A
    /// passed deadline drops the lease here (counted as lost).
    pub(crate) fn epoch(&self, shard: u32) -> Option<i64> {
        let mut held = self.held();
        let h = *held.get(&shard)?;
        if Instant::now() >= h.deadline {
            held.remove(&shard);
            drop(held);
            self.losses.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                shard,
                "the lease on shard {shard} was not renewed in time (the state database is slow or unreachable); this host stops acting on it"
            );
            return None;
        }
        Some(h.epoch)
    }

    /// The shards held now (deadlines checked).
    pub(crate) fn shards(&self) -> Vec<u32> {
        let candidates: Vec<u32> = self.held().keys().copied().collect();
        let mut out: Vec<u32> = candidates
            .into_iter()
            .filter(|s| self.epoch(*s).is_some())
            .collect();
        out.sort_unstable();
        out
    }

    /// [`Leases::shards`] as the database's `integer`s, for `shard = ANY($n)`.
    pub(crate) fn shard_ids(&self) -> Vec<i32> {
        self.shards().into_iter().map(|s| s as i32).collect()
    }

    /// The database refused a commit or acknowledgement on `shard`: the lease is gone.
    pub(crate) fn refused(&self, shard: u32, detail: &str) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if self.held().remove(&shard).is_some() {
            self.losses.fetch_add(1, Ordering::Relaxed);
        }
        tracing::warn!(shard, "commit refused: fenced: shard {shard} {detail}");
    }

    /// The counters `/metrics` shows.
    pub(crate) fn counters(&self) -> FleetCounters {
        FleetCounters {
            held: self.held().len() as u64,
            claims: self.claims.load(Ordering::Relaxed),
            releases: self.releases.load(Ordering::Relaxed),
            losses: self.losses.load(Ordering::Relaxed),
            refused_commits: self.refused.load(Ordering::Relaxed),
            failed_rounds: self.failed_rounds.load(Ordering::Relaxed),
        }
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// One round: heartbeat, renew, rebalance. Each statement is its own short transaction. Returns
    /// how many shards this process holds after it, and its fair share.
    pub(crate) async fn round(
        &self,
        pool: &deadpool_postgres::Pool,
        location: &str,
    ) -> Result<(usize, usize), StateError> {
        let db = |e| classify(location, e);
        let client = pool.get().await.map_err(|e| classify_pool(location, e))?;
        let ttl_ms = self.ttl_ms();
        let pid = i64::from(std::process::id());
        client
            .execute(
                "INSERT INTO hosts(id, name, pid, heartbeat_at, expires_at)
                 VALUES ($1, $2, $3, now(), now() + $4::bigint * interval '1 millisecond')
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at",
                &[&self.me, &self.name, &pid, &ttl_ms],
            )
            .await
            .map_err(db)?;

        let sent = Instant::now();
        let renewed = client
            .query(
                "UPDATE shard_leases SET expires_at = now() + $2::bigint * interval '1 millisecond'
                 WHERE owner = $1 AND expires_at > now() RETURNING shard, epoch",
                &[&self.me, &ttl_ms],
            )
            .await
            .map_err(db)?;
        let renewed: HashMap<u32, i64> = renewed
            .iter()
            .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1)))
            .collect();
        let deadline = sent + self.ttl.saturating_sub(margin(self.ttl));
        {
            let mut held = self.held();
            let lost: Vec<u32> = held
                .iter()
                .filter(|(s, h)| renewed.get(s) != Some(&h.epoch))
                .map(|(s, _)| *s)
                .collect();
            for s in lost {
                held.remove(&s);
                self.losses.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    shard = s,
                    "lost the lease on shard {s} (another host took it over, or it lapsed)"
                );
            }
            for (s, epoch) in &renewed {
                if let Some(h) = held.get_mut(s) {
                    if h.epoch == *epoch {
                        h.deadline = deadline;
                    }
                }
            }
        }

        let live: i64 = client
            .query_one("SELECT count(*) FROM hosts WHERE expires_at > now()", &[])
            .await
            .map_err(db)?
            .get(0);
        let active: Vec<i32> = client
            .query(
                "SELECT shard FROM instances UNION
                 SELECT shard FROM shard_streams WHERE next_seq - 1 > acked_seq",
                &[],
            )
            .await
            .map_err(db)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let active_set: HashSet<u32> = active.iter().map(|s| *s as u32).collect();
        let share = fair_share(active.len(), usize::try_from(live).unwrap_or(1));
        let mine = self.shards();
        // Shards no instance maps to any more (and fully delivered) are given back first.
        let mut extra: Vec<u32> = mine
            .iter()
            .copied()
            .filter(|s| !active_set.contains(s))
            .collect();
        let keep = mine.len() - extra.len();
        if keep > share {
            let mut busy: Vec<u32> = mine
                .iter()
                .copied()
                .filter(|s| active_set.contains(s))
                .collect();
            busy.sort_unstable_by(|a, b| b.cmp(a));
            extra.extend(busy.into_iter().take(keep - share));
        }
        if !extra.is_empty() {
            // Stop acting first, then give them back: a commit in flight is fenced by the database.
            {
                let mut held = self.held();
                for s in &extra {
                    held.remove(s);
                }
            }
            let shards: Vec<i32> = extra.iter().map(|s| *s as i32).collect();
            let n = client
                .execute(
                    "UPDATE shard_leases SET owner = NULL, expires_at = '-infinity'
                     WHERE owner = $1 AND shard = ANY($2)",
                    &[&self.me, &shards],
                )
                .await
                .map_err(db)?;
            self.releases.fetch_add(n, Ordering::Relaxed);
            tracing::info!(
                shards = ?extra,
                "released {n} shard lease(s) for a fair share of {share} over {live} host(s)"
            );
        } else if mine.len() < share {
            let want = i64::try_from(share - mine.len()).unwrap_or(i64::MAX);
            let sent = Instant::now();
            let claimed = client
                .query(
                    "WITH free AS (
                        SELECT shard FROM shard_leases
                        WHERE expires_at <= now() AND shard = ANY($2)
                        ORDER BY random() LIMIT $3 FOR UPDATE SKIP LOCKED)
                     UPDATE shard_leases l
                        SET owner = $1, epoch = l.epoch + 1,
                            expires_at = now() + $4::bigint * interval '1 millisecond'
                     FROM free WHERE l.shard = free.shard
                     RETURNING l.shard, l.epoch",
                    &[&self.me, &active, &want, &ttl_ms],
                )
                .await
                .map_err(db)?;
            if !claimed.is_empty() {
                let deadline = sent + self.ttl.saturating_sub(margin(self.ttl));
                let mut held = self.held();
                let mut got = Vec::new();
                for r in &claimed {
                    let shard = r.get::<_, i32>(0) as u32;
                    let epoch: i64 = r.get(1);
                    held.insert(shard, Held { epoch, deadline });
                    got.push((shard, epoch));
                }
                drop(held);
                self.claims
                    .fetch_add(claimed.len() as u64, Ordering::Relaxed);
                got.sort_unstable();
                tracing::info!(
                    leases = ?got,
                    "claimed {} shard lease(s) (shard, epoch); fair share {share} over {live} host(s)",
                    got.len()
                );
            }
        }
        Ok((self.held().len(), share))
    }

    /// Counts a failed round (the database unreachable or erroring).
    pub(crate) fn round_failed(&self) {
        self.failed_rounds.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives every lease back and removes the heartbeat (a clean stop): the other hosts take the shards
    /// at their next round instead of after the TTL.
    pub(crate) async fn leave(&self, pool: &deadpool_postgres::Pool, location: &str) {
        self.held().clear();
        let left = async {
            let client = pool.get().await.map_err(|e| classify_pool(location, e))?;
            let n = client
                .execute(
                    "UPDATE shard_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = $1",
                    &[&self.me],
                )
                .await
                .map_err(|e| classify(location, e))?;
            client
                .execute("DELETE FROM hosts WHERE id = $1", &[&self.me])
                .await
                .map_err(|e| classify(location, e))?;
            Ok::<u64, StateError>(n)
        };
        match tokio::time::timeout(self.ttl / 3, left).await {
            Ok(Ok(n)) => tracing::info!("left the fleet: released {n} shard lease(s)"),
            Ok(Err(e)) => tracing::warn!(
                "could not release the shard leases ({e}); they expire after the lease TTL"
            ),
            Err(_) => tracing::warn!(
                "releasing the shard leases timed out; they expire after the lease TTL"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_rounds_up_and_a_lapsed_deadline_drops_the_lease() {
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 3), 2);
        assert_eq!(fair_share(6, 3), 2);
        assert_eq!(fair_share(5, 0), 5);
        let l = Leases::new("h1", Duration::from_secs(10));
        assert!(l.me.starts_with("h1/"));
        assert_ne!(l.me, Leases::new("h1", Duration::from_secs(10)).me);
        l.held().insert(
            3,
            Held {
                epoch: 7,
                deadline: Instant::now() + Duration::from_secs(60),
            },
        );
        l.held().insert(
            4,
            Held {
                epoch: 1,
                deadline: Instant::now(),
            },
        );
        assert_eq!(l.epoch(3), Some(7));
        assert_eq!(l.epoch(4), None, "its deadline passed");
        assert_eq!(l.shards(), [3]);
        l.refused(3, "now (h2/x, 8)");
        assert_eq!(l.shards(), Vec::<u32>::new());
        let c = l.counters();
        assert_eq!((c.losses, c.refused_commits, c.held), (2, 1, 0));
    }
}
