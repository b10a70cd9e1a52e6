//! Benchmark 2, sandbox overhead: the same connector logic (`okta_ingest_connector::run_tick`) native
//! and inside the component, per page of 1,000 events.
//!
//! * native, in memory: a local `Env` serves pre-built pages (the emulator's own event texts) and a
//!   `commit_page` that only counts: the connector's CPU cost alone.
//! * native vs component, in memory: the same pages, served to the component through the public
//!   `Host` API with an `OutboundInterceptor` that answers in memory; both sides commit through the
//!   state's `Outbox` into a SQLite state file on tmpfs (no fsync), so the difference is the sandbox
//!   (instantiation, WASI/wasi:http glue, copies across the boundary, the host's page validation) and the
//!   host's per-tick work (version resolution, tick records).
//! * native vs component over HTTPS to the loopback emulator: both fetch the same pages from the same
//!   emulator and commit the same way.

use super::report::{Figure, Report};
use super::setup;
use anyhow::Context;
use okta_ingest::state::{InstanceStore, NewInstanceRecord, Outbox, Page as StatePage, PageEvent};
use okta_ingest::{
    Categories, Host, HostConfig, Instance, OutboundInterceptor, SqliteState, TickOutcome,
};
use okta_ingest_connector as conn;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
        categories: Categories::ALL,
        // The native side compares with the component on a Bearer app (the backfill benchmark measures
        // DPoP's cost end to end).
        dpop: conn::DpopMode::Off,
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
    let filter = conn::filter::build_filter(Categories::ALL);
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
    /// Commit into this state (instance id) like the host does, or only count.
    db: Option<(&'a Committer, i64)>,
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
    fn dpop_key(&mut self) -> Result<conn::env::ProofKey, String> {
        Err("no DPoP in this benchmark (a Bearer app)".into())
    }
    fn sign_dpop(&mut self, _: &str) -> Result<String, String> {
        Err("no DPoP in this benchmark (a Bearer app)".into())
    }
    fn dpop_nonce(&mut self) -> Option<conn::env::DpopNonce> {
        None
    }
    fn keep_dpop_nonce(&mut self, _: &str) {}
    fn commit_page(&mut self, events: Vec<conn::Event>, state: Vec<u8>) -> Result<(), String> {
        let n = events.len() as u64;
        if let Some((db, id)) = &self.db {
            db.commit(*id, events, state)?;
        }
        self.committed_events += n;
        Ok(())
    }
    fn log(&mut self, _: conn::LogLevel, _: &str) {}
}

/// RS256 over the client's key, for the native side's client assertions (the host's signer is not
/// public: the key never leaves the host).
struct Signer(rsa::pkcs1v15::SigningKey<sha2::Sha256>);

impl Signer {
    fn from_pem_file(path: &Path) -> anyhow::Result<Signer> {
        use rsa::pkcs8::DecodePrivateKey;
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).context("parsing the client key")?;
        Ok(Signer(rsa::pkcs1v15::SigningKey::new(key)))
    }

    fn sign_b64url(&self, input: &[u8]) -> String {
        use base64::Engine as _;
        use rsa::signature::{SignatureEncoding, Signer as _};
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0.sign(input).to_bytes())
    }
}

/// Commits natively through the same `Outbox` the host's runtime uses, from the connector's
/// synchronous `Env` (which runs on a blocking thread).
struct Committer {
    state: SqliteState,
    rt: tokio::runtime::Handle,
}

impl Committer {
    fn commit(
        &self,
        instance_id: i64,
        events: Vec<conn::Event>,
        cursor: Vec<u8>,
    ) -> Result<(), String> {
        let page = StatePage {
            instance_id,
            events: events
                .into_iter()
                .map(|e| PageEvent {
                    uuid: e.uuid,
                    event_type: e.event_type,
                    published: e.published,
                    categories: e.categories,
                    raw: e.raw,
                })
                .collect(),
            cursor,
        };
        self.rt
            .block_on(self.state.commit_page(page))
            .map_err(|e| e.to_string())
    }

