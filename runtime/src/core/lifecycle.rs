//! The life of a piece of work (a task, an actor's construction, a method call): admitted on
//! its node, fetching its arguments, ready, running, executed, finished or failed.

use super::deferral::Waiting;
use super::host::Work;
use super::placement::{Ask, Decision};
use super::tasks::{Phase, TaskEntry};
use super::timers::Timer;
use super::transfers::Request;
use super::work::{Arg, ExecOutput, ExecWork, Execution, TaskRequest};
use super::{ClockMode, Core};
use crate::error::RuntimeError;
use crate::payload::Payload;
use crate::time::Nanos;
use crate::trace::{Datapoint, TaskRecord};
use cohort_policy::{NodeId, ObjectId, PolicyEvent, TaskId, WorkKind};
use smallvec::SmallVec;
use std::sync::Arc;

impl Core {
    /// Submits a task: it is placed now (or, if the policy defers it, when it is asked again:
    /// see `deferral`) and runs when its arguments are local and a slot is free. Each
    /// returned object starts with one reference (the driver's).
    pub fn submit(
        &mut self,
        req: TaskRequest,
        now: Nanos,
    ) -> Result<(TaskId, SmallVec<[ObjectId; 2]>), RuntimeError> {
        self.observe(now);
        let info = self
            .catalog
            .functions
            .get(req.function.0 as usize)
            .ok_or_else(|| RuntimeError::UnknownFunction(format!("#{}", req.function.0)))?;
        let what = &info.name;
        self.directory.check_args(&req.args)?;
        self.placer.check_feasible(what, req.demand)?;
        let task = self.tasks.new_id();
        let ask = Ask {
            task,
            kind: WorkKind::Task,
            hints: req.hints,
            demand: req.demand,
            args: &req.args,
            what,
        };
        let decision = self
            .placer
            .decide(ask, &self.directory, self.now, Some(0))?;
        self.submitted[req.function.0 as usize] += 1;
        let node = match decision {
            Decision::Node(node) => node,
            Decision::Defer(wait) => {
                let outputs = self.new_outputs(
                    task,
                    req.num_returns,
                    req.declared_output_size,
                    NodeId::NONE,
                );
                self.directory.hold_args(&req.args);
                let waiting = Waiting {
                    task,
                    work: ExecWork::Function(req.function),
                    hints: req.hints,
                    demand: req.demand,
                    args: req.args,
                    outputs: outputs.clone(),
                    submitted: now,
                    retry_at: 0,
                };
                self.defer(waiting, wait, now);
                return Ok((task, outputs));
            }
        };
        let outputs = self.new_outputs(task, req.num_returns, req.declared_output_size, node);
        self.admit(
            task,
            TaskEntry::placed(
                ExecWork::Function(req.function),
                req.hints,
                req.demand,
                req.args,
                SmallVec::from_slice(&outputs),
                node,
                now,
            ),
            now,
        );
        Ok((task, outputs))
    }

