//! The C ABI between the runtime and a policy plugin (a `cdylib`).
//!
//! Policy authors do not use this module directly: they implement [`Policy`](crate::Policy)
//! and [`PolicyFactory`] and call [`export_policy!`](crate::export_policy), which generates the
//! entry point described here. The runtime's loader is the other side.
//!
//! # The contract
//! - A plugin exports one symbol, [`ENTRY_SYMBOL`], an [`EntryFn`] returning a pointer to a
//!   `'static` [`PolicyVTable`].
//! - The first field of every version's vtable is a `u32` ABI version. A host reads that
//!   field first and stops unless it equals its own [`ABI_VERSION`]; only then does it read
//!   the layout record [`PolicyVTable::layout`]: first its size, then, if that is right, the
//!   whole record, which it compares with [`AbiLayout::CURRENT`]. The record holds every
//!   size, alignment, field offset (the vtable's own included), enum discriminant and status
//!   value of the boundary, so a plugin built against a different definition of any type that
//!   crosses is rejected, naming each difference, before its first call.
//! - Nothing that owns memory crosses the boundary: views are pointer-and-length pairs
//!   borrowed for one call, text goes into a [`HostBuf`] the host owns, and the policy's state
//!   is an opaque pointer that only the plugin creates and frees ([`PolicyVTable::destroy`]).
//! - Every function returns a status (`STATUS_*`). No panic leaves the plugin: each entry
//!   point catches it and reports [`STATUS_PANICKED`] with the panic message. (Plugins must
//!   therefore be built with `panic = "unwind"`, the default.)
//! - The host calls one state from one thread at a time; it may move a state between
//!   threads, which is why [`PolicyFactory`] requires `Send`.
//!
//! # Versioning rule
//! Any change to a type that crosses the boundary (the views, [`RawEvent`], [`HostBuf`], the
//! vtable, the layout record [`AbiLayout`] and what it records, a function signature or the
//! meaning of a status) increments [`ABI_VERSION`]. Changes that add only safe Rust API
//! (helpers, trait methods with defaults) do not.
//!
//! Version 4 let a policy defer a placement ([`STATUS_DEFERRED`], the view's `waited_ns` and
//! [`VIEW_MAY_DEFER`], a `defer_ns` out-parameter of [`PlaceFn`]) and describe itself (a
//! `description` buffer of [`DescribeFn`]). Version 3 made the layout record name every
//! size, offset and discriminant (version 2 kept sizes and a hash of some offsets); version 2
//! replaced `name` with `describe`.

use crate::{
    ArgState, ArgView, Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Placement,
    PlacementView, PolicyEvent, PolicyFactory, Resources, TaskId, WorkKind,
};
use std::any::Any;
use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The version of this ABI. See the module documentation for when it changes.
pub const ABI_VERSION: u32 = 4;

/// The name of the symbol every plugin exports (an [`EntryFn`]). It carries no version:
/// the version is data, so that a host can tell "built for another version" from "not a
/// cohort plugin".
pub const ENTRY_SYMBOL: &str = "cohort_policy_entry";

/// The call succeeded (for `place`: the node was written).
pub const STATUS_OK: u32 = 0;
/// `place` only: the policy refused; the reason is in the message buffer.
pub const STATUS_REFUSED: u32 = 1;
/// The call failed (e.g. the configuration was rejected); the reason is in the message buffer.
pub const STATUS_FAILED: u32 = 2;
/// The policy panicked; the panic message is in the message buffer. The state must not be
/// used again except to destroy it.
pub const STATUS_PANICKED: u32 = 3;
/// `place` only: the policy deferred the work ([`Placement::Defer`]); the longest it is to wait
/// before it is asked again, in nanoseconds, was written to `*defer_ns`.
pub const STATUS_DEFERRED: u32 = 4;

/// The type of the exported entry point.
pub type EntryFn = extern "C" fn() -> *const PolicyVTable;

/// Creates a policy: `config` (`config_len` bytes of UTF-8 TOML) and `seed` in; on
/// [`STATUS_OK`] the new state is written to `*state`, otherwise the reason goes to `message`.
pub type CreateFn = unsafe extern "C" fn(
    config: *const u8,
    config_len: usize,
    seed: u64,
    state: *mut *mut c_void,
    message: *mut HostBuf,
) -> u32;

/// Describes a freshly created policy: writes its name ([`Policy::name`](crate::Policy::name))
/// into `name`, its description
/// ([`Policy::description`](crate::Policy::description)) into `description` (if not null)
/// and its `FLAG_*` bits into `*flags`. The host calls it once, after `create`.
pub type DescribeFn = unsafe extern "C" fn(
    state: *mut c_void,
    name: *mut HostBuf,
    description: *mut HostBuf,
    flags: *mut u32,
) -> u32;

/// [`DescribeFn`] flag: the policy wants events
/// ([`Policy::wants_events`](crate::Policy::wants_events)); without it the host never calls
/// [`PolicyVTable::on_event`].
pub const FLAG_WANTS_EVENTS: u32 = 1;

/// Places one piece of work: on [`STATUS_OK`] the node is written to `*node`; on
/// [`STATUS_DEFERRED`] the longest wait to `*defer_ns`; on [`STATUS_REFUSED`] the reason goes
/// to `message`.
pub type PlaceFn = unsafe extern "C" fn(
    state: *mut c_void,
    view: *const RawPlacementView,
    node: *mut NodeId,
    defer_ns: *mut u64,
    message: *mut HostBuf,
) -> u32;

/// [`RawPlacementView::flags`] bit: the host accepts a deferral
/// ([`PlacementView::may_defer`]).
pub const VIEW_MAY_DEFER: u32 = 1;

/// Tells the policy about an event.
pub type EventFn =
    unsafe extern "C" fn(state: *mut c_void, event: *const RawEvent, message: *mut HostBuf) -> u32;

/// Frees a state created by [`CreateFn`]. The state is gone afterwards whatever the status.
pub type DestroyFn = unsafe extern "C" fn(state: *mut c_void, message: *mut HostBuf) -> u32;

