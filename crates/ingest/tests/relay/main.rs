//! Flow-source distribution over real UDP sockets on loopback: slaves with relay listeners
//! over temporary stores, a forwarder in front of them, exporters on 127.0.0.x addresses
//! (NetFlow v5, and v9 / IPFIX with templates for the rebalancing tests).

mod bad_frames;
mod forward;
mod harness;
mod rebalance_templates;
