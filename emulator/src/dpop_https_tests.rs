//! DPoP over real HTTPS through a running emulator: every check of both endpoints and the
//! scenarios of DPOP.md §9.3, with Okta's exact statuses, bodies and headers.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::test_proof::DpopKey;
use crate::{
    generate_client_key_pair, sign_claims, ClientKeyPair, ClientRegistration, DpopSettings,
    Emulator, EmulatorConfig, Fault,
};

const HOUR_MS: i64 = 3_600_000;

/// One client key for every test: RSA key generation is the slow part of a start.
fn keys() -> &'static ClientKeyPair {
    static KEYS: OnceLock<ClientKeyPair> = OnceLock::new();
    KEYS.get_or_init(|| generate_client_key_pair("0oa-dpop").expect("keys"))
}

/// An answer, read whole.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
    }

    fn www(&self) -> String {
        self.header("www-authenticate").unwrap_or_default()
    }

    /// `(status, error, error_description)` of a token-endpoint OAuth error.
    fn oauth(&self) -> (u16, String, String) {
        let v = self.json();
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        (self.status, s("error"), s("error_description"))
    }
}

struct Fx {
    emu: Emulator,
    http: reqwest::Client,
    key: DpopKey,
}

/// An emulator with `events` events and the shared client registered as `reg` makes it.
async fn fx(events: usize, reg: impl FnOnce(ClientRegistration) -> ClientRegistration) -> Fx {
    let emu = Emulator::start(EmulatorConfig {
        events,
        ..EmulatorConfig::default()
    })
    .await
    .expect("start");
    emu.register_client(reg(keys().logs_reader()));
    let ca = reqwest::Certificate::from_pem(emu.ca_pem().as_bytes()).expect("ca");
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .expect("client");
    Fx {
        emu,
        http,
        key: DpopKey::es256(),
    }
}

fn dpop_app(r: ClientRegistration) -> ClientRegistration {
    ClientRegistration {
        require_dpop: true,
        ..r
    }
}

async fn read(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.expect("body");
    assert!(
        headers.contains_key("x-rate-limit-limit")
            && headers.contains_key("x-rate-limit-remaining")
            && headers.contains_key("x-rate-limit-reset"),
        "rate-limit headers on every answer: {headers:?}"
    );
    Resp {
        status,
        headers,
        body,
    }
}

impl Fx {
    fn token_url(&self) -> String {
        format!("https://{}/oauth2/v1/token", self.emu.domain())
    }

    fn logs_url(&self) -> String {
        format!("https://{}/api/v1/logs", self.emu.domain())
    }

    /// Emulator time, s: what a client with a synchronised clock dates things with.
    fn now_s(&self) -> u64 {
        self.emu.clock_ms() / 1000
    }

    /// A fresh client assertion dated by the emulator's clock.
    fn assertion(&self) -> String {
        let k = keys();
        let now = self.now_s();
        sign_claims(
            k,
            &json!({"iss":k.client_id,"sub":k.client_id,"aud":self.token_url(),
                    "iat":now,"exp":now+300,"jti":crate::okta::random_token(16)}),
        )
        .expect("assertion")
    }

    /// A token-request proof from this fixture's key.
    fn token_proof(&self, nonce: Option<&str>) -> String {
        self.key
            .proof("POST", &self.token_url(), self.now_s(), nonce, None)
    }

    /// A token-request proof with its claims changed by `f`.
    fn token_proof_with(&self, nonce: Option<&str>, f: impl FnOnce(&mut Value)) -> String {
        let mut c = json!({"htm":"POST","htu":self.token_url(),"iat":self.now_s(),
                           "jti":crate::okta::random_token(16)});
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        f(&mut c);
        self.key.sign(&c)
    }

    async fn token_request(&self, assertion: &str, proofs: &[&str]) -> Resp {
        self.token_request_for(assertion, "okta.logs.read", proofs)
            .await
    }