/// What a plugin exports: its ABI version, the layout it was built with, and its functions.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PolicyVTable {
    /// [`ABI_VERSION`] of the SDK the plugin was built with. Always the first field.
    pub abi_version: u32,
    /// [`AbiLayout::CURRENT`] of the SDK the plugin was built with. It follows the version
    /// directly (offset 4: the record is made of `u32`s) and starts with its own size.
    pub layout: AbiLayout,
    /// See [`CreateFn`].
    pub create: CreateFn,
    /// See [`DescribeFn`].
    pub describe: DescribeFn,
    /// See [`PlaceFn`].
    pub place: PlaceFn,
    /// See [`EventFn`].
    pub on_event: EventFn,
    /// See [`DestroyFn`].
    pub destroy: DestroyFn,
}

/// The layout record: every fact about the types that cross the boundary on which the two
/// sides must agree, as the side that filled it in was compiled.
///
/// [`AbiLayout::values`] holds one `u32` per entry of [`AbiLayout::NAMES`], in that order:
/// the pointer width; the size and alignment of every type that crosses; the offset of every
/// field of every `#[repr(C)]` struct that crosses, [`PolicyVTable`] and this record included;
/// the discriminant of every variant of every `#[repr(u8)]` and `#[repr(C, u8)]` enum that
/// crosses ([`WorkKind`], [`ArgState`], [`Dependency`], [`PolicyEvent`] which crosses as
/// [`RawEvent`]) and the offset of every field of each variant; and the value of every status
/// and flag. Each value is computed from the definitions themselves (`size_of`, `offset_of!`,
/// a variant's tag read from a value of it), so that a plugin built against an SDK whose
/// definitions differ (two vtable functions or two enum variants swapped, a field added)
/// carries different values, and the host names each one that differs.
///
/// The host reads the record in three steps, never reading what it has not checked exists:
/// the vtable's `u32` ABI version (the first field in every version), then, if that is
/// [`ABI_VERSION`], the record's first field [`AbiLayout::layout_size`], then, if that is
/// this record's size, the whole record; only when it equals [`AbiLayout::CURRENT`] is the
/// rest of the vtable read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiLayout {
    /// `size_of::<AbiLayout>()`: compared first, so that the rest is only read if it exists.
    pub layout_size: u32,
    /// One value per entry of [`AbiLayout::NAMES`], in the same order.
    pub values: [u32; LAYOUT_LEN],
}

/// How many values an [`AbiLayout`] holds.
pub const LAYOUT_LEN: usize = NAMES_PASS.len;

impl AbiLayout {
    /// What each of [`AbiLayout::values`] is, in order, e.g. `offset of PolicyVTable.place`
    /// or `discriminant of Dependency::Group`. These are the names
    /// [`AbiLayout::differences`] reports.
    pub const NAMES: [&'static str; LAYOUT_LEN] = {
        let mut names = [""; LAYOUT_LEN];
        let mut i = 0;
        while i < LAYOUT_LEN {
            names[i] = NAMES_PASS.names[i];
            i += 1;
        }
        names
    };

    /// The layout as this build of the SDK sees it.
    pub const CURRENT: AbiLayout = {
        let all = record_values();
        assert!(all.len == LAYOUT_LEN);
        let mut values = [0; LAYOUT_LEN];
        let mut i = 0;
        while i < LAYOUT_LEN {
            values[i] = all.values[i];
            i += 1;
        }
        AbiLayout {
            layout_size: size_of::<AbiLayout>() as u32,
            values,
        }
    };

