//! Event types the generator draws from, and the fixed pools (people, apps, places, agents)
//! that make events look like a real org's.

/// Event types in at least one category of `spec/okta/event-categories.json`: every exact
/// value, and several concrete types under every prefix.
pub const CATEGORIZED: &[&str] = &[
    // authentication: prefixes
    "user.authentication.sso",
    "user.authentication.auth_via_mfa",
    "user.authentication.authenticate",
    "user.authentication.verify",
    "user.authentication.auth_via_IDP",
    "user.session.start",
    "user.session.access_admin_app",
    "user.session.expire",
    "user.mfa.okta_verify",
    "user.mfa.okta_verify.deny_push",
    "user.mfa.okta_verify.deny_push_upgrade_needed",
    // authentication: exact
    "policy.evaluate_sign_on",
    "user.device_session.start",
    "device.platform_sso.authentication",
    "device.password_sync.authentication",
    // security: prefixes
    "security.threat.detected",
    "security.request.blocked",
    "security.attack.start",
    "security.breached_credential.detected",
    "security.authenticator.lifecycle.activate",
    "zone.update",
    "zone.create",
    "zone.make_blacklist",
    "network_zone.rule.disabled",
    "network_zone.rule.enabled",
    // security: exact
    "user.account.lock",
    "user.account.lock.limit",
    "user.account.report_suspicious_activity_by_enduser",
    "user.mfa.attempt_bypass",
    "user.mfa.factor.deactivate",
    "user.mfa.factor.reset_all",
    "user.mfa.factor.suspend",
    "app.oauth2.token.detect_reuse",
    "system.org.rate_limit.warning",
    "system.org.rate_limit.violation",
    "system.org.rate_limit.burst",
    "system.operation.rate_limit.violation",
    "core.concurrency.org.limit.violation",
    // itp: prefixes
    "user.risk.change",
    "user.risk.detect",
    "policy.auth_reevaluate.enforce",
    "policy.auth_reevaluate.fail",
    "policy.entity_risk.action",
    "policy.entity_risk.evaluate",
    "policy.continuous_access.action",
    "policy.continuous_access.evaluate",
    // itp: exact
    "security.events.provider.receive_event",
    "security.session_protection.status.update",
    "device.signals.status.timeout",
    "analytics.feedback.provide",
    "workflows.user.delegatedflow.run",
    "user.authentication.universal_logout",
    "user.authentication.universal_logout.scheduled",
    "user.session.context.change",
    "user.session.clear",
    "user.session.end",
    // lifecycle: prefixes
    "user.lifecycle.create",
    "user.lifecycle.activate",
    "user.lifecycle.deactivate",
    "user.lifecycle.suspend",
    "group.user_membership.add",
    "group.user_membership.remove",
    "group.lifecycle.create",
    "group.lifecycle.delete",
    "group.privilege.grant",
    "group.privilege.revoke",
    "application.user_membership.add",
    "application.user_membership.remove",
    "user.account.privilege.grant",
    "user.account.privilege.revoke",
    "app.user_management.push_okta_password_update",
    "app.user_management.provision_user",
    "app.user_management.deactivate_user",
    "iam.role.create",
    "iam.role.delete",
    "iam.resourceset.create",
    "iam.resourceset.bindings.add",
    // lifecycle: exact
    "user.account.update_profile",
    "user.account.reset_password",
    "user.account.update_password",
    "system.api_token.create",
    "system.api_token.revoke",
];

/// Real event types outside every category, so category filtering has something to drop.
pub const UNCATEGORIZED: &[&str] = &[
    "application.lifecycle.update",
    "application.lifecycle.create",
    "system.agent.ad.read_config",
    "system.agent.ad.connect",
    "app.generic.unauth_app_access_attempt",
    "user.import.start",
    "system.import.start",
    "app.oauth2.as.token.grant.access_token",
    "app.oauth2.as.authorize.code",
    "system.email.delivery",
    "policy.lifecycle.update",
    "user.account.unlock",
    "user.mfa.factor.activate",
    "group.application_assignment.add",
    "directory.app_user_profile.update",
    "app.inbound_del_auth.login_success",
];

/// A person in the fake org: (id, login, display name). Names include non-ASCII text on
/// purpose: consumers must pass it through untouched.
pub const USERS: &[(&str, &str, &str)] = &[
    (
        "00u1jose7mueller0h7",
        "jose.muller@example.com",
        "José Müller 日本",
    ),
    (
        "00u2anna9kowalska3x",
        "anna.kowalska@example.com",
        "Anna Kowalska",
    ),
    ("00u3liwei5x8q2c4d1z", "li.wei@example.com", "李伟"),
    (
        "00u4siobhan2oconn8k",
        "siobhan.oconnor@example.com",
        "Siobhán O'Connor",
    ),
    (
        "00u5maria4garcia1l6",
        "maria.garcia@example.com",
        "María García",
    ),
    (
        "00u6zoe8angstrom2p3",
        "zoe.angstrom@example.com",
        "Zoë Ångström",
    ),
    (
        "00u7ahmed3hassan9v0",
        "ahmed.hassan@example.com",
        "أحمد حسن",
    ),
    (
        "00u8dmitri6ivanov4r",
        "dmitri.ivanov@example.com",
        "Дмитрий \"Dima\" Иванов",
    ),
    (
        "00u9alex1chen7rock5",
        "alex.chen@example.com",
        "Alex 🚀 Chen",
    ),
    (
        "00uasvc0backup3job2",
        "svc-backup@example.com",
        "svc-backup",
    ),
    (
        "00ubpriya4nair8n6m1",
        "priya.nair@example.com",
        "Priya Nair",
    ),
    (
        "00ucjohn2smith5t9k8",
        "john.smith@example.com",
        "John Smith",
    ),
];

