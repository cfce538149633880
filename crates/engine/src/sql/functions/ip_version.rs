//! `ip_version(addr)`: 4 for IPv4 (mapped) addresses, 6 for the others.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, UInt8Array};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{addr_array, check_arity, coerce_addr, scalar_addr, take_args};
use super::bits::{array_bits, is_v4_bits};
use super::doc::doc;

const NAME: &str = "ip_version";

/// SQL `ip_version(addr) -> UInt8`: 4 for an IPv4 (mapped) address, 6 otherwise; NULL gives NULL.
///
/// ```sql
/// SELECT ip_version(src_addr) AS v, count(*) FROM flows GROUP BY v;
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpVersion {
    signature: Signature,
}

impl IpVersion {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for IpVersion {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn version(bits: u128) -> u8 {
    if is_v4_bits(bits) { 4 } else { 6 }
}

impl ScalarUDFImpl for IpVersion {
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
        Ok(DataType::UInt8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [addr] = take_args(NAME, args.args)?;
        match addr {
            ColumnarValue::Scalar(value) => Ok(ColumnarValue::Scalar(ScalarValue::UInt8(
                scalar_addr(NAME, &value)?.map(version),
            ))),
            ColumnarValue::Array(array) => {
                let addrs = addr_array(NAME, &array)?;
                let versions: Vec<u8> = array_bits(addrs).map(version).collect();
                Ok(ColumnarValue::Array(Arc::new(UInt8Array::new(
                    versions.into(),
                    addrs.nulls().cloned(),
                ))))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "4 for an IPv4 (mapped) address, 6 for an IPv6 address.",
                "ip_version(addr)",
                "SELECT ip_version(src_addr) AS v, count(*) FROM flows GROUP BY v",
                &[("addr", "An address: an address column such as src_addr, or ip('...').")],
            )
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{column_text, test_context};

    #[tokio::test]
    async fn tells_v4_from_v6() {
        let ctx = test_context();
        let got = column_text(&ctx, "SELECT ip_version(addr) FROM t ORDER BY id").await;
        let want = ["4", "4", "4", "6", "6", "6"].map(|v| Some(v.to_string()));
        assert_eq!(got[..6], want);
        assert_eq!(got[6], None);
        assert_eq!(
            column_text(&ctx, "SELECT ip_version(ip('::ffff:1.2.3.4'))").await,
            vec![Some("4".into())]
        );
        assert_eq!(column_text(&ctx, "SELECT ip_version(NULL)").await, vec![None]);
    }
}
