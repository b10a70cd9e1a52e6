//! The PostgreSQL backend against a real PostgreSQL (a throwaway cluster per test process, a fresh
//! database per test).

use super::*;
use crate::state::testing::{event, new_instance, page};
use crate::state::{PendingWrite, Stream};
use okta_ingest_test_postgres::TestPostgres;

fn cluster() -> &'static TestPostgres {
    TestPostgres::shared().unwrap_or_else(|e| panic!("a throwaway PostgreSQL is needed: {e}"))
}

fn options(url: &str, host: &str) -> PostgresOptions {
    PostgresOptions {
        host_name: host.into(),
        lease_ttl: Duration::from_secs(3),
        ..PostgresOptions::new(url)
    }
}

async fn fresh() -> (String, PostgresState) {
    let url = cluster().fresh_database().unwrap();
    let state = PostgresState::connect(options(&url, "h1")).await.unwrap();
    (url, state)
}

#[tokio::test]
async fn hosts_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let url = cluster().fresh_database().unwrap();
    let starts = (0..4).map(|i| PostgresState::connect(options(&url, &format!("h{i}"))));
    for r in futures::future::join_all(starts).await {
        r.unwrap();
    }
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        cluster()
            .psql(
                db,
                "SELECT value FROM okta_ingest_meta WHERE key = 'schema_version'"
            )
            .unwrap(),
        schema::LATEST.to_string()
    );
    assert_eq!(
        cluster()
            .psql(db, "SELECT count(*) FROM shard_leases")
            .unwrap(),
        crate::state::SHARDS.to_string()
    );
    cluster()
        .psql(
            db,
            "UPDATE okta_ingest_meta SET value = 99 WHERE key = 'schema_version'",
        )
        .unwrap();
    let e = PostgresState::connect(options(&url, "h9"))
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::TooNew { found: 99, .. }), "{e}");
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgres://u:hunter2@127.0.0.1:{port}/x?connect_timeout=2");
    let e = PostgresState::connect(options(&url, "h1"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StateError::Open { .. }), "{msg}");
    assert!(!msg.contains("hunter2") && msg.contains("u:***@"), "{msg}");
}

#[tokio::test]
async fn instances_round_trip_and_a_domain_edit_moves_the_shard_and_drops_the_cursor() {
    let (url, state) = fresh().await;
    let mut new = new_instance("full");
    new.key_id = Some("kid1".into());
    new.ca_file = Some("/ca.pem".into());
    new.paused = true;
    new.exclusions = crate::Exclusions::parse("policy.evaluate_sign_on,system.agent.*").unwrap();
    new.redaction = crate::Redaction::parse("debugContext.debugData.*", "").unwrap();
    let got = state.add_instance(&new).await.unwrap();
    assert!(got.paused && got.created_ms > 0);
    assert_eq!(got.exclusions, new.exclusions);
    assert_eq!(got.redaction, new.redaction);
    assert_eq!(
        (got.key_id.as_deref(), got.backfill_days, got.categories),
        (Some("kid1"), 7, new.categories)
    );
    assert!(matches!(
        state.add_instance(&new).await,
        Err(StateError::DuplicateInstance(_))
    ));
    assert_eq!(
        state.instance_by_id(got.id).await.unwrap(),
        Some(got.clone())
    );
    assert!(matches!(
        state.instance("nope").await,
        Err(StateError::NoSuchInstance(_))
    ));
    let _runner = state.claim_runner().await.unwrap();
    state
        .commit_page(page(got.id, vec![], b"cursor-1"))
        .await
        .unwrap();
    assert_eq!(
        state.cursor(got.id).await.unwrap().as_deref(),
        Some(&b"cursor-1"[..])
    );
    let moved = state
        .edit_instance(
            "full",
            &InstanceChanges {
                domain: Some("other.okta.com".into()),
                paused: Some(false),
                exclusions: Some(Default::default()),
                redaction: Some(Default::default()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!moved.has_cursor && !moved.paused && moved.exclusions.is_empty());
    assert!(moved.redaction.is_empty());
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        cluster()
            .psql(db, "SELECT shard FROM instances WHERE name = 'full'")
            .unwrap(),
        shard_of("other.okta.com").to_string()
    );
    state.remove_instance("full").await.unwrap();
    assert!(state.list_instances().await.unwrap().is_empty());
}

/// More adds and edits at once than the pool has connections: none may hold one connection while
/// waiting for a second (that deadlocked a full pool until the 30 s call bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_and_edits_beyond_the_pool_size_all_finish() {
    let url = cluster().fresh_database().unwrap();
    let state = PostgresState::connect(PostgresOptions {
        pool_size: 2,
        ..options(&url, "h1")
    })
    .await
    .unwrap();
    // A deadlocked call ends in the 30 s call bound's Unavailable error, failing the unwraps.
    let adds = (0..12).map(|i| {
        let state = state.clone();
        async move { state.add_instance(&new_instance(&format!("i{i}"))).await }
    });
    for r in futures::future::join_all(adds).await {
        r.unwrap();
    }
    let edits = (0..12).map(|i| {
        let state = state.clone();
        async move {
            state
                .edit_instance(
                    &format!("i{i}"),
                    &InstanceChanges {
                        paused: Some(true),
                        ..Default::default()
                    },
                )
                .await
        }
    });
    for r in futures::future::join_all(edits).await {
        assert!(r.unwrap().paused);
    }
}

