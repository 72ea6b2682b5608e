//! `--set`: parameters by name, and every numeric key of the file by its key path; and the
//! warm-up that would leave nothing to measure, named with what to set.

use cohort_workloads::{End, StageOp, Workload, WorkloadError};
use std::collections::BTreeMap;

mod common;

use common::GOOD;

fn sets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tiny() -> Workload {
    Workload::parse("tiny.toml", GOOD).unwrap()
}

fn shipped(name: &str) -> Workload {
    let path = format!("{}/files/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    // Shown as a relative name, so that messages compare without this machine's paths.
    let text = std::fs::read_to_string(path).unwrap();
    Workload::parse(&format!("{name}.toml"), &text).unwrap()
}

fn message(w: &Workload, pairs: &[(&str, &str)]) -> String {
    w.resolve(&sets(pairs)).unwrap_err().to_string()
}

#[test]
fn a_shorter_duration_alone_says_to_set_the_warm_up_too_in_units() {
    let w = shipped("streaming");
    // The file's warm-up is "$warmup": the parameter is what to set.
    assert_eq!(
        message(&w, &[("duration", "5s")]),
        "streaming.toml: warm-up 25 s >= duration 5 s: nothing would be measured; also --set \
         warmup=... (less than 5 s)"
    );
    assert_eq!(
        message(&w, &[("schedule.duration", "2500ms")]),
        "streaming.toml: warm-up 25 s >= duration 2.5 s: nothing would be measured; also --set \
         warmup=... (less than 2.5 s)"
    );
    assert_eq!(
        message(&w, &[("warmup", "100s")]),
        "streaming.toml: warm-up 100 s >= duration 100 s: nothing would be measured; --set \
         warmup=... less than 100 s"
    );
    let ok = w
        .resolve(&sets(&[("duration", "5s"), ("warmup", "1s")]))
        .unwrap();
    assert_eq!(
        (ok.schedule.end, ok.schedule.warmup),
        (End::Duration(5_000_000_000), 1_000_000_000)
    );
    // A file that writes the warm-up itself: the key is what to set.
    let t = shipped("tree-reduce");
    assert_eq!(
        message(&t, &[("schedule.duration", "3s")]),
        "tree-reduce.toml: warm-up 5 s >= duration 3 s: nothing would be measured; also --set \
         schedule.warmup=... (less than 3 s)"
    );
    let ok = t
        .resolve(&sets(&[
            ("schedule.duration", "3s"),
            ("schedule.warmup", "1s"),
        ]))
        .unwrap();
    assert_eq!(ok.schedule.warmup, 1_000_000_000);
    // The file alone: pointed at, with what to change.
    let text = GOOD.replace("iterations = 10", "duration = \"150ms\"");
    let e = Workload::parse("bad.toml", &text)
        .unwrap()
        .resolve(&BTreeMap::new())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad.toml:56:10: schedule.warmup: warm-up 200 ms >= duration 150 ms: nothing would be \
         measured; make schedule.warmup less than 150 ms"
    );
}

