//! Placement policies loaded at run time from shared libraries.
//!
//! A policy plugin is a `cdylib` built against `cohort-policy` that exports its policy with
//! `cohort_policy::export_policy!` (see `policies/README.md`). [`Plugin::load`] opens one by
//! path, [`Plugin::find`] by name, and [`Plugin::create`] makes a [`PluginPolicy`]: an
//! ordinary [`Policy`] that the runtime uses like any in-process policy.
//!
//! # Names and the search path
//! The plugin named `NAME` is the file `cohort_NAME` with the platform's library prefix and
//! suffix (`libcohort_NAME.so` on Linux; a `-` in the name becomes `_`, as Cargo does for
//! library names). [`SearchPath::from_env`] looks for it, in order, in
//! 1. the workspace's build output: the directory of the running executable, then its
//!    parent (this covers `target/<profile>` for binaries and `target/<profile>/deps` for
//!    tests, where `cargo build --workspace` puts the built-in plugins);
//! 2. each directory listed in the `COHORT_POLICY_PATH` environment variable (separated as
//!    `PATH` is on this platform).
//!
//! The first match wins. [`SearchPath::available`] lists what can be found.
//!
//! # Checks
//! Before the policy is created, the loader checks that the file exists and is a loadable
//! library, that it exports `cohort_policy::ffi::ENTRY_SYMBOL`, that the entry's ABI version
//! equals [`ABI_VERSION`] and that the plugin's layout record equals this build's
//! [`AbiLayout::CURRENT`], reading the version, then the record's size, then the record, and
//! only then the functions. Each failure is a [`PluginError`] naming the file; a layout
//! mismatch names every size, field offset or enum discriminant that differs. The record is
//! only read here, once: a loaded policy keeps just the vtable's function pointers.
//!
//! # Failures while running
//! A plugin reports panics instead of unwinding into the runtime. When it panics in
//! [`Policy::place`] (or earlier, in [`Policy::on_event`]), [`PluginPolicy`] answers
//! [`Placement::Refuse`] with a message saying the plugin panicked, so that the run stops
//! with [`crate::RuntimeError::PolicyRefused`] naming the policy; the plugin is not asked
//! anything again.

use cohort_policy::ffi::{
    ABI_VERSION, AbiLayout, CreateFn, DescribeFn, DestroyFn, ENTRY_SYMBOL, EntryFn, EventFn,
    FLAG_WANTS_EVENTS, HostBuf, PlaceFn, PolicyVTable, RawEvent, RawPlacementView, STATUS_DEFERRED,
    STATUS_FAILED, STATUS_OK, STATUS_PANICKED, STATUS_REFUSED,
};
use cohort_policy::{NodeId, Placement, PlacementView, Policy, PolicyEvent};
use libloading::Library;
use std::ffi::{OsStr, c_void};
use std::fmt;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;
use thiserror::Error;

/// The environment variable listing extra directories to search for plugins.
pub const POLICY_PATH_VAR: &str = "COHORT_POLICY_PATH";

/// Bytes the host lends a plugin for a message (a refusal, an error, a panic message, the
/// policy's name). Longer text is cut at a character boundary.
pub const MESSAGE_CAPACITY: usize = 4096;

