//! Prepared statements: a bounded table of handles -> (plan with placeholders, bound values).
//! The oldest statement is evicted when the table is full; a client using an evicted handle gets
//! "unknown prepared statement handle" and prepares again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;

use crate::error::QueryError;

/// One prepared statement.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The plan, with placeholders (`$1`, `$2`...).
    pub plan: LogicalPlan,
    /// Values bound by the client's last DoPut, if any.
    pub params: Option<ParamValues>,
}

/// The prepared statements of a server.
#[derive(Debug)]
pub struct PreparedStatements {
    capacity: usize,
    next: AtomicU64,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    by_handle: HashMap<u64, Prepared>,
    by_age: BTreeMap<u64, ()>,
}

impl PreparedStatements {
    /// A table of at most `capacity` statements.
    pub fn new(capacity: usize) -> PreparedStatements {
        PreparedStatements {
            capacity: capacity.max(1),
            next: AtomicU64::new(1),
            table: Mutex::new(Table::default()),
        }
    }

    /// Stores a statement and returns its handle.
    pub fn insert(&self, plan: LogicalPlan) -> Bytes {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut t = self.lock();
        while t.by_handle.len() >= self.capacity {
            let Some((&oldest, _)) = t.by_age.iter().next() else {
                break;
            };
            t.by_age.remove(&oldest);
            t.by_handle.remove(&oldest);
        }
        t.by_handle.insert(id, Prepared { plan, params: None });
        t.by_age.insert(id, ());
        Bytes::from(id.to_be_bytes().to_vec())
    }

    /// The statement of `handle`.
    pub fn get(&self, handle: &[u8]) -> Result<Prepared, QueryError> {
        let id = parse(handle)?;
        self.lock().by_handle.get(&id).cloned().ok_or(QueryError::UnknownHandle)
    }

    /// Binds parameter values to the statement of `handle`.
    pub fn bind(&self, handle: &[u8], params: ParamValues) -> Result<(), QueryError> {
        let id = parse(handle)?;
        let mut t = self.lock();
        let prepared = t.by_handle.get_mut(&id).ok_or(QueryError::UnknownHandle)?;
        prepared.params = Some(params);
        Ok(())
    }

    /// Forgets the statement of `handle` (unknown handles are ignored).
    pub fn remove(&self, handle: &[u8]) {
        if let Ok(id) = parse(handle) {
            let mut t = self.lock();
            t.by_handle.remove(&id);
            t.by_age.remove(&id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse(handle: &[u8]) -> Result<u64, QueryError> {
    let bytes: [u8; 8] = handle.try_into().map_err(|_| QueryError::UnknownHandle)?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::LogicalPlanBuilder;

    fn plan() -> LogicalPlan {
        LogicalPlanBuilder::empty(false).build().unwrap()
    }

    #[test]
    fn oldest_statement_is_evicted_when_full() {
        let table = PreparedStatements::new(2);
        let a = table.insert(plan());
        let b = table.insert(plan());
        let c = table.insert(plan());
        assert!(matches!(table.get(&a), Err(QueryError::UnknownHandle)));
        assert!(table.get(&b).is_ok());
        assert!(table.get(&c).is_ok());
        table.remove(&b);
        assert!(table.get(&b).is_err());
        assert!(matches!(table.get(b"junk"), Err(QueryError::UnknownHandle)));
    }
}
