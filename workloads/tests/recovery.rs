//! `[recovery]`: how the cluster notices a dead node and recovers, with the runtime's defaults
//! for what the file leaves out, units and checks like every other key (errors naming the key
//! and its line, or the `--set`), `$param` references recorded with their units, and
//! `recovery.KEY` overrides.

use cohort_runtime::{MILLISECOND, Recovery, SECOND};
use cohort_workloads::{Quantity, Resolved, Workload};
use std::collections::BTreeMap;

mod common;

use common::GOOD;

/// Every key, written out.
const RECOVERY: &str = r#"
[recovery]
heartbeat_period = "250ms"
missed_heartbeats = 40
task_retries = 5
reconstruction = false
actor_restarts = 2
actor_replay = false
"#;

fn sets(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `GOOD` with `extra` appended (and its `[params]` given `params` lines too).
fn text(params: &str, extra: &str) -> String {
    let with_params = GOOD.replace("[params]\n", &format!("[params]\n{params}"));
    format!("{with_params}{extra}")
}

fn resolve_text(text: &str, pairs: &[(&str, &str)]) -> Result<Resolved, String> {
    Workload::parse("f.toml", text)
        .and_then(|w| w.resolve(&sets(pairs)))
        .map_err(|e| e.to_string())
}

fn resolve(extra: &str, pairs: &[(&str, &str)]) -> Result<Resolved, String> {
    resolve_text(&text("", extra), pairs)
}

fn error(extra: &str, pairs: &[(&str, &str)]) -> String {
    resolve(extra, pairs).expect_err("must be refused")
}

/// The 1-based line of the first line of `text` that starts with `start`.
fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(start))
        .expect("the line is there")
        + 1
}

#[test]
fn without_a_recovery_table_the_runtimes_defaults_hold() {
    let r = resolve("", &[]).expect("valid");
    assert_eq!(r.spec.recovery, Recovery::default());
    // Which are Ray's: 300 heartbeats of 100 ms (0.6.1), 3 retries (2.x's max_retries), no
    // actor restart (max_restarts 0), rebuilding and replaying on.
    assert_eq!(
        r.spec.recovery,
        Recovery {
            heartbeat_period: 100 * MILLISECOND,
            missed_heartbeats: 300,
            task_retries: 3,
            reconstruction: true,
            actor_restarts: 0,
            actor_replay: true,
            pull_timeout: 0,
        }
    );
    // An empty table is the same.
    let r = resolve("\n[recovery]\n", &[]).expect("valid");
    assert_eq!(r.spec.recovery, Recovery::default());
}

#[test]
fn every_key_of_the_table_resolves_exactly() {
    let r = resolve(RECOVERY, &[]).expect("valid");
    assert_eq!(
        r.spec.recovery,
        Recovery {
            heartbeat_period: 250 * MILLISECOND,
            missed_heartbeats: 40,
            task_retries: 5,
            reconstruction: false,
            actor_restarts: 2,
            actor_replay: false,
            pull_timeout: 0,
        }
    );
    assert_eq!(
        r.spec.recovery.declared_dead_at(SECOND),
        10_750 * MILLISECOND
    );
}

#[test]
fn each_key_alone_changes_only_itself() {
    let d = Recovery::default();
    let one = |line: &str| {
        resolve(&format!("\n[recovery]\n{line}\n"), &[])
            .expect("valid")
            .spec
            .recovery
    };
    assert_eq!(
        one("heartbeat_period = \"1s\""),
        Recovery {
            heartbeat_period: SECOND,
            ..d
        }
    );
    assert_eq!(
        one("missed_heartbeats = 1"),
        Recovery {
            missed_heartbeats: 1,
            ..d
        }
    );
    assert_eq!(
        one("task_retries = 0"),
        Recovery {
            task_retries: 0,
            ..d
        }
    );
    assert_eq!(
        one("reconstruction = false"),
        Recovery {
            reconstruction: false,
            ..d
        }
    );
    assert_eq!(
        one("actor_restarts = 4294967295"),
        Recovery {
            actor_restarts: u32::MAX,
            ..d
        }
    );
    assert_eq!(
        one("actor_replay = false"),
        Recovery {
            actor_replay: false,
            ..d
        }
    );
}

