//! The queries of the distributed benchmark: the query benchmark's five (`queries::all`) plus two
//! low-cardinality GROUP BYs (protocol, exporter), which the master runs as Partial (slaves) ->
//! PartialReduce (proxy) -> Final, where the top-N by address or port are finished on the proxy
//! (the data set's slaves form one proxy group; across groups they are shuffled). Each query
//! carries, written by hand, the columns its scan reads with their Arrow byte widths, to count
//! the raw bytes of the rows scanned.

use crate::dataset::Spec;
use crate::queries::{self, Query};

/// Arrow byte widths of the flow columns the queries read.
const ADDR: usize = 16; // FixedSizeBinary(16)
const TIMESTAMP: usize = 8;
const U64: usize = 8;
const U16: usize = 2;
const U8: usize = 1;

/// A query with what its scan reads.
#[derive(Debug, Clone)]
pub struct Work {
    /// The query (SQL text sent unchanged to the master and to the standalone node).
    pub query: Query,
    /// Columns the scan reads, with their Arrow widths in bytes.
    pub columns: &'static [(&'static str, usize)],
    /// Whether it is a top-N (ORDER BY ... LIMIT), the queries the 1% bytes target is about.
    pub top_n: bool,
}

impl Work {
    /// Bytes of one scanned row in Arrow: the sum of the column widths.
    pub fn row_width(&self) -> usize {
        self.columns.iter().map(|(_, w)| w).sum()
    }

    /// The query's WHERE clause (text between `WHERE` and `GROUP BY`/`ORDER BY`/the end), if any.
    pub fn filter(&self) -> Option<&str> {
        let (_, rest) = self.query.sql.split_once(" WHERE ")?;
        let end = [" GROUP BY ", " ORDER BY ", " LIMIT "]
            .iter()
            .filter_map(|k| rest.find(k))
            .min()
            .unwrap_or(rest.len());
        Some(rest[..end].trim())
    }

    /// The count of the rows the scan reads: the same FROM and WHERE.
    pub fn count_sql(&self) -> String {
        match self.filter() {
            Some(filter) => format!("SELECT count(*) AS n FROM flows WHERE {filter}"),
            None => "SELECT count(*) AS n FROM flows".into(),
        }
    }
}

/// Every query over the data set of `spec`.
pub fn all(spec: &Spec) -> Vec<Work> {
    let mut works: Vec<Work> = queries::all(spec)
        .into_iter()
        .map(|query| {
            let (columns, top_n): (&'static [(&'static str, usize)], bool) = match query.name {
                "top_src_bytes" => (&[("src_addr", ADDR), ("bytes", U64)], true),
                "top_dst_ports" => (&[("dst_port", U16)], true),
                "tcp443_top_src" => (
                    &[("protocol", U8), ("dst_port", U16), ("src_addr", ADDR), ("bytes", U64)],
                    true,
                ),
                "window_top_dst" => (&[("flow_start", TIMESTAMP), ("dst_addr", ADDR), ("bytes", U64)], true),
                // count(*) reads no column (row counts come from the Parquet footers).
                "count" => (&[], false),
                other => panic!("no scan columns written for query {other}"),
            };
            Work { query, columns, top_n }
        })
        .collect();
    let q = |name, label, sql: &str| Query {
        name,
        label,
        sql: sql.into(),
    };
    works.push(Work {
        query: q(
            "by_protocol",
            "flows and bytes per protocol",
            "SELECT protocol, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY protocol ORDER BY protocol",
        ),
        columns: &[("protocol", U8), ("bytes", U64)],
        top_n: false,
    });
    works.push(Work {
        query: q(
            "by_exporter",
            "flows and bytes per exporter",
            "SELECT exporter, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY exporter ORDER BY exporter",
        ),
        columns: &[("exporter", ADDR), ("bytes", U64)],
        top_n: false,
    });
    works
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_its_columns_and_its_filter() {
        let works = all(&Spec::new(1000, 1, 6));
        assert_eq!(works.len(), 7);
        let by_name = |n: &str| works.iter().find(|w| w.query.name == n).expect(n);
        let tcp = by_name("tcp443_top_src");
        assert_eq!(tcp.filter(), Some("protocol = 6 AND dst_port = 443"));
        assert_eq!(tcp.row_width(), 27);
        assert_eq!(
            tcp.count_sql(),
            "SELECT count(*) AS n FROM flows WHERE protocol = 6 AND dst_port = 443"
        );
        let window = by_name("window_top_dst");
        assert!(
            window
                .filter()
                .is_some_and(|f| f.starts_with("flow_start >= TIMESTAMPTZ") && f.ends_with("+00:00'"))
        );
        assert_eq!(by_name("count").count_sql(), "SELECT count(*) AS n FROM flows");
        assert_eq!(by_name("count").row_width(), 0);
        assert_eq!(works.iter().filter(|w| w.top_n).count(), 4);
    }
}
