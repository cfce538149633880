//! The five queries of issue 3, as one SQL text that both engines run unchanged (on DuckDB,
//! `flows` is a view over `read_parquet` of the same files).
//!
//! Every top-10 breaks ties on the key, so the two engines must return the same rows in the same
//! order.

use chrono::DateTime;

use crate::dataset::Spec;

/// Length of the time-window query's range.
pub const WINDOW_MS: i64 = 10 * 60_000;

/// One benchmark query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Short identifier (file names, progress).
    pub name: &'static str,
    /// What it asks, for the report.
    pub label: &'static str,
    /// The SQL, for both engines.
    pub sql: String,
}

/// The queries over the data set of `spec`; the window is the 10 minutes starting halfway
/// through the data.
pub fn all(spec: &Spec) -> Vec<Query> {
    let (from, to) = window(spec);
    let q = |name, label, sql: String| Query { name, label, sql };
    vec![
        q(
            "top_src_bytes",
            "top 10 source addresses by bytes",
            "SELECT src_addr, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10".into(),
        ),
        q(
            "top_dst_ports",
            "top 10 destination ports by flows",
            "SELECT dst_port, count(*) AS n FROM flows GROUP BY dst_port ORDER BY n DESC, dst_port LIMIT 10".into(),
        ),
        q(
            "tcp443_top_src",
            "TCP/443: top 10 sources by bytes",
            "SELECT src_addr, sum(bytes) AS b FROM flows WHERE protocol = 6 AND dst_port = 443 \
             GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10"
                .into(),
        ),
        q(
            "window_top_dst",
            "10-minute window: top 10 destinations by bytes",
            format!(
                "SELECT dst_addr, sum(bytes) AS b FROM flows \
                 WHERE flow_start >= {from} AND flow_start < {to} \
                 GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10"
            ),
        ),
        q("count", "count of all flows", "SELECT count(*) AS n FROM flows".into()),
    ]
}

/// The window query's bounds as SQL literals (`TIMESTAMPTZ '…+00:00'`, which both engines read
/// as a UTC instant).
pub fn window(spec: &Spec) -> (String, String) {
    let from = spec.start_ms + spec.span_ms / 2;
    let from = from - from.rem_euclid(60_000);
    (literal(from), literal(from + WINDOW_MS))
}

fn literal(ms: i64) -> String {
    let t = DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%d %H:%M:%S+00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_ten_minutes_in_the_middle_of_the_data() {
        let queries = all(&Spec::new(1000, 1, 4));
        assert_eq!(queries.len(), 5);
        let window = &queries[3].sql;
        assert!(
            window.contains("flow_start >= TIMESTAMPTZ '2026-01-01 00:30:00+00:00'"),
            "{window}"
        );
        assert!(
            window.contains("flow_start < TIMESTAMPTZ '2026-01-01 00:40:00+00:00'"),
            "{window}"
        );
    }
}
