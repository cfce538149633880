//! `ip_in(addr, cidr)`: subnet test. A constant CIDR (the common case) is rewritten while planning
//! into `addr BETWEEN low AND high`, which Parquet statistics prune with; when the call is run
//! as is (a CIDR column), each row's CIDR is parsed, reusing the last parse while the text repeats.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, BooleanArray, BooleanBufferBuilder, FixedSizeBinaryArray, new_null_array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{
    TextArray, addr_array, all_scalar, check_arity, coerce_addr, coerce_text, finish, scalar_text, take_args,
};
use super::bits::bits_at;
use super::cidr::Cidr;
use super::doc::doc;

const NAME: &str = "ip_in";
const PARAMS: [&str; 2] = ["addr", "cidr"];

/// Parses a CIDR argument, with the error `ip_in()` reports for a bad one.
fn parse_cidr(text: &str) -> Result<Cidr> {
    Cidr::parse(text).map_err(|e| exec_datafusion_err!("{NAME}(): '{text}' is not a valid CIDR: {e}"))
}

/// SQL `ip_in(addr, cidr) -> Boolean`: `true` if the address is in the subnet. `cidr` is text:
/// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (`/32` or `/128`). An IPv4 CIDR matches only
/// IPv4 addresses; an IPv6 CIDR matches by the IPv6 prefix, so `::ffff:0:0/96` matches every IPv4
/// address. Host bits in the CIDR are ignored (`10.0.0.1/8` is `10.0.0.0/8`). A bad CIDR is an
/// error naming it; a NULL address or CIDR gives NULL.
///
/// ```sql
/// SELECT * FROM flows WHERE ip_in(src_addr, '10.0.0.0/8') AND NOT ip_in(dst_addr, '2001:db8::/32');
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpIn {
    signature: Signature,
}

impl IpIn {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for IpIn {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IpIn {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &PARAMS, arg_types)?;
        Ok(vec![
            coerce_addr(NAME, PARAMS[0], &arg_types[0])?,
            coerce_text(NAME, PARAMS[1], &arg_types[1])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(NAME, DataType::Boolean, nullable)))
    }

    fn is_strict(&self) -> bool {
        true
    }

    /// `ip_in(addr, 'constant cidr')` becomes `addr BETWEEN low AND high`: the same rows (a subnet
    /// is one contiguous range of the stored form, nulls give null either way), but a range
    /// Parquet statistics and page indexes can prune with. A bad CIDR is left as is, so running
    /// the query reports it.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let text = match args.get(1) {
            Some(Expr::Literal(
                ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)) | ScalarValue::Utf8View(Some(text)),
                _,
            )) => text.clone(),
            _ => return Ok(ExprSimplifyResult::Original(args)),
        };
        let Ok(cidr) = Cidr::parse(&text) else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        let (low, high) = cidr.bounds();
        let addr_literal = |a: [u8; 16]| Expr::Literal(ScalarValue::FixedSizeBinary(16, Some(a.to_vec())), None);
        let mut args = args;
        let addr = args.swap_remove(0);
        Ok(ExprSimplifyResult::Simplified(
            addr.between(addr_literal(low), addr_literal(high)),
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [addr, cidr] = take_args(NAME, args.args)?;
        if let (ColumnarValue::Array(addrs), ColumnarValue::Scalar(cidr)) = (&addr, &cidr) {
            let addrs = addr_array(NAME, addrs)?;
            return Ok(ColumnarValue::Array(match scalar_text(NAME, cidr)? {
                Some(text) => Arc::new(match_one(addrs, &parse_cidr(text)?)),
                None => new_null_array(&DataType::Boolean, addrs.len()),
            }));
        }
        let scalar = all_scalar(&[&addr, &cidr]);
        let arrays = ColumnarValue::values_to_arrays(&[addr, cidr])?;
        finish(scalar, match_each(addr_array(NAME, &arrays[0])?, &arrays[1])?)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "True if the address is in the subnet. An IPv4 CIDR matches only IPv4 addresses, an IPv6 \
                 CIDR matches by the IPv6 prefix (::ffff:0:0/96 matches all IPv4). Host bits are ignored.",
                "ip_in(addr, cidr)",
                "SELECT count(*) FROM flows WHERE ip_in(src_addr, '10.0.0.0/8')",
                &[
                    ("addr", "An address: an address column such as src_addr, or ip('...')."),
                    ("cidr", "Subnet text: '10.0.0.0/8', '2001:db8::/32', or a bare address."),
                ],
            )
        });
        Some(&DOC)
    }
}

