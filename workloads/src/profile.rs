//! Cost profiles: what this machine's live runtime costs, as the simulator's parameters, for
//! any workload (`cohort calibrate` writes one; `--profile FILE` applies it).
//!
//! A profile gives the network's (`[cluster]`: `latency`, `nic_bandwidth`, `submit_cost`) and
//! the cost of each class of task code (`[kinds.CLASS]`: `fixed`, `input_rate`,
//! `output_rate`, `cost_by_input_size`, `cost_by_output_size`), by what the live code of a
//! kind does ([`crate::live`]):
//!
//! - `generate`: a kind with a fixed output size that no stage gives an object (a broadcast's
//!   task): it makes its data;
//! - `copy`: a kind whose output size is `input` or `inputs`: it copies its arguments;
//! - `sum`: a kind with a fixed output size that reads objects, and every actor method: it
//!   reads its arguments and sums them.
//!
//! A profile may also give the runtime model's options (`[model]`: any key of the workload's
//! `[cluster]` that is not a cost, such as `transport`, `object_lifetime`, `view_accounting`,
//! `spill_over`, `heartbeat`), each applied as `cluster.KEY`: a profile of another runtime
//! (Ray 0.6, measured by `peers/ray/cohort_ray.py calibrate`) carries that runtime's
//! mechanisms with its costs.
//!
//! Applied to a workload, a profile becomes `--set` values (key paths such as
//! `tasks.map_step.fixed`): a class's five keys replace the kind's (an absent `fixed` is 0; an
//! absent rate or curve is `"none"`, no cost by size). Values the user sets win over the
//! profile's.

use crate::resolve::{OutputSize, Resolved, StageOp};
use crate::{Workload, WorkloadError};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The classes of task code a profile prices, in the order they are listed.
pub const CLASSES: [&str; 3] = ["generate", "copy", "sum"];

/// A cost profile (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Where it came from (written by `cohort calibrate`; not applied).
    #[serde(default)]
    pub profile: BTreeMap<String, toml::Value>,
    /// `[cluster]` keys: `latency`, `nic_bandwidth`, `submit_cost`.
    #[serde(default)]
    pub cluster: ClusterCosts,
    /// The cost of each class of task code, by class.
    #[serde(default)]
    pub kinds: BTreeMap<String, KindCosts>,
    /// The runtime model's options, by `[cluster]` key: each applied as `cluster.KEY`, its
    /// value as written (a string, or a boolean or number as its text).
    #[serde(default)]
    pub model: BTreeMap<String, toml::Value>,
}

/// A profile's `[cluster]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterCosts {
    /// A transfer's fixed cost, e.g. `"310us"`.
    pub latency: Option<String>,
    /// Each NIC's rate, e.g. `"7.5Gbit/s"`.
    pub nic_bandwidth: Option<String>,
    /// The driver's cost per submission.
    pub submit_cost: Option<String>,
}

/// The cost of one class of task code.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindCosts {
    /// Fixed cost per execution.
    pub fixed: Option<String>,
    /// Rate at which it reads its object arguments.
    pub input_rate: Option<String>,
    /// Rate at which it writes its outputs.
    pub output_rate: Option<String>,
    /// Its duration by the bytes it reads, e.g. `"8B:65us, 1MiB:230us"`.
    pub cost_by_input_size: Option<String>,
    /// Its duration by the bytes it writes.
    pub cost_by_output_size: Option<String>,
}

/// Why a profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not a profile.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A class it does not know.
    #[error("{path}: unknown class `kinds.{class}` (the classes are generate, copy and sum)")]
    Class {
        /// The file.
        path: String,
        /// The class.
        class: String,
    },
    /// Applied, the workload does not resolve (a value the profile gives is not valid).
    #[error("{path} applied to the workload: {source}")]
    Apply {
        /// The file.
        path: String,
        /// The workload's error.
        source: WorkloadError,
    },
}