#[test]
fn every_numeric_key_can_be_set_on_the_command_line() {
    let w = shipped("streaming");
    let r = w
        .resolve(&sets(&[
            ("cluster.nic_bandwidth", "1.25Gbit/s"),
            ("cluster.nodes", "1000"),
            ("data_size", "1MiB"),
        ]))
        .unwrap();
    assert_eq!(r.spec.network.nic_bandwidth, 156_250_000);
    assert_eq!(r.spec.nodes.len(), 1000);
    // The harness is told which overrides were keys and which were parameters.
    assert_eq!(
        r.keys,
        sets(&[
            ("cluster.nic_bandwidth", "1.25Gbit/s"),
            ("cluster.nodes", "1000")
        ])
    );
    assert_eq!(r.params["data_size"], "1MiB");
    assert!(!r.params.contains_key("cluster.nodes"));

    let r = tiny()
        .resolve(&sets(&[
            ("cluster.cpus", "4"),
            ("cluster.store", "2GiB"),
            ("cluster.latency", "1ms"),
            // Optional keys the file leaves out.
            ("cluster.heartbeat", "50ms"),
            ("cluster.submit_cost", "20us"),
            ("cluster.spilling", "true"),
            ("cluster.disk_bandwidth", "200MB/s"),
            ("tasks.make.outputs", "2"),
            ("tasks.make.output_size", "3MiB"),
            ("tasks.pass.output_size", "inputs"),
            ("tasks.pass.cpus", "2"),
            ("tasks.pass.fixed", "2ms"),
            ("tasks.pass.input_rate", "1GB/s"),
            ("tasks.pass.output_rate", "2GB/s"),
            ("tasks.pass.cost_by_output_size", "1MiB:1ms, 8B : 10us"),
            ("actors.Sink.creation.fixed", "5ms"),
            ("actors.Sink.methods.take.cost_by_input_size", "1KB:2us"),
            ("actors.Sink.creation.cpus", "2"),
            ("actors.Sink.methods.take.fixed", "3ms"),
            ("actors.Sink.methods.take.outputs", "1"),
            ("stage.data.width", "8"),
            ("stage.sinks.count", "3"),
            ("stage.maps.fan_in", "2"),
            ("stage.maps.repeat", "2"),
            ("schedule.period", "50ms"),
            ("schedule.iterations", "7"),
            ("schedule.warmup", "0ms"),
        ]))
        .unwrap();
    assert_eq!(r.spec.nodes[0].cpus, 4);
    assert_eq!(r.spec.nodes[0].store_capacity, 2 << 30);
    assert_eq!(r.spec.network.latency, 1_000_000);
    assert_eq!((r.heartbeat, r.submit_cost), (50_000_000, 20_000));
    assert_eq!(
        r.spec.spilling,
        Some(cohort_runtime::Spilling {
            disk_bandwidth: 200_000_000
        })
    );
    // Without spilling, the disk's bandwidth does not matter; with it, EC2 m5.xlarge's EBS
    // bandwidth is the default.
    assert_eq!(tiny().resolve(&sets(&[])).unwrap().spec.spilling, None);
    assert_eq!(
        tiny()
            .resolve(&sets(&[("cluster.spilling", "true")]))
            .unwrap()
            .spec
            .spilling,
        Some(cohort_runtime::Spilling {
            disk_bandwidth: 593_750_000
        })
    );
    assert!(message(&tiny(), &[("cluster.spilling", "yes")]).contains("expected true or false"));
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.spilling", "true"),
                ("cluster.disk_bandwidth", "0MB/s")
            ]
        )
        .contains("zero bandwidth")
    );
    let make = &r.tasks["make"];
    assert_eq!(make.outputs, 2);
    assert_eq!(
        make.output_size,
        cohort_workloads::OutputSize::Bytes(3 << 20)
    );
    let pass = &r.tasks["pass"];
    assert_eq!(pass.output_size, cohort_workloads::OutputSize::Inputs);
    assert_eq!(pass.cpus, 2);
    assert_eq!(pass.cost.fixed_ns, 2_000_000);
    assert_eq!(pass.cost.per_input_byte_ps, 1_000);
    assert_eq!(pass.cost.per_output_byte_ps, 500);
    assert_eq!(
        pass.cost.by_output_size.points(),
        &[(8, 10_000), (1 << 20, 1_000_000)]
    );
    assert!(pass.cost.by_input_size.is_none());
    let sink = &r.actors["Sink"];
    assert_eq!(
        (sink.creation_cost.fixed_ns, sink.creation_cpus),
        (5_000_000, 2)
    );
    assert_eq!(sink.methods["take"].cost.fixed_ns, 3_000_000);
    assert_eq!(
        sink.methods["take"].cost.by_input_size.points(),
        &[(1_000, 2_000)]
    );
    assert_eq!(sink.methods["take"].outputs, 1);
    assert!(matches!(
        r.stages[0].op,
        StageOp::Broadcast { width: 8, .. }
    ));
    assert!(matches!(
        r.stages[1].op,
        StageOp::InitActors { count: 3, .. }
    ));
    assert!(matches!(
        r.stages[2].op,
        StageOp::Map {
            fan_in: 2,
            repeat: 2,
            ..
        }
    ));
    assert_eq!(r.schedule.period, 50_000_000);
    assert_eq!(r.schedule.end, End::Iterations(7));
    assert_eq!(r.schedule.warmup, 0);
    // The width was "$width": the key replaces it, and the parameter is no longer used.
    assert!(!r.param_values.contains_key("width"));
}

