//! `proto_name(protocol)`: IANA protocol number to the name nfdump 1.7 prints (`TCP`, `UDP`,
//! `ICMP6`, ...); numbers nfdump has no name for print as decimal text. The 256 names are built
//! once, and a protocol column is turned into names by one `take` over them.

use std::sync::LazyLock;

use arrow::array::{Array, StringArray};
use arrow::compute::{CastOptions, cast_with_options, take};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::args::{check_arity, coerce_int, scalar_int, take_args};
use super::doc::doc;

const NAME: &str = "proto_name";

/// The names nfdump 1.7 prints for protocols 0..=137 (its own spellings, not IANA's keywords);
/// "0", "99", "128" and "134" are nfdump's entries for numbers it prints as numbers.
const NFDUMP_NAMES: [&str; 138] = [
    "0", "ICMP", "IGMP", "GGP", "IPIP", "ST", "TCP", "CBT", "EGP", "IGP", // 0..=9
    "BBN", "NVPII", "PUP", "ARGUS", "ENCOM", "XNET", "CHAOS", "UDP", "MUX", "DCN", // 10..=19
    "HMP", "PRM", "XNS", "Trnk1", "Trnk2", "Leaf1", "Leaf2", "RDP", "IRTP", "ISO-4", // 20..=29
    "NETBK", "MFESP", "MEINP", "DCCP", "3PC", "IDPR", "XTP", "DDP", "IDPR", "TP++", // 30..=39
    "IL", "IPv6", "SDRP", "Rte6", "Frag6", "IDRP", "RSVP", "GRE", "MHRP", "BNA", // 40..=49
    "ESP", "AH", "INLSP", "SWIPE", "NARP", "MOBIL", "TLSP", "SKIP", "ICMP6", "NOHE6", // 50..=59
    "OPTS6", "HOST", "CFTP", "NET", "SATNT", "KLAN", "RVD", "IPPC", "FS", "SATM", // 60..=69
    "VISA", "IPCV", "CPNX", "CPHB", "WSN", "PVP", "BSATM", "SUNND", "WBMON", "WBEXP", // 70..=79
    "ISOIP", "VMTP", "SVMTP", "VINES", "TTP", "NSIGP", "DGP", "TCF", "EIGRP", "OSPF", // 80..=89
    "S-RPC", "LARP", "MTP", "AX.25", "OS", "MICP", "SCCSP", "ETHIP", "ENCAP", "99", // 90..=99
    "GMTP", "IFMP", "PNNI", "PIM", "ARIS", "SCPS", "QNX", "A/N", "IPcmp", "SNP", // 100..=109
    "CpqPP", "IPXIP", "VRRP", "PGM", "0hop", "L2TP", "DDX", "IATP", "STP", "SRP", // 110..=119
    "UTI", "SMP", "SM", "PTP", "ISIS4", "FIRE", "CRTP", "CRUDP", "128", "IPLT", // 120..=129
    "SPS", "PIPE", "SCTP", "FC", "134", "MHEAD", "UDP-L", "MPLS", // 130..=137
];

/// The name of every protocol number 0..=255, indexed by the number.
static NAMES: LazyLock<StringArray> = LazyLock::new(|| {
    StringArray::from_iter_values((0..=255usize).map(|p| match NFDUMP_NAMES.get(p) {
        Some(name) => (*name).to_string(),
        None => p.to_string(),
    }))
});

/// The name nfdump prints for an IP protocol number (`TCP`, `ICMP6`, ...), or the number as
/// decimal text when nfdump has no name for it (`253`).
pub fn protocol_name(protocol: u8) -> &'static str {
    let names: &'static StringArray = &NAMES;
    names.value(usize::from(protocol))
}

/// SQL `proto_name(protocol) -> Utf8`: the name nfdump prints for an IP protocol number (`TCP`,
/// `UDP`, `ICMP`, `ICMP6`, `GRE`, `ESP`, ...), numbers without a name as decimal text (`253`).
/// `protocol` may be any integer type; values outside 0..=255 and NULL give NULL.
///
/// ```sql
/// SELECT proto_name(protocol) AS proto, sum(bytes) FROM flows GROUP BY protocol;
/// ```
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ProtoName {
    signature: Signature,
}