#[test]
fn quantities_may_be_parameters_recorded_with_their_units() {
    let t = text(
        "beat = \"20ms\"\nmissed = 7\nretries = 1\nrestarts = 3\n",
        "\n[recovery]\nheartbeat_period = \"$beat\"\nmissed_heartbeats = \"$missed\"\n\
         task_retries = \"$retries\"\nactor_restarts = \"$restarts\"\n",
    );
    let r = resolve_text(&t, &[]).expect("valid");
    assert_eq!(
        r.spec.recovery,
        Recovery {
            heartbeat_period: 20 * MILLISECOND,
            missed_heartbeats: 7,
            task_retries: 1,
            actor_restarts: 3,
            ..Recovery::default()
        }
    );
    // As `[cluster]`'s parameters are: in the manifest's parameters with their units.
    for (name, value, unit) in [
        ("beat", 20_000_000, Quantity::Duration),
        ("missed", 7, Quantity::Count),
        ("retries", 1, Quantity::Count),
        ("restarts", 3, Quantity::Count),
    ] {
        assert_eq!(r.param_values[name], value, "{name}");
        assert_eq!(r.param_units[name], unit, "{name}");
    }
    // Overridden by name like any parameter.
    let r = resolve_text(&t, &[("beat", "1s"), ("missed", "2")]).expect("valid");
    assert_eq!(
        r.spec.recovery.declared_dead_at(500 * MILLISECOND),
        2 * SECOND
    );
    assert_eq!(r.param_values["beat"], 1_000_000_000);
    // A parameter is read as the quantity of the key that uses it, and its errors say which.
    let t2 = text(
        "n = 3\n",
        "\n[recovery]\nmissed_heartbeats = \"$n\"\nheartbeat_period = \"$n\"\n",
    );
    let e = resolve_text(&t2, &[]).expect_err("a count used as a duration");
    assert!(
        e.contains("f.toml:") && e.contains("params.n (used by recovery.heartbeat_period)"),
        "{e}"
    );
    let e = error("\n[recovery]\ntask_retries = \"$nope\"\n", &[]);
    assert!(
        e.contains("recovery.task_retries: no parameter `nope` in [params]"),
        "{e}"
    );
}

#[test]
fn every_key_can_be_set_from_the_command_line() {
    // Keys the file leaves out are added...
    let r = resolve(
        "",
        &[
            ("recovery.heartbeat_period", "50ms"),
            ("recovery.missed_heartbeats", "3"),
            ("recovery.task_retries", "0"),
            ("recovery.reconstruction", "false"),
            ("recovery.actor_restarts", "1"),
            ("recovery.actor_replay", "false"),
        ],
    )
    .expect("valid");
    assert_eq!(
        r.spec.recovery,
        Recovery {
            heartbeat_period: 50 * MILLISECOND,
            missed_heartbeats: 3,
            task_retries: 0,
            reconstruction: false,
            actor_restarts: 1,
            actor_replay: false,
            pull_timeout: 0,
        }
    );
    assert_eq!(r.keys["recovery.actor_replay"], "false");
    // ... and keys the file gives are replaced, booleans included.
    let r = resolve(
        RECOVERY,
        &[
            ("recovery.heartbeat_period", "1s"),
            ("recovery.missed_heartbeats", "10"),
            ("recovery.task_retries", "7"),
            ("recovery.reconstruction", "true"),
            ("recovery.actor_restarts", "0"),
            ("recovery.actor_replay", "true"),
        ],
    )
    .expect("valid");
    assert_eq!(
        r.spec.recovery,
        Recovery {
            heartbeat_period: SECOND,
            missed_heartbeats: 10,
            task_retries: 7,
            reconstruction: true,
            actor_restarts: 0,
            actor_replay: true,
            pull_timeout: 0,
        }
    );
    // One key alone leaves the file's others.
    let r = resolve(RECOVERY, &[("recovery.actor_replay", "true")]).expect("valid");
    assert!(r.spec.recovery.actor_replay);
    assert_eq!(r.spec.recovery.actor_restarts, 2);
    // A key's value may name a parameter, which is then recorded with its unit.
    let r = resolve("", &[("recovery.missed_heartbeats", "$width")]).expect("valid");
    assert_eq!(r.spec.recovery.missed_heartbeats, 4);
    assert_eq!(r.param_units["width"], Quantity::Count);
}

