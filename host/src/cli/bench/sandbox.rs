//! Benchmark 2, sandbox overhead: the same connector logic (`okta_ingest_connector::run_tick`) native
//! and inside the component, per page of 1,000 events.
//!
//! * native, in memory: a local `Env` serves pre-built pages (the emulator's own event texts) and a
//!   `commit_page` that only counts: the connector's CPU cost alone.
//! * native vs component, in memory: the same pages, served to the component through the host's
//!   `Transport::InMemory` hook; both sides commit into a SQLite state DB on tmpfs (no fsync), so the
//!   difference is the sandbox (instantiation, WASI/wasi:http glue, copies across the boundary, the host's
//!   page validation).
//! * native vs component over HTTPS to the loopback emulator: both fetch the same pages from the same
//!   emulator and commit the same way.

use super::report::{Figure, Report};
use super::setup;
use anyhow::Context;
use okta_ingest::http::{AllowedOrigin, ClientPool, HttpLimits, InstanceHttp, Transport};
use okta_ingest::runtime::{wit, CallContext, ComponentSource, ConnectorRuntime, SandboxLimits};
use okta_ingest::signing::Rs256Signer;
use okta_ingest::state::{InstanceRecord, PageEvent, StateDb};
use okta_ingest_connector as conn;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const B: &str = "2. sandbox overhead";

/// One served page: body and `link` header.
struct Page {
    body: bytes::Bytes,
    link: String,
}

fn conn_config(domain: &str, client_id: &str, kid: Option<&str>) -> conn::InstanceConfig {
    conn::InstanceConfig {
        domain: domain.into(),
        client_id: client_id.into(),
        key_id: kid.map(str::to_string),
        backfill_days: 14,
        categories: conn::Categories::ALL,
    }
}

fn conn_tuning() -> conn::Tuning {
    conn::Tuning {
        max_pages: 100_000,
        max_wait_ms: 120_000,
        retry_base_ms: 1_000,
        max_retries: 4,
        rate_limit_share_percent: 100,
        page_size: 1000,
        request_timeout_ms: 60_000,
    }
}

/// Pages of 1,000 selected events from the emulator's committed texts, then the empty page.
fn build_pages(raws: &[String], domain: &str) -> Vec<Page> {
    let filter = conn::filter::build_filter(conn::Categories::ALL);
    let mut pages: Vec<Page> = raws
        .chunks(1000)
        .enumerate()
        .map(|(i, chunk)| Page {
            body: format!("[{}]", chunk.join(",")).into(),
            link: format!(
                "<{}>; rel=\"next\"",
                conn::filter::logs_url_after(domain, 1000, &filter, &format!("1700000000000_{i}"))
            ),
        })
        .collect();
    pages.push(Page {
        body: bytes::Bytes::from_static(b"[]"),
        link: format!(
            "<{}>; rel=\"next\"",
            conn::filter::logs_url_after(domain, 1000, &filter, "1700000000000_last")
        ),
    });
    pages
}

/// The in-memory `Env`: serves the pages in order, counts commits.
struct MemEnv<'a> {
    pages: &'a [Page],
    next: usize,
    committed_events: u64,
    /// Commit into this state DB (instance id) like the host does, or only count.
    db: Option<(&'a mut StateDb, i64)>,
}

impl conn::Env for MemEnv<'_> {
    fn now_ms(&self) -> u64 {
        setup::now_ms()
    }
    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        vec![0x5a; n]
    }
    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    fn http(&mut self, req: conn::HttpRequest) -> Result<conn::HttpResponse, conn::HttpError> {
        if !req.url.contains("/api/v1/logs") {
            return Err(conn::HttpError {
                kind: conn::HttpErrorKind::Denied,
                message: format!("unexpected request {}", req.url),
            });
        }
        let p = &self.pages[self.next.min(self.pages.len() - 1)];
        self.next += 1;
        let reset = (setup::now_ms() / 1000 + 60).to_string();
        Ok(conn::HttpResponse {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("link".into(), p.link.clone()),
                ("x-rate-limit-limit".into(), "1000000".into()),
                ("x-rate-limit-remaining".into(), "999999".into()),
                ("x-rate-limit-reset".into(), reset),
            ],
            body: p.body.to_vec(),
        })
    }
    fn sign(&mut self, _: &str) -> Result<String, String> {
        Err("no key in the in-memory benchmark (a token is given)".into())
    }
    fn commit_page(&mut self, events: Vec<conn::Event>, state: Vec<u8>) -> Result<(), String> {
        if let Some((db, id)) = &mut self.db {
            commit(db, *id, &events, &state)?;
        }
        self.committed_events += events.len() as u64;
        Ok(())
    }
    fn log(&mut self, _: conn::LogLevel, _: &str) {}
}

