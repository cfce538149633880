//! `flowfold admin source`: delete a flow source from the live profile, restore it, list the
//! deleted ones (the `/sources` routes of a master or standalone node, see `profiles_admin.rs`).

use std::net::IpAddr;

use super::admin::request;
use super::admin_profile::Target;

/// What to do with flow sources.
#[derive(Debug, clap::Subcommand)]
pub enum SourceCommand {
    /// The deleted flow sources and when they were deleted.
    Deleted(Target),
    /// Delete a flow source: its channel leaves the live profile; its data is removed unless a
    /// sub-profile names it as a source.
    Delete {
        exporter: IpAddr,
        #[command(flatten)]
        target: Target,
    },
    /// Bring a deleted flow source back, with whatever is still stored.
    Restore {
        exporter: IpAddr,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs one source command and prints the node's answer (JSON).
pub fn run(command: SourceCommand) -> anyhow::Result<()> {
    let answer = match command {
        SourceCommand::Deleted(target) => request(target.node, "GET", "/sources", None)?,
        SourceCommand::Delete { exporter, target } => {
            request(target.node, "DELETE", &format!("/sources/{exporter}"), None)?
        }
        SourceCommand::Restore { exporter, target } => {
            request(target.node, "POST", &format!("/sources/{exporter}/restore"), None)?
        }
    };
    println!("{answer}");
    Ok(())
}
