//! A fake sweep directory in exactly the harness's contract, for tests: its CSVs are written
//! with `cohort-schema`'s writer, as the harness writes them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cohort_schema::{
    CsvWriter, Encoding, EvictionRow, FaultRow, Fixed6, LatencyRow, Row, SummaryRow, TaskRow,
    TransferRow, UtilizationRow, quantile,
};

/// Writes `rows` as their file in `dir`.
fn write_csv<R: Row>(dir: &Path, params: &[String], rows: impl IntoIterator<Item = R>) {
    let mut w = CsvWriter::<R>::create(dir, params).expect("create csv");
    for row in rows {
        w.write(&row).expect("write row");
    }
    w.finish().expect("flush csv");
}

/// Writes `rows` as their file in `dir`, stored as `encoding` says.
fn write_csv_encoded<R: Row>(dir: &Path, rows: &[R], encoding: Encoding) {
    let mut w = CsvWriter::<R>::create_encoded(dir, &[], encoding).expect("create csv");
    for row in rows {
        w.write(row).expect("write row");
    }
    w.finish().expect("flush csv");
}

/// The faults of every run of a [`FakeSweep`], and what they do to its datapoints and summary.
pub(crate) struct FakeFaults {
    /// Each run's `faults.csv` rows (the same script for every run; empty: a header only).
    pub rows: Vec<FaultRow>,
    /// How `faults.csv` is stored.
    pub encoding: Encoding,
    /// For a kill, the time in ms after the node is declared dead at which the datapoints
    /// ingested during the outage arrive, by policy (one after another, 1 ms apart, then
    /// their usual latency on top).
    pub catch_up_ms: fn(&str) -> f64,
    /// The summary's recovery counters by policy: re-executed, reconstructed, actor
    /// restarts, spilled bytes, restored bytes, datapoints lost.
    pub counters: fn(&str) -> [u64; 6],
}

impl FakeFaults {
    /// A kill of node 2 at 5 s, declared dead at 6.5 s, back at 9 s; node 1's CPUs 2x slower
    /// from 10 s to 11 s; the link between nodes 0 and 3 dropped from 3 s to 3.5 s.
    /// Datapoints ingested during the undetected outage arrive from 200 ms (random) or 50 ms
    /// (group) after the declaration on; those ingested while node 1 is slow take twice their
    /// latency. Random re-executes 12 tasks, rebuilds 3 objects, restarts 1 actor, spills
    /// 4 KiB and restores 2 KiB, and loses 2 datapoints; group re-executes 8 tasks and
    /// nothing else.
    pub(crate) fn kill_slow_and_drop() -> FakeFaults {
        let s = 1_000_000_000;
        FakeFaults {
            rows: vec![
                FaultRow {
                    kind: "kill".into(),
                    node: 2,
                    peer: None,
                    factor: None,
                    at_ns: 5 * s,
                    until_ns: Some(9 * s),
                    declared_ns: Some(6 * s + s / 2),
                },
                FaultRow {
                    kind: "slow_cpu".into(),
                    node: 1,
                    peer: None,
                    factor: Some(Fixed6(2.0)),
                    at_ns: 10 * s,
                    until_ns: Some(11 * s),
                    declared_ns: None,
                },
                FaultRow {
                    kind: "drop_link".into(),
                    node: 0,
                    peer: Some(3),
                    factor: None,
                    at_ns: 3 * s,
                    until_ns: Some(3 * s + s / 2),
                    declared_ns: None,
                },
            ],
            encoding: Encoding::Gzip,
            catch_up_ms: |policy| if policy == "random" { 200.0 } else { 50.0 },
            counters: |policy| {
                if policy == "random" {
                    [12, 3, 1, 4096, 2048, 2]
                } else {
                    [8, 0, 0, 0, 0, 0]
                }
            },
        }
    }