/// The native HTTPS `Env`: reqwest to the emulator, commits into the same kind of state DB as the host.
struct NetEnv {
    rt: tokio::runtime::Handle,
    client: reqwest::Client,
    signer: Rs256Signer,
    db: StateDb,
    instance_id: i64,
    committed_events: u64,
}

impl conn::Env for NetEnv {
    fn now_ms(&self) -> u64 {
        setup::now_ms()
    }
    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| rand::random::<u8>()).collect()
    }
    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    fn http(&mut self, req: conn::HttpRequest) -> Result<conn::HttpResponse, conn::HttpError> {
        let client = self.client.clone();
        self.rt.block_on(async move {
            let method = match req.method {
                conn::Method::Get => reqwest::Method::GET,
                conn::Method::Post => reqwest::Method::POST,
            };
            let mut b = client.request(method, &req.url);
            for (k, v) in &req.headers {
                b = b.header(k, v);
            }
            if !req.body.is_empty() {
                b = b.body(req.body);
            }
            let err = |e: reqwest::Error| conn::HttpError {
                kind: conn::HttpErrorKind::Network,
                message: e.to_string(),
            };
            let resp = b.send().await.map_err(err)?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = resp.bytes().await.map_err(err)?.to_vec();
            Ok(conn::HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
    fn sign(&mut self, input: &str) -> Result<String, String> {
        Ok(self.signer.sign_b64url(input.as_bytes()))
    }
    fn commit_page(&mut self, events: Vec<conn::Event>, state: Vec<u8>) -> Result<(), String> {
        commit(&mut self.db, self.instance_id, &events, &state)?;
        self.committed_events += events.len() as u64;
        Ok(())
    }
    fn log(&mut self, _: conn::LogLevel, _: &str) {}
}

/// Commits a page as the host's `commit-page` does (same `StateDb::commit_page`).
fn commit(db: &mut StateDb, id: i64, events: &[conn::Event], state: &[u8]) -> Result<(), String> {
    let refs: Vec<PageEvent<'_>> = events
        .iter()
        .map(|e| PageEvent {
            uuid: &e.uuid,
            event_type: &e.event_type,
            published: &e.published,
            categories: e.categories.0,
            raw: &e.raw,
        })
        .collect();
    db.commit_page(id, &refs, state).map_err(|e| e.to_string())
}

/// The in-memory transport for the component: the same pages in order, then the empty page.
fn page_handler(pages: Arc<Vec<Page>>) -> okta_ingest::http::InMemoryHandler {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move |parts: &http::request::Parts, _body: &[u8]| {
        if parts.uri.path() != "/api/v1/logs" {
            return http::Response::builder()
                .status(500)
                .body(bytes::Bytes::from_static(b"{}"))
                .unwrap_or_default();
        }
        let i = next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .min(pages.len() - 1);
        let p = &pages[i];
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("link", p.link.as_str())
            .header("x-rate-limit-limit", "1000000")
            .header("x-rate-limit-remaining", "999999")
            .header(
                "x-rate-limit-reset",
                (setup::now_ms() / 1000 + 60).to_string(),
            )
            .body(p.body.clone())
            .unwrap_or_default()
    })
}

fn mem_input(domain: &str) -> conn::TickInput {
    conn::TickInput {
        config: conn_config(domain, "0oa-bench", None),
        state: None,
        token: Some(conn::AccessToken {
            token: "bench".into(),
            expires_at_ms: setup::now_ms() + 3_600_000,
        }),
        tuning: conn_tuning(),
    }
}

fn wit_tuning() -> wit::Tuning {
    wit::Tuning {
        max_pages: 100_000,
        max_wait_ms: 120_000,
        retry_base_ms: 1_000,
        max_retries: 4,
        rate_limit_share_percent: 100,
        page_size: 1000,
        request_timeout_ms: 60_000,
    }
}

/// One component tick from no cursor to caught up; returns seconds and checks the result.
#[allow(clippy::too_many_arguments)]
async fn component_tick(
    rt: &ConnectorRuntime,
    db: &Arc<Mutex<StateDb>>,
    signer: &Arc<Rs256Signer>,
    name: String,
    domain: &str,
    client: &setup::Client,
    transport: Transport,
    token: Option<wit::AccessToken>,
    selected: u64,
) -> anyhow::Result<(f64, Option<wit::AccessToken>)> {
    let id = db
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .add_instance(&record(&name, domain, client))?;
    let ctx = CallContext {
        instance_id: id,
        instance: name.clone(),
        signer: Some(signer.clone()),
        db: Some(db.clone()),
        http: InstanceHttp {
            budget: None,
            origin: AllowedOrigin::from_domain(domain),
            transport,
            limits: HttpLimits::default(),
            instance: name,
        },
        observer: None,
    };
    let input = wit::TickInput {
        config: wit::InstanceConfig {
            domain: domain.into(),
            client_id: client.client_id.clone(),
            key_id: Some(client.kid.clone()),
            backfill_days: 14,
            categories: okta_ingest::runtime::categories_from_bits(0b1111),
        },
        state: None,
        token,
        tuning: wit_tuning(),
    };
    let t = Instant::now();
    let (r, stats) = rt.tick(ctx, input).await.context("component tick")?;
    let el = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        r.error.is_none() && r.caught_up,
        "component tick failed: {:?}",
        r.error.map(|e| e.message)
    );
    anyhow::ensure!(
        stats.events == selected,
        "component committed {} of {selected}",
        stats.events
    );
    Ok((el, r.token))
}

fn record(name: &str, domain: &str, client: &setup::Client) -> InstanceRecord {
    InstanceRecord {
        id: 0,
        name: name.into(),
        domain: domain.into(),
        client_id: client.client_id.clone(),
        key_id: Some(client.kid.clone()),
        private_key_path: client.key_path.clone(),
        backfill_days: 14,
        categories: 0b1111,
        ca_file: Some(client.ca_path.clone()),
        created_ms: 0,
        has_cursor: false,
        last_tick_ms: None,
        last_outcome: None,
        last_error: None,
        events_total: 0,
    }
}

fn tmpfs_dir(dir: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join(format!("okta-ingest-bench-{}-sandbox", std::process::id()))
    } else {
        dir.to_path_buf()
    }
}

