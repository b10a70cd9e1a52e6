//! The console's static files, embedded in the binary: no CDN, no external font, nothing fetched.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// htmx 2.0.11 (0BSD, `assets/htmx-LICENSE`), from the npm package `htmx.org`, unmodified.
const HTMX: &[u8] = include_bytes!("../assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("../assets/console.css");
/// Copy buttons (the one behaviour htmx has no attribute for).
const JS: &[u8] = include_bytes!("../assets/console.js");

/// `GET /assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        "console.css" => (CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
