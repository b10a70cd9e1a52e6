//! What every page shares: rendering a template into a response, and the one-line message at its top.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A message at the top of a page.
pub(crate) struct Flash {
    /// `ok` or `error` (the CSS class).
    pub(crate) kind: &'static str,
    pub(crate) text: String,
}

impl Flash {
    pub(crate) fn ok(text: String) -> Flash {
        Flash { kind: "ok", text }
    }
    pub(crate) fn error(text: String) -> Flash {
        Flash {
            kind: "error",
            text,
        }
    }
}

/// A page with only a message (an action that failed with nothing else to show).
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) flash: Option<Flash>,
}

/// Renders `t` as an HTML response (500 with a plain message if a template fails, which a test would
/// have caught).
pub(crate) fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!("console: a page failed to render: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render; see the log",
            )
                .into_response()
        }
    }
}

/// Sends the browser to `to`: a 303 for a plain form post, `HX-Redirect` (a full navigation) for htmx,
/// which would otherwise follow the 303 itself and swap the next page into this one.
pub(crate) fn redirect(to: &str, request: &HeaderMap) -> Response {
    let Ok(location) = HeaderValue::from_str(to) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "bad redirect target").into_response();
    };
    if request.contains_key("hx-request") {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert("hx-redirect", location);
        r
    } else {
        let mut r = StatusCode::SEE_OTHER.into_response();
        r.headers_mut().insert(header::LOCATION, location);
        r
    }
}
