//! Which policy a run uses: a built-in one, or a plugin found by name or path.

use crate::replay::Recorded;
use anyhow::{Context, Result, bail};
use cohort_policy::Policy;
use cohort_policy::ffi::{PolicyVTable, vtable};
use cohort_policy_delay::DelayPolicy;
use cohort_policy_ees::EesPolicy;
use cohort_policy_group::GroupPolicy;
use cohort_policy_hybrid::HybridPolicy;
use cohort_policy_locality::LocalityPolicy;
use cohort_policy_p2c::P2cPolicy;
use cohort_policy_random::{RandomPolicy, no_options};
use cohort_policy_spread::SpreadPolicy;
use cohort_runtime::plugin::{Plugin, SearchPath, looks_like_path};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in policies (linked into `cohort`, always available): each name with the vtable
/// it is called through (each policy describes itself for `cohort policies`). Built-in
/// policies cross the same C ABI as plugins, so that a built-in run and a plugin run exercise
/// the same boundary.
const BUILTIN: [(&str, PolicyVTable); 8] = [
    ("random", vtable::<RandomPolicy>()),
    ("group", vtable::<GroupPolicy>()),
    ("locality", vtable::<LocalityPolicy>()),
    ("spread", vtable::<SpreadPolicy>()),
    ("hybrid", vtable::<HybridPolicy>()),
    ("p2c", vtable::<P2cPolicy>()),
    ("ees", vtable::<EesPolicy>()),
    ("delay", vtable::<DelayPolicy>()),
];

/// The policies `cohort repro` compares: the write-up's two (Ray v0.6's random placement and
/// group scheduling) and locality-only, where later Ray versions went.
pub const REPRO: [&str; 3] = ["random", "group", "locality"];

/// Built-in variants: a built-in policy with options set, under a name of its own (what its
/// runs are labelled with), and a line for `cohort policies`: the ablations of group
/// scheduling, which `cohort leaderboard --ablations` ranks beside the policies.
const VARIANTS: [(&str, &str, &str, &str); 3] = [
    (
        "group-no-pack",
        "group",
        "pack = false",
        "group without its pack rule: group dependencies placed randomly (an ablation)",
    ),
    (
        "group-no-follow",
        "group",
        "follow = false",
        "group without its task-dependency rule: placed randomly (an ablation)",
    ),
    (
        "group-random-fallback",
        "group",
        "load_fallback = false",
        "group with a random fallback, not the freest node (an ablation)",
    ),
];

/// The names of the built-in variants, the ablations of group scheduling.
pub fn variant_names() -> impl Iterator<Item = &'static str> {
    VARIANTS.iter().map(|(name, ..)| *name)
}

/// The names of the built-in policies, in the order `cohort policies` lists them.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

/// Where a policy comes from, as resolved before any run starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// Linked into this binary.
    Builtin(&'static str),
    /// A plugin library, checked when it was resolved.
    Plugin {
        /// The policy's own name, as its `describe` gives it: what runs are labelled with,
        /// however the plugin was asked for (`round-robin`, `round_robin` or a path).
        name: String,
        /// Its absolute path.
        path: PathBuf,
        /// SHA-256 of the file, hex.
        sha256: String,
    },
    /// A recorded run's placements, replayed (`cohort run --replay`): made by the run
    /// itself, which tells it the groups ([`crate::replay`]).
    Replay {
        /// The placements.
        recorded: Arc<Recorded>,
        /// SHA-256 of their file, hex.
        sha256: String,
    },
}

impl PolicySource {
    /// Resolves what the user wrote: a built-in name, a plugin name on the search path, or a
    /// path to a plugin library. The plugin is loaded, checked and created once with `config`
    /// now, so that a bad plugin or configuration fails before any run starts, and so that
    /// runs are labelled with the name the policy gives itself.
    pub fn resolve(spec: &str, config: &str) -> Result<PolicySource> {
        let is_path = looks_like_path(spec);
        if !is_path && let Some(name) = builtin_names().chain(variant_names()).find(|b| *b == spec)
        {
            builtin(name, config, 0)?;
            return Ok(PolicySource::Builtin(name));
        }
        let plugin = Plugin::open(spec).with_context(|| {
            if is_path {
                format!("policy `{spec}`")
            } else {
                format!(
                    "policy `{spec}` is neither built in ({}) nor a plugin on the search path",
                    builtin_names().collect::<Vec<_>>().join(", ")
                )
            }
        })?;
        let path = plugin.path().to_path_buf();
        let policy = plugin
            .create(config, 0)
            .with_context(|| format!("creating policy `{spec}`"))?;
        Ok(PolicySource::Plugin {
            name: policy.name().to_string(),
            sha256: sha256_of(&path)?,
            path,
        })
    }

