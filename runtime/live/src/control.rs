//! The control connection between the head and a node, over any byte stream (TCP in a live
//! deployment), with tokio: sending and receiving messages, a node joining, and the head's
//! roster deciding who may join.
//!
//! Joining: the node sends [`Message::Hello`]; the head's [`Roster`] gives it an id (the one
//! it asked for, if free, else the lowest free one) and answers [`Message::Welcome`], or
//! answers [`Message::Refused`] with the reason. A peer that does not speak this build's
//! protocol is refused by the frame decoder (see [`crate::frame`]), on whichever side reads
//! the other's first frame, with an error naming both versions.

use crate::message::{Message, MessageDecoder, WireError};
use std::collections::BTreeMap;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why the control connection failed.
#[derive(Debug, Error)]
pub enum ControlError {
    /// The stream failed.
    #[error("control connection: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not this protocol.
    #[error("control connection: {0}")]
    Wire(#[from] WireError),
    /// The peer closed the connection where a message was expected.
    #[error("control connection closed by the peer while waiting for {0}")]
    Closed(&'static str),
    /// The peer sent another message than the one expected.
    #[error("control connection: expected {expected}, got {got}")]
    Unexpected {
        /// What was expected.
        expected: &'static str,
        /// What came, briefly.
        got: String,
    },
    /// The head refused the node.
    #[error("the head refused this node: {0}")]
    Refused(String),
}

/// One end of a control connection: a byte stream, and what arrived and is not a whole
/// message yet.
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    decoder: MessageDecoder,
    buf: Vec<u8>,
    sent: u64,
    received: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection over `stream`.
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            decoder: MessageDecoder::default(),
            buf: vec![0; 64 << 10],
            sent: 0,
            received: 0,
        }
    }

    /// The stream, what has arrived and is not a whole message yet, and the bytes written and
    /// read so far.
    pub fn into_parts(self) -> (S, MessageDecoder, u64, u64) {
        (self.stream, self.decoder, self.sent, self.received)
    }

    /// Bytes written to the stream so far (frames whole: headers included).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Bytes read from the stream so far.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Sends `message` (whole, then flushed).
    pub async fn send(&mut self, message: &Message) -> Result<(), ControlError> {
        let frame = message.to_frame();
        self.send_piece(&frame).await
    }

    /// Writes `piece` of a frame and flushes it: a caller that sends a frame in pieces (as
    /// a paced NIC lets its bytes go) writes them all, in order, before anything else.
    pub async fn send_piece(&mut self, piece: &[u8]) -> Result<(), ControlError> {
        self.stream.write_all(piece).await?;
        self.stream.flush().await?;
        self.sent += piece.len() as u64;
        Ok(())
    }

    /// The next message, or `None` if the peer closed the connection between messages (a
    /// close inside a message is an error).
    pub async fn recv(&mut self) -> Result<Option<Message>, ControlError> {
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(Some(m));
            }
            let n = self.stream.read(&mut self.buf).await?;
            self.received += n as u64;
            if n == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
            self.decoder.push(&self.buf[..n]);
        }
    }

    /// The next message, which must come.
    pub(crate) async fn expect(&mut self, what: &'static str) -> Result<Message, ControlError> {
        self.recv().await?.ok_or(ControlError::Closed(what))
    }
}

/// What the head told a node that joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The node's id.
    pub node: u32,
    /// How often it must send heartbeats, ns.
    pub heartbeat_ns: u64,
}

/// A node's side of joining: sends `hello` (a [`Message::Hello`]) and waits for the head's
/// answer.
pub async fn join<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    hello: &Message,
) -> Result<Welcome, ControlError> {
    conn.send(hello).await?;
    match conn.expect("the head's welcome").await? {
        Message::Welcome { node, heartbeat_ns } => Ok(Welcome { node, heartbeat_ns }),
        Message::Refused { reason } => Err(ControlError::Refused(reason)),
        other => Err(ControlError::Unexpected {
            expected: "a welcome",
            got: brief(&other),
        }),
    }
}

/// A node the head admitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// CPU slots.
    pub cpus: u32,
    /// Store capacity, bytes.
    pub store: u64,
    /// Its data plane's port.
    pub data_port: u16,
}

/// The head's list of nodes, sans-IO: who may join, with which id.
///
/// Invariant: at most `capacity` members, each id below `capacity`.
#[derive(Debug)]
pub struct Roster {
    capacity: u32,
    heartbeat_ns: u64,
    members: BTreeMap<u32, Member>,
    /// Ids below this are kept for nodes that ask for them (the head's own children); a node
    /// that asks for none gets the lowest free id from here on.
    reserved: u32,
}

impl Roster {
    /// A roster for a cluster of `capacity` nodes whose heartbeats come every
    /// `heartbeat_ns`.
    pub fn new(capacity: u32, heartbeat_ns: u64) -> Self {
        Roster {
            capacity,
            reserved: 0,
            heartbeat_ns,
            members: BTreeMap::new(),
        }
    }