    /// The index in [`AbiLayout::values`] of the entry called `name`, if there is one.
    pub const fn position(name: &str) -> Option<usize> {
        let mut i = 0;
        while i < LAYOUT_LEN {
            if str_eq(Self::NAMES[i], name) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Why a record that says it is `layout_size` bytes long is not this version's record,
    /// or `None` if the size is right. A host checks this before reading past the size.
    pub fn size_difference(layout_size: u32) -> Option<String> {
        let expected = AbiLayout::CURRENT.layout_size;
        (layout_size != expected)
            .then(|| format!("layout record: {layout_size} bytes, expected {expected}"))
    }

    /// Every way in which `self` (e.g. a plugin's layout) differs from `expected` (the host's),
    /// one line each (`offset of PolicyVTable.place: 448, expected 440`); empty when they
    /// agree. A record of the wrong size gives that one line only.
    pub fn differences(&self, expected: &AbiLayout) -> Vec<String> {
        if self.layout_size != expected.layout_size {
            return vec![format!(
                "layout record: {} bytes, expected {}",
                self.layout_size, expected.layout_size
            )];
        }
        AbiLayout::NAMES
            .iter()
            .zip(self.values.iter().zip(&expected.values))
            .filter(|(_, (found, wanted))| found != wanted)
            .map(|(name, (found, wanted))| format!("{name}: {found}, expected {wanted}"))
            .collect()
    }
}

/// Room for the entries while they are being recorded (more than the record will ever need).
const RECORD_CAPACITY: usize = 256;

/// The entries of the layout record while they are recorded.
struct Record {
    names: [&'static str; RECORD_CAPACITY],
    values: [u32; RECORD_CAPACITY],
    len: usize,
}

impl Record {
    const fn new() -> Record {
        Record {
            names: [""; RECORD_CAPACITY],
            values: [0; RECORD_CAPACITY],
            len: 0,
        }
    }

    const fn push(&mut self, name: &'static str, value: usize) {
        assert!(
            value <= u32::MAX as usize,
            "a layout value does not fit in a u32"
        );
        self.names[self.len] = name;
        self.values[self.len] = value as u32;
        self.len += 1;
    }
}

/// `$value` when recording values, `0` when only naming and counting the entries: the count
/// is the length of the record's array, and the record is part of the vtable whose layout it
/// describes, so the naming pass must not ask for any layout.
macro_rules! value {
    (names, $value:expr) => {
        0
    };
    (values, $value:expr) => {
        $value
    };
}

/// One kind of layout entry, recorded into `$r` in `$mode` (`names` or `values`). Each list
/// of fields or variants must be complete: a guard fails to compile otherwise.
macro_rules! layout_entries {
    // `value "name" = expression`: one entry.
    ($mode:ident, $r:ident, value $name:literal = $value:expr) => {
        $r.push($name, value!($mode, $value));
    };
    // `sizes (A, B)`: the size and the alignment of each type.
    ($mode:ident, $r:ident, sizes ($($t:ident),+ $(,)?)) => {$(
        $r.push(concat!("size of ", stringify!($t)), value!($mode, size_of::<$t>()));
        $r.push(concat!("align of ", stringify!($t)), value!($mode, align_of::<$t>()));
    )+};
    // `fields S { a, b }`: the offset of every field of a struct.
    ($mode:ident, $r:ident, fields $t:ident { $($f:ident),+ $(,)? }) => {
        $(
            $r.push(
                concat!("offset of ", stringify!($t), ".", stringify!($f)),
                value!($mode, offset_of!($t, $f)),
            );
        )+
        {
            // Fails to compile when the struct gains a field the list does not name.
            fn every_field(v: &$t) {
                let $t { $($f: _),+ } = v;
            }
            let _ = every_field;
        }
    };
    // `discriminants E { A, B }`: the discriminant of every variant of a fieldless
    // `#[repr(u8)]` enum.
    ($mode:ident, $r:ident, discriminants $t:ident { $($v:ident),+ $(,)? }) => {
        $(
            $r.push(
                concat!("discriminant of ", stringify!($t), "::", stringify!($v)),
                value!($mode, $t::$v as usize),
            );
        )+
        {
            // Fails to compile when the enum gains a variant the list does not name.
            fn every_variant(v: $t) {
                match v {
                    $($t::$v)|+ => {}
                }
            }
            let _ = every_variant;
        }
    };
    // `variants E { A {}, B { 0: x }, C { f: y } }`: for every variant of a `#[repr(C, u8)]`
    // enum, its discriminant and the offset of each of its fields, read from a value built
    // with the given fields (a tuple variant's fields are named `0`, `1`, ...). Building the
    // value needs every field, so a field added to a variant fails to compile here.
    ($mode:ident, $r:ident, variants $t:ident {
        $($v:ident { $($f:tt : $val:expr),* $(,)? }),+ $(,)?
    }) => {
        $( layout_entries!(@variant $mode, $r, $t, $v, { $($f: $val),* }, $($f),*); )+
        {
            // Fails to compile when the enum gains a variant the list does not name.
            fn every_variant(v: &$t) {
                match v {
                    $($t::$v { .. })|+ => {}
                }
            }
            let _ = every_variant;
        }
    };
    (@variant $mode:ident, $r:ident, $t:ident, $v:ident, $fields:tt, $($f:tt),*) => {
        $r.push(
            concat!("discriminant of ", stringify!($t), "::", stringify!($v)),
            value!($mode, tag_of(&$t::$v $fields)),
        );
        $(
            $r.push(
                concat!("offset of ", stringify!($t), "::", stringify!($v), ".", stringify!($f)),
                value!($mode, {
                    let whole = $t::$v $fields;
                    match &whole {
                        // SAFETY: `part` is a field of `whole`.
                        $t::$v { $f: part, .. } => unsafe { offset_in(&whole, part) },
                        _ => unreachable!(),
                    }
                }),
            );
        )*
    };
    // `constants (A, B)`: the value of each integer constant.
    ($mode:ident, $r:ident, constants ($($c:ident),+ $(,)?)) => {$(
        $r.push(concat!("value of ", stringify!($c)), value!($mode, $c as usize));
    )+};
}

/// Defines `record_names` and `record_values`, the two passes over one list of entries
/// (each a [`layout_entries!`] kind, ended by `;`).
macro_rules! layout_record {
    (@each $mode:ident, $r:ident,) => {};
    (@each $mode:ident, $r:ident, $kind:ident $($rest:tt)*) => {
        layout_record!(@split $mode, $r, $kind [] $($rest)*);
    };
    // Gathers the tokens of one entry up to its `;`.
    (@split $mode:ident, $r:ident, $kind:ident [$($entry:tt)*] ; $($rest:tt)*) => {
        layout_entries!($mode, $r, $kind $($entry)*);
        layout_record!(@each $mode, $r, $($rest)*);
    };
    (@split $mode:ident, $r:ident, $kind:ident [$($entry:tt)*] $next:tt $($rest:tt)*) => {
        layout_record!(@split $mode, $r, $kind [$($entry)* $next] $($rest)*);
    };
    ($($entries:tt)*) => {
        /// The entries' names (their values are 0): the naming pass.
        const fn record_names() -> Record {
            let mut r = Record::new();
            layout_record!(@each names, r, $($entries)*);
            r
        }

        /// The entries' names and values.
        const fn record_values() -> Record {
            let mut r = Record::new();
            layout_record!(@each values, r, $($entries)*);
            r
        }
    };
}

layout_record! {
    value "pointer width" = size_of::<usize>();
    sizes (
        NodeId, GroupId, TaskId, ObjectId, Dependency, Hints, Resources, WorkKind, ArgState,
        NodeView, ArgView, RawPlacementView, PolicyEvent, HostBuf, PolicyVTable,
    );
    fields Hints { group, index, dependency };
    fields Resources { cpus };
    fields NodeView { id, alive, cpus_total, cpus_busy, queued, store_used, store_capacity };
    fields ArgView { object, size, state, holders_start, holders_len, producer_node };
    fields RawPlacementView {
        task, kind, hints, demand, args, args_len, holders, holders_len, nodes, nodes_len,
        now_ns, view_time_ns, waited_ns, flags,
    };
    fields HostBuf { data, capacity, len };
    fields PolicyVTable { abi_version, layout, create, describe, place, on_event, destroy };
    fields AbiLayout { layout_size, values };
    discriminants WorkKind { Task, ActorCreation, ActorMethod };
    discriminants ArgState { Ready, Pending };
    variants Dependency {
        None {},
        Group { 0: GroupId(0) },
        Task { 0: GroupId(0), 1: 0 },
    };
    variants PolicyEvent {
        Placed { task: TaskId(0), kind: WorkKind::Task, hints: Hints::NONE, node: NodeId(0) },
        Finished { task: TaskId(0), hints: Hints::NONE, node: NodeId(0) },
        GroupFreed { 0: GroupId(0) },
        NodeAdded { 0: NodeId(0) },
        NodeRemoved { 0: NodeId(0) },
    };
    constants (
        STATUS_OK, STATUS_REFUSED, STATUS_FAILED, STATUS_PANICKED, STATUS_DEFERRED,
        FLAG_WANTS_EVENTS, VIEW_MAY_DEFER,
    );
}

/// The naming pass, evaluated once.
const NAMES_PASS: Record = record_names();

const _: () = assert!(
    names_are_distinct(&AbiLayout::NAMES),
    "two layout entries have the same name"
);
const _: () = assert!(
    offset_of!(PolicyVTable, abi_version) == 0,
    "the ABI version must be the vtable's first field"
);
const _: () = assert!(
    offset_of!(AbiLayout, layout_size) == 0,
    "the record's size must be its first field"
);
const _: () = assert!(
    offset_of!(PolicyVTable, layout) == size_of::<u32>(),
    "the layout record must follow the version directly"
);

/// The discriminant of a `#[repr(C, u8)]` enum's value: its tag, the first byte.
const fn tag_of(value: &impl ReprCU8) -> usize {
    // SAFETY: `ReprCU8` is only implemented for `#[repr(C, u8)]` enums, whose layout starts
    // with the tag, a `u8` that every value initialises.
    unsafe { *std::ptr::from_ref(value).cast::<u8>() as usize }
}

/// Enums that are `#[repr(C, u8)]`: their tag is a `u8` at offset 0.
trait ReprCU8 {}
impl ReprCU8 for Dependency {}
impl ReprCU8 for PolicyEvent {}

/// How many bytes into `whole` its field `part` lies.
///
/// # Safety
/// `part` is a field of `whole` (or lies inside it).
const unsafe fn offset_in<T, F>(whole: &T, part: &F) -> usize {
    let whole = std::ptr::from_ref(whole).cast::<u8>();
    let part = std::ptr::from_ref(part).cast::<u8>();
    // SAFETY: both pointers are into one value (the caller's guarantee), the field at or
    // after its start.
    unsafe { part.offset_from(whole) as usize }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn names_are_distinct(names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// A byte buffer owned by the host, into which the plugin writes text (a refusal, an error,
/// a panic message, the policy's name). The plugin writes at most `capacity` bytes of UTF-8
/// at `data`, cut at a character boundary, and sets `len`.
#[repr(C)]
#[derive(Debug)]
pub struct HostBuf {
    /// Start of the buffer.
    pub data: *mut u8,
    /// Its size in bytes.
    pub capacity: usize,
    /// Bytes written by the plugin.
    pub len: usize,
}

impl HostBuf {
    /// A buffer over `storage` with nothing written yet. The buffer borrows `storage` in all
    /// but name: it must not outlive it.
    #[inline]
    pub fn new(storage: &mut [u8]) -> HostBuf {
        HostBuf {
            data: storage.as_mut_ptr(),
            capacity: storage.len(),
            len: 0,
        }
    }

    /// Writes `text` (truncated to the capacity at a character boundary) into the buffer
    /// behind `buf`. Does nothing if `buf` is null.
    ///
    /// # Safety
    /// `buf` is null or points to a valid `HostBuf` whose `data` is valid for writes of
    /// `capacity` bytes.
    #[inline]
    pub unsafe fn write(buf: *mut HostBuf, text: &str) {
        // SAFETY: the caller guarantees `buf` is null or valid; we only take a unique
        // reference for the duration of this function.
        let Some(buf) = (unsafe { buf.as_mut() }) else {
            return;
        };
        let mut n = text.len().min(buf.capacity);
        while !text.is_char_boundary(n) {
            n -= 1;
        }
        if n > 0 {
            // SAFETY: `data` is valid for `capacity >= n` bytes (caller's guarantee), `text`
            // has at least `n` bytes, and host memory cannot overlap a `&str` we were given.
            unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), buf.data, n) };
        }
        buf.len = n;
    }
}

/// [`PlacementView`] in a form that can cross the C ABI: each slice as pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawPlacementView {
    /// [`PlacementView::task`].
    pub task: TaskId,
    /// [`PlacementView::kind`].
    pub kind: WorkKind,
    /// [`PlacementView::hints`].
    pub hints: Hints,
    /// [`PlacementView::demand`].
    pub demand: Resources,
    /// Start of [`PlacementView::args`].
    pub args: *const ArgView,
    /// Its length.
    pub args_len: usize,
    /// Start of [`PlacementView::holders`].
    pub holders: *const NodeId,
    /// Its length.
    pub holders_len: usize,
    /// Start of [`PlacementView::nodes`].
    pub nodes: *const NodeView,
    /// Its length.
    pub nodes_len: usize,
    /// [`PlacementView::now_ns`].
    pub now_ns: u64,
    /// [`PlacementView::view_time_ns`].
    pub view_time_ns: u64,
    /// [`PlacementView::waited_ns`].
    pub waited_ns: u64,
    /// `VIEW_*` bits: [`VIEW_MAY_DEFER`] for [`PlacementView::may_defer`]; others are zero.
    pub flags: u32,
}

impl RawPlacementView {
    /// The raw form of `view`. It points into `view`'s slices: use it while they live.
    #[inline]
    pub fn new(view: &PlacementView<'_>) -> RawPlacementView {
        RawPlacementView {
            task: view.task,
            kind: view.kind,
            hints: view.hints,
            demand: view.demand,
            args: view.args.as_ptr(),
            args_len: view.args.len(),
            holders: view.holders.as_ptr(),
            holders_len: view.holders.len(),
            nodes: view.nodes.as_ptr(),
            nodes_len: view.nodes.len(),
            now_ns: view.now_ns,
            view_time_ns: view.view_time_ns,
            waited_ns: view.waited_ns,
            flags: if view.may_defer { VIEW_MAY_DEFER } else { 0 },
        }
    }

