//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1): where Okta's resource server puts its DPoP and
//! token errors, with an empty body (`DPoP algs="…", …, error="invalid_dpop_proof",
//! error_description="…", resource="/api/v1/logs"`).

/// One challenge: its scheme and parameters (names lowercased, values unquoted).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    /// `Bearer` or `DPoP`, as sent.
    pub scheme: String,
    /// `name=value` parameters in order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Parses the first challenge of a header value; anything unparsable ends the parameter list.
    pub fn parse(value: &str) -> Challenge {
        let value = value.trim();
        let (scheme, mut rest) = match value.find(char::is_whitespace) {
            Some(i) => (&value[..i], value[i..].trim_start()),
            None => (value, ""),
        };
        let mut params = Vec::new();
        while let Some(eq) = rest.find('=') {
            let name = rest[..eq].trim().trim_start_matches(',').trim();
            if name.is_empty() || name.contains([' ', '"']) {
                break;
            }
            let after = rest[eq + 1..].trim_start();
            let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
                match unquote(quoted) {
                    Some(x) => x,
                    None => break,
                }
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((name.to_ascii_lowercase(), val));
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        }
        Challenge {
            scheme: scheme.to_string(),
            params,
        }
    }

    /// A parameter's value (`name` lowercase).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `error`.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// `error_description`.
    pub fn description(&self) -> Option<&str> {
        self.param("error_description")
    }
}

/// A quoted-string's content (after its opening quote) and what follows its closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_s_dpop_challenge_parses() {
        let h = r#"DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512", authorization_uri="http://a.okta.com/oauth2/v1/authorize", realm="http://a.okta.com", scope="okta.logs.read", error="invalid_dpop_proof", error_description="The DPoP proof JWT has already been used.", resource="/api/v1/logs""#;
        let c = Challenge::parse(h);
        assert_eq!(c.scheme, "DPoP");
        assert_eq!(c.error(), Some("invalid_dpop_proof"));
        assert_eq!(
            c.description(),
            Some("The DPoP proof JWT has already been used.")
        );
        assert_eq!(c.param("algs"), Some("RS256 RS384 RS512 ES256 ES384 ES512"));
        assert_eq!(c.param("resource"), Some("/api/v1/logs"));
    }

    #[test]
    fn tokens_escapes_and_junk() {
        let c = Challenge::parse(r#"Bearer error=invalid_token, error_description="a \"q\", b""#);
        assert_eq!(c.error(), Some("invalid_token"));
        assert_eq!(c.description(), Some(r#"a "q", b"#));
        assert_eq!(Challenge::parse("Basic").scheme, "Basic");
        assert!(Challenge::parse("").params.is_empty());
        let unterminated = Challenge::parse(r#"DPoP error="oops"#);
        assert_eq!(unterminated.error(), None);
    }
}
