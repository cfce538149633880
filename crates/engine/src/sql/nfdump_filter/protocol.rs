//! The protocol of `proto`: a number 0..=255, or a name as nfdump spells it (`tcp`, `udp`,
//! `icmp`, `icmp6`, `gre`, `esp`, ... in any case; the names `proto_name()` prints), or
//! `ipv6-icmp` (IANA's name for ICMPv6, which nfdump does not know).

use super::cursor::Cursor;
use super::error::FilterError;
use super::lexer::Tok;
use super::value::{PROTOCOL, bounded, looks_numeric};
use crate::sql::functions::protocol_name;

/// Protocol names beyond nfdump's table.
const ALIASES: [(&str, u8); 1] = [("ipv6-icmp", 58)];

/// The protocol after `proto`.
pub(crate) fn protocol(cursor: &mut Cursor<'_>) -> Result<u8, FilterError> {
    let next = cursor.peek();
    if next.tok != Tok::Word {
        return Err(cursor.expected(PROTOCOL.expected));
    }
    if let Some(number) = protocol_number(next.text) {
        cursor.advance();
        return Ok(number);
    }
    if looks_numeric(next.text) {
        return bounded(cursor, PROTOCOL);
    }
    Err(FilterError::new(
        next.span.start,
        format!("unknown protocol '{}'", next.text),
    ))
}

/// The number of a protocol name (any case).
pub(crate) fn protocol_number(name: &str) -> Option<u8> {
    if let Some((_, number)) = ALIASES.iter().find(|(alias, _)| alias.eq_ignore_ascii_case(name)) {
        return Some(*number);
    }
    (0..=u8::MAX).find(|&p| {
        let known = protocol_name(p);
        !known.bytes().all(|b| b.is_ascii_digit()) && known.eq_ignore_ascii_case(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_any_case() {
        assert_eq!(protocol_number("tcp"), Some(6));
        assert_eq!(protocol_number("UDP"), Some(17));
        assert_eq!(protocol_number("Icmp"), Some(1));
        assert_eq!(protocol_number("icmp6"), Some(58));
        assert_eq!(protocol_number("ipv6-icmp"), Some(58));
        assert_eq!(protocol_number("gre"), Some(47));
        assert_eq!(protocol_number("esp"), Some(50));
        assert_eq!(protocol_number("0hop"), Some(114));
        assert_eq!(protocol_number("3pc"), Some(34));
    }

    #[test]
    fn unknown_names_and_numbers_as_names() {
        assert_eq!(protocol_number("tcpx"), None);
        assert_eq!(protocol_number("tc"), None);
        assert_eq!(protocol_number("icmpv6"), None);
        assert_eq!(protocol_number("99"), None);
    }
}