    /// The view this raw form describes, or why it cannot be one (a null or misaligned
    /// pointer with a non-zero length).
    ///
    /// # Safety
    /// Each non-null pointer is valid for reads of its length in elements, the elements are
    /// valid values of their types, and nothing writes to them for `'a`.
    #[inline(always)]
    pub unsafe fn view<'a>(&'a self) -> Result<PlacementView<'a>, BadView> {
        // SAFETY: forwarded from this function's contract.
        let args = unsafe { slice_or_empty(self.args, self.args_len, "args")? };
        // SAFETY: as above.
        let holders = unsafe { slice_or_empty(self.holders, self.holders_len, "holders")? };
        // SAFETY: as above.
        let nodes = unsafe { slice_or_empty(self.nodes, self.nodes_len, "nodes")? };
        Ok(PlacementView {
            task: self.task,
            kind: self.kind,
            hints: self.hints,
            demand: self.demand,
            args,
            holders,
            nodes,
            now_ns: self.now_ns,
            view_time_ns: self.view_time_ns,
            waited_ns: self.waited_ns,
            may_defer: self.flags & VIEW_MAY_DEFER != 0,
        })
    }
}

/// Why a [`RawPlacementView`] describes no view: which slice, and what is wrong with it.
/// Small and plain, so that checking a view costs nothing on the path where it is fine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadView {
    /// The named slice has a null pointer and this non-zero length.
    Null(&'static str, usize),
    /// The named slice's pointer is not aligned for its element type.
    Misaligned(&'static str),
}

impl std::fmt::Display for BadView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadView::Null(what, len) => write!(f, "the view's `{what}` is null with length {len}"),
            BadView::Misaligned(what) => write!(f, "the view's `{what}` is misaligned"),
        }
    }
}