    async fn token_request_for(&self, assertion: &str, scope: &str, proofs: &[&str]) -> Resp {
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ];
        let mut req = self.http.post(self.token_url()).form(&form);
        for p in proofs {
            req = req.header("DPoP", *p);
        }
        read(req.send().await.expect("token request")).await
    }

    /// A token request with a fresh assertion and these proofs.
    async fn token(&self, proofs: &[&str]) -> Resp {
        self.token_request(&self.assertion(), proofs).await
    }

    /// The whole handshake: a proof without nonce, the challenge, the retry. Returns the access
    /// token and the nonce.
    async fn handshake(&self) -> (String, String) {
        let r = self.token(&[&self.token_proof(None)]).await;
        assert_eq!(r.status, 400, "{}", r.body);
        let nonce = r.header("dpop-nonce").expect("dpop-nonce");
        (self.dpop_token(&nonce).await, nonce)
    }

    /// A DPoP token with a known nonce, first time.
    async fn dpop_token(&self, nonce: &str) -> String {
        let r = self.token(&[&self.token_proof(Some(nonce))]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["token_type"], "DPoP");
        r.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// A resource proof for `token`.
    fn logs_proof(&self, token: &str) -> String {
        self.logs_proof_with(token, |_| {})
    }

    fn logs_proof_with(&self, token: &str, f: impl FnOnce(&mut Value)) -> String {
        let mut c = json!({"htm":"GET","htu":self.logs_url(),"iat":self.now_s(),
                           "jti":crate::okta::random_token(16),"ath":crate::dpop::ath_of(token)});
        f(&mut c);
        self.key.sign(&c)
    }

    async fn logs_at(&self, url: &str, authorization: &str, proofs: &[&str]) -> Resp {
        let mut req = self.http.get(url).header("authorization", authorization);
        for p in proofs {
            req = req.header("DPoP", *p);
        }
        read(req.send().await.expect("logs request")).await
    }

    async fn logs(&self, authorization: &str, proofs: &[&str]) -> Resp {
        self.logs_at(&self.logs_url(), authorization, proofs).await
    }

    /// `/api/v1/logs` the way a DPoP client calls it: DPoP scheme, a fresh proof.
    async fn dpop_logs(&self, token: &str) -> Resp {
        self.logs(&format!("DPoP {token}"), &[&self.logs_proof(token)])
            .await
    }

    /// Okta's resource-server challenge for a refused proof.
    fn proof_challenge(&self, description: &str) -> String {
        let host = self.emu.domain();
        format!(
            r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="http://{host}/oauth2/v1/authorize", realm="http://{host}", scope="okta.logs.read", error="invalid_dpop_proof", error_description="{description}", resource="/api/v1/logs""#
        )
    }
}

fn nonce_challenge() -> (u16, String, String) {
    (
        400,
        "use_dpop_nonce".into(),
        "Authorization server requires nonce in DPoP proof.".into(),
    )
}

fn dpop_error(description: &str) -> (u16, String, String) {
    (400, "invalid_dpop_proof".into(), description.into())
}

