//! `flowfold top` output: nfdump's `-s` table with its summary line, nfdump's `-o csv` columns
//! with exact numbers, or JSON lines with the same keys.
//!
//! The table follows nfdump 1.7's layout, column widths and number scaling (`1.8 M`: one decimal
//! of millions, billions `G` or trillions `T`, from 1,000,000 on); times are UTC (nfdump prints
//! local time), and IPv6 addresses are printed in full, widening the value column (nfdump cuts
//! their middle unless given `-6`). CSV has nfdump's header and formats (times to the second,
//! `td` in seconds with milliseconds, shares with one decimal) and no summary (as `-q`); JSON
//! keeps milliseconds in `ts`/`te` and unrounded shares. Flows lacking the stat's field form
//! one group of their own, shown as `-` (table), an empty field (CSV) or `null` (JSON); nfdump
//! stores absent fields as 0 and counts them under 0. Ties are ordered by value (nfdump's order
//! among equal counts is its hash order).

use std::io::Write;

use arrow::temporal_conversions::timestamp_ms_to_datetime;
use serde_json::{Value, json};

use super::rows::{Group, Totals};
use super::stat::{Order, Stat, ValueKind};

/// Width nfdump gives the value column.
const VALUE_WIDTH: usize = 16;
/// nfdump's headings right of the value column.
const COUNTER_HEADINGS: &str = "    Flows(%)     Packets(%)       Bytes(%)         pps      bps   bpp";
/// nfdump's CSV header for `-s`.
const CSV_HEADER: &str = "ts,te,td,pr,val,fl,flP,ipkt,ipktP,ibyt,ibytP,ipps,ibps,ibpp";

/// A counter as nfdump shows it: in full below a million, else in millions, billions or
/// trillions with one decimal (`1.8 M`, `12.4 G`).
pub fn scaled(n: i64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e12, "T"), (1e9, "G"), (1e6, "M")];
    let value = n as f64;
    match UNITS.iter().find(|(size, _)| value >= *size) {
        Some((size, unit)) => format!("{:.1} {unit}", value / size),
        None => n.to_string(),
    }
}

/// A duration as `HH:MM:SS.mmm` (hours may exceed 24).
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}.{milli:03}")
}