/// A slice from a pointer and a length; an empty slice for length 0 whatever the pointer.
///
/// # Safety
/// If `len > 0` and `ptr` is not null, `ptr` is valid for reads of `len` initialised `T`s that
/// nothing writes for `'a`.
#[inline(always)]
unsafe fn slice_or_empty<'a, T>(
    ptr: *const T,
    len: usize,
    what: &'static str,
) -> Result<&'a [T], BadView> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(BadView::Null(what, len));
    }
    if !ptr.is_aligned() {
        return Err(BadView::Misaligned(what));
    }
    // SAFETY: non-null, aligned, and valid for `len` elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// How [`PolicyEvent`] crosses the C ABI: as itself, since it is `#[repr(C, u8)]` plain data
/// (its layout is part of [`AbiLayout`]).
pub type RawEvent = PolicyEvent;

/// The vtable of policy `P`: what [`export_policy!`](crate::export_policy) exports.
pub const fn vtable<P: PolicyFactory>() -> PolicyVTable {
    PolicyVTable {
        abi_version: ABI_VERSION,
        layout: AbiLayout::CURRENT,
        create: create::<P>,
        describe: describe::<P>,
        place: place::<P>,
        on_event: on_event::<P>,
        destroy: destroy::<P>,
    }
}

/// The text of a caught panic's payload: the message of a `panic!` with one (whose payload
/// is a `&str` or a `String`), or `a panic without a message` for any other payload (e.g.
/// `std::panic::panic_any(42)`). The entry points use it for [`STATUS_PANICKED`]'s message;
/// the runtime uses it for panics in user code.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `body`, turning a panic into [`STATUS_PANICKED`] with its message in `message`.
///
/// # Safety
/// `message` is null or valid as [`HostBuf::write`] requires.
unsafe fn guarded(message: *mut HostBuf, body: impl FnOnce() -> u32) -> u32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(payload) => {
            let text = panic_message(&*payload);
            // Dropping a payload runs arbitrary code that could panic again, and a panic
            // escaping an `extern "C"` function aborts the host: leak it instead (a few bytes,
            // once, after which the state is not used again).
            std::mem::forget(payload);
            // SAFETY: forwarded from this function's contract.
            unsafe { HostBuf::write(message, &text) };
            STATUS_PANICKED
        }
    }
}

/// Writes `text` to `message` and returns [`STATUS_FAILED`].
///
/// # Safety
/// As [`HostBuf::write`].
#[cold]
unsafe fn failed(message: *mut HostBuf, text: &str) -> u32 {
    // SAFETY: forwarded from this function's contract.
    unsafe { HostBuf::write(message, text) };
    STATUS_FAILED
}

unsafe extern "C" fn create<P: PolicyFactory>(
    config: *const u8,
    config_len: usize,
    seed: u64,
    state: *mut *mut c_void,
    message: *mut HostBuf,
) -> u32 {
    let body = || {
        if state.is_null() {
            // SAFETY: `message` is null or valid (the host's side of the contract).
            return unsafe { failed(message, "the host passed no place to put the state") };
        }
        // SAFETY: the host passes `config_len` readable bytes at `config` (or length 0).
        let bytes = match unsafe { slice_or_empty(config, config_len, "config") } {
            Ok(b) => b,
            // SAFETY: as above for `message`.
            Err(e) => return unsafe { failed(message, &e.to_string()) },
        };
        let Ok(text) = std::str::from_utf8(bytes) else {
            // SAFETY: as above for `message`.
            return unsafe { failed(message, "the configuration is not valid UTF-8") };
        };
        match P::create(text, seed) {
            Ok(policy) => {
                let raw = Box::into_raw(Box::new(policy)).cast::<c_void>();
                // SAFETY: `state` is non-null (checked) and valid for a write (host contract).
                unsafe { state.write(raw) };
                STATUS_OK
            }
            // SAFETY: as above for `message`.
            Err(reason) => unsafe { failed(message, &reason) },
        }
    };
    // SAFETY: `message` is null or valid (host contract).
    unsafe { guarded(message, body) }
}

/// The policy behind a state pointer.
///
/// # Safety
/// `state` is null or was returned by `create::<P>` and not yet destroyed, and no other
/// reference to it exists for `'a`.
unsafe fn policy_mut<'a, P>(state: *mut c_void) -> Option<&'a mut P> {
    // SAFETY: forwarded from this function's contract.
    unsafe { state.cast::<P>().as_mut() }
}

unsafe extern "C" fn describe<P: PolicyFactory>(
    state: *mut c_void,
    name: *mut HostBuf,
    description: *mut HostBuf,
    flags: *mut u32,
) -> u32 {
    let body = || {
        // SAFETY: the host passes a live state of this plugin and calls it from one thread.
        let Some(policy) = (unsafe { policy_mut::<P>(state) }) else {
            // SAFETY: `name` is null or valid (host contract).
            return unsafe { failed(name, "null state") };
        };
        if flags.is_null() {
            // SAFETY: as above for `name`.
            return unsafe { failed(name, "the host passed no place to put the flags") };
        }
        // SAFETY: as above for `name`.
        unsafe { HostBuf::write(name, policy.name()) };
        // SAFETY: `description` is null or valid (host contract).
        unsafe { HostBuf::write(description, policy.description()) };
        let bits = if policy.wants_events() {
            FLAG_WANTS_EVENTS
        } else {
            0
        };
        // SAFETY: `flags` is non-null (checked) and valid for a write (host contract).
        unsafe { flags.write(bits) };
        STATUS_OK
    };
    // SAFETY: `name` is null or valid (host contract).
    unsafe { guarded(name, body) }
}

