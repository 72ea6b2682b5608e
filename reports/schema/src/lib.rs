//! The run directory contract of cohort: what the harness writes and the reports read.
//!
//! Both sides use this crate, and nothing else describes the files: each CSV file has one row
//! type here, a `#[derive(Serialize, Deserialize)]` struct whose fields are its columns in
//! order ([`Row`]). [`CsvWriter`] writes a header made from those fields and serializes rows;
//! [`CsvReader`] refuses a file whose header is not exactly that, and deserializes rows. The
//! crate knows nothing of the runtime: the harness turns its trace records into these rows.
//!
//! # Files
//!
//! A run directory (written by `cohort run`, or `runs/<run>/` of a sweep) holds
//! `manifest.toml` and the CSV files of [`RUN_CSVS`], each stored plain (`NAME.csv`) or
//! gzip-compressed (`NAME.csv.gz`, [`Encoding`]); [`CsvReader`] reads either. The harness
//! compresses all but `summary.csv`, writes `tasks`, `transfers` and `evictions` only for a
//! single run or a sweep with `--detail`, `faults` only for a workload with faults, and `nodes`
//! only for a live run:
//!
//! | file              | row type           | columns |
//! |-------------------|--------------------|---------|
//! | `latencies.csv`   | [`LatencyRow`]     | `policy,seed,param.*,iteration,reducer,node,ingest_ns,arrival_ns,latency_ns,warmup` |
//! | `tasks.csv`       | [`TaskRow`]        | `task,kind,name,group,index,dependency,dependency_group,dependency_index,node,cpus,submitted_ns,args_local_ns,started_ns,finished_ns,input_bytes,output_bytes,ok,stage,iteration` |
//! | `transfers.csv`   | [`TransferRow`]    | `object,bytes,from,to,requested_ns,flowing_ns,finished_ns` |
//! | `evictions.csv`   | [`EvictionRow`]    | `object,node,bytes,at_ns,last_copy` |
//! | `utilization.csv` | [`UtilizationRow`] | `node,window_start_ns,window_ns,busy_fraction` |
//! | `faults.csv`      | [`FaultRow`]       | `kind,node,peer,factor,at_ns,until_ns,declared_ns` |
//! | `nodes.csv`       | [`NodeRow`]        | `node,data_sent,data_received,objects_sent,objects_received,control_sent,control_received,executions,store_peak,spilled_bytes,restored_bytes,cpu_ns` |
//! | `compare.csv`     | [`CompareRow`]     | `run,policy,seed,param.*,sim_mean_ms,live_mean_ms,mean_error,sim_p50_ms,live_p50_ms,p50_error,sim_p99_ms,live_p99_ms,p99_error,sim_bytes,live_bytes,placement_agreement,sim_kept_up,live_kept_up` |
//! | `leaderboard.csv` | [`LeaderboardRow`] | `workload,policy,rank,runs,missing,relative_mean,relative_min,relative_max` |
//! | `hints.csv`       | [`HintsRow`]       | `workload,point,seed,policy,compared,agree,agree_group,agree_index,agree_dependency` |
//! | `summary.csv`     | [`SummaryRow`]     | `run,policy,seed,param.*,datapoints,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,bytes_transferred,transfers,evictions,tasks,failed,cpu_util_mean,cpu_util_min,cpu_util_max,reexecuted,reconstructed,actor_restarts,spilled_bytes,restored_bytes,datapoints_lost,recovery_first_ms,recovery_last_ms,unfinished,growth_ms_per_s` |
//!
//! A sweep directory holds a combined `summary.csv` (one [`SummaryRow`] per run that
//! finished), `sweep.toml` (the grid, policies, seeds, swept parameters, what each parameter
//! measures, failed runs) and `runs/<run>/`, one run directory per run, named by the run's
//! `run` cell.
//!
//! # Cells
//!
//! - Integers in decimal: times are nanoseconds of the run's clock (`_ns`), sizes are bytes,
//!   nodes, objects, groups and tasks are ids.
//! - Decimals ([`Fixed6`]) with exactly six digits after the point: milliseconds (`_ms`) and
//!   fractions in [0, 1] (`busy_fraction`, `cpu_util_*`).
//! - Flags (`warmup`, `ok`, `last_copy`) are `0` or `1`.
//! - `kind` is `task`, `actor_creation` or `actor_method` ([`TaskKind`]); `dependency` is
//!   `none`, `group` or `task` ([`DependencyKind`]), with `dependency_group` empty for `none`
//!   and `dependency_index` empty unless `task`.
//! - `param.<name>`: one column per parameter of the workload, sorted by name, with whole
//!   numbers (bytes, ns, bytes/s or counts), where the row type has its `params` field. A
//!   workload without parameters has none.
//!
//! Text is quoted only where CSV needs it; lines end in `\n`. The writers produce the same
//! bytes for the same rows, so two runs of a deterministic workload can be compared file by
//! file.
//!
//! # Output directories
//!
//! [`Staging`] builds an output directory under a temporary name beside it and moves it into
//! place on [`commit`](Staging::commit); dropped before that, it removes what it made, so a
//! failed or interrupted command leaves nothing half-written.
//!
//! ```no_run
//! use cohort_schema::{CsvReader, CsvWriter, Existing, Staging, SummaryRow};
//! use std::path::Path;
//!
//! let staging = Staging::new(Path::new("out/run"), Existing::Refuse)?;
//! let params = vec!["data_size".to_owned()];
//! let mut summary = CsvWriter::<SummaryRow>::create(staging.path(), &params)?;
//! summary.write(&SummaryRow {
//!     run: "random-seed1".into(),
//!     params: vec![1_048_576],
//!     ..SummaryRow::default()
//! })?;
//! summary.finish()?;
//! staging.commit()?;
//!
//! let mut reader = CsvReader::<SummaryRow>::open(Path::new("out/run"))?;
//! assert_eq!(reader.param_names(), ["data_size"]);
//! for row in reader.rows() {
//!     let (line, row) = row?;
//!     println!("line {line}: {} {}", row.run, row.mean_ms);
//! }
//! # Ok::<(), cohort_schema::SchemaError>(())
//! ```

mod error;
mod file;
mod quantile;
mod rows;
#[cfg(test)]
mod scratch;
pub mod staging;
mod values;

pub use error::SchemaError;
pub use file::{
    CsvReader, CsvWriter, Encoding, GZIP_SUFFIX, PARAM_PREFIX, PARAMS_FIELD, cells, columns, stored,
};
pub use quantile::quantile;
pub use rows::{
    CompareRow, DependencyKind, EvictionRow, FaultRow, HintsRow, LatencyRow, LeaderboardRow,
    NodeRow, PlacementRow, RUN_CSVS, Row, SummaryRow, TaskKind, TaskRow, TransferRow,
    UtilizationRow,
};
pub use staging::{Existing, Staging, abandon_all};
pub use values::Fixed6;
