//! A test connection told as the stages Okta setup goes through, so a failure names the step the user
//! got wrong and the exact fix in Okta's own menu wording: reachable → client known → key accepted →
//! DPoP → scope granted → admin role → first page read. Built from the org probe and the connector's
//! `check` (which classifies Okta's answer into an [`ErrorKind`]); pure, so every mapping is tested here.

use super::probe::{OrgProbe, ProbeFailure};
use crate::error::HostError;
use okta_ingest_model::ErrorKind;

/// One step of setting up an Okta app for okta-ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// DNS, TLS and Okta's discovery document.
    Reachable,
    /// Okta knows the client id.
    ClientKnown,
    /// Okta accepted the client assertion signed with the key.
    KeyAccepted,
    /// The token is DPoP-bound where the app requires it.
    Dpop,
    /// `okta.logs.read` is granted.
    ScopeGranted,
    /// The app has an admin role that may read the System Log.
    AdminRole,
    /// One page of the System Log was read.
    FirstPage,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 7] = [
        Stage::Reachable,
        Stage::ClientKnown,
        Stage::KeyAccepted,
        Stage::Dpop,
        Stage::ScopeGranted,
        Stage::AdminRole,
        Stage::FirstPage,
    ];

    /// The stage's title for people.
    pub fn title(self) -> &'static str {
        match self {
            Stage::Reachable => "Org reachable",
            Stage::ClientKnown => "Client known",
            Stage::KeyAccepted => "Key accepted",
            Stage::Dpop => "DPoP",
            Stage::ScopeGranted => "Scope okta.logs.read granted",
            Stage::AdminRole => "Admin role assigned",
            Stage::FirstPage => "System Log read",
        }
    }

    /// The stage a failed check stopped at.
    fn of(kind: ErrorKind) -> Stage {
        match kind {
            ErrorKind::Network => Stage::Reachable,
            ErrorKind::UnknownClient => Stage::ClientKnown,
            ErrorKind::InvalidSignature | ErrorKind::AuthFailed => Stage::KeyAccepted,
            ErrorKind::DpopRequired => Stage::Dpop,
            ErrorKind::ScopeNotGranted => Stage::ScopeGranted,
            ErrorKind::Forbidden => Stage::AdminRole,
            ErrorKind::RateLimited
            | ErrorKind::ServerError
            | ErrorKind::BadResponse
            | ErrorKind::InvalidRequest
            | ErrorKind::State
            | ErrorKind::Host => Stage::FirstPage,
        }
    }
}

/// How a stage went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    /// Proven by the test.
    Passed,
    /// The test stopped here.
    Failed,
    /// Not reached: an earlier stage failed.
    NotRun,
}

/// One stage's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StageReport {
    /// The stage.
    pub stage: Stage,
    /// Its title.
    pub title: &'static str,
    /// How it went.
    pub state: StageState,
    /// What was seen: Okta's answer, or what proves the stage.
    pub detail: String,
    /// For a failure, what to do (in Okta's menu wording).
    pub fix: Option<String>,
    /// The HTTP status Okta answered, for a failure.
    pub http_status: Option<u16>,
    /// Okta's error code, for a failure.
    pub okta_code: Option<String>,
}

impl StageReport {
    /// What Okta answered at a failed stage, for people: `HTTP 403, E0000006` (`None` without an answer).
    pub fn okta_answer(&self) -> Option<String> {
        match (self.http_status, &self.okta_code) {
            (Some(h), Some(c)) => Some(format!("HTTP {h}, {c}")),
            (Some(h), None) => Some(format!("HTTP {h}")),
            (None, Some(c)) => Some(c.clone()),
            (None, None) => None,
        }
    }
}

/// A whole test connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionTest {
    /// Every stage, in order.
    pub stages: Vec<StageReport>,
    /// True when every stage passed.
    pub passed: bool,
}

/// What the test needs to know to word its fixes.
#[derive(Debug, Clone, Default)]
pub struct TestSubject {
    /// The client id tested.
    pub client_id: String,
    /// The `kid` the assertion carried, if any.
    pub key_id: Option<String>,
}

impl ConnectionTest {
    /// The test of a probe that failed: nothing after it ran.
    pub fn unreachable(failure: &ProbeFailure) -> ConnectionTest {
        let mut stages = not_run();
        stages[0] = StageReport {
            state: StageState::Failed,
            detail: format!("{}: {}", failure.step, failure.detail),
            fix: Some(failure.fix.clone()),
            ..stages[0].clone()
        };
        ConnectionTest {
            stages,
            passed: false,
        }
    }

