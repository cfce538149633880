//! `ip_net(addr, prefix_len)`: the network address of an address, keeping `prefix_len` bits
//! counted in the address's own family (IPv4 0..=32 over its last 4 bytes, staying IPv4-mapped;
//! IPv6 0..=128). A constant prefix length (the common case) computes both masks once.

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryArray, new_null_array};
use arrow::buffer::{Buffer, NullBuffer};
use arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{DataFusionError, Result, exec_datafusion_err, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::addr::ADDR_WIDTH;
use crate::schema::addr_type;

use super::args::{addr_array, all_scalar, check_arity, coerce_addr, coerce_int, finish, scalar_int, take_args};
use super::bits::{ADDR_BYTES, V4_OFFSET, array_bits, is_v4_bits, prefix_mask};
use super::doc::doc;
use super::ip_parse::addr_return_field;

const NAME: &str = "ip_net";
const PARAMS: [&str; 2] = ["addr", "prefix_len"];

/// SQL `ip_net(addr, prefix_len) -> FixedSizeBinary(16)`: the network address of `addr` with
/// `prefix_len` bits kept, counted in the address's own family: 0..=32 for IPv4 (the result stays
/// IPv4), 0..=128 for IPv6. `prefix_len` may be any integer type. A prefix length out of range for
/// an address is an error naming it; NULL in either argument gives NULL. The result is marked
/// `flowfold.type = ip`, like the address columns.
///
/// ```sql
/// SELECT ip_text(ip_net(src_addr, 24)) AS net, sum(bytes) FROM flows
/// WHERE ip_version(src_addr) = 4 GROUP BY ip_net(src_addr, 24);
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    signature: Signature,
}

impl IpNet {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for IpNet {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for IpNet {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &PARAMS, arg_types)?;
        coerce_int(NAME, PARAMS[1], &arg_types[1])?;
        Ok(vec![coerce_addr(NAME, PARAMS[0], &arg_types[0])?, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(addr_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(addr_return_field(NAME, nullable))
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [addr, len] = take_args(NAME, args.args)?;
        if let (ColumnarValue::Array(addrs), ColumnarValue::Scalar(len)) = (&addr, &len) {
            let addrs = addr_array(NAME, addrs)?;
            return Ok(ColumnarValue::Array(match scalar_int(NAME, len)? {
                Some(len) => net_one(addrs, len)?,
                None => new_null_array(&addr_type(), addrs.len()),
            }));
        }
        let scalar = all_scalar(&[&addr, &len]);
        let arrays = ColumnarValue::values_to_arrays(&[addr, len])?;
        finish(scalar, net_each(addr_array(NAME, &arrays[0])?, &arrays[1])?)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The network address of an address with prefix_len bits kept, counted in the address's own \
                 family (0..=32 for IPv4, 0..=128 for IPv6).",
                "ip_net(addr, prefix_len)",
                "SELECT ip_text(ip_net(src_addr, 24)) AS net, count(*) FROM flows GROUP BY net",
                &[
                    ("addr", "An address: an address column such as src_addr, or ip('...')."),
                    (
                        "prefix_len",
                        "Bits to keep, any integer type: 0..=32 for IPv4, 0..=128 for IPv6.",
                    ),
                ],
            )
        });
        Some(&DOC)
    }
}

/// The masks of a prefix length: the IPv4 one (over the mapped form) if it fits IPv4, and the
/// IPv6 one. A length outside 0..=128 is an error.
fn masks(len: i64) -> Result<(Option<u128>, u128)> {
    match u32::try_from(len) {
        Ok(len) if len <= 128 => Ok(((len <= 32).then(|| prefix_mask(V4_OFFSET + len)), prefix_mask(len))),
        _ => exec_err!("{NAME}(): prefix length {len} is out of range (0..=32 for IPv4, 0..=128 for IPv6)"),
    }
}

/// The error for an IPv4 address with a prefix length over 32.
fn v4_error(len: i64, bits: u128) -> DataFusionError {
    let addr = std::net::Ipv4Addr::from(bits as u32);
    exec_datafusion_err!("{NAME}(): prefix length {len} is out of range for IPv4 address {addr} (0..=32)")
}

/// The network address of one valid address.
#[inline]
fn network(bits: u128, v4_mask: Option<u128>, v6_mask: u128, len: i64) -> Result<u128> {
    match (is_v4_bits(bits), v4_mask) {
        (false, _) => Ok(bits & v6_mask),
        (true, Some(mask)) => Ok(bits & mask),
        (true, None) => Err(v4_error(len, bits)),
    }
}

/// The stored-form array of computed networks (null slots hold zeros).
fn net_array(values: Vec<u8>, nulls: Option<NullBuffer>) -> ArrayRef {
    Arc::new(FixedSizeBinaryArray::new(ADDR_WIDTH, Buffer::from_vec(values), nulls))
}

/// The networks of every address with one prefix length.
fn net_one(addrs: &FixedSizeBinaryArray, len: i64) -> Result<ArrayRef> {
    let (v4_mask, v6_mask) = masks(len)?;
    let mut out = Vec::with_capacity(addrs.len() * ADDR_BYTES);
    for (i, bits) in array_bits(addrs).enumerate() {
        let net = match network(bits, v4_mask, v6_mask, len) {
            Ok(net) => net,
            Err(_) if addrs.is_null(i) => 0,
            Err(e) => return Err(e),
        };
        out.extend_from_slice(&net.to_be_bytes());
    }
    Ok(net_array(out, addrs.nulls().cloned()))
}

