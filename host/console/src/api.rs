//! `/api/...`: the figures the pages show, as JSON, in the shape `okta-ingest status --json` prints
//! ([`InstanceStatus::to_json`](okta_ingest::InstanceStatus::to_json)).

use crate::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use okta_ingest::InstanceStatus;

fn failed(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// `GET /api/instances`: `{"state", "queued", "instances": [...]}`.
pub(crate) async fn instances(State(console): State<Shared>) -> Response {
    let all = match console.host.status().await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let queued = match console.host.outbox_depth().await {
        Ok(q) => q,
        Err(e) => return failed(e),
    };
    Json(serde_json::json!({
        "state": console.host.state_location(),
        "queued": queued,
        "instances": all.iter().map(InstanceStatus::to_json).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// `GET /api/instances/{name}`: one instance, 404 if there is none of that name.
pub(crate) async fn instance(State(console): State<Shared>, Path(name): Path<String>) -> Response {
    match console.host.status().await {
        Ok(all) => match all.iter().find(|s| s.name == name) {
            Some(s) => Json(s.to_json()).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": format!("no instance named {name}") })),
            )
                .into_response(),
        },
        Err(e) => failed(e),
    }
}
