//! A cursor over the tokens of a filter, with the lookahead and error helpers the parser uses.

use super::error::FilterError;
use super::lexer::{Tok, Token};

/// The tokens of a filter and the position of the next one.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    /// Never empty: the last token is [`Tok::End`].
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the first of `tokens`, which must end with [`Tok::End`] (as the lexer's do).
    pub(crate) fn new(tokens: Vec<Token<'a>>) -> Self {
        Self { tokens, pos: 0 }
    }

    /// The next token, not consumed.
    pub(crate) fn peek(&self) -> Token<'a> {
        self.peek_at(0)
    }

    /// The token `n` after the next one (the end token past the end).
    pub(crate) fn peek_at(&self, n: usize) -> Token<'a> {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens.get((self.pos + n).min(last)).copied().unwrap_or(Token {
            tok: Tok::End,
            text: "",
            span: super::ast::Span { start: 0, end: 0 },
        })
    }

    /// Consumes and returns the next token (the end token stays put).
    pub(crate) fn advance(&mut self) -> Token<'a> {
        let token = self.peek();
        if token.tok != Tok::End {
            self.pos += 1;
        }
        token
    }

    /// Consumes the next token if it is the word `keyword` (any case).
    pub(crate) fn eat_word(&mut self, keyword: &str) -> bool {
        let found = self.peek().is_word(keyword);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes the next token if it is of kind `tok`.
    pub(crate) fn eat(&mut self, tok: Tok) -> bool {
        let found = self.peek().tok == tok && tok != Tok::End;
        if found {
            self.pos += 1;
        }
        found
    }

    /// The end offset of the last consumed token (0 before the first).
    pub(crate) fn last_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    /// "expected WHAT after 'PREVIOUS', found NEXT", at the next token.
    pub(crate) fn expected(&self, what: &str) -> FilterError {
        let next = self.peek();
        let after = self
            .pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map(|t| format!(" after '{}'", t.text))
            .unwrap_or_default();
        FilterError::new(
            next.span.start,
            format!("expected {what}{after}, found {}", next.describe()),
        )
    }
}
