//! The values of tests: numbers (decimal with `k`/`m`/`g`/`t` = ×1000 each, or `0x` hex),
//! comparison operators, lists in `[ ... ]`, numbers in range, and comparisons or lists of them.

use super::ast::{Cmp, Match, Span};
use super::cursor::Cursor;
use super::error::FilterError;
use super::lexer::Tok;

/// A kind of number a test takes: how messages name it and its largest value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumberKind {
    /// With an article, for "expected ...": `a port number`.
    pub expected: &'static str,
    /// Bare, for range errors: `port number`.
    pub name: &'static str,
    /// Largest value accepted.
    pub max: u64,
}

impl NumberKind {
    const fn new(expected: &'static str, name: &'static str, max: u64) -> Self {
        Self { expected, name, max }
    }
}

pub(crate) const PORT: NumberKind = NumberKind::new("a port number", "port number", u16::MAX as u64);
pub(crate) const AS: NumberKind = NumberKind::new("an AS number", "AS number", u32::MAX as u64);
pub(crate) const INTERFACE: NumberKind = NumberKind::new("an interface number", "interface number", u32::MAX as u64);
pub(crate) const PROTOCOL: NumberKind = NumberKind::new("a protocol name or number", "protocol number", 255);
pub(crate) const TOS: NumberKind = NumberKind::new("a ToS value", "ToS value", 255);
pub(crate) const FLAGS: NumberKind = NumberKind::new("TCP flags", "flags value", 255);
pub(crate) const PREFIX: NumberKind = NumberKind::new("a prefix length", "prefix length", 128);
pub(crate) const COUNT: NumberKind = NumberKind::new("a number", "number", u64::MAX);
pub(crate) const DURATION: NumberKind = NumberKind::new("a duration in milliseconds", "duration", i64::MAX as u64);

/// A comparison operator if one comes next (consumed), else `=`.
pub(crate) fn cmp(cursor: &mut Cursor<'_>) -> Cmp {
    let next = cursor.peek();
    let found = match next.tok {
        Tok::Cmp(cmp) => Some(cmp),
        Tok::Word => cmp_word(next.text),
        _ => None,
    };
    if found.is_some() {
        cursor.advance();
    }
    found.unwrap_or(Cmp::Eq)
}

/// The operator a word spells (`eq`, `gt`, `lt`, `ge`, `le`, any case).
pub(crate) fn cmp_word(word: &str) -> Option<Cmp> {
    match word.to_ascii_lowercase().as_str() {
        "eq" => Some(Cmp::Eq),
        "gt" => Some(Cmp::Gt),
        "lt" => Some(Cmp::Lt),
        "ge" => Some(Cmp::Ge),
        "le" => Some(Cmp::Le),
        _ => None,
    }
}

/// `true` if a word starts like a number (a digit).
pub(crate) fn looks_numeric(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
}

