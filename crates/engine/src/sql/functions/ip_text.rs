//! `ip_text(addr)`: a stored address as text, IPv4-mapped addresses shown as IPv4
//! (`10.0.0.1`, `2001:db8::1`). Each address is formatted straight into the output buffer.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{addr_array, check_arity, coerce_addr, scalar_addr, take_args};
use super::bits::{array_bits, is_v4_bits};
use super::doc::doc;

const NAME: &str = "ip_text";

/// Longest text of an address (`ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`).
const MAX_TEXT: usize = 39;
/// Bytes reserved per row for the text: most flows are IPv4 (at most 15).
const TYPICAL_TEXT: usize = 15;

/// SQL `ip_text(addr) -> Utf8`: the text of an address (`10.0.0.1`, `2001:db8::1`), IPv4-mapped
/// addresses as IPv4; NULL gives NULL.
///
/// ```sql
/// SELECT ip_text(src_addr), sum(bytes) FROM flows GROUP BY src_addr ORDER BY 2 DESC LIMIT 10;
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpText {
    signature: Signature,
}

impl IpText {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for IpText {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes the text of the address with these bits.
#[inline]
fn write_addr(out: &mut impl Write, bits: u128) -> std::fmt::Result {
    if is_v4_bits(bits) {
        write!(out, "{}", Ipv4Addr::from(bits as u32))
    } else {
        write!(out, "{}", Ipv6Addr::from(bits))
    }
}

impl ScalarUDFImpl for IpText {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &["addr"], arg_types)?;
        Ok(vec![coerce_addr(NAME, "addr", &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let format_error = |e| exec_datafusion_err!("{NAME}(): {e}");
        let [addr] = take_args(NAME, args.args)?;
        match addr {
            ColumnarValue::Scalar(value) => {
                let text = match scalar_addr(NAME, &value)? {
                    Some(bits) => {
                        let mut text = String::with_capacity(MAX_TEXT);
                        write_addr(&mut text, bits).map_err(format_error)?;
                        Some(text)
                    }
                    None => None,
                };
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text)))
            }
            ColumnarValue::Array(array) => {
                let addrs = addr_array(NAME, &array)?;
                let mut out = StringBuilder::with_capacity(addrs.len(), addrs.len() * TYPICAL_TEXT);
                for (i, bits) in array_bits(addrs).enumerate() {
                    if addrs.is_null(i) {
                        out.append_null();
                    } else {
                        write_addr(&mut out, bits).map_err(format_error)?;
                        out.append_value("");
                    }
                }
                Ok(ColumnarValue::Array(Arc::new(out.finish())))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The text of an address, IPv4 (mapped) addresses as IPv4.",
                "ip_text(addr)",
                "SELECT ip_text(src_addr), sum(bytes) FROM flows GROUP BY src_addr",
                &[("addr", "An address: an address column such as src_addr, or ip('...').")],
            )
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{ADDRS, column_text, query_err, test_context};

    #[tokio::test]
    async fn shows_v4_as_v4_and_v6_as_v6() {
        let ctx = test_context();
        let got = column_text(&ctx, "SELECT ip_text(addr) FROM t ORDER BY id").await;
        let want: Vec<Option<String>> = ADDRS.iter().map(|a| a.map(str::to_string)).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn null_gives_null_and_other_types_are_rejected() {
        let ctx = test_context();
        assert_eq!(column_text(&ctx, "SELECT ip_text(NULL)").await, vec![None]);
        let err = query_err(&ctx, "SELECT ip_text('10.0.0.1')").await;
        assert!(err.contains("ip_text(): addr must be an address"), "{err}");
    }

    #[tokio::test]
    async fn scalar_and_mapped_forms() {
        let ctx = test_context();
        assert_eq!(
            column_text(&ctx, "SELECT ip_text(ip('::ffff:192.0.2.1'))").await,
            vec![Some("192.0.2.1".into())]
        );
        assert_eq!(
            column_text(&ctx, "SELECT ip_text(ip('::'))").await,
            vec![Some("::".into())]
        );
        assert_eq!(
            column_text(&ctx, "SELECT ip_text(ip('0.0.0.0'))").await,
            vec![Some("0.0.0.0".into())]
        );
    }
}