unsafe extern "C" fn place<P: PolicyFactory>(
    state: *mut c_void,
    view: *const RawPlacementView,
    node: *mut NodeId,
    defer_ns: *mut u64,
    message: *mut HostBuf,
) -> u32 {
    let body = || {
        // SAFETY: the host passes a live state of this plugin and calls it from one thread.
        let Some(policy) = (unsafe { policy_mut::<P>(state) }) else {
            // SAFETY: `message` is null or valid (host contract).
            return unsafe { failed(message, "null state") };
        };
        // SAFETY: the host passes a valid view (or null) for the duration of the call.
        let Some(raw) = (unsafe { view.as_ref() }) else {
            // SAFETY: as above for `message`.
            return unsafe { failed(message, "null view") };
        };
        if node.is_null() {
            // SAFETY: as above for `message`.
            return unsafe { failed(message, "the host passed no place to put the node") };
        }
        // SAFETY: the view's slices are valid and unchanged during the call (host contract).
        let view = match unsafe { raw.view() } {
            Ok(v) => v,
            // SAFETY: as above for `message`.
            Err(e) => return unsafe { failed(message, &e.to_string()) },
        };
        match policy.place(&view) {
            Placement::Node(n) => {
                // SAFETY: `node` is non-null (checked) and valid for a write (host contract).
                unsafe { node.write(n) };
                STATUS_OK
            }
            Placement::Refuse(reason) => {
                // SAFETY: as above for `message`.
                unsafe { HostBuf::write(message, &reason) };
                STATUS_REFUSED
            }
            Placement::Defer(_) if defer_ns.is_null() => {
                // SAFETY: as above for `message`.
                unsafe { failed(message, "the host passed no place to put the deferral") }
            }
            Placement::Defer(wait) => {
                // SAFETY: `defer_ns` is non-null (checked) and valid for a write (host
                // contract).
                unsafe { defer_ns.write(wait) };
                STATUS_DEFERRED
            }
        }
    };
    // SAFETY: `message` is null or valid (host contract).
    unsafe { guarded(message, body) }
}

unsafe extern "C" fn on_event<P: PolicyFactory>(
    state: *mut c_void,
    event: *const RawEvent,
    message: *mut HostBuf,
) -> u32 {
    let body = || {
        // SAFETY: the host passes a live state of this plugin and calls it from one thread.
        let Some(policy) = (unsafe { policy_mut::<P>(state) }) else {
            // SAFETY: `message` is null or valid (host contract).
            return unsafe { failed(message, "null state") };
        };
        // SAFETY: the host passes a valid event (or null) for the duration of the call.
        let Some(event) = (unsafe { event.as_ref() }) else {
            // SAFETY: as above for `message`.
            return unsafe { failed(message, "null event") };
        };
        policy.on_event(event);
        STATUS_OK
    };
    // SAFETY: `message` is null or valid (host contract).
    unsafe { guarded(message, body) }
}

unsafe extern "C" fn destroy<P: PolicyFactory>(state: *mut c_void, message: *mut HostBuf) -> u32 {
    let body = || {
        if !state.is_null() {
            // SAFETY: a non-null state was made by `Box::into_raw` in `create::<P>` and the
            // host destroys it exactly once, after its last use.
            drop(unsafe { Box::from_raw(state.cast::<P>()) });
        }
        STATUS_OK
    };
    // SAFETY: `message` is null or valid (host contract).
    unsafe { guarded(message, body) }
}