#[tokio::test]
async fn commits_are_fenced_and_a_shard_stream_is_delivered_in_order() {
    let (url, state) = fresh().await;
    let a = state.add_instance(&new_instance("a")).await.unwrap();
    let b = state.add_instance(&new_instance("b")).await.unwrap();
    // Not a member of the fleet yet: nothing can be committed.
    let e = state
        .commit_page(page(a.id, vec![event("u0", "{}")], b"c0"))
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::Fenced { .. }), "{e}");
    let _runner = state.claim_runner().await.unwrap();
    let shard = shard_of("acme.okta.com");
    assert!(state.holds(&a));
    state
        .commit_page(page(
            a.id,
            vec![event("u1", "{\"n\":1}"), event("u2", "{\"n\":2}")],
            b"c1",
        ))
        .await
        .unwrap();
    state
        .commit_page(page(b.id, vec![event("u3", "{\"n\":3}")], b"c2"))
        .await
        .unwrap();
    assert_eq!(state.outbox_depth().await.unwrap(), 3);
    let stats = state.instance_stats(0).await.unwrap();
    assert_eq!(
        (stats[&a.id].outbox_depth, stats[&b.id].outbox_depth),
        (2, 1)
    );

    let mut delivery = state.delivery().await.unwrap();
    let stream = Stream::Shard(shard);
    assert_eq!(delivery.streams().await.unwrap(), [stream]);
    let rows = delivery.read_batch(stream, 0, 10).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| (r.seq, r.instance_id, r.raw.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, a.id, "{\"n\":1}"),
            (2, a.id, "{\"n\":2}"),
            (3, b.id, "{\"n\":3}")
        ]
    );
    assert!(rows.iter().all(|r| r.stream == stream));
    let w = PendingWrite {
        sink: "webhook:https://r/x".into(),
        first_seq: 1,
        last_seq: 2,
        offset: 0,
    };
    delivery.begin_write(stream, &w).await.unwrap();
    assert_eq!(delivery.pending_write(stream).await.unwrap(), Some(w));
    delivery.ack(stream, 2).await.unwrap();
    assert_eq!(delivery.pending_write(stream).await.unwrap(), None);
    assert_eq!(delivery.acked_seq(stream).await.unwrap(), 2);
    assert_eq!(delivery.read_batch(stream, 2, 10).await.unwrap().len(), 1);
    assert_eq!(state.outbox_depth().await.unwrap(), 1);

    // Each instance's own numbering covers 1..N: the chaos test's oracle reads it.
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        cluster()
            .psql(
                db,
                "SELECT string_agg(instance_id || ':' || instance_first_seq || '+' || (last_seq - first_seq + 1), ',' ORDER BY first_seq) FROM outbox_pages"
            )
            .unwrap(),
        format!("{}:1+2,{}:1+1", a.id, b.id)
    );
    assert_eq!(state.instance("a").await.unwrap().events_total, 2);
}

