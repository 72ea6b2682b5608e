//! The virtual clock: a deterministic discrete-event loop.

use super::{RunEnd, Runner};
use crate::core::Core;
use crate::error::RuntimeError;
use crate::time::Nanos;
use std::sync::Arc;

/// Drives a core in virtual time. Timers fire in (time, scheduling order); code runs inline
/// at its start instant. Same inputs, same policy seed: same trace, byte for byte.
pub(crate) struct VirtualClock {
    now: Nanos,
    runner: Arc<Runner>,
}

impl VirtualClock {
    pub fn new(runner: Arc<Runner>) -> Self {
        VirtualClock { now: 0, runner }
    }

    pub fn now(&self) -> Nanos {
        self.now
    }

    pub fn run_until(
        &mut self,
        core: &mut Core,
        done: &mut dyn FnMut(&Core, usize) -> bool,
        deadline: Option<Nanos>,
    ) -> Result<RunEnd, RuntimeError> {
        loop {
            while let Some(exec) = core.poll_execution() {
                let out = self.runner.run(&exec, self.now);
                core.complete(exec.task, out, self.now);
            }
            if done(core, 0) {
                return Ok(RunEnd::Reached);
            }
            match core.next_timer() {
                Some(t) if deadline.is_none_or(|d| t <= d) => {
                    self.now = t;
                    core.fire_next(t);
                }
                _ => {
                    return match deadline {
                        Some(d) => {
                            self.now = self.now.max(d);
                            Ok(RunEnd::Deadline)
                        }
                        None => Err(RuntimeError::Stalled(
                            "nothing is running or scheduled".to_string(),
                        )),
                    };
                }
            }
        }
    }
}