impl ProtoName {
    /// The function, ready for [`datafusion::logical_expr::ScalarUDF::new_from_impl`].
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for ProtoName {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ProtoName {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(NAME, &["protocol"], arg_types)?;
        Ok(vec![coerce_int(NAME, "protocol", &arg_types[0])?])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [protocol] = take_args(NAME, args.args)?;
        match protocol {
            ColumnarValue::Scalar(value) => {
                let name = scalar_int(NAME, &value)?
                    .and_then(|p| u8::try_from(p).ok())
                    .map(|p| protocol_name(p).to_string());
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(name)))
            }
            ColumnarValue::Array(array) => {
                // A safe cast to UInt8 turns numbers outside 0..=255 into nulls.
                let protocols = match array.data_type() {
                    DataType::UInt8 => array,
                    _ => {
                        let safe = CastOptions {
                            safe: true,
                            ..CastOptions::default()
                        };
                        cast_with_options(&array, &DataType::UInt8, &safe)?
                    }
                };
                let names: &StringArray = &NAMES;
                Ok(ColumnarValue::Array(take(names, &protocols, None)?))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The name nfdump prints for an IP protocol number (TCP, UDP, ICMP, ICMP6, GRE, ...), \
                 numbers without a name as decimal text; values outside 0..=255 give NULL.",
                "proto_name(protocol)",
                "SELECT proto_name(protocol) AS proto, sum(bytes) FROM flows GROUP BY protocol",
                &[("protocol", "IP protocol number, any integer type.")],
            )
        });
        Some(&DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{column_text, query_err, test_context};
    use super::protocol_name;

    #[test]
    fn names_follow_nfdump() {
        let want = [
            (0, "0"),
            (1, "ICMP"),
            (2, "IGMP"),
            (4, "IPIP"),
            (6, "TCP"),
            (17, "UDP"),
            (41, "IPv6"),
            (47, "GRE"),
            (50, "ESP"),
            (51, "AH"),
            (58, "ICMP6"),
            (89, "OSPF"),
            (103, "PIM"),
            (112, "VRRP"),
            (132, "SCTP"),
            (137, "MPLS"),
            (138, "138"),
            (253, "253"),
            (255, "255"),
        ];
        for (number, name) in want {
            assert_eq!(protocol_name(number), name, "{number}");
        }
    }

    #[tokio::test]
    async fn literals_of_any_integer_type() {
        let ctx = test_context();
        assert_eq!(
            column_text(&ctx, "SELECT proto_name(6)").await,
            vec![Some("TCP".into())]
        );
        assert_eq!(
            column_text(&ctx, "SELECT proto_name(6) = 'TCP'").await,
            vec![Some("true".into())]
        );
        assert_eq!(
            column_text(&ctx, "SELECT proto_name(arrow_cast(17, 'UInt64'))").await,
            vec![Some("UDP".into())]
        );
        assert_eq!(
            column_text(&ctx, "SELECT proto_name(253)").await,
            vec![Some("253".into())]
        );
        assert_eq!(column_text(&ctx, "SELECT proto_name(300)").await, vec![None]);
        assert_eq!(column_text(&ctx, "SELECT proto_name(-1)").await, vec![None]);
        assert_eq!(column_text(&ctx, "SELECT proto_name(NULL)").await, vec![None]);
        let err = query_err(&ctx, "SELECT proto_name('tcp')").await;
        assert!(err.contains("proto_name(): protocol must be an integer"), "{err}");
    }

    #[tokio::test]
    async fn columns_of_any_integer_type() {
        let ctx = test_context();
        // proto: 6, 17, 1, 58, 47, 200, NULL
        let got = column_text(&ctx, "SELECT proto_name(proto) FROM t ORDER BY id").await;
        let want = [
            Some("TCP"),
            Some("UDP"),
            Some("ICMP"),
            Some("ICMP6"),
            Some("GRE"),
            Some("200"),
            None,
        ];
        assert_eq!(got, want.map(|v| v.map(str::to_string)));
        let got = column_text(
            &ctx,
            "SELECT proto_name(arrow_cast(proto, 'Int64') + 100) FROM t ORDER BY id",
        )
        .await;
        let want = [
            Some("QNX"),
            Some("IATP"),
            Some("IFMP"),
            Some("158"),
            Some("147"),
            None,
            None,
        ];
        assert_eq!(got, want.map(|v| v.map(str::to_string)));
        let got = column_text(&ctx, "SELECT id FROM t WHERE proto_name(proto) = 'TCP'").await;
        assert_eq!(got, vec![Some("0".into())]);
    }
}