/// An epoch-ms time as `YYYY-MM-DD HH:MM:SS.mmm` UTC, or to the second without `millis`.
pub fn date(ms: i64, millis: bool) -> String {
    let format = if millis {
        "%Y-%m-%d %H:%M:%S%.3f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    timestamp_ms_to_datetime(ms).map_or_else(|| ms.to_string(), |t| t.format(format).to_string())
}

/// Seconds with milliseconds: `3.354`.
fn seconds(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// nfdump's `-s` table: title, headings, one line per group, a blank line and the summary.
pub fn table(
    out: &mut impl Write,
    stat: Stat,
    order: Order,
    limit: usize,
    groups: &[Group],
    totals: &Totals,
) -> std::io::Result<()> {
    let count = if limit == 0 { String::new() } else { format!("{limit} ") };
    writeln!(out, "Top {count}{} ordered by {}:", stat.label(), order.name())?;
    let width = groups
        .iter()
        .filter_map(|g| g.val.as_ref().map(String::len))
        .fold(VALUE_WIDTH, usize::max);
    writeln!(
        out,
        "{:<23} {:>16} {:<5}  {:>width$}{COUNTER_HEADINGS}",
        "Date first seen",
        "Duration",
        "Proto",
        stat.label()
    )?;
    for g in groups {
        let counter = |n: i64, pct: f64| format!("{:>8}({pct:4.1})", scaled(n));
        writeln!(
            out,
            "{} {:>16} {:<5}  {:>width$} {} {} {} {:>8} {:>8} {:>5}",
            date(g.first_seen, true),
            duration(g.duration_ms),
            g.proto.as_deref().unwrap_or("-"),
            g.val.as_deref().unwrap_or("-"),
            counter(g.flows, g.flows_pct),
            counter(g.packets, g.packets_pct),
            counter(g.bytes, g.bytes_pct),
            scaled(g.pps),
            scaled(g.bps),
            g.bpp,
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{}", summary(totals))
}

/// nfdump's summary line.
pub fn summary(t: &Totals) -> String {
    format!(
        "Summary: total flows: {}, total bytes: {}, total packets: {}, avg bps: {}, avg pps: {}, avg bpp: {}",
        scaled(t.flows),
        scaled(t.bytes),
        scaled(t.packets),
        scaled(t.bps),
        scaled(t.pps),
        t.bpp
    )
}

/// nfdump's `-o csv` lines for `-s` (without its summary), with exact numbers.
pub fn csv(out: &mut impl Write, groups: &[Group]) -> std::io::Result<()> {
    writeln!(out, "{CSV_HEADER}")?;
    for g in groups {
        writeln!(
            out,
            "{},{},{},{},{},{},{:.1},{},{:.1},{},{:.1},{},{},{}",
            date(g.first_seen, false),
            date(g.last_seen, false),
            seconds(g.duration_ms),
            g.proto.as_deref().unwrap_or(""),
            g.val.as_deref().unwrap_or(""),
            g.flows,
            g.flows_pct,
            g.packets,
            g.packets_pct,
            g.bytes,
            g.bytes_pct,
            g.pps,
            g.bps,
            g.bpp,
        )?;
    }
    Ok(())
}

/// One JSON object per group, keyed like the CSV columns (in their order); numbers as numbers.
pub fn json(out: &mut impl Write, kind: ValueKind, groups: &[Group]) -> std::io::Result<()> {
    for g in groups {
        let val = match (&g.val, kind) {
            (None, _) => Value::Null,
            (Some(text), ValueKind::Number) => text.parse::<u64>().map_or_else(|_| json!(text), |n| json!(n)),
            (Some(text), ValueKind::Address) => json!(text),
        };
        let fields = [
            ("ts", json!(date(g.first_seen, true))),
            ("te", json!(date(g.last_seen, true))),
            ("td", json!(g.duration_ms as f64 / 1000.0)),
            ("pr", json!(g.proto)),
            ("val", val),
            ("fl", json!(g.flows)),
            ("flP", json!(g.flows_pct)),
            ("ipkt", json!(g.packets)),
            ("ipktP", json!(g.packets_pct)),
            ("ibyt", json!(g.bytes)),
            ("ibytP", json!(g.bytes_pct)),
            ("ipps", json!(g.pps)),
            ("ibps", json!(g.bps)),
            ("ibpp", json!(g.bpp)),
        ];
        let members: Vec<String> = fields.iter().map(|(key, value)| format!("\"{key}\":{value}")).collect();
        writeln!(out, "{{{}}}", members.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nfdump 1.7.1's group 93.184.17.69 of a capture, as `nfdump -s srcip` printed it.
    fn nfdump_group() -> (Group, Totals) {
        let totals = Totals {
            flows: 5000,
            packets: 80_079,
            bytes: 58_158_132,
            pps: 2139,
            bps: 12_430_271,
            bpp: 726,
        };
        let pct = |part: i64, total: i64| 100.0 * part as f64 / total as f64;
        let group = Group {
            first_seen: 1_795_359_702_598, // 2026-11-22 15:01:42.598 UTC
            last_seen: 1_795_359_705_952,
            duration_ms: 3354,
            proto: Some("any".into()),
            val: Some("93.184.17.69".into()),
            flows: 219,
            flows_pct: pct(219, totals.flows),
            packets: 2454,
            packets_pct: pct(2454, totals.packets),
            bytes: 1_760_408,
            bytes_pct: pct(1_760_408, totals.bytes),
            pps: 731,
            bps: 4_198_945,
            bpp: 717,
        };
        (group, totals)
    }

    fn text(write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_scale_like_nfdump() {
        assert_eq!(scaled(0), "0");
        assert_eq!(scaled(999_999), "999999");
        assert_eq!(scaled(1_000_000), "1.0 M");
        assert_eq!(scaled(1_760_408), "1.8 M");
        assert_eq!(scaled(58_158_132), "58.2 M");
        assert_eq!(scaled(2_000_000_001), "2.0 G");
        assert_eq!(scaled(3_450_000_000_000), "3.5 T");
        assert_eq!(duration(3354), "00:00:03.354");
        assert_eq!(duration(37_430), "00:00:37.430");
        assert_eq!(duration(90_061_001), "25:01:01.001");
        assert_eq!(seconds(3354), "3.354");
        assert_eq!(seconds(7), "0.007");
    }

    #[test]
    fn the_table_is_laid_out_as_nfdump_lays_it_out() {
        let (group, totals) = nfdump_group();
        let got = text(|out| table(out, Stat::Srcip, Order::Flows, 5, &[group], &totals));
        let want = "Top 5 Src IP Addr ordered by flows:\n\
Date first seen                 Duration Proto       Src IP Addr    Flows(%)     Packets(%)       Bytes(%)         pps      bps   bpp\n\
2026-11-22 15:01:42.598     00:00:03.354 any        93.184.17.69      219( 4.4)     2454( 3.1)    1.8 M( 3.0)      731    4.2 M   717\n\
\n\
Summary: total flows: 5000, total bytes: 58.2 M, total packets: 80079, avg bps: 12.4 M, avg pps: 2139, avg bpp: 726\n";
        assert_eq!(got, want);
    }

    #[test]
    fn long_values_widen_the_table_and_no_limit_drops_the_count() {
        let (mut group, totals) = nfdump_group();
        group.val = Some("2001:db8:100:f007:f5:d716:b2f9:8bf1".into());
        let got = text(|out| table(out, Stat::Dstip, Order::Bytes, 0, &[group], &totals));
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[0], "Top Dst IP Addr ordered by bytes:");
        let pad = " ".repeat(2 + 35 - "Dst IP Addr".len());
        assert!(
            lines[1].contains(&format!("Proto{pad}Dst IP Addr    Flows(%)")),
            "{got}"
        );
        assert!(
            lines[2].contains("any    2001:db8:100:f007:f5:d716:b2f9:8bf1      219( 4.4)"),
            "{got}"
        );
    }

    #[test]
    fn csv_is_nfdumps_with_exact_numbers() {
        let (group, _) = nfdump_group();
        let got = text(|out| csv(out, &[group]));
        assert_eq!(
            got,
            "ts,te,td,pr,val,fl,flP,ipkt,ipktP,ibyt,ibytP,ipps,ibps,ibpp\n\
             2026-11-22 15:01:42,2026-11-22 15:01:45,3.354,any,93.184.17.69,219,4.4,2454,3.1,1760408,3.0,731,4198945,717\n"
        );
    }

    #[test]
    fn json_keeps_types_and_precision() {
        let (mut group, _) = nfdump_group();
        group.val = Some("443".into());
        let got = text(|out| json(out, ValueKind::Number, &[group]));
        let row: Value = serde_json::from_str(got.trim()).unwrap();
        assert_eq!(row["val"], json!(443));
        assert_eq!(row["ts"], json!("2026-11-22 15:01:42.598"));
        assert_eq!(row["td"], json!(3.354));
        assert_eq!(row["fl"], json!(219));
        assert_eq!(row["flP"], json!(4.38));
        assert!(
            got.starts_with(r#"{"ts":"2026-11-22 15:01:42.598","te":"#),
            "in CSV order: {got}"
        );
        assert!(
            got.trim_end().ends_with(r#""ipps":731,"ibps":4198945,"ibpp":717}"#),
            "{got}"
        );
    }
}