/// Exports a policy type from a `cdylib` crate, making the library a cohort policy plugin.
///
/// The type must implement [`Policy`](crate::Policy) and
/// [`PolicyFactory`](crate::PolicyFactory). Call the macro exactly once per library, at the
/// top level of the crate:
///
/// ```ignore
/// cohort_policy::export_policy!(my_policy::MyPolicy);
/// ```
///
/// It defines the `extern "C"` symbol named by [`ENTRY_SYMBOL`](crate::ffi::ENTRY_SYMBOL), so
/// keep the policy's logic in an ordinary library crate and make the `cdylib` a shim that only
/// calls this macro: two crates exporting the symbol cannot be linked into one binary.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        /// The entry point the cohort runtime looks up: this plugin's vtable.
        #[unsafe(no_mangle)]
        pub extern "C" fn cohort_policy_entry() -> *const $crate::ffi::PolicyVTable {
            static VTABLE: $crate::ffi::PolicyVTable = $crate::ffi::vtable::<$policy>();
            &VTABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArgState, Hints, Policy, WorkKind};

    /// Picks the node with the id in its config; panics when asked to place task 13.
    struct Echo {
        node: u32,
        seen: Vec<PolicyEvent>,
        events_before_panic: Option<usize>,
    }

    impl Policy for Echo {
        fn name(&self) -> &str {
            "echo-ünïcode"
        }
        fn place(&mut self, view: &PlacementView<'_>) -> Placement {
            match view.task.0 {
                13 => panic!("task 13 is unlucky"),
                14 => Placement::Refuse(format!(
                    "{} args, {} nodes",
                    view.args.len(),
                    view.nodes.len()
                )),
                15 if view.may_defer => Placement::Defer(view.waited_ns + 5),
                _ => Placement::Node(NodeId(self.node + view.holders_of(&view.args[0])[0].0)),
            }
        }
        fn on_event(&mut self, event: &PolicyEvent) {
            self.seen.push(*event);
            if self.events_before_panic == Some(self.seen.len()) {
                std::panic::panic_any(42_u32);
            }
        }
    }

    impl PolicyFactory for Echo {
        fn create(config_toml: &str, _seed: u64) -> Result<Self, String> {
            let node = config_toml
                .trim()
                .parse()
                .map_err(|_| format!("bad config `{config_toml}`"))?;
            Ok(Echo {
                node,
                seen: Vec::new(),
                events_before_panic: Some(2),
            })
        }
    }

    crate::export_policy!(Echo);

    fn make(vt: &PolicyVTable, config: &str) -> Result<*mut c_void, (u32, String)> {
        let mut storage = [0u8; 64];
        let mut msg = HostBuf::new(&mut storage);
        let mut state = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the call; `config` is readable UTF-8.
        let status = unsafe { (vt.create)(config.as_ptr(), config.len(), 7, &mut state, &mut msg) };
        let text = String::from_utf8_lossy(&storage[..msg.len]).into_owned();
        if status == STATUS_OK {
            Ok(state)
        } else {
            Err((status, text))
        }
    }

    #[test]
    fn the_macro_exports_the_vtable_of_the_policy_it_names() {
        // The macro defines the entry with the type the ABI gives it (or this fails to build).
        let entry: EntryFn = cohort_policy_entry;
        assert!(std::ptr::eq(entry(), entry()), "one static vtable");
        // SAFETY: the entry returns a pointer to a static.
        let vt = unsafe { &*entry() };
        assert_eq!(vt.abi_version, ABI_VERSION);
        assert_eq!(vt.layout, AbiLayout::CURRENT);
        // Its functions are `Echo`'s: Echo's configuration is accepted, Echo's name comes back.
        assert_eq!(
            make(vt, "seven"),
            Err((STATUS_FAILED, "bad config `seven`".to_string()))
        );
        let state = make(vt, "2").expect("created");
        let mut storage = [0u8; 64];
        let mut name = HostBuf::new(&mut storage);
        let mut flags = 0;
        // SAFETY: live state, valid buffer and flags; no description buffer (null).
        let status = unsafe { (vt.describe)(state, &mut name, std::ptr::null_mut(), &mut flags) };
        assert_eq!(status, STATUS_OK);
        assert_eq!(
            std::str::from_utf8(&storage[..name.len]),
            Ok("echo-ünïcode")
        );
        let mut storage = [0u8; 8];
        let mut msg = HostBuf::new(&mut storage);
        // SAFETY: the state is live and destroyed exactly once.
        assert_eq!(unsafe { (vt.destroy)(state, &mut msg) }, STATUS_OK);
    }

    #[test]
    fn layout_differences_name_what_differs() {
        let current = AbiLayout::CURRENT;
        let value = |name: &str| {
            let i = AbiLayout::position(name).unwrap_or_else(|| panic!("`{name}` not recorded"));
            (i, current.values[i])
        };
        let (size, node_view) = value("size of NodeView");
        let (place, place_offset) = value("offset of PolicyVTable.place");
        let (tag, group_tag) = value("discriminant of Dependency::Group");
        let mut other = current;
        other.values[size] += 8;
        other.values[place] += 8;
        other.values[tag] = 2;
        assert_eq!(
            other.differences(&current),
            [
                format!("size of NodeView: {}, expected {node_view}", node_view + 8),
                format!(
                    "offset of PolicyVTable.place: {}, expected {place_offset}",
                    place_offset + 8
                ),
                format!("discriminant of Dependency::Group: 2, expected {group_tag}"),
            ]
        );
        assert!(current.differences(&current).is_empty());

        // A record of another size: that alone is reported, and no value is compared.
        other.layout_size = 3;
        let size_line = format!("layout record: 3 bytes, expected {}", current.layout_size);
        assert_eq!(AbiLayout::size_difference(3).as_ref(), Some(&size_line));
        assert_eq!(other.differences(&current), [size_line]);
        assert_eq!(AbiLayout::size_difference(current.layout_size), None);
        assert_eq!(current.layout_size as usize, size_of::<AbiLayout>());
    }

    /// The record's values are what the definitions say: discriminants in declaration order,
    /// offsets as `#[repr(C)]` and `#[repr(C, u8)]` lay fields out, statuses as defined.
    #[test]
    fn the_record_holds_every_offset_discriminant_and_status() {
        let value = |name: &str| {
            let i = AbiLayout::position(name).unwrap_or_else(|| panic!("`{name}` not recorded"));
            AbiLayout::CURRENT.values[i] as usize
        };
        let ptr = size_of::<usize>();
        assert_eq!(value("pointer width"), ptr);
        let functions = ["create", "describe", "place", "on_event", "destroy"];
        let first = value("offset of PolicyVTable.create");
        assert_eq!(value("offset of PolicyVTable.abi_version"), 0);
        assert_eq!(value("offset of PolicyVTable.layout"), 4);
        assert_eq!(first, (4 + size_of::<AbiLayout>()).next_multiple_of(ptr));
        for (i, f) in functions.iter().enumerate() {
            assert_eq!(
                value(&format!("offset of PolicyVTable.{f}")),
                first + i * ptr
            );
        }
        assert_eq!(value("size of PolicyVTable"), first + functions.len() * ptr);

        for (i, v) in ["None", "Group", "Task"].iter().enumerate() {
            assert_eq!(value(&format!("discriminant of Dependency::{v}")), i);
        }
        assert_eq!(value("offset of Dependency::Group.0"), 8);
        assert_eq!(value("offset of Dependency::Task.0"), 8);
        assert_eq!(value("offset of Dependency::Task.1"), 16);
        let events = [
            "Placed",
            "Finished",
            "GroupFreed",
            "NodeAdded",
            "NodeRemoved",
        ];
        for (i, v) in events.iter().enumerate() {
            assert_eq!(value(&format!("discriminant of PolicyEvent::{v}")), i);
        }
        assert_eq!(value("offset of PolicyEvent::Placed.task"), 8);
        assert_eq!(value("offset of PolicyEvent::Placed.kind"), 16);
        assert_eq!(value("offset of PolicyEvent::Placed.hints"), 24);
        // `#[repr(C, u8)]`: the tag, then a union of the variants, aligned for the largest.
        assert_eq!(value("offset of PolicyEvent::NodeAdded.0"), 8);
        for (i, v) in ["Task", "ActorCreation", "ActorMethod"].iter().enumerate() {
            assert_eq!(value(&format!("discriminant of WorkKind::{v}")), i);
        }
        assert_eq!(value("discriminant of ArgState::Pending"), 1);
        assert_eq!(value("value of STATUS_OK"), 0);
        assert_eq!(value("value of STATUS_PANICKED"), 3);
        assert_eq!(value("value of FLAG_WANTS_EVENTS"), 1);
        assert_eq!(value("offset of AbiLayout.values"), 4);
        assert_eq!(AbiLayout::position("no such entry"), None);
    }

    #[test]
    fn round_trip_through_the_vtable() {
        let vt = vtable::<Echo>();
        let state = make(&vt, "2").expect("created");

        let mut storage = [0u8; 64];
        let mut name_buf = HostBuf::new(&mut storage);
        let mut about = [0u8; 64];
        let mut about_buf = HostBuf::new(&mut about);
        let mut flags = 0;
        // SAFETY: live state, valid buffers and flags.
        let status = unsafe { (vt.describe)(state, &mut name_buf, &mut about_buf, &mut flags) };
        assert_eq!(status, STATUS_OK);
        assert_eq!(
            std::str::from_utf8(&storage[..name_buf.len]),
            Ok("echo-ünïcode")
        );
        assert_eq!(
            &about[..about_buf.len],
            b"",
            "Echo keeps the default description"
        );
        assert_eq!(flags, FLAG_WANTS_EVENTS, "Echo keeps the default");

        let holders = [NodeId(1)];
        let args = [ArgView {
            object: ObjectId(1),
            size: 5,
            state: ArgState::Ready,
            holders_start: 0,
            holders_len: 1,
            producer_node: NodeId(1),
        }];
        let mut view = PlacementView {
            task: TaskId(1),
            kind: WorkKind::Task,
            hints: Hints::NONE,
            demand: Resources { cpus: 1 },
            args: &args,
            holders: &holders,
            nodes: &[],
            now_ns: 0,
            view_time_ns: 0,
            waited_ns: 0,
            may_defer: false,
        };
        let deferral = std::cell::Cell::new(0u64);
        let place = |view: &PlacementView<'_>| {
            let raw = RawPlacementView::new(view);
            let mut storage = [0u8; 64];
            let mut msg = HostBuf::new(&mut storage);
            let mut node = NodeId::NONE;
            let mut wait = 0;
            // SAFETY: live state; the raw view points into `view`, alive for the call.
            let status = unsafe { (vt.place)(state, &raw, &mut node, &mut wait, &mut msg) };
            deferral.set(wait);
            (
                status,
                node,
                String::from_utf8_lossy(&storage[..msg.len]).into_owned(),
            )
        };
        assert_eq!(place(&view), (STATUS_OK, NodeId(3), String::new()));
        // A deferral crosses with the time waited and the permission to wait.
        view.task = TaskId(15);
        view.waited_ns = 1_000;
        view.may_defer = true;
        assert_eq!(place(&view).0, STATUS_DEFERRED);
        assert_eq!(deferral.get(), 1_005);
        view.may_defer = false;
        assert_eq!(place(&view), (STATUS_OK, NodeId(3), String::new()));
        view.task = TaskId(14);
        assert_eq!(place(&view).0, STATUS_REFUSED);
        assert_eq!(place(&view).2, "1 args, 0 nodes");
        view.task = TaskId(13);
        let (status, _, text) = place(&view);
        assert_eq!(status, STATUS_PANICKED);
        assert_eq!(text, "task 13 is unlucky");

        let send = |e: PolicyEvent| {
            let raw: RawEvent = e;
            let mut storage = [0u8; 64];
            let mut msg = HostBuf::new(&mut storage);
            // SAFETY: live state, valid event and buffer.
            let status = unsafe { (vt.on_event)(state, &raw, &mut msg) };
            (
                status,
                String::from_utf8_lossy(&storage[..msg.len]).into_owned(),
            )
        };
        assert_eq!(send(PolicyEvent::GroupFreed(GroupId(3))).0, STATUS_OK);
        assert_eq!(
            send(PolicyEvent::NodeAdded(NodeId(3))),
            (STATUS_PANICKED, "a panic without a message".to_string())
        );

        let mut storage = [0u8; 8];
        let mut msg = HostBuf::new(&mut storage);
        // SAFETY: the state is live and destroyed exactly once.
        assert_eq!(unsafe { (vt.destroy)(state, &mut msg) }, STATUS_OK);
    }

    #[test]
    fn create_failures_are_reported() {
        let vt = vtable::<Echo>();
        assert_eq!(
            make(&vt, "seven"),
            Err((STATUS_FAILED, "bad config `seven`".to_string()))
        );
        let mut storage = [0u8; 64];
        let mut msg = HostBuf::new(&mut storage);
        let mut state = std::ptr::null_mut();
        let bad = [0xff_u8, 0xfe];
        // SAFETY: valid pointers; the bytes are readable (just not UTF-8).
        let status = unsafe { (vt.create)(bad.as_ptr(), bad.len(), 0, &mut state, &mut msg) };
        assert_eq!(status, STATUS_FAILED);
        assert!(state.is_null());
    }

    #[test]
    fn host_buf_truncates_at_a_char_boundary() {
        let mut storage = [0u8; 4];
        let mut buf = HostBuf::new(&mut storage);
        // SAFETY: `buf` is valid over `storage`.
        unsafe { HostBuf::write(&mut buf, "abcé") };
        assert_eq!(buf.len, 3);
        assert_eq!(&storage[..3], b"abc");
        // SAFETY: null is allowed.
        unsafe { HostBuf::write(std::ptr::null_mut(), "x") };
    }

    #[test]
    fn raw_view_rejects_null_with_length() {
        let raw = RawPlacementView {
            task: TaskId(1),
            kind: WorkKind::Task,
            hints: Hints::NONE,
            demand: Resources { cpus: 1 },
            args: std::ptr::null(),
            args_len: 2,
            holders: std::ptr::null(),
            holders_len: 0,
            nodes: std::ptr::null(),
            nodes_len: 0,
            now_ns: 0,
            view_time_ns: 0,
            waited_ns: 0,
            flags: 0,
        };
        // SAFETY: null pointers are rejected, not read.
        let err = unsafe { raw.view() }.unwrap_err();
        assert_eq!(err, BadView::Null("args", 2));
        assert_eq!(err.to_string(), "the view's `args` is null with length 2");
    }
}
