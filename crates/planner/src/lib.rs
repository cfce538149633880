//! Placeholder crate; see Cargo.toml description.
