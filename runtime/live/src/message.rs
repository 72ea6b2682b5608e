//! The messages of the control connection between the head and a node process, each carried
//! in one frame ([`crate::frame`]) as its postcard encoding.
//!
//! A node opens the connection with [`Message::Hello`]; the head answers [`Message::Welcome`]
//! with the node's id, or [`Message::Refused`] with the reason (and closes). From then on the
//! node sends a [`Message::Heartbeat`] every heartbeat period. Once every node has joined, the
//! head sends each a [`Message::Setup`] (the workload, the peers' data addresses) and waits
//! for its [`Message::Ready`]. Then the head assigns work ([`Message::Assign`], answered by
//! [`Message::Done`]), asks for copies ([`Message::Fetch`], answered by [`Message::Fetched`]
//! or [`Message::FetchFailed`]) and removes them ([`Message::Remove`]); at the end it sends
//! [`Message::Stop`], answered by [`Message::Stopped`] with the node's counters.
//!
//! The data plane between nodes uses the same frames: [`Message::Pull`] asks a peer for an
//! object, which answers with its [`Message::Chunk`]s in order, or [`Message::Missing`].

use crate::frame::{self, FrameDecoder, FrameError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One message of the control connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A node asks to join.
    Hello {
        /// The cohort version of the node's build (the frame's protocol version is checked
        /// first; this is for messages).
        cohort_version: String,
        /// The node id it asks for, or `None` for the head's choice.
        node: Option<u32>,
        /// Its CPU slots.
        cpus: u32,
        /// Its object store's capacity, bytes.
        store: u64,
        /// The TCP port of its data plane, on the address it connected from.
        data_port: u16,
    },
    /// The head accepts a node.
    Welcome {
        /// The node's id.
        node: u32,
        /// How often the node must send heartbeats, ns.
        heartbeat_ns: u64,
    },
    /// The head refuses a node, and says why.
    Refused {
        /// Why, in words.
        reason: String,
    },
    /// A node's load, sent every heartbeat period. The head counts any message as a sign of
    /// life; the load is for the record (the head's core keeps its own account of each
    /// node's load, which is what policies see).
    Heartbeat {
        /// The node's clock when it sent it, ns since the run started.
        at_ns: u64,
        /// Work running (tasks on CPU slots and actor calls).
        cpus_busy: u32,
        /// Work placed on the node and not started.
        queued: u32,
        /// Bytes its store holds.
        store_used: u64,
    },
    /// Data plane: a node asks a peer for an object's bytes.
    Pull {
        /// The object.
        object: u64,
    },
    /// Data plane: a piece of an object, in order, `offset` from its start; the last one ends
    /// at `total`.
    Chunk {
        /// The object.
        object: u64,
        /// Where this piece starts.
        offset: u64,
        /// The object's size.
        total: u64,
        /// The piece's bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Data plane: the peer does not hold the object.
    Missing {
        /// The object.
        object: u64,
    },
    /// Head to node, once every node has joined: what the run needs.
    Setup {
        /// The workload, in a form the node's program understands (opaque here).
        #[serde(with = "serde_bytes")]
        workload: Vec<u8>,
        /// Every node's data plane, by node id.
        peers: Vec<Peer>,
    },
    /// Node to head: its code is loaded; it can run work.
    Ready,
    /// Head to node: run this work.
    Assign {
        /// The work's id.
        task: u64,
        /// What to run.
        work: Work,
        /// Its index within its group.
        index: u32,
        /// Its inputs, in order.
        inputs: Vec<Input>,
        /// The objects its outputs become, in order.
        outputs: Vec<u64>,
    },
    /// Node to head: work ended.
    Done {
        /// The work's id.
        task: u64,
        /// What it produced.
        outcome: Outcome,
    },
    /// Head to node: pull a copy of `object` from node `from`.
    Fetch {
        /// The transfer's id.
        transfer: u64,
        /// The object.
        object: u64,
        /// The node that holds it.
        from: u32,
    },
    /// Node to head: the copy is in the node's store.
    Fetched {
        /// The transfer's id.
        transfer: u64,
        /// The object's size.
        bytes: u64,
    },
    /// Node to head: the pull failed.
    FetchFailed {
        /// The transfer's id.
        transfer: u64,
        /// Why.
        reason: String,
    },
    /// Head to node: drop the node's copy of `object`.
    Remove {
        /// The object.
        object: u64,
    },
    /// Head to node: move the node's copy of `object` to its disk.
    Spill {
        /// The object.
        object: u64,
    },
    /// Head to node: read `object` back from its disk into its store.
    Restore {
        /// The object.
        object: u64,
    },
    /// Head to node: delete the disk's copy of `object`.
    Unspill {
        /// The object.
        object: u64,
    },
    /// Head to node: store `bytes` as `object` (the driver's put).
    Put {
        /// The object.
        object: u64,
        /// Its bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Head to node: the run is over; report and exit.
    Stop,
    /// Node to head: its last words.
    Stopped {
        /// What it counted.
        counters: NodeCounters,
    },
}

/// Where a node's data plane listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The node's id.
    pub node: u32,
    /// Its host, as the head saw it.
    pub host: String,
    /// Its data plane's port.
    pub port: u16,
}

/// What an assignment runs, in the indices of the run's registry (the same on the head and
/// every node: they build it from the same workload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Work {
    /// A function.
    Function(u32),
    /// An actor's constructor.
    CreateActor {
        /// The actor.
        actor: u64,
        /// Its kind.
        kind: u32,
    },
    /// A method call.
    Method {
        /// The actor.
        actor: u64,
        /// Its kind.
        kind: u32,
        /// The method.
        method: u32,
    },
}

