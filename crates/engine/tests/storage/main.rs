//! Integration tests of channel storage: real files in temp directories.

extern crate flowfold_engine as engine;

mod common;
mod measure;
mod recovery;
mod retention;
mod snapshot;
mod store;
mod table;
