//! The profile routes, on the admin (metrics) endpoint of a master or a standalone node:
//!
//! - `GET /profiles`: every profile and the catalog version;
//! - `GET /profiles/{name}`: one profile;
//! - `POST /profiles`: create (body: a profile as JSON), `PUT /profiles/{name}`: replace;
//! - `DELETE /profiles/{name}`;
//! - `GET /sources`: the deleted flow sources; `DELETE /sources/{exporter}`: delete a flow source
//!   from the live profile (on a node that stores flows, its windows no profile reads are expired
//!   at once, hidden from queries, and removed after the retention grace; the bytes expired and
//!   freed are answered); `POST /sources/{exporter}/restore`.
//!
//! Changes are small SQLite transactions, made on the request's thread. A refused change answers
//! 400 (bad request), 404 (no such profile or channel) or 409 (exists already) with the reason as
//! text; `flowfold admin profile` prints it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use engine::addr::from_ip;
use engine::profiles::{Profile, ProfileCatalog, ProfileError, retention_rules};
use engine::store::retention::{Action, RetentionRules, RetentionRun, enforce};

/// The flows a node stores, for removing a deleted source's windows at once.
#[derive(Debug, Clone)]
pub struct LocalStore {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The store's window length.
    pub window: Duration,
    /// How long expired windows stay on disk (`[retention] grace`).
    pub grace: Duration,
}

/// The routes over `catalog`; `store` on nodes that store flows.
pub fn routes(catalog: Arc<ProfileCatalog>, store: Option<LocalStore>) -> Router {
    let profiles = Router::new()
        .route("/profiles", get(list).post(create))
        .route("/profiles/{name}", get(show).put(replace).delete(remove))
        .with_state(Arc::clone(&catalog));
    let sources = Router::new()
        .route("/sources", get(deleted_sources))
        .route("/sources/{exporter}", axum::routing::delete(delete_source))
        .route("/sources/{exporter}/restore", axum::routing::post(restore_source))
        .with_state((catalog, store));
    profiles.merge(sources)
}

type SourcesState = State<(Arc<ProfileCatalog>, Option<LocalStore>)>;

async fn deleted_sources(State((catalog, _)): SourcesState) -> Response {
    let set = catalog.snapshot();
    Json(serde_json::json!({ "version": set.version, "deleted": set.deleted_sources })).into_response()
}

async fn delete_source(State((catalog, store)): SourcesState, Path(exporter): Path<String>) -> Response {
    let Ok(ip) = exporter.parse::<IpAddr>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!("'{exporter}' is not an exporter address"),
        )
            .into_response();
    };
    let (version, kept_for) = match catalog.delete_source(ip, engine::clock::now_ms()) {
        Ok(done) => done,
        Err(e) => return refused(e),
    };
    tracing::info!(%ip, version, ?kept_for, "flow source deleted");
    let mut answer = serde_json::json!({ "version": version, "kept_for": kept_for });
    if let (Some(store), true) = (store, kept_for.is_empty()) {
        let rules = retention_rules(&catalog.snapshot(), &RetentionRules::default(), &[from_ip(ip)]);
        let run = RetentionRun {
            window: store.window,
            grace: store.grace,
            now_ms: engine::clock::now_ms(),
            action: Action::Remove,
        };
        let removed = tokio::task::spawn_blocking(move || enforce(&store.data_dir, &rules, run)).await;
        match removed {
            // The source's windows: expired (gone for queries) now, their files removed after
            // the grace, by this run when it is zero and else by the retention thread.
            Ok(Ok(report)) => {
                let channel = report.channel(&from_ip(ip));
                answer["bytes_expired"] = channel.map_or(0, |c| c.bytes_expired()).into();
                answer["files_removed"] = channel.map_or(0, |c| c.files_removed()).into();
                answer["bytes_freed"] = channel.map_or(0, |c| c.bytes_freed()).into();
                answer["grace"] = humantime::format_duration(run.grace).to_string().into();
            }
            Ok(Err(e)) => answer["cleanup_error"] = e.to_string().into(),
            Err(e) => answer["cleanup_error"] = e.to_string().into(),
        }
    }
    Json(answer).into_response()
}

async fn restore_source(State((catalog, _)): SourcesState, Path(exporter): Path<String>) -> Response {
    let Ok(ip) = exporter.parse::<IpAddr>() else {
        return (
            StatusCode::BAD_REQUEST,
            format!("'{exporter}' is not an exporter address"),
        )
            .into_response();
    };
    match catalog.restore_source(ip) {
        Ok(version) => Json(serde_json::json!({ "version": version })).into_response(),
        Err(e) => refused(e),
    }
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