    fn add(&self, name: &str, domain: &str, client: &setup::Client) -> anyhow::Result<i64> {
        Ok(self
            .rt
            .block_on(self.state.add_instance(&record(name, domain, client)))?
            .id)
    }
}

/// The native HTTPS `Env`: reqwest to the emulator, commits into the same kind of state DB as the host.
struct NetEnv<'a> {
    rt: tokio::runtime::Handle,
    client: reqwest::Client,
    signer: &'a Signer,
    db: &'a Committer,
    instance_id: i64,
    committed_events: u64,
}

impl conn::Env for NetEnv<'_> {
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
    fn dpop_key(&mut self) -> Result<conn::env::ProofKey, String> {
        Err("no DPoP in this benchmark (a Bearer app)".into())
    }
    fn sign_dpop(&mut self, _: &str) -> Result<String, String> {
        Err("no DPoP in this benchmark (a Bearer app)".into())
    }
    fn dpop_nonce(&mut self) -> Option<conn::env::DpopNonce> {
        None
    }
    fn keep_dpop_nonce(&mut self, _: &str) {}
    fn commit_page(&mut self, events: Vec<conn::Event>, state: Vec<u8>) -> Result<(), String> {
        let n = events.len() as u64;
        self.db.commit(self.instance_id, events, state)?;
        self.committed_events += n;
        Ok(())
    }
    fn log(&mut self, _: conn::LogLevel, _: &str) {}
}

/// Answers the component's requests in memory: a token, then the pages in order, then the empty page.
struct PageServer {
    pages: Arc<Vec<Page>>,
    next: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl OutboundInterceptor for PageServer {
    async fn respond(
        &self,
        parts: &http::request::Parts,
        _body: &bytes::Bytes,
    ) -> http::Response<bytes::Bytes> {
        let reply = |status: u16| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .header("x-rate-limit-limit", "1000000")
                .header("x-rate-limit-remaining", "999999")
                .header(
                    "x-rate-limit-reset",
                    (setup::now_ms() / 1000 + 60).to_string(),
                )
        };
        match parts.uri.path() {
            "/oauth2/v1/token" => reply(200)
                .body(bytes::Bytes::from_static(
                    br#"{"token_type":"Bearer","expires_in":3600,"access_token":"bench","scope":"okta.logs.read"}"#,
                ))
                .unwrap_or_default(),
            "/api/v1/logs" => {
                let i = self
                    .next
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    .min(self.pages.len() - 1);
                let p = &self.pages[i];
                reply(200)
                    .header("link", p.link.as_str())
                    .body(p.body.clone())
                    .unwrap_or_default()
            }
            _ => reply(500)
                .body(bytes::Bytes::from_static(b"{}"))
                .unwrap_or_default(),
        }
    }
}

fn mem_input(domain: &str) -> conn::TickInput {
    conn::TickInput {
        config: conn_config(domain, "0oa-bench", None),
        state: None,
        token: Some(conn::AccessToken {
            token: "bench".into(),
            expires_at_ms: setup::now_ms() + 3_600_000,
            scheme: conn::TokenScheme::Bearer,
        }),
        tuning: conn_tuning(),
    }
}

fn record(name: &str, domain: &str, client: &setup::Client) -> NewInstanceRecord {
    NewInstanceRecord {
        exclusions: Default::default(),
        redaction: Default::default(),
        name: name.into(),
        domain: domain.into(),
        client_id: client.client_id.clone(),
        key_id: Some(client.kid.clone()),
        private_key_path: client.key_path.clone(),
        backfill_days: 14,
        categories: Categories::ALL,
        ca_file: Some(client.ca_path.clone()),
        dpop: okta_ingest::DpopMode::Auto,
        silence_after_s: okta_ingest::DEFAULT_SILENCE_AFTER.as_secs() as i64,
        paused: false,
    }
}

