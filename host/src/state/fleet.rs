//! What a fleet of hosts sharing one state agrees on: instances are grouped by Okta org into
//! [`SHARDS`] shards (fixed forever: changing it would move every instance), a host holds a shard's
//! lease while it ticks and delivers that shard's instances, and every lease carries an epoch that each
//! commit checks. The records here are what `status` and the metrics show; the leases themselves are
//! the backend's (see `postgres/leases.rs`).

use sha2::Digest;

/// How many shards a fleet's instances are spread over. All instances of one Okta org share a shard,
/// so one host at a time talks to an org: its rate budget and token cache stay on that host.
pub const SHARDS: u32 = 1024;

/// The shard of an instance on `domain` (`host` or `host:port`, as stored): the first four bytes of
/// the SHA-256 of the lowercase domain, modulo [`SHARDS`]. Stable across releases and machines.
pub fn shard_of(domain: &str) -> u32 {
    let digest = sha2::Sha256::digest(domain.to_ascii_lowercase().as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    first % SHARDS
}

/// One host of a fleet, as its heartbeats describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetHost {
    /// The host's identity in leases: its name and a per-process incarnation (a restarted process
    /// never inherits its previous leases).
    pub id: String,
    /// The name it was given (default: the machine's hostname).
    pub name: String,
    /// Its process id on its machine.
    pub pid: i64,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// Whether its heartbeat is still valid (not expired).
    pub alive: bool,
    /// Shards whose lease it holds and that have not expired.
    pub shards: u32,
}

/// One shard's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// The shard.
    pub shard: u32,
    /// Who holds it (`None`: free, or released).
    pub owner: Option<String>,
    /// The fencing epoch: one more at every claim.
    pub epoch: i64,
    /// Milliseconds until it expires (negative: expired), by the database's clock.
    pub expires_in_ms: i64,
}

/// A fleet as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetStatus {
    /// This process's identity, if it has joined (a management command has not).
    pub this_host: Option<String>,
    /// Every host with a heartbeat row, newest first.
    pub hosts: Vec<FleetHost>,
    /// The leases that have an owner or were ever claimed (epoch above 0), by shard.
    pub leases: Vec<ShardLease>,
    /// The lease TTL hosts use, when this process knows it.
    pub lease_ttl_ms: Option<i64>,
}

impl FleetStatus {
    /// The live owner of `shard`, if its lease has not expired.
    pub fn owner_of(&self, shard: u32) -> Option<&str> {
        self.leases
            .iter()
            .find(|l| l.shard == shard && l.expires_in_ms > 0)
            .and_then(|l| l.owner.as_deref())
    }
}

/// This process's lease and fencing counters, since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounters {
    /// Shards currently held.
    pub held: u64,
    /// Leases claimed (free or expired shards taken over).
    pub claims: u64,
    /// Leases given back to make room for another host (a rebalance).
    pub releases: u64,
    /// Leases lost: taken over by another host, or expired locally without a renewal.
    pub losses: u64,
    /// Commits and acknowledgements the database refused because the lease had moved on.
    pub refused_commits: u64,
    /// Lease rounds that failed (the database unreachable or erroring).
    pub failed_rounds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_case_blind_and_spread() {
        assert_eq!(shard_of("acme.okta.com"), shard_of("ACME.okta.com"));
        // Fixed forever: a release that changed this would move every instance.
        assert_eq!(shard_of("acme.okta.com"), shard_of("acme.okta.com"));
        let distinct: std::collections::HashSet<u32> = (0..200)
            .map(|i| shard_of(&format!("org{i}.okta.com")))
            .collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
        assert!(distinct.iter().all(|s| *s < SHARDS));
    }
}