#[tokio::test]
async fn a_zombie_whose_lease_was_taken_over_cannot_commit_or_acknowledge() {
    let (url, zombie) = fresh().await;
    let a = zombie.add_instance(&new_instance("a")).await.unwrap();
    let _z = zombie.claim_runner().await.unwrap();
    zombie
        .commit_page(page(a.id, vec![event("u1", "{}")], b"c1"))
        .await
        .unwrap();
    let shard = shard_of(&a.domain);
    // The zombie "pauses": its lease expires in the database (its local deadline would have stopped
    // it too, but a paused process does not look at clocks), and another host claims the shard.
    let db = url.rsplit('/').next().unwrap();
    cluster()
        .psql(
            db,
            "UPDATE shard_leases SET expires_at = now() - interval '1 second'",
        )
        .unwrap();
    let successor = PostgresState::connect(options(&url, "h2")).await.unwrap();
    let _s = successor.claim_runner().await.unwrap();
    assert!(successor.holds(&a));
    let e = zombie
        .commit_page(page(a.id, vec![event("u2", "{}")], b"c2"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, StateError::Fenced { .. }), "{msg}");
    assert!(msg.contains("epoch 2") && msg.contains("h2/"), "{msg}");
    let mut zd = zombie.delivery().await.unwrap();
    assert!(matches!(
        zd.ack(Stream::Shard(shard), 1).await,
        Err(StateError::Fenced { .. })
    ));
    let counters = zombie.fleet_counters().unwrap();
    assert!(
        counters.refused_commits >= 1 && counters.losses >= 1,
        "{counters:?}"
    );
    assert!(!zombie.holds(&a));
    // The successor continues from the last commit, with the next numbers.
    successor
        .commit_page(page(a.id, vec![event("u2", "{}")], b"c2"))
        .await
        .unwrap();
    assert_eq!(
        successor.cursor(a.id).await.unwrap().as_deref(),
        Some(&b"c2"[..])
    );
    assert_eq!(
        cluster()
            .psql(db, "SELECT string_agg(first_seq || '-' || last_seq || '@' || epoch, ',' ORDER BY first_seq) FROM outbox_pages")
            .unwrap(),
        "1-1@1,2-2@2"
    );
}

#[tokio::test]
async fn a_joining_host_gets_a_fair_share_and_a_leaving_one_hands_its_shards_over() {
    let (url, first) = fresh().await;
    for i in 0..6 {
        let mut n = new_instance(&format!("i{i}"));
        n.domain = format!("org{i}.okta.com");
        first.add_instance(&n).await.unwrap();
    }
    let active: std::collections::HashSet<u32> = (0..6)
        .map(|i| shard_of(&format!("org{i}.okta.com")))
        .collect();
    let _f = first.claim_runner().await.unwrap();
    assert_eq!(first.inner.leases.shards().len(), active.len());
    let second = PostgresState::connect(options(&url, "h2")).await.unwrap();
    let second_claim = second.claim_runner().await.unwrap();
    // A round each: the first gives back what is above its share, the second claims it.
    for _ in 0..2 {
        first
            .inner
            .leases
            .round(&first.inner.pool, &first.inner.location)
            .await
            .unwrap();
        second
            .inner
            .leases
            .round(&second.inner.pool, &second.inner.location)
            .await
            .unwrap();
    }
    let (a, b) = (first.inner.leases.shards(), second.inner.leases.shards());
    assert_eq!(a.len() + b.len(), active.len(), "{a:?} {b:?}");
    assert!(a.len().abs_diff(b.len()) <= 1, "{a:?} {b:?}");
    assert!(a.iter().all(|s| !b.contains(s)));
    let status = first.fleet_status().await.unwrap().unwrap();
    assert_eq!(status.hosts.iter().filter(|h| h.alive).count(), 2);
    assert_eq!(status.owner_of(b[0]), Some(second.host_id()));
    // A clean stop gives the leases back at once.
    second.leave().await;
    drop(second_claim);
    first
        .inner
        .leases
        .round(&first.inner.pool, &first.inner.location)
        .await
        .unwrap();
    assert_eq!(first.inner.leases.shards().len(), active.len());
}