/// DPOP.md §9.3 happy path, with an ES256 and an RS256 key: a jti-less first proof gets the nonce
/// challenge (Okta's own example), the retry a DPoP token and the nonce again, the token reads the
/// logs; the cached nonce works first time for the next token.
#[tokio::test]
async fn happy_path_nonce_then_dpop_token_then_logs() {
    for key in [DpopKey::es256(), DpopKey::rsa("RS256")] {
        let mut f = fx(7, dpop_app).await;
        f.key = key;
        let first = f
            .key
            .sign(&json!({"htm":"POST","htu":f.token_url(),"iat":f.now_s()}));
        let r = f.token(&[&first]).await;
        assert_eq!(
            r.body,
            r#"{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof."}"#
        );
        assert_eq!(r.status, 400);
        let nonce = r.header("dpop-nonce").expect("nonce");
        assert_eq!(nonce.len(), 32);
        for (h, v) in [
            ("cache-control", "no-cache, no-store"),
            ("pragma", "no-cache"),
            ("content-type", "application/json"),
        ] {
            assert_eq!(r.header(h).as_deref(), Some(v), "{h}");
        }

        let r = f.token(&[&f.token_proof(Some(&nonce))]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body
                .starts_with(r#"{"token_type":"DPoP","expires_in":3600,"access_token":""#)
                && r.body.ends_with(r#"","scope":"okta.logs.read"}"#),
            "Okta's key order: {}",
            r.body
        );
        assert_eq!(r.header("dpop-nonce"), Some(nonce.clone()));
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-cache, no-store")
        );
        let token = r.json()["access_token"]
            .as_str()
            .expect("token")
            .to_string();

        let r = f.dpop_logs(&token).await;
        assert_eq!(r.status, 200, "{} {:?}", r.body, r.headers);
        assert_eq!(r.json().as_array().map(Vec::len), Some(7));
        assert_eq!(r.header("dpop-nonce"), None, "no nonce on resource answers");

        // Cached nonce: the next token comes first time, with no further challenge.
        let again = f.dpop_token(&nonce).await;
        assert_ne!(again, token);
        let s = f.emu.stats();
        assert_eq!(
            (
                s.dpop_nonce_challenges,
                s.dpop_tokens_issued,
                s.bearer_tokens_issued,
                s.tokens_issued,
                s.token_requests
            ),
            (1, 2, 0, 2, 3)
        );
        assert_eq!(
            (
                s.replayed_proofs,
                s.replayed_assertions,
                s.dpop_errors,
                s.rs_nonce_challenges
            ),
            (0, 0, 0, 0)
        );
        f.emu.shutdown().await;
    }
}

/// Nonce lifetime (Okta guide): renewed every 24 h, each value accepted for 72 h; a stale one gets
/// the challenge again, with a new value.
#[tokio::test]
async fn cached_nonce_rotates_daily_and_expires_after_three_days() {
    let f = fx(0, dpop_app).await;
    let (_, n1) = f.handshake().await;
    f.emu.shift_clock(25 * HOUR_MS);
    let r = f.token(&[&f.token_proof(Some(&n1))]).await;
    assert_eq!(r.status, 200, "a day-old nonce still works: {}", r.body);
    let n2 = r.header("dpop-nonce").expect("nonce");
    assert_ne!(n2, n1, "but the 200 hands out the new one");
    f.dpop_token(&n2).await;

    f.emu.shift_clock(48 * HOUR_MS);
    let r = f.token(&[&f.token_proof(Some(&n1))]).await;
    assert_eq!(r.oauth(), nonce_challenge(), "73 h old");
    let n3 = r.header("dpop-nonce").expect("nonce");
    assert!(n3 != n1 && n3 != n2, "a new value");
    f.dpop_token(&n2).await;
    f.dpop_token(&n3).await;
    let r = f.token(&[&f.token_proof(Some("made-up"))]).await;
    assert_eq!(r.oauth(), nonce_challenge());
    assert_eq!(r.header("dpop-nonce"), Some(n3));
    assert_eq!(f.emu.stats().dpop_nonce_challenges, 3);
    f.emu.shutdown().await;
}

/// A Bearer app ignores a proof entirely (even a broken or replayed one) and issues Bearer; with
/// `accept_unsolicited_dpop` off, a proof is verified and binds the token, and no proof still
/// gets Bearer.
#[tokio::test]
async fn a_bearer_app_ignores_unsolicited_proofs_unless_told_not_to() {
    let f = fx(3, |r| r).await;
    let proof = f.token_proof(None);
    for proofs in [vec![proof.as_str()], vec![proof.as_str()], vec!["garbage"]] {
        let r = f.token(&proofs).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["token_type"], "Bearer");
        assert_eq!(r.header("dpop-nonce"), None);
        let token = r.json()["access_token"].as_str().expect("t").to_string();
        let r = f.logs(&format!("Bearer {token}"), &[]).await;
        assert_eq!(r.status, 200);
        // An unbound token's proof, if any, is ignored with the Bearer scheme too.
        let r = f
            .logs(&format!("Bearer {token}"), &[&f.logs_proof(&token)])
            .await;
        assert_eq!(r.status, 200);
    }
    let s = f.emu.stats();
    assert_eq!(
        (
            s.bearer_tokens_issued,
            s.dpop_tokens_issued,
            s.replayed_proofs
        ),
        (3, 0, 0)
    );

    f.emu.register_client(ClientRegistration {
        accept_unsolicited_dpop: false,
        ..keys().logs_reader()
    });
    let r = f.token(&[]).await;
    assert_eq!(r.json()["token_type"], "Bearer", "no proof: Bearer");
    let r = f.token(&["garbage"]).await;
    assert_eq!(
        r.oauth(),
        dpop_error("The DPoP proof JWT cannot be parsed.")
    );
    let (token, _) = f.handshake().await;
    assert_eq!(f.dpop_logs(&token).await.status, 200);
    assert_eq!(f.emu.stats().dpop_tokens_issued, 1);
    f.emu.shutdown().await;
}