/// Why a plugin could not be loaded or created. Every variant names the plugin.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PluginError {
    /// The name is not a valid plugin name.
    #[error("`{name}` is not a valid policy plugin name: {reason}")]
    InvalidName {
        /// The name asked for.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No directory of the search path holds the plugin.
    #[error(
        "no policy plugin named `{name}`: {file} is in none of {} (build the workspace, or add \
         its directory to {POLICY_PATH_VAR})",
        display_dirs(searched)
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The file name looked for.
        file: String,
        /// The directories searched, in order.
        searched: Vec<PathBuf>,
    },
    /// The path does not exist.
    #[error("policy plugin {}: no such file", .path.display())]
    NoSuchFile {
        /// The plugin's path.
        path: PathBuf,
    },
    /// The file exists but is not a shared library that can be loaded.
    #[error("policy plugin {}: not a loadable shared library: {reason}", .path.display())]
    NotALibrary {
        /// The plugin's path.
        path: PathBuf,
        /// What the system loader said.
        reason: String,
    },
    /// The library does not export a usable entry symbol.
    #[error(
        "policy plugin {}: no entry symbol `{ENTRY_SYMBOL}` ({reason}); was it built with \
         cohort_policy::export_policy!?",
        .path.display()
    )]
    NoEntrySymbol {
        /// The plugin's path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The plugin was built for another version of the ABI.
    #[error(
        "policy plugin {}: built for policy ABI version {found}, but this cohort uses version \
         {expected}; rebuild it against the matching cohort-policy",
        .path.display()
    )]
    AbiVersion {
        /// The plugin's path.
        path: PathBuf,
        /// The version the plugin declares.
        found: u32,
        /// The version this runtime speaks.
        expected: u32,
    },
    /// The plugin was built against types laid out differently from the runtime's (same ABI
    /// version, but a different layout record).
    #[error(
        "policy plugin {}: layout mismatch with this cohort (same ABI version {ABI_VERSION}, \
         but {}); rebuild it against the matching cohort-policy",
        .path.display(),
        .differences.join("; ")
    )]
    Layout {
        /// The plugin's path.
        path: PathBuf,
        /// Each difference, e.g. `offset of PolicyVTable.place: 448, expected 440` or
        /// `discriminant of Dependency::Group: 2, expected 1`.
        differences: Vec<String>,
    },
    /// The plugin rejected its configuration or failed to build its state.
    #[error("policy plugin {}: could not create the policy: {message}", .path.display())]
    CreateFailed {
        /// The plugin's path.
        path: PathBuf,
        /// The plugin's message.
        message: String,
    },
    /// The plugin panicked (the panic was caught inside the plugin).
    #[error("policy plugin {}: panicked in `{during}`: {message}", .path.display())]
    Panicked {
        /// The plugin's path.
        path: PathBuf,
        /// The entry point that panicked.
        during: &'static str,
        /// The panic message.
        message: String,
    },
    /// The plugin answered with a status the ABI does not define.
    #[error("policy plugin {}: `{during}` returned unknown status {status}", .path.display())]
    BadStatus {
        /// The plugin's path.
        path: PathBuf,
        /// The entry point.
        during: &'static str,
        /// The status.
        status: u32,
    },
}

impl PluginError {
    /// The plugin file this error is about, if it got as far as a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            PluginError::InvalidName { .. } | PluginError::NotFound { .. } => None,
            PluginError::NoSuchFile { path }
            | PluginError::NotALibrary { path, .. }
            | PluginError::NoEntrySymbol { path, .. }
            | PluginError::AbiVersion { path, .. }
            | PluginError::Layout { path, .. }
            | PluginError::CreateFailed { path, .. }
            | PluginError::Panicked { path, .. }
            | PluginError::BadStatus { path, .. } => Some(path),
        }
    }
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "an empty search path".to_string();
    }
    let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    list.join(", ")
}

/// The library file name of the plugin called `name` (`libcohort_NAME.so` on Linux).
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}cohort_{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Whether `name_or_path` names a library file rather than a plugin on the search path: it
/// contains `/` or this platform's path separator, or it ends with this platform's library
/// suffix (`.so`, `.dylib`, `.dll`). No valid plugin name does any of these. [`Plugin::open`]
/// and the harness's policy option both decide with this.
pub fn looks_like_path(name_or_path: &str) -> bool {
    name_or_path.contains('/')
        || name_or_path.contains(std::path::MAIN_SEPARATOR)
        || name_or_path.ends_with(std::env::consts::DLL_SUFFIX)
}

/// The plugin name a library file name stands for, if it is one (`libcohort_x.so` -> `x`).
pub fn plugin_name_of(file_name: &OsStr) -> Option<String> {
    let file = file_name.to_str()?;
    let stem = file
        .strip_prefix(std::env::consts::DLL_PREFIX)?
        .strip_prefix("cohort_")?
        .strip_suffix(std::env::consts::DLL_SUFFIX)?;
    check_name(stem).ok()?;
    Some(stem.to_string())
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_string());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        Some(c) => Err(format!(
            "`{c}` is not allowed (use letters, digits, `_` and `-`, or give a path)"
        )),
        None => Ok(()),
    }
}