/// Runs the measurements.
pub async fn run(dir: &Path, quick: bool, report: &mut Report) -> anyhow::Result<()> {
    let (n_events, runs) = if quick { (6_000, 3) } else { (30_000, 7) };
    let emu = setup::emulator(n_events, 1).await?;
    let client = setup::register(&emu, dir, "0oa-bench-sandbox")?;
    let domain = emu.domain();
    let raws: Vec<String> = emu
        .committed()
        .into_iter()
        .filter(|e| !conn::categories::classify(&e.event_type, conn::Categories::ALL).is_empty())
        .map(|e| e.raw)
        .collect();
    let full_pages = raws.len().div_ceil(1000);
    let selected = raws.len() as u64;
    let per_page = |secs: f64| secs * 1000.0 / full_pages as f64;
    let mem_domain = "bench.okta.com";
    let pages = Arc::new(build_pages(&raws, mem_domain));

    // Native, in memory, commit only counts.
    let mut mem = Vec::new();
    for i in 0..(runs * 3 + 1) {
        let mut env = MemEnv {
            pages: &pages,
            next: 0,
            committed_events: 0,
            db: None,
        };
        let t = Instant::now();
        let r = conn::run_tick(&mut env, mem_input(mem_domain));
        let el = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            r.error.is_none() && r.caught_up,
            "native in-memory tick failed: {:?}",
            r.error
        );
        anyhow::ensure!(
            env.committed_events == selected,
            "native in-memory committed {} of {selected}",
            env.committed_events
        );
        if i > 0 {
            mem.push(per_page(el));
        }
    }
    let mem_ms = setup::median(&mut mem);
    report.push(Figure::new(
        B,
        "native, in memory, commit counts only",
        mem_ms,
        "ms/page",
        3,
        &format!("run_tick natively over {full_pages} pre-built pages of 1,000 emulator events (+ the empty page), commit_page only counts: the connector's own CPU cost; median of {} runs", mem.len()),
    ));

    let shm = tmpfs_dir(dir);
    std::fs::create_dir_all(&shm)?;
    let result = async {
        let rt = ConnectorRuntime::load(&ComponentSource::Embedded, SandboxLimits::default()).await?;
        let signer = Arc::new(Rs256Signer::from_pem_file(&client.key_path)?);
        let (native, comp) = mem_pair(&shm, &rt, &signer, &pages, &client, mem_domain, runs * 3, full_pages, selected).await?;
        let common = format!(
            "{full_pages} pre-built pages of 1,000 (+ the empty page) served in memory, commit to SQLite on tmpfs (no fsync); median of {} runs after a warm-up",
            runs * 3
        );
        report.push(Figure::new(B, "native, in memory + SQLite commit", native, "ms/page", 3, &format!("run_tick natively; {common}")));
        report.push(Figure::new(
            B,
            "component, in memory + SQLite commit",
            comp,
            "ms/page",
            3,
            &format!("ConnectorRuntime::tick with Transport::InMemory (fresh Store + instantiate, wasi:http hook, host page validation); {common}"),
        ));
        report.push(
            Figure::new(B, "component / native (in memory)", comp / native, "x", 2, "ratio of the two figures above: the sandbox's overhead on the same work")
                .target("<= 1.5x", 1.5, false),
        );
        let (native, comp) = https_pair(&shm, &rt, &signer, &client, &domain, runs, full_pages, selected).await?;
        let common = format!(
            "{full_pages} pages of 1,000 (+ the empty page) from the loopback emulator over HTTPS (keep-alive), token fetched once and reused, commit to SQLite on tmpfs; median of {runs} runs after a warm-up"
        );
        report.push(Figure::new(B, "native incl. HTTPS to loopback emulator", native, "ms/page", 3, &format!("run_tick natively, reqwest; {common}")));
        report.push(Figure::new(
            B,
            "component incl. HTTPS to loopback emulator",
            comp,
            "ms/page",
            3,
            &format!("ConnectorRuntime::tick through the host's HTTPS transport (the host commits pages on another thread and the component prefetches the next page; the native baseline does neither); {common}"),
        ));
        report.push(
            Figure::new(B, "component / native (HTTPS)", comp / native, "x", 2, "ratio of the two HTTPS figures; the emulator serving on the same 2 cores dilutes it, and the component side overlaps fetching with committing")
                .target("<= 1.5x", 1.5, false),
        );
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&shm);
    emu.shutdown().await;
    result
}

