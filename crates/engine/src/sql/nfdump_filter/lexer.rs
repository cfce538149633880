//! Splits filter text into tokens, each with its byte span. Words (keywords, numbers, addresses,
//! names: runs of letters, digits and `_ : . -`) are one kind; the parser decides what a word
//! means where it stands, so keywords are case-insensitive and `in`, `any` or `tcp` need no
//! reserving. `#` starts a comment that runs to the end of the line.

use super::ast::{Cmp, Span};
use super::error::FilterError;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A keyword, number, address or name.
    Word,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,` (separates list items, like blanks)
    Comma,
    /// `/` (before a prefix length)
    Slash,
    /// `=`, `==`, `>`, `<`, `>=`, `<=`
    Cmp(Cmp),
    /// `&&`
    And,
    /// `||`
    Or,
    /// `!`
    Not,
    /// The end of the text.
    End,
}

/// One token: its kind, its text and where the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub tok: Tok,
    pub text: &'a str,
    pub span: Span,
}

impl Token<'_> {
    /// `true` if the token is the word `keyword`, in any case.
    pub(crate) fn is_word(&self, keyword: &str) -> bool {
        self.tok == Tok::Word && self.text.eq_ignore_ascii_case(keyword)
    }

    /// How an error message names the token: `'http'`, or `end of filter`.
    pub(crate) fn describe(&self) -> String {
        match self.tok {
            Tok::End => "end of filter".to_string(),
            _ => format!("'{}'", self.text),
        }
    }
}

/// `true` for the characters of a word (nfdump's word characters).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-')
}

/// The tokens of `text`, ending with one [`Tok::End`]; fails on a character no token has.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let (tok, len) = match c {
            _ if c.is_whitespace() => continue,
            '#' => {
                while chars.next_if(|&(_, n)| n != '\n').is_some() {}
                continue;
            }
            _ if is_word_char(c) => {
                let mut end = start + c.len_utf8();
                while let Some((i, n)) = chars.next_if(|&(_, n)| is_word_char(n)) {
                    end = i + n.len_utf8();
                }
                (Tok::Word, end - start)
            }
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '/' => (Tok::Slash, 1),
            '=' if next == Some('=') => (Tok::Cmp(Cmp::Eq), 2),
            '=' => (Tok::Cmp(Cmp::Eq), 1),
            '>' if next == Some('=') => (Tok::Cmp(Cmp::Ge), 2),
            '>' => (Tok::Cmp(Cmp::Gt), 1),
            '<' if next == Some('=') => (Tok::Cmp(Cmp::Le), 2),
            '<' => (Tok::Cmp(Cmp::Lt), 1),
            '&' if next == Some('&') => (Tok::And, 2),
            '|' if next == Some('|') => (Tok::Or, 2),
            '!' if next == Some('=') => {
                return Err(FilterError::new(
                    start,
                    "'!=' is not a comparison: write 'not' before the test instead",
                ));
            }
            '!' => (Tok::Not, 1),
            '&' | '|' => {
                return Err(FilterError::new(
                    start,
                    format!(
                        "unexpected character '{c}': write '{c}{c}' or '{}'",
                        if c == '&' { "and" } else { "or" }
                    ),
                ));
            }
            _ => {
                return Err(FilterError::new(
                    start,
                    format!("unexpected character '{}'", c.escape_default()),
                ));
            }
        };
        let end = start + len;
        // Two-character operators: skip the second character (words were read in full).
        if tok != Tok::Word && len == 2 {
            chars.next();
        }
        tokens.push(Token {
            tok,
            text: &text[start..end],
            span: Span { start, end },
        });
    }
    tokens.push(Token {
        tok: Tok::End,
        text: "",
        span: Span {
            start: text.len(),
            end: text.len(),
        },
    });
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Tok, &str)> {
        tokenize(text).unwrap().into_iter().map(|t| (t.tok, t.text)).collect()
    }

    #[test]
    fn words_symbols_and_operators() {
        assert_eq!(
            kinds("net 2001:db8::/32 and port>=1k||!(x)"),
            vec![
                (Tok::Word, "net"),
                (Tok::Word, "2001:db8::"),
                (Tok::Slash, "/"),
                (Tok::Word, "32"),
                (Tok::Word, "and"),
                (Tok::Word, "port"),
                (Tok::Cmp(Cmp::Ge), ">="),
                (Tok::Word, "1k"),
                (Tok::Or, "||"),
                (Tok::Not, "!"),
                (Tok::LParen, "("),
                (Tok::Word, "x"),
                (Tok::RParen, ")"),
                (Tok::End, ""),
            ]
        );
        assert_eq!(
            kinds("[80,443]==<"),
            vec![
                (Tok::LBracket, "["),
                (Tok::Word, "80"),
                (Tok::Comma, ","),
                (Tok::Word, "443"),
                (Tok::RBracket, "]"),
                (Tok::Cmp(Cmp::Eq), "=="),
                (Tok::Cmp(Cmp::Lt), "<"),
                (Tok::End, ""),
            ]
        );
    }

    #[test]
    fn comments_run_to_the_end_of_the_line() {
        let tokens = tokenize("proto tcp # web\n  and port 80 # end").unwrap();
        let words: Vec<&str> = tokens.iter().map(|t| t.text).collect();
        assert_eq!(words, ["proto", "tcp", "and", "port", "80", ""]);
        assert_eq!(tokens[2].span, Span { start: 18, end: 21 });
        assert_eq!(tokens[5].span, Span { start: 35, end: 35 });
    }

    #[test]
    fn bad_characters_are_errors_at_their_offset() {
        assert_eq!(
            tokenize("port 80 $").unwrap_err(),
            FilterError::new(8, "unexpected character '$'")
        );
        let err = tokenize("a & b").unwrap_err();
        assert_eq!(err.position, 2);
        assert!(err.message.contains("'&&' or 'and'"), "{err}");
        assert_eq!(tokenize("packets != 5").unwrap_err().position, 8);
        assert_eq!(tokenize("é").unwrap_err().message, "unexpected character '\\u{e9}'");
    }
}
