//! Benchmarks of the runtime core (filled in below).
fn main() {}
