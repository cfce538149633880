//! Integration tests of flowfold-datasets: generator, ground truth, loopback sender.

mod generator;
mod send;
mod truth;
