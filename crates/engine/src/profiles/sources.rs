//! Deleted flow sources.
//!
//! Deleting a flow source takes its channel out of the live profile: its table goes, its flows
//! leave `live.flows`, and sub-profiles that read "every channel" stop reading it. Its stored
//! windows are removed (by retention, see [`retention_rules`](super::retention_rules)) unless a
//! sub-profile names it as a source: then they stay, and that profile still reads them, until no
//! profile names it. If the exporter keeps exporting, its new flows are stored the same way
//! (hidden from live, kept only for the profiles that name it). Restoring the source brings it
//! back, with whatever is still stored.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::FieldMetadata;
use datafusion::logical_expr::{Expr, col, lit_with_metadata};

use super::model::{LIVE_PROFILE, ProfileSet};
use super::predicate::live_source;
use crate::addr::Addr16;
use crate::schema::{TYPE_IP, TYPE_KEY, col as column};

/// The profiles directly under `live` that name `exporter`'s channel as a source.
pub fn readers_of(set: &ProfileSet, exporter: &Addr16) -> Vec<String> {
    set.profiles
        .values()
        .filter(|p| p.parent == LIVE_PROFILE && p.sources.iter().any(|s| live_source(s).as_ref() == Some(exporter)))
        .map(|p| p.name.clone())
        .collect()
}

/// An address literal, with the metadata of the address columns (what `ip('...')` gives).
pub fn address_literal(addr: &Addr16) -> Expr {
    let metadata = std::collections::BTreeMap::from([(TYPE_KEY.to_string(), TYPE_IP.to_string())]);
    lit_with_metadata(
        ScalarValue::FixedSizeBinary(16, Some(addr.to_vec())),
        Some(FieldMetadata::from(metadata)),
    )
}

/// Rows not of a deleted source (`None` when no source is deleted).
pub fn not_deleted(set: &ProfileSet) -> Option<Expr> {
    let deleted = set.deleted_exporters();
    if deleted.is_empty() {
        return None;
    }
    let literals = deleted.into_iter().map(|a| address_literal(&a)).collect();
    Some(col(column::EXPORTER).in_list(literals, true))
}