/// One input of an assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// An object in the node's store.
    Object(u64),
    /// A value carried with the assignment.
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// What work produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It ran; its outputs are in the node's store.
    Ran {
        /// Each output's size and first bytes (up to 8), in order.
        outputs: Vec<(u64, Vec<u8>)>,
        /// Datapoints its code recorded: `(tag, ingest time)`.
        datapoints: Vec<(u64, u64)>,
        /// After a method call, its actor's state, if it is a `u64`.
        actor_state: Option<u64>,
        /// How long the code ran on the node, ns.
        ran_ns: u64,
    },
    /// It failed, and why.
    Failed(String),
}

/// What a node counted over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCounters {
    /// Bytes its data plane wrote to sockets (frames whole).
    pub data_sent: u64,
    /// Bytes its data plane read from sockets.
    pub data_received: u64,
    /// Object bytes it served to peers.
    pub objects_sent: u64,
    /// Object bytes it pulled from peers.
    pub objects_received: u64,
    /// Bytes its control connection wrote.
    pub control_sent: u64,
    /// Bytes its control connection read.
    pub control_received: u64,
    /// Work it ran.
    pub executions: u64,
    /// The most bytes its store held at once.
    pub store_peak: u64,
    /// Bytes it wrote to its disk (spilled).
    pub spilled: u64,
    /// Bytes it read back from its disk.
    pub restored: u64,
    /// CPU time its process used, all threads, from its start to its stop, ns.
    pub cpu_ns: u64,
}

/// Why bytes are not a message.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// Not a frame (see [`FrameError`]).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A frame whose payload is not a message of this protocol.
    #[error("a frame of {len} bytes is not a message of this protocol: {reason}")]
    Malformed {
        /// The payload's length.
        len: usize,
        /// What the decoder said.
        reason: String,
    },
}

impl Message {
    /// This message as one frame.
    pub fn to_frame(&self) -> Vec<u8> {
        let payload = postcard::to_allocvec(self).expect("messages always serialize");
        frame::encode(&payload)
    }

    /// The message a frame's payload holds.
    pub fn from_payload(payload: &[u8]) -> Result<Message, WireError> {
        let (m, rest) =
            postcard::take_from_bytes::<Message>(payload).map_err(|e| WireError::Malformed {
                len: payload.len(),
                reason: e.to_string(),
            })?;
        if !rest.is_empty() {
            return Err(WireError::Malformed {
                len: payload.len(),
                reason: format!("{} bytes left after the message", rest.len()),
            });
        }
        Ok(m)
    }
}

/// Cuts a byte stream into messages: a [`FrameDecoder`] and [`Message::from_payload`].
#[derive(Debug, Default)]
pub struct MessageDecoder {
    frames: FrameDecoder,
}