#[tokio::test]
async fn idle_ticks_write_nothing_and_changes_are_recorded() {
    let (_url, state) = fresh().await;
    let a = state.add_instance(&new_instance("a")).await.unwrap();
    let tick = |at_ms, outcome, events| TickRecord {
        at_ms,
        outcome,
        error: None,
        events,
        token_scheme: None,
    };
    use crate::state::LastOutcome::{CaughtUp, More};
    state
        .record_ticks(&[(a.id, tick(1000, More, 5))])
        .await
        .unwrap();
    state
        .record_ticks(&[(a.id, tick(2000, CaughtUp, 0))])
        .await
        .unwrap();
    let seen = state.instance("a").await.unwrap();
    assert_eq!(
        (seen.last_tick_ms, seen.last_outcome),
        (Some(2000), Some(CaughtUp))
    );
    // The same outcome again, nothing committed: the row stays as it was.
    state
        .record_ticks(&[(a.id, tick(3000, CaughtUp, 0))])
        .await
        .unwrap();
    assert_eq!(state.instance("a").await.unwrap().last_tick_ms, Some(2000));
    let now = now_as_stored();
    state
        .record_ticks(&[(a.id, tick(now, More, 7))])
        .await
        .unwrap();
    let per_hour = state.events_per_hour(a.id, now - 3_600_000).await.unwrap();
    assert_eq!(per_hour.iter().map(|(_, n)| n).sum::<u64>(), 7);
    assert_eq!(
        state.instance_stats(now - 10).await.unwrap()[&a.id].events_since,
        7
    );
}

#[tokio::test]
async fn delivered_partitions_are_dropped_and_undelivered_ones_kept() {
    let (url, state) = fresh().await;
    let a = state.add_instance(&new_instance("a")).await.unwrap();
    let _runner = state.claim_runner().await.unwrap();
    state
        .commit_page(page(a.id, vec![event("u1", "{}")], b"c1"))
        .await
        .unwrap();
    let db = url.rsplit('/').next().unwrap();
    // Move the page into an old partition, as if it had been committed an hour ago.
    let now: i64 = cluster()
        .psql(db, "SELECT floor(extract(epoch from now()))::bigint / 600")
        .unwrap()
        .parse()
        .unwrap();
    let old = now - 6;
    cluster()
        .psql(
            db,
            &format!(
                "CREATE TABLE outbox_pages_b{old} PARTITION OF outbox_pages FOR VALUES FROM ({old}) TO ({});
                 UPDATE outbox_pages SET bucket = {old};",
                old + 1
            ),
        )
        .unwrap();
    let partitions = || {
        cluster()
            .psql(
                db,
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'outbox_pages'::regclass",
            )
            .unwrap()
    };
    state.ensure_partitions().await.unwrap();
    assert_eq!(
        partitions(),
        "4",
        "now, two ahead, and the undelivered old one"
    );
    let mut delivery = state.delivery().await.unwrap();
    let stream = Stream::Shard(shard_of(&a.domain));
    assert_eq!(delivery.read_batch(stream, 0, 10).await.unwrap().len(), 1);
    delivery.ack(stream, 1).await.unwrap();
    state.ensure_partitions().await.unwrap();
    assert_eq!(partitions(), "3", "the delivered one is dropped");
    // Numbers are never reused after a drop.
    state
        .commit_page(page(a.id, vec![event("u2", "{}")], b"c2"))
        .await
        .unwrap();
    assert_eq!(delivery.read_batch(stream, 1, 10).await.unwrap()[0].seq, 2);
}

