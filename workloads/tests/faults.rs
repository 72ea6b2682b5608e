//! `[[fault]]`: what goes wrong during a run, with units and checks like every other key,
//! settable as `fault.N.KEY`, and ordered by when it starts.

use cohort_runtime::policy::NodeId;
use cohort_runtime::{FaultKind, Slowdown};
use cohort_workloads::{Resolved, Workload};
use std::collections::BTreeMap;

mod common;

/// The shared workload on three nodes (the faults below name node 2).
fn good() -> String {
    common::GOOD.replace("nodes = 2", "nodes = 3")
}

const FAULTS: &str = r#"
[[fault]]
kind = "slow_nic"
node = 1
by = "2.5x"
at = "300ms"
until = "600ms"

[[fault]]
kind = "kill"
node = 2
at = "250ms"
until = "1s"

[[fault]]
kind = "slow_cpu"
node = 0
by = 4
at = "250ms"

[[fault]]
kind = "drop_link"
between = [0, 1]
at = "700ms"
"#;

fn resolve(extra: &str, sets: &[(&str, &str)]) -> Result<Resolved, String> {
    let text = format!("{}{extra}", good());
    let sets: BTreeMap<String, String> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Workload::parse("f.toml", &text)
        .and_then(|w| w.resolve(&sets))
        .map_err(|e| e.to_string())
}

fn error(extra: &str, sets: &[(&str, &str)]) -> String {
    resolve(extra, sets).expect_err("must be refused")
}

fn by(milli: u32) -> Slowdown {
    Slowdown::from_milli(milli).expect("a slowdown")
}

#[test]
fn faults_resolve_in_the_order_they_start_with_exact_numbers() {
    let r = resolve(FAULTS, &[]).expect("valid");
    let got: Vec<(FaultKind, u64, Option<u64>)> = r
        .spec
        .faults
        .faults()
        .iter()
        .map(|f| (f.kind, f.at, f.until))
        .collect();
    assert_eq!(
        got,
        [
            // Two starting at 250 ms keep the order they were written in.
            (
                FaultKind::Kill { node: NodeId(2) },
                250_000_000,
                Some(1_000_000_000)
            ),
            (
                FaultKind::SlowCpu {
                    node: NodeId(0),
                    by: by(4_000)
                },
                250_000_000,
                None
            ),
            (
                FaultKind::SlowNic {
                    node: NodeId(1),
                    by: by(2_500)
                },
                300_000_000,
                Some(600_000_000)
            ),
            (
                FaultKind::DropLink {
                    a: NodeId(0),
                    b: NodeId(1)
                },
                700_000_000,
                None
            ),
        ]
    );
    assert!(resolve("", &[]).expect("valid").spec.faults.is_empty());
}

#[test]
fn every_fault_key_can_be_set_from_the_command_line() {
    let r = resolve(
        FAULTS,
        &[
            ("fault.2.at", "50ms"),
            ("fault.2.node", "1"),
            ("fault.1.by", "8"),
            ("fault.3.until", "2s"),
        ],
    )
    .expect("valid");
    // In the order they now start: the kill (50 ms), slow_cpu (250 ms), slow_nic (300 ms).
    let f = r.spec.faults.faults();
    assert_eq!(f[0].kind, FaultKind::Kill { node: NodeId(1) });
    assert_eq!(f[0].at, 50_000_000);
    assert_eq!(
        f[1].kind,
        FaultKind::SlowCpu {
            node: NodeId(0),
            by: by(4_000)
        }
    );
    assert_eq!(f[1].until, Some(2_000_000_000));
    assert_eq!(
        f[2].kind,
        FaultKind::SlowNic {
            node: NodeId(1),
            by: by(8_000)
        }
    );
    // A fault's time can be a parameter like any other key.
    let r = resolve(&FAULTS.replace("at = \"700ms\"", "at = \"$cut\""), &[]);
    assert!(r.unwrap_err().contains("no parameter `cut`"));
}

#[test]
fn bad_faults_are_named_with_their_place_or_their_set() {
    let e = error(FAULTS, &[("fault.9.at", "1s")]);
    assert!(
        e.contains("no fault `9`: the file's [[fault]] tables are numbered from 1 (it has 4)"),
        "{e}"
    );
    let e = error(FAULTS, &[("fault.1.colour", "red")]);
    assert!(
        e.contains("fault 1 has no settable key `colour` (its keys: node, at, until, by)"),
        "{e}"
    );
    let e = error(FAULTS, &[("fault.2.node", "3")]);
    assert!(
        e.contains("--set fault.2.node=3: the cluster's nodes are 0 to 2, not 3"),
        "{e}"
    );
    let e = error(FAULTS, &[("fault.1.by", "0.5")]);
    assert!(
        e.contains("a slowdown is a factor from 1 (unchanged)"),
        "{e}"
    );
    let e = error(FAULTS, &[("fault.1.at", "10")]);
    assert!(e.contains("--set fault.1.at=10: 10 has no unit"), "{e}");
    let e = error(FAULTS, &[("fault.1.until", "100ms")]);
    assert!(
        e.contains("ends at 100 ms but starts at 300 ms: it must end after it starts"),
        "{e}"
    );
    // In the file: the line of the fault.
    let e = error("\n[[fault]]\nkind = \"kill\"\nat = \"1s\"\n", &[]);
    assert!(e.contains("fault 1 (kill): needs `node`"), "{e}");
    assert!(e.starts_with("f.toml:"), "{e}");
    let e = error(
        "\n[[fault]]\nkind = \"slow_cpu\"\nnode = 0\nat = \"1s\"\n",
        &[],
    );
    assert!(
        e.contains("fault 1 (slow_cpu): needs `by`, how many times slower"),
        "{e}"
    );
    let e = error(
        "\n[[fault]]\nkind = \"kill\"\nnode = 0\nby = 2\nat = \"1s\"\n",
        &[],
    );
    assert!(e.contains("a kill has no `by`"), "{e}");
    let e = error(
        "\n[[fault]]\nkind = \"drop_link\"\nbetween = [1]\nat = \"1s\"\n",
        &[],
    );
    assert!(e.contains("`between` takes two nodes"), "{e}");
    let e = error(
        "\n[[fault]]\nkind = \"drop_link\"\nbetween = [1, 1]\nat = \"1s\"\n",
        &[],
    );
    assert!(e.contains("drops the link from node 1 to itself"), "{e}");
    let e = error("\n[[fault]]\nkind = \"melt\"\nnode = 0\nat = \"1s\"\n", &[]);
    assert!(e.contains("unknown variant `melt`"), "{e}");
    let two_kills = "\n[[fault]]\nkind = \"kill\"\nnode = 1\nat = \"1s\"\nuntil = \"3s\"\n\
                     \n[[fault]]\nkind = \"kill\"\nnode = 1\nat = \"2s\"\n";
    let e = error(two_kills, &[]);
    assert!(e.contains("faults 1 and 2 overlap"), "{e}");
    // Not overlapping once the first has ended.
    assert!(resolve(two_kills, &[("fault.2.at", "3s")]).is_ok());
}
