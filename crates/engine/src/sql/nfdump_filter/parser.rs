//! The boolean structure of a filter: `or` binds loosest, then `and`, then `not`; parentheses
//! group. Tests themselves are parsed in `primitive.rs`.
//!
//! ```text
//! filter = or
//! or     = and { ("or" | "||") and }
//! and    = unary { ("and" | "&&") unary }
//! unary  = ("not" | "!") unary | "(" or ")" | test
//! ```

use super::ast::{Node, NodeKind, Span};
use super::cursor::Cursor;
use super::error::FilterError;
use super::lexer::{Tok, tokenize};
use super::primitive::parse_test;

/// Deepest nesting of parentheses and `not` accepted (keeps recursion bounded).
pub(crate) const MAX_DEPTH: usize = 200;

/// Parses a whole filter.
pub(crate) fn parse(text: &str) -> Result<Node, FilterError> {
    let mut cursor = Cursor::new(tokenize(text)?);
    if cursor.peek().tok == Tok::End {
        return Err(FilterError::new(
            0,
            "the filter is empty: write a test, or 'any' for every flow",
        ));
    }
    let node = parse_or(&mut cursor, 0)?;
    let next = cursor.peek();
    match next.tok {
        Tok::End => Ok(node),
        Tok::RParen => Err(FilterError::new(next.span.start, "')' without a matching '('")),
        _ => Err(FilterError::new(
            next.span.start,
            format!(
                "unexpected {} after a complete test: join tests with 'and' or 'or'",
                next.describe()
            ),
        )),
    }
}

fn parse_or(cursor: &mut Cursor<'_>, depth: usize) -> Result<Node, FilterError> {
    let mut items = vec![parse_and(cursor, depth)?];
    while cursor.eat(Tok::Or) || cursor.eat_word("or") {
        items.push(parse_and(cursor, depth)?);
    }
    Ok(chain(items, NodeKind::Or))
}

fn parse_and(cursor: &mut Cursor<'_>, depth: usize) -> Result<Node, FilterError> {
    let mut items = vec![parse_unary(cursor, depth)?];
    while cursor.eat(Tok::And) || cursor.eat_word("and") {
        items.push(parse_unary(cursor, depth)?);
    }
    Ok(chain(items, NodeKind::And))
}

fn parse_unary(cursor: &mut Cursor<'_>, depth: usize) -> Result<Node, FilterError> {
    let next = cursor.peek();
    if next.tok == Tok::Not || next.is_word("not") {
        check_depth(next.span.start, depth)?;
        cursor.advance();
        let inner = parse_unary(cursor, depth + 1)?;
        let span = Span {
            start: next.span.start,
            end: inner.span.end,
        };
        return Ok(Node {
            kind: NodeKind::Not(Box::new(inner)),
            span,
        });
    }
    if next.tok == Tok::LParen {
        check_depth(next.span.start, depth)?;
        cursor.advance();
        let inner = parse_or(cursor, depth + 1)?;
        let close = cursor.peek();
        return match close.tok {
            Tok::RParen => {
                cursor.advance();
                Ok(inner)
            }
            Tok::End => Err(FilterError::new(next.span.start, "'(' is never closed")),
            _ => Err(FilterError::new(
                close.span.start,
                format!(
                    "expected ')' to close the '(' at {}, or 'and'/'or', found {}",
                    next.span.start,
                    close.describe()
                ),
            )),
        };
    }
    parse_test(cursor)
}

/// One node of `items`: the item itself if alone, else `make(items)` spanning them all.
fn chain(mut items: Vec<Node>, make: fn(Vec<Node>) -> NodeKind) -> Node {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    let span = Span {
        start: items.first().map_or(0, |n| n.span.start),
        end: items.last().map_or(0, |n| n.span.end),
    };
    Node {
        kind: make(items),
        span,
    }
}

fn check_depth(position: usize, depth: usize) -> Result<(), FilterError> {
    if depth >= MAX_DEPTH {
        return Err(FilterError::new(
            position,
            format!("the filter nests parentheses and 'not' more than {MAX_DEPTH} deep"),
        ));
    }
    Ok(())
}
