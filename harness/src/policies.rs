//! The built-in policies, by name, called in-process.

use anyhow::{Result, bail};
use cohort_policy::{Policy, PolicyFactory};
use cohort_policy_group::GroupPolicy;
use cohort_policy_locality::LocalityPolicy;
use cohort_policy_random::RandomPolicy;

/// Names of the built-in policies.
pub const BUILTIN: [&str; 3] = ["random", "group", "locality"];

fn create<P: PolicyFactory>(name: &str, seed: u64) -> Result<Box<dyn Policy>> {
    P::create("", seed)
        .map(|p| Box::new(p) as Box<dyn Policy>)
        .map_err(|e| anyhow::anyhow!("policy `{name}` could not be created: {e}"))
}

/// The built-in policy called `name`, seeded with `seed`.
pub fn by_name(name: &str, seed: u64) -> Result<Box<dyn Policy>> {
    match name {
        "random" => create::<RandomPolicy>(name, seed),
        "group" => create::<GroupPolicy>(name, seed),
        "locality" => create::<LocalityPolicy>(name, seed),
        other => bail!(
            "unknown policy `{other}`: the built-in policies are {}",
            BUILTIN.join(", ")
        ),
    }
}