/// "Require DPoP" without a proof, and with two.
#[tokio::test]
async fn a_dpop_app_refuses_no_proof_and_two_proofs() {
    let f = fx(0, dpop_app).await;
    let r = f.token(&[]).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            r#"{"error":"invalid_dpop_proof","error_description":"The DPoP proof JWT header is missing."}"#
        )
    );
    let (a, b) = (f.token_proof(None), f.token_proof(None));
    let r = f.token(&[&a, &b]).await;
    assert_eq!(
        r.oauth(),
        dpop_error("Multiple DPoP proof JWT headers are not allowed.")
    );
    assert_eq!(f.emu.stats().dpop_errors, 2);
    f.emu.shutdown().await;
}

/// Okta consumes the assertion's jti on every request, the nonce challenge and a 429 included, and
/// the proof's jti likewise (DPOP.md §1.2, §9.1 step 1).
#[tokio::test]
async fn jtis_are_consumed_by_challenges_and_429s() {
    let f = fx(0, dpop_app).await;
    let assertion = f.assertion();
    let r = f.token_request(&assertion, &[&f.token_proof(None)]).await;
    let nonce = r.header("dpop-nonce").expect("nonce");
    let r = f
        .token_request(&assertion, &[&f.token_proof(Some(&nonce))])
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            401,
            r#"{"error":"invalid_client","error_description":"The client_assertion token has already been used."}"#
        ),
        "reused assertion on the nonce retry"
    );

    // An injected 429 still consumes both.
    f.emu.push_fault(Fault::TokenEndpoint {
        status: 429,
        body: crate::okta::rate_limited(),
    });
    let assertion = f.assertion();
    let proof = f.token_proof(Some(&nonce));
    assert_eq!(f.token_request(&assertion, &[&proof]).await.status, 429);
    let r = f.token_request(&assertion, &[&proof]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = f.token(&[&proof]).await;
    assert_eq!(
        r.oauth(),
        dpop_error("The DPoP proof JWT has already been used.")
    );
    // A proof that was refused (here: for its nonce) is consumed as well.
    let proof = f.token_proof(None);
    assert_eq!(f.token(&[&proof]).await.oauth(), nonce_challenge());
    let r = f.token(&[&proof]).await;
    assert_eq!(r.oauth(), nonce_challenge(), "the nonce is checked first");
    f.dpop_token(&nonce).await;
    let s = f.emu.stats();
    assert_eq!((s.replayed_assertions, s.replayed_proofs), (2, 3));
    f.emu.shutdown().await;
}

/// Every token-endpoint proof check, with Okta's strings; each refusal is counted.
#[tokio::test]
async fn token_endpoint_proof_checks() {
    let f = fx(0, dpop_app).await;
    let (_, nonce) = f.handshake().await;
    let n = Some(nonce.as_str());
    let now = f.now_s() as i64;
    let claims = |g: &dyn Fn(&mut Value)| f.token_proof_with(n, g);
    let header = |g: &dyn Fn(&mut Value)| {
        f.key.sign_with(
            &json!({"htm":"POST","htu":f.token_url(),"iat":now,"jti":crate::okta::random_token(16),"nonce":nonce}),
            g,
        )
    };
    let query = format!("{}?x=1", f.token_url());
    let cases: Vec<(String, &str)> = vec![
        (
            header(&|h| h["jwk"] = Value::String(h["jwk"].to_string())),
            "The DPoP proof JWT cannot be parsed.",
        ),
        (
            header(&|h| h["jwk"]["d"] = json!("AAAA")),
            "The DPoP proof JWT cannot be parsed.",
        ),
        (
            header(&|h| h["typ"] = json!("JWT")),
            "'typ' must be 'dpop+jwt' in the DPoP proof JWT.",
        ),
        (
            header(&|h| h["alg"] = json!("ES384")),
            "The DPoP proof JWT signature algorithm is invalid.",
        ),
        (
            header(&|h| h["jwk"] = DpopKey::es256().jwk()),
            "The DPoP proof JWT signature is invalid.",
        ),
        (
            claims(&|c| c["htm"] = json!("post")),
            "'htm' claim in the DPoP proof JWT is invalid.",
        ),
        (
            claims(&|c| c["htu"] = json!(query)),
            "'htu' claim in the DPoP proof JWT is invalid.",
        ),
        (
            claims(&|c| c["htu"] = json!("https://localhost/oauth2/v1/token")),
            "'htu' claim in the DPoP proof JWT is invalid.",
        ),
        (
            claims(&|c| c["iat"] = json!(now.to_string())),
            "'iat' claim in the DPoP proof JWT is invalid.",
        ),
        (
            claims(&|c| c["iat"] = json!(now + 600)),
            "The DPoP proof JWT is issued in the future.",
        ),
        (
            claims(&|c| c["iat"] = json!(now - 360)),
            "The DPoP proof JWT is issued more than five minutes in the past.",
        ),
        (
            claims(&|c| c["exp"] = json!(now - 10)),
            "The DPoP proof JWT is expired.",
        ),
        (
            claims(&|c| {
                c.as_object_mut().map(|o| o.remove("jti"));
            }),
            "'jti' claim in the DPoP proof JWT is invalid.",
        ),
    ];
    let count = cases.len() as u64;
    for (proof, want) in cases {
        let r = f.token(&[&proof]).await;
        assert_eq!(r.oauth(), dpop_error(want));
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-cache, no-store")
        );
        assert_eq!(r.header("dpop-nonce"), None, "{want}");
    }
    // Replay of a proof that got a token.
    let proof = f.token_proof(n);
    assert_eq!(f.token(&[&proof]).await.status, 200);
    assert_eq!(
        f.token(&[&proof]).await.oauth(),
        dpop_error("The DPoP proof JWT has already been used.")
    );
    // Not strict: the query is ignored, as RFC 9449 §4.3 says.
    f.emu.set_dpop_settings(DpopSettings {
        strict_htu: false,
        ..DpopSettings::default()
    });
    let lax = f.token_proof_with(n, |c| c["htu"] = json!(query));
    assert_eq!(f.token(&[&lax]).await.status, 200);
    let s = f.emu.stats();
    assert_eq!((s.dpop_errors, s.replayed_proofs), (count + 1, 1));
    f.emu.shutdown().await;
}

