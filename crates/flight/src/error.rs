//! Errors of the query service, and the one function that maps them to gRPC status codes.

use std::time::Duration;

use datafusion::error::DataFusionError;
use planner::PlannerError;
use tonic::Status;

/// Why a query or a Flight SQL request failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Planning or running the SQL failed (bad SQL, unknown table, a function's error...).
    #[error("{0}")]
    Sql(#[from] DataFusionError),
    /// The statement would change something; client SQL is read-only.
    #[error("flowfold is read-only: {statement} is not allowed (queries only)")]
    ReadOnly {
        /// What was refused, e.g. `DDL (CREATE EXTERNAL TABLE)`.
        statement: String,
    },
    /// The query ran longer than the per-query time limit.
    #[error("query cancelled: it ran longer than the {}s limit (--query-timeout)", limit.as_secs_f64())]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// Too many queries were running and none finished within the admission wait.
    #[error("too many queries: {limit} are running (--max-queries); none finished within {}s", wait.as_secs_f64())]
    Busy {
        /// The concurrency limit.
        limit: usize,
        /// How long the query waited.
        wait: Duration,
    },
    /// A prepared statement handle the server does not know (closed, evicted or never made).
    #[error("unknown prepared statement handle (closed, expired, or from another server)")]
    UnknownHandle,
    /// Bad parameters, ticket or request.
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// Whether `e` says no proxy group of a source group can answer.
fn cluster_down(e: &DataFusionError) -> bool {
    matches!(e, DataFusionError::External(inner)
    if matches!(
        inner.downcast_ref::<PlannerError>(),
        Some(PlannerError::SourceGroupDown { .. } | PlannerError::NothingToRead { .. })
    ))
}

impl QueryError {
    /// The metric label of this error.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Sql(e) => match e.find_root() {
                root if cluster_down(root) => "unavailable",
                DataFusionError::ResourcesExhausted(_) => "resources_exhausted",
                DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => "plan",
                _ => "execution",
            },
            QueryError::ReadOnly { .. } => "read_only",
            QueryError::Timeout { .. } => "timeout",
            QueryError::Busy { .. } => "busy",
            QueryError::UnknownHandle => "unknown_handle",
            QueryError::BadRequest(_) => "bad_request",
        }
    }
}

/// The gRPC status of an error; the message names the cause.
pub fn to_status(err: &QueryError) -> Status {
    let message = err.to_string();
    match err {
        QueryError::Sql(e) => match e.find_root() {
            root if cluster_down(root) => Status::unavailable(message),
            DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
            DataFusionError::NotImplemented(_) => Status::unimplemented(message),
            DataFusionError::Internal(_) => Status::internal(message),
            DataFusionError::IoError(_) | DataFusionError::ObjectStore(_) => Status::unavailable(message),
            _ => Status::invalid_argument(message),
        },
        QueryError::ReadOnly { .. } => Status::permission_denied(message),
        QueryError::Timeout { .. } => Status::deadline_exceeded(message),
        QueryError::Busy { .. } => Status::resource_exhausted(message),
        QueryError::UnknownHandle => Status::not_found(message),
        QueryError::BadRequest(_) => Status::invalid_argument(message),
    }
}

impl From<QueryError> for Status {
    fn from(err: QueryError) -> Status {
        to_status(&err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn codes_follow_the_cause() {
        let plan = QueryError::Sql(DataFusionError::Plan("table 'x' not found".into()));
        assert_eq!(to_status(&plan).code(), Code::InvalidArgument);
        assert!(to_status(&plan).message().contains("table 'x' not found"));
        let oom = QueryError::Sql(DataFusionError::Context(
            "aggregate".into(),
            Box::new(DataFusionError::ResourcesExhausted("pool".into())),
        ));
        assert_eq!(to_status(&oom).code(), Code::ResourceExhausted);
        assert_eq!(oom.kind(), "resources_exhausted");
        let ddl = QueryError::ReadOnly {
            statement: "DDL".into(),
        };
        assert_eq!(to_status(&ddl).code(), Code::PermissionDenied);
        let late = QueryError::Timeout {
            limit: Duration::from_secs(3),
        };
        assert_eq!(to_status(&late).code(), Code::DeadlineExceeded);
        assert!(to_status(&late).message().contains("3s"));
    }
}