/// A host for the component side: the embedded connector, a fresh state file, pacing like the native
/// side (every page in one tick, 100% of the rate limit), requests answered by `interceptor` if given.
fn component_host(
    state: &Path,
    interceptor: Option<Arc<dyn OutboundInterceptor>>,
) -> anyhow::Result<Host> {
    let mut cfg = HostConfig::new(state);
    cfg.component_cache = None;
    cfg.tuning.max_pages_per_tick = 100_000;
    cfg.tuning.rate_limit_share_percent = 100;
    cfg.outbound_interceptor = interceptor;
    Ok(Host::open(cfg)?)
}

/// One component tick of a new instance from no cursor to caught up, through `Host::tick`; returns
/// seconds and checks the result. The host caches the app's token: only the first tick fetches one.
async fn component_tick(
    host: &Host,
    instance: &Instance,
    selected: u64,
    reset_server: impl FnOnce(),
) -> anyhow::Result<f64> {
    reset_server();
    let t = Instant::now();
    let r = host.tick(instance).await.context("component tick")?;
    let el = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        matches!(r.outcome, TickOutcome::CaughtUp),
        "component tick failed: {:?}",
        r.outcome.failure().map(|f| &f.message)
    );
    anyhow::ensure!(
        r.committed.events == selected,
        "component committed {} of {selected}",
        r.committed.events
    );
    Ok(el)
}

/// Removes the previous run's instance (untimed): each run starts a fresh backfill on a new instance, and
/// one app may have only one instance reading the same categories. Its committed pages stay queued, as
/// they did when the instances were kept.
async fn retire_previous(host: &Host, prefix: &str, i: usize) -> anyhow::Result<()> {
    if i > 0 {
        host.remove_instance(&format!("{prefix}-{}", i - 1)).await?;
    }
    Ok(())
}

/// Adds a component-side instance through the host (validated like `instance add`).
async fn add(
    host: &Host,
    name: &str,
    domain: &str,
    client: &setup::Client,
) -> anyhow::Result<Instance> {
    Ok(host
        .add_instance(okta_ingest::NewInstance {
            exclusions: Default::default(),
            redaction: Default::default(),
            name: name.into(),
            domain: domain.into(),
            client_id: client.client_id.clone(),
            private_key: client.key_path.clone(),
            key_id: Some(client.kid.clone()),
            backfill_days: 14,
            categories: Categories::ALL,
            ca_file: Some(client.ca_path.clone()),
            dpop: okta_ingest::DpopMode::Auto,
            silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
        })
        .await?)
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
        .filter(|e| !conn::categories::classify(&e.event_type, Categories::ALL).is_empty())
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
        let (native, comp) = mem_pair(&shm, &pages, &client, mem_domain, runs * 3, full_pages, selected).await?;
        let common = format!(
            "{full_pages} pre-built pages of 1,000 (+ the empty page) served in memory, commit through the Outbox to SQLite on tmpfs (no fsync); median of {} runs after a warm-up",
            runs * 3
        );
        report.push(Figure::new(B, "native, in memory + SQLite commit", native, "ms/page", 3, &format!("run_tick natively; {common}")));
        report.push(Figure::new(
            B,
            "component, in memory + SQLite commit",
            comp,
            "ms/page",
            3,
            &format!("Host::tick with an in-memory OutboundInterceptor (fresh Store + instantiate, wasi:http hook, host page validation, version resolution, tick record); {common}"),
        ));
        report.push(
            Figure::new(B, "component / native (in memory)", comp / native, "x", 2, "ratio of the two figures above: the sandbox's overhead on the same work")
                .target("<= 1.5x", 1.5, false),
        );
        let (native, comp) = https_pair(&shm, &client, &domain, runs, full_pages, selected).await?;
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
            &format!("Host::tick through the host's HTTPS transport (the host commits pages on another thread and the component prefetches the next page; the native baseline does neither); {common}"),
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

/// Runs `f` natively on a blocking thread with a committer on a fresh state file (its HTTP and commits
/// block on this runtime).
async fn on_blocking_thread<T: Send + 'static>(
    state_file: PathBuf,
    f: impl FnOnce(&Committer) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let committer = Committer {
            state: SqliteState::open(&state_file)?,
            rt,
        };
        f(&committer)
    })
    .await?
}

