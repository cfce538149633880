//! `ip(text)`: IPv4 or IPv6 text to the stored address form, so SQL can compare address columns
//! with addresses written as text: `WHERE src_addr = ip('10.0.0.1')`.
//!
//! The function is immutable, so DataFusion folds `ip('10.0.0.1')` into a `FixedSizeBinary(16)`
//! literal while planning: the filter reaches the Parquet scan as `src_addr = <literal>`, which
//! row-group statistics and page indexes prune with.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, FixedSizeBinaryArray};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::addr::{ADDR_WIDTH, Addr16, from_ip};
use crate::schema::{TYPE_IP, TYPE_KEY, addr_type};

use super::args::{TextArray, check_arity, coerce_text, scalar_text, take_args};
use super::bits::ADDR_BYTES;
use super::doc::doc;

const NAME: &str = "ip";

/// The field of an address a function returns: `FixedSizeBinary(16)` marked `flowfold.type = ip`,
/// so clients show it as text like the address columns.
pub fn addr_return_field(name: &str, nullable: bool) -> FieldRef {
    Arc::new(
        Field::new(name, addr_type(), nullable)
            .with_metadata(HashMap::from([(TYPE_KEY.to_string(), TYPE_IP.to_string())])),
    )
}

/// Parses IPv4 or IPv6 text (surrounding blanks allowed) into the stored form.
pub fn parse_addr(text: &str) -> Option<Addr16> {
    text.trim().parse::<IpAddr>().ok().map(from_ip)
}

/// [`parse_addr`], with the error `ip()` reports for text that is not an address.
fn parse_or_error(text: &str) -> Result<Addr16> {
    parse_addr(text).ok_or_else(|| exec_datafusion_err!("{NAME}(): '{text}' is not an IPv4 or IPv6 address"))
}

/// SQL `ip(text) -> FixedSizeBinary(16)`: the stored form of an IPv4 or IPv6 address written as
/// text (`Utf8`, `LargeUtf8` or `Utf8View`); NULL gives NULL, text that is not an address is an
/// error quoting it.
///
/// ```sql
/// SELECT * FROM flows WHERE src_addr = ip('10.0.0.1');
/// SELECT * FROM flows WHERE dst_addr IN (ip('192.0.2.1'), ip('2001:db8::1'));
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpParse {
    signature: Signature,
}

