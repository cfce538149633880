//! The profile routes, on the admin (metrics) endpoint of a master or a standalone node:
//!
//! - `GET /profiles`: every profile and the catalog version;
//! - `GET /profiles/{name}`: one profile;
//! - `POST /profiles`: create (body: a profile as JSON), `PUT /profiles/{name}`: replace;
//! - `DELETE /profiles/{name}`.
//!
//! Changes are small SQLite transactions, made on the request's thread. A refused change answers
//! 400 (bad request), 404 (no such profile or channel) or 409 (exists already) with the reason as
//! text; `flowfold admin profile` prints it.

use std::sync::Arc;

use anyhow::Context;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::profiles::{Profile, ProfileCatalog, ProfileError};

/// The routes over `catalog`.
pub fn routes(catalog: Arc<ProfileCatalog>) -> Router {
    Router::new()
        .route("/profiles", get(list).post(create))
        .route("/profiles/{name}", get(show).put(replace).delete(remove))
        .with_state(catalog)
}

async fn list(State(catalog): State<Arc<ProfileCatalog>>) -> Response {
    Json(catalog.snapshot().as_ref().clone()).into_response()
}

async fn show(State(catalog): State<Arc<ProfileCatalog>>, Path(name): Path<String>) -> Response {
    match catalog.snapshot().get(&name) {
        Some(profile) => Json(profile.clone()).into_response(),
        None => refused(ProfileError::NoProfile(name)),
    }
}

async fn create(State(catalog): State<Arc<ProfileCatalog>>, Json(profile): Json<Profile>) -> Response {
    changed(catalog.create(profile))
}

async fn replace(
    State(catalog): State<Arc<ProfileCatalog>>,
    Path(name): Path<String>,
    Json(profile): Json<Profile>,
) -> Response {
    if profile.name != name {
        return (
            StatusCode::BAD_REQUEST,
            format!("the body names profile '{}', the path '{name}'", profile.name),
        )
            .into_response();
    }
    changed(catalog.update(profile))
}

async fn remove(State(catalog): State<Arc<ProfileCatalog>>, Path(name): Path<String>) -> Response {
    match catalog.delete(&name) {
        Ok(version) => Json(serde_json::json!({ "version": version })).into_response(),
        Err(e) => refused(e),
    }
}

fn changed(result: Result<Profile, ProfileError>) -> Response {
    match result {
        Ok(profile) => {
            tracing::info!(profile = %profile.name, version = profile.version, "profile changed");
            Json(profile).into_response()
        }
        Err(e) => refused(e),
    }
}

fn refused(err: ProfileError) -> Response {
    let status = match &err {
        ProfileError::NoProfile(_) | ProfileError::NoChannel { .. } => StatusCode::NOT_FOUND,
        ProfileError::Exists(_) => StatusCode::CONFLICT,
        e if e.is_request_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %err, "profile catalog failed");
    }
    (status, err.to_string()).into_response()
}

/// The profile catalog at `path`, or in memory.
pub fn open_profiles(path: Option<&std::path::Path>) -> anyhow::Result<ProfileCatalog> {
    Ok(match path {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            ProfileCatalog::open(path).with_context(|| format!("opening the profile catalog {}", path.display()))?
        }
        None => {
            tracing::warn!("no profile catalog file configured: profiles are kept in memory only");
            ProfileCatalog::in_memory()?
        }
    })
}
