//! DPoP (RFC 9449) settings shared by the host, the CLI and the connector: the instance's mode (the WIT
//! `dpop.dpop-mode`) and how a token is presented (the WIT `dpop.token-scheme`).

/// Whether an instance asks Okta for DPoP-bound tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DpopMode {
    /// Send a proof with every token request and use the token type Okta issues: `DPoP` where the app
    /// binds tokens, `Bearer` where it does not. Works with either app setting.
    #[default]
    Auto,
    /// Like `Auto`, but a `Bearer` answer is an error: every token must be bound to the host's key.
    Required,
    /// Never send a proof (an app that requires DPoP then refuses the token request).
    Off,
}

impl DpopMode {
    /// Every mode with its name, in the order `--help` lists them.
    pub const NAMED: [(&'static str, DpopMode); 3] = [
        ("auto", DpopMode::Auto),
        ("required", DpopMode::Required),
        ("off", DpopMode::Off),
    ];

    /// The name used in the state file, on the command line and in `instance show`.
    pub fn as_str(self) -> &'static str {
        match self {
            DpopMode::Auto => "auto",
            DpopMode::Required => "required",
            DpopMode::Off => "off",
        }
    }

    /// The mode named `name` (exactly as [`DpopMode::as_str`] writes it).
    pub fn parse(name: &str) -> Option<DpopMode> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| *m)
    }
}

impl std::fmt::Display for DpopMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an access token is presented to Okta.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TokenScheme {
    /// `Authorization: Bearer <token>`: whoever holds the token can use it.
    #[default]
    Bearer,
    /// `Authorization: DPoP <token>` with a proof signed by the key the token is bound to.
    Dpop,
}

impl TokenScheme {
    /// The name used in the state file and in JSON output (`bearer`, `dpop`).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScheme::Bearer => "bearer",
            TokenScheme::Dpop => "dpop",
        }
    }

    /// The scheme named `name` (as [`TokenScheme::as_str`] writes it).
    pub fn parse(name: &str) -> Option<TokenScheme> {
        match name {
            "bearer" => Some(TokenScheme::Bearer),
            "dpop" => Some(TokenScheme::Dpop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (name, mode) in DpopMode::NAMED {
            assert_eq!(DpopMode::parse(name), Some(mode));
            assert_eq!(mode.as_str(), name);
        }
        assert_eq!(DpopMode::parse("Auto"), None);
        assert_eq!(DpopMode::default(), DpopMode::Auto);
        for s in [TokenScheme::Bearer, TokenScheme::Dpop] {
            assert_eq!(TokenScheme::parse(s.as_str()), Some(s));
        }
        assert_eq!(TokenScheme::parse("DPoP"), None);
    }
}
