//! The real clock: the same core, driven in real time, with code on worker threads.
//!
//! This is the only module of the runtime that reads the wall clock.

use super::{RunEnd, Runner};
use crate::core::Core;
use crate::core::work::{ExecOutput, Execution};
use crate::error::RuntimeError;
use crate::time::{Nanos, nanos};
use cohort_policy::TaskId;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Done = (TaskId, Result<ExecOutput, String>);

/// Drives a core in real time. Timers fire when the wall clock passes them; executions run
/// on a fixed pool of worker threads.
pub(crate) struct RealClock {
    start: Instant,
    jobs: Option<Sender<Execution>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    in_flight: usize,
}

impl RealClock {
    /// A clock starting now, with `workers` threads (at least one).
    pub fn new(runner: Arc<Runner>, workers: usize) -> Self {
        let start = Instant::now();
        let (jobs, job_rx) = channel::<Execution>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done) = channel::<Done>();
        let workers = (0..workers.max(1))
            .map(|i| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                let runner = Arc::clone(&runner);
                std::thread::Builder::new()
                    .name(format!("cohort-worker-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match job_rx.lock() {
                                Ok(rx) => rx.recv(),
                                Err(_) => return,
                            };
                            let Ok(exec) = job else { return };
                            let now = nanos(start.elapsed());
                            let out = runner.run(&exec, now);
                            if done_tx.send((exec.task, out)).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("spawning a worker thread")
            })
            .collect();
        RealClock {
            start,
            jobs: Some(jobs),
            done,
            workers,
            in_flight: 0,
        }
    }

    pub fn now(&self) -> Nanos {
        nanos(self.start.elapsed())
    }

    pub fn run_until(
        &mut self,
        core: &mut Core,
        done: &mut dyn FnMut(&Core, usize) -> bool,
        deadline: Option<Nanos>,
    ) -> Result<RunEnd, RuntimeError> {
        loop {
            let now = self.now();
            core.fire_due(now);
            while let Some(exec) = core.poll_execution() {
                self.jobs
                    .as_ref()
                    .expect("jobs open while running")
                    .send(exec)
                    .map_err(|_| RuntimeError::Executor("every worker thread has exited".into()))?;
                self.in_flight += 1;
            }
            if done(core, self.in_flight) {
                return Ok(RunEnd::Reached);
            }
            let wake = super::next_wake(core, deadline);
            if deadline.is_some_and(|d| now >= d) {
                return Ok(RunEnd::Deadline);
            }
            if self.in_flight == 0 && wake.is_none() {
                return Err(RuntimeError::Stalled(
                    "nothing is running or scheduled".to_string(),
                ));
            }
            let timeout = wake.map_or(Duration::from_secs(3600), |w| {
                Duration::from_nanos(w.saturating_sub(now))
            });
            match self.done.recv_timeout(timeout) {
                Ok((task, out)) => {
                    self.in_flight -= 1;
                    let now = self.now();
                    core.fire_due(now);
                    core.complete(task, out, now);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(RuntimeError::Executor(
                        "every worker thread has exited".into(),
                    ));
                }
            }
        }
    }
}

impl Drop for RealClock {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
