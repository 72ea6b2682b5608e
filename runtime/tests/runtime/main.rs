//! Integration tests of the runtime: the driver API on a real `Cluster`, with exact
//! assertions wherever the virtual clock makes values exact.

mod common;

mod actors;
mod deferral;
mod determinism;
mod errors;
mod faults;
mod ir;
mod kills;
mod mapreduce;
mod model;
mod network;
mod objects;
mod props;
mod spill;
mod staleness;
mod transport;
