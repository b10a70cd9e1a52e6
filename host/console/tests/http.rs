//! The console's security rules over raw HTTP, one test each: wrong Host → 421, no session → 401, the
//! login token works once and becomes an `HttpOnly; SameSite=Strict` cookie, a cross-site POST → 403,
//! no answer ever carries a private key, and the JSON API has `status --json`'s shape.

use okta_ingest::{Categories, DpopMode, GeneratedKey, Host, HostConfig, NewInstance};
use okta_ingest_console::{ConsoleOptions, ConsoleServer};
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;

struct Console {
    addr: SocketAddr,
    login: String,
    host: Host,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn console() -> Console {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::open(HostConfig::new(dir.path().join("state.db"))).unwrap();
    let server = ConsoleServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        ConsoleOptions {
            sink: "file:/tmp/events.jsonl".into(),
            keys_dir: dir.path().join("keys"),
        },
    )
    .await
    .unwrap();
    let addr = server.local_addr().unwrap();
    let login = server.login_url().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(host.clone(), async {
        let _ = stopped.await;
    }));
    Console {
        addr,
        login,
        host,
        dir,
        _stop: stop,
    }
}

/// A parsed answer.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends one raw HTTP/1.1 request (blocking, on a thread of its own) and reads the whole answer.
async fn raw(addr: SocketAddr, request: String) -> Answer {
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap();
        Answer {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    })
    .await
    .unwrap()
}

fn get(host: &str, path: &str, cookie: Option<&str>) -> String {
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n")
}