    /// The test of a reachable org and the connector's check of it (`Ok` is its one-line summary).
    pub fn from_check(
        probe: &OrgProbe,
        check: &Result<String, HostError>,
        subject: &TestSubject,
    ) -> ConnectionTest {
        let mut stages = not_run();
        let reachable = format!(
            "{} ({}) is an Okta org: issuer {}",
            probe.domain,
            probe.addresses.join(", "),
            probe.issuer
        );
        match check {
            Ok(summary) => {
                for s in stages.iter_mut() {
                    s.state = StageState::Passed;
                    s.detail = passed_detail(s.stage, summary, subject, &reachable);
                }
            }
            Err(e) => {
                let (kind, message, http_status, okta_code) = match e {
                    HostError::Check {
                        kind,
                        message,
                        http_status,
                        okta_code,
                        ..
                    } => (*kind, message.clone(), *http_status, okta_code.clone()),
                    // The key or CA file could not be used: the client assertion cannot be made.
                    other => (ErrorKind::Host, other.to_string(), None, None),
                };
                let failed = match e {
                    HostError::Check { .. } => Stage::of(kind),
                    _ => Stage::KeyAccepted,
                };
                for s in stages.iter_mut() {
                    if (s.stage as usize) < (failed as usize) {
                        s.state = StageState::Passed;
                        s.detail = passed_detail(s.stage, "", subject, &reachable);
                    } else if s.stage == failed {
                        s.state = StageState::Failed;
                        s.detail = message.clone();
                        s.fix = Some(fix(failed, kind, subject));
                        s.http_status = http_status;
                        s.okta_code = okta_code.clone();
                    }
                }
            }
        }
        let passed = stages.iter().all(|s| s.state == StageState::Passed);
        ConnectionTest { stages, passed }
    }

    /// The stage that failed, if one did.
    pub fn failed(&self) -> Option<&StageReport> {
        self.stages.iter().find(|s| s.state == StageState::Failed)
    }
}

fn not_run() -> Vec<StageReport> {
    Stage::ALL
        .iter()
        .map(|&stage| StageReport {
            stage,
            title: stage.title(),
            state: StageState::NotRun,
            detail: String::new(),
            fix: None,
            http_status: None,
            okta_code: None,
        })
        .collect()
}

/// What proves a stage that passed. The DPoP row tells which token the app gave: the connector's
/// summary starts `OK: DPoP (ES256) token obtained` or `OK: Bearer token obtained`.
fn passed_detail(stage: Stage, summary: &str, subject: &TestSubject, reachable: &str) -> String {
    match stage {
        Stage::Reachable => reachable.to_string(),
        Stage::ClientKnown => format!("Okta knows client {}", subject.client_id),
        Stage::KeyAccepted => match &subject.key_id {
            Some(kid) => format!("the client assertion signed with key {kid} was accepted"),
            None => "the client assertion was accepted".into(),
        },
        Stage::Dpop if summary.contains("DPoP") => {
            "the app requires DPoP: handled, the token is bound to a key held by this host".into()
        }
        Stage::Dpop if summary.contains("Bearer") => {
            "the app does not require DPoP: a Bearer token was issued".into()
        }
        Stage::Dpop => "no DPoP problem".into(),
        Stage::ScopeGranted => "the token carries okta.logs.read".into(),
        Stage::AdminRole => "the app may read the System Log".into(),
        Stage::FirstPage => summary.strip_prefix("OK: ").unwrap_or(summary).to_string(),
    }
}

