//! Decoder integration tests: round trips through the dataset encoders, hand-built packets,
//! checked-in captures, malformed input, template snapshots.

mod fixtures;
mod malformed;
mod packets;
mod round_trip;
mod semantics;
mod snapshot;
mod util;
