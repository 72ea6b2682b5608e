#!/usr/bin/env python3
"""Runs a cohort workload on a real Ray cluster and writes cohort's sweep directory layout.

The workload is resolved by cohort itself (`cohort resolve`), so this program never parses
units, parameters or `--set`; it builds the same program (stages, widths, fan-in, actors,
schedule) on Ray, runs each task kind's code on real bytes by cohort's live rule (so the
reducers' totals equal a live cohort run's), and writes, per run, `latencies.csv`,
`summary.csv` and `manifest.toml` with cohort's columns, plus `placements.csv` (which node ran
which task). `cohort report` draws the result beside cohort's own runs.

Runs on Ray 0.6.0 (Python 3.6) and on current Ray (2.x). Each run is a fresh local cluster in
a child process of its own session, killed as a whole afterwards. See README.md.
"""

import argparse
import csv
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FORMAT = 1
UNIT = 1.0 / (1 << 20)
MASK = (1 << 64) - 1
PLACEMENTS = ("default", "spread", "group")
# The columns of cohort's summary.csv and latencies.csv (cohort-schema's SummaryRow and
# LatencyRow); `param.*` columns go after the third column.
SUMMARY_HEAD = ["run", "policy", "seed"]
SUMMARY_TAIL = [
    "datapoints", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "bytes_transferred",
    "transfers", "evictions", "tasks", "failed", "cpu_util_mean", "cpu_util_min",
    "cpu_util_max", "reexecuted", "reconstructed", "actor_restarts", "spilled_bytes",
    "restored_bytes", "datapoints_lost", "recovery_first_ms", "recovery_last_ms", "unfinished",
    "growth_ms_per_s",
]
LATENCY_HEAD = ["policy", "seed"]
LATENCY_TAIL = [
    "iteration", "reducer", "node", "ingest_ns", "arrival_ns", "latency_ns", "warmup",
]
# Summary columns this peer cannot measure on Ray: written 0, listed in the manifest.
UNMEASURED = [
    "bytes_transferred", "transfers", "evictions", "failed", "reexecuted", "reconstructed",
    "actor_restarts", "spilled_bytes", "restored_bytes", "datapoints_lost",
]


class Refused(Exception):
    """Bad input: the message names the problem; the program exits with code 2."""


class RunFailed(Exception):
    """A run that produced no result: the sweep records it and goes on."""


def now_ns():
    return int(time.time() * 1e9)


# ---------------------------------------------------------------------------------------
# The data, by cohort's live rule (cohort_workloads::live): float64 values, each a whole
# number of 2^-20 units below 1, so every sum is exact.


