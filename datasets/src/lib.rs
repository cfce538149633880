//! flowfold datasets: a deterministic flow generator with its ground truth, and encoders that
//! turn flow records into NetFlow v5, v9 and IPFIX datagrams.
//!
//! - `generator`: seeded, skewed flow records for K exporters (Zipf hosts and ports, ~10% IPv6,
//!   heavy-tailed sizes, TCP/UDP/ICMP mix).
//! - `encode`: NetFlow v5, v9 and IPFIX export packets from flow records (templates included and
//!   refreshed), used by the generator's sender, the decoder tests and the benchmarks.
//! - `truth`: the ground truth written as Parquet in the flow schema.
//! - `send`: sends encoded export over UDP from distinct 127.x source addresses at a target rate.

pub mod encode;
pub mod generator;
pub mod send;
pub mod truth;
