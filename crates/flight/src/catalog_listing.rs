//! Catalog listings for GetCatalogs, GetDbSchemas and GetTables, read from the session.

use arrow::datatypes::Schema;
use datafusion::logical_expr::TableType;
use datafusion::prelude::SessionContext;

use crate::error::QueryError;

/// Table types a client may filter on.
pub const TABLE_TYPES: [&str; 2] = ["TABLE", "VIEW"];

/// One table of a listing.
#[derive(Debug)]
pub struct TableEntry {
    /// Catalog name.
    pub catalog: String,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// `TABLE` or `VIEW`.
    pub kind: &'static str,
    /// Its columns.
    pub arrow_schema: Schema,
}

/// Catalog names, sorted.
pub fn catalogs(ctx: &SessionContext) -> Vec<String> {
    let mut names = ctx.catalog_names();
    names.sort();
    names
}

/// (catalog, schema) pairs, sorted.
pub fn schemas(ctx: &SessionContext) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for catalog in catalogs(ctx) {
        let Some(provider) = ctx.catalog(&catalog) else {
            continue;
        };
        let mut names = provider.schema_names();
        names.sort();
        out.extend(names.into_iter().map(|s| (catalog.clone(), s)));
    }
    out
}

/// Every table with its columns, sorted by catalog, schema and name.
pub async fn tables(ctx: &SessionContext) -> Result<Vec<TableEntry>, QueryError> {
    let mut out = Vec::new();
    for (catalog, schema) in schemas(ctx) {
        let Some(provider) = ctx.catalog(&catalog).and_then(|c| c.schema(&schema)) else {
            continue;
        };
        let mut names = provider.table_names();
        names.sort();
        for name in names {
            let Some(table) = provider.table(&name).await? else {
                continue;
            };
            let kind = match table.table_type() {
                TableType::View => "VIEW",
                _ => "TABLE",
            };
            out.push(TableEntry {
                catalog: catalog.clone(),
                schema: schema.clone(),
                name,
                kind,
                arrow_schema: table.schema().as_ref().clone(),
            });
        }
    }
    Ok(out)
}
