//! The TCP flags of `flags`: letters `U A P R S F` (any order, any case; `X` is all six), or a
//! number compared with the flags byte (`flags 2`, `flags > 16`).

use super::ast::{FLAG_LETTERS, FlagsTest};
use super::cursor::Cursor;
use super::error::FilterError;
use super::lexer::Tok;
use super::value::{FLAGS, bounded, cmp, cmp_word, looks_numeric};

/// All six flags, as `X` gives them.
const ALL_FLAGS: u8 = 0x3f;

/// The flags after `flags`.
pub(crate) fn flags(cursor: &mut Cursor<'_>) -> Result<FlagsTest, FilterError> {
    let next = cursor.peek();
    let numeric = match next.tok {
        Tok::Cmp(_) => true,
        Tok::Word => looks_numeric(next.text) || cmp_word(next.text).is_some(),
        _ => return Err(cursor.expected("TCP flags (letters of UAPRSF) or a number")),
    };
    if numeric {
        let cmp = cmp(cursor);
        return Ok(FlagsTest::Cmp(cmp, bounded(cursor, FLAGS)?));
    }
    let bits = letters(next.text).ok_or_else(|| {
        FilterError::new(
            next.span.start,
            format!(
                "'{}' is not a set of TCP flags: use the letters U A P R S F, or X for all",
                next.text
            ),
        )
    })?;
    cursor.advance();
    Ok(FlagsTest::Letters(bits))
}

/// The flag bits the letters name; `None` if one is not a flag letter.
fn letters(word: &str) -> Option<u8> {
    word.chars().try_fold(0u8, |bits, c| {
        let c = c.to_ascii_uppercase();
        if c == 'X' {
            return Some(ALL_FLAGS);
        }
        FLAG_LETTERS
            .iter()
            .find(|(letter, _)| *letter == c)
            .map(|(_, bit)| bits | bit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_in_any_order_and_case() {
        assert_eq!(letters("S"), Some(0x02));
        assert_eq!(letters("as"), Some(0x12));
        assert_eq!(letters("UAPRSF"), Some(0x3f));
        assert_eq!(letters("FS"), letters("SF"));
        assert_eq!(letters("X"), Some(0x3f));
        assert_eq!(letters("SYN"), None);
        assert_eq!(letters("E"), None);
    }
}
