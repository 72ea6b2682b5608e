//! Options of the runtime model where runtimes differ: how the placement view counts work
//! placed between heartbeats, whether queued work spills over to other nodes, how objects
//! are freed, what serialization costs, whether durations are jittered, and whether work
//! forwarded to its node waits for delayed acknowledgements.
//!
//! Every option is off by default (the runtime as cohort models it without them). Each one
//! reproduces a mechanism of Ray v0.6 as it ran in late 2018, with its source on the option;
//! a workload turns them on one by one (`[cluster]` keys; see `workloads/README.md`), so
//! that an ablation can tell which mechanism produces which part of a result.

use crate::cost::Points;
use crate::time::Nanos;

/// How the policy's view of a node's load changes between two heartbeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ViewAccounting {
    /// The view is the snapshot of the last heartbeat, unchanged until the next one.
    #[default]
    None,
    /// Each placement of work that holds a CPU slot adds one to the chosen node's `queued`
    /// (a count of tasks, one CPU each in the write-up's workload) in the view until the next
    /// heartbeat replaces it: Ray v0.6's `SchedulingPolicy::Schedule`
    /// (`src/ray/raylet/scheduling_policy.cc`) added each placed task's demand to the chosen
    /// node's load "until the next heartbeat".
    Placements,
}

/// How long objects stay in the stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ObjectLifetime {
    /// An object is freed on every node when its last reference (the driver's, a pending
    /// task's, lineage's) goes; stores evict copies that exist elsewhere first, then last
    /// copies, least recently used first, only as much as needed.
    #[default]
    RefCount,
    /// Ray v0.6: nothing is freed when its last reference goes. Every copy stays until its
    /// store needs room; then the store evicts unpinned copies in pure least-recently-used
    /// order, unaware of other copies, and frees at least a fifth of its capacity at once
    /// (plasma's `EvictionPolicy::RequireSpace`: "ideally up to 20% of the total capacity").
    /// A copy that a task waiting in a queue still needs is evictable (running work pins its
    /// arguments, and so does work that had to fetch an evicted argument again, for the ones
    /// it holds); a lost object a task asks for is rebuilt after the pull timeout (see
    /// [`crate::Recovery::pull_timeout`]).
    Lru,
    /// Ray v0.6's stores as [`ObjectLifetime::Lru`], plus the release the write-up proposed
    /// as future work ("objects that are known to no longer be needed in the program could be
    /// evicted"): an object an IR node made is freed on every node as soon as the IR has
    /// dropped the node (or released it) and its last other reference is gone (every
    /// consumer finished, no lineage or handle refers to it), instead of waiting in its
    /// stores for eviction. Objects the IR did not make (puts, tasks submitted by hand)
    /// stay as under [`ObjectLifetime::Lru`].
    LruIrRelease,
}

impl ObjectLifetime {
    /// Whether stores evict as Ray v0.6's plasma did (pure LRU, a fifth at once) and keep
    /// unreferenced objects until then.
    pub fn lru_stores(self) -> bool {
        matches!(self, ObjectLifetime::Lru | ObjectLifetime::LruIrRelease)
    }
}

/// Where the placement hints a policy sees come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HintSource {
    /// As the driver declared them (the IR's, or none for work submitted without).
    #[default]
    Declared,
    /// Inferred by the runtime from the plain submissions (`crate::infer`), ignoring the
    /// declared ones (which are compared with them: `Cluster::hint_agreement`).
    Inferred,
    /// None at all: every submission reaches the policy without hints, as plain Ray code's.
    None,
}

/// Seeded noise on every piece of work's duration (and, as
/// [`ModelOptions::latency_jitter`], on every transfer's latency): so that work that would
/// finish at exactly the same instants (lockstep) does not, and so that the model has the
/// stragglers measured costs have.
///
/// The draw for a piece of work depends only on the run's seed and the work's task id (a
/// counter-based hash, no random-number state): the same run gives the same durations
/// whatever order events are handled in, and two policies given the same seed draw the same
/// noise for the same task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Exact durations.
    #[default]
    None,
    /// Each duration is multiplied by a factor drawn uniformly from
    /// `[1 - spread, 1 + spread]`, in millionths (`spread_ppm`, below 1,000,000).
    Uniform {
        /// Half the width of the factor's range, in millionths.
        spread_ppm: u32,
    },
    /// Each duration is multiplied by `e^(sigma Z)`, `Z` a standard normal draw: a log-normal
    /// factor of median 1 and mean `e^(sigma^2 / 2)`, its slow tail longer than its fast one,
    /// as measured costs' are. `sigma_ppm` is `sigma` in millionths.
    LogNormal {
        /// The standard deviation of the factor's logarithm, in millionths.
        sigma_ppm: u32,
    },
}

