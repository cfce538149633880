//! What `flowfold top` ranks (`--stat`) and by what (`--order`), with the names nfdump's `-s`
//! uses for them.

use clap::ValueEnum;

/// A flow element to rank flows by, as nfdump's `-s` statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stat {
    /// Source address.
    Srcip,
    /// Destination address.
    Dstip,
    /// Source or destination address (a flow counts under both).
    Ip,
    /// Source port.
    Srcport,
    /// Destination port.
    Dstport,
    /// Source or destination port (a flow counts under both).
    Port,
    /// IP protocol.
    Proto,
    /// Source AS number.
    Srcas,
    /// Destination AS number.
    Dstas,
    /// Source or destination AS number (a flow counts under both).
    As,
    /// Input interface.
    Inif,
    /// Output interface.
    Outif,
    /// Input or output interface (a flow counts under both).
    If,
    /// Exporter address (nfdump's `router`).
    #[value(alias = "router")]
    Exporter,
}

/// How a stat's value column is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// An address column: shown as text by `ip_text()`.
    Address,
    /// A number.
    Number,
}

impl Stat {
    /// The flow columns whose values are counted: one, or two for the either-side stats (a
    /// flow then counts once under each value, as nfdump does).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Stat::Srcip => &["src_addr"],
            Stat::Dstip => &["dst_addr"],
            Stat::Ip => &["src_addr", "dst_addr"],
            Stat::Srcport => &["src_port"],
            Stat::Dstport => &["dst_port"],
            Stat::Port => &["src_port", "dst_port"],
            Stat::Proto => &["protocol"],
            Stat::Srcas => &["src_as"],
            Stat::Dstas => &["dst_as"],
            Stat::As => &["src_as", "dst_as"],
            Stat::Inif => &["input_if"],
            Stat::Outif => &["output_if"],
            Stat::If => &["input_if", "output_if"],
            Stat::Exporter => &["exporter"],
        }
    }

    /// Whether values are addresses or numbers.
    pub fn kind(self) -> ValueKind {
        match self {
            Stat::Srcip | Stat::Dstip | Stat::Ip | Stat::Exporter => ValueKind::Address,
            _ => ValueKind::Number,
        }
    }

    /// The heading nfdump prints for the value column (`Src IP Addr`, `Dst Port`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Stat::Srcip => "Src IP Addr",
            Stat::Dstip => "Dst IP Addr",
            Stat::Ip => "IP Addr",
            Stat::Srcport => "Src Port",
            Stat::Dstport => "Dst Port",
            Stat::Port => "Port",
            Stat::Proto => "Protocol",
            Stat::Srcas => "Src AS",
            Stat::Dstas => "Dst AS",
            Stat::As => "AS",
            Stat::Inif => "Input If",
            Stat::Outif => "Output If",
            Stat::If => "In/Out If",
            Stat::Exporter => "Router IP",
        }
    }
}

/// What the ranking is ordered by (largest first), as nfdump's `-s STAT/ORDER`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Order {
    /// Number of flows.
    #[default]
    Flows,
    /// Packets.
    Packets,
    /// Bytes.
    Bytes,
    /// Packets per second.
    Pps,
    /// Bits per second.
    Bps,
    /// Bytes per packet.
    Bpp,
}

impl Order {
    /// The name nfdump prints (`ordered by bytes`), also the result column ordered by.
    pub fn name(self) -> &'static str {
        match self {
            Order::Flows => "flows",
            Order::Packets => "packets",
            Order::Bytes => "bytes",
            Order::Pps => "pps",
            Order::Bps => "bps",
            Order::Bpp => "bpp",
        }
    }
}