fn post(host: &str, path: &str, cookie: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Logs in with the one-time link; the session cookie (`name=value`).
async fn login(c: &Console) -> String {
    let path_and_query = c
        .login
        .split_once(&c.addr.to_string())
        .unwrap()
        .1
        .to_string();
    let a = raw(
        c.addr,
        get(
            &format!("127.0.0.1:{}", c.addr.port()),
            &path_and_query,
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.head);
    assert_eq!(
        a.header("location").as_deref(),
        Some("/"),
        "the token leaves the address bar"
    );
    let cookie = a.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

/// An instance "acme" with a key made for it (never contacted: these tests read pages, not Okta).
fn acme(c: &Console) -> NewInstance {
    let key = GeneratedKey::generate().unwrap();
    let key_path = c.dir.path().join("k.pem");
    key.write_private_pem(&key_path).unwrap();
    NewInstance {
        exclusions: Default::default(),
        redaction: Default::default(),
        name: "acme".into(),
        domain: "acme.okta.com".into(),
        client_id: "0oa123".into(),
        private_key: key_path,
        key_id: Some(key.public().kid.clone()),
        backfill_days: 3,
        categories: Categories::DEFAULT,
        ca_file: None,
        dpop: DpopMode::Auto,
        silence_after: Some(okta_ingest::DEFAULT_SILENCE_AFTER),
    }
}

/// The headers a browser sends with a same-origin form POST (the CSRF layer lets it through).
fn same_origin(c: &Console) -> String {
    format!(
        "Sec-Fetch-Site: same-origin\r\nOrigin: http://{}\r\n",
        me(c)
    )
}

fn me(c: &Console) -> String {
    format!("127.0.0.1:{}", c.addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_header_gets_421_before_anything_else() {
    let c = console().await;
    let cookie = login(&c).await;
    for host in [
        "evil.example",
        "evil.example:80",
        &format!("attacker.test:{}", c.addr.port()),
        "127.0.0.1",
    ] {
        let a = raw(c.addr, get(host, "/", Some(&cookie))).await;
        assert_eq!(a.status, 421, "Host {host}: {}", a.head);
        assert!(
            a.header("content-security-policy").is_some(),
            "headers on refusals too"
        );
    }
    for host in [me(&c), format!("localhost:{}", c.addr.port())] {
        assert_eq!(
            raw(c.addr, get(&host, "/", Some(&cookie))).await.status,
            200,
            "{host}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_every_path_is_401() {
    let c = console().await;
    for path in [
        "/",
        "/setup",
        "/api/instances",
        "/assets/htmx.min.js",
        "/instances/x",
        "/nope",
    ] {
        let a = raw(c.addr, get(&me(&c), path, None)).await;
        assert_eq!(a.status, 401, "{path}");
        let a = raw(
            c.addr,
            get(&me(&c), path, Some("okta_ingest_session=forged")),
        )
        .await;
        assert_eq!(a.status, 401, "{path} with a forged cookie");
    }
    let a = raw(
        c.addr,
        post(
            &me(&c),
            "/setup",
            "okta_ingest_session=forged",
            "",
            "action=generate",
        ),
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(
        !c.dir.path().join("keys").exists(),
        "nothing done without a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_token_works_once() {
    let c = console().await;
    let cookie = login(&c).await;
    let path_and_query = c
        .login
        .split_once(&c.addr.to_string())
        .unwrap()
        .1
        .to_string();
    let again = raw(c.addr, get(&me(&c), &path_and_query, None)).await;
    assert_eq!(again.status, 401, "a used link never signs in again");
    assert!(again.header("set-cookie").is_none());
    let wrong = raw(
        c.addr,
        get(&me(&c), "/?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", None),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let a = raw(c.addr, get(&me(&c), "/", Some(&cookie))).await;
    assert_eq!(a.status, 200, "the session it made still works");
    assert!(a.body.contains("No instances yet"), "{}", a.body);
    let csp = a.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(a.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        a.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(
        !a.body.contains("<script>"),
        "no inline script (the CSP forbids it)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_site_post_is_refused_with_403() {
    let c = console().await;
    let cookie = login(&c).await;
    let cross = "Sec-Fetch-Site: cross-site\r\nOrigin: https://evil.example\r\n";
    for path in ["/setup", "/instances/x/remove", "/instances/x/check"] {
        let a = raw(
            c.addr,
            post(&me(&c), path, &cookie, cross, "action=generate&confirm=x"),
        )
        .await;
        assert_eq!(a.status, 403, "{path}: {}", a.head);
    }
    let other_origin = "Origin: http://127.0.0.1:1\r\n";
    let a = raw(
        c.addr,
        post(&me(&c), "/setup", &cookie, other_origin, "action=generate"),
    )
    .await;
    assert_eq!(a.status, 403, "another origin without fetch metadata");
    assert!(
        !c.dir.path().join("keys").exists(),
        "no key was made by a refused post"
    );
    let same = same_origin(&c);
    let a = raw(
        c.addr,
        post(
            &me(&c),
            "/setup",
            &cookie,
            &same,
            "action=domain&domain=acme-admin.okta.com",
        ),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains("the org domain is acme.okta.com"),
        "{}",
        a.body
    );
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_is_stored_0600_and_never_sent_back() {
    let c = console().await;
    let cookie = login(&c).await;
    let key = GeneratedKey::generate().unwrap();
    let pem_path = c.dir.path().join("upload.pem");
    key.write_private_pem(&pem_path).unwrap();
    let pem = std::fs::read_to_string(&pem_path).unwrap();
    let body_lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let same = same_origin(&c);
    let a = raw(
        c.addr,
        post(
            &me(&c),
            "/setup",
            &cookie,
            &same,
            &format!(
                "action=upload&domain=acme.okta.com&private_key={}",
                form_encode(&pem)
            ),
        ),
    )
    .await;
    assert_eq!(a.status, 200);
    let kid = &key.public().kid;
    assert!(a.body.contains(kid.as_str()), "the kid is shown");
    // askama escapes the JWK's quotes for HTML (`&#34;`); the browser shows plain JSON.
    assert!(
        a.body.contains("kty&#34;: &#34;RSA"),
        "the public JWK is shown: {}",
        a.body
    );
    let generated = raw(
        c.addr,
        post(&me(&c), "/setup", &cookie, &same, "action=generate"),
    )
    .await;
    assert_eq!(generated.status, 200);
    let stored = c.dir.path().join("keys").join(format!("{kid}.pem"));
    assert_eq!(mode(&stored), 0o600);
    assert_eq!(mode(&c.dir.path().join("keys")), 0o700);
    let mut pages = vec![a, generated];
    pages.push(raw(c.addr, get(&me(&c), "/setup", Some(&cookie))).await);
    pages.push(raw(c.addr, post(&me(&c), "/setup", &cookie, &same, &format!("action=test&kid={kid}&domain=127.0.0.1:1&client_id=0oa1&category=security&backfill_days=1"))).await);
    for p in &pages {
        for line in body_lines.iter().filter(|l| l.len() > 16) {
            assert!(
                !p.body.contains(line),
                "a line of the private key was sent back"
            );
        }
        assert!(!p.body.contains("PRIVATE KEY"), "no private key block");
        for member in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                !p.body.contains(&format!("&#34;{member}&#34;"))
                    && !p.body.contains(&format!("\"{member}\"")),
                "no private JWK member {member}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_has_the_shape_of_status_json() {
    let c = console().await;
    let cookie = login(&c).await;
    c.host.add_instance(acme(&c)).await.unwrap();
    // `seconds_since_last_event` counts whole seconds: a second may tick over between two calls, so
    // the answer must equal the status taken just before or just after it.
    let before = c.host.status().await.unwrap()[0].to_json();
    let a = raw(c.addr, get(&me(&c), "/api/instances", Some(&cookie))).await;
    let after = c.host.status().await.unwrap()[0].to_json();
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert!(
        doc["instances"][0] == before || doc["instances"][0] == after,
        "{} is neither {before} nor {after}",
        doc["instances"][0]
    );
    assert_eq!(doc["instances"][0]["phase"], "configured");
    assert_eq!(doc["queued"], 0);
    let before = c.host.status().await.unwrap()[0].to_json();
    let one = raw(c.addr, get(&me(&c), "/api/instances/acme", Some(&cookie))).await;
    let after = c.host.status().await.unwrap()[0].to_json();
    let one: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    assert!(
        one == before || one == after,
        "{one} is neither {before} nor {after}"
    );
    assert_eq!(
        raw(c.addr, get(&me(&c), "/api/instances/nope", Some(&cookie)))
            .await
            .status,
        404
    );
    let page = raw(c.addr, get(&me(&c), "/", Some(&cookie))).await;
    assert!(
        page.body.contains("data-instance=\"acme\"") && page.body.contains("configured"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_non_loopback_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "10.1.2.3:8730", "[::]:0"] {
        let e = ConsoleServer::bind(
            addr.parse().unwrap(),
            ConsoleOptions {
                sink: "stdout".into(),
                keys_dir: dir.path().join("keys"),
            },
        )
        .await
        .unwrap_err();
        let said = e.to_string();
        assert!(
            said.contains("not a loopback address") && said.contains("ssh -L"),
            "{said}"
        );
    }
}

/// "Save as draft" keeps a setup whose test has not passed (here: an org that does not answer) stored
/// paused, so it never ticks until resumed; the page offers it only while the test has not passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_saved_paused_without_a_test() {
    let c = console().await;
    let cookie = login(&c).await;
    let same = same_origin(&c);
    let generated = raw(
        c.addr,
        post(&me(&c), "/setup", &cookie, &same, "action=generate"),
    )
    .await;
    assert_eq!(generated.status, 200);
    assert!(
        generated.body.contains("id=\"draft\""),
        "offered before a test"
    );
    let kid = generated
        .body
        .split("<code id=\"kid\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the kid")
        .to_string();
    let form = format!(
        "kid={kid}&domain=127.0.0.1:1&client_id=0oa-draft&category=security&backfill_days=1&name=later"
    );
    let a = raw(
        c.addr,
        post(
            &me(&c),
            "/setup",
            &cookie,
            &same,
            &format!("action=draft&{form}"),
        ),
    )
    .await;
    assert_eq!(a.status, 303, "{}", a.head);
    assert_eq!(a.header("location").as_deref(), Some("/instances/later"));
    let saved = c.host.instance("later").await.expect("stored");
    assert!(saved.paused, "a draft is paused");
    assert!(
        !saved.has_cursor && saved.last_outcome.is_none(),
        "never ticked"
    );
    // A draft is still validated: an instance without a category is not stored.
    let refused = raw(
        c.addr,
        post(
            &me(&c),
            "/setup",
            &cookie,
            &same,
            &format!("action=draft&kid={kid}&domain=127.0.0.1:1&client_id=0oa-other&backfill_days=1&name=none"),
        ),
    )
    .await;
    assert_eq!(refused.status, 200);
    assert!(
        refused.body.contains("Select at least one event group"),
        "{}",
        refused.body
    );
    assert!(c.host.instance("none").await.is_err());
}

/// The instance page changes the event groups an instance collects; an empty choice changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_groups_of_an_instance_are_changed_on_its_page() {
    let c = console().await;
    let cookie = login(&c).await;
    c.host.add_draft_instance(acme(&c)).await.unwrap();
    let page = raw(c.addr, get(&me(&c), "/instances/acme", Some(&cookie))).await;
    assert!(page.body.contains("id=\"edit-groups\""), "{}", page.body);
    let same = same_origin(&c);
    let a = raw(
        c.addr,
        post(
            &me(&c),
            "/instances/acme/categories",
            &cookie,
            &same,
            "category=lifecycle&category=itp",
        ),
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains("Now collecting itp, lifecycle"),
        "{}",
        a.body
    );
    let got = c.host.instance("acme").await.unwrap().categories;
    assert_eq!(got, Categories::ITP | Categories::LIFECYCLE);
    let none = raw(
        c.addr,
        post(&me(&c), "/instances/acme/categories", &cookie, &same, ""),
    )
    .await;
    assert!(none.body.contains("Not changed"), "{}", none.body);
    assert_eq!(c.host.instance("acme").await.unwrap().categories, got);
}
