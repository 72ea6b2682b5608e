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
//!   [`PolicyVTable::layout`] and compare it with [`AbiLayout::CURRENT`], so that a plugin
//!   built against a different definition of the views is rejected before its first call.
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
//! vtable, a function signature or the meaning of a status) increments [`ABI_VERSION`].
//! Changes that add only safe Rust API (helpers, trait methods with defaults) do not.

use crate::{
    ArgState, ArgView, Dependency, GroupId, Hints, NodeId, NodeView, ObjectId, Placement,
    PlacementView, PolicyEvent, PolicyFactory, Resources, TaskId, WorkKind,
};
use std::any::Any;
use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The version of this ABI. See the module documentation for when it changes.
pub const ABI_VERSION: u32 = 2;

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
/// into `name` and its `FLAG_*` bits into `*flags`. The host calls it once, after `create`.
pub type DescribeFn =
    unsafe extern "C" fn(state: *mut c_void, name: *mut HostBuf, flags: *mut u32) -> u32;

/// [`DescribeFn`] flag: the policy wants events
/// ([`Policy::wants_events`](crate::Policy::wants_events)); without it the host never calls
/// [`PolicyVTable::on_event`].
pub const FLAG_WANTS_EVENTS: u32 = 1;

/// Places one piece of work: on [`STATUS_OK`] the node is written to `*node`; on
/// [`STATUS_REFUSED`] the reason goes to `message`.
pub type PlaceFn = unsafe extern "C" fn(
    state: *mut c_void,
    view: *const RawPlacementView,
    node: *mut NodeId,
    message: *mut HostBuf,
) -> u32;

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
    /// [`AbiLayout::CURRENT`] of the SDK the plugin was built with.
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

/// Size and alignment of one type, in bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeLayout {
    /// `size_of`.
    pub size: u32,
    /// `align_of`.
    pub align: u32,
}

impl TypeLayout {
    /// The layout of `T`.
    pub const fn of<T>() -> TypeLayout {
        TypeLayout {
            size: size_of::<T>() as u32,
            align: align_of::<T>() as u32,
        }
    }
}

/// The layout of every type that crosses the boundary, as the side that filled it in was
/// compiled. Host and plugin must agree exactly.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiLayout {
    /// `size_of::<AbiLayout>()`: compared first, so that the rest is only read if it exists.
    pub layout_size: u32,
    /// Width of a pointer in bytes.
    pub pointer_width: u32,
    /// [`NodeId`].
    pub node_id: TypeLayout,
    /// [`GroupId`].
    pub group_id: TypeLayout,
    /// [`TaskId`].
    pub task_id: TypeLayout,
    /// [`ObjectId`].
    pub object_id: TypeLayout,
    /// [`Dependency`].
    pub dependency: TypeLayout,
    /// [`Hints`].
    pub hints: TypeLayout,
    /// [`Resources`].
    pub resources: TypeLayout,
    /// [`WorkKind`].
    pub work_kind: TypeLayout,
    /// [`ArgState`].
    pub arg_state: TypeLayout,
    /// [`NodeView`].
    pub node_view: TypeLayout,
    /// [`ArgView`].
    pub arg_view: TypeLayout,
    /// [`RawPlacementView`].
    pub raw_view: TypeLayout,
    /// [`RawEvent`].
    pub raw_event: TypeLayout,
    /// [`HostBuf`].
    pub host_buf: TypeLayout,
    /// [`PolicyVTable`].
    pub vtable: TypeLayout,
    /// A hash of the offset of every field of the `#[repr(C)]` structs above, so that two
    /// fields swapped without changing any size are caught too.
    pub field_offsets: u64,
}

impl AbiLayout {
    /// The layout as this build of the SDK sees it.
    pub const CURRENT: AbiLayout = AbiLayout {
        layout_size: size_of::<AbiLayout>() as u32,
        pointer_width: size_of::<usize>() as u32,
        node_id: TypeLayout::of::<NodeId>(),
        group_id: TypeLayout::of::<GroupId>(),
        task_id: TypeLayout::of::<TaskId>(),
        object_id: TypeLayout::of::<ObjectId>(),
        dependency: TypeLayout::of::<Dependency>(),
        hints: TypeLayout::of::<Hints>(),
        resources: TypeLayout::of::<Resources>(),
        work_kind: TypeLayout::of::<WorkKind>(),
        arg_state: TypeLayout::of::<ArgState>(),
        node_view: TypeLayout::of::<NodeView>(),
        arg_view: TypeLayout::of::<ArgView>(),
        raw_view: TypeLayout::of::<RawPlacementView>(),
        raw_event: TypeLayout::of::<RawEvent>(),
        host_buf: TypeLayout::of::<HostBuf>(),
        vtable: TypeLayout::of::<PolicyVTable>(),
        field_offsets: field_offsets_hash(),
    };

