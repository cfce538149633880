//! What the profile benchmark creates and asks: three profiles over the generated flows, one
//! channel of each queried, and four query shapes, each once over the channel (the view) and once
//! over `live.flows` with the channel's filter written by hand.
//!
//! The generator puts clients in 10.10/16, 10.20/16, 172.16/16 and 192.168/16 and servers mostly
//! in public /16s (`datasets/src/generator/catalog.rs`), TCP/443 is its most common service and
//! UDP/53 the most common UDP one: `web.https` holds about a quarter of the flows, `dns.queries`
//! a few percent, and `web_lab.lab` (the TCP/443 flows from 10/8) about half of `web.https`.

use engine::profiles::{ChannelFilter, LIVE_PROFILE, Profile, ProfileChannel, Retention};

use crate::dataset::Spec;
use crate::queries;

/// One profile channel the benchmark queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// `profile.channel`, as queried.
    pub table: String,
    /// How the channel is defined, for the report.
    pub defined: &'static str,
    /// The same flows as a SQL predicate over `live.flows`, as a user would write it.
    pub hand: &'static str,
}

/// The profiles to create, in creation order (a parent before its child), and the channel of
/// each that is queried (same order).
pub fn profiles() -> Vec<(Profile, Channel)> {
    let profile = |name: &str, parent: &str, sources: &[&str], channel: &str, filter: ChannelFilter| Profile {
        name: name.into(),
        parent: parent.into(),
        description: "flowfold-query-bench --profiles".into(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        channels: vec![ProfileChannel {
            name: channel.into(),
            filter,
        }],
        span: None,
        retention: Retention::default(),
        version: 0,
    };
    let nfdump = |text: &str| ChannelFilter::Nfdump(text.into());
    vec![
        (
            profile("web", LIVE_PROFILE, &[], "https", nfdump("proto tcp and dst port 443")),
            Channel {
                table: "web.https".into(),
                defined: "profile `web` (parent `live`, all sources), nfdump channel `https = proto tcp and dst port 443`",
                hand: "protocol = 6 AND dst_port = 443",
            },
        ),
        (
            profile(
                "dns",
                LIVE_PROFILE,
                &[],
                "queries",
                ChannelFilter::Sql("dst_port = 53 AND protocol = 17".into()),
            ),
            Channel {
                table: "dns.queries".into(),
                defined: "profile `dns` (parent `live`, all sources), SQL channel `queries = dst_port = 53 AND protocol = 17`",
                hand: "dst_port = 53 AND protocol = 17",
            },
        ),
        (
            profile("web_lab", "web", &["https"], "lab", nfdump("src net 10.0.0.0/8")),
            Channel {
                table: "web_lab.lab".into(),
                defined: "profile `web_lab` (parent `web`, source `https`), nfdump channel `lab = src net 10.0.0.0/8`",
                hand: "protocol = 6 AND dst_port = 443 AND ip_in(src_addr, '10.0.0.0/8')",
            },
        ),
    ]
}

/// A query shape, written once for any table and extra conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `count(*)`.
    Count,
    /// Top 10 source addresses by bytes.
    TopSrc,
    /// Flows and bytes per protocol.
    ByProtocol,
    /// Top 10 destinations by bytes in the 10 minutes from the middle of the data.
    WindowTopDst,
}

impl Shape {
    /// Every shape, in report order.
    pub const ALL: [Shape; 4] = [Shape::Count, Shape::TopSrc, Shape::ByProtocol, Shape::WindowTopDst];