#[test]
fn a_key_replaces_a_parameter_reference_and_the_other_end_of_the_run() {
    let w = shipped("streaming");
    // heartbeat = "$heartbeat" in the file; the key wins over the parameter.
    let r = w
        .resolve(&sets(&[
            ("cluster.heartbeat", "0ms"),
            ("heartbeat", "300ms"),
        ]))
        .unwrap();
    assert_eq!(r.heartbeat, 0);
    // Setting `iterations` replaces the file's `duration`, and the reverse.
    let r = w.resolve(&sets(&[("schedule.iterations", "3")])).unwrap();
    assert_eq!(r.schedule.end, End::Iterations(3));
    let r = tiny()
        .resolve(&sets(&[("schedule.duration", "1s")]))
        .unwrap();
    assert_eq!(r.schedule.end, End::Duration(1_000_000_000));
    assert_eq!(
        message(
            &tiny(),
            &[("schedule.duration", "1s"), ("schedule.iterations", "3")]
        ),
        "tiny.toml: --set schedule.duration and --set schedule.iterations: give one (the run \
         ends after a duration or after a number of iterations)"
    );
    // A key's value may itself name a parameter, as in the file.
    let r = tiny()
        .resolve(&sets(&[("stage.sinks.count", "$width")]))
        .unwrap();
    assert!(matches!(
        r.stages[1].op,
        StageOp::InitActors { count: 4, .. }
    ));
}

#[test]
fn key_values_are_checked_as_in_the_file() {
    let w = tiny();
    assert_eq!(
        message(&w, &[("cluster.nic_bandwidth", "10")]),
        "tiny.toml: --set cluster.nic_bandwidth=10: 10 has no unit; expected a rate such as \
         \"10Gbit/s\""
    );
    assert_eq!(
        message(&w, &[("cluster.latency", "1.5")]),
        "tiny.toml: --set cluster.latency=1.5: 1.5 is not a whole number and has no unit; \
         expected a duration such as \"100ms\""
    );
    assert_eq!(
        message(&w, &[("tasks.make.fixed", "3 parsecs")]),
        "tiny.toml: --set tasks.make.fixed=3 parsecs: `3 parsecs` has unit `parsecs`; expected \
         one of ns, us (or µs), ms, s; expected a duration such as \"100ms\""
    );
    assert_eq!(
        message(&w, &[("cluster.nodes", "0")]),
        "tiny.toml: --set cluster.nodes=0: the cluster has no nodes"
    );
    assert_eq!(
        message(&w, &[("stage.data.width", "0")]),
        "tiny.toml: --set stage.data.width=0: must be between 1 and 16777216, got 0"
    );
    assert_eq!(
        message(&w, &[("tasks.pass.input_rate", "0GB/s")]),
        "tiny.toml: --set tasks.pass.input_rate=0GB/s: a rate of zero would never finish"
    );
    assert!(
        message(&w, &[("cluster.nodes", "$nope")])
            .contains("--set cluster.nodes=$nope: no parameter `nope` in [params]")
    );
    // A demand no node meets, whichever side was set.
    assert!(
        message(&w, &[("tasks.pass.cpus", "3")])
            .contains("tasks.pass demands 3 CPUs, but no node has more than 2")
    );
}