/// Applications: (id, display name, app name).
pub const APPS: &[(&str, &str, &str)] = &[
    ("0oa1sfdc4h2k9x7salesf", "Salesforce.com", "salesforce"),
    ("0oa2slack8m3n1q5slack", "Slack", "slack"),
    (
        "0oa3aws0c7v2b9awsacct",
        "AWS Account Federation",
        "amazon_aws",
    ),
    ("0oa4admin1console0adm", "Okta Admin Console", "saasure"),
    ("0oa5workday6d2x8wkday", "Workday", "workday"),
];

/// Groups: (id, name).
pub const GROUPS: &[(&str, &str)] = &[
    ("00g1engineering7x2k", "Engineering"),
    ("00g2finance9q4m1zz0", "Finance"),
    ("00g3admins5r8t2y6u1", "Okta Administrators"),
    ("00g4contractors0w3e", "Contractors – EMEA"),
];

/// A network origin: IP, city, state, country, postal code, lat, lon, AS number, AS org,
/// ISP, domain, proxy.
pub type Place = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    f64,
    u32,
    &'static str,
    &'static str,
    &'static str,
    bool,
);

/// Places requests come from.
pub const PLACES: &[Place] = &[
    (
        "203.0.113.17",
        "San Francisco",
        "California",
        "United States",
        "94107",
        37.7697,
        -122.3933,
        7922,
        "comcast cable communications  llc",
        "comcast",
        "comcast.net",
        false,
    ),
    (
        "198.51.100.42",
        "München",
        "Bayern",
        "Germany",
        "80331",
        48.1374,
        11.5755,
        3320,
        "deutsche telekom ag",
        "deutsche telekom ag",
        "telekom.de",
        false,
    ),
    (
        "192.0.2.200",
        "Tokyo",
        "Tokyo",
        "Japan",
        "100-0001",
        35.6893,
        139.6899,
        2516,
        "kddi corporation",
        "kddi",
        "kddi.com",
        false,
    ),
    (
        "2001:db8::5",
        "São Paulo",
        "Sao Paulo",
        "Brazil",
        "01000-000",
        -23.5475,
        -46.6361,
        28573,
        "claro nxt telecomunicacoes ltda",
        "claro",
        "claro.com.br",
        false,
    ),
    (
        "185.220.101.3",
        "Frankfurt am Main",
        "Hesse",
        "Germany",
        "60313",
        50.1155,
        8.6842,
        205100,
        "f3 netze e.v.",
        "tor exit",
        "",
        true,
    ),
    (
        "100.64.12.9",
        "Dublin",
        "Leinster",
        "Ireland",
        "D02",
        53.3331,
        -6.2489,
        16509,
        "amazon.com  inc.",
        "amazon",
        "amazonaws.com",
        false,
    ),
];

/// User agents: (raw, os, browser).
pub const AGENTS: &[(&str, &str, &str)] = &[
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", "Mac OS X", "CHROME"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "Windows 10", "FIREFOX"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", "iOS", "SAFARI"),
    ("okta-sdk-java/8.2.1 java/17.0.9 Linux/5.15.0", "Linux", "UNKNOWN"),
    ("OktaVerify/9.8.0 (Android 14; Pixel 8)", "Android", "UNKNOWN"),
    ("python-requests/2.31.0", "Unknown", "UNKNOWN"),
];

/// Okta's display message for common types; others get one derived from the type.
pub fn display_message(event_type: &str) -> String {
    let known = match event_type {
        "user.session.start" => "User login to Okta",
        "user.session.end" => "User logout from Okta",
        "user.authentication.sso" => "User single sign on to app",
        "user.authentication.auth_via_mfa" => "Authentication of user via MFA",
        "policy.evaluate_sign_on" => "Evaluation of sign-on policy",
        "security.threat.detected" => "Request from suspicious actor",
        "security.request.blocked" => "Request from a blocked IP",
        "user.account.lock" => "Max sign in attempts exceeded",
        "user.lifecycle.create" => "Create okta user",
        "group.user_membership.add" => "Add user to group membership",
        "user.risk.change" => "User risk level changed",
        "application.lifecycle.update" => "Update application",
        "system.agent.ad.read_config" => "Read AD agent configuration",
        "app.generic.unauth_app_access_attempt" => "User attempted unauthorized access to app",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let words = event_type.replace(['.', '_'], " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The legacy (v1 API) event type for the few types that still carry one.
pub fn legacy_event_type(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "user.session.start" => "core.user_auth.login_success",
        "user.session.end" => "core.user_auth.logout_success",
        "user.authentication.sso" => "app.auth.sso",
        "user.lifecycle.create" => "core.user.config.user_creation.success",
        "user.account.lock" => "core.user_auth.account_locked",
        "group.user_membership.add" => "core.user_group_member.user_add",
        "application.user_membership.add" => "app.generic.provision.assign_user_to_app",
        _ => return None,
    })
}