    /// Keeps ids `0..n` for nodes that ask for them by id: a node that asks for none is
    /// given an id from `n` on.
    pub fn reserve(mut self, n: u32) -> Self {
        self.reserved = n.min(self.capacity);
        self
    }

    /// The members, by id.
    pub fn members(&self) -> &BTreeMap<u32, Member> {
        &self.members
    }

    /// The answer to `hello`: a welcome (the node is a member from now on) or a refusal.
    pub fn answer(&mut self, hello: &Message) -> Message {
        match self.admit(hello) {
            Ok(node) => Message::Welcome {
                node,
                heartbeat_ns: self.heartbeat_ns,
            },
            Err(reason) => Message::Refused { reason },
        }
    }

    fn admit(&mut self, hello: &Message) -> Result<u32, String> {
        let Message::Hello {
            cohort_version,
            node,
            cpus,
            store,
            data_port,
        } = hello
        else {
            return Err(format!("expected a hello, got {}", brief(hello)));
        };
        if cohort_version != env!("CARGO_PKG_VERSION") {
            return Err(format!(
                "the node runs cohort {cohort_version}, the head cohort {}",
                env!("CARGO_PKG_VERSION")
            ));
        }
        if *cpus == 0 || *store == 0 {
            return Err(format!(
                "a node needs a CPU and a store (it offers {cpus} CPUs and {store} bytes)"
            ));
        }
        let id = match node {
            Some(id) if *id >= self.capacity => {
                return Err(format!(
                    "node {id} asked for, but the cluster has nodes 0 to {}",
                    self.capacity - 1
                ));
            }
            Some(id) if self.members.contains_key(id) => {
                return Err(format!("node {id} has joined already"));
            }
            Some(id) => *id,
            None => (self.reserved..self.capacity)
                .find(|i| !self.members.contains_key(i))
                .ok_or_else(|| {
                    if self.reserved > 0 {
                        format!(
                            "the cluster's nodes {} to {} have joined (the head starts nodes 0 \
                             to {} itself)",
                            self.reserved,
                            self.capacity - 1,
                            self.reserved - 1
                        )
                    } else {
                        format!("the cluster has its {} nodes already", self.capacity)
                    }
                })?,
        };
        self.members.insert(
            id,
            Member {
                cpus: *cpus,
                store: *store,
                data_port: *data_port,
            },
        );
        Ok(id)
    }
}

