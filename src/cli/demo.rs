//! `flowfold demo`: a whole local cluster in this process, on a temporary directory and free
//! loopback ports: two slaves, the proxy merging their partial aggregates, and a master. The
//! generator feeds each slave half of the exporters (NetFlow v5, v9 and IPFIX); then a summary
//! in SQL asked of the master over Flight SQL, and where each stage of a query ran.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::Context;
use datasets::generator::{GenConfig, Generator};
use datasets::send::{SendConfig, now_ms};

use crate::master::{Master, MasterSettings};
use crate::node::{Node, NodeSettings};
use crate::output::{Format, print};
use crate::proxy::Proxy;

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
    /// After the summary, keep the cluster running (the master answering Flight SQL on
    /// `--query`) until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// Flight SQL address of the demo's master (with `--serve` you may want a fixed port).
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
        let slaves = [
            Node::start(slave_settings("s1", &data_dir)).await?,
            Node::start(slave_settings("s2", &data_dir)).await?,
        ];
        let resources = engine::sql::QueryResources::default();
        let any: std::net::SocketAddr = "127.0.0.1:0".parse()?;
        let proxy = Proxy::start(any, any, &resources, None, None).await?;
        let node = |name: &str, addr: std::net::SocketAddr| planner::SlaveRef::new(name, addr.to_string());
        let topology = planner::Topology {
            source_groups: vec![planner::SourceGroup {
                name: "demo-site".into(),
                proxy_groups: vec![planner::ProxyGroup {
                    name: "demo-group".into(),
                    priority: 1,
                    proxy: Some(node("p1", proxy.ready.query)),
                    slaves: vec![node("s1", slaves[0].ready.query), node("s2", slaves[1].ready.query)],
                }],
            }],
        };
        let master = Master::start(MasterSettings {
            topology,
            timeouts: planner::WorkerTimeouts::default(),
            down_for: planner::DEFAULT_DOWN_FOR,
            query: args.query,
            metrics: any,
            query_resources: resources,
            query_limits: flight::QueryLimits::default(),
            catalog: None,
            control: crate::config::control::MasterControlSection {
                listen: any,
                ..Default::default()
            },
        })
        .await?;
        let query_addr = master.ready.query.to_string();
        for (name, slave) in ["s1", "s2"].iter().zip(&slaves) {
            println!(
                "slave {name}: data {} flows udp://{} query grpc://{}",
                slave.ready.data.display(),
                slave.ready.flows[0],
                slave.ready.query
            );
        }
        println!("proxy p1: grpc://{}", proxy.ready.query);
        println!(
            "master: flight sql grpc://{query_addr} metrics http://{}/metrics",
            master.ready.metrics
        );

        let started = Instant::now();
        let halves = [(slaves[0].ready.flows[0], 1), (slaves[1].ready.flows[0], 2)];
        let mut sends = Vec::new();
        for (i, (target, seed)) in halves.into_iter().enumerate() {
            let gen_config = GenConfig {
                seed,
                exporters: args.exporters.div_ceil(2),
                flows: args.flows / 2,
                start_ms: now_ms() - 600_000,
                span_ms: 600_000,
                exporter_base: std::net::Ipv4Addr::new(127, 0, 1 + i as u8, 1),
                ..GenConfig::default()
            };
            let mut send_config = SendConfig::new(target);
            send_config.rate = args.rate / 2;
            sends.push(tokio::task::spawn_blocking(move || {
                let mut generator = Generator::new(gen_config)?;
                datasets::send::run(&mut generator, &send_config, None, &AtomicBool::new(false))
            }));
        }
        let (mut flows, mut datagrams) = (0, 0);
        for send in sends {
            let report = send.await??;
            flows += report.flows;
            datagrams += report.datagrams;
        }
        println!(
            "sent {flows} flows in {datagrams} datagrams in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let stored = wait_until_stored(&query_addr, flows).await?;
        println!(
            "stored {stored} of {flows} flows, {:.1} s after the first datagram\n",
            started.elapsed().as_secs_f64()
        );
        for (title, sql) in SUMMARY {
            println!("{title}:  {sql}");
            print(&super::sql::remote(&query_addr, sql).await?, Format::Table)?;
        }
        let explain = format!("EXPLAIN {}", SUMMARY[1].1);
        println!(
            "Where \"Top exporters\" ran (partial aggregates on the slaves, merged on the proxy, final on the master):"
        );
        let plan = super::sql::remote(&query_addr, &explain).await?;
        print_distributed_plan(&plan);
        show_profile(master.ready.metrics, &query_addr).await?;
        if args.serve {
            let example = "SELECT proto_name(protocol) AS proto, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC";
            println!("serving; try: flowfold sql --connect {query_addr} \"{example}\"   (Ctrl-C stops)");
            tokio::signal::ctrl_c().await?;
        }
        master.shutdown().await;
        proxy.shutdown().await?;
        for slave in slaves {
            slave.shutdown().await?;
        }
        let (files, bytes) = parquet_size(&data_dir);
        println!(
            "sealed into {files} Parquet files, {bytes} bytes, {:.1} bytes per flow",
            bytes as f64 / stored.max(1) as f64
        );
        if keep {
            let example = "SELECT dst_port, count(*) FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 5";
            println!("try: flowfold sql --data {}/s1 \"{example}\"", data_dir.display());
        }
        anyhow::Ok(())
    })?;
    if !keep {
        println!("(the temporary data directory is removed; pass --data DIR to keep it)");
    }
    Ok(())
}