/// Native (committing like the host) vs component, both served the pre-built pages in memory.
async fn mem_pair(
    shm: &Path,
    pages: &Arc<Vec<Page>>,
    client: &setup::Client,
    domain: &str,
    runs: usize,
    full_pages: usize,
    selected: u64,
) -> anyhow::Result<(f64, f64)> {
    let per_page = move |secs: f64| secs * 1000.0 / full_pages as f64;
    // Separate, fresh state files: the side measured second must not pay for a table the first one filled.
    let (native_pages, native_domain, native_client) =
        (pages.clone(), domain.to_string(), client.clone());
    let mut native = on_blocking_thread(shm.join("mem-native.db"), move |db| {
        let mut out = Vec::new();
        for i in 0..=runs {
            let id = db.add(&format!("native-mem-{i}"), &native_domain, &native_client)?;
            let mut env = MemEnv {
                pages: &native_pages,
                next: 0,
                committed_events: 0,
                db: Some((db, id)),
            };
            let t = Instant::now();
            let r = conn::run_tick(&mut env, mem_input(&native_domain));
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
                out.push(per_page(el));
            }
        }
        Ok(out)
    })
    .await?;
    let server = Arc::new(PageServer {
        pages: pages.clone(),
        next: Default::default(),
    });
    let host = component_host(
        &shm.join("mem-component.db"),
        Some(server.clone() as Arc<dyn OutboundInterceptor>),
    )?;
    let mut comp = Vec::new();
    // Run 0 is a warm-up (compile, the token); the host keeps the token for the later runs.
    for i in 0..=runs {
        retire_previous(&host, "component-mem", i).await?;
        let instance = add(&host, &format!("component-mem-{i}"), domain, client).await?;
        let reset = || server.next.store(0, std::sync::atomic::Ordering::Relaxed);
        let el = component_tick(&host, &instance, selected, reset).await?;
        if i > 0 {
            comp.push(per_page(el));
        }
    }
    Ok((setup::median(&mut native), setup::median(&mut comp)))
}

/// Native (reqwest) vs component (the host's transport), both over HTTPS to the loopback emulator.
async fn https_pair(
    shm: &Path,
    client: &setup::Client,
    domain: &str,
    runs: usize,
    full_pages: usize,
    selected: u64,
) -> anyhow::Result<(f64, f64)> {
    let per_page = move |secs: f64| secs * 1000.0 / full_pages as f64;
    // Separate, fresh state files for the two sides (see `mem_pair`).
    let host = component_host(&shm.join("https-component.db"), None)?;
    let mut comp = Vec::new();
    // Run 0 is a warm-up; it also fetches the token every later run reuses.
    for i in 0..=runs {
        retire_previous(&host, "component", i).await?;
        let instance = add(&host, &format!("component-{i}"), domain, client).await?;
        let el = component_tick(&host, &instance, selected, || {}).await?;
        if i > 0 {
            comp.push(per_page(el));
        }
    }
    drop(host);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&client.ca_path)?)?;
    let http_client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .build()?;
    let handle = tokio::runtime::Handle::current();
    let (domain_s, client_c) = (domain.to_string(), client.clone());
    let mut native = on_blocking_thread(shm.join("https-native.db"), move |db| {
        let signer = Signer::from_pem_file(&client_c.key_path)?;
        let mut token: Option<conn::AccessToken> = None;
        let mut out = Vec::new();
        // Run 0 is a warm-up and gets the token the later runs reuse, like the component side.
        for i in 0..=runs {
            let id = db.add(&format!("native-{i}"), &domain_s, &client_c)?;
            let mut env = NetEnv {
                rt: handle.clone(),
                client: http_client.clone(),
                signer: &signer,
                db,
                instance_id: id,
                committed_events: 0,
            };
            let input = conn::TickInput {
                config: conn_config(&domain_s, &client_c.client_id, Some(&client_c.kid)),
                state: None,
                token: token.clone(),
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
            if i == 0 {
                token = r.token;
            } else {
                out.push(per_page(el));
            }
        }
        Ok(out)
    })
    .await?;
    Ok((setup::median(&mut native), setup::median(&mut comp)))
}