    /// The executor ran `task`: record what it produced. On the virtual clock the work
    /// finishes after its modeled duration; on the real clock now (plus the modeled duration
    /// if configured).
    pub fn complete(&mut self, task: TaskId, result: Result<ExecOutput, String>, now: Nanos) {
        self.observe(now);
        let Some(entry) = self.tasks.get_mut(task) else {
            return;
        };
        if entry.phase != Phase::Running {
            // Its node died while it ran: the run is lost, whatever it produced.
            return;
        }
        let expected = entry.outputs.len();
        let (result, datapoints) = match result {
            Ok(out) if matches!(entry.work, ExecWork::CreateActor { .. }) => {
                (Ok(Vec::new()), out.datapoints)
            }
            Ok(out) if out.outputs.len() == expected => (Ok(out.outputs), out.datapoints),
            Ok(out) => (
                Err(Arc::from(format!(
                    "returned {} values, expected {expected}",
                    out.outputs.len()
                ))),
                out.datapoints,
            ),
            Err(reason) => (Err(Arc::from(reason)), Vec::new()),
        };
        // A run again of work that finished once records nothing: its first run did.
        let datapoints = if entry.reexecution {
            Vec::new()
        } else {
            datapoints
        };
        for (tag, ingest) in datapoints {
            self.record.trace.datapoints.push(Datapoint {
                tag,
                ingest,
                arrival: entry.started,
                task,
                index: entry.hints.index,
                node: entry.node,
            });
        }
        let output_bytes: u64 = result
            .as_ref()
            .map_or(0, |v| v.iter().map(Payload::size).sum());
        let cost = self.catalog.cost(&entry.work);
        let mut modeled = cost.duration(entry.input_bytes, output_bytes);
        let model = &self.config.model;
        if let (Some(s), Ok(values)) = (model.serialization, &result) {
            modeled = modeled.saturating_add(s.cost(values.iter().map(Payload::size)));
        }
        let modeled = model.jitter.apply(modeled, self.config.seed, task.0);
        // A slowed node's work takes longer (its duration is fixed now, as it starts).
        let node = &mut self.nodes[entry.node.index()];
        let modeled = match node.cpu_slowdown {
            Some(by) => by.stretch(modeled),
            None => modeled,
        };
        // Waking an idle node is charged as part of the work.
        let modeled = if model.wake_up.is_none() {
            modeled
        } else {
            modeled.saturating_add(node.idleness.start(now, &model.wake_up))
        };
        // So is memory its outputs take that the node's store has never reached.
        let reach = node.store.used() + output_bytes;
        let modeled = modeled.saturating_add(node.first_touch(reach, model.first_touch_ps));
        let delay = match self.config.clock {
            ClockMode::Virtual | ClockMode::Real { add_modeled: true } => modeled,
            ClockMode::Real { add_modeled: false } | ClockMode::External => 0,
        };
        entry.result = Some(result);
        entry.phase = Phase::Executed;
        match &mut self.host {
            Some(host) if delay > 0 => {
                // Its end depends on the work that starts and ends meanwhile.
                entry.finish_at = Nanos::MAX;
                let rearm = host.start(Work::Task(task), delay, now);
                self.rearm_finish(rearm);
                self.start_head_work(task, now);
            }
            _ => {
                entry.finish_at = now.saturating_add(delay);
                self.timers
                    .push(entry.finish_at, super::Timer::Finish(task));
            }
        }
    }

    /// Starts the head's work for `task`, which has just started executing, on the host's
    /// cores (`ModelOptions::head_work`, if any): it delays nothing, it takes its share.
    fn start_head_work(&mut self, task: TaskId, now: Nanos) {
        let work = self.config.model.head_work;
        if let (Some(host), true) = (&mut self.host, work > 0) {
            let rearm = host.start(Work::Head(task), work, now);
            self.rearm_finish(rearm);
        }
    }

    /// Carries out a change of the host's armed timer: a disarmed task's end is unknown
    /// again (a set-up's timer is checked against the host when it fires), the armed
    /// piece's timer is set.
    pub(super) fn rearm_finish(&mut self, rearm: super::host::Rearm) {
        if let Some(Work::Task(task)) = rearm.disarmed
            && let Some(entry) = self.tasks.get_mut(task)
            && entry.phase == Phase::Executed
        {
            entry.finish_at = Nanos::MAX;
        }
        match rearm.armed {
            Some((Work::Task(task), at)) => {
                self.tasks.entry_mut(task).finish_at = at;
                self.timers.push(at, super::Timer::Finish(task));
            }
            Some((Work::SetUp(id), at)) => self.timers.push(at, super::Timer::SetUp(id)),
            Some((Work::Copy(id), at)) => self.timers.push(at, super::Timer::Copied(id)),
            Some((Work::Head(task), at)) => self.timers.push(at, super::Timer::HeadWorked(task)),
            None => {}
        }
    }