/// A plugin found on the search path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailablePlugin {
    /// Its name (what [`Plugin::find`] takes).
    pub name: String,
    /// The file that name resolves to.
    pub path: PathBuf,
}

/// The directories searched for plugins by name, in order. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// Exactly these directories, in this order.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        SearchPath { dirs }
    }

    /// The build output directories (see [`SearchPath::build_output_dirs`]), then the
    /// directories in `COHORT_POLICY_PATH`.
    pub fn from_env() -> Self {
        let mut dirs = Self::build_output_dirs();
        if let Some(value) = std::env::var_os(POLICY_PATH_VAR) {
            dirs.extend(Self::parse_env_value(&value));
        }
        SearchPath { dirs }
    }

    /// The directory of the running executable and its parent (empty if the executable's
    /// path is unknown).
    pub fn build_output_dirs() -> Vec<PathBuf> {
        let Ok(exe) = std::env::current_exe() else {
            return Vec::new();
        };
        exe.ancestors()
            .skip(1)
            .take(2)
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .collect()
    }

    /// The directories of a `COHORT_POLICY_PATH` value, empty entries skipped.
    pub fn parse_env_value(value: &OsStr) -> Vec<PathBuf> {
        std::env::split_paths(value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect()
    }

    /// The directories, in search order.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The file the plugin called `name` resolves to: the first directory holding
    /// [`library_file_name`]`(name)`.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, PluginError> {
        check_name(name).map_err(|reason| PluginError::InvalidName {
            name: name.to_string(),
            reason,
        })?;
        let file = library_file_name(name);
        self.dirs
            .iter()
            .map(|d| d.join(&file))
            .find(|p| p.is_file())
            .ok_or_else(|| PluginError::NotFound {
                name: name.to_string(),
                file,
                searched: self.dirs.clone(),
            })
    }

    /// Every plugin that can be found by name, sorted by name; for a name present in
    /// several directories, the one that [`SearchPath::resolve`] picks. Unreadable
    /// directories are skipped. Files are listed by name only, not loaded.
    pub fn available(&self) -> Vec<AvailablePlugin> {
        let mut found: Vec<AvailablePlugin> = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut here: Vec<AvailablePlugin> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter_map(|e| {
                    plugin_name_of(&e.file_name()).map(|name| AvailablePlugin {
                        name,
                        path: e.path(),
                    })
                })
                .collect();
            here.sort_by(|a, b| a.name.cmp(&b.name));
            for p in here {
                if !found.iter().any(|f| f.name == p.name) {
                    found.push(p);
                }
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        found
    }
}