/// The networks of every address with the prefix length of its row.
fn net_each(addrs: &FixedSizeBinaryArray, lens: &ArrayRef) -> Result<ArrayRef> {
    let Some(lens) = lens.as_primitive_opt::<Int64Type>() else {
        return exec_err!(
            "{NAME}(): expected an Int64 prefix length column, got {}",
            lens.data_type()
        );
    };
    let nulls = NullBuffer::union(addrs.nulls(), lens.nulls());
    let mut out = Vec::with_capacity(addrs.len() * ADDR_BYTES);
    for (i, (bits, &len)) in array_bits(addrs).zip(lens.values()).enumerate() {
        let net = if nulls.as_ref().is_none_or(|n| n.is_valid(i)) {
            let (v4_mask, v6_mask) = masks(len)?;
            network(bits, v4_mask, v6_mask, len)?
        } else {
            0
        };
        out.extend_from_slice(&net.to_be_bytes());
    }
    Ok(net_array(out, nulls))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{column_text, query_err, test_context};
    use crate::schema::is_addr_field;

    fn texts(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[tokio::test]
    async fn v4_slash_24_and_v6_slash_48() {
        let ctx = test_context();
        let sql = "SELECT ip_text(ip_net(addr, 24)) FROM t WHERE ip_version(addr) = 4 ORDER BY id";
        assert_eq!(
            column_text(&ctx, sql).await,
            texts(&["10.0.0.0", "10.1.2.0", "192.168.1.0"])
        );
        let sql = "SELECT ip_text(ip_net(addr, 48)) FROM t WHERE ip_version(addr) = 6 ORDER BY id";
        assert_eq!(
            column_text(&ctx, sql).await,
            texts(&["2001:db8::", "2001:db8:1234::", "::"])
        );
        let sql = "SELECT ip_text(ip_net(addr, 24)) FROM t ORDER BY id";
        let got = column_text(&ctx, sql).await;
        assert_eq!(got[3], Some("2001:d00::".into()));
        assert_eq!(got[6], None);
    }

    #[tokio::test]
    async fn edge_lengths_and_any_integer_type() {
        let ctx = test_context();
        let sql = "SELECT ip_text(ip_net(addr, 0)), ip_text(ip_net(addr, 32)) FROM t WHERE id IN (0, 3) ORDER BY id";
        assert_eq!(column_text(&ctx, sql).await, texts(&["0.0.0.0", "::"]));
        let sql = "SELECT ip_text(ip_net(addr, 128)) FROM t WHERE id = 4";
        assert_eq!(column_text(&ctx, sql).await, texts(&["2001:db8:1234:5678::9"]));
        for len in [
            "arrow_cast(16, 'UInt8')",
            "16::smallint",
            "arrow_cast(16, 'UInt64')",
            "16",
        ] {
            let sql = format!("SELECT ip_text(ip_net(addr, {len})) FROM t WHERE id = 1");
            assert_eq!(column_text(&ctx, &sql).await, texts(&["10.1.0.0"]), "{sql}");
        }
        assert_eq!(
            column_text(&ctx, "SELECT ip_text(ip_net(ip('10.9.8.7'), 8))").await,
            texts(&["10.0.0.0"])
        );
        assert_eq!(
            column_text(&ctx, "SELECT ip_net(addr, NULL) FROM t WHERE id = 0").await,
            vec![None]
        );
    }

    #[tokio::test]
    async fn prefix_length_column() {
        let ctx = test_context();
        // plen: 24, 8, 32, 48, 128, 96, 16 (UInt8)
        let got = column_text(&ctx, "SELECT ip_text(ip_net(addr, plen)) FROM t ORDER BY id").await;
        let mut want = texts(&[
            "10.0.0.0",
            "10.0.0.0",
            "192.168.1.1",
            "2001:db8::",
            "2001:db8:1234:5678::9",
            "::",
        ]);
        want.push(None);
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn groups_by_network() {
        let ctx = test_context();
        let sql = "SELECT ip_text(ip_net(addr, 8)) AS net FROM t WHERE ip_version(addr) = 4 \
                   GROUP BY ip_net(addr, 8) ORDER BY count(*) DESC";
        assert_eq!(column_text(&ctx, sql).await, texts(&["10.0.0.0", "192.0.0.0"]));
        let sql = "SELECT count(*) FROM t WHERE ip_version(addr) = 4 GROUP BY ip_net(addr, 8) ORDER BY count(*) DESC";
        assert_eq!(column_text(&ctx, sql).await, texts(&["2", "1"]));
    }

    #[tokio::test]
    async fn out_of_range_prefix_is_an_error_naming_it() {
        let ctx = test_context();
        let err = query_err(&ctx, "SELECT ip_net(addr, 33) FROM t").await;
        assert!(
            err.contains("ip_net(): prefix length 33 is out of range for IPv4 address 10.0.0.1 (0..=32)"),
            "{err}"
        );
        let err = query_err(&ctx, "SELECT ip_net(addr, 129) FROM t").await;
        assert!(err.contains("ip_net(): prefix length 129 is out of range"), "{err}");
        let err = query_err(&ctx, "SELECT ip_net(addr, -1) FROM t").await;
        assert!(err.contains("ip_net(): prefix length -1 is out of range"), "{err}");
        let err = query_err(&ctx, "SELECT ip_net(addr, plen + 100) FROM t").await;
        assert!(
            err.contains("ip_net(): prefix length 124 is out of range for IPv4 address 10.0.0.1"),
            "{err}"
        );
        let err = query_err(&ctx, "SELECT ip_net(addr, '24') FROM t").await;
        assert!(err.contains("ip_net(): prefix_len must be an integer"), "{err}");
    }

    #[tokio::test]
    async fn output_field_is_marked_as_an_address() {
        let ctx = test_context();
        let df = ctx.sql("SELECT ip_net(addr, 24) AS n FROM t").await.unwrap();
        assert!(is_addr_field(df.schema().field(0)));
    }
}
