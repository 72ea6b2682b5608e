//! Policy plugins end to end: the built-in plugins by name and by path, every bad input the
//! loader must reject, misbehaving plugins inside a running cluster, and a policy crate
//! built outside the workspace.
//!
//! The built-in plugins must have been built first (`cargo build --workspace`); the fixture
//! crates under `policies/fixtures/` are built here, into `target/fixtures`, some of them also
//! against an edited copy of the SDK (into `target/fixtures/sdk-edits`).

use cohort_runtime::plugin::{Plugin, PluginError, PluginPolicy, SearchPath, library_file_name};
use cohort_runtime::policy::ffi::{ABI_VERSION, AbiLayout, ENTRY_SYMBOL, EntryFn, PolicyVTable};
use cohort_runtime::policy::{
    ArgState, ArgView, Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Placement,
    PlacementView, Policy, PolicyEvent, Resources, TaskId, WorkKind,
};
use cohort_runtime::{
    Cluster, ClusterSpec, CostModel, NetworkSpec, NodeSpec, Payload, Registry, RuntimeError, Task,
};
use std::collections::BTreeMap;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

// ----- helpers ---------------------------------------------------------------------------

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the runtime crate lives in the workspace")
}

fn fixtures_output() -> PathBuf {
    workspace_root().join("target").join("fixtures")
}

/// Builds the fixture crate `policies/fixtures/<name>` (once per test run) and returns the
/// path of its library.
fn fixture(name: &str) -> PathBuf {
    built_once(name, || {
        let manifest = workspace_root()
            .join("policies/fixtures")
            .join(name)
            .join("Cargo.toml");
        cargo_build(&manifest, &fixtures_output(), name)
    })
}

/// Runs `build` for `key` once per test run, one build at a time (fixtures share target
/// directories, and the machine's cores), and returns its library or panics with its error.
fn built_once(key: &str, build: impl FnOnce() -> Result<PathBuf, String>) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, Result<PathBuf, String>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let result = built.entry(key.to_string()).or_insert_with(build).clone();
    result.unwrap_or_else(|e| panic!("{e}"))
}