    /// Short name (progress, file names).
    pub fn name(self) -> &'static str {
        match self {
            Shape::Count => "count",
            Shape::TopSrc => "top_src_bytes",
            Shape::ByProtocol => "by_protocol",
            Shape::WindowTopDst => "window_top_dst",
        }
    }

    /// What it asks, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Shape::Count => "count(*)",
            Shape::TopSrc => "top 10 sources by bytes",
            Shape::ByProtocol => "flows and bytes per protocol",
            Shape::WindowTopDst => "10-minute window: top 10 destinations by bytes",
        }
    }

    /// The SQL over `from`, with `conditions` ANDed (none: no `WHERE`).
    fn sql(self, from: &str, mut conditions: Vec<String>, spec: &Spec) -> String {
        if self == Shape::WindowTopDst {
            let (start, end) = queries::window(spec);
            conditions.push(format!("flow_start >= {start} AND flow_start < {end}"));
        }
        let filter = match conditions.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", conditions.join(" AND ")),
        };
        match self {
            Shape::Count => format!("SELECT count(*) AS n FROM {from}{filter}"),
            Shape::TopSrc => format!(
                "SELECT src_addr, sum(bytes) AS b FROM {from}{filter} GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10"
            ),
            Shape::ByProtocol => format!(
                "SELECT protocol, count(*) AS n, sum(bytes) AS b FROM {from}{filter} GROUP BY protocol ORDER BY protocol"
            ),
            Shape::WindowTopDst => format!(
                "SELECT dst_addr, sum(bytes) AS b FROM {from}{filter} GROUP BY dst_addr ORDER BY b DESC, dst_addr LIMIT 10"
            ),
        }
    }
}

/// One measured pair: the same question over a channel and by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// `table/shape`, for progress and file names.
    pub name: String,
    /// Index of the channel in [`profiles`].
    pub channel: usize,
    /// The shape.
    pub shape: Shape,
    /// Over the channel's view.
    pub view_sql: String,
    /// Over `live.flows` with the filter written by hand.
    pub hand_sql: String,
}

/// The shape of `shape` over `channel`, both ways.
pub fn pair(index: usize, channel: &Channel, shape: Shape, spec: &Spec) -> Pair {
    Pair {
        name: format!("{}/{}", channel.table, shape.name()),
        channel: index,
        shape,
        view_sql: shape.sql(&channel.table, Vec::new(), spec),
        hand_sql: shape.sql("live.flows", vec![channel.hand.to_string()], spec),
    }
}

/// Every shape over every channel, channel by channel.
pub fn pairs(channels: &[Channel], spec: &Spec) -> Vec<Pair> {
    channels
        .iter()
        .enumerate()
        .flat_map(|(i, c)| Shape::ALL.map(|shape| pair(i, c, shape, spec)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_hand_written_queries_differ_only_in_table_and_filter() {
        let spec = Spec::new(1000, 1, 4);
        let channels: Vec<Channel> = profiles().into_iter().map(|(_, c)| c).collect();
        let pairs = pairs(&channels, &spec);
        assert_eq!(pairs.len(), 12);
        let window = &pairs[3];
        assert_eq!(window.name, "web.https/window_top_dst");
        assert!(
            window
                .view_sql
                .starts_with("SELECT dst_addr, sum(bytes) AS b FROM web.https WHERE flow_start >= "),
            "{}",
            window.view_sql
        );
        assert!(
            window
                .hand_sql
                .starts_with("SELECT dst_addr, sum(bytes) AS b FROM live.flows WHERE protocol = 6 AND dst_port = 443 AND flow_start >= "),
            "{}",
            window.hand_sql
        );
        assert_eq!(pairs[4].view_sql, "SELECT count(*) AS n FROM dns.queries");
        assert_eq!(
            pairs[4].hand_sql,
            "SELECT count(*) AS n FROM live.flows WHERE dst_port = 53 AND protocol = 17"
        );
    }

    #[test]
    fn every_profile_is_created_after_its_parent() {
        let all = profiles();
        for (i, (p, _)) in all.iter().enumerate() {
            assert!(
                p.parent == LIVE_PROFILE || all[..i].iter().any(|(q, _)| q.name == p.parent),
                "{}",
                p.name
            );
        }
    }
}
