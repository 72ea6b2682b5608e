//! Workloads for cohort: the TOML schema, its resolution into concrete numbers, and the
//! driver program that replays a workload on a cluster through the IR.
//!
//! ```text
//! file.toml ──parse──▶ Workload ──resolve(--set overrides)──▶ Resolved ──drive──▶ trace
//! ```
//!
//! This crate reads the workload text it is given; opening files is left to its caller, with
//! one convenience ([`Workload::load`]) for the harness.

pub mod error;
pub mod live;
pub mod profile;
pub mod program;
pub mod resolve;
pub mod schema;
pub mod units;

pub use error::WorkloadError;
pub use live::{LiveSetup, registry_live};
pub use profile::{Profile, ProfileError};
pub use program::{Built, DriveReport, RunError, cluster_config, drive, drive_observed, registry};
pub use resolve::{
    End, KEY_PATHS, Kind, OutputSize, Quantity, Resolved, Stage, StageOp, is_key_path,
};

use error::line_column;
use schema::{Raw, SweepValues, WorkloadFile};
use std::collections::BTreeMap;

/// The streaming workload with a node killed mid-run, as `(name, text)`: what `cohort repro`
/// runs to show how policies recover.
pub const KILL: (&str, &str) = (
    "streaming-kill",
    include_str!("../files/streaming-kill.toml"),
);

/// streaming.toml's map-reduce on a model of Ray v0.6's mechanisms, as `(name, text)`: what
/// `cohort repro` sweeps beside the physical profile, and ablates.
pub const RAY_V0_6: (&str, &str) = (
    "streaming-ray-v0.6",
    include_str!("../files/streaming-ray-v0.6.toml"),
);

/// join.toml, a two-sided join, as `(name, text)`.
pub const JOIN: (&str, &str) = ("join", include_str!("../files/join.toml"));

/// The workloads `cohort leaderboard` ranks policies on, by name: the shipped files, the
/// join, streaming on the model of Ray v0.6's mechanisms, and streaming with a node killed.
pub const LEADERBOARD: [(&str, &str); 6] =
    [SHIPPED[0], SHIPPED[1], SHIPPED[2], JOIN, RAY_V0_6, KILL];

/// The workload files shipped with cohort, by name: `(name, TOML text)`. `cohort repro`
/// uses `streaming`, so that it runs from anywhere.
pub const SHIPPED: [(&str, &str); 3] = [
    ("streaming", include_str!("../files/streaming.toml")),
    ("tree-reduce", include_str!("../files/tree-reduce.toml")),
    ("param-server", include_str!("../files/param-server.toml")),
];

/// A parsed workload file, not yet bound to parameter values.
#[derive(Clone, Debug)]
pub struct Workload {
    path: String,
    source: String,
    file: WorkloadFile,
}

/// The default sweep of a workload: a parameter grid, policies and seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Policies (empty: the caller decides).
    pub policies: Vec<String>,
    /// Seeds (empty: the caller decides).
    pub seeds: Vec<u64>,
    /// The swept parameters, in grid order (`[sweep.params]`, by name).
    pub swept: Vec<String>,
    /// Every point of the grid: parameter name → value as text, in grid order (the first
    /// parameter, by name, varies slowest).
    pub points: Vec<BTreeMap<String, String>>,
}

impl Workload {
    /// Reads and parses the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Workload, WorkloadError> {
        let shown = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|e| WorkloadError::Read {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        Workload::parse(&shown, &source)
    }

    /// Parses workload text; `path` is only used in messages.
    pub fn parse(path: &str, source: &str) -> Result<Workload, WorkloadError> {
        let file: WorkloadFile = toml::from_str(source).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_column(source, s.start));
            WorkloadError::At {
                path: path.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        Ok(Workload {
            path: path.to_string(),
            source: source.to_string(),
            file,
        })
    }

    /// The workload's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Binds parameters (defaults, overridden by `overrides`) and checks everything.
    pub fn resolve(&self, overrides: &BTreeMap<String, String>) -> Result<Resolved, WorkloadError> {
        resolve::resolve(&self.path, &self.source, &self.file, overrides)
    }

    /// The workload's default sweep, expanded into grid points. Every point is checked by
    /// resolving it.
    pub fn sweep(&self) -> Result<Sweep, WorkloadError> {
        let Some(s) = &self.file.sweep else {
            return Ok(Sweep {
                points: vec![BTreeMap::new()],
                ..Sweep::default()
            });
        };
        let mut points: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
        for (name, values) in &s.params {
            let texts = expand(values.get_ref()).map_err(|m| {
                let (line, column) = line_column(&self.source, values.span().start);
                WorkloadError::At {
                    path: self.path.clone(),
                    line,
                    column,
                    message: format!("sweep.params.{name}: {m}"),
                }
            })?;
            points = points
                .into_iter()
                .flat_map(|p| {
                    texts.iter().map(move |t| {
                        let mut q = p.clone();
                        q.insert(name.clone(), t.clone());
                        q
                    })
                })
                .collect();
        }
        for p in &points {
            self.resolve(p)?;
        }
        Ok(Sweep {
            swept: s.params.keys().cloned().collect(),
            policies: s.policies.clone(),
            seeds: s.seeds.clone(),
            points,
        })
    }
}

fn raw_text(r: &Raw) -> String {
    match r {
        Raw::Int(i) => i.to_string(),
        Raw::Float(x) => x.to_string(),
        Raw::Str(s) => s.clone(),
    }
}

type Parser = fn(&str) -> Result<u64, units::UnitError>;

/// The values of one swept parameter, as text.
fn expand(values: &SweepValues) -> Result<Vec<String>, String> {
    match values {
        SweepValues::List(v) if v.is_empty() => Err("an empty list of values".to_string()),
        SweepValues::List(v) => Ok(v.iter().map(raw_text).collect()),
        SweepValues::Range { from, to, step } => {
            // Integers, or quantities of one unit family, stepped exactly in base units.
            let parsers: [(Parser, &str); 4] = [
                (
                    |t| {
                        t.parse::<u64>()
                            .map_err(|_| units::UnitError::NoNumber(t.into()))
                    },
                    "",
                ),
                (units::parse_size, "B"),
                (units::parse_duration, "ns"),
                (units::parse_rate, "B/s"),
            ];
            let (f, t, s) = (raw_text(from), raw_text(to), raw_text(step));
            for (parse, unit) in parsers {
                if let (Ok(a), Ok(b), Ok(c)) = (parse(&f), parse(&t), parse(&s)) {
                    if c == 0 {
                        return Err("a range with a zero step".to_string());
                    }
                    if a > b {
                        return Err(format!("a range from {f} down to {t}"));
                    }
                    let count = (b - a) / c + 1;
                    if count > 10_000 {
                        return Err(format!("a range of {count} values (at most 10000)"));
                    }
                    return Ok((0..count).map(|k| format!("{}{unit}", a + k * c)).collect());
                }
            }
            Err(format!(
                "`from`, `to` and `step` ({f}, {t}, {s}) must be whole numbers or quantities of one kind"
            ))
        }
    }
}