/// A loaded and checked plugin library, from which policies are created.
///
/// The library stays loaded while the `Plugin` or any policy created from it lives.
pub struct Plugin {
    path: PathBuf,
    functions: Functions,
    /// `None` for a policy linked into this binary (see [`Plugin::linked`]).
    library: Option<Arc<Library>>,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Loads the plugin at `path` and checks its entry symbol, ABI version and layout.
    /// Nothing in the plugin is called except its entry point, which only returns a pointer
    /// to its vtable.
    pub fn load(path: impl AsRef<Path>) -> Result<Plugin, PluginError> {
        let given = path.as_ref();
        // An absolute path: the system loader searches its own directories for bare names.
        let path = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
        match std::fs::metadata(&path) {
            Err(_) => return Err(PluginError::NoSuchFile { path }),
            Ok(m) if m.is_dir() => {
                return Err(PluginError::NotALibrary {
                    path,
                    reason: "it is a directory".to_string(),
                });
            }
            Ok(_) => {}
        }
        // SAFETY: loading a library runs its initialisers. Loading the file the user named
        // as a policy plugin is the point of this function; a plugin is trusted code, and the
        // checks below only protect against honest mistakes (wrong file, stale build).
        let library = unsafe { Library::new(&path) }.map_err(|e| PluginError::NotALibrary {
            path: path.clone(),
            reason: loader_reason(&e),
        })?;
        // SAFETY: `EntryFn` is the type the ABI gives the entry symbol; the export macro
        // defines it with exactly that signature.
        let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) }
            .map(|symbol| *symbol)
            .map_err(|e| PluginError::NoEntrySymbol {
                path: path.clone(),
                reason: loader_reason(&e),
            })?;
        // SAFETY: the entry of a cohort plugin returns null or a pointer to a static in the
        // library (which `library` keeps loaded) laid out as the ABI promises, which is what
        // `read_table` requires.
        let functions = match unsafe { read_table(entry()) } {
            Ok(functions) => functions,
            Err(TableProblem::Null) => {
                return Err(PluginError::NoEntrySymbol {
                    path,
                    reason: "the entry returned a null vtable".to_string(),
                });
            }
            Err(TableProblem::Version(found)) => {
                return Err(PluginError::AbiVersion {
                    path,
                    found,
                    expected: ABI_VERSION,
                });
            }
            Err(TableProblem::Layout(differences)) => {
                return Err(PluginError::Layout { path, differences });
            }
        };
        Ok(Plugin {
            path,
            functions,
            library: Some(Arc::new(library)),
        })
    }

    /// A policy linked into this binary, used through the same C ABI as a loaded plugin: its
    /// vtable comes from [`cohort_policy::ffi::vtable`], so every call crosses the same
    /// `extern "C"` entry points (with the same panic containment) without loading a library.
    /// `label` stands in for the library's path in messages (e.g. `built-in:random`).
    pub fn linked(label: &str, vtable: PolicyVTable) -> Plugin {
        Plugin {
            path: PathBuf::from(label),
            functions: Functions::of(&vtable),
            library: None,
        }
    }

    /// Loads the plugin called `name` from [`SearchPath::from_env`].
    pub fn find(name: &str) -> Result<Plugin, PluginError> {
        Self::find_in(&SearchPath::from_env(), name)
    }

    /// Loads the plugin called `name` from `search`.
    pub fn find_in(search: &SearchPath, name: &str) -> Result<Plugin, PluginError> {
        Plugin::load(search.resolve(name)?)
    }

    /// Loads by path if `name_or_path` looks like one (see [`looks_like_path`]), otherwise by
    /// name from [`SearchPath::from_env`].
    pub fn open(name_or_path: &str) -> Result<Plugin, PluginError> {
        if looks_like_path(name_or_path) {
            Plugin::load(name_or_path)
        } else {
            Plugin::find(name_or_path)
        }
    }

    /// The library's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a policy from its configuration (the text of its TOML table) and the run's
    /// seed.
    pub fn create(&self, config_toml: &str, seed: u64) -> Result<PluginPolicy, PluginError> {
        let mut message = vec![0u8; MESSAGE_CAPACITY].into_boxed_slice();
        let mut buf = HostBuf::new(&mut message);
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: `config_toml` is readable for its length, `state` and `buf` are valid for
        // writes, and `buf.data` is valid for `buf.capacity` bytes; the function pointer comes
        // from a checked vtable of a library that `self.library` keeps loaded.
        let status = unsafe {
            (self.functions.create)(
                config_toml.as_ptr(),
                config_toml.len(),
                seed,
                &mut state,
                &mut buf,
            )
        };
        let text = read_message(&message, buf.len);
        let state = match (status, NonNull::new(state)) {
            (STATUS_OK, Some(state)) => state,
            (STATUS_OK, None) => {
                return Err(PluginError::CreateFailed {
                    path: self.path.clone(),
                    message: "it reported success but returned no state".to_string(),
                });
            }
            (STATUS_FAILED, _) => {
                return Err(PluginError::CreateFailed {
                    path: self.path.clone(),
                    message: text,
                });
            }
            (STATUS_PANICKED, _) => {
                return Err(PluginError::Panicked {
                    path: self.path.clone(),
                    during: "create",
                    message: text,
                });
            }
            (status, _) => {
                return Err(PluginError::BadStatus {
                    path: self.path.clone(),
                    during: "create",
                    status,
                });
            }
        };
        let mut policy = PluginPolicy {
            path: self.path.clone(),
            functions: self.functions,
            state,
            name: String::new(),
            description: String::new(),
            wants_events: true,
            message,
            broken: None,
            _library: self.library.clone(),
        };
        // From here on, dropping `policy` destroys the state.
        let mut buf = HostBuf::new(&mut policy.message);
        let mut about = vec![0u8; MESSAGE_CAPACITY];
        let mut about_buf = HostBuf::new(&mut about);
        let mut flags = 0;
        // SAFETY: `state` is live and used from this thread only; both buffers are valid as
        // above and `flags` for a write.
        let status = unsafe {
            (policy.functions.describe)(policy.state.as_ptr(), &mut buf, &mut about_buf, &mut flags)
        };
        let text = read_message(&policy.message, buf.len);
        match status {
            STATUS_OK => {
                policy.name = text;
                policy.description = read_message(&about, about_buf.len);
                policy.wants_events = flags & FLAG_WANTS_EVENTS != 0;
                Ok(policy)
            }
            STATUS_PANICKED => Err(PluginError::Panicked {
                path: self.path.clone(),
                during: "describe",
                message: text,
            }),
            STATUS_FAILED => Err(PluginError::CreateFailed {
                path: self.path.clone(),
                message: format!("it could not describe itself: {text}"),
            }),
            status => Err(PluginError::BadStatus {
                path: self.path.clone(),
                during: "describe",
                status,
            }),
        }
    }
}