    /// Registers a placed task and starts fetching its arguments, at once or when its
    /// forward arrives (see `forwarding`).
    #[inline]
    pub(super) fn admit(&mut self, task: TaskId, entry: TaskEntry, now: Nanos) {
        let node = entry.node;
        self.tasks.insert(task, entry);
        let entry = self.tasks.entry(task);
        self.directory.hold_args(&entry.args);
        if let Some(at) = self.forward(node, now) {
            self.tasks.entry_mut(task).phase = Phase::Forwarding;
            self.timers.push(at, Timer::Forwarded(task));
            return;
        }
        self.begin(task, now);
    }

    /// Starts fetching the arguments of registered work (new, or placed again), unless its
    /// node is dead: then it waits, lost, until the cluster declares the node dead.
    #[inline]
    pub(super) fn begin(&mut self, task: TaskId, now: Nanos) {
        let entry = self.tasks.entry(task);
        let node = entry.node;
        if !self.nodes[node.index()].up {
            if let ExecWork::Method { actor, .. } = entry.work
                && let Some(reason) = self.actor_failure(actor)
            {
                // A call on an actor that failed with its node: it fails now.
                self.fail_task(task, format!("{actor} failed: {reason}").into(), now);
                return;
            }
            self.tasks.entry_mut(task).phase = Phase::Lost { ran: false };
            return;
        }
        if entry.holds_slot() {
            self.placer.node_mut(node).queued += 1;
        }
        if entry.objects.is_empty() {
            self.all_args_arrived(task, now);
            return;
        }
        let objects = SmallVec::<[ObjectId; 4]>::from_slice(&entry.objects);
        let Some(missing) = self.fetch(task, node, &objects, now) else {
            return;
        };
        self.tasks.entry_mut(task).missing = missing;
        if missing == 0 {
            self.all_args_arrived(task, now);
        }
    }

    /// Places again, with the policy, a task lost with its node (declared dead now), if its
    /// retries allow; otherwise it fails.
    pub(super) fn place_again(&mut self, task: TaskId, now: Nanos) {
        let entry = self.tasks.entry(task);
        let Phase::Lost { ran } = entry.phase else {
            return;
        };
        debug_assert!(matches!(entry.work, ExecWork::Function(_)));
        let retries = self.spec.recovery.task_retries;
        let dead = entry.node;
        if entry.attempts >= retries {
            let reason = format!(
                "{dead} died under it, and it has been run again {retries} time(s), the most allowed"
            );
            self.fail_task(task, reason.into(), now);
            return;
        }
        let what = self.catalog.name(&entry.work);
        let ask = Ask {
            task,
            kind: WorkKind::Task,
            hints: entry.hints,
            demand: entry.demand,
            args: &entry.args,
            what: &what,
        };
        match self.placer.place(ask, &self.directory, self.now) {
            Err(e) => {
                let reason = format!("{dead} died under it, and placing it again failed: {e}");
                self.fail_task(task, reason.into(), now);
            }
            Ok(node) => {
                if ran {
                    self.record.counters.reexecuted += 1;
                }
                self.move_work(task, node);
                self.begin(task, now);
            }
        }
    }

    /// Moves work (lost with its node, or spilled over) to `node`, to fetch its arguments
    /// there afresh: it is no longer among any object's waiters, and its outputs are to be
    /// made on `node`.
    pub(super) fn move_work(&mut self, task: TaskId, node: NodeId) {
        let entry = self.tasks.entry_mut(task);
        entry.attempts += 1;
        entry.node = node;
        entry.phase = Phase::Fetching;
        entry.missing = 0;
        entry.result = None;
        entry.input_bytes = 0;
        // Pins on its old node went with that node's store.
        entry.held.clear();
        entry.pinned = false;
        let entry = self.tasks.entry(task);
        for o in &entry.objects {
            if let Some(o) = self.directory.get_mut(*o) {
                o.waiters.retain(|t| *t != task);
            }
        }
        for o in &entry.outputs {
            if let Some(o) = self.directory.get_mut(*o) {
                o.producer_node = node;
            }
        }
        for n in &mut self.nodes {
            if !n.parked.is_empty() {
                n.parked.retain(|(t, _)| *t != task);
            }
        }
        self.unstall(task);
    }