#[test]
fn unknown_key_paths_are_named_with_the_valid_keys() {
    let w = tiny();
    assert_eq!(
        message(&w, &[("cluster.gpus", "1")]),
        "tiny.toml: --set cluster.gpus=1: [cluster] has no settable key `gpus` (its keys: \
         nodes, cpus, store, nic_bandwidth, latency, inline_objects, nic_limits, heartbeat, submit_cost, spilling, \
         disk_bandwidth, view_accounting, spill_over, object_lifetime, hints, serialize_fixed, \
         serialize_rate, jitter, jitter_spread, latency_jitter_spread, pull_source, transport, chunk_size, \
         transfer_threads, flow_cap, nic_baseline, nic_credit, host_cores, wake_up, transfer_copy_rate, \
         first_touch_rate, set_up_work, head_work, delayed_ack)"
    );
    assert_eq!(
        message(&w, &[("schedule.mode", "fixed-rate")]),
        "tiny.toml: --set schedule.mode=fixed-rate: [schedule] has no settable key `mode` (its \
         keys: period, duration, iterations, warmup, drain)"
    );
    assert_eq!(
        message(&w, &[("tasks.pass.record", "true")]),
        "tiny.toml: --set tasks.pass.record=true: [tasks.pass] has no settable key `record` \
         (its keys: outputs, output_size, cpus, fixed, input_rate, output_rate, \
         cost_by_input_size, cost_by_output_size)"
    );
    assert_eq!(
        message(&w, &[("tasks.fly.fixed", "1ms")]),
        "tiny.toml: --set tasks.fly.fixed=1ms: no task kind `fly` in [tasks] (it has: make, \
         pass)"
    );
    assert_eq!(
        message(&w, &[("actors.Sink.methods.give.fixed", "1ms")]),
        "tiny.toml: --set actors.Sink.methods.give.fixed=1ms: actor kind `Sink` has no method \
         `give` (it has: take)"
    );
    assert_eq!(
        message(&w, &[("actors.Sink.creation.outputs", "1")]),
        "tiny.toml: --set actors.Sink.creation.outputs=1: actors.Sink.creation has no settable \
         key `outputs` (its keys: cpus, fixed, input_rate, output_rate, cost_by_input_size, \
         cost_by_output_size)"
    );
    assert_eq!(
        message(&w, &[("actors.Sunk.creation.fixed", "1ms")]),
        "tiny.toml: --set actors.Sunk.creation.fixed=1ms: no actor kind `Sunk` in [actors] (it \
         has: Sink)"
    );
    assert_eq!(
        message(&w, &[("stage.maps.width", "3")]),
        "tiny.toml: --set stage.maps.width=3: stage `maps` (map) has no settable key `width` \
         (its keys: repeat, fan_in)"
    );
    assert_eq!(
        message(&w, &[("stage.reduce.count", "3")]),
        "tiny.toml: --set stage.reduce.count=3: stage `reduce` (reduce_actors) has no settable \
         key `count` (it has none)"
    );
    assert_eq!(
        message(&w, &[("stage.mpas.repeat", "3")]),
        "tiny.toml: --set stage.mpas.repeat=3: no stage `mpas` (it has: data, sinks, maps, \
         reduce)"
    );
    assert_eq!(
        message(&w, &[("clutser.nodes", "3")]),
        "tiny.toml: --set clutser.nodes=3: no key `clutser.nodes`: a key is cluster.KEY, \
         tasks.NAME.KEY, actors.NAME.creation.KEY, actors.NAME.methods.M.KEY, schedule.KEY, \
         stage.NAME.KEY, fault.N.KEY, recovery.KEY (a plain NAME sets a parameter)"
    );
    // A plain name is still a parameter, and says how keys are set: the key's path when the
    // name is a key's own.
    assert_eq!(
        message(&w, &[("nodes", "3")]),
        "tiny.toml: --set nodes: the workload has no parameter `nodes` (it has: size, width; \
         did you mean cluster.nodes?)"
    );
    assert_eq!(
        message(&w, &[("warmup", "1s")]),
        "tiny.toml: --set warmup: the workload has no parameter `warmup` (it has: size, width; \
         did you mean schedule.warmup?)"
    );
    assert_eq!(
        message(&w, &[("fixed", "1ms")]),
        "tiny.toml: --set fixed: the workload has no parameter `fixed` (it has: size, width; a \
         task kind's is set as tasks.NAME.fixed)"
    );
    assert_eq!(
        message(&w, &[("colour", "red")]),
        "tiny.toml: --set colour: the workload has no parameter `colour` (it has: size, width; \
         a key of the file is set as SECTION.KEY, e.g. cluster.nodes)"
    );
}

#[test]
fn errors_are_whole_not_located_when_the_command_line_is_at_fault() {
    let e = tiny()
        .resolve(&sets(&[("cluster.nodes", "0")]))
        .unwrap_err();
    assert!(matches!(e, WorkloadError::Whole { .. }), "{e:?}");
}