/// The functions of a checked vtable: all that the host keeps of it. The layout record is
/// read once, at load, and a policy carries only what its calls use.
#[derive(Clone, Copy)]
struct Functions {
    create: CreateFn,
    describe: DescribeFn,
    place: PlaceFn,
    on_event: EventFn,
    destroy: DestroyFn,
}

impl Functions {
    fn of(vtable: &PolicyVTable) -> Functions {
        Functions {
            create: vtable.create,
            describe: vtable.describe,
            place: vtable.place,
            on_event: vtable.on_event,
            destroy: vtable.destroy,
        }
    }
}

/// What is wrong with the table an entry point returned (the caller knows the file).
#[derive(Debug, PartialEq, Eq)]
enum TableProblem {
    /// The entry returned null.
    Null,
    /// The table is of this other ABI version.
    Version(u32),
    /// Same version, but a layout record unlike ours: each difference.
    Layout(Vec<String>),
}

/// Checks the table an entry point returned and takes its functions, reading no further than
/// each check allows: the `u32` version (first in every version's table); if it is ours, the
/// layout record's size (the record's first field, right after the version); if that is
/// ours, the whole record; and only if the record equals [`AbiLayout::CURRENT`], the rest of
/// the table.
///
/// # Safety
/// `table` is null or points to memory that stays readable during the call and holds what
/// the ABI promises: a `u32` version; if the version is [`ABI_VERSION`], a `u32` record size
/// after it; if that size is this build's, a whole [`AbiLayout`]; if the record is this
/// build's, a whole [`PolicyVTable`]. No alignment is assumed.
unsafe fn read_table(table: *const PolicyVTable) -> Result<Functions, TableProblem> {
    if table.is_null() {
        return Err(TableProblem::Null);
    }
    // SAFETY: every version's table starts with its `u32` version (caller's guarantee).
    let version = unsafe { table.cast::<u32>().read_unaligned() };
    if version != ABI_VERSION {
        return Err(TableProblem::Version(version));
    }
    // SAFETY: this version's table has its layout record at this offset, and the record
    // starts with its `u32` size (caller's guarantee); offsetting stays inside the table.
    let record = unsafe { table.cast::<u8>().add(offset_of!(PolicyVTable, layout)) };
    // SAFETY: as above.
    let size = unsafe {
        record
            .add(offset_of!(AbiLayout, layout_size))
            .cast::<u32>()
            .read_unaligned()
    };
    if let Some(difference) = AbiLayout::size_difference(size) {
        return Err(TableProblem::Layout(vec![difference]));
    }
    // SAFETY: the record is as long as ours (caller's guarantee), and made of integers, for
    // which any bits are valid.
    let layout = unsafe { record.cast::<AbiLayout>().read_unaligned() };
    let differences = layout.differences(&AbiLayout::CURRENT);
    if !differences.is_empty() {
        return Err(TableProblem::Layout(differences));
    }
    // SAFETY: version and layout agree with ours, so the pointee is a `PolicyVTable` as this
    // build defines it (caller's guarantee); copying it out is a plain read.
    let vtable = unsafe { table.read_unaligned() };
    Ok(Functions::of(&vtable))
}