/// Native (committing like the host) vs component, both served the pre-built pages in memory.
#[allow(clippy::too_many_arguments)]
async fn mem_pair(
    shm: &Path,
    rt: &ConnectorRuntime,
    signer: &Arc<Rs256Signer>,
    pages: &Arc<Vec<Page>>,
    client: &setup::Client,
    domain: &str,
    runs: usize,
    full_pages: usize,
    selected: u64,
) -> anyhow::Result<(f64, f64)> {
    let per_page = |secs: f64| secs * 1000.0 / full_pages as f64;
    // Separate, fresh databases: the side measured second must not pay for a table the first one filled.
    let mut sdb = StateDb::open(&shm.join("mem-native.db"))?;
    let mut native = Vec::new();
    for i in 0..=runs {
        let id = sdb.add_instance(&record(&format!("native-mem-{i}"), domain, client))?;
        let mut env = MemEnv {
            pages,
            next: 0,
            committed_events: 0,
            db: Some((&mut sdb, id)),
        };
        let t = Instant::now();
        let r = conn::run_tick(&mut env, mem_input(domain));
        let el = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            r.error.is_none() && r.caught_up,
            "native in-memory tick failed: {:?}",
            r.error.map(|e| e.message)
        );
        anyhow::ensure!(
            env.committed_events == selected,
            "native in-memory committed {} of {selected}",
            env.committed_events
        );
        if i > 0 {
            native.push(per_page(el));
        }
    }
    drop(sdb);
    let db = Arc::new(Mutex::new(StateDb::open(&shm.join("mem-component.db"))?));
    let token = wit::AccessToken {
        token: "bench".into(),
        expires_at_ms: setup::now_ms() + 3_600_000,
    };
    let mut comp = Vec::new();
    for i in 0..=runs {
        let transport = Transport::InMemory(page_handler(pages.clone()));
        let (el, _) = component_tick(
            rt,
            &db,
            signer,
            format!("component-mem-{i}"),
            domain,
            client,
            transport,
            Some(token.clone()),
            selected,
        )
        .await?;
        if i > 0 {
            comp.push(per_page(el));
        }
    }
    Ok((setup::median(&mut native), setup::median(&mut comp)))
}