#[test]
fn the_runtime_model_options_resolve_from_cluster_keys_with_clear_errors() {
    use cohort_runtime::{Jitter, ModelOptions, ObjectLifetime, Serialization, ViewAccounting};
    assert_eq!(
        tiny().resolve(&sets(&[])).unwrap().model,
        ModelOptions::default()
    );
    let r = tiny()
        .resolve(&sets(&[
            ("cluster.heartbeat", "100ms"),
            ("cluster.view_accounting", "placements"),
            ("cluster.spill_over", "true"),
            ("cluster.object_lifetime", "lru_ir_release"),
            ("cluster.hints", "inferred"),
            ("cluster.serialize_fixed", "20us"),
            ("cluster.serialize_rate", "1GB/s"),
            ("cluster.jitter", "uniform"),
            ("cluster.jitter_spread", "0.1"),
            ("cluster.latency_jitter_spread", "0.25"),
            ("cluster.pull_source", "random"),
            ("cluster.host_cores", "2"),
            ("cluster.wake_up", "10ms:200us, 1ms : 60us"),
            ("cluster.transfer_copy_rate", "1GB/s"),
            ("cluster.first_touch_rate", "2GB/s"),
            ("cluster.set_up_work", "40us"),
            ("cluster.head_work", "25us"),
            ("cluster.delayed_ack", "40ms"),
            ("recovery.pull_timeout", "10s"),
            ("schedule.drain", "30s"),
        ]))
        .unwrap();
    assert_eq!(
        r.model,
        ModelOptions {
            view_accounting: ViewAccounting::Placements,
            spill_over: true,
            object_lifetime: ObjectLifetime::LruIrRelease,
            serialization: Some(Serialization {
                per_object: 20_000,
                per_byte_ps: 1_000,
            }),
            jitter: Jitter::Uniform {
                spread_ppm: 100_000
            },
            latency_jitter: Jitter::Uniform {
                spread_ppm: 250_000
            },
            pull_source: cohort_runtime::PullSource::Random,
            host_cores: Some(2),
            hints: cohort_runtime::HintSource::Inferred,
            wake_up: cohort_runtime::WakeUp::new(&[(1_000_000, 60_000), (10_000_000, 200_000)])
                .unwrap(),
            transfer_cpu_ps: 1_000,
            first_touch_ps: 500,
            set_up_work: Some(40_000),
            head_work: 25_000,
            delayed_ack: 40_000_000,
        }
    );
    assert_eq!(r.spec.recovery.pull_timeout, 10_000_000_000);
    assert_eq!(r.schedule.drain, Some(30_000_000_000));
    assert_eq!(
        message(&tiny(), &[("cluster.view_accounting", "some")]),
        "tiny.toml: --set cluster.view_accounting=some: `some` is not one of none, placements"
    );
    assert_eq!(
        message(&tiny(), &[("cluster.object_lifetime", "gc")]),
        "tiny.toml: --set cluster.object_lifetime=gc: `gc` is not one of refcount, lru, lru_ir_release"
    );
    assert!(
        message(&tiny(), &[("cluster.spill_over", "true")]).contains("needs a heartbeat"),
        "the tiny file has no heartbeat"
    );
    assert!(message(&tiny(), &[("cluster.jitter", "uniform")]).contains(
        "cluster.jitter = \"uniform\" needs cluster.jitter_spread or \
             cluster.latency_jitter_spread"
    ));
    assert!(
        message(&tiny(), &[("cluster.jitter_spread", "0.1")]).contains("without cluster.jitter")
    );
    assert_eq!(
        message(&tiny(), &[("cluster.latency_jitter_spread", "0.1")]),
        "tiny.toml: --set cluster.latency_jitter_spread=0.1: a spread without cluster.jitter = \
         \"uniform\" or \"lognormal\""
    );
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.jitter", "uniform"),
                ("cluster.jitter_spread", "1.5")
            ]
        )
        .contains("below 1")
    );
    assert!(message(&tiny(), &[("cluster.serialize_rate", "0GB/s")]).contains("rate of zero"));
    assert!(
        message(&tiny(), &[("cluster.host_cores", "0")]).contains("between 1 and"),
        "{}",
        message(&tiny(), &[("cluster.host_cores", "0")])
    );
    for (bad, why) in [
        ("1ms", "step `1ms`: expected steps `IDLE:COST, ...`"),
        ("1ms:60", "step `1ms:60`: expected steps"),
        ("1ms:6us, 1000us:7us", "two steps with the same idle time"),
        ("3", "`3`: expected steps"),
        (
            "1us:1us, 2us:1us, 3us:1us, 4us:1us, 5us:1us, 6us:1us, 7us:1us, 8us:1us, 9us:1us",
            "9 steps, at most 8",
        ),
    ] {
        let m = message(&tiny(), &[("cluster.wake_up", bad)]);
        assert!(
            m.starts_with(&format!("tiny.toml: --set cluster.wake_up={bad}: ")) && m.contains(why),
            "{m}"
        );
    }
    let none = tiny()
        .resolve(&sets(&[("cluster.wake_up", "none")]))
        .unwrap();
    assert!(none.model.wake_up.is_none());
    for (bad, why) in [
        ("1MiB", "point `1MiB`: expected points `SIZE:DURATION, ...`"),
        ("1MiB:60", "point `1MiB:60`: expected points"),
        ("1ms:60us", "point `1ms:60us`: expected points"),
        ("1KiB:6us, 1024B:7us", "two points with the same size"),
        ("3", "`3`: expected points"),
        (
            "1B:1us, 2B:1us, 3B:1us, 4B:1us, 5B:1us, 6B:1us, 7B:1us, 8B:1us, 9B:1us",
            "9 points, at most 8",
        ),
    ] {
        let key = "tasks.pass.cost_by_input_size";
        let m = message(&tiny(), &[(key, bad)]);
        assert!(
            m.starts_with(&format!("tiny.toml: --set {key}={bad}: ")) && m.contains(why),
            "{m}"
        );
    }
    let none = tiny()
        .resolve(&sets(&[("cluster.delayed_ack", "none")]))
        .unwrap();
    assert_eq!(none.model.delayed_ack, 0);
    // Objects small enough move inline (no latency); none by default, or with "none".
    let inline = |v: &str| {
        tiny()
            .resolve(&sets(&[("cluster.inline_objects", v)]))
            .map(|r| r.spec.network.inline_max)
    };
    assert_eq!(
        tiny().resolve(&sets(&[])).unwrap().spec.network.inline_max,
        None
    );
    assert_eq!(inline("100KiB").unwrap(), Some(102_400));
    assert_eq!(inline("none").unwrap(), None);
    assert_eq!(inline("100").unwrap(), Some(100));
    let m = message(&tiny(), &[("cluster.inline_objects", "1ms")]);
    assert!(
        m.starts_with("tiny.toml: --set cluster.inline_objects=1ms: ")
            && m.contains("expected a size such as"),
        "{m}"
    );
    assert_eq!(
        message(&tiny(), &[("cluster.delayed_ack", "40")]),
        "tiny.toml: --set cluster.delayed_ack=40: 40 has no unit; expected a duration such as \"100ms\""
    );
    assert!(
        message(&tiny(), &[("cluster.transfer_copy_rate", "1GB/s")])
            .contains("cluster.transfer_copy_rate needs cluster.host_cores")
    );
    assert!(
        message(&tiny(), &[("cluster.first_touch_rate", "1GB/s")])
            .contains("cluster.first_touch_rate needs cluster.host_cores")
    );
    assert!(
        message(&tiny(), &[("cluster.set_up_work", "50us")])
            .contains("cluster.set_up_work needs cluster.host_cores")
    );
    assert!(
        message(&tiny(), &[("cluster.head_work", "20us")])
            .contains("cluster.head_work needs cluster.host_cores")
    );
    let none = tiny()
        .resolve(&sets(&[("cluster.set_up_work", "none")]))
        .unwrap();
    assert_eq!(none.model.set_up_work, None);
    // "none" turns an optional cost off, as if the file did not give it.
    let off = shipped("streaming-ray-v0.6")
        .resolve(&sets(&[
            ("cluster.serialize_rate", "none"),
            ("cluster.flow_cap", "none"),
            ("cluster.nic_baseline", "none"),
            ("cluster.nic_credit", "none"),
        ]))
        .unwrap();
    assert_eq!(off.model.serialization, None);
    assert_eq!(
        off.spec.network.transport,
        cohort_runtime::core::transport::TransportModel::Chunked(cohort_runtime::ChunkedSpec {
            chunk_size: 1_000_000,
            send_threads: 1,
            recv_threads: 1,
            flow_cap: None,
            bucket: None,
        })
    );
    // An ablation's `--set` of another transport, or of no jitter, leaves the file's
    // parameters of them unused.
    let fluid = shipped("streaming-ray-v0.6")
        .resolve(&sets(&[
            ("cluster.transport", "fluid"),
            ("cluster.jitter", "none"),
        ]))
        .unwrap();
    assert_eq!(
        fluid.spec.network.transport,
        cohort_runtime::core::transport::TransportModel::Fluid
    );
    assert_eq!(fluid.model.jitter, Jitter::None);
    let ray = shipped("streaming-ray-v0.6").resolve(&sets(&[])).unwrap();
    assert_eq!(
        ray.spec.network.transport,
        cohort_runtime::core::transport::TransportModel::Chunked(cohort_runtime::ChunkedSpec {
            chunk_size: 1_000_000,
            send_threads: 1,
            recv_threads: 1,
            flow_cap: Some(625_000_000),
            bucket: Some(cohort_runtime::TokenBucket {
                baseline: 156_250_000,
                credit: 328_000_000_000,
            }),
        })
    );
    assert!(
        message(&tiny(), &[("cluster.chunk_size", "1MB")]).contains("not \"chunked\""),
        "a chunked parameter without the chunked transport"
    );
    assert!(
        message(&tiny(), &[("cluster.transport", "tcp")]).contains("not one of fluid, chunked")
    );
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.transport", "chunked"),
                ("cluster.nic_baseline", "1Gbit/s")
            ]
        )
        .contains("go together")
    );
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.transport", "chunked"),
                ("cluster.transfer_threads", "0")
            ]
        )
        .contains("between 1 and")
    );
    // NICs limit both directions unless "send"; the chunked transport refuses "send".
    let limits = |v: &[(&str, &str)]| tiny().resolve(&sets(v)).map(|r| r.spec.network.nic_limits);
    assert_eq!(limits(&[]).unwrap(), cohort_runtime::NicLimits::Both);
    assert_eq!(
        limits(&[("cluster.nic_limits", "both")]).unwrap(),
        cohort_runtime::NicLimits::Both
    );
    assert_eq!(
        limits(&[("cluster.nic_limits", "send")]).unwrap(),
        cohort_runtime::NicLimits::Send
    );
    assert_eq!(
        message(&tiny(), &[("cluster.nic_limits", "receive")]),
        "tiny.toml: --set cluster.nic_limits=receive: `receive` is not one of both, send"
    );
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.transport", "chunked"),
                ("cluster.nic_limits", "send")
            ]
        )
        .starts_with(
            "tiny.toml: --set cluster.nic_limits=send: \"send\" needs the fluid transport"
        )
    );
    assert!(message(&tiny(), &[("recovery.pull_timeout", "10")]).contains("no unit"));
}