/// What the system loader said: libloading's message with the loader's own reason (its
/// `source`), e.g. "dlopen failed: /etc/passwd: invalid ELF header".
fn loader_reason(e: &libloading::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The text a plugin wrote into a host buffer (lossily decoded, never past the buffer).
fn read_message(storage: &[u8], len: usize) -> String {
    String::from_utf8_lossy(&storage[..len.min(storage.len())]).into_owned()
}

/// A policy living in a plugin, used through the C ABI. See the module documentation.
pub struct PluginPolicy {
    path: PathBuf,
    functions: Functions,
    state: NonNull<c_void>,
    name: String,
    /// Its description, as its `describe` gave it.
    description: String,
    /// What the plugin's `describe` said; when false, events are not sent across.
    wants_events: bool,
    message: Box<[u8]>,
    /// Set once the plugin has panicked or answered outside the ABI; it is not called again.
    broken: Option<String>,
    /// Keeps the code behind `functions` loaded; dropped after `state` is destroyed (`None`
    /// for linked policies, whose code is part of this binary).
    _library: Option<Arc<Library>>,
}

// SAFETY: the ABI lets the host move a state between threads (the export macro only accepts
// `Send` policies) as long as it is used from one thread at a time, which `&mut self` on
// every call guarantees; `Library` is `Send` and the rest is owned data.
unsafe impl Send for PluginPolicy {}

impl fmt::Debug for PluginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginPolicy")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl PluginPolicy {
    /// Loads the plugin `name_or_path` (see [`Plugin::open`]) and creates its policy.
    pub fn open(name_or_path: &str, config_toml: &str, seed: u64) -> Result<Self, PluginError> {
        Plugin::open(name_or_path)?.create(config_toml, seed)
    }

    /// The library the policy lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the plugin is no longer called (it panicked or broke the ABI), if it is not.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    fn mark_broken(&mut self, what: String) -> String {
        let text = format!("policy plugin {} {what}", self.path.display());
        self.broken = Some(text.clone());
        text
    }

    /// The refusal for a `place` that did not return [`STATUS_OK`]; `len` bytes of message.
    /// Out of line, so that the common path stays free of text handling.
    #[cold]
    #[inline(never)]
    fn not_placed(&mut self, status: u32, len: usize, task: cohort_policy::TaskId) -> Placement {
        let text = read_message(&self.message, len);
        match status {
            STATUS_REFUSED => Placement::Refuse(text),
            STATUS_PANICKED => Placement::Refuse(
                self.mark_broken(format!("panicked while placing {task}: {text}")),
            ),
            STATUS_FAILED => Placement::Refuse(format!(
                "policy plugin {} failed to place {task}: {text}",
                self.path.display(),
            )),
            status => Placement::Refuse(self.mark_broken(format!(
                "answered with unknown status {status} while placing {task}"
            ))),
        }
    }

    /// Marks the plugin broken after an event that did not return [`STATUS_OK`].
    #[cold]
    #[inline(never)]
    fn event_failed(&mut self, status: u32, len: usize, event: &PolicyEvent) {
        let text = read_message(&self.message, len);
        match status {
            STATUS_PANICKED => {
                self.mark_broken(format!("panicked handling {event:?}: {text}"));
            }
            STATUS_FAILED => {
                self.mark_broken(format!("failed handling {event:?}: {text}"));
            }
            status => {
                self.mark_broken(format!(
                    "answered with unknown status {status} handling {event:?}"
                ));
            }
        }
    }
}

