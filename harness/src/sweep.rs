//! Sweeps: many independent runs on a bounded pool of threads, each written to its own
//! directory; one failing run is reported without losing the others.

use crate::output::{self, Detail};
use crate::run::{RunSpec, execute};
use anyhow::Result;
use cohort_runtime::Trace;
use cohort_schema::SummaryRow;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The outcome of one run of a sweep.
pub struct Finished {
    /// Its position in the sweep.
    pub index: usize,
    /// Its summary row, or why it failed.
    pub result: Result<SummaryRow, String>,
}

/// A progress bar that only appears once work has taken more than a second, and only on a
/// terminal.
pub struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl Progress {
    /// A bar over `len` units, labelled `what`.
    pub fn new(len: u64, what: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} (ETA {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
        }
    }

    /// Moves the bar to `pos`.
    pub fn set(&mut self, pos: u64) {
        if !self.shown && self.started.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(pos);
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Runs `specs` on `jobs` threads, writing each run into `runs_dir/<run id>`; `report` is
/// called on this thread as each run ends.
pub fn run_all(
    specs: Vec<RunSpec>,
    jobs: usize,
    runs_dir: &Path,
    detail: Detail,
    report: &mut dyn FnMut(&RunSpec, &Finished),
) -> Vec<Finished> {
    let total = specs.len();
    let queue: Arc<Mutex<VecDeque<(usize, RunSpec)>>> =
        Arc::new(Mutex::new(specs.iter().cloned().enumerate().collect()));
    let (tx, rx) = channel::<Finished>();
    let mut progress = Progress::new(total as u64, "runs");
    let mut results: Vec<Finished> = Vec::with_capacity(total);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            let queue = Arc::clone(&queue);
            let tx = tx.clone();
            scope.spawn(move || {
                // Each run records into the memory of this worker's last one.
                let mut spare = Trace::default();
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((index, spec)) = next else { return };
                    let result = run_into(&spec, &runs_dir.join(spec.id()), detail, &mut spare);
                    let done = Finished {
                        index,
                        result: result.map_err(|e| format!("{e:#}")),
                    };
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for done in rx {
            report(&specs[done.index], &done);
            results.push(done);
            progress.set(results.len() as u64);
        }
    });
    progress.finish();
    results.sort_by_key(|f| f.index);
    results
}

/// Executes one run and writes its directory atomically; returns its summary row. The run
/// records into `spare`'s memory, and leaves its own trace there for the next run.
pub fn run_into(
    spec: &RunSpec,
    dir: &Path,
    detail: Detail,
    spare: &mut Trace,
) -> Result<SummaryRow> {
    let out = execute(spec, &mut |_| {}, std::mem::take(spare))?;
    let staging = output::stage(dir, false)?;
    output::write_run(staging.path(), spec, &out, detail)?;
    staging.commit()?;
    let row = output::summary_row(spec, &out);
    *spare = out.trace;
    Ok(row)
}