/// A sub-profile created through the master's admin route, queried at once over the flows
/// already stored (profiles are views).
async fn show_profile(admin: std::net::SocketAddr, query_addr: &str) -> anyhow::Result<()> {
    let profile = serde_json::json!({
        "name": "web",
        "channels": [
            { "name": "https", "filter": { "nfdump": "proto tcp and dst port 443" } },
            { "name": "dns", "filter": { "sql": "dst_port = 53" } },
        ],
    })
    .to_string();
    tokio::task::spawn_blocking(move || super::admin::request(admin, "POST", "/profiles", Some(&profile))).await??;
    let sql = "SELECT 'https' AS channel, count(*) AS flows, sum(bytes) AS bytes FROM web.https \
               UNION ALL SELECT 'dns', count(*), sum(bytes) FROM web.dns ORDER BY channel";
    println!(
        "Profile web (flowfold admin profile create web --channel 'https=proto tcp and dst port 443' ...):  {sql}"
    );
    print(&super::sql::remote(query_addr, sql).await?, Format::Table)
}

/// The settings of demo slave `name`, storing under `data_dir/name`.
fn slave_settings(name: &str, data_dir: &std::path::Path) -> NodeSettings {
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    NodeSettings {
        name: name.to_string(),
        data_dir: data_dir.join(name),
        flows: vec![any],
        relays: Vec::new(),
        metrics: any,
        recv_buffer: 8 << 20,
        window: Duration::from_secs(300),
        fsync_interval: Duration::from_secs(1),
        seal_grace: Duration::from_secs(30),
        max_lateness: Duration::from_secs(30 * 24 * 3600),
        max_lead: Duration::from_secs(3600),
        rollups: true,
        query: any,
        query_resources: engine::sql::QueryResources::default(),
        query_limits: flight::QueryLimits::default(),
        retention: engine::store::retention::RetentionRules::default(),
        retention_interval: Duration::from_secs(60),
        retention_grace: flight::QueryLimits::default().timeout,
        control: None,
    }
}

/// Prints the `distributed_plan` row of an `EXPLAIN` answer as it is (a drawing).
fn print_distributed_plan(batches: &[arrow::array::RecordBatch]) {
    use arrow::array::AsArray;
    for batch in batches {
        let (kinds, plans) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
        for row in 0..batch.num_rows() {
            if kinds.value(row) == "distributed_plan" {
                println!("{}\n", plans.value(row));
            }
        }
    }
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
