//! Flow SQL functions: scalar UDFs over the stored address form (`FixedSizeBinary(16)`, IPv4 as
//! IPv4-mapped IPv6) and IP protocol numbers. [`register_flow_functions`] adds them all to a
//! session; [`flow_functions`] lists them.
//!
//! | SQL | returns | file |
//! |-----|---------|------|
//! | `ip_text(addr)` | `Utf8`: `10.0.0.1`, `2001:db8::1` | `ip_text.rs` |
//! | `ip(text)` | `FixedSizeBinary(16)`, an address | `ip_parse.rs` |
//! | `ip_in(addr, cidr)` | `Boolean`: subnet test | `ip_in.rs` (the UDF), `cidr.rs` (CIDR parsing and matching) |
//! | `ip_net(addr, prefix_len)` | `FixedSizeBinary(16)`: network address | `ip_net.rs` |
//! | `ip_version(addr)` | `UInt8`: 4 or 6 | `ip_version.rs` |
//! | `proto_name(protocol)` | `Utf8`: `TCP`, `UDP`, ... as nfdump prints them | `proto_name.rs` |
//! | `nfdump(filter)` | `Boolean`: the flows an nfdump filter selects; replaced by the compiled filter while planning | `nfdump.rs` (tests in `nfdump_tests.rs`) |
//!
//! Shared helpers: `args.rs` (argument counts, type coercion, reading scalar and array
//! arguments), `bits.rs` (an address as a `u128`: IPv4 test and prefix masks), `doc.rs` (the SQL
//! documentation DataFusion shows), and `test_util.rs` (the test fixture).
//!
//! All functions are immutable, so calls with constant arguments (`ip('10.0.0.1')`) are folded
//! to literals while planning, and all of them return NULL for a NULL address or number.
//! `nfdump()` is the exception: its constant filter becomes an expression over the flow columns.
//! Functions returning addresses mark their field `flowfold.type = ip`, like the address columns.

mod args;
mod bits;
mod cidr;
mod doc;
mod ip_in;
mod ip_net;
mod ip_parse;
mod ip_text;
mod ip_version;
mod nfdump;
mod proto_name;
#[cfg(test)]
pub(crate) mod test_util;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub use ip_in::IpIn;
pub use ip_net::IpNet;
pub use ip_parse::{IpParse, addr_return_field, parse_addr};
pub use ip_text::IpText;
pub use ip_version::IpVersion;
pub use nfdump::Nfdump;
pub use proto_name::{ProtoName, protocol_name};

/// Every flow function: `ip_text`, `ip`, `ip_in`, `ip_net`, `ip_version`, `proto_name` and
/// `nfdump`.
pub fn flow_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::new_from_impl(IpText::new()),
        ScalarUDF::new_from_impl(IpParse::new()),
        ScalarUDF::new_from_impl(IpIn::new()),
        ScalarUDF::new_from_impl(IpNet::new()),
        ScalarUDF::new_from_impl(IpVersion::new()),
        ScalarUDF::new_from_impl(ProtoName::new()),
        ScalarUDF::new_from_impl(Nfdump::new()),
    ]
}

/// Registers every flow function (see [`flow_functions`]) in the session, replacing any function
/// of the same name.
pub fn register_flow_functions(ctx: &SessionContext) {
    for function in flow_functions() {
        ctx.register_udf(function);
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::{column_text, test_context};
    use super::*;

    #[test]
    fn names_are_the_documented_ones() {
        let names: Vec<String> = flow_functions().iter().map(|f| f.name().to_string()).collect();
        assert_eq!(
            names,
            ["ip_text", "ip", "ip_in", "ip_net", "ip_version", "proto_name", "nfdump"]
        );
        for function in flow_functions() {
            let doc = function.documentation().expect("documented");
            assert!(doc.syntax_example.starts_with(function.name()), "{}", function.name());
        }
    }

    #[tokio::test]
    async fn functions_compose_in_one_query() {
        let ctx = test_context();
        let sql = "SELECT ip_text(ip_net(addr, 16)) FROM t \
                   WHERE ip_in(addr, '10.0.0.0/8') AND ip_version(addr) = 4 AND proto_name(proto) = 'UDP'";
        assert_eq!(column_text(&ctx, sql).await, vec![Some("10.1.0.0".to_string())]);
    }
}