#[test]
fn bad_values_in_the_file_are_named_with_their_key_and_line() {
    let at = |extra: &str, start: &str| {
        let t = text("", extra);
        let e = resolve_text(&t, &[]).expect_err("must be refused");
        let line = line_of(&t, start);
        assert!(e.starts_with(&format!("f.toml:{line}:")), "{e}");
        e
    };
    let e = at("\n[recovery]\nheartbeat_period = 100\n", "heartbeat_period");
    assert!(
        e.ends_with(
            "recovery.heartbeat_period: 100 has no unit; expected a duration such as \"100ms\""
        ),
        "{e}"
    );
    let e = at(
        "\n[recovery]\nheartbeat_period = \"0ms\"\n",
        "heartbeat_period",
    );
    assert!(
        e.ends_with(
            "recovery.heartbeat_period: a heartbeat period of zero: a node must send \
             heartbeats some time apart"
        ),
        "{e}"
    );
    let e = at(
        "\n[recovery]\nheartbeat_period = \"1 fortnight\"\n",
        "heartbeat_period",
    );
    assert!(
        e.contains("recovery.heartbeat_period: `1 fortnight`"),
        "{e}"
    );
    let e = at("\n[recovery]\nmissed_heartbeats = 0\n", "missed_heartbeats");
    assert!(
        e.ends_with("recovery.missed_heartbeats: must be between 1 and 4294967295, got 0"),
        "{e}"
    );
    let e = at(
        "\n[recovery]\nmissed_heartbeats = 2.5\n",
        "missed_heartbeats",
    );
    assert!(
        e.ends_with(
            "recovery.missed_heartbeats: 2.5 is not a whole number and has no unit; expected a \
             whole number"
        ),
        "{e}"
    );
    let e = at("\n[recovery]\ntask_retries = -1\n", "task_retries");
    assert!(
        e.ends_with("recovery.task_retries: -1 is negative; expected a whole number"),
        "{e}"
    );
    let e = at(
        "\n[recovery]\nactor_restarts = 4294967296\n",
        "actor_restarts",
    );
    assert!(
        e.ends_with("recovery.actor_restarts: must be at most 4294967295, got 4294967296"),
        "{e}"
    );
    let e = at("\n[recovery]\nactor_restarts = \"3ms\"\n", "actor_restarts");
    assert!(e.contains("recovery.actor_restarts: "), "{e}");
    assert!(e.ends_with("expected a whole number"), "{e}");
    // Booleans are booleans (serde's words, at the value).
    let e = at("\n[recovery]\nreconstruction = 1\n", "reconstruction");
    assert!(
        e.contains("invalid type: integer `1`, expected a boolean"),
        "{e}"
    );
    let e = at("\n[recovery]\nactor_replay = \"yes\"\n", "actor_replay");
    assert!(
        e.contains("invalid type: string \"yes\", expected a boolean"),
        "{e}"
    );
    // Unknown keys are refused, listing the table's.
    let e = at("\n[recovery]\nheartbeats = 3\n", "heartbeats");
    assert!(e.contains("unknown field `heartbeats`"), "{e}");
    assert!(e.contains("heartbeat_period"), "{e}");
}

#[test]
fn bad_overrides_quote_the_set() {
    let cases = [
        (
            ("recovery.heartbeat_period", "100"),
            "f.toml: --set recovery.heartbeat_period=100: 100 has no unit; expected a duration \
             such as \"100ms\"",
        ),
        (
            ("recovery.heartbeat_period", "0s"),
            "f.toml: --set recovery.heartbeat_period=0s: a heartbeat period of zero: a node \
             must send heartbeats some time apart",
        ),
        (
            ("recovery.missed_heartbeats", "0"),
            "f.toml: --set recovery.missed_heartbeats=0: must be between 1 and 4294967295, got 0",
        ),
        (
            ("recovery.task_retries", "-2"),
            "f.toml: --set recovery.task_retries=-2: -2 is negative; expected a whole number",
        ),
        (
            ("recovery.actor_restarts", "99999999999"),
            "f.toml: --set recovery.actor_restarts=99999999999: must be at most 4294967295, got \
             99999999999",
        ),
        (
            ("recovery.reconstruction", "no"),
            "f.toml: --set recovery.reconstruction=no: expected true or false",
        ),
        (
            ("recovery.actor_replay", "1"),
            "f.toml: --set recovery.actor_replay=1: expected true or false",
        ),
        (
            ("recovery.restarts", "1"),
            "f.toml: --set recovery.restarts=1: [recovery] has no settable key `restarts` (its \
             keys: heartbeat_period, missed_heartbeats, task_retries, reconstruction, \
             actor_restarts, actor_replay, pull_timeout)",
        ),
        (
            ("recovery.actor.restarts", "1"),
            "f.toml: --set recovery.actor.restarts=1: no key `recovery.actor.restarts`: a key \
             is cluster.KEY, tasks.NAME.KEY, actors.NAME.creation.KEY, \
             actors.NAME.methods.M.KEY, schedule.KEY, stage.NAME.KEY, fault.N.KEY, \
             recovery.KEY (a plain NAME sets a parameter)",
        ),
        (
            ("actor_restarts", "1"),
            "f.toml: --set actor_restarts: the workload has no parameter `actor_restarts` (it \
             has: size, width; did you mean recovery.actor_restarts?)",
        ),
    ];
    for ((key, value), expected) in cases {
        assert_eq!(error(RECOVERY, &[(key, value)]), expected, "{key}={value}");
    }
    let e = error("", &[("recovery.task_retries", "$nope")]);
    assert!(
        e.contains("--set recovery.task_retries=$nope: no parameter `nope` in [params]"),
        "{e}"
    );
}

#[test]
fn a_recovery_that_is_not_a_table_is_described_in_the_files_words() {
    let t = GOOD.replace("name = \"tiny\"", "name = \"tiny\"\nrecovery = 5");
    let e = resolve_text(&t, &[]).expect_err("not a table");
    assert!(e.starts_with("f.toml:3:"), "{e}");
    assert!(
        e.contains(
            "expected a [recovery] table (heartbeat_period, missed_heartbeats, task_retries, \
             reconstruction, actor_restarts, actor_replay, pull_timeout)"
        ),
        "{e}"
    );
    // No Rust type (`reconstruction` holds the word "struct").
    assert!(!e.contains("Section") && !e.contains("struct "), "{e}");
}