impl IpParse {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for IpParse {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IpParse {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &["text"], arg_types)?;
        Ok(vec![coerce_text(NAME, "text", &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(addr_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        check_arity(NAME, &["text"], args.arg_fields)?;
        Ok(addr_return_field(NAME, args.arg_fields[0].is_nullable()))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [text] = take_args(NAME, args.args)?;
        match text {
            ColumnarValue::Scalar(value) => {
                let addr = scalar_text(NAME, &value)?.map(parse_or_error).transpose()?;
                Ok(ColumnarValue::Scalar(ScalarValue::FixedSizeBinary(
                    ADDR_WIDTH,
                    addr.map(|a| a.to_vec()),
                )))
            }
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(parse_array(&array)?)),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The stored form of an IPv4 or IPv6 address written as text, to compare with address \
                 columns. Constant calls are folded while planning, so Parquet statistics prune with them.",
                "ip(text)",
                "SELECT count(*) FROM flows WHERE src_addr = ip('10.0.0.1')",
                &[("text", "IPv4 or IPv6 address text, e.g. '10.0.0.1' or '2001:db8::1'.")],
            )
        });
        Some(&DOC)
    }
}

/// Parses every row of a text array; null rows stay null.
fn parse_array(array: &ArrayRef) -> Result<ArrayRef> {
    let texts = TextArray::new(NAME, array)?;
    let mut values = Vec::with_capacity(array.len() * ADDR_BYTES);
    for i in 0..array.len() {
        match texts.get(i) {
            Some(text) => values.extend_from_slice(&parse_or_error(text)?),
            None => values.extend_from_slice(&[0; ADDR_BYTES]),
        }
    }
    Ok(Arc::new(FixedSizeBinaryArray::new(
        ADDR_WIDTH,
        Buffer::from_vec(values),
        texts.nulls().cloned(),
    )))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::sync::Arc;

    use arrow::array::{FixedSizeBinaryArray, RecordBatch};
    use arrow::datatypes::Schema;
    use datafusion::prelude::ParquetReadOptions;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::super::test_util::{column_text, explain, query_err, test_context};
    use super::addr_return_field;
    use crate::addr::from_ip;
    use crate::schema::is_addr_field;

    #[tokio::test]
    async fn round_trips_v4_and_v6_through_text() {
        let ctx = test_context();
        let got = column_text(
            &ctx,
            "SELECT ip_text(ip(t)) FROM (VALUES ('2001:db8::1'), ('10.0.0.1'), (' 192.0.2.7 '), (NULL)) AS v(t)",
        )
        .await;
        assert_eq!(
            got,
            vec![
                Some("2001:db8::1".into()),
                Some("10.0.0.1".into()),
                Some("192.0.2.7".into()),
                None
            ]
        );
        let got = column_text(&ctx, "SELECT ip_text(ip('2001:db8::1'))").await;
        assert_eq!(got, vec![Some("2001:db8::1".into())]);
    }

    #[tokio::test]
    async fn accepts_every_string_type() {
        let ctx = test_context();
        for string_type in ["Utf8", "LargeUtf8", "Utf8View"] {
            let sql = format!("SELECT ip_text(ip(arrow_cast('10.0.0.1', '{string_type}')))");
            assert_eq!(column_text(&ctx, &sql).await, vec![Some("10.0.0.1".into())], "{sql}");
            let sql =
                format!("SELECT ip_text(ip(arrow_cast(t, '{string_type}'))) FROM (VALUES ('::1'), (NULL)) AS v(t)");
            assert_eq!(column_text(&ctx, &sql).await, vec![Some("::1".into()), None], "{sql}");
        }
        assert_eq!(column_text(&ctx, "SELECT ip(NULL)").await, vec![None]);
    }

    #[tokio::test]
    async fn compares_with_address_columns() {
        let ctx = test_context();
        let got = column_text(&ctx, "SELECT id FROM t WHERE addr = ip('10.0.0.1')").await;
        assert_eq!(got, vec![Some("0".into())]);
        let got = column_text(
            &ctx,
            "SELECT id FROM t WHERE addr IN (ip('10.0.0.1'), ip('2001:db8::1')) ORDER BY id",
        )
        .await;
        assert_eq!(got, vec![Some("0".into()), Some("3".into())]);
        let got = column_text(
            &ctx,
            "SELECT id FROM t WHERE addr IN (ip('10.0.0.1'), ip('10.1.2.3'), ip('192.168.1.1'), ip('::a00:1')) ORDER BY id",
        )
        .await;
        assert_eq!(
            got,
            vec![Some("0".into()), Some("1".into()), Some("2".into()), Some("5".into())]
        );
    }

    #[tokio::test]
    async fn bad_text_is_an_error_quoting_it() {
        let ctx = test_context();
        let err = query_err(&ctx, "SELECT ip('10.0.0.300')").await;
        assert!(
            err.contains("ip(): '10.0.0.300' is not an IPv4 or IPv6 address"),
            "{err}"
        );
        let err = query_err(&ctx, "SELECT id FROM t WHERE addr = ip('nonsense')").await;
        assert!(err.contains("'nonsense' is not an IPv4 or IPv6 address"), "{err}");
        let err = query_err(
            &ctx,
            "SELECT ip(t) FROM (VALUES ('10.0.0.1'), ('fe80::1%eth0')) AS v(t)",
        )
        .await;
        assert!(err.contains("'fe80::1%eth0' is not an IPv4 or IPv6 address"), "{err}");
        let err = query_err(&ctx, "SELECT ip(42)").await;
        assert!(err.contains("ip(): text must be a string, got Int64"), "{err}");
    }

    #[tokio::test]
    async fn constant_call_is_folded_to_a_literal() {
        let ctx = test_context();
        let plan = explain(&ctx, "SELECT id FROM t WHERE addr = ip('10.0.0.1')").await;
        let physical = plan
            .iter()
            .find(|(kind, _)| kind == "physical_plan")
            .expect("physical plan")
            .1
            .clone();
        assert!(physical.contains("FilterExec"), "{physical}");
        assert!(!physical.contains("ip("), "ip() left in the physical plan:\n{physical}");
        assert!(physical.contains("FilterExec: addr@1 = 0000"), "{physical}");
        let logical = plan
            .iter()
            .find(|(kind, _)| kind == "logical_plan")
            .expect("logical plan")
            .1
            .clone();
        assert!(!logical.contains("ip("), "ip() left in the logical plan:\n{logical}");

        let plan = explain(
            &ctx,
            "SELECT id FROM t WHERE addr IN (ip('10.0.0.1'), ip('10.1.2.3'), ip('::1'), ip('::2'))",
        )
        .await;
        let physical = plan
            .iter()
            .find(|(kind, _)| kind == "physical_plan")
            .expect("physical plan")
            .1
            .clone();
        assert!(!physical.contains("ip("), "ip() left in the physical plan:\n{physical}");
    }

    #[tokio::test]
    async fn parquet_statistics_prune_with_the_folded_literal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.parquet");
        let schema = Arc::new(Schema::new(vec![addr_return_field("addr", true)]));
        let addrs = [
            "10.0.0.1",
            "10.0.0.2",
            "192.168.0.1",
            "192.168.0.2",
            "2001:db8::1",
            "2001:db8::2",
        ]
        .map(|text| Some(from_ip(text.parse().unwrap())));
        let addrs = FixedSizeBinaryArray::try_from_sparse_iter_with_size(addrs.into_iter(), 16).unwrap();
        // Three row groups of two addresses each.
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(2)).build();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), Arc::clone(&schema), Some(props)).unwrap();
        writer
            .write(&RecordBatch::try_new(schema, vec![Arc::new(addrs)]).unwrap())
            .unwrap();
        writer.close().unwrap();
        let ctx = test_context();
        ctx.register_parquet("p", path.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();

        for (filter, matched) in [
            ("addr = ip('192.168.0.2')", "1"),
            ("addr IN (ip('192.168.0.2'), ip('2001:db8::2'))", "2"),
        ] {
            let plan = explain(&ctx, &format!("ANALYZE SELECT count(*) FROM p WHERE {filter}")).await;
            let plan: String = plan.into_iter().map(|(_, text)| text).collect();
            let pruned = format!("row_groups_pruned_statistics=3 total → {matched} matched");
            assert!(plan.contains(&pruned), "{filter}: want {pruned} in\n{plan}");
            let count = column_text(&ctx, &format!("SELECT count(*) FROM p WHERE {filter}")).await;
            assert_eq!(count, vec![Some(matched.to_string())], "{filter}");
        }
    }

    #[tokio::test]
    async fn output_field_is_marked_as_an_address() {
        let ctx = test_context();
        for sql in [
            "SELECT ip('10.0.0.1') AS a",
            "SELECT ip(t) AS a FROM (VALUES ('::1')) AS v(t)",
        ] {
            let df = ctx.sql(sql).await.unwrap();
            let field = df.schema().field(0).clone();
            assert!(is_addr_field(&field), "{sql}: {field:?}");
            let batches = df.collect().await.unwrap();
            assert!(is_addr_field(batches[0].schema().field(0)), "{sql}");
        }
    }
}
