//! The one SQL query behind `flowfold top`: the flows passing the filter, grouped by the stat's
//! value, with nfdump's counters, shares and rates per group and the totals beside each row.
//!
//! Definitions, as nfdump's `-s` prints them:
//! - a group's first and last seen are the earliest `flow_start` and the latest `flow_end` of
//!   its flows (`flow_start` where `flow_end` is absent), and its duration the time between;
//! - `pps` = packets × 1000 / duration ms, `bps` = bytes × 8000 / duration ms, both rounded
//!   down and 0 for a zero duration; `bpp` = bytes / packets rounded down, 0 without packets;
//! - shares (`*_pct`) are percentages of the totals over all flows passing the filter, so for
//!   the either-side stats (`ip`, `port`, `as`, `if`), where a flow counts under its source and
//!   its destination value, they may add up to more than 100;
//! - the totals' rates use the time between the first and the last flow passing the filter.
//!
//! Counters are summed as BIGINT; rates are computed exactly in integers (without overflowing
//! where `bytes × 8000` would), so they may differ from nfdump's floating point by one in rare
//! cases.

use super::stat::{Order, Stat, ValueKind};

/// What to rank, over which flows.
#[derive(Debug, Clone)]
pub struct TopQuery {
    /// `profile.table` (`live.flows`, `web.https`), both already checked to be plain names.
    pub table: String,
    /// The flow element ranked.
    pub stat: Stat,
    /// Ranked by.
    pub order: Order,
    /// Groups shown; 0 shows all.
    pub limit: usize,
    /// nfdump filter text, passed to `nfdump()`.
    pub filter: Option<String>,
    /// Only flows with `flow_start` at or after this (epoch ms).
    pub since_ms: Option<i64>,
    /// Only flows with `flow_start` before this (epoch ms).
    pub until_ms: Option<i64>,
}

/// Result columns the output reads, in query order.
pub mod col {
    pub const FIRST_SEEN: &str = "first_seen";
    pub const LAST_SEEN: &str = "last_seen";
    pub const DURATION_MS: &str = "duration_ms";
    pub const PROTO: &str = "proto";
    pub const VAL: &str = "val";
    pub const FLOWS: &str = "flows";
    pub const FLOWS_PCT: &str = "flows_pct";
    pub const PACKETS: &str = "packets";
    pub const PACKETS_PCT: &str = "packets_pct";
    pub const BYTES: &str = "bytes";
    pub const BYTES_PCT: &str = "bytes_pct";
    pub const PPS: &str = "pps";
    pub const BPS: &str = "bps";
    pub const BPP: &str = "bpp";
    pub const TOTAL_FLOWS: &str = "total_flows";
    pub const TOTAL_PACKETS: &str = "total_packets";
    pub const TOTAL_BYTES: &str = "total_bytes";
    pub const TOTAL_PPS: &str = "total_pps";
    pub const TOTAL_BPS: &str = "total_bps";
    pub const TOTAL_BPP: &str = "total_bpp";
}

/// `text` as a SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whole units per second of `count` over `duration_ms`, rounded down: `count × scale /
/// duration_ms`, split so that `count × scale` cannot overflow. 0 for a zero duration.
fn per_second(count: &str, scale: u32, duration_ms: &str) -> String {
    format!(
        "CASE WHEN {duration_ms} > 0 THEN {count} / {duration_ms} * {scale} \
         + {count} % {duration_ms} * {scale} / {duration_ms} ELSE 0 END"
    )
}

/// `part` as a percentage of `total` (0 when the total is).
fn share(part: &str, total: &str) -> String {
    format!("CASE WHEN {total} > 0 THEN 100.0 * {part} / {total} ELSE 0.0 END")
}

/// `bytes / packets`, 0 without packets.
fn per_packet(bytes: &str, packets: &str) -> String {
    format!("CASE WHEN {packets} > 0 THEN {bytes} / {packets} ELSE 0 END")
}