/// Native (reqwest) vs component (host transport), both over HTTPS to the loopback emulator.
#[allow(clippy::too_many_arguments)]
async fn https_pair(
    shm: &Path,
    rt: &ConnectorRuntime,
    signer: &Arc<Rs256Signer>,
    client: &setup::Client,
    domain: &str,
    runs: usize,
    full_pages: usize,
    selected: u64,
) -> anyhow::Result<(f64, f64)> {
    let per_page = move |secs: f64| secs * 1000.0 / full_pages as f64;
    // Separate, fresh databases for the two sides (see `mem_pair`).
    let db = Arc::new(Mutex::new(StateDb::open(&shm.join("https-component.db"))?));
    let db_path = shm.join("https-native.db");
    let pool = ClientPool::new(HttpLimits::default());
    let http_client = pool.client(Some(&client.ca_path))?;
    let mut token: Option<wit::AccessToken> = None;
    let mut comp = Vec::new();
    // Run 0 is a warm-up; it also fetches the token every later run of both sides reuses.
    for i in 0..=runs {
        let transport = Transport::Network(http_client.clone());
        let (el, t) = component_tick(
            rt,
            &db,
            signer,
            format!("component-{i}"),
            domain,
            client,
            transport,
            token.clone(),
            selected,
        )
        .await?;
        if i == 0 {
            token = t;
        } else {
            comp.push(per_page(el));
        }
    }
    let conn_token = token.as_ref().map(|t| conn::AccessToken {
        token: t.token.clone(),
        expires_at_ms: t.expires_at_ms,
    });
    drop(db);
    // Native: run_tick on a blocking thread, its HTTP blocking on this runtime.
    let handle = tokio::runtime::Handle::current();
    let (domain_s, client_c) = (domain.to_string(), client.clone());
    let mut native: Vec<f64> = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<f64>> {
        let mut out = Vec::new();
        let mut db = Some(StateDb::open(&db_path)?);
        for i in 0..=runs {
            let sdb = db.take().context("db")?;
            let id = sdb.add_instance(&record(&format!("native-{i}"), &domain_s, &client_c))?;
            let mut env = NetEnv {
                rt: handle.clone(),
                client: http_client.clone(),
                signer: Rs256Signer::from_pem_file(&client_c.key_path)?,
                db: sdb,
                instance_id: id,
                committed_events: 0,
            };
            let input = conn::TickInput {
                config: conn_config(&domain_s, &client_c.client_id, Some(&client_c.kid)),
                state: None,
                token: conn_token.clone(),
                tuning: conn_tuning(),
            };
            let t = Instant::now();
            let r = conn::run_tick(&mut env, input);
            let el = t.elapsed().as_secs_f64();
            anyhow::ensure!(
                r.error.is_none() && r.caught_up,
                "native HTTPS tick failed: {:?}",
                r.error.map(|e| e.message)
            );
            anyhow::ensure!(
                env.committed_events == selected,
                "native HTTPS committed {} of {selected}",
                env.committed_events
            );
            if i > 0 {
                out.push(per_page(el));
            }
            db = Some(env.db);
        }
        Ok(out)
    })
    .await??;
    Ok((setup::median(&mut native), setup::median(&mut comp)))
}