    /// Every way in which `self` (e.g. a plugin's layout) differs from `expected` (the host's),
    /// one line each; empty when they agree.
    pub fn differences(&self, expected: &AbiLayout) -> Vec<String> {
        let mut out = Vec::new();
        if self.layout_size != expected.layout_size {
            out.push(format!(
                "layout record: {} bytes, expected {}",
                self.layout_size, expected.layout_size
            ));
            return out;
        }
        if self.pointer_width != expected.pointer_width {
            out.push(format!(
                "pointer width: {} bytes, expected {}",
                self.pointer_width, expected.pointer_width
            ));
        }
        let types = [
            ("NodeId", self.node_id, expected.node_id),
            ("GroupId", self.group_id, expected.group_id),
            ("TaskId", self.task_id, expected.task_id),
            ("ObjectId", self.object_id, expected.object_id),
            ("Dependency", self.dependency, expected.dependency),
            ("Hints", self.hints, expected.hints),
            ("Resources", self.resources, expected.resources),
            ("WorkKind", self.work_kind, expected.work_kind),
            ("ArgState", self.arg_state, expected.arg_state),
            ("NodeView", self.node_view, expected.node_view),
            ("ArgView", self.arg_view, expected.arg_view),
            ("RawPlacementView", self.raw_view, expected.raw_view),
            ("RawEvent", self.raw_event, expected.raw_event),
            ("HostBuf", self.host_buf, expected.host_buf),
            ("PolicyVTable", self.vtable, expected.vtable),
        ];
        for (name, got, want) in types {
            if got != want {
                out.push(format!(
                    "{name}: size {} align {}, expected size {} align {}",
                    got.size, got.align, want.size, want.align
                ));
            }
        }
        if self.field_offsets != expected.field_offsets {
            out.push(format!(
                "field offsets hash {:#018x}, expected {:#018x}",
                self.field_offsets, expected.field_offsets
            ));
        }
        out
    }
}

/// FNV-1a over the offsets of every field of the boundary's `#[repr(C)]` structs.
const fn field_offsets_hash() -> u64 {
    let offsets: [usize; 34] = [
        offset_of!(Hints, group),
        offset_of!(Hints, index),
        offset_of!(Hints, dependency),
        offset_of!(Resources, cpus),
        offset_of!(NodeView, id),
        offset_of!(NodeView, alive),
        offset_of!(NodeView, cpus_total),
        offset_of!(NodeView, cpus_busy),
        offset_of!(NodeView, queued),
        offset_of!(NodeView, store_used),
        offset_of!(NodeView, store_capacity),
        offset_of!(ArgView, object),
        offset_of!(ArgView, size),
        offset_of!(ArgView, state),
        offset_of!(ArgView, holders_start),
        offset_of!(ArgView, holders_len),
        offset_of!(ArgView, producer_node),
        offset_of!(RawPlacementView, task),
        offset_of!(RawPlacementView, kind),
        offset_of!(RawPlacementView, hints),
        offset_of!(RawPlacementView, demand),
        offset_of!(RawPlacementView, args),
        offset_of!(RawPlacementView, args_len),
        offset_of!(RawPlacementView, holders),
        offset_of!(RawPlacementView, holders_len),
        offset_of!(RawPlacementView, nodes),
        offset_of!(RawPlacementView, nodes_len),
        offset_of!(RawPlacementView, now_ns),
        offset_of!(RawPlacementView, view_time_ns),
        offset_of!(HostBuf, data),
        offset_of!(HostBuf, capacity),
        offset_of!(HostBuf, len),
        offset_of!(PolicyVTable, layout),
        offset_of!(PolicyVTable, create),
    ];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < offsets.len() {
        hash ^= offsets[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
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

/// The text of a panic payload.
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
    fn entry_symbol_matches_the_macro() {
        assert_eq!(ENTRY_SYMBOL, "cohort_policy_entry");
        let vt = cohort_policy_entry();
        // SAFETY: the entry returns a pointer to a static.
        let vt = unsafe { &*vt };
        assert_eq!(vt.abi_version, ABI_VERSION);
        assert!(vt.layout.differences(&AbiLayout::CURRENT).is_empty());
    }

    #[test]
    fn layout_differences_name_the_type() {
        let mut other = AbiLayout::CURRENT;
        other.node_view.size += 8;
        other.field_offsets ^= 1;
        let d = other.differences(&AbiLayout::CURRENT);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("NodeView: size"), "{d:?}");
        assert!(d[1].starts_with("field offsets hash"), "{d:?}");
        other.layout_size = 3;
        assert_eq!(other.differences(&AbiLayout::CURRENT).len(), 1);
    }

    #[test]
    fn round_trip_through_the_vtable() {
        let vt = vtable::<Echo>();
        let state = make(&vt, "2").expect("created");

        let mut storage = [0u8; 64];
        let mut name_buf = HostBuf::new(&mut storage);
        let mut flags = 0;
        // SAFETY: live state, valid buffer and flags.
        let status = unsafe { (vt.describe)(state, &mut name_buf, &mut flags) };
        assert_eq!(status, STATUS_OK);
        assert_eq!(
            std::str::from_utf8(&storage[..name_buf.len]),
            Ok("echo-ünïcode")
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
        };
        let place = |view: &PlacementView<'_>| {
            let raw = RawPlacementView::new(view);
            let mut storage = [0u8; 64];
            let mut msg = HostBuf::new(&mut storage);
            let mut node = NodeId::NONE;
            // SAFETY: live state; the raw view points into `view`, alive for the call.
            let status = unsafe { (vt.place)(state, &raw, &mut node, &mut msg) };
            (
                status,
                node,
                String::from_utf8_lossy(&storage[..msg.len]).into_owned(),
            )
        };
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
        };
        // SAFETY: null pointers are rejected, not read.
        let err = unsafe { raw.view() }.unwrap_err();
        assert_eq!(err, BadView::Null("args", 2));
        assert_eq!(err.to_string(), "the view's `args` is null with length 2");
    }
}