#[test]
fn a_log_normal_jitter_takes_a_spread_for_durations_and_one_for_latencies() {
    use cohort_runtime::Jitter;
    let r = tiny()
        .resolve(&sets(&[
            ("cluster.jitter", "lognormal"),
            ("cluster.jitter_spread", "0.4"),
            ("cluster.latency_jitter_spread", "0.612"),
        ]))
        .unwrap();
    assert_eq!(r.model.jitter, Jitter::LogNormal { sigma_ppm: 400_000 });
    assert_eq!(
        r.model.latency_jitter,
        Jitter::LogNormal { sigma_ppm: 612_000 }
    );
    // Either spread alone: the other kind of noise is off.
    let latency_only = tiny()
        .resolve(&sets(&[
            ("cluster.jitter", "lognormal"),
            ("cluster.latency_jitter_spread", "0.5"),
        ]))
        .unwrap();
    assert_eq!(latency_only.model.jitter, Jitter::None);
    assert_eq!(
        latency_only.model.latency_jitter,
        Jitter::LogNormal { sigma_ppm: 500_000 }
    );
    assert_eq!(
        message(&tiny(), &[("cluster.jitter", "lognormal")]),
        "tiny.toml: cluster.jitter = \"lognormal\" needs cluster.jitter_spread or \
         cluster.latency_jitter_spread (e.g. 0.4: each duration times e^(0.4 Z), Z a standard \
         normal draw)"
    );
    assert!(
        message(
            &tiny(),
            &[
                ("cluster.jitter", "lognormal"),
                ("cluster.latency_jitter_spread", "3.5")
            ]
        )
        .contains("--set cluster.latency_jitter_spread=3.5: a log-normal spread above 3")
    );
    // A spread of 1 or more is a log-normal spread, not an error.
    assert_eq!(
        tiny()
            .resolve(&sets(&[
                ("cluster.jitter", "lognormal"),
                ("cluster.jitter_spread", "1.5"),
            ]))
            .unwrap()
            .model
            .jitter,
        Jitter::LogNormal {
            sigma_ppm: 1_500_000
        }
    );
    // An ablation's `--set` of no jitter leaves both spreads unused.
    let ablated = tiny()
        .resolve(&sets(&[
            ("cluster.jitter", "none"),
            ("cluster.jitter_spread", "0.4"),
            ("cluster.latency_jitter_spread", "0.6"),
        ]))
        .unwrap();
    assert_eq!(
        (ablated.model.jitter, ablated.model.latency_jitter),
        (Jitter::None, Jitter::None)
    );
}
