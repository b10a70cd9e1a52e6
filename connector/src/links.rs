//! `Link` header parsing and validation of Okta's `next` links.

/// The `rel="next"` URL from all `link` headers (lowercase names; several headers or one comma-joined
/// value). Parsing is lenient about spacing, quoting and extra parameters, and never panics.
pub fn next_link(headers: &[(String, String)]) -> Option<&str> {
    headers
        .iter()
        .filter(|(n, _)| n == "link")
        .flat_map(|(_, v)| split_links(v))
        .find_map(|link| {
            parse_link(link)
                .filter(|(_, is_next)| *is_next)
                .map(|(url, _)| url)
        })
}

/// Split a header value at commas outside `<…>` and quotes (URLs and params may contain commas).
fn split_links(v: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut in_angle, mut in_quote) = (0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&v[start..]);
    parts.into_iter()
}

/// `<url>; rel="next"; …` → (url, whether one of the rel values is `next`).
fn parse_link(link: &str) -> Option<(&str, bool)> {
    let link = link.trim();
    let rest = link.strip_prefix('<')?;
    let end = rest.find('>')?;
    let url = rest[..end].trim();
    let mut is_next = false;
    for param in rest[end + 1..].split(';') {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("rel") {
            let value = value.trim().trim_matches('"');
            // rel may hold several space-separated relation types.
            is_next |= value
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"));
        }
    }
    Some((url, is_next))
}

/// Check a System Log URL is `https://{domain}/api/v1/logs?…`; returns its query (without `?`).
/// Anything else (other host, scheme, path, userinfo tricks) is refused so a hostile or broken
/// response cannot redirect the bearer token elsewhere.
pub fn validate_logs_url<'a>(url: &'a str, domain: &str) -> Result<&'a str, String> {
    let rest =
        strip_prefix_ci(url, "https://").ok_or_else(|| format!("next link is not https: {url}"))?;
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    if !authority.eq_ignore_ascii_case(domain) {
        return Err(format!(
            "next link points to {authority:?}, not the configured domain {domain:?}"
        ));
    }
    let path_query = &rest[auth_end..];
    if path_query.contains('#') {
        return Err(format!("next link has a fragment: {url}"));
    }
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    if path != "/api/v1/logs" {
        return Err(format!("next link path is {path:?}, not /api/v1/logs"));
    }
    Ok(query)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The raw (still percent-encoded) value of query parameter `name`.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<(String, String)> {
        v.iter()
            .map(|s| ("link".to_string(), s.to_string()))
            .collect()
    }

    const NEXT: &str = "https://acme.okta.com/api/v1/logs?limit=1000&after=1627500044869_1";

    #[test]
    fn separate_headers() {
        let hs = h(&[
            "<https://acme.okta.com/api/v1/logs?limit=1000>; rel=\"self\"",
            "<https://acme.okta.com/api/v1/logs?limit=1000&after=1627500044869_1>; rel=\"next\"",
        ]);
        assert_eq!(next_link(&hs), Some(NEXT));
    }

    #[test]
    fn comma_joined_and_odd_spacing() {
        let hs = h(&["<https://acme.okta.com/api/v1/logs?limit=1000>; rel=\"self\",<https://acme.okta.com/api/v1/logs?limit=1000&after=1627500044869_1>;rel=next"]);
        assert_eq!(next_link(&hs), Some(NEXT));
        let hs = h(&["  < https://acme.okta.com/api/v1/logs?limit=1000&after=1627500044869_1 >  ;  title=\"a, b; c\" ; REL = \"prev next\" "]);
        assert_eq!(next_link(&hs), Some(NEXT));
        // Other header names, garbage and missing rel are ignored.
        let mut hs = h(&["garbage", "<x>", "<y>; rel", "<z>; rel=\"self\""]);
        hs.push(("x-link".into(), format!("<{NEXT}>; rel=\"next\"")));
        assert_eq!(next_link(&hs), None);
        assert_eq!(next_link(&h(&["<", ">;rel=next", ""])), None);
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate_logs_url(NEXT, "acme.okta.com"),
            Ok("limit=1000&after=1627500044869_1")
        );
        assert!(validate_logs_url("HTTPS://ACME.okta.com/api/v1/logs", "acme.okta.com").is_ok());
        assert!(
            validate_logs_url("https://localhost:8443/api/v1/logs?a=1", "localhost:8443").is_ok()
        );
        for bad in [
            "http://acme.okta.com/api/v1/logs?after=1",
            "https://evil.com/api/v1/logs?after=1",
            "https://acme.okta.com.evil.com/api/v1/logs",
            "https://acme.okta.com@evil.com/api/v1/logs",
            "https://acme.okta.com:444/api/v1/logs",
            "https://acme.okta.com/api/v1/users?after=1",
            "https://acme.okta.com/api/v1/logs/../users",
            "https://acme.okta.com/api/v1/logs#x",
            "/api/v1/logs?after=1",
            "",
            "é",
        ] {
            assert!(validate_logs_url(bad, "acme.okta.com").is_err(), "{bad}");
        }
    }

    #[test]
    fn params() {
        assert_eq!(
            query_param("limit=1000&after=1627500044869_1", "after"),
            Some("1627500044869_1")
        );
        assert_eq!(query_param("limit=1000", "after"), None);
        assert_eq!(query_param("", "after"), None);
    }
}
