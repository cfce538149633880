//! The `flowfold` binary: flags, configuration and the wiring of node roles. The logic lives in
//! the library crates (`engine`, `ingest`, `planner`, `flight`, `datasets`).

mod cli;
mod config;
mod control;
mod control_admin;
mod flow_sources;
mod group_rebalance;
mod master;
mod master_admin;
mod master_follow;
mod node;
mod output;
mod profiles_admin;
mod proxy;
mod proxy_admin;
mod proxy_follow;
mod retention;
mod topology_admin;

use clap::{Parser, Subcommand};

/// flowfold: columnar flow storage and query engine for NetFlow v5/v9 and IPFIX.
#[derive(Debug, Parser)]
#[command(name = "flowfold", version, about)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info`, `flowfold_ingest=debug`).
    #[arg(long, global = true, env = "FLOWFOLD_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a standalone node: collect flows into a data directory and answer SQL over them.
    Standalone(cli::standalone::StandaloneArgs),
    /// Run a slave: a standalone node that also receives export relayed by its proxy (flow
    /// ports + 30000) and runs the query fragments a master sends.
    Slave(cli::standalone::StandaloneArgs),
    /// Run a master: answer SQL over the flows stored on the slaves of its cluster.
    Master(cli::master::MasterArgs),
    /// Run a proxy: a site's export target, forwarding each exporter to one slave of its group
    /// and merging the slaves' partial aggregates for the master.
    Proxy(cli::proxy::ProxyArgs),
    /// Look at and steer a running cluster (its master's and proxies' admin routes).
    Admin(cli::admin::AdminArgs),
    /// Run read-only SQL over a data directory.
    Sql(cli::sql::SqlArgs),
    /// Remove sealed windows outside retention limits from a data directory once (or, with
    /// --dry-run, list them), printing the bytes freed.
    Retention(cli::retention::RetentionArgs),
    /// Top N addresses, ports, protocols, AS numbers or interfaces, like `nfdump -s`.
    Top(cli::top::TopArgs),
    /// Generate deterministic flow export and send it over UDP.
    Gen(cli::generate::GenArgs),
    /// Start a node on a temporary directory, feed it generated flows, and print a summary.
    Demo(cli::demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Standalone(args) => cli::standalone::run(args, cli::standalone::Role::Standalone),
        Command::Slave(args) => cli::standalone::run(args, cli::standalone::Role::Slave),
        Command::Master(args) => cli::master::run(args),
        Command::Proxy(args) => cli::proxy::run(args),
        Command::Admin(args) => cli::admin::run(args),
        Command::Sql(args) => cli::sql::run(args),
        Command::Retention(args) => cli::retention::run(args),
        Command::Top(args) => cli::top::run(args),
        Command::Gen(args) => cli::generate::run(args),
        Command::Demo(args) => cli::demo::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