/// Tests every address against one CIDR.
fn match_one(addrs: &FixedSizeBinaryArray, cidr: &Cidr) -> BooleanArray {
    let values = addrs.value_data();
    let matches = BooleanBuffer::collect_bool(addrs.len(), |i| cidr.contains(bits_at(values, i)));
    BooleanArray::new(matches, addrs.nulls().cloned())
}

/// Tests every address against the CIDR of its row.
fn match_each(addrs: &FixedSizeBinaryArray, cidrs: &ArrayRef) -> Result<ArrayRef> {
    let texts = TextArray::new(NAME, cidrs)?;
    let nulls = NullBuffer::union(addrs.nulls(), texts.nulls());
    let values = addrs.value_data();
    let mut matches = BooleanBufferBuilder::new(addrs.len());
    let mut last: Option<(&str, Cidr)> = None;
    for i in 0..addrs.len() {
        let text = match texts.get(i) {
            Some(text) if nulls.as_ref().is_none_or(|n| n.is_valid(i)) => text,
            _ => {
                matches.append(false);
                continue;
            }
        };
        let cidr = match last {
            Some((last_text, cidr)) if last_text == text => cidr,
            _ => {
                let cidr = parse_cidr(text)?;
                last = Some((text, cidr));
                cidr
            }
        };
        matches.append(cidr.contains(bits_at(values, i)));
    }
    Ok(Arc::new(BooleanArray::new(matches.finish(), nulls)))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{column_text, query_err, test_context};

    fn bools(values: &[Option<bool>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(|b| b.to_string())).collect()
    }

    async fn matches(cidr: &str) -> Vec<Option<String>> {
        let ctx = test_context();
        column_text(&ctx, &format!("SELECT ip_in(addr, '{cidr}') FROM t ORDER BY id")).await
    }

    #[tokio::test]
    async fn v4_cidr_matches_only_v4_addresses() {
        let (t, f) = (Some(true), Some(false));
        // rows: 10.0.0.1, 10.1.2.3, 192.168.1.1, 2001:db8::1, 2001:db8:1234:5678::9, ::a00:1, NULL
        assert_eq!(matches("10.0.0.0/8").await, bools(&[t, t, f, f, f, f, None]));
        assert_eq!(matches("10.0.0.0/16").await, bools(&[t, f, f, f, f, f, None]));
        assert_eq!(matches("0.0.0.0/0").await, bools(&[t, t, t, f, f, f, None]));
        // ::a00:1 carries 10.0.0.1 in its last 32 bits but is IPv6: never in a v4 CIDR.
        assert_eq!(matches("10.0.0.1").await, bools(&[t, f, f, f, f, f, None]));
        assert_eq!(matches("10.0.0.1/32").await, bools(&[t, f, f, f, f, f, None]));
    }

    #[tokio::test]
    async fn v6_cidr_matches_by_v6_prefix() {
        let (t, f) = (Some(true), Some(false));
        assert_eq!(matches("2001:db8::/32").await, bools(&[f, f, f, t, t, f, None]));
        assert_eq!(matches("2001:db8:1234::/48").await, bools(&[f, f, f, f, t, f, None]));
        assert_eq!(matches("::ffff:0:0/96").await, bools(&[t, t, t, f, f, f, None]));
        assert_eq!(matches("::/0").await, bools(&[t, t, t, t, t, t, None]));
        assert_eq!(matches("::/96").await, bools(&[f, f, f, f, f, t, None]));
        assert_eq!(matches("2001:db8::1").await, bools(&[f, f, f, t, f, f, None]));
    }

    #[tokio::test]
    async fn host_bits_in_the_cidr_are_ignored() {
        let (t, f) = (Some(true), Some(false));
        assert_eq!(matches("10.99.99.99/8").await, bools(&[t, t, f, f, f, f, None]));
        assert_eq!(
            matches("2001:db8:1234:ffff::1/48").await,
            bools(&[f, f, f, f, t, f, None])
        );
    }

    #[tokio::test]
    async fn cidr_column_and_null_cidr() {
        let (t, f) = (Some(true), Some(false));
        let ctx = test_context();
        let got = column_text(&ctx, "SELECT ip_in(addr, cidr) FROM t ORDER BY id").await;
        assert_eq!(got, bools(&[t, f, t, t, t, f, None]));
        let got = column_text(&ctx, "SELECT ip_in(addr, NULL) FROM t ORDER BY id").await;
        assert_eq!(got, bools(&[None; 7]));
        let got = column_text(&ctx, "SELECT ip_in(ip('10.0.0.1'), cidr) FROM t ORDER BY id").await;
        assert_eq!(got, bools(&[t, t, f, f, f, t, None]));
        let got = column_text(
            &ctx,
            "SELECT ip_in(ip('10.0.0.1'), '10.0.0.0/8'), ip_in(ip('::1'), '10.0.0.0/8')",
        )
        .await;
        assert_eq!(got, bools(&[t]));
        assert_eq!(
            column_text(&ctx, "SELECT ip_in(ip('::1'), '10.0.0.0/8')").await,
            bools(&[f])
        );
        assert_eq!(
            column_text(&ctx, "SELECT ip_in(NULL, '10.0.0.0/8')").await,
            bools(&[None])
        );
    }

    #[tokio::test]
    async fn a_constant_cidr_becomes_a_prunable_range() {
        let ctx = test_context();
        let explain = ctx
            .sql("EXPLAIN SELECT id FROM t WHERE ip_in(addr, '10.0.0.0/8')")
            .await
            .unwrap();
        let batches = explain.collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(!text.contains("ip_in("), "{text}");
        assert!(text.contains("BETWEEN") || text.contains(">="), "{text}");
        // The range matches exactly the subnet at its edges, and no IPv6 address.
        let edges = "SELECT ip_in(ip('10.0.0.0'), '10.0.0.0/8'), ip_in(ip('10.255.255.255'), '10.0.0.0/8'), \
                     ip_in(ip('9.255.255.255'), '10.0.0.0/8'), ip_in(ip('11.0.0.0'), '10.0.0.0/8'), \
                     ip_in(ip('::a00:1'), '10.0.0.0/8')";
        let batches = ctx.sql(edges).await.unwrap().collect().await.unwrap();
        let row: Vec<String> = (0..5)
            .map(|i| arrow::util::display::array_value_to_string(batches[0].column(i), 0).unwrap())
            .collect();
        assert_eq!(row, ["true", "true", "false", "false", "false"]);
    }

    #[tokio::test]
    async fn works_as_a_filter() {
        let ctx = test_context();
        let got = column_text(&ctx, "SELECT id FROM t WHERE ip_in(addr, '10.0.0.0/8') ORDER BY id").await;
        assert_eq!(got, vec![Some("0".into()), Some("1".into())]);
        let sql = "SELECT id FROM t WHERE ip_in(addr, arrow_cast('2001:db8::/32', 'Utf8View')) ORDER BY id";
        assert_eq!(column_text(&ctx, sql).await, vec![Some("3".into()), Some("4".into())]);
    }

    #[tokio::test]
    async fn bad_cidr_is_an_error_naming_it() {
        let ctx = test_context();
        let err = query_err(&ctx, "SELECT ip_in(addr, '10.0.0.0/33') FROM t").await;
        assert!(
            err.contains("ip_in(): '10.0.0.0/33' is not a valid CIDR: prefix length 33 is over 32 for IPv4"),
            "{err}"
        );
        let err = query_err(&ctx, "SELECT ip_in(addr, '2001:db8::/129') FROM t").await;
        assert!(
            err.contains("'2001:db8::/129' is not a valid CIDR: prefix length 129 is over 128 for IPv6"),
            "{err}"
        );
        let err = query_err(&ctx, "SELECT ip_in(addr, '10.0.0.300/8') FROM t").await;
        assert!(
            err.contains("'10.0.0.300/8' is not a valid CIDR: '10.0.0.300' is not an IPv4"),
            "{err}"
        );
        let err = query_err(
            &ctx,
            "SELECT ip_in(addr, CASE WHEN id = 3 THEN 'x/8' ELSE cidr END) FROM t",
        )
        .await;
        assert!(err.contains("ip_in(): 'x/8' is not a valid CIDR"), "{err}");
        let err = query_err(&ctx, "SELECT ip_in(addr) FROM t").await;
        assert!(err.contains("ip_in() takes 2 argument(s) (addr, cidr), got 1"), "{err}");
    }
}
