//! cohort's live deployment: a head process and node processes that move real bytes (the
//! design's "live runtime", issue 15). This crate holds its parts (the first two sans-IO):
//!
//! - [`frame`]: how a message crosses a byte stream (versioned, length-prefixed, checked),
//!   and the decoder that refuses what is not a frame of this build;
//! - [`message`]: the messages of the control connection between the head and a node;
//! - [`control`]: that connection over a byte stream (tokio): sending and receiving, a node
//!   joining, and the head's roster deciding who may;
//! - [`data`]: the data plane between nodes (tokio): pulling an object from a peer in
//!   chunks, paced by an optional token bucket, every socket byte counted;
//! - [`shm`]: a node's object store of real bytes, each object a sealed memfd mapped
//!   read-only (the crate's one module allowed `unsafe`);
//! - [`spill`]: a node's directory of spilled objects, removed with the node.
//!
//! The node process (shared-memory store, workers, a tokio data plane) and the head (the core
//! driven by real completions) build on it.

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

pub use frame::{FrameDecoder, FrameError, PROTOCOL_VERSION};
pub use message::{Message, MessageDecoder, WireError};
pub use shm::{SharedBytes, SharedStore, StoreError};
