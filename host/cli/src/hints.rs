//! The library's errors name no command-line flags (an embedder's users have none). This is where the
//! command adds them: each error is printed on one line, followed by the flag or command that fixes it.

use okta_ingest::{
    AdminError, ConfigError, HostError, HttpSetupError, SinkError, SinkSetting, StateError,
};

/// The error as one line, with the hint for the flag or command that fixes it, if there is one.
pub fn render(e: &anyhow::Error) -> String {
    let text = one_line(e);
    match hint(e) {
        Some(h) => format!("{text}; {h}"),
        None => text,
    }
}

/// The error and its causes joined by `: `, each cause once: a library error that already shows its
/// source (`cannot read private key file X: Is a directory`) is not followed by that source again.
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// The hint for the first error in the chain the command knows one for.
fn hint(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|cause| {
        if let Some(h) = cause.downcast_ref::<HostError>() {
            return host_hint(h);
        }
        if let Some(s) = cause.downcast_ref::<StateError>() {
            return state_hint(s);
        }
        if let Some(s) = cause.downcast_ref::<SinkError>() {
            return sink_hint(s);
        }
        if let Some(a) = cause.downcast_ref::<AdminError>() {
            return admin_hint(a);
        }
        None
    })
}

fn host_hint(e: &HostError) -> Option<String> {
    match e {
        HostError::Config(c) => config_hint(c).map(str::to_string),
        HostError::State(s) => state_hint(s),
        HostError::Http(HttpSetupError::CaFile { .. }) => Some("the CA file is --ca-file".into()),
        HostError::Sink(s) => sink_hint(s),
        HostError::VersionNotFound(_) => Some(
            "see `okta-ingest component list`, or add it with `okta-ingest component add FILE`"
                .into(),
        ),
        HostError::BackfillNotEditable => {
            Some("`okta-ingest instance remove NAME`, then add it again".into())
        }
        _ => None,
    }
}

fn config_hint(e: &ConfigError) -> Option<&'static str> {
    Some(match e {
        ConfigError::Domain { .. } => "the option is --domain",
        ConfigError::Backfill(_) => "the option is --backfill-days",
        ConfigError::UnknownCategory(_) | ConfigError::NoCategories => "the option is --events",
        ConfigError::ClientId(_) => "the option is --client-id",
        ConfigError::KeyId(_) => "the option is --key-id",
        ConfigError::SilenceAlert(_) => "the option is --silence-alert",
        ConfigError::Name(_) | ConfigError::SameApp { .. } => return None,
    })
}

fn state_hint(e: &StateError) -> Option<String> {
    match e {
        StateError::Open { .. } | StateError::Corrupt { .. } => {
            Some("--db (or OKTA_INGEST_DB) chooses the state file".into())
        }
        StateError::Locked(_) => Some("each --db may be used by one okta-ingest at a time".into()),
        StateError::InUse { .. } => {
            Some("`okta-ingest status` and the instance commands keep working meanwhile".into())
        }
        StateError::NoSuchInstance(_) => Some("see `okta-ingest instance list`".into()),
        StateError::DuplicateInstance(name) => {
            Some(format!("`okta-ingest instance edit {name}` changes it"))
        }
        _ => None,
    }
}

fn sink_hint(e: &SinkError) -> Option<String> {
    match e {
        SinkError::Config { setting, sink, .. } => {
            let kind = sink.split(':').next().unwrap_or_default();
            Some(
                match (setting, kind) {
                    (SinkSetting::Destination, "s3") => {
                        "the bucket and prefix are --sink; the endpoint and region are --s3-endpoint and --s3-region"
                    }
                    (SinkSetting::Destination, _) => "the destination is --sink",
                    (SinkSetting::Authorization, "splunk-hec") => {
                        "the variable is named by --hec-token-env (default SPLUNK_HEC_TOKEN)"
                    }
                    (SinkSetting::Authorization, "elasticsearch") => {
                        "the variable is named by --es-api-key-env or --es-basic-auth-env"
                    }
                    (SinkSetting::Authorization, "s3") => {
                        "export them in the environment okta-ingest starts in"
                    }
                    (SinkSetting::Authorization, _) => {
                        "the variable is named by --webhook-auth-env"
                    }
                    (SinkSetting::CaFile, "splunk-hec") => {
                        "the collector's CA file is --hec-ca-file"
                    }
                    (SinkSetting::CaFile, "elasticsearch") => {
                        "the cluster's CA file is --es-ca-file"
                    }
                    (SinkSetting::CaFile, "syslog") => "the receiver's CA file is --syslog-ca-file",
                    (SinkSetting::CaFile, "s3") => "the endpoint's CA file is --s3-ca-file",
                    (SinkSetting::CaFile, _) => "the receiver's CA file is --webhook-ca-file",
                    (SinkSetting::Message, _) => {
                        "see --syslog-facility, --syslog-hostname, --syslog-app-name and --syslog-sd-id"
                    }
                    (SinkSetting::ClientCertificate, _) => {
                        "the client certificate and key are --syslog-client-cert and --syslog-client-key"
                    }
                    (SinkSetting::Client, _) => return None,
                }
                .into(),
            )
        }
        SinkError::Open { .. } => Some("the destination is --sink".into()),
        SinkError::State(s) => state_hint(s),
        _ => None,
    }
}

fn admin_hint(e: &AdminError) -> Option<String> {
    match e {
        AdminError::TokenRequired(_) => Some(
            "set one with --admin-token-env VAR (VAR holding the token), or give --admin 127.0.0.1:PORT"
                .into(),
        ),
        AdminError::TokenMissing(_) | AdminError::TokenTooShort { .. } => {
            Some("the variable is named by --admin-token-env".into())
        }
        AdminError::Bind { .. } | AdminError::Address(_) => Some("the address is --admin".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_added_to_the_librarys_messages_on_one_line() {
        let e = anyhow::Error::from(HostError::from(ConfigError::ClientId(String::new())));
        let line = render(&e);
        assert!(
            line.starts_with("invalid client id \"\"")
                && line.ends_with("the option is --client-id"),
            "{line}"
        );
        let admin = anyhow::Error::from(AdminError::TokenRequired("0.0.0.0:9100".parse().unwrap()));
        let line = render(&admin);
        assert!(
            line.contains("not a loopback address") && line.contains("--admin-token-env"),
            "{line}"
        );
        let locked =
            anyhow::Error::from(HostError::from(StateError::Locked("/s.db".into()))).context("run");
        assert!(render(&locked).contains("each --db"), "{}", render(&locked));
        assert!(!render(&locked).contains('\n'));
        let plain = anyhow::anyhow!("no hint for this");
        assert_eq!(render(&plain), "no hint for this");
        let io = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        let sink = anyhow::Error::from(SinkError::Io {
            sink: "file:/d".into(),
            action: "opening the file",
            source: io,
        });
        let line = render(&sink);
        assert_eq!(
            line.matches("directory").count(),
            1,
            "the cause once: {line}"
        );
    }
}
