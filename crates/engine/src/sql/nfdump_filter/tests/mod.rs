//! Tests of the filter language: parsing and precedence (`parse.rs`), errors and their
//! positions (`errors.rs`), and the compiled expressions run over a small flow table
//! (`compile.rs`).

mod compile;
mod errors;
mod parse;