impl Profile {
    /// Parses profile text; `path` is only used in messages.
    pub fn parse(path: &str, text: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: path.to_string(),
            message: e.message().trim().to_string(),
        })?;
        if let Some(class) = p.kinds.keys().find(|c| !CLASSES.contains(&c.as_str())) {
            return Err(ProfileError::Class {
                path: path.to_string(),
                class: class.clone(),
            });
        }
        Ok(p)
    }

    /// The `--set` values that apply this profile to `w` (resolved with `sets`), with `sets`
    /// on top (the user's values win); checked by resolving `w` with them. `path` is only used
    /// in messages.
    pub fn apply(
        &self,
        path: &str,
        w: &Workload,
        sets: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ProfileError> {
        let apply_err = |source| ProfileError::Apply {
            path: path.to_string(),
            source,
        };
        let mut out = BTreeMap::new();
        let cluster = [
            ("latency", &self.cluster.latency),
            ("nic_bandwidth", &self.cluster.nic_bandwidth),
            ("submit_cost", &self.cluster.submit_cost),
        ];
        for (key, value) in cluster {
            if let Some(v) = value {
                out.insert(format!("cluster.{key}"), v.clone());
            }
        }
        for (key, value) in &self.model {
            let text = match value {
                toml::Value::String(v) => v.clone(),
                other => other.to_string(),
            };
            out.insert(format!("cluster.{key}"), text);
        }
        // The task kinds as the workload has them with the profile's cluster and model under
        // the `--set`s (a `--set` may need a model key the profile gives).
        let mut under = out.clone();
        under.extend(sets.iter().map(|(k, v)| (k.clone(), v.clone())));
        let resolved = w.resolve(&under).map_err(&apply_err)?;
        for (prefix, class) in classes(&resolved) {
            if let Some(costs) = self.kinds.get(class) {
                let keys = [
                    ("fixed", &costs.fixed, "0us"),
                    ("input_rate", &costs.input_rate, "none"),
                    ("output_rate", &costs.output_rate, "none"),
                    ("cost_by_input_size", &costs.cost_by_input_size, "none"),
                    ("cost_by_output_size", &costs.cost_by_output_size, "none"),
                ];
                for (key, value, absent) in keys {
                    let v = value.clone().unwrap_or_else(|| absent.to_string());
                    out.insert(format!("{prefix}.{key}"), v);
                }
            }
        }
        out.extend(sets.iter().map(|(k, v)| (k.clone(), v.clone())));
        w.resolve(&out).map_err(apply_err)?;
        Ok(out)
    }
}