impl Jitter {
    /// `duration` with the noise drawn for `task` under `seed` (rounded up to a whole
    /// nanosecond).
    pub fn apply(self, duration: Nanos, seed: u64, task: u64) -> Nanos {
        match self {
            Jitter::None => duration,
            Jitter::Uniform { spread_ppm } => {
                let s = u64::from(spread_ppm.min(999_999));
                let draw = mix(seed ^ mix(task));
                // A factor in [1e6 - s, 1e6 + s] millionths, uniform up to a bias of at most
                // (2s + 1) / 2^64.
                let factor = 1_000_000 - s + draw % (2 * s + 1);
                let ns = (u128::from(duration) * u128::from(factor)).div_ceil(1_000_000);
                u64::try_from(ns).unwrap_or(Nanos::MAX)
            }
            Jitter::LogNormal { sigma_ppm: 0 } => duration,
            Jitter::LogNormal { sigma_ppm } => {
                let draw = mix(seed ^ mix(task));
                let sigma = f64::from(sigma_ppm) / 1e6;
                let ns = (duration as f64 * (sigma * standard_normal(draw)).exp()).ceil();
                // `as` saturates: a factor beyond `u64` is the longest duration.
                ns as Nanos
            }
        }
    }

    /// A transfer's `latency` with the noise drawn for `object` moving to node `to` under
    /// `seed` (a stream of draws apart from the durations'). Pulling the same object to the
    /// same node again draws the same noise.
    pub fn apply_to_transfer(self, latency: Nanos, seed: u64, object: u64, to: u32) -> Nanos {
        // "transfer" in ASCII: the transfers' stream.
        const TRANSFERS: u64 = 0x7472_616e_7366_6572;
        if self == Jitter::None {
            // Every transfer asks: no hashing when there is nothing to draw.
            return latency;
        }
        self.apply(latency, mix(seed ^ TRANSFERS), mix(object) ^ u64::from(to))
    }
}