    /// Asks for each of `objects` at `node` for `task`; returns how many are on their way, or
    /// `None` if one cannot come or the task ended meanwhile (it has then failed).
    fn fetch(
        &mut self,
        task: TaskId,
        node: NodeId,
        objects: &[ObjectId],
        now: Nanos,
    ) -> Option<u32> {
        let mut missing = 0;
        for &o in objects {
            match self.request(o, node, task, now) {
                Request::Local => {}
                Request::Waiting => missing += 1,
                Request::Ended => return None,
                Request::Failed(reason) => {
                    self.fail_task(task, reason, now);
                    return None;
                }
            }
        }
        Some(missing)
    }

    /// One awaited object reached the task's node.
    pub(super) fn arrived(&mut self, task: TaskId, now: Nanos) {
        let Some(entry) = self.tasks.get_mut(task) else {
            return;
        };
        if entry.phase != Phase::Fetching {
            return;
        }
        entry.missing -= 1;
        if entry.missing == 0 {
            self.all_args_arrived(task, now);
        }
    }

    /// Every argument has arrived once; check none was evicted since, and queue. Arguments
    /// are pinned when the work starts (see [`Core::claim_args`]): a ready task waiting for a
    /// slot holds no pin, so a queue of them cannot fill a store that must still receive.
    ///
    /// If some were evicted while others were on their way, those here are pinned now
    /// (`held`) and the others fetched again; once all are here, all stay pinned until the
    /// work ends: under pressure, fetching them again could otherwise evict the first ones
    /// again, and so on for ever.
    fn all_args_arrived(&mut self, task: TaskId, now: Nanos) {
        let entry = self.tasks.entry(task);
        let node = entry.node;
        let store = &self.nodes[node.index()].store;
        if entry.objects.iter().any(|o| !store.has_sealed(*o)) {
            let gone: SmallVec<[ObjectId; 4]> = entry
                .objects
                .iter()
                .copied()
                .filter(|o| !store.has_sealed(*o))
                .collect();
            let entry = self.tasks.entry_mut(task);
            let store = &mut self.nodes[node.index()].store;
            for &o in &entry.objects {
                if store.has_sealed(o) && !entry.held.contains(&o) {
                    store.pin(o);
                    entry.held.push(o);
                }
            }
            // Evicted while other arguments were still on their way: fetch again.
            match self.fetch(task, node, &gone, now) {
                None => return,
                Some(0) => {}
                Some(missing) => {
                    self.tasks.entry_mut(task).missing = missing;
                    return;
                }
            }
        }
        let mut input_bytes = 0;
        let entry = self.tasks.entry_mut(task);
        if !entry.held.is_empty() {
            let store = &mut self.nodes[node.index()].store;
            for &o in &entry.objects {
                if !entry.held.contains(&o) {
                    store.pin(o);
                }
            }
            entry.held.clear();
            entry.pinned = true;
        }
        for a in &entry.args {
            input_bytes += match a {
                Arg::Object(o) => self.directory.entry(*o).size,
                Arg::Value(p) => p.size(),
            };
        }
        entry.input_bytes = input_bytes;
        entry.phase = Phase::Ready;
        entry.args_local = now;
        match entry.work {
            ExecWork::Method { actor, .. } => self.run_actor(actor, now),
            _ => {
                self.nodes[node.index()].ready.push_back(task);
                self.dispatch(node, now);
                self.arm_heartbeat(now);
            }
        }
    }