/// `cargo build`s the crate of `manifest` into `target_dir` and returns the path of the
/// library of the plugin `name`.
fn cargo_build(manifest: &Path, target_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .arg("build")
        .arg("--offline")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("could not run {}: {e}", Path::new(&cargo).display()))?;
    if !out.status.success() {
        return Err(format!(
            "building fixture {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lib = target_dir.join("debug").join(library_file_name(name));
    if lib.is_file() {
        Ok(lib)
    } else {
        Err(format!(
            "fixture {name} built, but {} is missing",
            lib.display()
        ))
    }
}

/// An edit of the SDK's sources: in `file` (relative to `policies/sdk`), the texts `first` and
/// `second` trade places.
struct SdkEdit {
    file: &'static str,
    first: &'static str,
    second: &'static str,
}

/// `place` and `on_event` swapped in `PolicyVTable`: same types, same size, same version.
const SWAP_PLACE_AND_ON_EVENT: SdkEdit = SdkEdit {
    file: "src/ffi.rs",
    first: "    /// See [`PlaceFn`].\n    pub place: PlaceFn,\n",
    second: "    /// See [`EventFn`].\n    pub on_event: EventFn,\n",
};

/// The variants `Dependency::Group` and `Dependency::Task` swapped: same size, same version.
const SWAP_GROUP_AND_TASK_DEPENDENCIES: SdkEdit = SdkEdit {
    file: "src/lib.rs",
    first: "    /// The task needs every output of a group.\n    Group(GroupId),\n",
    second: "    /// The task needs the output of one task, named by its group and its index in the \
             group.\n    Task(GroupId, u32),\n",
};

/// Builds the fixture crate `policies/fixtures/<name>` against a copy of the SDK with `edit`
/// applied, as a plugin author with a modified SDK would, and returns the path of its library.
///
/// The copy mirrors the repository under `target/fixtures/sdk-edits/<name>/`: the workspace
/// manifest (with the SDK as its only member, so that the SDK's inherited settings are the
/// real ones), `policies/sdk` (edited) and the fixture itself, whose `../../sdk` dependency
/// then leads to the copy. The SDK is copied afresh each time, so the fixture cannot drift
/// from the real SDK; and each text of the edit must occur exactly once, so an edit that no
/// longer applies fails the test instead of building an unmodified SDK.
fn fixture_with_sdk_edit(name: &str, edit: &SdkEdit) -> PathBuf {
    built_once(&format!("{name} with an edited SDK"), || {
        let root = fixtures_output().join("sdk-edits").join(name);
        let real = workspace_root();
        copy_tree(&real.join("policies/sdk"), &root.join("policies/sdk"))?;
        let fixture_dir = Path::new("policies/fixtures").join(name);
        copy_tree(&real.join(&fixture_dir), &root.join(&fixture_dir))?;

        let manifest = read(&real.join("Cargo.toml"))?;
        let start = manifest
            .find("members = [")
            .ok_or("the workspace manifest has no `members = [`")?;
        let end = start
            + manifest[start..]
                .find(']')
                .ok_or("the workspace's members list does not end")?;
        let manifest = format!(
            "{}members = [\"policies/sdk\"{}",
            &manifest[..start],
            &manifest[end..]
        );
        write_if_changed(&root.join("Cargo.toml"), &manifest)?;

        let edited = root.join("policies/sdk").join(edit.file);
        let text = swap_once(&read(&edited)?, edit.first, edit.second)
            .map_err(|e| format!("editing {}: {e}", edited.display()))?;
        write_if_changed(&edited, &text)?;

        cargo_build(
            &root.join(&fixture_dir).join("Cargo.toml"),
            &fixtures_output().join("sdk-edits").join("target"),
            name,
        )
    })
}

/// `text` with `first` and `second` trading places; each must occur exactly once.
fn swap_once(text: &str, first: &str, second: &str) -> Result<String, String> {
    for part in [first, second] {
        let count = text.matches(part).count();
        if count != 1 {
            return Err(format!("`{part}` occurs {count} times, not once"));
        }
    }
    const HOLE: &str = "\u{0}swapped\u{0}";
    Ok(text
        .replace(first, HOLE)
        .replace(second, first)
        .replace(HOLE, second))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Writes `text` to `path` unless it already holds exactly that (so that cargo sees no change
/// and does not rebuild).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Copies the text files of the crate in `from` to `to`, without build output and lock files;
/// files in `to` that `from` no longer has are removed.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("listing {}: {e}", from.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("listing {}: {e}", from.display()))?;
        let name = entry.file_name();
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let source = entry.path();
        if source.is_dir() {
            copy_tree(&source, &to.join(&name))?;
        } else {
            write_if_changed(&to.join(&name), &read(&source)?)?;
        }
        names.push(name);
    }
    if let Ok(existing) = std::fs::read_dir(to) {
        for entry in existing.filter_map(Result::ok) {
            let name = entry.file_name();
            if !names.contains(&name) && name != "target" && name != "Cargo.lock" {
                let path = entry.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|e| format!("removing {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Loads a built-in plugin by name, with a hint when the workspace was not built.
fn builtin(name: &str) -> Plugin {
    Plugin::find(name).unwrap_or_else(|e| {
        panic!("{e}\n(the built-in plugins are built by `cargo build --workspace`)")
    })
}

fn node(id: u32, total: u32, busy: u32, queued: u32) -> NodeView {
    NodeView {
        id: NodeId(id),
        alive: true,
        cpus_total: total,
        cpus_busy: busy,
        queued,
        store_used: 0,
        store_capacity: 1 << 30,
    }
}

fn view<'a>(
    nodes: &'a [NodeView],
    args: &'a [ArgView],
    holders: &'a [NodeId],
    hints: Hints,
) -> PlacementView<'a> {
    PlacementView {
        task: TaskId(1),
        kind: WorkKind::Task,
        hints,
        demand: Resources { cpus: 1 },
        args,
        holders,
        nodes,
        now_ns: 0,
        view_time_ns: 0,
        waited_ns: 0,
        may_defer: false,
    }
}

fn spec(nodes: usize, cpus: u32) -> ClusterSpec {
    ClusterSpec::uniform(
        nodes,
        NodeSpec {
            cpus,
            store_capacity: 1 << 30,
        },
        NetworkSpec {
            nic_bandwidth: 1_000_000_000,
            latency: 1_000,
            transport: Default::default(),
            inline_max: None,
            nic_limits: Default::default(),
        },
    )
}

/// `square(x)`: x squared, in 1 ms of virtual time.
fn registry() -> Registry {
    let mut r = Registry::new();
    r.function(
        "square",
        CostModel::fixed(1_000_000),
        |_, args: &[Payload]| {
            let x = args[0].as_u64().ok_or("expected a word")?;
            Ok(vec![Payload::from_u64(x * x)])
        },
    )
    .expect("one registration");
    r
}

fn cluster(policy: PluginPolicy, nodes: usize, cpus: u32) -> Cluster {
    Cluster::new(
        spec(nodes, cpus),
        registry(),
        Box::new(policy),
        Default::default(),
    )
    .expect("valid cluster")
}

fn square(c: &mut Cluster, x: u64) -> Result<cohort_runtime::Outputs, RuntimeError> {
    let f = c.function("square")?;
    c.submit(Task::new(f).arg(Payload::from_u64(x)))
}

fn misbehave(config: &str) -> PluginPolicy {
    Plugin::load(fixture("misbehave"))
        .expect("the fixture loads")
        .create(config, 0)
        .expect("the fixture is created")
}

// ----- the built-in plugins --------------------------------------------------------------

#[test]
fn random_plugin_by_name_and_by_path() {
    let plugin = builtin("random");
    assert_eq!(
        plugin.path().file_name().and_then(|f| f.to_str()),
        Some(library_file_name("random").as_str())
    );
    let mut p = plugin.create("", 7).expect("created");
    assert_eq!(p.name(), "random");
    // Only node 2 has a free CPU that nothing is queued for.
    let nodes = [node(0, 4, 4, 0), node(1, 4, 2, 2), node(2, 4, 3, 0)];
    for _ in 0..20 {
        assert_eq!(
            p.place(&view(&nodes, &[], &[], Hints::NONE)),
            Placement::Node(NodeId(2))
        );
    }
    // The same library by path, twice with one seed: the same stream of decisions.
    let by_path = Plugin::load(plugin.path()).expect("loads by path");
    let idle: Vec<NodeView> = (0..5).map(|i| node(i, 4, 0, 0)).collect();
    let decisions = |seed| {
        let mut p = by_path.create("# no options\n", seed).expect("created");
        (0..30)
            .map(|_| p.place(&view(&idle, &[], &[], Hints::NONE)))
            .collect::<Vec<_>>()
    };
    assert_eq!(decisions(3), decisions(3));
    assert_ne!(decisions(3), decisions(4));
    // Infeasible work is refused with the policy's reason.
    let mut v = view(&nodes, &[], &[], Hints::NONE);
    v.demand = Resources { cpus: 5 };
    assert_eq!(
        p.place(&v),
        Placement::Refuse("infeasible: 5 CPUs demanded, but the largest alive node has 4".into())
    );
}

#[test]
fn group_plugin_by_name_and_by_path() {
    for plugin in [
        builtin("group"),
        Plugin::load(builtin("group").path()).expect("by path"),
    ] {
        let mut p = plugin.create("", 1).expect("created");
        assert_eq!(p.name(), "group");
        let nodes: Vec<NodeView> = (0..4).map(|i| node(i, 2, 0, 0)).collect();
        // Events cross the ABI too: group 1's only task was placed on node 2.
        p.on_event(&PolicyEvent::Placed {
            task: TaskId(1),
            kind: WorkKind::Task,
            hints: Hints {
                group: GroupId(1),
                index: 0,
                dependency: Dependency::None,
            },
            node: NodeId(2),
        });
        let dep = |index| Hints {
            group: GroupId(2),
            index,
            dependency: Dependency::Group(GroupId(1)),
        };
        let mut placed = Vec::new();
        for i in 0..3 {
            let Placement::Node(n) = p.place(&view(&nodes, &[], &[], dep(i))) else {
                panic!("refused");
            };
            p.on_event(&PolicyEvent::Placed {
                task: TaskId(2 + u64::from(i)),
                kind: WorkKind::Task,
                hints: dep(i),
                node: n,
            });
            placed.push(n.0);
        }
        // Two tasks fill node 2 (2 CPUs); the third falls back to the lowest idle node.
        assert_eq!(placed, [2, 2, 0]);
        // After the group is freed, its history is gone: straight to the fallback.
        p.on_event(&PolicyEvent::GroupFreed(GroupId(1)));
        p.on_event(&PolicyEvent::GroupFreed(GroupId(2)));
        assert_eq!(
            p.place(&view(&nodes, &[], &[], dep(3))),
            Placement::Node(NodeId(0))
        );
    }
}

#[test]
fn locality_plugin_by_name_and_by_path() {
    let holders = [NodeId(3), NodeId(1), NodeId(3)];
    let args = [
        ArgView {
            object: ObjectId(1),
            size: 1_000,
            state: ArgState::Ready,
            holders_start: 0,
            holders_len: 2,
            producer_node: NodeId(3),
        },
        ArgView {
            object: ObjectId(2),
            size: 10,
            state: ArgState::Ready,
            holders_start: 2,
            holders_len: 1,
            producer_node: NodeId(3),
        },
        ArgView {
            object: ObjectId(3),
            size: 1_005,
            state: ArgState::Pending,
            holders_start: 3,
            holders_len: 0,
            producer_node: NodeId(0),
        },
    ];
    let nodes: Vec<NodeView> = (0..4).map(|i| node(i, 4, 4, 9)).collect();
    for plugin in [
        builtin("locality"),
        Plugin::load(builtin("locality").path()).expect("by path"),
    ] {
        let mut p = plugin.create("", 1).expect("created");
        assert_eq!(p.name(), "locality");
        // Node 3: 1010 bytes; node 0: 1005 (pending, at its producer); node 1: 1000.
        assert_eq!(
            p.place(&view(&nodes, &args, &holders, Hints::NONE)),
            Placement::Node(NodeId(3))
        );
    }
}

#[test]
fn the_search_path_lists_the_builtin_plugins() {
    let available = SearchPath::from_env().available();
    let names: Vec<&str> = available.iter().map(|p| p.name.as_str()).collect();
    for name in [
        "delay", "ees", "group", "hybrid", "locality", "p2c", "random", "spread",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "listed once each, by name");
    // Each listed path is what loading by name resolves to.
    let random = available
        .iter()
        .find(|p| p.name == "random")
        .expect("listed");
    assert_eq!(builtin("random").path(), random.path);
}

#[test]
fn a_plugin_defers_across_the_abi_when_the_view_allows_it() {
    let mut p = PluginPolicy::open("delay", "locality_wait_ms = 2000", 0).expect("created");
    // Node 0 holds the argument and is full; node 1 is free.
    let nodes = [node(0, 1, 1, 0), node(1, 1, 0, 0)];
    let args = [ArgView {
        object: ObjectId(1),
        size: 1_000,
        state: ArgState::Ready,
        holders_start: 0,
        holders_len: 1,
        producer_node: NodeId(0),
    }];
    let holders = [NodeId(0)];
    let mut v = view(&nodes, &args, &holders, Hints::NONE);
    v.may_defer = true;
    v.waited_ns = 500_000_000;
    assert_eq!(p.place(&v), Placement::Defer(1_500_000_000));
    v.may_defer = false;
    assert_eq!(p.place(&v), Placement::Node(NodeId(1)));
}

#[test]
fn plugins_describe_themselves_across_the_abi() {
    let p = PluginPolicy::open("delay", "", 0).expect("created");
    assert_eq!(
        p.description(),
        "delay scheduling (Spark): wait up to 3 s for a free slot where the data is, then any"
    );
    // A policy that says nothing has an empty description.
    let p = PluginPolicy::open(fixture("first-fit").to_str().unwrap(), "", 0).expect("created");
    assert_eq!(p.description(), "");
}

#[test]
fn open_takes_a_name_or_a_path() {
    let by_name = Plugin::open("locality").expect("by name");
    let path = by_name.path().to_str().expect("utf-8 path").to_string();
    let by_path = Plugin::open(&path).expect("by path");
    assert_eq!(by_name.path(), by_path.path());
    let p = PluginPolicy::open("random", "", 0).expect("created");
    assert_eq!(p.name(), "random");
    assert_eq!(p.path(), builtin("random").path());
}

#[test]
fn builtin_plugins_run_a_workload() {
    for name in [
        "random", "group", "locality", "spread", "hybrid", "p2c", "ees", "delay",
    ] {
        let mut c = cluster(builtin(name).create("", 5).expect("created"), 3, 2);
        let outs: Vec<_> = (0..10)
            .map(|x| square(&mut c, x).expect("submitted").remove(0))
            .collect();
        let got: Vec<u64> = outs
            .iter()
            .map(|o| c.get(o).expect("computed").as_u64().expect("a word"))
            .collect();
        assert_eq!(got, (0..10).map(|x| x * x).collect::<Vec<_>>(), "{name}");
        assert_eq!(c.policy_name(), name);
    }
}

// ----- a policy crate outside the workspace ----------------------------------------------

#[test]
fn a_policy_built_outside_the_workspace_runs_a_workload() {
    let lib = fixture("first-fit");
    // Found by name on a search path made of its build directory, as COHORT_POLICY_PATH would.
    let search = SearchPath::new(vec![lib.parent().expect("a directory").to_path_buf()]);
    assert!(search.available().iter().any(|p| p.name == "first_fit"));
    let plugin = Plugin::find_in(&search, "first-fit").expect("found and loaded");
    assert_eq!(plugin.path(), lib);
    let policy = plugin.create("", 0).expect("created");
    assert_eq!(policy.name(), "first-fit");

    // 3 nodes x 2 CPUs; 7 tasks submitted at once: first fit fills node 0, then 1, then 2,
    // then queues the last on the shortest queue (all equal: node 0).
    let mut c = cluster(policy, 3, 2);
    let outs: Vec<_> = (1..=7)
        .map(|x| square(&mut c, x).expect("submitted").remove(0))
        .collect();
    for (x, o) in (1..=7u64).zip(&outs) {
        assert_eq!(c.get(o).expect("computed").as_u64(), Some(x * x));
    }
    let trace = c.take_trace();
    let nodes: Vec<u32> = trace.tasks.iter().map(|t| t.node.0).collect::<Vec<_>>();
    let mut by_task: Vec<(u64, u32)> = trace.tasks.iter().map(|t| (t.task.0, t.node.0)).collect();
    by_task.sort_unstable();
    let placed: Vec<u32> = by_task.iter().map(|(_, n)| *n).collect();
    assert_eq!(placed, [0, 0, 1, 1, 2, 2, 0], "{nodes:?}");
}

// ----- bad input: loading ----------------------------------------------------------------

fn mentions(err: &PluginError, path: &Path) {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "`{text}` does not name {}",
        path.display()
    );
    assert_eq!(err.path(), Some(path));
}

#[test]
fn a_path_that_does_not_exist() {
    let path = fixtures_output()
        .join("no-such-dir")
        .join(library_file_name("ghost"));
    let err = Plugin::load(&path).unwrap_err();
    assert_eq!(err, PluginError::NoSuchFile { path: path.clone() });
    mentions(&err, &path);
    assert!(err.to_string().ends_with("no such file"), "{err}");
}

#[test]
fn a_name_that_is_nowhere_on_the_search_path() {
    let dir = fixtures_output().join("empty-search-dir");
    std::fs::create_dir_all(&dir).expect("writable target dir");
    let err = Plugin::find_in(&SearchPath::new(vec![dir.clone()]), "ghost").unwrap_err();
    assert!(
        matches!(&err, PluginError::NotFound { name, .. } if name == "ghost"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&library_file_name("ghost")), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(text.contains("COHORT_POLICY_PATH"), "{text}");
}

#[test]
fn a_file_that_is_not_a_shared_library() {
    let dir = fixtures_output().join("not-a-library");
    std::fs::create_dir_all(&dir).expect("writable target dir");
    let path = dir.join(library_file_name("text"));
    // Longer than an ELF header, so that the loader reads one and says what is wrong with it.
    std::fs::write(
        &path,
        "this is a text file, not a policy, and longer than the header a loader reads\n",
    )
    .expect("written");
    let err = Plugin::load(&path).unwrap_err();
    assert!(
        matches!(&err, PluginError::NotALibrary { path: p, .. } if *p == path),
        "{err}"
    );
    mentions(&err, &path);
    assert!(
        err.to_string().contains("not a loadable shared library"),
        "{err}"
    );
    // The loader's own reason, not just "dlopen failed".
    #[cfg(target_os = "linux")]
    assert!(err.to_string().contains("invalid ELF header"), "{err}");

    // A directory is not one either.
    let err = Plugin::load(&dir).unwrap_err();
    assert!(
        matches!(&err, PluginError::NotALibrary { reason, .. } if reason == "it is a directory"),
        "{err}"
    );
}

#[test]
fn a_library_without_the_entry_symbol() {
    let path = fixture("no-entry");
    let err = Plugin::load(&path).unwrap_err();
    assert!(matches!(&err, PluginError::NoEntrySymbol { .. }), "{err}");
    mentions(&err, &path);
    assert!(err.to_string().contains("cohort_policy_entry"), "{err}");
}

#[test]
fn an_abi_version_mismatch() {
    let path = fixture("future-abi");
    let err = Plugin::load(&path).unwrap_err();
    assert_eq!(
        err,
        PluginError::AbiVersion {
            path: path.clone(),
            found: 1001,
            expected: ABI_VERSION,
        }
    );
    mentions(&err, &path);
    let text = err.to_string();
    assert!(text.contains("version 1001") && text.contains(&format!("version {ABI_VERSION}")));
}

#[test]
fn a_layout_mismatch() {
    let path = fixture("bad-layout");
    let err = Plugin::load(&path).unwrap_err();
    let PluginError::Layout { differences, .. } = &err else {
        panic!("expected a layout mismatch, got {err}");
    };
    let size = size_of::<NodeView>();
    assert_eq!(
        differences,
        &[format!("size of NodeView: {}, expected {size}", size + 8)]
    );
    mentions(&err, &path);
    assert!(err.to_string().contains("layout mismatch"), "{err}");
}

#[test]
fn a_plugin_built_with_place_and_on_event_swapped_in_the_vtable() {
    // Built against the real SDK, the fixture is a good plugin.
    let good = fixture("swapped-vtable");
    let mut p = Plugin::load(&good)
        .expect("loads")
        .create("2", 0)
        .expect("created");
    let nodes: Vec<NodeView> = (0..3).map(|i| node(i, 4, 0, 0)).collect();
    assert_eq!(
        p.place(&view(&nodes, &[], &[], Hints::NONE)),
        Placement::Node(NodeId(2))
    );

    // Built against an SDK whose vtable lists the two functions the other way round, under
    // the same ABI version: the host would call `on_event` with a placement view. It is
    // refused before any call, naming both fields.
    let path = fixture_with_sdk_edit("swapped-vtable", &SWAP_PLACE_AND_ON_EVENT);
    let err = Plugin::load(&path).unwrap_err();
    let PluginError::Layout { differences, .. } = &err else {
        panic!("expected a layout mismatch, got {err}");
    };
    let (place, on_event) = (
        offset_of!(PolicyVTable, place),
        offset_of!(PolicyVTable, on_event),
    );
    assert_eq!(
        differences,
        &[
            format!("offset of PolicyVTable.place: {on_event}, expected {place}"),
            format!("offset of PolicyVTable.on_event: {place}, expected {on_event}"),
        ]
    );
    mentions(&err, &path);
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "layout mismatch with this cohort (same ABI version {ABI_VERSION}"
        )),
        "{text}"
    );
}

#[test]
fn a_plugin_built_with_two_dependency_variants_swapped() {
    let group = |g| Hints {
        group: GroupId(9),
        index: 0,
        dependency: Dependency::Group(GroupId(g)),
    };
    let task = Hints {
        group: GroupId(9),
        index: 0,
        dependency: Dependency::Task(GroupId(1), 3),
    };
    let nodes: Vec<NodeView> = (0..3).map(|i| node(i, 4, 0, 0)).collect();

    // Built against the real SDK, the fixture reads dependencies as the host sends them.
    let good = fixture("swapped-dependency");
    let mut p = Plugin::load(&good)
        .expect("loads")
        .create("", 0)
        .expect("created");
    assert_eq!(
        p.place(&view(&nodes, &[], &[], group(2))),
        Placement::Node(NodeId(2))
    );
    assert_eq!(
        p.place(&view(&nodes, &[], &[], task)),
        Placement::Refuse("a task dependency on (group 1, 3)".into())
    );

    // Built against an SDK where `Group` and `Task` trade places, under the same ABI version,
    // it would read the host's group dependency as a task dependency. It is refused, naming
    // both variants.
    let path = fixture_with_sdk_edit("swapped-dependency", &SWAP_GROUP_AND_TASK_DEPENDENCIES);
    let err = Plugin::load(&path).unwrap_err();
    let PluginError::Layout { differences, .. } = &err else {
        panic!("expected a layout mismatch, got {err}");
    };
    assert_eq!(
        differences,
        &[
            "discriminant of Dependency::Group: 2, expected 1",
            "discriminant of Dependency::Task: 1, expected 2",
        ]
    );
    mentions(&err, &path);
}

/// What `export_policy!` builds, checked without the loader: each library (the built-in
/// plugins, and a crate outside the workspace that compiled the SDK on its own) exports a
/// symbol named `ENTRY_SYMBOL`, and the table behind it carries this host's ABI version and
/// the layout record as this host computes it.
#[test]
fn export_policy_exports_the_entry_symbol_with_the_hosts_layout() {
    // Found by name, but not loaded through the loader.
    let search = SearchPath::from_env();
    let mut libraries: Vec<PathBuf> = [
        "random", "group", "locality", "spread", "hybrid", "p2c", "ees", "delay",
    ]
    .iter()
    .map(|name| {
        search
            .resolve(name)
            .expect("built by `cargo build --workspace`")
    })
    .collect();
    libraries.push(fixture("first-fit"));
    for path in libraries {
        // SAFETY: these are plugins built from this repository; loading runs their
        // initialisers only.
        let library = unsafe { libloading::Library::new(&path) }.expect("loads");
        // SAFETY: `EntryFn` is the type the ABI gives the entry symbol.
        let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }
            .map(|symbol| *symbol)
            .unwrap_or_else(|e| panic!("{}: no `{ENTRY_SYMBOL}`: {e}", path.display()));
        let table = entry();
        assert!(!table.is_null(), "{}", path.display());
        // SAFETY: the table is a static of the loaded library that starts with the version.
        let version = unsafe { table.cast::<u32>().read_unaligned() };
        assert_eq!(version, ABI_VERSION, "{}", path.display());
        // SAFETY: same version, so the layout record follows (as the loader reads it).
        let layout = unsafe { (&raw const (*table).layout).read_unaligned() };
        assert_eq!(
            layout.differences(&AbiLayout::CURRENT),
            Vec::<String>::new(),
            "{}",
            path.display()
        );
        assert_eq!(layout, AbiLayout::CURRENT);
    }
}

#[test]
fn a_configuration_the_policy_rejects() {
    let plugin = builtin("random");
    let err = plugin.create("staleness_ms = 100", 0).unwrap_err();
    assert_eq!(
        err,
        PluginError::CreateFailed {
            path: plugin.path().to_path_buf(),
            message: "the random policy takes no options, but its configuration says \
                      `staleness_ms = 100`"
                .into(),
        }
    );
    mentions(&err, plugin.path());
}

#[test]
fn a_policy_that_panics_while_being_created_or_described() {
    let path = fixture("misbehave");
    let plugin = Plugin::load(&path).expect("loads");
    for (mode, during, message) in [
        (
            "panic-create",
            "create",
            "misbehave panics while being created",
        ),
        (
            "panic-describe",
            "describe",
            "misbehave panics while telling its name",
        ),
    ] {
        let err = plugin.create(&format!("mode = \"{mode}\""), 0).unwrap_err();
        assert_eq!(
            err,
            PluginError::Panicked {
                path: path.clone(),
                during,
                message: message.into(),
            }
        );
        mentions(&err, &path);
    }
}

#[test]
fn whether_a_policy_wants_events_crosses_the_abi() {
    assert!(!builtin("random").create("", 0).unwrap().wants_events());
    assert!(!builtin("locality").create("", 0).unwrap().wants_events());
    assert!(builtin("group").create("", 0).unwrap().wants_events());
    assert!(misbehave("").wants_events());
    // A deaf plugin panics on any event: a run must never send it one.
    let p = misbehave("mode = \"deaf\"");
    assert!(!p.wants_events());
    let mut c = cluster(p, 3, 2);
    let outs: Vec<_> = (0..6).map(|x| square(&mut c, x).unwrap()).collect();
    c.run_until_idle().unwrap();
    for (x, o) in outs.iter().enumerate() {
        assert_eq!(c.get(&o[0]).unwrap().as_u64(), Some((x * x) as u64));
    }
}

// ----- bad input: misbehaving while running ----------------------------------------------

#[test]
fn a_policy_that_panics_while_placing_fails_the_run_cleanly() {
    let path = fixture("misbehave");
    let mut c = cluster(misbehave("mode = \"panic-place\"\nafter = 2"), 2, 2);
    let first = square(&mut c, 3).expect("first decision is fine").remove(0);
    let second = square(&mut c, 4)
        .expect("second decision is fine")
        .remove(0);
    let err = square(&mut c, 5).unwrap_err();
    let RuntimeError::PolicyRefused { policy, reason, .. } = &err else {
        panic!("expected PolicyRefused, got {err}");
    };
    assert_eq!(policy, "misbehave");
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    assert!(
        reason.contains("panicked while placing task 3: misbehave panics on decision 3"),
        "{reason}"
    );
    // The host did not abort, and nothing already done is lost.
    assert_eq!(c.get(&first).expect("kept").as_u64(), Some(9));
    assert_eq!(c.get(&second).expect("kept").as_u64(), Some(16));
    // The plugin is not asked again.
    let err = square(&mut c, 6).unwrap_err();
    assert!(err.to_string().contains("it is not asked again"), "{err}");
}

#[test]
fn a_policy_that_panics_on_an_event_is_not_asked_again() {
    let mut p = misbehave("mode = \"panic-event\"");
    let nodes = [node(0, 4, 0, 0)];
    assert_eq!(
        p.place(&view(&nodes, &[], &[], Hints::NONE)),
        Placement::Node(NodeId(0))
    );
    p.on_event(&PolicyEvent::Placed {
        task: TaskId(1),
        kind: WorkKind::Task,
        hints: Hints::NONE,
        node: NodeId(0),
    });
    let broken = p.broken().expect("marked broken").to_string();
    assert!(broken.contains("panicked handling Placed"), "{broken}");
    assert!(
        broken.contains("misbehave panics on placed event 1"),
        "{broken}"
    );
    let Placement::Refuse(reason) = p.place(&view(&nodes, &[], &[], Hints::NONE)) else {
        panic!("a broken plugin must refuse");
    };
    assert!(reason.contains(&p.path().display().to_string()), "{reason}");
    assert!(reason.contains("panicked"), "{reason}");
}

#[test]
fn a_policy_that_refuses() {
    let mut c = cluster(misbehave("mode = \"refuse\""), 2, 2);
    let err = square(&mut c, 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `misbehave` refused to place task 1 (`square`): misbehave refuses, as configured"
    );
}

#[test]
fn a_policy_that_picks_a_node_that_does_not_exist() {
    let mut c = cluster(misbehave("mode = \"node\"\nnode = 7\nafter = 1"), 2, 2);
    let kept = square(&mut c, 2).expect("first decision is fine").remove(0);
    let err = square(&mut c, 3).unwrap_err();
    assert!(
        matches!(&err, RuntimeError::PolicyInvalidChoice { policy, node, problem, .. }
            if policy == "misbehave" && *node == NodeId(7)
                && problem == "does not exist (the cluster has 2 nodes)"),
        "{err}"
    );
    assert_eq!(c.get(&kept).expect("kept").as_u64(), Some(4));
}

#[test]
fn a_policy_that_picks_a_node_that_cannot_fit_the_task() {
    let mut s = spec(2, 4);
    s.nodes[1].cpus = 1;
    let policy = misbehave("mode = \"node\"\nnode = 1");
    let mut c = Cluster::new(s, registry(), Box::new(policy), Default::default()).expect("valid");
    let f = c.function("square").expect("registered");
    let err = c
        .submit(Task::new(f).arg(Payload::from_u64(1)).cpus(2))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy `misbehave` placed task 1 (`square`) on node 1, which has 1 CPUs, fewer than \
         the 2 demanded"
    );
}

#[test]
fn an_answer_naming_a_dead_node_reaches_the_runtime_unchanged() {
    // The runtime has no way to take a node down yet, so this checks the plugin side: a
    // plugin's answer about a node the view shows dead reaches the host unchanged, for the
    // runtime's validation (`is not alive`) to reject.
    let mut p = misbehave("mode = \"node\"\nnode = 1");
    let mut nodes = [node(0, 4, 0, 0), node(1, 4, 0, 0)];
    nodes[1].alive = false;
    assert_eq!(
        p.place(&view(&nodes, &[], &[], Hints::NONE)),
        Placement::Node(NodeId(1))
    );
}