/// The head's side of a node joining: reads its hello and answers it from `roster`. Returns
/// the node's id, or why it was not admitted (a refusal is sent first when the peer speaks
/// this protocol).
pub async fn admit<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    roster: &mut Roster,
) -> Result<u32, ControlError> {
    let hello = match conn.expect("a node's hello").await {
        Ok(m) => m,
        Err(e @ ControlError::Wire(_)) => {
            // The peer may speak another version: tell it in ours (its decoder names both).
            let _ = conn
                .send(&Message::Refused {
                    reason: e.to_string(),
                })
                .await;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let answer = roster.answer(&hello);
    conn.send(&answer).await?;
    match answer {
        Message::Welcome { node, .. } => Ok(node),
        Message::Refused { reason } => Err(ControlError::Refused(reason)),
        _ => unreachable!("an answer is a welcome or a refusal"),
    }
}

/// A message's kind, for errors.
pub(crate) fn brief(m: &Message) -> String {
    match m {
        Message::Hello { .. } => "a hello",
        Message::Welcome { .. } => "a welcome",
        Message::Refused { .. } => "a refusal",
        Message::Heartbeat { .. } => "a heartbeat",
        Message::Pull { .. } => "a pull",
        Message::Chunk { .. } => "a chunk",
        Message::Missing { .. } => "a missing object",
        Message::Setup { .. } => "a setup",
        Message::Ready => "a ready",
        Message::Assign { .. } => "an assignment",
        Message::Done { .. } => "a completion",
        Message::Fetch { .. } => "a fetch",
        Message::Fetched { .. } => "a fetched copy",
        Message::FetchFailed { .. } => "a failed fetch",
        Message::Remove { .. } => "a removal",
        Message::Put { .. } => "a put",
        Message::Spill { .. } => "a spill",
        Message::Restore { .. } => "a restore",
        Message::Unspill { .. } => "an unspill",
        Message::Stop => "a stop",
        Message::Stopped { .. } => "a report",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PROTOCOL_VERSION;
    use std::time::Duration;
    use tokio::net::{TcpListener, TcpStream};

    fn hello(node: Option<u32>) -> Message {
        Message::Hello {
            cohort_version: env!("CARGO_PKG_VERSION").to_string(),
            node,
            cpus: 2,
            store: 1 << 20,
            data_port: 4000,
        }
    }

    /// Runs `f`, failing the test after 10 s.
    fn run<F: std::future::Future<Output = ()>>(f: F) {
        crate::testing::run_bounded(Duration::from_secs(10), f);
    }

    /// The welcome of a roster with a 100 ns heartbeat.
    fn welcome(node: u32) -> Message {
        Message::Welcome {
            node,
            heartbeat_ns: 100,
        }
    }

    fn refused(m: Message) -> String {
        match m {
            Message::Refused { reason } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_roster_gives_ids_and_refuses_with_reasons() {
        let mut r = Roster::new(3, 100);
        assert_eq!(r.answer(&hello(Some(1))), welcome(1));
        assert_eq!(r.answer(&hello(None)), welcome(0));
        assert_eq!(
            refused(r.answer(&hello(Some(1)))),
            "node 1 has joined already"
        );
        assert_eq!(
            refused(r.answer(&hello(Some(5)))),
            "node 5 asked for, but the cluster has nodes 0 to 2"
        );
        let mut old = hello(None);
        if let Message::Hello { cohort_version, .. } = &mut old {
            *cohort_version = "0.0.1".to_string();
        }
        assert!(refused(r.answer(&old)).starts_with("the node runs cohort 0.0.1, the head"));
        assert_eq!(r.answer(&hello(None)), welcome(2));
        assert_eq!(
            refused(r.answer(&hello(None))),
            "the cluster has its 3 nodes already"
        );
        assert_eq!(r.members().len(), 3);
    }

    #[test]
    fn reserved_ids_are_kept_for_the_nodes_that_ask_for_them() {
        let mut r = Roster::new(3, 100).reserve(2);
        // A node that asks for no id, joining first, gets the first one not reserved.
        assert_eq!(r.answer(&hello(None)), welcome(2));
        assert_eq!(
            refused(r.answer(&hello(None))),
            "the cluster's nodes 2 to 2 have joined (the head starts nodes 0 to 1 itself)"
        );
        for id in [1, 0] {
            assert_eq!(r.answer(&hello(Some(id))), welcome(id));
        }
    }

    #[test]
    fn nodes_join_a_head_over_loopback_and_send_heartbeats() {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let head = async move {
                let mut roster = Roster::new(3, 100_000_000);
                let mut beats = Vec::new();
                for _ in 0..3 {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut conn = Connection::new(stream);
                    let node = admit(&mut conn, &mut roster).await.unwrap();
                    while let Some(m) = conn.recv().await.unwrap() {
                        beats.push((node, m));
                    }
                }
                beats
            };
            let nodes = async move {
                let mut ids = Vec::new();
                for asked in [Some(2), None, None] {
                    let mut conn = Connection::new(TcpStream::connect(addr).await.unwrap());
                    let w = join(&mut conn, &hello(asked)).await.unwrap();
                    for at_ns in [1, 2] {
                        conn.send(&Message::Heartbeat {
                            at_ns,
                            cpus_busy: w.node,
                            queued: 0,
                            store_used: 0,
                        })
                        .await
                        .unwrap();
                    }
                    ids.push(w.node);
                }
                ids
            };
            let (beats, ids) = tokio::join!(head, nodes);
            assert_eq!(ids, vec![2, 0, 1]);
            let seen: Vec<(u32, u64, u32)> = beats
                .iter()
                .map(|(n, m)| match m {
                    Message::Heartbeat {
                        at_ns, cpus_busy, ..
                    } => (*n, *at_ns, *cpus_busy),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                seen,
                vec![
                    (2, 1, 2),
                    (2, 2, 2),
                    (0, 1, 0),
                    (0, 2, 0),
                    (1, 1, 1),
                    (1, 2, 1)
                ]
            );
        });
    }

    #[test]
    fn a_stream_of_another_protocol_or_version_is_refused_without_a_crash() {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let head = async move {
                let mut roster = Roster::new(2, 1);
                let mut errors = Vec::new();
                for _ in 0..3 {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut conn = Connection::new(stream);
                    errors.push(admit(&mut conn, &mut roster).await.unwrap_err().to_string());
                }
                (errors, roster.members().len())
            };
            let peers = async move {
                // Not cohort at all.
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
                // A node of the next protocol version, as its hello's frame says.
                let mut frame = hello(None).to_frame();
                frame[4..6].copy_from_slice(&(PROTOCOL_VERSION + 1).to_le_bytes());
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&frame).await.unwrap();
                // The head refuses it in its own version: a node of another build would see
                // that version in the refusal's header, and its decoder would name both; read
                // here with this build's decoder, the refusal gives the reason.
                let mut conn = Connection::new(s);
                let answer = conn.recv().await.unwrap();
                // A truncated hello, then the connection closed.
                let frame = hello(None).to_frame();
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&frame[..frame.len() - 3]).await.unwrap();
                drop(s);
                answer
            };
            let ((errors, members), answer) = tokio::join!(head, peers);
            assert_eq!(members, 0);
            assert!(errors[0].contains("not a cohort frame"), "{errors:?}");
            assert!(
                errors[1].contains(&format!(
                    "the peer speaks wire protocol version {}",
                    PROTOCOL_VERSION + 1
                )),
                "{errors:?}"
            );
            assert!(
                errors[2].contains("the stream ended inside a frame"),
                "{errors:?}"
            );
            match answer {
                Some(Message::Refused { reason }) => {
                    assert!(reason.contains("wire protocol version"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        });
    }
}