/// DPOP.md §9.3: a client clock 10 min ahead, or 6 min behind, of Okta's.
#[tokio::test]
async fn a_skewed_client_clock_is_named() {
    let f = fx(0, dpop_app).await;
    let (_, nonce) = f.handshake().await;
    // Assertions stay on the emulator's clock; only the proof is dated by the skewed client clock.
    let at = |s: i64| {
        f.key.proof(
            "POST",
            &f.token_url(),
            (f.now_s() as i64 + s) as u64,
            Some(&nonce),
            None,
        )
    };
    assert_eq!(
        f.token(&[&at(600)]).await.oauth(),
        dpop_error("The DPoP proof JWT is issued in the future.")
    );
    assert_eq!(
        f.token(&[&at(-360)]).await.oauth(),
        dpop_error("The DPoP proof JWT is issued more than five minutes in the past.")
    );
    // The same through the emulator's clock: a proof dated by real time after Okta moved.
    let real_s = okta_ingest_model::time::now_ms() / 1000;
    f.emu.shift_clock(-600_000);
    let p = f
        .key
        .proof("POST", &f.token_url(), real_s, Some(&nonce), None);
    assert_eq!(
        f.token(&[&p]).await.oauth(),
        dpop_error("The DPoP proof JWT is issued in the future.")
    );
    f.emu.shift_clock(960_000);
    let p = f
        .key
        .proof("POST", &f.token_url(), real_s, Some(&nonce), None);
    assert_eq!(
        f.token(&[&p]).await.oauth(),
        dpop_error("The DPoP proof JWT is issued more than five minutes in the past.")
    );
    assert!(!f.dpop_token(&nonce).await.is_empty());
    f.emu.shutdown().await;
}

