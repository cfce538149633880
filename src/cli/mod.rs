//! One module per subcommand: its flags and its `run`.

pub mod admin;
pub mod admin_profile;
pub mod admin_slave;
pub mod admin_source;
pub mod admin_units;
pub mod demo;
#[path = "gen.rs"]
pub mod generate;
pub mod master;
pub mod proxy;
pub mod query_args;
pub mod retention;
pub mod sql;
pub mod standalone;
pub mod top;