/// A standard normal value from the 64 random bits of `draw` (Box and Muller's transform;
/// its tails stop at about 8.6 standard deviations, beyond what a run's draws reach).
fn standard_normal(draw: u64) -> f64 {
    // A uniform in (0, 1] (never 0, whose logarithm is infinite), and one in [0, 1).
    let u1 = ((draw >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let u2 = mix(draw) as f64 / 2f64.powi(64);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Which holder of an object a pull takes its bytes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullSource {
    /// The holder with the fewest outgoing transfers in flight, ties to the lowest node id.
    #[default]
    FewestOutgoing,
    /// A holder drawn uniformly, as Ray v0.6's `ObjectManager::Pull` did
    /// (`src/ray/object_manager/object_manager.cc`: a random client among the object's
    /// locations). The draw depends only on the run's seed, the object and the destination (a
    /// counter-based hash, as for [`Jitter`]).
    Random,
}

impl PullSource {
    /// The index, among `holders` (at least one) holders, of the one a pull of `object` to
    /// node `to` takes its bytes from under [`PullSource::Random`].
    pub fn random_index(seed: u64, object: u64, to: u32, holders: usize) -> usize {
        let draw = mix(seed ^ mix(object ^ mix(u64::from(to) ^ 0x5bd1_e995)));
        (draw % holders.max(1) as u64) as usize
    }
}

/// SplitMix64's finaliser: a bijection of `u64` whose outputs look independent for
/// consecutive inputs.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What turning a produced value into an object costs its producer, per output object: a
/// fixed part plus a cost per byte (Python Ray serialized every return value with pyarrow
/// and copied it into the store before the task finished).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Serialization {
    /// Fixed cost per output object, in nanoseconds.
    pub per_object: Nanos,
    /// Cost per output byte, in picoseconds.
    pub per_byte_ps: u64,
}

impl Serialization {
    /// The cost of outputs of `sizes` bytes each.
    pub fn cost(&self, sizes: impl IntoIterator<Item = u64>) -> Nanos {
        let mut ps: u128 = 0;
        let mut objects: u64 = 0;
        for s in sizes {
            ps += u128::from(s) * u128::from(self.per_byte_ps);
            objects += 1;
        }
        let per_byte = u64::try_from(ps.div_ceil(1000)).unwrap_or(Nanos::MAX);
        self.per_object
            .saturating_mul(objects)
            .saturating_add(per_byte)
    }
}

/// What starting work costs a node that has had none executing for a while, on top of the
/// work's own cost: waking its worker threads and, on a virtual machine, the halted cores
/// under them. It grows with the idle time: on a 2-core VM here, `cohort calibrate`
/// measured about 30 us after 100 us of idleness, 65 us after 1 ms and 200 us after 10 ms.
/// A step function: the cost of the longest listed idle time the node's idleness reaches.
/// Work that starts while other work executes on the node pays nothing; work that starts
/// at the same instant as the work that woke it pays the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WakeUp {
    /// `(idle time, cost)`, ns.
    steps: Points<{ WakeUp::MAX_STEPS }>,
}

impl WakeUp {
    /// The most steps a curve has.
    pub const MAX_STEPS: usize = 8;

    /// The curve through `(idle time, cost)` steps in any order; `None` if two share an idle
    /// time or there are more than [`WakeUp::MAX_STEPS`].
    pub fn new(steps: &[(Nanos, Nanos)]) -> Option<WakeUp> {
        Points::new(steps).map(|steps| WakeUp { steps })
    }

    /// The steps, by idle time.
    pub fn steps(&self) -> &[(Nanos, Nanos)] {
        self.steps.get()
    }

    /// Whether starting work never costs extra (the default).
    pub fn is_none(&self) -> bool {
        self.steps().is_empty()
    }

    /// The extra cost of work starting on a node idle for `idle` ns.
    pub fn cost(&self, idle: Nanos) -> Nanos {
        self.steps()
            .iter()
            .take_while(|&&(after, _)| after <= idle)
            .last()
            .map_or(0, |&(_, cost)| cost)
    }
}

/// The runtime model's options (all off by default). See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ModelOptions {
    /// How the placement view counts placements between heartbeats.
    pub view_accounting: ViewAccounting,
    /// Heartbeat spill-over (Ray v0.6's `SchedulingPolicy::SpillOver`, called by the node
    /// manager on every heartbeat from another node): at each heartbeat of the placement
    /// view, for each node X in ascending order, every other node in ascending order whose
    /// queue of ready work (arguments local, waiting for a CPU slot) holds a task (not an
    /// actor's call or constructor) that fits X's total CPUs, with arguments that each fit
    /// X's store, moves the first such task to X, where it fetches its arguments again; a task
    /// moves at most once per heartbeat. The policy is not asked (Ray queued a forwarded task
    /// without placing it again) but told (`Placed` at its new node). Needs a heartbeat
    /// period above 0.
    pub spill_over: bool,
    /// How objects are freed.
    pub object_lifetime: ObjectLifetime,
    /// What each output object costs its producer, if anything.
    pub serialization: Option<Serialization>,
    /// Noise on durations.
    pub jitter: Jitter,
    /// Noise on each transfer's latency (its set-up), of the same kind as `jitter`'s; drawn
    /// from the run's seed, the object and its destination (see [`Jitter::apply_to_transfer`]).
    pub latency_jitter: Jitter,
    /// Which holder a pull takes an object from.
    pub pull_source: PullSource,
    /// The cores every node shares, when the whole cluster runs on one host (a live cluster
    /// of node processes on one machine); `None` (default): each node's CPU slots are cores
    /// of its own. While `k` pieces of work execute anywhere in the cluster, with `k` above
    /// the cores, each runs at `cores / k` of its speed: the processor sharing a fair
    /// scheduler gives, so a start slows the work already running and an end speeds it up
    /// (see the core's `host` module). A transfer's set-up (the network's latency and its
    /// wake-up) is work of the host too: on one host the nodes talk over loopback, where
    /// setting a transfer up is processing, not wire time (or, with `set_up_work`, partly
    /// processing and partly waiting); its bytes flow when it is done.
    /// A killed node's work, and the set-up of its transfers, stop sharing the cores at once.
    pub host_cores: Option<u32>,
    /// What work costs to start on an idle node (default: nothing).
    pub wake_up: WakeUp,
    /// With `host_cores`: how much of a transfer's set-up (its latency) is work of the host's
    /// cores, in nanoseconds; the rest of the latency is waiting that takes no core (a
    /// message in flight, a thread woken), which a busy host does not stretch. The work
    /// comes first, shared with all other work; then the wait; then the bytes flow. A waking
    /// end's extra cost (`wake_up`) stays work. `None` (default): all of the latency is work.
    pub set_up_work: Option<Nanos>,
    /// With `host_cores`: the head's work for each task, in nanoseconds (0, default: none).
    /// A live cluster's head (the driver, the core and the sockets' work, on one thread)
    /// takes its share of the host's cores as it hands work out and takes completions in;
    /// a task's calibrated duration already holds the head's time when nothing else runs,
    /// but not the cores the head takes from other work while many tasks run at once. It is
    /// processor-sharing work that starts with each task's execution and delays nothing
    /// directly. A transfer's head work is in `set_up_work`.
    pub head_work: Nanos,
    /// With `host_cores`: what a transfer's bytes cost the host's cores, in picoseconds per
    /// byte (the sender's and the receiver's copies together), as processor-sharing work
    /// that runs while its bytes flow; the transfer arrives when both are done. 0 (default):
    /// moving bytes costs the cores nothing.
    pub transfer_cpu_ps: u64,
    /// With `host_cores`: what a node's memory costs the host's cores the first time its
    /// store reaches it, in picoseconds per byte: the kernel allocating and zeroing pages a
    /// live node then keeps and reuses. Each node keeps the high-water mark of its store's
    /// use (outputs counted from when their work executes, a transfer's object from when it
    /// is asked for); work that raises it is charged the bytes above it, a task in its
    /// duration and a transfer in its copies. A killed node's mark starts again from 0, as a
    /// restarted process's memory does. 0 (default): no charge.
    pub first_touch_ps: u64,
    /// Ray v0.6's forwarding stalls: the delayed acknowledgement of the receiving node's TCP
    /// stack, in nanoseconds (0, default: off). Ray v0.6's raylets wrote to each other
    /// without `TCP_NODELAY` (Ray set it on every connection in March 2019, pull request
    /// 4318, after 0.6.0), so Nagle's algorithm (RFC 896) held a small write while an
    /// earlier one was unacknowledged, and the receiver delayed its acknowledgement (RFC 1122;
    /// Linux: at least `TCP_DELACK_MIN`, 40 ms). With it, work placed on a node other than
    /// the driver's (a submission, an actor's call or constructor, a rebuild) is *forwarded*
    /// over the driver's node's connection to that node: a forward written while the last
    /// one sent is unacknowledged waits, with every other forward written meanwhile, until
    /// that acknowledgement, `delayed_ack` after the last one was sent, and they go as one
    /// write, acknowledged `delayed_ack` later in turn. A forward itself takes no time; the
    /// work fetches its arguments only once it has arrived.
    pub delayed_ack: Nanos,
    /// Where the placement hints come from (the driver's side; the core sees only the
    /// hints it is given).
    pub hints: HintSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_up_costs_the_step_the_idle_time_reaches() {
        let w = WakeUp::new(&[(10_000, 300), (100, 30), (1_000, 60)]).unwrap();
        assert_eq!(w.steps(), [(100, 30), (1_000, 60), (10_000, 300)]);
        assert_eq!(
            [0, 99, 100, 999, 1_000, 9_999, 10_000, u64::MAX].map(|i| w.cost(i)),
            [0, 0, 30, 30, 60, 60, 300, 300]
        );
        assert!(WakeUp::default().is_none() && WakeUp::default().cost(u64::MAX) == 0);
        assert_eq!(
            WakeUp::new(&[(5, 1), (5, 2)]),
            None,
            "one idle time, two costs"
        );
        assert_eq!(WakeUp::new(&[(0, 0); 9]), None, "too many steps");
    }

    #[test]
    fn uniform_jitter_stays_in_its_range_and_depends_on_seed_and_task_only() {
        let j = Jitter::Uniform {
            spread_ppm: 100_000,
        };
        let mut lo = u64::MAX;
        let mut hi = 0;
        for task in 0..10_000 {
            let d = j.apply(1_000_000, 7, task);
            lo = lo.min(d);
            hi = hi.max(d);
            assert_eq!(d, j.apply(1_000_000, 7, task));
        }
        assert!((900_000..=905_000).contains(&lo), "{lo}");
        assert!((1_095_000..=1_100_000).contains(&hi), "{hi}");
        let other: Vec<u64> = (0..20).map(|t| j.apply(1_000_000, 8, t)).collect();
        let same: Vec<u64> = (0..20).map(|t| j.apply(1_000_000, 7, t)).collect();
        assert_ne!(other, same);
        assert_eq!(Jitter::None.apply(123, 7, 1), 123);
        assert_eq!(Jitter::Uniform { spread_ppm: 0 }.apply(123, 7, 1), 123);
    }

    #[test]
    fn uniform_jitter_has_mean_one() {
        let j = Jitter::Uniform {
            spread_ppm: 200_000,
        };
        let total: u64 = (0..100_000).map(|t| j.apply(1_000_000, 3, t)).sum();
        let mean = total as f64 / 100_000.0;
        assert!((mean - 1_000_000.0).abs() < 2_000.0, "{mean}");
    }

    #[test]
    fn log_normal_jitter_has_median_one_its_quantiles_and_its_mean() {
        let sigma: f64 = 0.5;
        let j = Jitter::LogNormal { sigma_ppm: 500_000 };
        let n = 100_000;
        let mut d: Vec<u64> = (0..n).map(|t| j.apply(1_000_000, 11, t)).collect();
        let mean = d.iter().sum::<u64>() as f64 / n as f64 / 1e6;
        d.sort_unstable();
        let q = |p: f64| d[(p * n as f64) as usize] as f64 / 1e6;
        // A standard normal's 10th, 50th and 90th percentiles: -1.2816, 0, 1.2816.
        for (p, want) in [
            (0.1, (-1.2816 * sigma).exp()),
            (0.5, 1.0),
            (0.9, (1.2816 * sigma).exp()),
        ] {
            assert!(
                (q(p) / want - 1.0).abs() < 0.01,
                "p{p}: {} against {want}",
                q(p)
            );
        }
        let want = (sigma * sigma / 2.0).exp();
        assert!(
            (mean / want - 1.0).abs() < 0.01,
            "mean {mean} against {want}"
        );
        // The draw depends on the seed and the task only.
        assert_eq!(j.apply(1_000_000, 11, 7), j.apply(1_000_000, 11, 7));
        assert_ne!(
            (0..20)
                .map(|t| j.apply(1_000_000, 12, t))
                .collect::<Vec<_>>(),
            (0..20)
                .map(|t| j.apply(1_000_000, 11, t))
                .collect::<Vec<_>>()
        );
        assert_eq!(Jitter::LogNormal { sigma_ppm: 0 }.apply(123, 7, 1), 123);
        // Saturates rather than wrapping.
        let wide = Jitter::LogNormal {
            sigma_ppm: 3_000_000,
        };
        assert!((0..10_000).all(|t| wide.apply(Nanos::MAX / 2, 1, t) >= 1));
    }

    #[test]
    fn a_transfer_draws_from_a_stream_of_its_own_by_object_and_destination() {
        let j = Jitter::LogNormal { sigma_ppm: 600_000 };
        let t = |object: u64, to: u32| j.apply_to_transfer(1_000_000, 5, object, to);
        assert_eq!(t(3, 1), t(3, 1));
        let objects: Vec<Nanos> = (0..20).map(|o| t(o, 1)).collect();
        let nodes: Vec<Nanos> = (0..20).map(|n| t(3, n)).collect();
        let tasks: Vec<Nanos> = (0..20).map(|k| j.apply(1_000_000, 5, k)).collect();
        assert!(objects.windows(2).any(|w| w[0] != w[1]));
        assert!(nodes.windows(2).any(|w| w[0] != w[1]));
        assert_ne!(objects, tasks, "the durations' stream is another");
        assert_eq!(Jitter::None.apply_to_transfer(77, 5, 3, 1), 77);
    }

    #[test]
    fn serialization_costs_per_object_and_per_byte() {
        let s = Serialization {
            per_object: 10_000,
            per_byte_ps: 1_500,
        };
        // Two objects: 2 × 10 µs, plus 1,000 B and 1 B at 1.5 ns each: 1,501.5 → 1,502 ns.
        assert_eq!(s.cost([1_000, 1]), 21_502);
        assert_eq!(s.cost([]), 0);
    }
}