/// The fix for a stage that failed, in the Okta Admin Console's own wording.
fn fix(stage: Stage, kind: ErrorKind, subject: &TestSubject) -> String {
    let app = "Admin Console › Applications › Applications › your API Services app";
    match stage {
        Stage::Reachable => "check that outbound HTTPS to the Okta domain is allowed (a TLS-inspecting proxy needs its CA certificate as the instance's CA file)".into(),
        Stage::ClientKnown => format!(
            "check the Client ID: copy it from {app} › General tab › Client Credentials (it looks like 0oa…); {} is not an app of this org",
            subject.client_id
        ),
        Stage::KeyAccepted => match &subject.key_id {
            Some(kid) => format!(
                "in {app} › General › Client Credentials › Edit, choose Public key / Private key, Add key, paste this instance's public JWK (kid {kid}), Done, Save; the key may have been added to another app"
            ),
            None => format!(
                "in {app} › General › Client Credentials › Edit, choose Public key / Private key, Add key and paste the public half of this instance's key, then Save"
            ),
        },
        Stage::Dpop => "the app requires DPoP-bound tokens (\"Require Demonstrating Proof of Possession (DPoP) header in token requests\"); set this instance's DPoP mode to auto, which handles it".into(),
        Stage::ScopeGranted => format!(
            "in {app} › Okta API Scopes tab, click Grant next to okta.logs.read (only a Super Admin can grant scopes)"
        ),
        Stage::AdminRole => format!(
            "in {app} › Admin Roles tab › Edit assignments, assign Report Administrator (it can read the System Log and nothing else), then Save Changes"
        ),
        Stage::FirstPage if kind.is_transient() => {
            "Okta did not answer the System Log request well; this is usually temporary: test again in a minute".into()
        }
        Stage::FirstPage => "the System Log request was refused; see Okta's answer above".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> OrgProbe {
        OrgProbe {
            domain: "acme.okta.com".into(),
            addresses: vec!["192.0.2.1".into()],
            issuer: "https://acme.okta.com".into(),
            token_endpoint: "https://acme.okta.com/oauth2/v1/token".into(),
            dpop_supported: true,
        }
    }

    fn subject() -> TestSubject {
        TestSubject {
            client_id: "0oa123".into(),
            key_id: Some("kid-1".into()),
        }
    }

    fn failed(kind: ErrorKind, message: &str) -> Result<String, HostError> {
        Err(HostError::Check {
            instance: "acme".into(),
            kind,
            message: message.into(),
            http_status: Some(403),
            okta_code: Some("E0000006".into()),
        })
    }

    #[test]
    fn a_passing_check_passes_every_stage_and_names_the_token() {
        let t = ConnectionTest::from_check(
            &probe(),
            &Ok("OK: DPoP (ES256) token obtained, System Log readable (1 event(s) in the last hour sample)".into()),
            &subject(),
        );
        assert!(t.passed && t.failed().is_none());
        assert!(t.stages.iter().all(|s| s.state == StageState::Passed));
        assert!(
            t.stages[3].detail.contains("requires DPoP"),
            "{:?}",
            t.stages[3]
        );
        assert!(t.stages[6]
            .detail
            .starts_with("DPoP (ES256) token obtained"));
        assert!(t.stages[2].detail.contains("kid-1"));
    }

    #[test]
    fn each_failure_stops_at_its_stage_with_its_fix() {
        let cases = [
            (ErrorKind::Network, Stage::Reachable, "outbound HTTPS"),
            (ErrorKind::UnknownClient, Stage::ClientKnown, "copy it from"),
            (ErrorKind::InvalidSignature, Stage::KeyAccepted, "kid kid-1"),
            (ErrorKind::DpopRequired, Stage::Dpop, "DPoP mode to auto"),
            (
                ErrorKind::ScopeNotGranted,
                Stage::ScopeGranted,
                "Grant next to okta.logs.read",
            ),
            (
                ErrorKind::Forbidden,
                Stage::AdminRole,
                "Report Administrator",
            ),
            (ErrorKind::RateLimited, Stage::FirstPage, "test again"),
        ];
        for (kind, stage, fix_says) in cases {
            let t = ConnectionTest::from_check(&probe(), &failed(kind, "Okta said no"), &subject());
            assert!(!t.passed);
            let f = t.failed().unwrap();
            assert_eq!(f.stage, stage, "{kind:?}");
            assert_eq!(f.detail, "Okta said no");
            assert_eq!(
                (f.http_status, f.okta_code.as_deref()),
                (Some(403), Some("E0000006"))
            );
            assert_eq!(f.okta_answer().as_deref(), Some("HTTP 403, E0000006"));
            assert!(
                f.fix.as_deref().unwrap().contains(fix_says),
                "{kind:?}: {:?}",
                f.fix
            );
            for s in &t.stages {
                let want = match (s.stage as usize).cmp(&(stage as usize)) {
                    std::cmp::Ordering::Less => StageState::Passed,
                    std::cmp::Ordering::Equal => StageState::Failed,
                    std::cmp::Ordering::Greater => StageState::NotRun,
                };
                assert_eq!(s.state, want, "{kind:?} {:?}", s.stage);
            }
        }
    }

    #[test]
    fn an_unreachable_org_runs_nothing_else() {
        let t = ConnectionTest::unreachable(&ProbeFailure {
            step: "DNS",
            detail: "acme.okta.cm does not resolve".into(),
            fix: "check the spelling".into(),
        });
        assert_eq!(t.failed().unwrap().stage, Stage::Reachable);
        assert!(t.stages[1..].iter().all(|s| s.state == StageState::NotRun));
    }
}