impl Policy for PluginPolicy {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn place(&mut self, view: &PlacementView<'_>) -> Placement {
        if let Some(broken) = &self.broken {
            return Placement::Refuse(format!("{broken}; it is not asked again"));
        }
        let raw = RawPlacementView::new(view);
        let mut node = NodeId::NONE;
        let mut wait = 0;
        let mut buf = HostBuf::new(&mut self.message);
        // SAFETY: the state is live and only used through `&mut self`; `raw` points into
        // `view`'s slices, which outlive the call; `node`, `wait` and `buf` are valid for
        // writes.
        let status = unsafe {
            (self.functions.place)(self.state.as_ptr(), &raw, &mut node, &mut wait, &mut buf)
        };
        if status == STATUS_OK {
            return Placement::Node(node);
        }
        if status == STATUS_DEFERRED {
            return Placement::Defer(wait);
        }
        let len = buf.len;
        self.not_placed(status, len, view.task)
    }

    fn wants_events(&self) -> bool {
        self.wants_events
    }

    fn on_event(&mut self, event: &PolicyEvent) {
        if self.broken.is_some() || !self.wants_events {
            return;
        }
        let raw: &RawEvent = event;
        let mut buf = HostBuf::new(&mut self.message);
        // SAFETY: as in `place`; `raw` lives across the call.
        let status = unsafe { (self.functions.on_event)(self.state.as_ptr(), raw, &mut buf) };
        if status != STATUS_OK {
            let len = buf.len;
            self.event_failed(status, len, event);
        }
    }
}