impl TopQuery {
    /// The SQL text (one statement).
    pub fn sql(&self) -> String {
        use col::*;
        let mut conditions = Vec::new();
        if let Some(filter) = &self.filter {
            conditions.push(format!("nfdump({})", quote(filter)));
        }
        if let Some(ms) = self.since_ms {
            conditions.push(format!("flow_start >= to_timestamp_millis({ms})"));
        }
        if let Some(ms) = self.until_ms {
            conditions.push(format!("flow_start < to_timestamp_millis({ms})"));
        }
        let filter = match conditions.is_empty() {
            true => String::new(),
            false => format!("\n    WHERE {}", conditions.join(" AND ")),
        };
        let columns = self.stat.columns();
        let elements = columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                format!(
                    "SELECT {column} AS value, {once} AS once, flow_start, coalesce(flow_end, flow_start) AS flow_end, \
                     CAST(packets AS BIGINT) AS packets, CAST(bytes AS BIGINT) AS bytes FROM passed",
                    once = i == 0
                )
            })
            .collect::<Vec<_>>()
            .join("\n    UNION ALL\n    ");
        let (proto, val) = match (self.stat, self.stat.kind()) {
            (Stat::Proto, _) => ("proto_name(value)", "value"),
            (_, ValueKind::Address) => ("'any'", "ip_text(value)"),
            (_, ValueKind::Number) => ("'any'", "value"),
        };
        let order = self.order.name();
        let limit = match self.limit {
            0 => String::new(),
            n => format!("\nLIMIT {n}"),
        };
        format!(
            "WITH passed AS (
    SELECT * FROM {table}{filter}
), elements AS (
    {elements}
), groups AS (
    SELECT value, count(*) AS flows, coalesce(sum(packets), 0) AS packets, coalesce(sum(bytes), 0) AS bytes,
        min(flow_start) AS first_seen, max(flow_end) AS last_seen,
        sum(CASE WHEN once THEN 1 ELSE 0 END) AS flows_once,
        coalesce(sum(CASE WHEN once THEN packets END), 0) AS packets_once,
        coalesce(sum(CASE WHEN once THEN bytes END), 0) AS bytes_once
    FROM elements GROUP BY value
), rated AS (
    SELECT *,
        greatest(CAST(last_seen AS BIGINT) - CAST(first_seen AS BIGINT), 0) AS duration_ms,
        sum(flows_once) OVER () AS total_flows,
        sum(packets_once) OVER () AS total_packets,
        sum(bytes_once) OVER () AS total_bytes,
        greatest(CAST(max(last_seen) OVER () AS BIGINT) - CAST(min(first_seen) OVER () AS BIGINT), 0) AS total_ms
    FROM groups
)
SELECT {FIRST_SEEN}, {LAST_SEEN}, {DURATION_MS}, {proto} AS {PROTO}, {val} AS {VAL},
    {FLOWS}, {flows_pct} AS {FLOWS_PCT},
    {PACKETS}, {packets_pct} AS {PACKETS_PCT},
    {BYTES}, {bytes_pct} AS {BYTES_PCT},
    {pps} AS {PPS},
    {bps} AS {BPS},
    {bpp} AS {BPP},
    {TOTAL_FLOWS}, {TOTAL_PACKETS}, {TOTAL_BYTES},
    {total_pps} AS {TOTAL_PPS},
    {total_bps} AS {TOTAL_BPS},
    {total_bpp} AS {TOTAL_BPP}
FROM rated
ORDER BY {order} DESC, rated.value ASC NULLS LAST{limit}",
            table = self.table,
            flows_pct = share("flows", "total_flows"),
            packets_pct = share("packets", "total_packets"),
            bytes_pct = share("bytes", "total_bytes"),
            pps = per_second("packets", 1000, "duration_ms"),
            bps = per_second("bytes", 8000, "duration_ms"),
            bpp = per_packet("bytes", "packets"),
            total_pps = per_second("total_packets", 1000, "total_ms"),
            total_bps = per_second("total_bytes", 8000, "total_ms"),
            total_bpp = per_packet("total_bytes", "total_packets"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(stat: Stat) -> TopQuery {
        TopQuery {
            table: "live.flows".into(),
            stat,
            order: Order::Flows,
            limit: 10,
            filter: None,
            since_ms: None,
            until_ms: None,
        }
    }

    #[test]
    fn the_filter_is_one_quoted_nfdump_call() {
        let sql = TopQuery {
            filter: Some("proto tcp and not host 10.0.0.1 # it's 'quoted'".into()),
            ..query(Stat::Srcip)
        }
        .sql();
        assert!(
            sql.contains("WHERE nfdump('proto tcp and not host 10.0.0.1 # it''s ''quoted''')"),
            "{sql}"
        );
        assert!(!query(Stat::Srcip).sql().contains("WHERE"));
    }

    #[test]
    fn either_side_stats_count_a_flow_under_both_values_but_totals_once() {
        let sql = query(Stat::Port).sql();
        assert!(sql.contains("SELECT src_port AS value, true AS once"), "{sql}");
        assert!(
            sql.contains("UNION ALL\n    SELECT dst_port AS value, false AS once"),
            "{sql}"
        );
        let sql = query(Stat::Dstport).sql();
        assert!(!sql.contains("UNION ALL"), "{sql}");
        assert!(sql.contains("SELECT dst_port AS value, true AS once"), "{sql}");
    }

    #[test]
    fn values_are_shown_as_nfdump_shows_them() {
        assert!(query(Stat::Ip).sql().contains("'any' AS proto, ip_text(value) AS val"));
        assert!(
            query(Stat::Proto)
                .sql()
                .contains("proto_name(value) AS proto, value AS val")
        );
        assert!(query(Stat::Inif).sql().contains("'any' AS proto, value AS val"));
    }

    #[test]
    fn time_bounds_order_and_limit() {
        let sql = TopQuery {
            order: Order::Bps,
            limit: 0,
            since_ms: Some(1_000),
            until_ms: Some(2_000),
            ..query(Stat::Srcas)
        }
        .sql();
        assert!(
            sql.contains("WHERE flow_start >= to_timestamp_millis(1000) AND flow_start < to_timestamp_millis(2000)"),
            "{sql}"
        );
        assert!(sql.ends_with("ORDER BY bps DESC, rated.value ASC NULLS LAST"), "{sql}");
        assert!(query(Stat::Srcas).sql().ends_with("NULLS LAST\nLIMIT 10"));
    }
}
