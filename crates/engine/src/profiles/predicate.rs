//! The filter expression of a profile channel, and of a whole profile (see the module docs of
//! [`profiles`](super) for the meaning).

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, and, col, lit, or};

use super::error::ProfileError;
use super::model::{ChannelFilter, LIVE_PROFILE, Profile, ProfileSet, Retention, TimeSpan};
use super::sources::{address_literal, not_deleted};
use super::sql_filter::sql_predicate;
use crate::addr::{Addr16, from_ip, from_path_segment};
use crate::clock::now_ms;
use crate::schema::col as column;
use crate::sql::CHANNEL_PREFIX;
use crate::sql::nfdump_filter::compile;

/// The flows of `profile`'s channel `channel`.
pub fn channel_predicate(set: &ProfileSet, profile: &str, channel: &str) -> Result<Expr, ProfileError> {
    let p = set
        .get(profile)
        .ok_or_else(|| ProfileError::NoProfile(profile.to_string()))?;
    let c = p.channel(channel).ok_or_else(|| ProfileError::NoChannel {
        profile: profile.to_string(),
        channel: channel.to_string(),
    })?;
    let own = filter_expr(&c.filter).map_err(|reason| ProfileError::BadFilter {
        profile: profile.to_string(),
        channel: channel.to_string(),
        reason,
    })?;
    Ok(conjunction([
        sources_predicate(set, p)?,
        span_predicate(p.span),
        horizon_predicate(p.retention),
        Some(own),
    ]))
}

/// The flows of any channel of `profile`.
pub fn profile_predicate(set: &ProfileSet, profile: &str) -> Result<Expr, ProfileError> {
    let p = set
        .get(profile)
        .ok_or_else(|| ProfileError::NoProfile(profile.to_string()))?;
    let channels = p
        .channels
        .iter()
        .map(|c| channel_predicate(set, profile, &c.name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(channels.into_iter().reduce(or).unwrap_or(lit(false)))
}

/// The flows of `p`'s sources (`None`: every flow of the live profile).
fn sources_predicate(set: &ProfileSet, p: &Profile) -> Result<Option<Expr>, ProfileError> {
    if p.parent == LIVE_PROFILE {
        if p.sources.is_empty() {
            return Ok(not_deleted(set));
        }
        let exporters = p
            .sources
            .iter()
            .map(|s| {
                live_source(s)
                    .map(exporter_literal)
                    .ok_or_else(|| ProfileError::BadName {
                        name: s.clone(),
                        reason: "not a live channel".into(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Some(col(column::EXPORTER).in_list(exporters, false)));
    }
    if p.sources.is_empty() {
        return profile_predicate(set, &p.parent).map(Some);
    }
    let sources = p
        .sources
        .iter()
        .map(|s| channel_predicate(set, &p.parent, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(sources.into_iter().reduce(or))
}

fn span_predicate(span: Option<TimeSpan>) -> Option<Expr> {
    let span = span?;
    let start = span.start_ms.map(|ms| col(column::FLOW_START).gt_eq(timestamp(ms)));
    let end = span.end_ms.map(|ms| col(column::FLOW_START).lt(timestamp(ms)));
    match (start, end) {
        (None, None) => None,
        (a, b) => Some(conjunction([a, b])),
    }
}

/// Flows younger than the profile's `max_age`, counted from now (the view is built per query).
fn horizon_predicate(retention: Retention) -> Option<Expr> {
    let age_ms = i64::try_from(retention.max_age_secs?.saturating_mul(1000)).unwrap_or(i64::MAX);
    let since = now_ms().saturating_sub(age_ms);
    Some(col(column::FLOW_START).gt_eq(timestamp(since)))
}

fn timestamp(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(Some(ms), Some("UTC".into())))
}

/// AND of the given parts (`true` when none).
fn conjunction(parts: impl IntoIterator<Item = Option<Expr>>) -> Expr {
    parts.into_iter().flatten().reduce(and).unwrap_or(lit(true))
}

fn exporter_literal(addr: Addr16) -> Expr {
    address_literal(&addr)
}

/// The expression of a channel filter; an error is the compiler's message.
pub fn filter_expr(filter: &ChannelFilter) -> Result<Expr, String> {
    match filter {
        ChannelFilter::Nfdump(text) => compile(text).map_err(|e| format!("nfdump filter: {e}")),
        ChannelFilter::Sql(text) => sql_predicate(text).map_err(|e| format!("SQL filter: {e}")),
    }
}

/// The exporter of a live source: its channel table name (`exporter_10_0_0_1`,
/// `exporter_2001_db8__1`) or its address.
pub fn live_source(source: &str) -> Option<Addr16> {
    match source.strip_prefix(CHANNEL_PREFIX) {
        Some(rest) => {
            let parts: Vec<&str> = rest.split('_').collect();
            if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
                rest.replace('_', ".").parse().ok().map(from_ip)
            } else {
                from_path_segment(rest)
            }
        }
        None => source.parse().ok().map(from_ip),
    }
}