/// The authorization checks of `/api/v1/logs`, in Okta's order, with its challenges.
#[tokio::test]
async fn resource_authorization_checks() {
    let f = fx(2, dpop_app).await;
    let (token, _) = f.handshake().await;
    let host = f.emu.domain();
    let bearer_challenge = |error: &str, d: &str| {
        format!(
            r#"Bearer authorization_uri="http://{host}/oauth2/v1/authorize", realm="http://{host}", scope="okta.logs.read", error="{error}", error_description="{d}", resource="/api/v1/logs""#
        )
    };
    let dpop_challenge = |error: &str, d: &str| {
        format!(
            r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="http://{host}/oauth2/v1/authorize", realm="http://{host}", scope="okta.logs.read", error="{error}", error_description="{d}", resource="/api/v1/logs""#
        )
    };

    let r = f.logs(&format!("Bearer {token}"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (400, ""));
    assert_eq!(
        r.www(),
        bearer_challenge(
            "invalid_request",
            "The resource request requires a DPoP proof."
        )
    );
    let r = f
        .logs(&format!("Bearer {token}"), &[&f.logs_proof(&token)])
        .await;
    assert_eq!((r.status, r.body.as_str()), (400, ""));
    assert_eq!(
        r.www(),
        bearer_challenge(
            "invalid_request",
            "The resource request must use the DPoP authentication scheme when using a DPoP bound token."
        )
    );
    let r = f.logs(&format!("DPoP {token}"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (400, ""));
    assert_eq!(
        r.www(),
        dpop_challenge(
            "invalid_request",
            "The resource request requires a DPoP proof."
        )
    );
    let r = f
        .logs("DPoP not-a-token", &[&f.logs_proof("not-a-token")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.www(),
        dpop_challenge("invalid_token", "The token has expired.")
    );
    assert_eq!(r.json()["errorCode"], "E0000011");
    // The scheme name is case-insensitive (RFC 9110 §11.1).
    let r = f
        .logs(&format!("dpop {token}"), &[&f.logs_proof(&token)])
        .await;
    assert_eq!(r.status, 200);

    // A Bearer token from a Bearer app, presented with the DPoP scheme.
    f.emu.register_client(keys().logs_reader());
    let r = f.token(&[]).await;
    let bearer = r.json()["access_token"].as_str().expect("t").to_string();
    let r = f
        .logs(&format!("DPoP {bearer}"), &[&f.logs_proof(&bearer)])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.www(),
        dpop_challenge(
            "invalid_token",
            "The presented access_token is not DPoP bound."
        )
    );
    assert_eq!(r.json()["errorCode"], "E0000011");
    assert_eq!(f.logs(&format!("Bearer {bearer}"), &[]).await.status, 200);
    assert_eq!(
        f.emu.stats().dpop_errors,
        3,
        "the three invalid_request answers"
    );
    f.emu.shutdown().await;
}

/// The proof checks of `/api/v1/logs`: as at the token endpoint with `GET` and the logs URL, then
/// `ath`, the key binding and replay; each an HTTP 400 with an empty body and the reason in
/// `WWW-Authenticate`.
#[tokio::test]
async fn resource_proof_checks() {
    let f = fx(3, dpop_app).await;
    let (token, nonce) = f.handshake().await;
    let auth = format!("DPoP {token}");
    let now = f.now_s() as i64;
    let p = |g: &dyn Fn(&mut Value)| f.logs_proof_with(&token, g);
    let other_key = DpopKey::es256();
    let foreign = other_key.proof(
        "GET",
        &f.logs_url(),
        f.now_s(),
        None,
        Some(&crate::dpop::ath_of(&token)),
    );
    let cases: Vec<(String, &str)> = vec![
        (
            f.key.sign_with(
                &json!({"htm":"GET","htu":f.logs_url(),"iat":now,"jti":"x","ath":crate::dpop::ath_of(&token)}),
                |h| h["typ"] = json!("jwt"),
            ),
            "'typ' must be 'dpop+jwt' in the DPoP proof JWT.",
        ),
        ("e30.e30.".to_string(), "The DPoP proof JWT cannot be parsed."),
        (
            p(&|c| c["htm"] = json!("get")),
            "'htm' claim in the DPoP proof JWT is invalid.",
        ),
        (
            p(&|c| c["htm"] = json!("POST")),
            "'htm' claim in the DPoP proof JWT is invalid.",
        ),
        (
            p(&|c| c["htu"] = json!(f.token_url())),
            "'htu' claim in the DPoP proof JWT is invalid.",
        ),
        (
            p(&|c| c["htu"] = json!(format!("{}?limit=5", f.logs_url()))),
            "'htu' claim in the DPoP proof JWT is invalid.",
        ),
        (
            p(&|c| c["iat"] = json!(now + 600)),
            "The DPoP proof JWT is issued in the future.",
        ),
        (
            p(&|c| c["iat"] = json!(now - 360)),
            "The DPoP proof JWT is issued more than five minutes in the past.",
        ),
        (
            p(&|c| c["exp"] = json!(now - 1)),
            "The DPoP proof JWT is expired.",
        ),
        (
            p(&|c| {
                c.as_object_mut().map(|o| o.remove("ath"));
            }),
            "'ath' claim in the DPoP proof does not match the presented access_token.",
        ),
        (
            p(&|c| c["ath"] = json!(crate::dpop::ath_of("another token"))),
            "'ath' claim in the DPoP proof does not match the presented access_token.",
        ),
        (
            foreign,
            "The access_token is not bound to the provided DPoP proof.",
        ),
        (
            p(&|c| {
                c.as_object_mut().map(|o| o.remove("jti"));
            }),
            "'jti' claim in the DPoP proof JWT is invalid.",
        ),
    ];
    let count = cases.len() as u64;
    for (proof, want) in cases {
        let r = f.logs(&auth, &[&proof]).await;
        assert_eq!((r.status, r.body.as_str()), (400, ""), "{want}");
        assert_eq!(r.www(), f.proof_challenge(want));
    }
    let (a, b) = (f.logs_proof(&token), f.logs_proof(&token));
    let r = f.logs(&auth, &[&a, &b]).await;
    assert_eq!(
        r.www(),
        f.proof_challenge("Multiple DPoP proof JWT headers are not allowed.")
    );

    // Accepted: with or without a nonce (Okta ignores it), the request's own query ignored, the
    // htu compared percent-decoded.
    for proof in [
        f.logs_proof(&token),
        p(&|c| c["nonce"] = json!(nonce)),
        p(&|c| c["nonce"] = json!("anything")),
        p(&|c| c["htu"] = json!(format!("https://{}/api/v1/%6Cogs", f.emu.domain()))),
    ] {
        assert_eq!(f.logs(&auth, &[&proof]).await.status, 200);
    }
    let proof = f.logs_proof(&token);
    let r = f
        .logs_at(&format!("{}?limit=1", f.logs_url()), &auth, &[&proof])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    // ... and that proof is now used.
    let r = f.logs(&auth, &[&proof]).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.www(),
        f.proof_challenge("The DPoP proof JWT has already been used.")
    );
    // Not strict: an htu with a query is accepted.
    f.emu.set_dpop_settings(DpopSettings {
        strict_htu: false,
        ..DpopSettings::default()
    });
    let lax = p(&|c| c["htu"] = json!(format!("{}?limit=5", f.logs_url())));
    assert_eq!(f.logs(&auth, &[&lax]).await.status, 200);
    let s = f.emu.stats();
    assert_eq!((s.dpop_errors, s.replayed_proofs), (count + 2, 1));
    f.emu.shutdown().await;
}

/// DPOP.md §9.3: a proof re-sent after a 429 (the bucket's or an injected one) is refused as
/// already used; a fresh proof then succeeds.
#[tokio::test]
async fn a_429_consumes_the_resource_proof() {
    let f = fx(1, dpop_app).await;
    let (token, _) = f.handshake().await;
    let auth = format!("DPoP {token}");
    f.emu.set_rate_limit(Some(1));
    assert_eq!(f.dpop_logs(&token).await.status, 200);
    let proof = f.logs_proof(&token);
    assert_eq!(f.logs(&auth, &[&proof]).await.status, 429);
    f.emu.set_rate_limit(None);
    let r = f.logs(&auth, &[&proof]).await;
    assert_eq!((r.status, r.body.as_str()), (400, ""));
    assert_eq!(
        r.www(),
        f.proof_challenge("The DPoP proof JWT has already been used.")
    );
    assert_eq!(f.dpop_logs(&token).await.status, 200);

    f.emu.push_fault(Fault::Status {
        status: 429,
        body: crate::okta::rate_limited(),
        headers: vec![],
    });
    let proof = f.logs_proof(&token);
    assert_eq!(f.logs(&auth, &[&proof]).await.status, 429);
    let r = f.logs(&auth, &[&proof]).await;
    assert_eq!(
        r.www(),
        f.proof_challenge("The DPoP proof JWT has already been used.")
    );
    assert_eq!(f.dpop_logs(&token).await.status, 200);
    let s = f.emu.stats();
    assert_eq!(
        (s.replayed_proofs, s.rate_limited, s.dpop_errors),
        (2, 2, 2)
    );
    f.emu.shutdown().await;
}

/// Token expiry on the emulator's clock, revocation, scope and admin role apply to DPoP tokens
/// like to Bearer ones, answered in the DPoP scheme; re-acquiring with the cached nonce works
/// first time.
#[tokio::test]
async fn expiry_revocation_scope_and_role_for_dpop_tokens() {
    let f = fx(2, dpop_app).await;
    let (token, nonce) = f.handshake().await;
    let host = f.emu.domain();
    let expired = format!(
        r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="http://{host}/oauth2/v1/authorize", realm="http://{host}", scope="okta.logs.read", error="invalid_token", error_description="The token has expired.", resource="/api/v1/logs""#
    );
    f.emu.shift_clock(HOUR_MS + 1000);
    let r = f.dpop_logs(&token).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.www(), expired);
    assert_eq!(r.json()["errorCode"], "E0000011");
    let token = f.dpop_token(&nonce).await;
    assert_eq!(f.dpop_logs(&token).await.status, 200);
    f.emu.revoke_tokens();
    let r = f.dpop_logs(&token).await;
    assert_eq!((r.status, r.www()), (401, expired));

    f.emu.register_client(ClientRegistration {
        admin_role: false,
        ..dpop_app(keys().logs_reader())
    });
    let token = f.dpop_token(&nonce).await;
    let r = f.dpop_logs(&token).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["errorCode"], "E0000006");

    f.emu.register_client(ClientRegistration {
        scopes: vec!["okta.logs.read".into(), "okta.users.read".into()],
        ..dpop_app(keys().logs_reader())
    });
    let r = f
        .token_request_for(
            &f.assertion(),
            "okta.users.read",
            &[&f.token_proof(Some(&nonce))],
        )
        .await;
    assert_eq!(r.json()["scope"], "okta.users.read");
    let token = r.json()["access_token"].as_str().expect("t").to_string();
    let r = f.dpop_logs(&token).await;
    assert_eq!(r.status, 403);
    assert!(
        r.www().starts_with("DPoP algs=") && r.www().contains(r#"error="insufficient_scope""#),
        "{}",
        r.www()
    );
    f.emu.shutdown().await;
}

