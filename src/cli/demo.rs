//! `flowfold demo`: a standalone node on a temporary directory and free loopback ports, fed by
//! the generator (NetFlow v5, v9 and IPFIX from several exporters), then a summary in SQL.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use datasets::generator::{GenConfig, Generator};
use datasets::send::{SendConfig, now_ms};

use crate::node::{Node, NodeSettings};
use crate::output::{Format, print};

/// Flags of `flowfold demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Flows to generate.
    #[arg(long, default_value_t = 500_000)]
    pub flows: u64,
    /// Number of exporters (formats v9, IPFIX, v5 in turn).
    #[arg(long, default_value_t = 4)]
    pub exporters: usize,
    /// Offered rate in flows per second.
    #[arg(long, default_value_t = 250_000)]
    pub rate: u64,
    /// Keep the data in this directory instead of a temporary one.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// After the summary, keep the node running (and answering Flight SQL on `--query`) until
    /// Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Flight SQL address of the demo node (with `--serve` you may want a fixed port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub query: std::net::SocketAddr,
}

const SUMMARY: [(&str, &str); 3] = [
    (
        "Flows stored",
        "SELECT count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes, \
         count(DISTINCT exporter) AS exporters, min(flow_start) AS first, max(flow_start) AS last FROM flows",
    ),
    (
        "Top exporters",
        "SELECT exporter, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY exporter ORDER BY bytes DESC",
    ),
    (
        "Top talkers",
        "SELECT src_addr, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY src_addr ORDER BY bytes DESC LIMIT 10",
    ),
];

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let keep = args.data.is_some();
    let data_dir = args.data.clone().unwrap_or_else(|| scratch.path().join("data"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let settings = NodeSettings {
            name: "demo".to_string(),
            data_dir: data_dir.clone(),
            flows: vec!["127.0.0.1:0".parse()?],
            metrics: "127.0.0.1:0".parse()?,
            recv_buffer: 8 << 20,
            window: Duration::from_secs(300),
            fsync_interval: Duration::from_secs(1),
            seal_grace: Duration::from_secs(30),
            max_lateness: Duration::from_secs(30 * 24 * 3600),
            max_lead: Duration::from_secs(3600),
            query: args.query,
            query_resources: engine::sql::QueryResources::default(),
            query_limits: flight::QueryLimits::default(),
        };
        let node = Node::start(settings).await?;
        let target = node.ready.flows[0];
        let query_addr = node.ready.query.to_string();
        println!(
            "node: data {} flows udp://{target} metrics http://{}/metrics flight sql grpc://{query_addr}",
            data_dir.display(),
            node.ready.metrics
        );

        let gen_config = GenConfig {
            exporters: args.exporters,
            flows: args.flows,
            start_ms: now_ms() - 600_000,
            span_ms: 600_000,
            ..GenConfig::default()
        };
        let mut send_config = SendConfig::new(target);
        send_config.rate = args.rate;
        let started = Instant::now();
        let report = tokio::task::spawn_blocking(move || {
            let mut generator = Generator::new(gen_config)?;
            datasets::send::run(&mut generator, &send_config, None, &AtomicBool::new(false))
        })
        .await??;
        println!(
            "sent {} flows in {} datagrams at {:.0} flows/s",
            report.flows, report.datagrams, report.flows_per_second
        );

        let stored = wait_until_stored(&query_addr, report.flows).await?;
        println!(
            "stored {stored} of {} flows, {:.1} s after the first datagram\n",
            report.flows,
            started.elapsed().as_secs_f64()
        );
        for (title, sql) in SUMMARY {
            println!("{title}:  {sql}");
            print(&super::sql::remote(&query_addr, sql).await?, Format::Table)?;
        }
        if args.serve {
            let example = "SELECT proto_name(protocol) AS proto, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC";
            println!("serving; try: flowfold sql --connect {query_addr} \"{example}\"   (Ctrl-C stops)");
            tokio::signal::ctrl_c().await?;
        }
        node.shutdown().await?;
        let (files, bytes) = parquet_size(&data_dir.join("flows"));
        println!(
            "sealed into {files} Parquet files, {bytes} bytes, {:.1} bytes per flow",
            bytes as f64 / stored.max(1) as f64
        );
        if keep {
            let example = "SELECT dst_port, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 5";
            println!("try: flowfold sql --data {} \"{example}\"", data_dir.display());
        }
        anyhow::Ok(())
    })?;
    if !keep {
        println!("(the temporary data directory is removed; pass --data DIR to keep it)");
    }
    Ok(())
}

/// Polls the flow count (over Flight SQL) until `expected` flows are visible or the count stops
/// growing.
async fn wait_until_stored(query_addr: &str, expected: u64) -> anyhow::Result<u64> {
    let mut last = 0;
    let mut still = 0;
    loop {
        let batches = super::sql::remote(query_addr, "SELECT count(*) AS n FROM flows").await?;
        let count = batches
            .first()
            .and_then(|b| arrow::array::cast::AsArray::as_primitive_opt::<arrow::datatypes::Int64Type>(b.column(0)))
            .map(|a| a.value(0) as u64)
            .context("count(*) result")?;
        if count >= expected || (count == last && still >= 10) {
            return Ok(count);
        }
        still = if count == last { still + 1 } else { 0 };
        last = count;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn parquet_size(dir: &std::path::Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let (f, b) = parquet_size(&path);
            files += f;
            bytes += b;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    (files, bytes)
}