    /// Starts ready work on `node` while slots are free (FIFO).
    pub(super) fn dispatch(&mut self, node: NodeId, now: Nanos) {
        while let Some(&task) = self.nodes[node.index()].ready.front() {
            let demand = self.tasks.entry(task).demand.cpus;
            let view = self.placer.node(node);
            if demand > view.cpus_total - view.cpus_busy {
                break;
            }
            self.nodes[node.index()].ready.pop_front();
            if !self.claim_args(task, now) {
                continue;
            }
            let view = self.placer.node_mut(node);
            view.cpus_busy += demand;
            view.queued -= 1;
            self.start(task, now);
        }
    }

    /// Ready work is about to start: pins its arguments, if they are all still here, and
    /// returns true. If some were evicted while it waited, it goes back to fetching them
    /// (see [`Core::all_args_arrived`]) and this returns false.
    pub(super) fn claim_args(&mut self, task: TaskId, now: Nanos) -> bool {
        let entry = self.tasks.entry(task);
        if entry.pinned {
            return true;
        }
        let node = entry.node;
        let store = &self.nodes[node.index()].store;
        if entry.objects.iter().all(|o| store.has_sealed(*o)) {
            let entry = self.tasks.entry_mut(task);
            let store = &mut self.nodes[node.index()].store;
            for &o in &entry.objects {
                store.pin(o);
            }
            entry.pinned = true;
            return true;
        }
        self.tasks.entry_mut(task).phase = Phase::Fetching;
        self.all_args_arrived(task, now);
        false
    }

    /// Hands ready work to the executor. If its object arguments are distinct (the common
    /// case), its argument list becomes the inputs (in place), and `objects` stands for the
    /// object arguments from then on; otherwise the inputs are a new list.
    pub(super) fn start(&mut self, task: TaskId, now: Nanos) {
        let entry = self.tasks.entry_mut(task);
        entry.phase = Phase::Running;
        entry.started = now;
        let directory = &self.directory;
        let input = |a: &Arg| match a {
            Arg::Value(p) => p.clone(),
            Arg::Object(o) => directory
                .entry(*o)
                .payload()
                .cloned()
                .expect("a pinned local argument is ready"),
        };
        let object_args =
            |args: &[Arg]| args.iter().filter(|a| matches!(a, Arg::Object(_))).count();
        let (objects, outputs) = if self.config.clock == ClockMode::External {
            let objects = entry
                .args
                .iter()
                .map(|a| match a {
                    Arg::Object(o) => Some(*o),
                    Arg::Value(_) => None,
                })
                .collect();
            (objects, entry.outputs.clone())
        } else {
            (Vec::new(), SmallVec::new())
        };
        let inputs = if entry.args.is_empty() {
            Vec::new()
        } else if !self.keep_args && object_args(&entry.args) == entry.objects.len() {
            std::mem::take(&mut entry.args)
                .into_iter()
                .map(|a| match a {
                    Arg::Value(p) => p,
                    object => input(&object),
                })
                .collect()
        } else {
            entry.args.iter().map(input).collect()
        };
        self.executions.push_back(Execution {
            task,
            node: entry.node,
            work: entry.work,
            index: entry.hints.index,
            inputs,
            objects,
            outputs,
        });
    }

    /// The finish timer of executed work fired: seal outputs, free slot and pins. The entry
    /// stays in the table (in phase `Executed`, which nothing acts on) until the end, so that
    /// it is never moved out.
    /// `due` is the time the timer was set for (`now` on the virtual clock).
    pub(super) fn finish(&mut self, task: TaskId, due: Nanos, now: Nanos) {
        let Some(entry) = self.tasks.get_mut(task) else {
            return;
        };
        if entry.phase != Phase::Executed || entry.finish_at != due {
            // The timer of a run lost with its node, or moved by the host's sharing.
            return;
        }
        let node = entry.node;
        if !self.config.model.wake_up.is_none() {
            self.nodes[node.index()].idleness.end(now);
        }
        if let Some(host) = &mut self.host
            && host.is_armed(Work::Task(task))
        {
            let rearm = host.finish_armed(now);
            self.rearm_finish(rearm);
        }
        if !self.store_outputs(task, now) {
            self.nodes[node.index()].finishing.push_back(task);
        }
    }

