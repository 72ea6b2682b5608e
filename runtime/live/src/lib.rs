//! cohort's live deployment: a head process and node processes that move real bytes (the
//! design's "live runtime", issue 15). This crate holds its parts (the first two sans-IO):
//!
//! - [`frame`]: how a message crosses a byte stream (versioned, length-prefixed, checked),
//!   and the decoder that refuses what is not a frame of this build;
//! - [`message`]: the messages of the control connection between the head and a node;
//! - [`control`]: that connection over a byte stream (tokio): sending and receiving, a node
//!   joining, and the head's roster deciding who may;
//! - [`link`]: the same connection on plain sockets once joining is over, read by the thread
//!   that acts on it (blocking, or many polled at once);
//! - [`data`]: the data plane between nodes (tokio): pulling an object from a peer in
//!   chunks, paced by an optional token bucket, every socket byte counted;
//! - [`timer`]: the precise one-shot timer the paced NIC waits on (tokio's fires on
//!   millisecond ticks);
//! - [`shm`]: a node's object store of real bytes, objects of 64 KiB or more in one memfd as
//!   large as the store whose pages are reused (a sealed memfd of their own when it has no
//!   room), read in place (the crate's one module allowed `unsafe`, but for registering
//!   [`timer`]'s timerfd with tokio's reactor);
//! - [`spill`]: a node's directory of spilled objects, removed with the node;
//! - [`node`]: a node process: workers running the run's code on the store's bytes, the data
//!   plane, heartbeats, the head's orders in order;
//! - [`head`]: the head's [`Backend`](cohort_runtime::exec::external::Backend): the nodes
//!   admitted and set up, the core's executions, transfers and store operations carried to
//!   them, their completions and silences carried back.

#![deny(unsafe_code)]

pub mod control;
pub mod data;
pub mod frame;
pub mod head;
pub mod link;
pub mod message;
pub mod node;
pub mod shm;
pub mod spill;
#[cfg(test)]
mod testing;
pub mod timer;

pub use frame::{FrameDecoder, FrameError, PROTOCOL_VERSION};

/// The CPU time this process has used so far, all its threads, ns (the kernel's
/// `CLOCK_PROCESS_CPUTIME_ID`); 0 where that clock cannot be read.
pub fn process_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}
pub use message::{Message, MessageDecoder, WireError};
pub use shm::{SharedBytes, SharedStore, StoreError};
