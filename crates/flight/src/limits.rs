//! Per-query limits: admission (at most `max_queries` at once, a bounded wait for a slot), a
//! time limit, and the bookkeeping of a running query's result stream (a client that goes away
//! drops the stream, which stops the query's work and counts it as cancelled).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::{Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::error::QueryError;
use crate::metrics::QueryMetrics;

/// Limits on the queries of one node.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Queries that may run at once.
    pub max_queries: usize,
    /// How long a query waits for a slot before it is refused.
    pub queue_wait: Duration,
    /// Longest a query may run, planning included.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_queries: 16,
            queue_wait: Duration::from_secs(10),
            timeout: Duration::from_secs(300),
        }
    }
}

/// Hands out query slots.
#[derive(Debug)]
pub struct Admission {
    limits: QueryLimits,
    slots: Arc<Semaphore>,
}

impl Admission {
    /// Admission under `limits`.
    pub fn new(limits: QueryLimits) -> Admission {
        let slots = Arc::new(Semaphore::new(limits.max_queries.max(1)));
        Admission { limits, slots }
    }

    /// The limits in force.
    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Waits up to `queue_wait` for a slot.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        let wait = self.limits.queue_wait;
        match tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(QueryError::Busy {
                limit: self.limits.max_queries,
                wait,
            }),
        }
    }
}

/// A running query's results: holds its slot, ends it with [`QueryError::Timeout`] at the
/// deadline, counts rows, and on drop counts the query as finished, failed or cancelled.
pub struct RunningQuery {
    inner: SendableRecordBatchStream,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
    metrics: Arc<QueryMetrics>,
    _slot: OwnedSemaphorePermit,
    state: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Running,
    Finished,
    Failed,
}

impl RunningQuery {
    /// Wraps a query's stream; `deadline` is when the query must be done.
    pub fn new(
        inner: SendableRecordBatchStream,
        slot: OwnedSemaphorePermit,
        deadline: tokio::time::Instant,
        limit: Duration,
        metrics: Arc<QueryMetrics>,
    ) -> RunningQuery {
        metrics.started.inc();
        metrics.running.inc();
        RunningQuery {
            inner,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            limit,
            metrics,
            _slot: slot,
            state: End::Running,
        }
    }

    fn fail(&mut self, err: QueryError) -> Poll<Option<Result<RecordBatch, QueryError>>> {
        self.metrics.fail(err.kind());
        self.state = End::Failed;
        Poll::Ready(Some(Err(err)))
    }
}

impl Stream for RunningQuery {
    type Item = Result<RecordBatch, QueryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.state != End::Running {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let limit = self.limit;
            return self.fail(QueryError::Timeout { limit });
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(batch))) => {
                self.metrics.rows_sent.inc_by(batch.num_rows() as u64);
                Poll::Ready(Some(Ok(batch)))
            }
            Poll::Ready(Some(Err(e))) => self.fail(QueryError::Sql(e)),
            Poll::Ready(None) => {
                self.metrics.finished.inc();
                self.state = End::Finished;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.metrics.running.dec();
        if self.state == End::Running {
            self.metrics.cancelled.inc();
            tracing::info!("query cancelled: the client went away");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_house_refuses_after_the_wait() {
        let admission = Admission::new(QueryLimits {
            max_queries: 1,
            queue_wait: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
        });
        let held = admission.admit().await.unwrap();
        let refused = admission.admit().await.unwrap_err();
        assert!(matches!(refused, QueryError::Busy { limit: 1, .. }), "{refused}");
        drop(held);
        let _again = admission.admit().await.unwrap();
    }
}