    /// Executed work whose time is up releases its arguments, stores its outputs and ends;
    /// returns false, changing nothing else, if its node's store has no room for the outputs
    /// now (everything in it is pinned): it then keeps its slot and waits for room (see
    /// `room`). Outputs larger than the whole store fail it.
    pub(super) fn store_outputs(&mut self, task: TaskId, now: Nanos) -> bool {
        let entry = self.tasks.entry_mut(task);
        let node = entry.node;
        if entry.pinned {
            let store = &mut self.nodes[node.index()].store;
            for &o in &entry.objects {
                store.unpin(o);
            }
            entry.pinned = false;
        }
        let mut too_big = None;
        if let Some(Ok(values)) = &entry.result {
            let total: u64 = values.iter().map(Payload::size).sum();
            match self.make_room(node, total) {
                Ok(()) => {}
                Err(e) if e.needed <= e.capacity => return false,
                Err(e) => too_big = Some(e),
            }
        }
        let entry = self.tasks.entry_mut(task);
        if entry.holds_slot() {
            self.placer.node_mut(node).cpus_busy -= entry.demand.cpus;
        }
        let mut result = entry.result.take().expect("finish after complete");
        let work = entry.work;
        let outputs = std::mem::take(&mut entry.outputs);
        let output_bytes = result
            .as_ref()
            .map_or(0, |values| values.iter().map(Payload::size).sum());
        if let Some(e) = too_big {
            self.record.counters.oversized += 1;
            result = Err(format!("cannot store its outputs: {}", e.into_error(node)).into());
        }
        let ok = result.is_ok();
        let mut sealed: SmallVec<[ObjectId; 2]> = SmallVec::new();
        match result {
            Ok(values) => {
                // Outputs have a waiter or two: no allocation for them.
                let mut wake: SmallVec<[(ObjectId, TaskId); 4]> = SmallVec::new();
                for (o, v) in outputs.iter().zip(values) {
                    if self.seal_output(*o, v, node, &mut wake) {
                        sealed.push(*o);
                    }
                }
                for (o, task) in wake {
                    self.ask_for(o, task, now);
                }
            }
            Err(reason) => self.fail_outputs(task, &work, &outputs, &reason, now),
        }
        self.refresh_store_view(node);
        self.end_of_work(task, None, ok, output_bytes, outputs, now);
        let store = &mut self.nodes[node.index()].store;
        for o in sealed {
            store.unpin(o);
        }
        self.room_freed(node, now);
        self.dispatch(node, now);
        self.slot_freed(now);
        true
    }

    /// Fails work that has not run (an argument failed or could not be fetched).
    pub(super) fn fail_task(&mut self, task: TaskId, reason: Arc<str>, now: Nanos) {
        let Some(entry) = self.tasks.remove(task) else {
            return;
        };
        let node = entry.node;
        debug_assert!(matches!(
            entry.phase,
            Phase::Forwarding | Phase::Fetching | Phase::Ready | Phase::Lost { .. }
        ));
        // Work lost with its node holds nothing there (the node's load and store were reset),
        // and work still being forwarded has not reached it.
        let lost = matches!(entry.phase, Phase::Lost { .. });
        if entry.holds_slot() && !lost && entry.phase != Phase::Forwarding {
            self.placer.node_mut(node).queued -= 1;
            if entry.phase == Phase::Ready {
                self.nodes[node.index()].ready.retain(|t| *t != task);
            }
        }
        if entry.phase == Phase::Ready && entry.pinned {
            for &o in &entry.objects {
                self.nodes[node.index()].store.unpin(o);
            }
        }
        if entry.phase == Phase::Fetching {
            for &o in &entry.held {
                self.nodes[node.index()].store.unpin(o);
            }
        }
        self.fail_outputs(task, &entry.work, &entry.outputs, &reason, now);
        // Outputs matter to `end_of_work` only for work that finished well.
        self.end_of_work(task, Some(entry), false, 0, SmallVec::new(), now);
        if !lost {
            self.room_freed(node, now);
            self.dispatch(node, now);
        }
    }

