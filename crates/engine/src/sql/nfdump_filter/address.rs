//! Address values of tests: the host of `ip`/`host`, the network of `net` (`ADDR/LEN`, or an
//! IPv4 `ADDR MASK`), and the items of `ip in [ ... ]`. Host names are not looked up.

use std::net::IpAddr;

use super::ast::Span;
use super::cursor::Cursor;
use super::error::FilterError;
use super::lexer::{Tok, Token};
use super::net::{Net, abbreviated_v4, mask_len};
use super::value::{PREFIX, list, number};

/// The address after `ip`/`host`.
pub(crate) fn host(cursor: &mut Cursor<'_>) -> Result<Net, FilterError> {
    let word = address_word(cursor, "an IP address")?;
    let addr = parse_ip(word)?;
    if cursor.peek().tok == Tok::Slash {
        return Err(FilterError::new(
            cursor.peek().span.start,
            format!(
                "'ip' and 'host' take one address: write 'net {}/...' for a network",
                word.text
            ),
        ));
    }
    Ok(Net::host(addr))
}

/// The network after `net`: `ADDR/LEN` (IPv4 may be shortened: `172.16/16`) or `IPV4 MASK`.
pub(crate) fn network(cursor: &mut Cursor<'_>) -> Result<Net, FilterError> {
    let word = address_word(cursor, "a network address")?;
    if cursor.eat(Tok::Slash) {
        return prefix(cursor, word);
    }
    let next = cursor.peek();
    if next.tok == Tok::Word
        && let Ok(mask) = next.text.parse::<IpAddr>()
    {
        cursor.advance();
        return masked(word, parse_ip(word)?, next, mask);
    }
    Err(cursor.expected("'/' and a prefix length, or a netmask"))
}

/// The items of `ip in [ ... ]`: addresses and `ADDR/LEN` networks.
pub(crate) fn address_list(cursor: &mut Cursor<'_>) -> Result<Vec<Net>, FilterError> {
    list(cursor, "an address or network", |cursor| {
        let word = address_word(cursor, "an address or network")?;
        if cursor.eat(Tok::Slash) {
            prefix(cursor, word)
        } else {
            parse_ip(word).map(Net::host)
        }
    })
}

/// The next token, consumed, if it is a word (an address, hopefully).
fn address_word<'a>(cursor: &mut Cursor<'a>, what: &str) -> Result<Token<'a>, FilterError> {
    if cursor.peek().tok != Tok::Word {
        return Err(cursor.expected(what));
    }
    Ok(cursor.advance())
}

/// The network `word/LEN`, the length coming next.
fn prefix(cursor: &mut Cursor<'_>, word: Token<'_>) -> Result<Net, FilterError> {
    let (len, len_span) = number(cursor, PREFIX)?;
    let addr = match word.text.parse::<IpAddr>() {
        Ok(addr) => addr,
        Err(_) => match abbreviated_v4(word.text) {
            Some((v4, parts)) if len <= 8 * parts as u64 => IpAddr::V4(v4),
            Some((_, parts)) => {
                return Err(FilterError::new(
                    len_span.start,
                    format!(
                        "prefix length {len} is longer than the {} bits '{}' gives",
                        8 * parts,
                        word.text
                    ),
                ));
            }
            None => return Err(not_an_address(word)),
        },
    };
    net_or_error(addr, len, len_span)
}

/// The network of `addr` under the IPv4 netmask `mask` (its token `mask_token`).
fn masked(word: Token<'_>, addr: IpAddr, mask_token: Token<'_>, mask: IpAddr) -> Result<Net, FilterError> {
    let (IpAddr::V4(_), IpAddr::V4(mask)) = (addr, mask) else {
        return Err(FilterError::new(
            mask_token.span.start,
            format!(
                "a netmask is for IPv4 networks only: write 'net {}/LEN' for an IPv6 network",
                word.text
            ),
        ));
    };
    let Some(len) = mask_len(mask) else {
        return Err(FilterError::new(
            mask_token.span.start,
            format!("netmask '{mask}' is not contiguous (its one bits must all come first)"),
        ));
    };
    net_or_error(addr, u64::from(len), mask_token.span)
}

fn net_or_error(addr: IpAddr, len: u64, len_span: Span) -> Result<Net, FilterError> {
    let (max, family) = if addr.is_ipv4() { (32, "IPv4") } else { (128, "IPv6") };
    u8::try_from(len)
        .ok()
        .and_then(|len| Net::new(addr, len))
        .ok_or_else(|| {
            FilterError::new(
                len_span.start,
                format!("prefix length {len} is over {max} for {family}"),
            )
        })
}

/// The address a word spells.
fn parse_ip(word: Token<'_>) -> Result<IpAddr, FilterError> {
    word.text.parse().map_err(|_| not_an_address(word))
}

fn not_an_address(word: Token<'_>) -> FilterError {
    let looks_like_name = word.text.contains(|c: char| c.is_ascii_alphabetic())
        && !word.text.contains(':')
        && !word.text.starts_with(|c: char| c.is_ascii_digit());
    let message = if looks_like_name {
        format!("'{}' is not an IP address (host names are not looked up)", word.text)
    } else {
        format!("'{}' is not an IPv4 or IPv6 address", word.text)
    };
    FilterError::new(word.span.start, message)
}
