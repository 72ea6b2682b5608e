//! What the workload tests share: a small, valid workload.

/// A small valid workload: two nodes, a broadcast, a map and reducer actors, ten iterations,
/// and a sweep of two parameters.
pub const GOOD: &str = r#"
name = "tiny"

[params]
size = "1MiB"
width = 4

[cluster]
nodes = 2
cpus = 2
store = "1GiB"
nic_bandwidth = "10Gbit/s"
latency = "100us"

[tasks.make]
output_size = "$size"
fixed = "1ms"
output_rate = "1GB/s"

[tasks.pass]
output_size = "input"

[actors.Sink.methods.take]
outputs = 0
record = true

[[stage]]
name = "data"
op = "broadcast"
task = "make"
width = "$width"

[[stage]]
name = "sinks"
op = "init_actors"
actor = "Sink"
count = 2

[[stage]]
name = "maps"
op = "map"
task = "pass"
input = "data"

[[stage]]
name = "reduce"
op = "reduce_actors"
actors = "sinks"
method = "take"
input = "maps"

[schedule]
period = "100ms"
mode = "fixed-delay"
iterations = 10
warmup = "200ms"

[sweep]
policies = ["random"]
seeds = [1, 2]

[sweep.params]
size = { from = "1MiB", to = "3MiB", step = "1MiB" }
width = [2, 4]
"#;