    /// The name runs are labelled with: the policy's own name.
    pub fn name(&self) -> String {
        match self {
            PolicySource::Builtin(n) => (*n).to_string(),
            PolicySource::Plugin { name, .. } => name.clone(),
            PolicySource::Replay { recorded, .. } => recorded.name(),
        }
    }

    /// Creates a fresh policy instance seeded with `seed`.
    pub fn create(&self, config_toml: &str, seed: u64) -> Result<Box<dyn Policy>> {
        match self {
            PolicySource::Builtin(name) => builtin(name, config_toml, seed),
            PolicySource::Plugin { path, .. } => {
                let plugin = Plugin::load(path)?;
                Ok(Box::new(plugin.create(config_toml, seed)?))
            }
            PolicySource::Replay { .. } => {
                bail!("a replay is placed by `cohort run --replay`, which tells it the groups")
            }
        }
    }
}

fn builtin(name: &str, config: &str, seed: u64) -> Result<Box<dyn Policy>> {
    if let Some((_, base, options, _)) = VARIANTS.iter().find(|(n, ..)| *n == name) {
        if no_options(name, config).is_err() {
            bail!("`{name}` is `{base}` with `{options}`: give `{base}` its options instead");
        }
        return builtin(base, options, seed);
    }
    let Some((_, vtable)) = BUILTIN.iter().find(|(n, _)| *n == name) else {
        bail!("`{name}` is not a built-in policy");
    };
    let plugin = Plugin::linked(&format!("built-in:{name}"), *vtable);
    match plugin.create(config, seed) {
        Ok(p) => Ok(Box::new(p)),
        Err(e) => bail!("policy `{name}` could not be created: {e}"),
    }
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_of(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One policy `cohort policies` lists.
pub struct Listed {
    /// The name to pass to `--policy`.
    pub name: String,
    /// "built-in", or the plugin's path.
    pub source: String,
    /// What the policy does, in a line, as it describes itself (a variant: as its table
    /// says); empty if it does not say, or could not be created.
    pub description: String,
    /// Whether it loads and creates with an empty configuration (why not, if not).
    pub check: Result<(), String>,
}

/// What `cohort policies` shows: the built-ins, and the plugins on the search path, each
/// checked by loading it; a plugin with a built-in's name is reachable only by its path, so it
/// is returned apart (`shadowed`), as its path.
pub fn list() -> (Vec<Listed>, Vec<PathBuf>) {
    let variant = |name: &str| VARIANTS.iter().find(|(v, ..)| *v == name).map(|v| v.3);
    let mut rows: Vec<Listed> = builtin_names()
        .chain(variant_names())
        .map(|b| {
            let created = builtin(b, "", 0);
            let description = match (variant(b), &created) {
                (Some(own), _) => own.to_string(),
                (None, Ok(p)) => p.description().to_string(),
                (None, Err(_)) => String::new(),
            };
            Listed {
                name: b.to_string(),
                source: "built-in".to_string(),
                description,
                check: created.map(|_| ()).map_err(|e| format!("{e:#}")),
            }
        })
        .collect();
    let mut shadowed = Vec::new();
    for found in SearchPath::from_env().available() {
        if builtin_names().any(|b| b == found.name) {
            shadowed.push(found.path);
            continue;
        }
        let created = Plugin::load(&found.path).and_then(|p| p.create("", 0));
        rows.push(Listed {
            name: found.name,
            source: found.path.display().to_string(),
            description: created
                .as_ref()
                .map_or_else(|_| String::new(), |p| p.description().to_string()),
            check: created.map(|_| ()).map_err(|e| e.to_string()),
        });
    }
    (rows, shadowed)
}