impl Drop for PluginPolicy {
    fn drop(&mut self) {
        let mut buf = HostBuf::new(&mut self.message);
        // SAFETY: the state was created by these functions' `create`, is destroyed exactly once
        // (here) and is not used afterwards; the library is still loaded (`_library` is
        // dropped after this function).
        let status = unsafe { (self.functions.destroy)(self.state.as_ptr(), &mut buf) };
        if status != STATUS_OK {
            let len = buf.len;
            let text = read_message(&self.message, len);
            tracing::warn!(
                plugin = %self.path.display(),
                status,
                "policy plugin failed to free its state: {text}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let file = library_file_name("my-policy");
        assert!(file.contains("cohort_my_policy"), "{file}");
        assert_eq!(
            plugin_name_of(OsStr::new(&file)).as_deref(),
            Some("my_policy")
        );
        assert_eq!(plugin_name_of(OsStr::new("libcohort_runtime.rlib")), None);
        assert_eq!(plugin_name_of(OsStr::new("cohort_x.txt")), None);
    }

    #[test]
    fn names_are_checked() {
        let search = SearchPath::new(Vec::new());
        assert!(matches!(
            search.resolve("../evil"),
            Err(PluginError::InvalidName { .. })
        ));
        assert!(matches!(
            search.resolve(""),
            Err(PluginError::InvalidName { .. })
        ));
        let err = search.resolve("random").unwrap_err();
        assert!(matches!(err, PluginError::NotFound { .. }));
        assert!(err.to_string().contains("an empty search path"), "{err}");
    }

    #[test]
    fn env_value_is_split_like_path() {
        let joined = std::env::join_paths(["/a/b", "", "/c"]).expect("joinable");
        assert_eq!(
            SearchPath::parse_env_value(&joined),
            vec![PathBuf::from("/a/b"), PathBuf::from("/c")]
        );
    }

    #[test]
    fn paths_are_told_from_names() {
        for path in [
            "./libcohort_x.so",
            "/abs/olute",
            "dir/plugin",
            "relative/libcohort_x.so",
        ] {
            assert!(looks_like_path(path), "{path}");
        }
        let suffixed = library_file_name("x");
        assert!(looks_like_path(&suffixed), "{suffixed}: the library suffix");
        let native = format!("dir{}file", std::path::MAIN_SEPARATOR);
        assert!(
            looks_like_path(&native),
            "{native}: the platform's separator"
        );
        // Every valid name is a name, including ones that resemble file names.
        for name in ["random", "first-fit", "my_policy", "so", "x2"] {
            assert!(check_name(name).is_ok(), "{name}");
            assert!(!looks_like_path(name), "{name}");
        }
        // And nothing that looks like a path is a valid name.
        for path in ["a/b", "libcohort_x.so", native.as_str()] {
            assert!(check_name(path).is_err(), "{path}");
        }
    }

    struct Fixed;

    impl Policy for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        fn place(&mut self, _view: &PlacementView<'_>) -> Placement {
            Placement::Node(NodeId(0))
        }
    }

    impl cohort_policy::PolicyFactory for Fixed {
        fn create(_config_toml: &str, _seed: u64) -> Result<Self, String> {
            Ok(Fixed)
        }
    }

    #[test]
    fn tables_are_read_version_then_record_size_then_record() {
        /// A table that ends after the layout record's size: all a host may read of it.
        #[repr(C)]
        struct Header {
            abi_version: u32,
            layout_size: u32,
        }
        let read = |table: *const PolicyVTable| {
            // SAFETY: each table below holds at least what its fields say, as `read_table`
            // requires.
            unsafe { read_table(table) }.map(|_| ())
        };
        assert_eq!(read(std::ptr::null()), Err(TableProblem::Null));

        let other_version = Header {
            abi_version: ABI_VERSION + 1,
            layout_size: 0,
        };
        assert_eq!(
            read(std::ptr::from_ref(&other_version).cast()),
            Err(TableProblem::Version(ABI_VERSION + 1))
        );
        // A record of another size is refused on its size alone: nothing after it is read.
        let short = Header {
            abi_version: ABI_VERSION,
            layout_size: 8,
        };
        assert_eq!(
            read(std::ptr::from_ref(&short).cast()),
            Err(TableProblem::Layout(vec![format!(
                "layout record: 8 bytes, expected {}",
                size_of::<AbiLayout>()
            )]))
        );

        let good = cohort_policy::ffi::vtable::<Fixed>();
        assert_eq!(read(&good), Ok(()));
        // Every value that differs is named; the functions are not taken.
        let mut swapped = good;
        for (name, delta) in [
            ("offset of PolicyVTable.place", 8),
            ("discriminant of WorkKind::Task", 1),
        ] {
            let i = AbiLayout::position(name).expect("recorded");
            swapped.layout.values[i] += delta;
        }
        let place = AbiLayout::CURRENT.values
            [AbiLayout::position("offset of PolicyVTable.place").expect("recorded")];
        assert_eq!(
            read(&swapped),
            Err(TableProblem::Layout(vec![
                format!(
                    "offset of PolicyVTable.place: {}, expected {place}",
                    place + 8
                ),
                "discriminant of WorkKind::Task: 1, expected 0".to_string(),
            ]))
        );
        // Unaligned tables are read too (nothing is assumed about the pointer).
        let mut bytes = vec![0u8; size_of::<PolicyVTable>() + 1];
        // SAFETY: `bytes` has room for a table after its first byte; the write is unaligned.
        unsafe {
            bytes
                .as_mut_ptr()
                .add(1)
                .cast::<PolicyVTable>()
                .write_unaligned(good)
        };
        assert_eq!(read(bytes[1..].as_ptr().cast()), Ok(()));
    }

    #[test]
    fn build_output_dirs_are_the_exe_dir_and_its_parent() {
        let dirs = SearchPath::build_output_dirs();
        let exe = std::env::current_exe().expect("test binary path");
        assert_eq!(dirs.first().map(PathBuf::as_path), exe.parent());
        assert_eq!(dirs.len(), 2);
    }
}