    /// The latency of a datapoint ingested at `ingest_ns` whose usual latency is `ms`, and
    /// whether it was in flight during a kill's outage (ingested before the node was declared
    /// dead, arriving after the kill). `k` numbers the datapoints ingested during the outage.
    fn latency_ms(&self, policy: &str, ingest_ns: u64, ms: f64, k: &mut u32) -> (f64, bool) {
        let mut out = ms;
        let mut in_flight = false;
        for f in &self.rows {
            let within = ingest_ns >= f.at_ns && f.until_ns.is_none_or(|u| ingest_ns < u);
            match (f.kind.as_str(), f.declared_ns) {
                ("kill", Some(declared)) if ingest_ns >= f.at_ns && ingest_ns < declared => {
                    let arrival_ms =
                        declared as f64 / 1e6 + (self.catch_up_ms)(policy) + f64::from(*k);
                    *k += 1;
                    out += arrival_ms - ingest_ns as f64 / 1e6;
                    in_flight = true;
                }
                ("kill", Some(declared)) => {
                    // Ingested before the kill, arriving after it.
                    let arrival = ingest_ns as f64 + ms * 1e6;
                    in_flight |= ingest_ns < declared && arrival > f.at_ns as f64;
                }
                ("slow_cpu", _) if within => {
                    out *= f.factor.map_or(1.0, Fixed6::get);
                }
                _ => {}
            }
        }
        (out, in_flight)
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("cohort-reports-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A synthetic sweep: every (policy, size, seed) is one run.
pub(crate) struct FakeSweep {
    pub policies: Vec<&'static str>,
    pub seeds: Vec<u64>,
    /// `param.data_size` values, bytes.
    pub sizes: Vec<u64>,
    /// Target mean latency in ms of (policy, size index, seed).
    pub mean_ms: fn(&str, usize, u64) -> f64,
    /// Latency of the datapoint at quantile `u` in (0, 1), as a multiple of the mean.
    pub shape: fn(&str, f64) -> f64,
    /// Bytes moved by (policy, size in bytes).
    pub bytes: fn(&str, u64) -> u64,
    /// Measured (non-warm-up) datapoints per run; a quarter as many warm-up ones come first.
    pub datapoints: usize,
    /// Utilization windows per node.
    pub windows: usize,
    pub write_sweep_toml: bool,
    /// `param.num_reducers` values; the mean latency scales with `reducers / 4`.
    pub reducers: Vec<u64>,
    /// Further parameter columns with one value each: (name, raw value, kind).
    pub fixed: Vec<(&'static str, u64, &'static str)>,
    /// `reproduces` in `sweep.toml` and every manifest.
    pub reproduces: Option<&'static str>,
    /// `swept` in `sweep.toml` (`None`: not written, as by older versions).
    pub swept: Option<Vec<&'static str>>,
    /// Whether `[param_units]` is written (to `sweep.toml` and every manifest).
    pub param_units: bool,
    /// Runs left out of the sweep (as if they failed): (policy, size index, seed).
    pub missing: Vec<(&'static str, usize, u64)>,
    /// The runs' faults (`None`: no faults.csv, as for a workload without faults).
    pub faults: Option<FakeFaults>,
    /// Policies whose runs have no faults.csv even when `faults` is set.
    pub fault_free: Vec<&'static str>,
    /// `growth_ms_per_s` of (policy, size index, seed).
    pub growth: fn(&str, usize, u64) -> f64,
    /// `unfinished` of (policy, size index, seed).
    pub unfinished: fn(&str, usize, u64) -> u64,
    /// Runs without any measured datapoint (policy, size index, seed): their latencies.csv
    /// has the warm-up rows only and their summary's latency cells are 0, as the harness
    /// writes them.
    pub collapsed: Vec<(&'static str, usize, u64)>,
}

impl FakeSweep {
    /// Two policies, two seeds, three sizes, with round numbers:
    /// seed-averaged means are random 25, 80, 600 ms and group 70, 60, 65 ms at
    /// 0.76, 7.63 and 15.26 MiB; latencies are spread evenly over 0.5x to 1.5x the run's mean
    /// (datapoint k of n at (0.5 + (k + 0.5) / n) x the mean);
    /// warm-up datapoints are 10x the mean; group moves no bytes.
    pub(crate) fn small() -> FakeSweep {
        FakeSweep {
            policies: vec!["random", "group"],
            seeds: vec![1, 2],
            sizes: vec![800_000, 8_000_000, 16_000_000],
            mean_ms: |policy, i, seed| {
                let delta = if seed == 1 { -1.0 } else { 1.0 };
                match policy {
                    "random" => [25.0, 80.0, 600.0][i] + delta * [1.0, 2.0, 10.0][i],
                    _ => [70.0, 60.0, 65.0][i] + delta,
                }
            },
            shape: |_, u| 0.5 + u,
            bytes: |policy, size| if policy == "random" { size * 100 } else { 0 },
            datapoints: 32,
            windows: 10,
            write_sweep_toml: true,
            reducers: vec![4],
            fixed: Vec::new(),
            reproduces: Some("group-scheduling-2018"),
            swept: Some(vec!["data_size"]),
            param_units: true,
            missing: Vec::new(),
            faults: None,
            fault_free: Vec::new(),
            growth: |_, _, _| 0.0,
            unfinished: |_, _, _| 0,
            collapsed: Vec::new(),
        }
    }

    /// Three policies, two seeds, the write-up's 20 sizes, with numbers shaped like the
    /// write-up's published ones (for looking at the figures).
    pub(crate) fn writeup_like() -> FakeSweep {
        FakeSweep {
            policies: vec!["random", "group", "locality"],
            seeds: vec![1, 2],
            sizes: (1..=20).map(|k| k * 800_000).collect(),
            mean_ms: |policy, i, seed| {
                let x = (i + 1) as f64;
                let wiggle = if seed == 1 { 0.93 } else { 1.07 };
                match policy {
                    "random" => 16.0 * (x * 0.19).exp() * wiggle,
                    "group" => (62.0 + 12.0 / x) * (1.0 + (wiggle - 1.0) * 0.3),
                    _ => (35.0 + 9.0 * x) * wiggle,
                }
            },
            shape: |policy, u| match policy {
                "group" => {
                    0.8 + 0.3 * u
                        + if u > 0.97 {
                            6.0 * (u - 0.97) / 0.03
                        } else {
                            0.0
                        }
                }
                _ => -(1.0 - u).ln(),
            },
            bytes: |policy, size| match policy {
                "random" => size * 12 * 750,
                "group" => size * 750 / 2,
                _ => size * 4 * 750,
            },
            datapoints: 3000,
            windows: 750,
            ..FakeSweep::small()
        }
    }

    /// The small sweep (two policies, two seeds, three sizes) over 12.5 s per run, 500
    /// datapoints of which 100 are warm-up (ingested in the first 2.5 s), with the faults of
    /// [`FakeFaults::kill_slow_and_drop`].
    pub(crate) fn with_faults() -> FakeSweep {
        FakeSweep {
            datapoints: 400,
            faults: Some(FakeFaults::kill_slow_and_drop()),
            ..FakeSweep::small()
        }
    }

    /// When row `k` of a run's latencies.csv (warm-up rows first) was ingested, ns: 4
    /// datapoints per 100 ms iteration.
    fn ingest_ns(k: usize) -> u64 {
        (k as u64 / 4) * 100_000_000
    }

    /// The run id of (policy, size index, seed), with 4 reducers.
    pub(crate) fn run_id(&self, policy: &str, size: usize, seed: u64) -> String {
        format!("{policy}-size{size:02}-seed{seed}")
    }

    /// The run id of (policy, size index, seed, reducers).
    fn run_id_with(&self, policy: &str, size: usize, seed: u64, reducers: u64) -> String {
        if self.reducers.len() > 1 {
            format!("{policy}-size{size:02}-r{reducers}-seed{seed}")
        } else {
            self.run_id(policy, size, seed)
        }
    }

    /// The parameter columns, in order.
    fn params(&self) -> Vec<String> {
        ["data_size", "num_reducers"]
            .into_iter()
            .chain(self.fixed.iter().map(|f| f.0))
            .map(str::to_owned)
            .collect()
    }

    /// The parameter values of one run, in column order.
    fn param_values(&self, size: u64, reducers: u64) -> Vec<u64> {
        [size, reducers]
            .into_iter()
            .chain(self.fixed.iter().map(|f| f.1))
            .collect()
    }

    /// The contract's keys shared by `sweep.toml` and the manifests: `reproduces` (top-level
    /// lines) and `[param_units]` (a table, to go last).
    fn contract_keys(&self) -> (String, String) {
        let top = self
            .reproduces
            .map(|r| format!("reproduces = \"{r}\"\n"))
            .unwrap_or_default();
        let units = if self.param_units {
            let mut t =
                "\n[param_units]\ndata_size = \"size\"\nnum_reducers = \"count\"\n".to_owned();
            for (name, _, kind) in &self.fixed {
                t.push_str(&format!("{name} = \"{kind}\"\n"));
            }
            t
        } else {
            String::new()
        };
        (top, units)
    }

    /// Writes the sweep into `dir` (which must exist).
    pub(crate) fn write(&self, dir: &Path) {
        let mut summary = Vec::new();
        let params = self.params();
        let (top, units) = self.contract_keys();
        for &policy in &self.policies {
            for (i, &size) in self.sizes.iter().enumerate() {
                for &reducers in &self.reducers {
                    for &seed in &self.seeds {
                        if self.missing.contains(&(policy, i, seed)) {
                            continue;
                        }
                        let run = self.run_id_with(policy, i, seed, reducers);
                        let run_dir = dir.join("runs").join(&run);
                        fs::create_dir_all(&run_dir).expect("create run dir");
                        let mean = (self.mean_ms)(policy, i, seed) * reducers as f64 / 4.0;
                        let n = self.datapoints as f64;
                        let collapsed = self.collapsed.contains(&(policy, i, seed));
                        let mut measured: Vec<f64> = (0..self.datapoints)
                            .map(|k| mean * (self.shape)(policy, (k as f64 + 0.5) / n))
                            .filter(|_| !collapsed)
                            .collect();
                        let faults = self
                            .faults
                            .as_ref()
                            .filter(|_| !self.fault_free.contains(&policy));
                        let mut in_flight: Vec<u64> = Vec::new();
                        if let Some(faults) = faults {
                            let warm = self.datapoints / 4;
                            let mut k = 0;
                            for (j, ms) in measured.iter_mut().enumerate() {
                                let ingest = Self::ingest_ns(warm + j);
                                let (late, flying) = faults.latency_ms(policy, ingest, *ms, &mut k);
                                *ms = late;
                                if flying {
                                    in_flight.push(ingest + (late * 1e6).round() as u64);
                                }
                            }
                        }
                        let values = self.param_values(size, reducers);
                        self.write_latencies(
                            &run_dir, &params, &values, policy, seed, mean, &measured,
                        );
                        let busy = self.write_utilization(&run_dir, policy, seed);
                        let mut sorted = measured.clone();
                        sorted.sort_by(f64::total_cmp);
                        let (umean, umin, umax) = (
                            busy.iter().sum::<f64>() / busy.len() as f64,
                            busy.iter().copied().fold(f64::INFINITY, f64::min),
                            busy.iter().copied().fold(0.0, f64::max),
                        );
                        let q = |p| Fixed6(quantile(&sorted, p).unwrap_or(0.0));
                        let row = SummaryRow {
                            run,
                            policy: policy.to_owned(),
                            seed,
                            params: values.clone(),
                            datapoints: measured.len() as u64,
                            mean_ms: Fixed6(if collapsed { 0.0 } else { mean }),
                            p50_ms: q(0.5),
                            p90_ms: q(0.9),
                            p99_ms: q(0.99),
                            max_ms: Fixed6(sorted.last().copied().unwrap_or(0.0)),
                            bytes_transferred: (self.bytes)(policy, size),
                            transfers: (self.bytes)(policy, size) / size.max(1),
                            evictions: 0,
                            tasks: 750 * 62,
                            failed: 0,
                            cpu_util_mean: Fixed6(umean),
                            cpu_util_min: Fixed6(umin),
                            cpu_util_max: Fixed6(umax),
                            unfinished: (self.unfinished)(policy, i, seed),
                            growth_ms_per_s: Fixed6((self.growth)(policy, i, seed)),
                            ..SummaryRow::default()
                        };
                        let row = match faults {
                            None => row,
                            Some(faults) => {
                                let [
                                    reexecuted,
                                    reconstructed,
                                    actor_restarts,
                                    spilled_bytes,
                                    restored_bytes,
                                    datapoints_lost,
                                ] = (faults.counters)(policy);
                                let kill = faults.rows.iter().find(|f| f.kind == "kill");
                                let since_kill = |arrival: Option<&u64>| {
                                    kill.zip(arrival)
                                        .map(|(f, a)| Fixed6((a - f.at_ns) as f64 / 1e6))
                                };
                                write_csv_encoded(&run_dir, &faults.rows, faults.encoding);
                                SummaryRow {
                                    mean_ms: Fixed6(
                                        measured.iter().sum::<f64>() / measured.len() as f64,
                                    ),
                                    reexecuted,
                                    reconstructed,
                                    actor_restarts,
                                    spilled_bytes,
                                    restored_bytes,
                                    datapoints_lost,
                                    recovery_first_ms: since_kill(in_flight.iter().min()),
                                    recovery_last_ms: since_kill(in_flight.iter().max()),
                                    ..row
                                }
                            }
                        };
                        // A run directory has its own one-row summary.
                        write_csv(&run_dir, &params, [row.clone()]);
                        summary.push(row);
                        let manifest = format!(
                            "workload = \"writeup\"\npolicy = \"{policy}\"\nseed = {seed}\nclock = \"virtual\"\n\
                         cohort_version = \"0.1.0\"\ngit_commit = \"abc1234\"\n{top}\n[params]\ndata_size = {size}\nnum_reducers = {reducers}\n{units}"
                        );
                        fs::write(run_dir.join("manifest.toml"), manifest).expect("write manifest");
                        write_csv(&run_dir, &[], Vec::<TaskRow>::new());
                        write_csv(&run_dir, &[], Vec::<TransferRow>::new());
                        write_csv(&run_dir, &[], Vec::<EvictionRow>::new());
                    }
                }
            }
        }
        write_csv(dir, &params, summary);
        if self.write_sweep_toml {
            let quoted: Vec<String> = self.policies.iter().map(|p| format!("\"{p}\"")).collect();
            let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
            let sizes: Vec<String> = self.sizes.iter().map(u64::to_string).collect();
            let reducers: Vec<String> = self.reducers.iter().map(u64::to_string).collect();
            let swept = self
                .swept
                .as_ref()
                .map(|s| {
                    let names: Vec<String> = s.iter().map(|n| format!("\"{n}\"")).collect();
                    format!("swept = [{}]\n", names.join(", "))
                })
                .unwrap_or_default();
            let toml = format!(
                "workload = \"writeup\"\npolicies = [{}]\nseeds = [{}]\ncohort_version = \"0.1.0\"\n\
                 git_commit = \"abc1234\"\n{top}{swept}\n[params]\ndata_size = [{}]\nnum_reducers = [{}]\n{units}",
                quoted.join(", "),
                seeds.join(", "),
                sizes.join(", "),
                reducers.join(", ")
            );
            fs::write(dir.join("sweep.toml"), toml).expect("write sweep.toml");
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_latencies(
        &self,
        run_dir: &Path,
        params: &[String],
        values: &[u64],
        policy: &str,
        seed: u64,
        mean: f64,
        measured: &[f64],
    ) {
        let warmup = (0..self.datapoints / 4).map(|_| (mean * 10.0, true));
        let rows = warmup
            .chain(measured.iter().map(|&m| (m, false)))
            .enumerate()
            .map(|(k, (ms, warmup))| {
                let (iteration, reducer) = (k as u64 / 4, k as u32 % 4);
                let ingest_ns = Self::ingest_ns(k);
                let latency_ns = (ms * 1e6).round() as u64;
                LatencyRow {
                    policy: policy.to_owned(),
                    seed,
                    params: values.to_vec(),
                    iteration,
                    reducer,
                    node: reducer % 5,
                    ingest_ns,
                    arrival_ns: ingest_ns + latency_ns,
                    latency_ns,
                    warmup,
                }
            });
        write_csv(run_dir, params, rows);
    }

    /// Writes 5 nodes' windows; returns each node's mean busy fraction.
    fn write_utilization(&self, run_dir: &Path, policy: &str, seed: u64) -> Vec<f64> {
        let base: [f64; 5] = if policy == "random" {
            [0.85, 0.3, 0.6, 0.2, 0.5]
        } else {
            [0.45, 0.4, 0.42, 0.38, 0.44]
        };
        let mut rows = Vec::new();
        let mut means = Vec::new();
        for (node, b) in (0u32..).zip(base) {
            let mut sum = 0.0;
            for w in 0..self.windows {
                let phase = (w as f64 * 0.21 + f64::from(node) + seed as f64).sin();
                let f = (b + 0.12 * phase).clamp(0.0, 1.0);
                sum += f;
                rows.push(UtilizationRow {
                    node,
                    window_start_ns: w as u64 * 100_000_000,
                    window_ns: 100_000_000,
                    busy_fraction: Fixed6(f),
                });
            }
            means.push(sum / self.windows as f64);
        }
        write_csv(run_dir, &[], rows);
        means
    }
}
