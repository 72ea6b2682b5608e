//! The messages of the control connection between the head and a node process, each carried
//! in one frame ([`crate::frame`]) as its postcard encoding.
//!
//! A node opens the connection with [`Message::Hello`]; the head answers [`Message::Welcome`]
//! with the node's id, or [`Message::Refused`] with the reason (and closes). From then on the
//! node sends a [`Message::Heartbeat`] every heartbeat period. (Assignments and completions
//! join this enum as the live runtime is built.)
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
    /// A node's load, sent every heartbeat period.
    Heartbeat {
        /// The node's clock when it sent it, ns since the run started.
        at_ns: u64,
        /// CPU slots running work.
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
        bytes: Vec<u8>,
    },
    /// Data plane: the peer does not hold the object.
    Missing {
        /// The object.
        object: u64,
    },
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