#[tokio::test]
async fn components_are_kept_with_their_bytes_for_every_host() {
    let (url, state) = fresh().await;
    let rec = ComponentRecord {
        hash: ComponentHash::of(b"wasm"),
        name: "okta-system-log".into(),
        version: "1.2.0".into(),
        wit_version: "1.2.0".into(),
        state_schema: 1,
        path: "/elsewhere/x.wasm".into(),
        added_ms: 5,
    };
    state.add_component(&rec, b"wasm").await.unwrap();
    state.add_component(&rec, b"wasm").await.unwrap();
    let other = PostgresState::connect(options(&url, "h2")).await.unwrap();
    assert_eq!(
        other.components().await.unwrap(),
        std::slice::from_ref(&rec)
    );
    assert_eq!(
        other.component_bytes(&rec.hash).await.unwrap().as_deref(),
        Some(&b"wasm"[..])
    );
    let v = Version::Stored(rec.hash.clone());
    other
        .append_activation(Scope::Global, &v, ActivationKind::Activate, "activate")
        .await
        .unwrap();
    assert_eq!(
        state
            .newest_activation(Scope::Global)
            .await
            .unwrap()
            .map(|a| a.version),
        Some(v.clone())
    );
    assert!(state.activation_generation().await.unwrap() > 0);
    assert_eq!(state.record_failure(3, &v).await.unwrap(), 1);
    assert_eq!(state.record_failure(3, &v).await.unwrap(), 2);
    assert_eq!(
        state.record_failure(3, &Version::Embedded).await.unwrap(),
        1
    );
    state.clear_failures(3).await.unwrap();
    // Compiled-component digests are per host; nonces are shared.
    state.record_artifact("x.cwasm", "aa").await.unwrap();
    assert_eq!(other.artifact_digest("x.cwasm").await.unwrap(), None);
    assert_eq!(
        state.artifact_digest("x.cwasm").await.unwrap().as_deref(),
        Some("aa")
    );
    state
        .keep_dpop_nonce("acme.okta.com", "n1", 9)
        .await
        .unwrap();
    assert_eq!(
        other.dpop_nonce("acme.okta.com").await.unwrap(),
        Some(("n1".into(), 9))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_cut_off_from_the_database_stops_acting_and_resumes_by_itself() {
    use okta_ingest_test_postgres::BlackholeProxy;
    let url = cluster().fresh_database().unwrap();
    let proxy = BlackholeProxy::start(cluster().port()).unwrap();
    let via_proxy = url.replace(
        &format!(":{}/", cluster().port()),
        &format!(":{}/", proxy.port()),
    );
    let state = PostgresState::connect(options(&via_proxy, "h1"))
        .await
        .unwrap();
    let a = state.add_instance(&new_instance("a")).await.unwrap();
    let _runner = state.claim_runner().await.unwrap();
    state
        .commit_page(page(a.id, vec![event("u1", "{}")], b"c1"))
        .await
        .unwrap();

    // The network drops everything: within one lease time this host stops acting on its shard.
    proxy.set_blackhole(true);
    let ttl = state.inner.leases.ttl;
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
    assert!(!state.holds(&a), "still acting on a lease it cannot renew");
    assert!(state.fleet_counters().unwrap().failed_rounds >= 1);

    // The network heals: the lease loop gets the shard back (a new epoch) and commits go on.
    proxy.set_blackhole(false);
    let t0 = std::time::Instant::now();
    while !state.holds(&a) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "never resumed: {:?}",
            state.fleet_counters()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("resumed {:?} after the network healed", t0.elapsed());
    state
        .commit_page(page(a.id, vec![event("u2", "{}")], b"c2"))
        .await
        .unwrap();
    let db = url.rsplit('/').next().unwrap();
    assert_eq!(
        cluster()
            .psql(db, "SELECT string_agg(first_seq || '@' || epoch, ',' ORDER BY first_seq) FROM outbox_pages")
            .unwrap(),
        "1@1,2@2",
        "the shard was claimed anew after its lease lapsed"
    );
}