/// Each task kind's and actor method's key prefix (`tasks.NAME`,
/// `actors.NAME.methods.M`) with the class of its code.
pub fn classes(w: &Resolved) -> Vec<(String, &'static str)> {
    let mut broadcast_only: BTreeMap<&str, bool> = BTreeMap::new();
    for stage in &w.stages {
        match &stage.op {
            StageOp::Broadcast { task, .. } => {
                broadcast_only.entry(task.as_str()).or_insert(true);
            }
            StageOp::Map { task, .. } | StageOp::Join { task, .. } => {
                broadcast_only.insert(task.as_str(), false);
            }
            StageOp::InitActors { .. } | StageOp::ReduceActors { .. } => {}
        }
    }
    let mut out = Vec::new();
    for (name, kind) in &w.tasks {
        let class = match kind.output_size {
            OutputSize::Input | OutputSize::Inputs => "copy",
            OutputSize::Bytes(_) if broadcast_only.get(name.as_str()) == Some(&true) => "generate",
            OutputSize::Bytes(_) => "sum",
        };
        out.push((format!("tasks.{name}"), class));
    }
    for (name, actor) in &w.actors {
        for m in actor.methods.keys() {
            out.push((format!("actors.{name}.methods.{m}"), "sum"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
[profile]
machine = "test"
[cluster]
latency = "300us"
nic_bandwidth = "8Gbit/s"
submit_cost = "2us"
[kinds.generate]
fixed = "90us"
output_rate = "1GB/s"
[kinds.copy]
fixed = "80us"
output_rate = "4GB/s"
[kinds.sum]
fixed = "70us"
input_rate = "3GB/s"
"#;

    #[test]
    fn a_profile_becomes_the_workloads_keys_by_what_each_kind_does() {
        let (name, text) = crate::SHIPPED[0];
        let w = Workload::parse(name, text).unwrap();
        let p = Profile::parse("p.toml", PROFILE).unwrap();
        let user = BTreeMap::from([("tasks.shuffle.fixed".to_string(), "1ms".to_string())]);
        let sets = p.apply("p.toml", &w, &user).unwrap();
        let get = |k: &str| sets.get(k).map(String::as_str);
        assert_eq!(get("cluster.latency"), Some("300us"));
        assert_eq!(get("cluster.submit_cost"), Some("2us"));
        // streaming: generate (a broadcast's task), map_step (input: copy), shuffle (32 B from
        // an object: sum), the reducers' method (sum).
        assert_eq!(get("tasks.generate.output_rate"), Some("1GB/s"));
        assert_eq!(get("tasks.generate.input_rate"), Some("none"));
        assert_eq!(get("tasks.map_step.fixed"), Some("80us"));
        assert_eq!(get("tasks.map_step.output_rate"), Some("4GB/s"));
        assert_eq!(get("tasks.shuffle.input_rate"), Some("3GB/s"));
        assert_eq!(
            get("tasks.shuffle.fixed"),
            Some("1ms"),
            "the user's value wins"
        );
        assert_eq!(get("actors.Reducer.methods.reduce.fixed"), Some("70us"));
        let r = w.resolve(&sets).unwrap();
        assert_eq!(r.tasks["map_step"].cost.fixed_ns, 80_000);
        assert_eq!(r.tasks["generate"].cost.per_input_byte_ps, 0);
        assert_eq!(r.tasks["generate"].cost.per_output_byte_ps, 1000);
        assert_eq!(r.submit_cost, 2_000);
    }

    #[test]
    fn a_profiles_curve_replaces_the_kinds_line_and_a_line_clears_a_curve() {
        let (name, text) = crate::SHIPPED[0];
        let w = Workload::parse(name, text).unwrap();
        let curve = "[kinds.copy]\ncost_by_output_size = \"8B:60us, 1MiB:180us\"";
        let p = Profile::parse("p.toml", curve).unwrap();
        let sets = p.apply("p.toml", &w, &BTreeMap::new()).unwrap();
        assert_eq!(sets["tasks.map_step.fixed"], "0us");
        assert_eq!(sets["tasks.map_step.output_rate"], "none");
        let cost = w.resolve(&sets).unwrap().tasks["map_step"].cost;
        assert_eq!(
            (cost.fixed_ns, cost.per_output_byte_ps),
            (0, 0),
            "the workload's own line is gone"
        );
        assert_eq!(
            cost.by_output_size.points(),
            &[(8, 60_000), (1 << 20, 180_000)]
        );
        assert!(cost.by_input_size.is_none());
        // A profile with a line clears a curve; the user's own curve still wins.
        let line = Profile::parse("p.toml", PROFILE).unwrap();
        let sets = line.apply("p.toml", &w, &BTreeMap::new()).unwrap();
        assert_eq!(sets["tasks.map_step.cost_by_output_size"], "none");
        let user = BTreeMap::from([(
            "tasks.map_step.cost_by_output_size".to_string(),
            "1KB:1ms".to_string(),
        )]);
        let sets = line.apply("p.toml", &w, &user).unwrap();
        let r = w.resolve(&sets).unwrap();
        assert_eq!(
            r.tasks["map_step"].cost.by_output_size.points(),
            &[(1_000, 1_000_000)]
        );
    }

    #[test]
    fn a_profiles_model_options_become_cluster_keys() {
        let (name, text) = crate::SHIPPED[0];
        let w = Workload::parse(name, text).unwrap();
        let text = "[model]\ntransport = \"chunked\"\nspill_over = true\nobject_lifetime = \"lru\"";
        let p = Profile::parse("p.toml", text).unwrap();
        let sets = p.apply("p.toml", &w, &BTreeMap::new()).unwrap();
        assert_eq!(sets["cluster.transport"], "chunked");
        assert_eq!(sets["cluster.spill_over"], "true");
        let r = w.resolve(&sets).unwrap();
        assert_eq!(r.model.object_lifetime, cohort_runtime::ObjectLifetime::Lru);
        // A `--set` that needs a model key the profile gives (the copies need host_cores).
        let p = Profile::parse("p.toml", "[model]\nhost_cores = 2").unwrap();
        let copy: BTreeMap<String, String> = [(
            "cluster.transfer_copy_rate".to_string(),
            "600MB/s".to_string(),
        )]
        .into();
        let sets = p.apply("p.toml", &w, &copy).unwrap();
        assert_eq!(w.resolve(&sets).unwrap().model.transfer_cpu_ps, 1_667);
        let bad = Profile::parse("p.toml", "[model]\ntransport = \"pigeons\"").unwrap();
        let e = bad.apply("p.toml", &w, &BTreeMap::new()).unwrap_err();
        assert!(
            e.to_string().contains("p.toml applied to the workload"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_profile_says_what_is_wrong() {
        let e = Profile::parse("p.toml", "[kinds.reduce]\nfixed = \"1us\"").unwrap_err();
        assert!(
            e.to_string().contains("unknown class `kinds.reduce`"),
            "{e}"
        );
        let e = Profile::parse("p.toml", "[cluster]\nlatnecy = \"1us\"").unwrap_err();
        assert!(
            e.to_string().starts_with("p.toml: unknown field `latnecy`"),
            "{e}"
        );
        let (name, text) = crate::SHIPPED[0];
        let w = Workload::parse(name, text).unwrap();
        let p = Profile::parse("p.toml", "[kinds.copy]\nfixed = \"fast\"").unwrap();
        let e = p.apply("p.toml", &w, &BTreeMap::new()).unwrap_err();
        assert!(
            e.to_string().starts_with("p.toml applied to the workload"),
            "{e}"
        );
    }
}