def _mix(z, np):
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix_int(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def generated(seed, iteration, index, size):
    """The `size` bytes a generating task makes (cohort_workloads::live::generated)."""
    import numpy as np
    key = _mix_int(_mix_int(seed ^ _mix_int(iteration)) ^ index)
    out = np.zeros(size, dtype=np.uint8)
    n = size // 8
    if n:
        with np.errstate(over="ignore"):
            k = _mix(np.uint64(key) + np.arange(n, dtype=np.uint64), np) >> np.uint64(44)
        out[: n * 8] = (k.astype(np.float64) * UNIT).view(np.uint8)
    return out


def _values(obj):
    """An object's whole float64 values (a partial one at the end ignored)."""
    import numpy as np
    n = obj.shape[0] // 8
    return np.ascontiguousarray(obj[: n * 8]).view("<f8")


def split_sums(objects, size):
    """The objects' values, concatenated, cut into size/8 contiguous parts, each summed."""
    import numpy as np
    parts = size // 8
    allv = np.concatenate([_values(o) for o in objects]) if objects else np.zeros(0)
    out = np.zeros(size, dtype=np.uint8)
    if parts and allv.shape[0]:
        base, extra = divmod(allv.shape[0], parts)
        lengths = [base + (1 if p < extra else 0) for p in range(parts)]
        starts = np.cumsum([0] + lengths[:-1])
        sums = np.zeros(parts)
        nonempty = [p for p in range(parts) if lengths[p]]
        sums[nonempty] = np.add.reduceat(allv, starts[nonempty])
        out[: parts * 8] = sums.view(np.uint8)
    return out


def units(obj):
    """The sum of an object's values in units (exact: every value is whole in units)."""
    v = _values(obj)
    return int(round(float(v.sum()) / UNIT)) & MASK if v.shape[0] else 0


# ---------------------------------------------------------------------------------------
# What runs on Ray's workers.


def _node_key(ray):
    """This worker's node, as a key the driver maps to a node index."""
    if hasattr(ray, "get_runtime_context") and hasattr(ray.get_runtime_context(), "get_node_id"):
        return ray.get_runtime_context().get_node_id()
    return ray.worker.global_worker.plasma_client.store_socket_name


_RECORD = {}


def _record(record_dir, line):
    """Appends one line to this process's record file."""
    f = _RECORD.get(record_dir)
    if f is None:
        f = open(os.path.join(record_dir, "%d.csv" % os.getpid()), "a", buffering=1)
        _RECORD[record_dir] = f
    f.write(line + "\n")


def run_kind(spec, header, objects):
    """One task kind's code on real bytes; `spec` = (name, output_size, outputs, record,
    seed, index, record_dir, what); records the task's placement and, for a recording kind,
    its datapoint."""
    import ray
    name, output_size, outputs, record, seed, index, record_dir, what = spec
    iteration, ingest = header
    start = now_ns()
    node = _node_key(ray)
    if record:
        _record(record_dir, "d,%d,%d,%s,%d,%d" % (iteration, index, node, ingest, start))
    if outputs == 0:
        out = None
    elif output_size == "input":
        out = objects[0].copy()
    elif output_size == "inputs":
        import numpy as np
        out = np.concatenate(objects)
    elif not objects:
        out = generated(seed, iteration, index, output_size)
    else:
        out = split_sums(objects, output_size)
    _record(record_dir, "t,%s,%s,%d,%d,%s,%d,%d" % (what, name, iteration, index, node, start,
                                                     now_ns()))
    if outputs <= 1:
        return out
    return tuple(out for _ in range(outputs))


def contribution(header, objects):
    """What an actor call adds to its total: 1 + iteration + its arguments' units."""
    total = (1 + header[0]) & MASK
    for o in objects:
        total = (total + units(o)) & MASK
    return total


class ActorBody(object):
    """An actor: a running total (cohort_workloads::program's actor state)."""

    def __init__(self):
        self.sum = 0

    def call(self, spec, header, *objects):
        out = run_kind(spec, header, objects)
        self.sum = (self.sum + contribution(header, objects)) & MASK
        return out

    def total(self):
        return str(self.sum)


def task_body(spec, header, *objects):
    return run_kind(spec, header, objects)


# ---------------------------------------------------------------------------------------
# Placement of the group emulation: where cohort's group policy would put each task on an
# idle cluster of uniform nodes, pinned by a custom resource per node.


class Pinning(object):
    """Static placements in the spirit of group scheduling: a task with no dependency on a
    node drawn from the seed; a map over a broadcast packed onto the broadcast's node first,
    then the next nodes in order, `cpus` tasks per node; a map over anything else (and a
    join, by its first input) on the node of its input's task of the same index (the first of
    its fan-in chunk); an actor reducing a stage on the nodes holding that stage, in ascending
    node order, `cpus` actors per node."""

    def __init__(self, nodes, cpus, seed):
        self.nodes = nodes
        self.cpus = cpus
        self.rng = random.Random(seed)

    def free(self):
        return self.rng.randrange(self.nodes)

    def packed(self, start, count):
        return [(start + i // self.cpus) % self.nodes for i in range(count)]

    def actors(self, holders, count):
        order = sorted(set(holders)) or list(range(self.nodes))
        slots = [n for n in order for _ in range(self.cpus)]
        return [slots[j % len(slots)] for j in range(count)]


# ---------------------------------------------------------------------------------------
# The driver: the same program as cohort_workloads::program::drive, on Ray.


class Element(object):
    """One element of a stage's output: an object ref, the node its producer is pinned to
    (None when Ray places), and whether it comes from a broadcast."""

    __slots__ = ("ref", "node", "broadcast")

    def __init__(self, ref, node, broadcast):
        self.ref, self.node, self.broadcast = ref, node, broadcast


class Driver(object):
    def __init__(self, ray, doc, placement, seed, record_dir):
        self.ray = ray
        self.doc = doc
        self.placement = placement
        self.seed = seed
        self.record_dir = record_dir
        self.v06 = ray.__version__.startswith("0.")
        cl = doc["cluster"]
        self.pin = Pinning(cl["nodes"], min(cl["cpus"]), seed)
        self.task = ray.remote(task_body)
        self.actor_class = ray.remote(ActorBody)
        self.actors = {}
        self.submitted_records = 0
        self.pools = []

    def options(self, node, cpus):
        opts = {}
        if node is not None:
            opts["resources"] = {"cohort_node_%d" % node: 1}
        elif self.placement == "spread":
            opts["scheduling_strategy"] = "SPREAD"
        if cpus is not None:
            opts["num_cpus"] = cpus
        return opts

    def submit(self, name, kind, index, header, args, node, what):
        outputs = kind["outputs"]
        spec = (name, kind["output_size"], outputs, kind["record"], self.seed, index,
                self.record_dir, what)
        if kind["record"]:
            self.submitted_records += 1
        returns = max(outputs, 1)
        opts = self.options(node, kind["cpus"])
        if self.v06:
            refs = self.task._remote(args=[spec, header] + args, num_return_vals=returns,
                                     num_cpus=opts.get("num_cpus"),
                                     resources=opts.get("resources"))
        else:
            refs = self.task.options(num_returns=returns, **opts).remote(spec, header, *args)
        return refs if returns > 1 else [refs]

    def call(self, actor, method, kind, index, header, args):
        spec = (method, kind["output_size"], kind["outputs"], kind["record"], self.seed,
                index, self.record_dir, "call")
        if kind["record"]:
            self.submitted_records += 1
        if self.v06:
            return actor.call._remote(args=[spec, header] + args, kwargs={},
                                      num_return_vals=1)
        return actor.call.remote(spec, header, *args)

    def new_actor(self, node):
        """An actor, pinned to `node` unless it is None. A pinned actor holds no CPU (as
        cohort's actors): current Ray would otherwise keep one of its node's CPUs for the
        actor's whole life once a custom resource is asked for, and starve the tasks pinned
        beside it. An unpinned one gets Ray's own defaults."""
        opts = self.options(node, 0 if node is not None else None)
        if self.v06:
            return self.actor_class._remote(args=[], kwargs={}, num_cpus=opts.get("num_cpus"),
                                            resources=opts.get("resources"))
        return self.actor_class.options(**opts).remote()

    def pinned(self):
        return self.placement == "group"

    def build(self, i, built, header):
        """Submits stage `i`; returns its elements (or its actors)."""
        st = self.doc["stage"][i]
        op = st["op"]
        if op == "broadcast":
            kind = self.doc["tasks"][st["task"]]
            node = self.pin.free() if self.pinned() else None
            ref = self.submit(st["task"], kind, 0, header, [], node, st["name"])[0]
            return [Element(ref, node, True) for _ in range(st["width"])]
        if op == "init_actors":
            # Created at their first call, where the group policy would place them.
            pool = {"actor": st["actor"], "count": st["count"], "handles": None}
            self.pools.append(pool)
            return pool
        if op == "reduce_actors":
            pool = built[self.index_of(st["actors"])]
            inputs = built[self.index_of(st["input"])]
            if pool["handles"] is None:
                nodes = (self.pin.actors([e.node for e in inputs], pool["count"])
                         if self.pinned() else [None] * pool["count"])
                pool["handles"] = [self.new_actor(n) for n in nodes]
            method = self.doc["actors"][pool["actor"]]["methods"][st["method"]]
            out = []
            for j, handle in enumerate(pool["handles"]):
                ref = self.call(handle, st["method"], method, j, header, [e.ref for e in inputs])
                out.append(Element(ref, None, False))
            return out
        kind = self.doc["tasks"][st["task"]]
        if op == "map":
            elements = built[self.index_of(st["input"])]
            for _ in range(st["repeat"]):
                elements = self.map(st, kind, elements, st["fan_in"], header)
            return elements
        if op == "join":
            inputs = [built[self.index_of(n)] for n in st["inputs"]]
            if st["join"] == "zip":
                groups = [list(g) for g in zip(*inputs)]
            else:
                groups = [list(g) for g in itertools.product(*inputs)]
            return self.submit_groups(st, kind, groups, header)
        raise Refused("unknown stage op %r (format %d)" % (op, FORMAT))

    def map(self, st, kind, elements, fan_in, header):
        groups = [elements[k:k + fan_in] for k in range(0, len(elements), fan_in)]
        return self.submit_groups(st, kind, groups, header)

    def submit_groups(self, st, kind, groups, header):
        nodes = [None] * len(groups)
        if self.pinned() and groups:
            first = groups[0][0]
            if first.broadcast:
                start = first.node if first.node is not None else 0
                nodes = self.pin.packed(start, len(groups))
            else:
                nodes = [g[0].node for g in groups]
        out = []
        for idx, (g, node) in enumerate(zip(groups, nodes)):
            refs = self.submit(st["task"], kind, idx, header, [e.ref for e in g], node,
                               st["name"])
            out.append(Element(refs[0], node, False))
        return out

    def index_of(self, name):
        for i, st in enumerate(self.doc["stage"]):
            if st["name"] == name:
                return i
        raise Refused("no stage named %r" % name)

    def run(self):
        """Plays the schedule; returns (start_ns, iterations, unfinished, end_ns)."""
        ray = self.ray
        sched = self.doc["schedule"]
        stages = self.doc["stage"]
        t0 = now_ns()
        once = [None] * len(stages)
        for i, st in enumerate(stages):
            if st["scope"] == "once":
                once[i] = self.build(i, once, (0, now_ns()))
        iteration = 0
        while True:
            start = now_ns()
            if "duration_ns" in sched:
                if start - t0 >= sched["duration_ns"]:
                    break
            elif iteration >= sched["iterations"]:
                break
            built = list(once)
            for i, st in enumerate(stages):
                if st["scope"] == "iteration":
                    built[i] = self.build(i, built, (iteration, start))
            iteration += 1
            if sched["mode"] == "fixed-delay":
                time.sleep(sched["period_ns"] / 1e9)
            else:
                time.sleep(max(0, start + sched["period_ns"] - now_ns()) / 1e9)
        ran = now_ns() - t0
        drain = sched.get("drain_ns", ran)
        deadline = time.time() + drain / 1e9
        # Done when every recording call has recorded (the sinks' own objects are no
        # witness: Ray 0.6's stores evict them, done or not).
        while self.recorded() < self.submitted_records and time.time() < deadline:
            time.sleep(0.05)
        return t0, iteration, self.submitted_records - self.recorded(), now_ns()

    def recorded(self):
        """Datapoints the workers have recorded so far."""
        count = 0
        for name in os.listdir(self.record_dir):
            with open(os.path.join(self.record_dir, name)) as f:
                count += sum(1 for line in f if line.startswith("d,"))
        return count

    def wait_timeout(self, seconds):
        # Ray 0.6 takes milliseconds, current Ray seconds.
        return int(max(seconds, 0.001) * 1000) if self.v06 else max(seconds, 0.001)

    def totals(self):
        """Each actor's total, by creation order (actor ids 1, 2, ... as cohort numbers
        actors of one init_actors stage), or None for one that did not answer in 10 s."""
        out = []
        for pool in self.pools:
            for h in pool["handles"] or []:
                ref = h.total.remote()
                ready, _ = self.ray.wait([ref], timeout=self.wait_timeout(10.0))
                out.append(self.ray.get(ref) if ready else None)
        return out


# ---------------------------------------------------------------------------------------
# One run, in a child process: start a local cluster, drive, collect.


def start_cluster(ray, doc, temp_dir):
    cl = doc["cluster"]
    v06 = ray.__version__.startswith("0.")
    if v06:
        import ray.services as services
        # Ray 0.6 picks the address of the default route; this machine must use loopback.
        services.get_node_ip_address = lambda address="8.8.8.8:53": "127.0.0.1"
        from ray.test.cluster_utils import Cluster
        cluster = Cluster()
        for n in range(cl["nodes"]):
            cluster.add_node(resources={"CPU": cl["cpus"][n], "cohort_node_%d" % n: 512},
                             object_store_memory=cl["store"][n], temp_dir=temp_dir,
                             redirect_output=True)
        ray.init(redis_address=cluster.redis_address)
        # Ray 0.6's nodes register in the client table some time after they start.
        deadline = time.time() + 30
        while True:
            keys = {}
            for c in ray.global_state.client_table():
                for r in c["Resources"]:
                    if r.startswith("cohort_node_") and c.get("IsInsertion", True):
                        keys[c["ObjectStoreSocketName"]] = int(r[len("cohort_node_"):])
            if len(keys) == cl["nodes"] or time.time() > deadline:
                return cluster, keys
            time.sleep(0.05)
    from ray.cluster_utils import Cluster
    cluster = Cluster()
    for n in range(cl["nodes"]):
        args = dict(num_cpus=cl["cpus"][n], resources={"cohort_node_%d" % n: 512},
                    object_store_memory=cl["store"][n], node_ip_address="127.0.0.1")
        if n == 0:
            args.update(temp_dir=temp_dir, include_dashboard=False)
        cluster.add_node(**args)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    keys = {}
    for node in ray.nodes():
        for r in node["Resources"]:
            if r.startswith("cohort_node_"):
                keys[node["NodeID"]] = int(r[len("cohort_node_"):])
    return cluster, keys


def warm_stores(ray, doc, v06):
    """Starts each node's workers and writes its store once before measuring (first writes
    to never-used shared pages are several times slower than rewrites on these machines)."""
    cl = doc["cluster"]

    def fill(total):
        import numpy as np
        chunk = 16 << 20
        refs = []
        left = total
        while left > 0:
            refs.append(ray.put(np.ones(min(chunk, left), dtype=np.uint8)))
            left -= chunk
        return len(refs)

    def pause(seconds):
        time.sleep(seconds)
        return 0

    # Current Ray starts workers as work arrives (about a second each here): start as many
    # per node as it has CPUs before measuring, as Ray 0.6 did when a node started.
    p = ray.remote(pause)
    waits = []
    for n in range(cl["nodes"]):
        res = {"cohort_node_%d" % n: 1}
        for _ in range(cl["cpus"][n]):
            waits.append(p._remote(args=[0.5], resources=res) if v06
                         else p.options(resources=res).remote(0.5))
    ray.get(waits)
    f = ray.remote(fill)
    jobs = []
    for n in range(cl["nodes"]):
        total = min(cl["store"][n] // 2, 1 << 30)
        res = {"cohort_node_%d" % n: 1}
        jobs.append(f._remote(args=[total], resources=res) if v06
                    else f.options(resources=res).remote(total))
    ray.get(jobs)


def child_ray(job):
    """Prepares a child for Ray and imports it."""
    # Current Ray keeps files of its own under this (else in a directory every Ray on the
    # machine shares): inside the run's scratch directory, nothing outlives the run.
    os.makedirs(job["temp_dir"])
    os.environ["RAY_TMPDIR"] = os.path.dirname(job["temp_dir"])
    # Current Ray otherwise swaps the loopback address for the default route's, which
    # refuses connections on these machines.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    return ray


def one_run(job):
    """The child's work: `job` has the resolved document, the placement, the seed and
    where to write."""
    ray = child_ray(job)
    doc = job["doc"]
    record_dir = job["record_dir"]
    cluster, keys = start_cluster(ray, doc, job["temp_dir"])
    v06 = ray.__version__.startswith("0.")
    started = time.time()
    warm_stores(ray, doc, v06)
    driver = Driver(ray, doc, job["placement"], job["seed"], record_dir)
    t0, iterations, unfinished, end = driver.run()
    totals = driver.totals()
    result = {
        "t0": t0,
        "iterations": iterations,
        "unfinished": unfinished,
        "end_ns": end - t0,
        "wall_s": time.time() - started,
        "datapoints_expected": driver.submitted_records,
        "totals": totals,
        "keys": {str(k): v for k, v in keys.items()},
        "ray_version": ray.__version__,
        "python": sys.version.split()[0],
    }
    with open(job["result"], "w") as f:
        json.dump(result, f)
    os._exit(0)


# ---------------------------------------------------------------------------------------
# Calibration: Ray's own costs on this machine, as a cohort cost profile (the format of
# `cohort calibrate`), so that the simulator can be run with Ray's costs.

CAL_SIZES = [8, 65536, 1 << 20, 4 << 20, 16 << 20]

# Current Ray (1.x and later) returns an object of at most this many bytes inside the task's
# reply to its owner, and passes it inside the specification of a task that reads it: it never
# goes through the object stores (max_direct_call_object_size in Ray's
# src/ray/common/ray_config_def.h, 100 * 1024 by default). Ray 0.6 stored every object.
INLINE_MAX = 100 * 1024

# Idle times after which the smallest task is timed, for `wake_up` (as cohort's own
# calibration: what starting work costs a cluster that has had none for a while), in ns.
WAKE_IDLES = [100000, 1000000, 3000000, 10000000, 30000000, 100000000]


def ray_own_processes(tag):
    """The pids of this run's raylets and plasma stores: the processes that move objects
    between nodes (found by the run's environment `tag`)."""
    pids = []
    for pid in tagged_pids(tag):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except (OSError, IOError):
            continue
        if b"raylet" in cmd or b"plasma_store" in cmd:
            pids.append(pid)
    return pids


def cpu_ns(pids):
    """CPU time so far (ns) of every thread of `pids`, from the scheduler's per-thread
    statistics (/proc/PID/task/TID/schedstat: its first field)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%s/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
            except (OSError, IOError, ValueError, IndexError):
                continue
    return total


def calibrate_child(job):
    """Measures, on 2 nodes of 1 CPU, each class of the live code (generate, copy, sum) per
    size as the driver sees it (submission to completion, the input already on the node),
    transfers (a sum on the other node minus the same sum where the input is), and the
    driver's time per submission; writes the samples (ns) as the result."""
    ray = child_ray(job)
    v06 = ray.__version__.startswith("0.")
    doc = {"cluster": {"nodes": 2, "cpus": [1, 1], "store": [2 << 30, 2 << 30]}}
    start_cluster(ray, doc, job["temp_dir"])
    warm_stores(ray, doc, v06)
    task = ray.remote(task_body)
    rd = job["record_dir"]

    def submit(node, name, size, args):
        spec = (name, size, 1, False, 1, 0, rd, "calibration")
        res = {"cohort_node_%d" % node: 1}
        if v06:
            return task._remote(args=[spec, (0, 0)] + args, num_return_vals=1, resources=res)
        return task.options(resources=res).remote(spec, (0, 0), *args)

    def wait(refs):
        # Current Ray's wait also copies every object it waits for to the driver's node
        # (fetch_local, on by default): the object a read on another node is to move would
        # already be there, and the task that made it would be charged the copy.
        if v06:
            return ray.wait(refs, num_returns=len(refs))
        return ray.wait(refs, num_returns=len(refs), fetch_local=False)

    def timed(node, name, size, args):
        t = now_ns()
        ref = submit(node, name, size, args)
        wait([ref])
        return now_ns() - t, ref

    samples = {"generate": {}, "copy": {}, "sum": {}, "transfer": {}, "transfer_cpu": {},
               "submit": [], "wake": {}}
    movers = ray_own_processes("COHORT_RAY_RUN=" + os.environ.get("COHORT_RAY_RUN", ""))
    for size in CAL_SIZES:
        _, local = timed(1, "generate", size, [])
        for k in range(job["samples"] + 1):
            results = [
                ("generate", timed(1, "generate", size, [])[0]),
                ("copy", timed(1, "copy", "input", [local])[0]),
                ("sum", timed(1, "sum", 32, [local])[0]),
            ]
            # A fresh object on node 1, read on node 0: the transfer's time is the read's
            # beyond the same read where the object is, and so is what it costs Ray's own
            # processes (raylets and plasma stores) of the host's cores.
            _, fresh = timed(1, "generate", size, [])
            c0 = cpu_ns(movers)
            there = timed(1, "sum", 32, [fresh])[0]
            c1 = cpu_ns(movers)
            here = timed(0, "sum", 32, [fresh])[0]
            c2 = cpu_ns(movers)
            results.append(("transfer", here - there))
            results.append(("transfer_cpu", (c2 - c1) - (c1 - c0)))
            if k == 0:
                continue  # the first of each size warms the workers' code and buffers
            for name, ns in results:
                samples[name].setdefault(str(size), []).append(ns)
    for _ in range(job["samples"]):
        t = now_ns()
        refs = [submit(1, "generate", 8, []) for _ in range(100)]
        samples["submit"].append((now_ns() - t) / 100.0)
        wait(refs)
    # The smallest task after the cluster idled, the idle times taken in turn so that a drift
    # of the host reaches each alike.
    for k in range(job["samples"] + 1):
        for idle in WAKE_IDLES:
            time.sleep(idle / 1e9)
            ns = timed(1, "generate", 8, [])[0]
            if k > 0:
                samples["wake"].setdefault(str(idle), []).append(ns)
    result = {"samples": samples, "ray_version": ray.__version__,
              "python": sys.version.split()[0]}
    with open(job["result"], "w") as f:
        json.dump(result, f)
    os._exit(0)


def _median_spread(v):
    v = sorted(v)
    return quantile(v, 0.5), quantile(v, 0.1), quantile(v, 0.9)


def _medians(by_size):
    """The median per size as (size, ns) points, ascending, and a comment line per size with
    its measurements."""
    points, comment = [], []
    for size in sorted(by_size, key=int):
        m, p10, p90 = _median_spread(by_size[size])
        points.append((int(size), float(m)))
        comment.append("#   %s B: median %.3fus (p10 %.3fus, p90 %.3fus), %d samples"
                       % (size, m / 1e3, p10 / 1e3, p90 / 1e3, len(by_size[size])))
    return points, comment


def _line(by_size):
    """Fixed cost (median at the smallest size) and ns per byte (least squares through the
    medians with that intercept), and a comment with the measurements."""
    points, comment = _medians(by_size)
    a = points[0][1]
    sxx = sum(x * x for x, _ in points)
    sxy = sum(x * (y - a) for x, y in points)
    return a, max(sxy / sxx if sxx else 0.0, 0.0), comment


def _free_line(by_size):
    """Fixed cost and ns per byte by least squares through the medians, the intercept free
    (for current Ray's transfers through the stores: there is no small size to take the fixed
    cost from, the smaller ones moving inline), and a comment with the measurements."""
    points, comment = _medians(by_size)
    n = float(len(points))
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = max(sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0, 0.0)
    return max(my - b * mx, 0.0), b, comment


def _us(ns):
    return "%.3fus" % (max(ns, 0.0) / 1e3)


def _rate(ns_per_byte):
    return "%.1fMB/s" % (1e3 / ns_per_byte) if ns_per_byte > 0 else "none"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except (IOError, OSError):
        pass
    return "%s, %d cores" % (model, os.cpu_count() or 0)


def inline_lines(version, by_size):
    """For current Ray, the `[model]` line that moves small objects inline, and the
    measurements that show it."""
    if version.startswith("0."):
        return []
    lines = ["# Objects of at most 100 KiB move inline, in the task's reply and the reading task's",
             "# specification (max_direct_call_object_size): the read on the other node costs",
             "# what the read where the object is does:"]
    lines += _medians({k: v for k, v in by_size.items() if int(k) <= INLINE_MAX})[1]
    return lines + ["inline_objects = \"%dKiB\"" % (INLINE_MAX // 1024)]


def model_section(version):
    """The `[model]` table of a profile of Ray `version`: the mechanisms of that Ray that
    cohort models (see cohort's workloads/README.md), so that the profile applied to any
    workload simulates that Ray with this machine's costs. Serialization is not among them:
    the measured task costs include it."""
    if version.startswith("0."):
        return [
            "",
            "[model]",
            "# Ray 0.6's mechanisms (sources in cohort's runtime/src/model.rs):",
            "# the view counts placements until the next heartbeat (raylet/scheduling_policy.cc,",
            "# Schedule; the heartbeat is the workload's: Ray 0.6's was 100 ms, as streaming's),",
            "view_accounting = \"placements\"",
            "# queued tasks move to idle nodes at heartbeats (SchedulingPolicy::SpillOver),",
            "spill_over = true",
            "# a pull asks a holder at random (ObjectManager::Pull),",
            "pull_source = \"random\"",
            "# objects move in 1,000,000-byte chunks through one FIFO queue per node",
            "# (object_manager.cc, object_manager_default_chunk_size),",
            "transport = \"chunked\"",
            "chunk_size = \"1000000B\"",
            "# and stores evict in LRU order, no reference counting (plasma's eviction policy).",
            "object_lifetime = \"lru\"",
            "# Raylets wrote to each other without TCP_NODELAY (set in March 2019, ray-project/ray",
            "# pull request 4318): a forward written while the last one is unacknowledged waits",
            "# for the receiver's delayed ACK (Linux: TCP_DELACK_MIN, 40 ms).",
            "delayed_ack = \"40ms\"",
        ] + host_cores_lines()
    return [
        "",
        "[model]",
        "# Current Ray frees objects by reference counting (cohort's default) and spills a",
        "# store's last copies to disk instead of losing them.",
        "spilling = true",
    ] + host_cores_lines()


def copy_lines(by_size):
    """`transfer_copy_rate` from what transfers cost Ray's own processes of the host's cores:
    per byte at the largest size (the smaller ones are listed, but are mostly noise)."""
    comment = ["# A transfer's copies: the CPU time of the raylets and plasma stores for the read on",
               "# the other node, less the read where the object is (per-thread schedstat):"]
    largest = max(by_size, key=int)
    for size in sorted(by_size, key=int):
        m, p10, p90 = _median_spread(by_size[size])
        comment.append("#   %s B: median %s (p10 %s, p90 %s), %d samples"
                       % (size, _us(m), _us(p10), _us(p90), len(by_size[size])))
    per_byte = _median_spread(by_size[largest])[0] / float(largest)
    return comment + ["transfer_copy_rate = \"%s\"" % _rate(per_byte)]


def wake_lines(by_idle, fixed):
    """`wake_up` from the smallest task's time after each idle time, less its time back to
    back (`fixed`, ns), with the measurements."""
    comment = ["# Work starting on a cluster that idled costs more (Ray's processes wake, and the",
               "# host's halted cores under them): the smallest task after the cluster idled (back",
               "# to back it took %s):" % _us(fixed)]
    steps = []
    for idle in sorted(by_idle, key=int):
        m, p10, p90 = _median_spread(by_idle[idle])
        comment.append("#   after %s: median %s (p10 %s, p90 %s), %d samples"
                       % (_us(int(idle)), _us(m), _us(p10), _us(p90), len(by_idle[idle])))
        steps.append("%s:%s" % (_us(int(idle)), _us(m - fixed)))
    return comment + ["wake_up = \"%s\"" % ", ".join(steps)]


def host_cores_lines():
    return [
        "# The local cluster's nodes are processes of this host and share its cores.",
        "host_cores = %d" % (os.cpu_count() or 1),
    ]


def calibrate(argv):
    p = argparse.ArgumentParser(
        prog="cohort_ray.py calibrate",
        description="Measures Ray's task, put and transfer costs on this machine and writes "
                    "them as a cohort cost profile (--profile), each number with its "
                    "measurements.")
    p.add_argument("--out", required=True, help="the profile to write")
    p.add_argument("--samples", type=int, default=10, help="measurements per size [10]")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    a = p.parse_args(argv)
    if os.path.exists(a.out) and not a.force:
        raise Refused("%s exists: pass --force to replace it" % a.out)
    if a.samples < 1:
        raise Refused("--samples %d: every number needs at least one measurement" % a.samples)
    scratch = tempfile.mkdtemp(prefix="cohort-ray-")
    try:
        record_dir = os.path.join(scratch, "records")
        os.mkdir(record_dir)
        r = in_child("_calibrate", {"samples": a.samples, "record_dir": record_dir}, scratch,
                     600, "calibration")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    s = r["samples"]
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.check_output(["git", "-C", here, "rev-parse", "HEAD"],
                                         stderr=subprocess.DEVNULL).decode().strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    if r["ray_version"].startswith("0."):
        lat, per_byte, tc = _line(s["transfer"])
        moving = "# latency) is the median at 8 bytes; a rate, the least-squares line through the medians"
        moving_2 = "# at every size from there. 2 nodes of 1 CPU each, on loopback."
    else:
        stored = {k: v for k, v in s["transfer"].items() if int(k) > INLINE_MAX}
        lat, per_byte, tc = _free_line(stored)
        moving = "# latency) is the median at 8 bytes, except a transfer's (the least-squares line through"
        moving_2 = "# the sizes above 100 KiB: the smaller move inline). 2 nodes of 1 CPU, on loopback."
    sub = _median_spread(s["submit"])
    out = [
        "# A cost profile of Ray %s on this machine, written by peers/ray/cohort_ray.py "
        "calibrate" % r["ray_version"],
        "# (apply it with cohort's `--profile FILE`). Times are the driver's: from submitting a",
        "# task pinned to a node to its completion, with its input already there; a transfer is",
        "# the same read on the other node, less the read where the object is. A fixed cost (or",
        moving,
        moving_2,
        "",
        "[profile]",
        "machine = %s" % json.dumps(machine()),
        "runtime = %s" % json.dumps("Ray %s (Python %s)" % (r["ray_version"], r["python"])),
        "cohort_commit = %s" % json.dumps(commit),
        "nodes = 2",
        "samples = %d" % a.samples,
        "",
        "[cluster]",
        "# transfers, the read on the other node less the read where the object is:",
    ] + tc + [
        "latency = \"%s\"" % _us(lat),
        "nic_bandwidth = \"%s\"" % ("%.3fGbit/s" % (8.0 / per_byte) if per_byte > 0
                                     else "100Gbit/s"),
        "# a submission: median %s (p10 %s, p90 %s) over %d bursts of 100"
        % (_us(sub[0]), _us(sub[1]), _us(sub[2]), len(s["submit"])),
        "submit_cost = \"%s\"" % _us(sub[0]),
    ]
    for cls, key, what in [("generate", "output_rate", "makes its data (by output size)"),
                           ("copy", "output_rate", "copies its argument (by output size)"),
                           ("sum", "input_rate", "sums its argument (by input size)")]:
        fixed, b, comment = _line(s[cls])
        out += ["", "[kinds.%s]" % cls, "# a kind that %s:" % what] + comment + [
            "fixed = \"%s\"" % _us(fixed), "%s = \"%s\"" % (key, _rate(b))]
    smallest = _line(s["generate"])[0]
    out += (model_section(r["ray_version"]) + inline_lines(r["ray_version"], s["transfer"])
            + copy_lines(s["transfer_cpu"]) + wake_lines(s["wake"], smallest))
    tmp = a.out + ".tmp-%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.rename(tmp, a.out)
    print("wrote %s" % a.out)
    return 0


# ---------------------------------------------------------------------------------------
# Statistics, as cohort's (harness/src/stats.rs): nearest-rank quantiles over the datapoints
# ingested at or after the warm-up, growth as the least-squares slope of latency (ms)
# against ingest time (s).


def quantile(sorted_values, q):
    if not sorted_values:
        return None
    import math
    rank = min(max(int(math.ceil(q * len(sorted_values))), 1), len(sorted_values))
    return sorted_values[rank - 1]


def latency_stats(points, warmup):
    ns = sorted(p[4] - p[3] for p in points if p[3] >= warmup)
    if not ns:
        return 0, 0.0, 0.0, 0.0, 0.0, 0.0
    return (len(ns), sum(ns) / len(ns) / 1e6, quantile(ns, 0.5) / 1e6,
            quantile(ns, 0.9) / 1e6, quantile(ns, 0.99) / 1e6, ns[-1] / 1e6)


def growth(points, warmup):
    m = [p for p in points if p[3] >= warmup]
    if len(m) < 2:
        return 0.0
    x = [(p[3] - m[0][3]) / 1e9 for p in m]
    y = [(p[4] - p[3]) / 1e6 for p in m]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / sxx if sxx > 0 else 0.0


def busy_per_node(tasks, cpus, start, end, window=None):
    """Busy CPU-slot time of each node within [start, end) over its capacity, as cohort's
    stats::utilization; with `window`, per window from 0 (stats::utilization_windows), as
    (node, window start, fraction) rows. A task holds its kind's CPUs from the start to the
    end of its code; an actor call holds none."""
    nodes = len(cpus)
    if window is None:
        busy = [0] * nodes
        for t in tasks:
            s, e = max(t[5], start), min(t[6], end)
            if e > s and 0 <= t[4] < nodes:
                busy[t[4]] += (e - s) * t[7]
        span = float(max(end - start, 1))
        return [b / (span * c) for b, c in zip(busy, cpus)]
    count = -(-end // window)
    busy = [[0] * count for _ in range(nodes)]
    for t in tasks:
        if t[7] == 0 or t[6] <= t[5] or not 0 <= t[4] < nodes:
            continue
        at = t[5]
        while at < t[6] and at < end:
            w = at // window
            w_end = min((w + 1) * window, t[6])
            busy[t[4]][w] += (w_end - at) * t[7]
            at = w_end
    rows = []
    for n in range(nodes):
        for w in range(count):
            length = min(w * window + window, end) - w * window
            rows.append((n, w * window, window, fixed6(busy[n][w] / float(length * cpus[n]))))
    return rows


def fixed6(v):
    return "%.6f" % v


# ---------------------------------------------------------------------------------------
# The parent: resolve each point with cohort, run it in a child, write the directories.


def resolve(cohort, workload, sets):
    cmd = [cohort, "resolve", workload]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    if p.returncode != 0:
        raise Refused("cohort resolve failed: %s" % err.decode().strip())
    doc = load_toml(out.decode())
    if doc.get("format") != FORMAT:
        raise Refused("cohort resolve wrote format %r; this peer reads format %d"
                      % (doc.get("format"), FORMAT))
    return doc


def load_toml(text):
    try:
        import tomllib
        return tomllib.loads(text)
    except ImportError:
        import toml
        return toml.loads(text)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def toml_table(name, table):
    lines = ["", "[%s]" % name]
    for k in sorted(table):
        lines.append("%s = %s" % (json.dumps(str(k)), toml_value(table[k])))
    return lines


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(r)


def tagged_pids(tag):
    """The pids of every process but this one whose environment holds `tag`."""
    tag = tag.encode()
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if tag in f.read().split(b"\0"):
                    pids.append(pid)
        except (OSError, IOError):
            continue
    return pids


def kill_tagged(tag):
    """Kills every process whose environment holds `tag`: what the run started, including
    the processes Ray starts in sessions of their own."""
    for _ in range(50):
        pids = tagged_pids(tag)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                continue
        time.sleep(0.1)


def in_child(mode, job, scratch, limit, what):
    """Runs `mode` ("_one" or "_calibrate") on `job` in a child process of its own session,
    within `limit` seconds; kills it and everything it started afterwards; returns the
    result it wrote. The job gets `temp_dir` (Ray's) and `result` inside `scratch`."""
    job = dict(job, temp_dir=os.path.join(scratch, "ray"), result=os.path.join(scratch, "result"))
    job_path = os.path.join(scratch, "job.json")
    with open(job_path, "w") as f:
        json.dump(job, f)
    log = open(os.path.join(scratch, "child.log"), "w")
    env = dict(os.environ, COHORT_RAY_RUN=scratch)
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), mode, job_path],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=env)
    timed_out = False
    try:
        child.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.wait()
        kill_tagged("COHORT_RAY_RUN=" + scratch)
        log.close()
    if not os.path.exists(job["result"]):
        with open(os.path.join(scratch, "child.log")) as f:
            tail = f.read()[-3000:]
        why = ("did not finish in %.0f s" % limit if timed_out
               else "exited with code %s" % child.returncode)
        raise RunFailed("%s %s; its log ends:\n%s" % (what, why, tail))
    with open(job["result"]) as f:
        return json.load(f)


def run_one(args, doc, placement, seed, run_id, run_dir):
    """Runs one point in a child process; writes `run_dir`; returns its summary row."""
    scratch = tempfile.mkdtemp(prefix="cohort-ray-")
    try:
        record_dir = os.path.join(scratch, "records")
        os.mkdir(record_dir)
        job = {"doc": doc, "placement": placement, "seed": seed, "record_dir": record_dir}
        sched = doc["schedule"]
        span = sched.get("duration_ns") or sched.get("iterations", 0) * sched["period_ns"]
        limit = 2 * span / 1e9 + args.setup_timeout
        result = in_child("_one", job, scratch, limit, "run " + run_id)
        row = write_run(doc, placement, seed, run_id, run_dir, result, record_dir)
        # What Ray and the workers printed (errors of tasks included), kept with the run.
        shutil.copyfile(os.path.join(scratch, "child.log"), os.path.join(run_dir, "ray.log"))
        return row
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_run(doc, placement, seed, run_id, run_dir, result, record_dir):
    keys = result["keys"]
    t0 = result["t0"]
    points, tasks = [], []
    for name in sorted(os.listdir(record_dir)):
        with open(os.path.join(record_dir, name)) as f:
            for line in f:
                cells = line.rstrip("\n").split(",")
                if cells[0] == "d" and len(cells) == 6:
                    it, idx, node, ingest, arrival = cells[1:]
                    points.append((int(it), int(idx), keys.get(node, -1), int(ingest) - t0,
                                   int(arrival) - t0))
                elif cells[0] == "t" and len(cells) == 8:
                    what, name_, it, idx, node, s, e = cells[1:]
                    cpus = 0 if what == "call" else doc["tasks"][name_]["cpus"]
                    tasks.append((what, name_, int(it), int(idx), keys.get(node, -1),
                                  int(s) - t0, int(e) - t0, cpus))
    points.sort(key=lambda p: (p[4], p[0], p[1]))
    tasks.sort(key=lambda t: (t[5], t[0], t[2], t[3]))
    warmup = doc["schedule"]["warmup_ns"]
    params = [doc["param_values"][k] for k in sorted(doc["param_values"])]
    policy = "ray-" + placement
    os.makedirs(run_dir)
    write_csv(os.path.join(run_dir, "latencies.csv"),
              LATENCY_HEAD + ["param." + k for k in sorted(doc["param_values"])] + LATENCY_TAIL,
              [[policy, seed] + params + [it, idx, max(node, 0), ingest, arrival,
                                          arrival - ingest, int(ingest < warmup)]
               for it, idx, node, ingest, arrival in points])
    write_csv(os.path.join(run_dir, "placements.csv"),
              ["stage", "kind", "iteration", "index", "node", "started_ns", "finished_ns",
               "cpus"], tasks)
    cpus = doc["cluster"]["cpus"]
    end = result["end_ns"]
    window = max(doc["schedule"]["period_ns"], end // 2000, 1)
    write_csv(os.path.join(run_dir, "utilization.csv"),
              ["node", "window_start_ns", "window_ns", "busy_fraction"],
              busy_per_node(tasks, cpus, 0, end, window))
    util = busy_per_node(tasks, cpus, warmup, end)
    count, mean, p50, p90, p99, mx = latency_stats(points, warmup)
    row = [run_id, policy, seed] + params + [
        count, fixed6(mean), fixed6(p50), fixed6(p90), fixed6(p99), fixed6(mx), 0, 0, 0,
        len(tasks), 0, fixed6(sum(util) / len(util)), fixed6(min(util)), fixed6(max(util)),
        0, 0, 0, 0, 0,
        0, "", "", result["unfinished"],
        fixed6(growth(points, warmup)),
    ]
    header = SUMMARY_HEAD + ["param." + k for k in sorted(doc["param_values"])] + SUMMARY_TAIL
    write_csv(os.path.join(run_dir, "summary.csv"), header, [row])
    per_node = {}
    for t in tasks:
        key = "%s.node%d" % (t[1], t[4])
        per_node[key] = per_node.get(key, 0) + 1
    manifest = [
        "workload = %s" % json.dumps(doc["name"]),
        "workload_file = %s" % json.dumps(doc["workload_file"]),
        "workload_sha256 = %s" % json.dumps(doc["workload_sha256"]),
        "policy = %s" % json.dumps(policy),
        "policy_source = %s" % json.dumps(
            "Ray %s, %s placement (peers/ray/cohort_ray.py)" % (result["ray_version"], placement)),
        "seed = %d" % seed,
        "clock = \"real\"",
        "deploy = \"ray\"",
        "ray_version = %s" % json.dumps(result["ray_version"]),
        "python_version = %s" % json.dumps(result["python"]),
        "cohort_version = %s" % json.dumps(doc["cohort_version"]),
        "git_commit = %s" % json.dumps(doc["git_commit"]),
        "iterations = %d" % result["iterations"],
        "wall_s = %r" % result["wall_s"],
        "unmeasured = %s" % toml_value(UNMEASURED),
    ]
    if "reproduces" in doc:
        manifest.append("reproduces = %s" % json.dumps(doc["reproduces"]))
    manifest += toml_table("set", doc.get("set", {}))
    manifest += toml_table("params", doc["params"])
    manifest += toml_table("param_units", doc["param_units"])
    totals = {str(i + 1): (t if t is not None else "no answer")
              for i, t in enumerate(result["totals"])}
    manifest += toml_table("actor_totals", totals)
    manifest += toml_table("placements", per_node)
    with open(os.path.join(run_dir, "manifest.toml"), "w") as f:
        f.write("\n".join(manifest) + "\n")
    return header, row


def write_sweep(out, doc0, policies, seeds, rows, swept, failed):
    header = rows[0][0]
    write_csv(os.path.join(out, "summary.csv"), header, [r for _, r in rows])
    lines = [
        "workload = %s" % json.dumps(doc0["name"]),
        "workload_file = %s" % json.dumps(doc0["workload_file"]),
        "policies = %s" % toml_value(policies),
        "seeds = %s" % toml_value(seeds),
        "runtime = \"ray\"",
        "swept = %s" % toml_value(swept),
        "failed = %s" % toml_value(failed),
    ]
    if "reproduces" in doc0:
        lines.append("reproduces = %s" % json.dumps(doc0["reproduces"]))
    lines += toml_table("param_units", doc0["param_units"])
    with open(os.path.join(out, "sweep.toml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="cohort_ray.py",
        description="Runs a cohort workload on a local Ray cluster and writes a cohort sweep "
                    "directory (summary.csv, runs/<run>/latencies.csv, manifest.toml).")
    p.add_argument("workload", help="the workload file (TOML)")
    p.add_argument("--out", required=True, help="the sweep directory to write")
    p.add_argument("--placements", default="default,group",
                   help="comma-separated: default (Ray's own), spread (Ray 2.x's SPREAD), "
                        "group (pinned as group scheduling places) [default: default,group]")
    p.add_argument("--seeds", default="1", help="comma-separated seeds [default: 1]")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="fixes a value for every run, as cohort's --set (repeatable)")
    p.add_argument("--vary", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="runs each value of a parameter (repeatable: the product)")
    p.add_argument("--cohort", default=None,
                   help="the cohort executable [default: $COHORT, else target/release/cohort "
                        "of this repository, else cohort on PATH]")
    p.add_argument("--setup-timeout", type=float, default=120.0,
                   help="seconds a run may take beyond twice its schedule [default: 120]")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    return p.parse_args(argv)


def find_cohort(given):
    if given:
        return given
    if os.environ.get("COHORT"):
        return os.environ["COHORT"]
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, "..", "..", "target", "release", "cohort")
    if os.path.exists(built):
        return os.path.normpath(built)
    found = shutil.which("cohort")
    if not found:
        raise Refused("no cohort executable: build it (cargo build --release) or pass --cohort")
    return found


def main(argv):
    if len(argv) == 2 and argv[0] in ("_one", "_calibrate"):
        with open(argv[1]) as f:
            job = json.load(f)
        (one_run if argv[0] == "_one" else calibrate_child)(job)
        return 0
    if argv and argv[0] == "calibrate":
        return calibrate(argv[1:])
    a = parse_args(argv)
    try:
        import ray
    except ImportError:
        raise Refused("Ray is not importable by %s: run peers/ray/setup.sh and use the "
                      "python of its environment" % sys.executable)
    placements = [p for p in a.placements.split(",") if p]
    for p in placements:
        if p not in PLACEMENTS:
            raise Refused("unknown placement %r: expected one of %s" % (p, ", ".join(PLACEMENTS)))
        if p == "spread" and ray.__version__.startswith("0."):
            raise Refused("placement spread needs Ray 2.x (Ray %s has no SPREAD)" % ray.__version__)
    try:
        seeds = [int(s) for s in a.seeds.split(",") if s]
    except ValueError:
        raise Refused("--seeds %s: expected comma-separated integers" % a.seeds)
    axes = []
    for v in a.vary:
        name, eq, values = v.partition("=")
        if not eq or not values:
            raise Refused("--vary %s: expected NAME=V1,V2,..." % v)
        axes.append([(name, x) for x in values.split(",")])
    for s in a.set:
        if "=" not in s:
            raise Refused("--set %s: expected NAME=VALUE" % s)
    if not os.path.isfile(a.workload):
        raise Refused("no workload file %s" % a.workload)
    if os.path.exists(a.out) and not a.force:
        raise Refused("%s exists: pass --force to replace it" % a.out)
    cohort = find_cohort(a.cohort)
    points = [list(p) for p in itertools.product(*axes)] if axes else [[]]
    docs = [resolve(cohort, a.workload, a.set + ["%s=%s" % kv for kv in p]) for p in points]
    parent = os.path.dirname(os.path.abspath(a.out))
    staging = tempfile.mkdtemp(prefix=".cohort-ray-", dir=parent)
    try:
        os.mkdir(os.path.join(staging, "runs"))
        rows, failed = [], []
        for doc in docs:
            for placement in placements:
                for seed in seeds:
                    run_id = "ray-%s%s-seed%d" % (placement, doc["run_suffix"], seed)
                    print("running %s on Ray %s" % (run_id, ray.__version__), flush=True)
                    try:
                        rows.append(run_one(a, doc, placement, seed, run_id,
                                            os.path.join(staging, "runs", run_id)))
                    except RunFailed as e:
                        print("  failed: %s" % e, flush=True)
                        failed.append(run_id)
                        continue
                    r = rows[-1][1]
                    print("  %s datapoints, mean %s ms, p99 %s ms" % (
                        r[3 + len(doc["param_values"])], r[4 + len(doc["param_values"])],
                        r[7 + len(doc["param_values"])]), flush=True)
        if not rows:
            print("error: every run failed", file=sys.stderr)
            return 1
        write_sweep(staging, docs[0], ["ray-" + p for p in placements], seeds, rows,
                    [axis[0][0] for axis in axes], failed)
        if os.path.exists(a.out):
            shutil.rmtree(a.out)
        os.rename(staging, a.out)
        staging = None
        print("wrote %s" % a.out)
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Refused as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