/// The value of a number word: decimal with an optional `k`, `m`, `g` or `t` (×1000 each, any
/// case), or hexadecimal after `0x`. The error says why the word is not one.
pub(crate) fn number_value(word: &str) -> Result<u64, String> {
    let too_large = || format!("'{word}' is too large");
    if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("'{word}' is not a hexadecimal number"));
        }
        return u64::from_str_radix(hex, 16).map_err(|_| too_large());
    }
    let (digits, scale) = match word.as_bytes().last().map(u8::to_ascii_lowercase) {
        Some(b'k') => (&word[..word.len() - 1], 1_000u64),
        Some(b'm') => (&word[..word.len() - 1], 1_000_000),
        Some(b'g') => (&word[..word.len() - 1], 1_000_000_000),
        Some(b't') => (&word[..word.len() - 1], 1_000_000_000_000),
        _ => (word, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{word}' is not a number"));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(too_large)
}

/// The next token as a number of `kind`, and its span; consumed.
pub(crate) fn number(cursor: &mut Cursor<'_>, kind: NumberKind) -> Result<(u64, Span), FilterError> {
    let next = cursor.peek();
    if next.tok != Tok::Word || !looks_numeric(next.text) {
        return Err(cursor.expected(kind.expected));
    }
    let value = number_value(next.text).map_err(|message| FilterError::new(next.span.start, message))?;
    if value > kind.max {
        return Err(FilterError::new(
            next.span.start,
            format!("{} {value} is out of range 0..={}", kind.name, kind.max),
        ));
    }
    cursor.advance();
    Ok((value, next.span))
}

/// The next token as a number of `kind` that fits `T` (whose range `kind.max` must not exceed).
pub(crate) fn bounded<T: TryFrom<u64>>(cursor: &mut Cursor<'_>, kind: NumberKind) -> Result<T, FilterError> {
    let (value, span) = number(cursor, kind)?;
    T::try_from(value).map_err(|_| FilterError::new(span.start, format!("{} {value} is out of range", kind.name)))
}

/// `[cmp] N` or `in [ N ... ]`, numbers of `kind` fitting `T`.
pub(crate) fn number_match<T: TryFrom<u64>>(
    cursor: &mut Cursor<'_>,
    kind: NumberKind,
) -> Result<Match<T>, FilterError> {
    if cursor.eat_word("in") {
        return Ok(Match::In(list(cursor, kind.expected, |c| bounded(c, kind))?));
    }
    let cmp = cmp(cursor);
    Ok(Match::Cmp(cmp, bounded(cursor, kind)?))
}

/// A list `[ item item, item ]`: items separated by blanks or commas, at least one. `item` is
/// called at each word; `what` names an item in errors.
pub(crate) fn list<T>(
    cursor: &mut Cursor<'_>,
    what: &str,
    mut item: impl FnMut(&mut Cursor<'_>) -> Result<T, FilterError>,
) -> Result<Vec<T>, FilterError> {
    let open = cursor.peek();
    if !cursor.eat(Tok::LBracket) {
        return Err(cursor.expected("'[' to start a list"));
    }
    let mut items = Vec::new();
    loop {
        let next = cursor.peek();
        match next.tok {
            Tok::RBracket => {
                cursor.advance();
                break;
            }
            Tok::Comma => {
                cursor.advance();
            }
            Tok::Word => items.push(item(cursor)?),
            Tok::End => return Err(FilterError::new(open.span.start, "'[' is never closed")),
            _ => {
                return Err(FilterError::new(
                    next.span.start,
                    format!("expected {what} or ']' in the list, found {}", next.describe()),
                ));
            }
        }
    }
    if items.is_empty() {
        return Err(FilterError::new(open.span.start, "the list is empty"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_suffixes_and_hex() {
        assert_eq!(number_value("0"), Ok(0));
        assert_eq!(number_value("1500"), Ok(1500));
        assert_eq!(number_value("1k"), Ok(1_000));
        assert_eq!(number_value("2K"), Ok(2_000));
        assert_eq!(number_value("3m"), Ok(3_000_000));
        assert_eq!(number_value("4G"), Ok(4_000_000_000));
        assert_eq!(number_value("5t"), Ok(5_000_000_000_000));
        assert_eq!(number_value("0x1F"), Ok(31));
        assert_eq!(number_value("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn bad_numbers_say_why() {
        assert_eq!(number_value("12ab"), Err("'12ab' is not a number".to_string()));
        assert_eq!(number_value("1kk"), Err("'1kk' is not a number".to_string()));
        assert_eq!(number_value("0x"), Err("'0x' is not a hexadecimal number".to_string()));
        assert_eq!(
            number_value("0xfg"),
            Err("'0xfg' is not a hexadecimal number".to_string())
        );
        assert_eq!(
            number_value("18446744073709551616"),
            Err("'18446744073709551616' is too large".to_string())
        );
        assert_eq!(number_value("18446745t"), Err("'18446745t' is too large".to_string()));
        assert_eq!(
            number_value("0x10000000000000000"),
            Err("'0x10000000000000000' is too large".to_string())
        );
    }

    #[test]
    fn comparison_words_in_any_case() {
        assert_eq!(cmp_word("GE"), Some(Cmp::Ge));
        assert_eq!(cmp_word("lt"), Some(Cmp::Lt));
        assert_eq!(cmp_word("ne"), None);
    }
}