impl MessageDecoder {
    /// Adds bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The next whole message, `None` if more bytes are needed, or why the stream is not
    /// this protocol's.
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        match self.frames.next_frame()? {
            Some(payload) => Message::from_payload(&payload).map(Some),
            None => Ok(None),
        }
    }

    /// The stream ended: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), WireError> {
        Ok(self.frames.finish()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all() -> Vec<Message> {
        vec![
            Message::Hello {
                cohort_version: "0.1.0".to_string(),
                node: Some(3),
                cpus: 4,
                store: 6 << 30,
                data_port: 40123,
            },
            Message::Hello {
                cohort_version: String::new(),
                node: None,
                cpus: 1,
                store: 1,
                data_port: 0,
            },
            Message::Welcome {
                node: 3,
                heartbeat_ns: 100_000_000,
            },
            Message::Refused {
                reason: "node 3 has joined already".to_string(),
            },
            Message::Heartbeat {
                at_ns: u64::MAX,
                cpus_busy: 2,
                queued: 17,
                store_used: 1 << 33,
            },
            Message::Pull { object: 9 },
            Message::Chunk {
                object: 9,
                offset: 1_000_000,
                total: 1_000_003,
                bytes: vec![1, 2, 3],
            },
            Message::Missing { object: 10 },
            Message::Setup {
                workload: b"name = 'x'".to_vec(),
                peers: vec![Peer {
                    node: 1,
                    host: "127.0.0.1".to_string(),
                    port: 9,
                }],
            },
            Message::Ready,
            Message::Assign {
                task: 7,
                work: Work::Method {
                    actor: 2,
                    kind: 0,
                    method: 1,
                },
                index: 4,
                inputs: vec![Input::Object(3), Input::Value(vec![1; 16])],
                outputs: vec![8],
            },
            Message::Done {
                task: 7,
                outcome: Outcome::Ran {
                    outputs: vec![(800, vec![0; 8])],
                    datapoints: vec![(1, 2)],
                    actor_state: Some(5),
                    ran_ns: 10,
                },
            },
            Message::Done {
                task: 8,
                outcome: Outcome::Failed("panicked: x".to_string()),
            },
            Message::Fetch {
                transfer: 1,
                object: 3,
                from: 0,
            },
            Message::Fetched {
                transfer: 1,
                bytes: 800,
            },
            Message::FetchFailed {
                transfer: 2,
                reason: "gone".to_string(),
            },
            Message::Remove { object: 3 },
            Message::Spill { object: 5 },
            Message::Restore { object: 5 },
            Message::Unspill { object: 5 },
            Message::Put {
                object: 4,
                bytes: vec![9; 3],
            },
            Message::Stop,
            Message::Stopped {
                counters: NodeCounters {
                    data_sent: 1,
                    ..NodeCounters::default()
                },
            },
        ]
    }

    #[test]
    fn every_message_survives_the_wire_in_order() {
        let stream: Vec<u8> = all().iter().flat_map(Message::to_frame).collect();
        let mut d = MessageDecoder::default();
        let mut out = Vec::new();
        for chunk in stream.chunks(5) {
            d.push(chunk);
            while let Some(m) = d.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, all());
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn a_frame_that_is_no_message_is_refused_clearly() {
        let mut d = MessageDecoder::default();
        d.push(&frame::encode(&[200, 1, 2]));
        let e = d.next_message().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a frame of 3 bytes is not a message of this protocol"),
            "{e}"
        );
        // A message with bytes after it.
        let mut payload = postcard::to_allocvec(&all()[2]).unwrap();
        payload.push(0);
        assert!(matches!(
            Message::from_payload(&payload),
            Err(WireError::Malformed { .. })
        ));
        // A message cut short.
        let payload = postcard::to_allocvec(&all()[0]).unwrap();
        assert!(Message::from_payload(&payload[..payload.len() - 1]).is_err());
    }

    #[test]
    fn a_truncated_stream_says_so() {
        let f = all()[4].to_frame();
        let mut d = MessageDecoder::default();
        d.push(&f[..f.len() - 1]);
        assert_eq!(d.next_message(), Ok(None));
        assert!(matches!(
            d.finish(),
            Err(WireError::Frame(FrameError::Truncated { .. }))
        ));
    }

    proptest! {
        /// Any payload at all: a message or an error, never a panic.
        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut d = MessageDecoder::default();
            d.push(&frame::encode(&bytes));
            let _ = d.next_message();
        }
    }
}