/// A misbehaving server that answers `use_dpop_nonce` with the same nonce forever, for testing a
/// client's retry bound.
#[tokio::test]
async fn nonce_loop_repeats_the_same_nonce() {
    let f = fx(0, dpop_app).await;
    f.emu.set_dpop_settings(DpopSettings {
        nonce_loop: true,
        ..DpopSettings::default()
    });
    let r = f.token(&[&f.token_proof(None)]).await;
    let nonce = r.header("dpop-nonce").expect("nonce");
    for _ in 0..3 {
        let r = f.token(&[&f.token_proof(Some(&nonce))]).await;
        assert_eq!(r.oauth(), nonce_challenge());
        assert_eq!(r.header("dpop-nonce"), Some(nonce.clone()));
    }
    let s = f.emu.stats();
    assert_eq!((s.dpop_nonce_challenges, s.tokens_issued), (4, 0));
    f.emu.set_dpop_settings(DpopSettings::default());
    f.dpop_token(&nonce).await;
    f.emu.shutdown().await;
}

/// RFC 9449 §9 resource-server nonce, opt-in: its own value, separate from the token endpoint's.
#[tokio::test]
async fn rs_nonce_required_challenges_with_its_own_nonce() {
    let f = fx(1, dpop_app).await;
    let (token, as_nonce) = f.handshake().await;
    let auth = format!("DPoP {token}");
    f.emu.set_dpop_settings(DpopSettings {
        rs_nonce_required: true,
        ..DpopSettings::default()
    });
    let r = f.dpop_logs(&token).await;
    assert_eq!((r.status, r.body.as_str()), (401, ""));
    assert_eq!(
        r.www(),
        r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
    );
    let rs_nonce = r.header("dpop-nonce").expect("DPoP-Nonce");
    assert_ne!(rs_nonce, as_nonce);
    let with = |n: &str| f.logs_proof_with(&token, |c| c["nonce"] = json!(n));
    let r = f.logs(&auth, &[&with(&as_nonce)]).await;
    assert_eq!(
        r.status, 401,
        "the token endpoint's nonce is not the resource server's"
    );
    assert_eq!(r.header("dpop-nonce"), Some(rs_nonce.clone()));
    let r = f.logs(&auth, &[&with(&rs_nonce)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("dpop-nonce"), None);
    let s = f.emu.stats();
    assert_eq!((s.rs_nonce_challenges, s.dpop_errors), (2, 0));
    f.emu.shutdown().await;
}