    /// Records why `task` (running `work`) failed and fails its `outputs` (and so the work
    /// waiting for them).
    fn fail_outputs(
        &mut self,
        task: TaskId,
        work: &ExecWork,
        outputs: &[ObjectId],
        reason: &str,
        now: Nanos,
    ) {
        let name = self.catalog.name(work);
        let reason = self.record.failure(task, &name, reason);
        for &o in outputs {
            self.fail_object(o, reason.clone(), now);
        }
    }

    /// Bookkeeping shared by finished and failed work. `removed` is the work's entry if it
    /// was taken out of the table already; if `None`, the entry is still in the table and is
    /// dropped from it here.
    fn end_of_work(
        &mut self,
        task: TaskId,
        removed: Option<TaskEntry>,
        ok: bool,
        output_bytes: u64,
        outputs: SmallVec<[ObjectId; 2]>,
        now: Nanos,
    ) {
        if ok {
            self.record.counters.finished += 1;
        } else {
            self.record.counters.failed += 1;
        }
        let entry = match &removed {
            Some(entry) => entry,
            None => self.tasks.entry(task),
        };
        if self.record.full() {
            let reached = |t: Nanos| {
                if matches!(entry.phase, Phase::Forwarding | Phase::Fetching) {
                    now
                } else {
                    t
                }
            };
            let started = match entry.phase {
                Phase::Running | Phase::Executed => entry.started,
                _ => now,
            };
            self.record.trace.tasks.push(TaskRecord {
                task,
                kind: entry.kind(),
                name: self.catalog.name(&entry.work),
                hints: entry.hints,
                node: entry.node,
                cpus: if entry.holds_slot() {
                    entry.demand.cpus
                } else {
                    0
                },
                submitted: entry.submitted,
                args_local: reached(entry.args_local),
                started,
                finished: now,
                input_bytes: entry.input_bytes,
                output_bytes,
                ok,
            });
        }
        self.placer.tell(PolicyEvent::Finished {
            task,
            hints: entry.hints,
            node: entry.node,
        });
        let work = entry.work;
        let (hints, demand, reexecution, attempts) =
            (entry.hints, entry.demand, entry.reexecution, entry.attempts);
        // If the arguments became the inputs when the work started, its object arguments
        // were distinct and `objects` lists them in order.
        let mut started_objects = None;
        let args = match removed {
            Some(entry) => entry.args,
            None => {
                let entry = self.tasks.entry_mut(task);
                let args = std::mem::take(&mut entry.args);
                if args.is_empty() && !entry.objects.is_empty() {
                    started_objects = Some(std::mem::take(&mut entry.objects));
                }
                self.tasks.discard(task);
                args
            }
        };
        match work {
            ExecWork::CreateActor { actor, .. } => self.actor_constructed(actor, ok, now),
            ExecWork::Method { actor, .. } => self.call_ended(actor, task, now),
            ExecWork::Function(_) => {}
        }
        // Work that finished well is remembered if its outputs may have to be rebuilt (a
        // task's spec, kept while an output lives) or its actor's state replayed (a call);
        // what is remembered keeps its arguments (and releases their references itself).
        let args = if ok && !reexecution {
            let done = super::lineage::Done {
                task,
                work,
                hints,
                demand,
                outputs,
                attempts,
            };
            self.remember(done, args)
        } else {
            args
        };
        self.release_args(&args);
        if let Some(objects) = started_objects {
            for o in objects {
                self.release(o);
            }
        }
    }
}
