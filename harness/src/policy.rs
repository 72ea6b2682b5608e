//! Which policy a run uses: a built-in one, or a plugin found by name or path.

use anyhow::{Context, Result, bail};
use cohort_policy::Policy;
use cohort_policy::ffi::{PolicyVTable, vtable};
use cohort_policy_group::GroupPolicy;
use cohort_policy_locality::LocalityPolicy;
use cohort_policy_random::RandomPolicy;
use cohort_runtime::plugin::{Plugin, SearchPath, looks_like_path};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The built-in policies (linked into `cohort`, always available): each name with the vtable
/// it is called through. Built-in policies cross the same C ABI as plugins, so that a built-in
/// run and a plugin run exercise the same boundary.
const BUILTIN: [(&str, PolicyVTable); 3] = [
    ("random", vtable::<RandomPolicy>()),
    ("group", vtable::<GroupPolicy>()),
    ("locality", vtable::<LocalityPolicy>()),
];

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
        /// The name it was asked for by, or its file stem.
        name: String,
        /// Its absolute path.
        path: PathBuf,
        /// SHA-256 of the file, hex.
        sha256: String,
    },
}

impl PolicySource {
    /// Resolves what the user wrote: a built-in name, a plugin name on the search path, or a
    /// path to a plugin library. The plugin is loaded and checked now, so that a bad plugin
    /// fails before any run starts.
    pub fn resolve(spec: &str) -> Result<PolicySource> {
        let is_path = looks_like_path(spec);
        if !is_path && let Some(name) = builtin_names().find(|b| *b == spec) {
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
        Ok(PolicySource::Plugin {
            name: spec.to_string(),
            sha256: sha256_of(&path)?,
            path,
        })
    }

    /// The name runs are labelled with: the name asked for, or for a plugin given by path
    /// (see [`looks_like_path`]), its file stem without the `lib` prefix.
    pub fn name(&self) -> String {
        match self {
            PolicySource::Builtin(n) => (*n).to_string(),
            PolicySource::Plugin { name, path, .. } => {
                if looks_like_path(name) {
                    path.file_stem()
                        .map(|s| s.to_string_lossy().trim_start_matches("lib").to_string())
                        .unwrap_or_else(|| name.clone())
                } else {
                    name.clone()
                }
            }
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
        }
    }
}

fn builtin(name: &str, config: &str, seed: u64) -> Result<Box<dyn Policy>> {
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

/// Everything `cohort policies` shows: built-ins, and plugins on the search path, each
/// checked by loading it.
pub fn list() -> Vec<(String, String, Result<(), String>)> {
    let mut rows: Vec<(String, String, Result<(), String>)> = builtin_names()
        .map(|b| {
            let ok = builtin(b, "", 0).map(|_| ()).map_err(|e| format!("{e:#}"));
            (b.to_string(), "built-in".to_string(), ok)
        })
        .collect();
    for found in SearchPath::from_env().available() {
        let check = Plugin::load(&found.path)
            .and_then(|p| p.create("", 0).map(|_| ()))
            .map_err(|e| e.to_string());
        rows.push((found.name, found.path.display().to_string(), check));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_given_by_path_is_labelled_by_its_file() {
        let plugin = |name: &str| PolicySource::Plugin {
            name: name.to_string(),
            path: PathBuf::from("plugins")
                .join(format!("libcohort_x{}", std::env::consts::DLL_SUFFIX)),
            sha256: String::new(),
        };
        let file = format!("libcohort_x{}", std::env::consts::DLL_SUFFIX);
        assert_eq!(plugin(&format!("plugins/{file}")).name(), "cohort_x");
        assert_eq!(
            plugin(&file).name(),
            "cohort_x",
            "the suffix alone makes a path"
        );
        assert_eq!(plugin("x").name(), "x", "a name stays a name");
        assert_eq!(PolicySource::Builtin("group").name(), "group");
    }
}
