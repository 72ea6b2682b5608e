//! The data plane between nodes (tokio): a node pulls an object from a peer, which sends it
//! in chunks, in order, paced by an optional token bucket so that a machine can emulate a
//! slower NIC (e.g. 1.25 or 10 Gbit/s on loopback). Connections stay open between pulls
//! ([`Pool`]).
//!
//! The frames and their bytes are counted as each pull is answered or arrives
//! ([`SocketBytes`]): the socket bytes a live run reports beside the transfers its core
//! recorded.

use crate::control::{Connection, ControlError, brief};
use crate::message::Message;
use crate::shm::{Landing, SharedStore};
use crate::timer::Timer;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The socket bytes (frames whole: headers included) a node's data plane has sent and
/// received, over every connection, serving and pulling.
///
/// Invariant: a connection's bytes are added once each, as each pull is answered (serving)
/// or its answer has arrived (pulling), and what is left when a served connection closes;
/// so a connection kept open between pulls is counted before it closes.
#[derive(Debug, Default)]
pub struct SocketBytes {
    sent: AtomicU64,
    received: AtomicU64,
}

impl SocketBytes {
    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Adds what `conn` has sent and received since `mark` (its counts then), and moves
    /// `mark` to its counts now.
    fn add<S: AsyncRead + AsyncWrite + Unpin>(&self, conn: &Connection<S>, mark: &mut (u64, u64)) {
        let now = (conn.bytes_sent(), conn.bytes_received());
        self.sent.fetch_add(now.0 - mark.0, Ordering::Relaxed);
        self.received.fetch_add(now.1 - mark.1, Ordering::Relaxed);
        *mark = now;
    }
}

/// The most bytes a send takes from a [`RateLimit`] at once: a large send takes its tokens
/// a quantum at a time, so that a small send on another connection waits for at most a
/// quantum of each send ahead of it, as a NIC interleaves the packets of its flows. 64 KiB
/// is the largest segment a NIC with TCP segmentation offload is handed at once.
pub const QUANTUM: u64 = 64 * 1024;

/// Bytes per chunk a node's data plane sends: a chunk's frame (its header and fields take
/// under 64 bytes) fits one [`QUANTUM`], so that both ends work on an object a quantum at a
/// time as its bytes go, rather than make or take apart a whole large frame before its first
/// byte leaves or after its last arrives. (A paced frame larger than a quantum is written a
/// quantum at a time.)
pub const CHUNK: usize = QUANTUM as usize - 64;

/// A token bucket: sends at most `rate` bytes per second on average, and at most `burst`
/// bytes at once after a pause.
///
/// Invariant: the tokens (bytes that may go now) never exceed `burst`; they may go negative
/// by a [`QUANTUM`] per sender waiting (the debt is waited off before the sender's next
/// take). Bytes beyond the burst go to a send that was owed them ([`Pacing`]) or are lost.
#[derive(Debug)]
pub struct RateLimit {
    rate: u64,
    burst: u64,
    state: Mutex<(i128, Instant)>,
}

impl RateLimit {
    /// A bucket of `burst` bytes (starting full) refilled at `rate` bytes per second (`rate`
    /// at least 1).
    pub fn new(rate: u64, burst: u64) -> Self {
        RateLimit {
            rate: rate.max(1),
            burst,
            state: Mutex::new((i128::from(burst), Instant::now())),
        }
    }

    /// The bucket of a NIC sending at `rate` bytes per second: a [`QUANTUM`] (one segment
    /// handed to the NIC) goes at once after a pause, everything else at the rate. What the
    /// sending thread loses to timers and the scheduler in the middle of a send is made up
    /// ([`Pacing`]), so the bucket needs no burst to keep its rate.
    pub fn nic(rate: u64) -> Self {
        RateLimit::new(rate, QUANTUM)
    }

    /// Waits until `bytes` may be sent, as a send of their own (see [`RateLimit::pace`]), on
    /// tokio's timer ([`Timer::coarse`], which follows a paused test clock).
    pub async fn take(&self, bytes: u64) {
        self.pace(bytes, &mut Pacing::default(), &mut Timer::coarse())
            .await;
    }

    /// Waits until `bytes`, the next of the send `pacing` follows, may be sent, taking them
    /// from the bucket a [`QUANTUM`] at a time (a take of 0 bytes waits off any debt). In
    /// the send's last [`PRECISE_TAIL`] it waits on `timer`, which should be precise
    /// ([`Timer::precise`]): a wait that ends late there delays the send's last bytes.
    pub async fn pace(&self, bytes: u64, pacing: &mut Pacing, timer: &mut Timer) {
        let mut left = bytes;
        loop {
            let now = left.min(QUANTUM);
            self.take_at_once(now, pacing, timer).await;
            left -= now;
            if left == 0 {
                return;
            }
        }
    }

    /// Takes `bytes` from `pacing`'s credit, then the bucket, then waits until the bucket's
    /// debt, if any, is paid off.
    async fn take_at_once(&self, bytes: u64, pacing: &mut Pacing, timer: &mut Timer) {
        let per_ns = |d: Duration| d.as_nanos() as i128 * i128::from(self.rate) / 1_000_000_000;
        let wait = {
            let mut s = self.state.lock().expect("not poisoned");
            let now = Instant::now();
            let filled = s.0 + per_ns(now.duration_since(s.1));
            let burst = i128::from(self.burst);
            // What the rate would have sent since the send's wait was due, out of what no one
            // took meanwhile (beyond the burst, which the bucket keeps).
            let owed = pacing
                .due
                .map_or(0, |due| per_ns(now.saturating_duration_since(due)));
            pacing.credit += owed.min(filled - burst).max(0);
            s.0 = filled.min(burst);
            s.1 = now;
            let from_credit = pacing.credit.min(i128::from(bytes));
            pacing.credit -= from_credit;
            s.0 -= i128::from(bytes) - from_credit;
            let wait = if s.0 >= 0 {
                Duration::ZERO
            } else {
                let ns = (-s.0) * 1_000_000_000 / i128::from(self.rate);
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            };
            pacing.due = Some(now + wait);
            wait
        };
        pacing.left = pacing.left.saturating_sub(bytes);
        let tail = u128::from(pacing.left) * 1_000_000_000
            <= PRECISE_TAIL.as_nanos() * u128::from(self.rate);
        if tail {
            timer.sleep(wait).await;
        } else if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// One send's place in a [`RateLimit`], across its takes: when its last take's wait was
/// due to end, and the bytes it is owed. A NIC with a send's bytes queued sends them at its
/// rate whatever the sending thread does, so a send whose thread comes back later than that
/// (its timer fires late, the host's scheduler runs the thread later still on busy cores,
/// and the thread writes each chunk to its socket between takes) is owed
/// the bytes the rate would have sent meanwhile, out of those no other send took: its credit,
/// spent before the bucket's tokens. A pause between sends is not owed: the credit ends with
/// the send, and the next starts from the bucket's burst.
///
/// It also counts the send's bytes not yet taken: only waits in its last [`PRECISE_TAIL`]
/// go on the precise timer, where a late wake would delay its end. Before that, tokio's
/// timer wakes it about once a millisecond, late, and the credit lets the bytes due
/// meanwhile go at once: a wake-up per millisecond instead of one per quantum, each of
/// which costs the host's cores (a paced node spent half again as much CPU per byte moved
/// when every wait was precise).
///
/// Invariant: `credit` is at least 0.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pacing {
    due: Option<Instant>,
    credit: i128,
    left: u64,
}

impl Pacing {
    /// The pacing of a send of `bytes` (a frame's few bytes beyond them count as its last).
    pub fn send(bytes: u64) -> Pacing {
        Pacing {
            left: bytes,
            ..Pacing::default()
        }
    }
}

/// How long before a paced send's end its waits go on the precise timer (see [`Pacing`]):
/// more than tokio's timer is late by (1.1 ms on average on this project's VM, under 2 ms at
/// the 90th percentile).
pub const PRECISE_TAIL: Duration = Duration::from_millis(2);

/// Serves a peer's pulls from `store` until it closes the connection: each object in chunks
/// of `chunk` bytes (at least 1), each paced by `limit` if there is one. Adds the object
/// bytes it sends to `served`, and the connection's bytes to `socket`. Runs on a tokio
/// runtime with I/O enabled: its pacing waits on a [`Timer::precise`].
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    store: &Mutex<SharedStore>,
    chunk: usize,
    limit: Option<&RateLimit>,
    served: &AtomicU64,
    socket: &SocketBytes,
) -> Result<(), ControlError> {
    let chunk = chunk.max(1);
    let mut mark = (conn.bytes_sent(), conn.bytes_received());
    let mut timer = Timer::precise();
    loop {
        let answered = answer(conn, store, chunk, (limit, &mut timer), served).await;
        socket.add(conn, &mut mark);
        if !answered? {
            return Ok(());
        }
    }
}

/// Answers the next pull on `conn` (see [`serve`]): false if the peer closed the
/// connection instead.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    store: &Mutex<SharedStore>,
    chunk: usize,
    (limit, timer): (Option<&RateLimit>, &mut Timer),
    served: &AtomicU64,
) -> Result<bool, ControlError> {
    let Some(m) = conn.recv().await? else {
        return Ok(false);
    };
    let Message::Pull { object } = m else {
        return Err(ControlError::Unexpected {
            expected: "a pull",
            got: brief(&m),
        });
    };
    let held = store.lock().expect("not poisoned").get(object);
    let Some(bytes) = held else {
        conn.send(&Message::Missing { object }).await?;
        return Ok(true);
    };
    let total = bytes.len() as u64;
    let mut offset = 0;
    let mut pacing = Pacing::send(total);
    let asked = Instant::now();
    loop {
        let end = (offset + chunk).min(bytes.len());
        let message = Message::Chunk {
            object,
            offset: offset as u64,
            total,
            bytes: bytes[offset..end].to_vec(),
        };
        match limit {
            // Each quantum of the frame goes as soon as its tokens are taken (a NIC sends
            // what it has been handed at its rate; it does not wait for a whole chunk).
            Some(l) => {
                for piece in message.to_frame().chunks(QUANTUM as usize) {
                    l.pace(piece.len() as u64, &mut pacing, timer).await;
                    conn.send_piece(piece).await?;
                }
            }
            None => conn.send(&message).await?,
        }
        served.fetch_add((end - offset) as u64, Ordering::Relaxed);
        if offset == 0 {
            // How long a pull waited for its first chunk to go (`RUST_LOG=cohort_live=debug`).
            tracing::debug!(
                object,
                total,
                first_us = asked.elapsed().as_micros() as u64,
                "first chunk sent"
            );
        }
        offset = end;
        if offset >= bytes.len() {
            tracing::debug!(
                object,
                total,
                served_us = asked.elapsed().as_micros() as u64,
                "served"
            );
            return Ok(true);
        }
    }
}

/// Why a pull got no object.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// No connection to the peer could be opened.
    #[error("cannot reach peer {target}: {source}")]
    Connect {
        /// The peer's address.
        target: String,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The peer does not hold the object.
    #[error("the peer does not hold object {0}")]
    Missing(u64),
    /// The peer's chunks do not add up to the object.
    #[error(
        "object {object}: a chunk at {offset} ({len} bytes) of {total} where {expected} was next"
    )]
    OutOfOrder {
        /// The object.
        object: u64,
        /// The chunk's offset.
        offset: u64,
        /// Its length.
        len: usize,
        /// The total it announced.
        total: u64,
        /// The offset expected.
        expected: u64,
    },
}

/// Connections to peers' data planes, kept open between pulls: a pull takes an idle one to
/// its peer, or opens one, and gives it back once the peer has answered in full (the object
/// whole, or word that it is missing). Opening a connection per object would cost every
/// transfer a handshake and the peer's accept: more round trips, and more threads woken on
/// both sides, than the request itself (Ray's object managers keep theirs open too).
///
/// Invariant: an idle connection is between answers (nothing of a pull left to read on it).
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Connection<TcpStream>>>>,
}

impl Pool {
    /// Pulls `object` from the peer at `target` (`host:port`): its bytes, whole, counting
    /// the socket bytes in `socket`. An idle connection the peer has closed meanwhile is
    /// dropped, and the pull made again on a new one.
    ///
    /// The bytes go to a sink that `sink` makes (a new one for each attempt), which is
    /// returned full.
    pub async fn pull<K: Sink>(
        &self,
        target: &str,
        object: u64,
        socket: &SocketBytes,
        sink: impl Fn() -> K,
    ) -> Result<K, PullError> {
        if let Some(mut conn) = self.take(target) {
            match pull_counted(&mut conn, object, socket, sink()).await {
                (Err(PullError::Control(_)), _) => {}
                (result, keep) => {
                    if keep {
                        self.give_back(target, conn);
                    }
                    return result;
                }
            }
        }
        let stream = TcpStream::connect(target)
            .await
            .map_err(|source| PullError::Connect {
                target: target.to_string(),
                source,
            })?;
        stream.set_nodelay(true).ok();
        let mut conn = Connection::new(stream);
        let (result, keep) = pull_counted(&mut conn, object, socket, sink()).await;
        if keep {
            self.give_back(target, conn);
        }
        result
    }

    /// An idle connection to `target`, if there is one.
    fn take(&self, target: &str) -> Option<Connection<TcpStream>> {
        self.idle
            .lock()
            .expect("not poisoned")
            .get_mut(target)
            .and_then(Vec::pop)
    }

    /// Keeps `conn` (between answers) for the next pull from `target`.
    fn give_back(&self, target: &str, conn: Connection<TcpStream>) {
        self.idle
            .lock()
            .expect("not poisoned")
            .entry(target.to_string())
            .or_default()
            .push(conn);
    }

    /// Idle connections kept, to every peer.
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .expect("not poisoned")
            .values()
            .map(Vec::len)
            .sum()
    }
}

/// [`pull`], adding `conn`'s bytes to `socket`: the result, and whether `conn` is between
/// answers again (the object arrived, or the peer said it is missing).
async fn pull_counted<S: AsyncRead + AsyncWrite + Unpin, K: Sink>(
    conn: &mut Connection<S>,
    object: u64,
    socket: &SocketBytes,
    mut sink: K,
) -> (Result<K, PullError>, bool) {
    let mut mark = (conn.bytes_sent(), conn.bytes_received());
    let result = pull_into(conn, object, &mut sink).await.map(|()| sink);
    socket.add(conn, &mut mark);
    let keep = matches!(result, Ok(_) | Err(PullError::Missing(_)));
    (result, keep)
}

/// Where [`pull_into`] puts an object's bytes: told the object's size with its first chunk,
/// then given every chunk, in order, each within that size.
pub trait Sink {
    /// The object has `total` bytes: called once, before any chunk.
    fn begin(&mut self, total: u64);
    /// The next chunk's bytes.
    fn extend(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn begin(&mut self, total: u64) {
        self.reserve_exact(usize::try_from(total).unwrap_or(0));
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink that lands a pulled object in a store as it arrives ([`SharedStore::landing`]):
/// an object of 64 KiB or more in a range of the store's arena, where it stays, when one is
/// free. [`put_landed`](crate::shm::put_landed) then stores it.
#[derive(Debug)]
pub struct IntoStore<'a> {
    store: &'a Mutex<SharedStore>,
    landing: Option<Landing>,
    /// A chunk did not fit where the object landed (more bytes than announced).
    overflow: bool,
}

impl<'a> IntoStore<'a> {
    /// A sink into `store`.
    pub fn new(store: &'a Mutex<SharedStore>) -> Self {
        IntoStore {
            store,
            landing: None,
            overflow: false,
        }
    }

    /// Where the object landed, once [`pull_into`] has put it all there; `None` if a chunk
    /// did not fit, or none came.
    pub fn landed(self) -> Option<Landing> {
        self.landing.filter(|_| !self.overflow)
    }
}

impl Sink for IntoStore<'_> {
    fn begin(&mut self, total: u64) {
        let landing = self
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .landing(total);
        self.landing = Some(landing);
    }

    fn extend(&mut self, bytes: &[u8]) {
        let pushed = self.landing.as_mut().is_some_and(|l| l.push(bytes));
        self.overflow |= !pushed;
    }
}

/// Pulls `object` from the peer at the other end of `conn`: its bytes, whole.
pub async fn pull<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    object: u64,
) -> Result<Vec<u8>, PullError> {
    let mut out = Vec::new();
    pull_into(conn, object, &mut out).await?;
    Ok(out)
}

/// Pulls `object` from the peer at the other end of `conn` into `sink`, whole (on an error,
/// `sink` holds what arrived before it).
pub async fn pull_into<S: AsyncRead + AsyncWrite + Unpin, K: Sink>(
    conn: &mut Connection<S>,
    object: u64,
    sink: &mut K,
) -> Result<(), PullError> {
    conn.send(&Message::Pull { object }).await?;
    // The size the first chunk announced, and the bytes received so far.
    let mut announced: Option<u64> = None;
    let mut received: u64 = 0;
    loop {
        match conn.expect("an object's chunks").await? {
            Message::Missing { object: o } if o == object => {
                return Err(PullError::Missing(object));
            }
            Message::Chunk {
                object: o,
                offset,
                total,
                bytes,
            } if o == object => {
                let fits = offset == received
                    && offset + bytes.len() as u64 <= total
                    && announced.is_none_or(|t| t == total);
                if !fits {
                    return Err(PullError::OutOfOrder {
                        object,
                        offset,
                        len: bytes.len(),
                        total,
                        expected: received,
                    });
                }
                if announced.is_none() {
                    announced = Some(total);
                    sink.begin(total);
                }
                sink.extend(&bytes);
                received += bytes.len() as u64;
                if received == total {
                    return Ok(());
                }
            }
            other => {
                return Err(ControlError::Unexpected {
                    expected: "a chunk of the object pulled",
                    got: brief(&other),
                }
                .into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    /// Runs `f`, failing the test after 20 s.
    fn run<F: std::future::Future<Output = ()>>(f: F) {
        crate::testing::run_bounded(Duration::from_secs(20), f);
    }

    /// A peer on loopback serving `store` (in `chunk`-byte chunks, paced by `limit`), and a
    /// connection to it; the served connection's byte counts come back when it closes.
    async fn peer(
        store: SharedStore,
        chunk: usize,
        limit: Option<RateLimit>,
    ) -> (
        Connection<TcpStream>,
        tokio::task::JoinHandle<(u64, u64, u64)>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Connection::new(stream);
            let store = Mutex::new(store);
            let served = AtomicU64::new(0);
            let socket = SocketBytes::default();
            serve(&mut conn, &store, chunk, limit.as_ref(), &served, &socket)
                .await
                .unwrap();
            assert_eq!(
                (socket.sent(), socket.received()),
                (conn.bytes_sent(), conn.bytes_received())
            );
            (socket.sent(), socket.received(), served.into_inner())
        });
        let conn = Connection::new(TcpStream::connect(addr).await.unwrap());
        (conn, server)
    }

    /// Runs `f` on tokio's paused clock (time jumps to the next timer when all wait).
    fn run_paused<F: std::future::Future<Output = ()>>(f: F) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(f);
    }

    /// [`peer`] with a store holding `data` as object 1, paced by `limit`.
    async fn peer_holding(
        data: &[u8],
        chunk: usize,
        limit: RateLimit,
    ) -> (
        Connection<TcpStream>,
        tokio::task::JoinHandle<(u64, u64, u64)>,
    ) {
        let mut store = SharedStore::new(1 << 30);
        store.put(1, data).unwrap();
        peer(store, chunk, Some(limit)).await
    }

    #[test]
    fn an_object_arrives_whole_in_chunks_and_every_socket_byte_is_counted() {
        run(async {
            let data: Vec<u8> = (0..5_000_003u32).map(|i| (i % 251) as u8).collect();
            let mut store = SharedStore::new(1 << 30);
            store.put(1, &data).unwrap();
            store.put(2, b"").unwrap();
            let (mut conn, server) = peer(store, 1_000_000, None).await;
            assert_eq!(pull(&mut conn, 1).await.unwrap(), data);
            assert!(matches!(
                pull(&mut conn, 3).await,
                Err(PullError::Missing(3))
            ));
            assert_eq!(pull(&mut conn, 2).await.unwrap(), Vec::<u8>::new());
            let (sent, received) = (conn.bytes_sent(), conn.bytes_received());
            drop(conn);
            let (served_sent, served_received, served) = server.await.unwrap();
            assert_eq!((served_sent, served_received), (received, sent));
            assert_eq!(served, data.len() as u64);
            // Six chunks of the 5 MB object, and two more answers: the object's bytes plus
            // each frame's header and encoding.
            assert!(received > data.len() as u64, "{received}");
            assert!(received < data.len() as u64 + 1_000, "{received}");
        });
    }

    #[test]
    fn a_pulled_object_lands_in_the_pulling_stores_arena() {
        run(async {
            let data: Vec<u8> = (0..3_000_001u32).map(|i| (i % 241) as u8).collect();
            let mut store = SharedStore::new(1 << 30);
            store.put(1, &data).unwrap();
            store.put(2, b"small").unwrap();
            let (mut conn, server) = peer(store, CHUNK, None).await;
            let into = Mutex::new(SharedStore::new(1 << 30));
            for (id, want) in [(1, &data[..]), (2, &b"small"[..])] {
                let mut sink = IntoStore::new(&into);
                pull_into(&mut conn, id, &mut sink).await.unwrap();
                let landing = sink.landed().unwrap();
                // The large object in place in the arena, the small one in a buffer.
                assert_eq!(matches!(landing, Landing::Arena(_)), id == 1);
                let (object, _) = crate::shm::put_landed(&into, id, landing).unwrap();
                assert_eq!(&object[..], want);
                assert_eq!(&into.lock().unwrap().get(id).unwrap()[..], want);
            }
            // A sink that got no chunk has landed nothing.
            let mut sink = IntoStore::new(&into);
            assert!(matches!(
                pull_into(&mut conn, 3, &mut sink).await,
                Err(PullError::Missing(3))
            ));
            assert!(sink.landed().is_none());
            drop(conn);
            server.await.unwrap();
        });
        // More bytes than announced, where the range has no room for them: nothing landed.
        let into = Mutex::new(SharedStore::new(1 << 20));
        let mut sink = IntoStore::new(&into);
        sink.begin(1 << 16);
        sink.extend(&[1; 1 << 16]);
        sink.extend(&[2]);
        assert!(sink.landed().is_none());
    }

    /// A data plane on loopback serving `store` to every connection it accepts, each closed
    /// by the server after `pulls` answered pulls (or when the peer closes it, or sends
    /// something else); its address, how many connections it accepted, and its socket
    /// bytes.
    async fn plane(
        store: SharedStore,
        pulls: usize,
    ) -> (
        String,
        std::sync::Arc<AtomicU64>,
        std::sync::Arc<SocketBytes>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let accepted = std::sync::Arc::new(AtomicU64::new(0));
        let socket = std::sync::Arc::new(SocketBytes::default());
        let store = std::sync::Arc::new(Mutex::new(store));
        let (a, b) = (accepted.clone(), socket.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::Relaxed);
                let (store, socket) = (store.clone(), b.clone());
                tokio::spawn(async move {
                    let mut conn = Connection::new(stream);
                    // A server that answers `pulls` pulls, then closes: a limited peer.
                    let mut mark = (0, 0);
                    for _ in 0..pulls {
                        let Ok(Some(Message::Pull { object })) = conn.recv().await else {
                            break;
                        };
                        let bytes = store.lock().unwrap().get(object).unwrap();
                        let total = bytes.len() as u64;
                        conn.send(&Message::Chunk {
                            object,
                            offset: 0,
                            total,
                            bytes: bytes.to_vec(),
                        })
                        .await
                        .unwrap();
                        socket.add(&conn, &mut mark);
                    }
                });
            }
        });
        (addr, accepted, socket)
    }

    #[test]
    fn a_pool_pulls_one_object_after_another_on_one_connection() {
        run(async {
            let mut store = SharedStore::new(1 << 30);
            for i in 1..=3u64 {
                store.put(i, &vec![i as u8; 1000 * i as usize]).unwrap();
            }
            let (addr, accepted, served) = plane(store, usize::MAX).await;
            let pool = Pool::default();
            let socket = SocketBytes::default();
            for i in 1..=3u64 {
                let bytes = pool.pull(&addr, i, &socket, Vec::new).await.unwrap();
                assert_eq!(bytes, vec![i as u8; 1000 * i as usize]);
                assert_eq!(pool.idle(), 1);
            }
            assert_eq!(accepted.load(Ordering::Relaxed), 1);
            // Both sides counted every pull's bytes while the connection stayed open: the
            // three pulls and their answers, more than the 6,000 object bytes.
            assert_eq!(
                (socket.sent(), socket.received()),
                (served.received(), served.sent())
            );
            assert!((6_000..7_000).contains(&socket.received()), "{socket:?}");
        });
    }

    #[test]
    fn a_pool_replaces_a_connection_its_peer_closed_and_opens_one_per_pull_at_once() {
        run(async {
            let mut store = SharedStore::new(1 << 30);
            store.put(1, b"one").unwrap();
            store.put(2, b"two").unwrap();
            // The peer closes each connection after one answer.
            let (addr, accepted, _) = plane(store, 1).await;
            let pool = Pool::default();
            let socket = SocketBytes::default();
            assert_eq!(
                pool.pull(&addr, 1, &socket, Vec::new).await.unwrap(),
                b"one"
            );
            assert_eq!(pool.idle(), 1);
            // The idle connection is closed: the pull goes again on a new one.
            assert_eq!(
                pool.pull(&addr, 2, &socket, Vec::new).await.unwrap(),
                b"two"
            );
            assert_eq!(accepted.load(Ordering::Relaxed), 2);
            assert_eq!(pool.idle(), 1);
            // Two pulls at once take a connection each (the idle one, closed, and a new
            // one for the first; a new one for the second).
            let (a, b) = tokio::join!(
                pool.pull(&addr, 1, &socket, Vec::new),
                pool.pull(&addr, 2, &socket, Vec::new)
            );
            assert_eq!((a.unwrap(), b.unwrap()), (b"one".to_vec(), b"two".to_vec()));
            assert_eq!(accepted.load(Ordering::Relaxed), 4);
            assert_eq!(pool.idle(), 2);
        });
    }

    #[test]
    fn a_pool_names_a_peer_it_cannot_reach_and_keeps_a_connection_whose_object_was_missing() {
        run(async {
            // A port nobody listens on: bound, then closed.
            let addr = {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                l.local_addr().unwrap().to_string()
            };
            let pool = Pool::default();
            let e = pool
                .pull(&addr, 1, &SocketBytes::default(), Vec::new)
                .await
                .unwrap_err();
            assert!(matches!(e, PullError::Connect { .. }), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("cannot reach peer {addr}: ")),
                "{e}"
            );
            // A missing object leaves the connection between answers: it is kept.
            let addr = {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap().to_string();
                tokio::spawn(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut conn = Connection::new(stream);
                    let store = Mutex::new(SharedStore::new(1 << 20));
                    let _ = serve(
                        &mut conn,
                        &store,
                        1000,
                        None,
                        &AtomicU64::new(0),
                        &SocketBytes::default(),
                    )
                    .await;
                });
                addr
            };
            let e = pool
                .pull(&addr, 9, &SocketBytes::default(), Vec::new)
                .await
                .unwrap_err();
            assert!(matches!(e, PullError::Missing(9)), "{e}");
            assert_eq!(pool.idle(), 1);
        });
    }

    #[test]
    fn a_rate_limit_paces_the_chunks() {
        run(async {
            let data = vec![7u8; 2_000_000];
            // 20 MB/s with a 100 KB burst: 2 MB take at least (2 MB - 100 KB) / 20 MB/s = 95 ms.
            let (mut conn, _server) =
                peer_holding(&data, 100_000, RateLimit::new(20_000_000, 100_000)).await;
            let started = Instant::now();
            assert_eq!(pull(&mut conn, 1).await.unwrap().len(), data.len());
            assert!(
                started.elapsed() >= Duration::from_millis(95),
                "{:?}",
                started.elapsed()
            );
        });
    }

    #[test]
    fn a_chunks_frame_fits_one_quantum_whatever_its_fields() {
        let frame = Message::Chunk {
            object: u64::MAX,
            offset: u64::MAX,
            total: u64::MAX,
            bytes: vec![0; CHUNK],
        }
        .to_frame();
        assert!(frame.len() as u64 <= QUANTUM, "{}", frame.len());
    }

    #[test]
    fn a_paced_chunk_leaves_a_quantum_at_a_time_not_once_all_its_tokens_are_taken() {
        use tokio::io::AsyncReadExt;
        run(async {
            let data = vec![7u8; 1_000_000];
            // 10 MB/s: the chunk's frame takes (frame - 64 KiB) / 10 MB/s, about 93.4 ms, of
            // tokens; its first quantum goes at once, not after them.
            let (mut conn, _server) =
                peer_holding(&data, 1_000_000, RateLimit::nic(10_000_000)).await;
            let frame = Message::Chunk {
                object: 1,
                offset: 0,
                total: 1_000_000,
                bytes: data,
            }
            .to_frame()
            .len();
            conn.send(&Message::Pull { object: 1 }).await.unwrap();
            let started = Instant::now();
            let (mut stream, ..) = conn.into_parts();
            let mut buf = vec![0; 1 << 16];
            let mut read = stream.read(&mut buf).await.unwrap();
            let first = started.elapsed();
            assert!(
                read > 0 && first < Duration::from_millis(60),
                "{read} bytes after {first:?}"
            );
            while read < frame {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the peer closed after {read} of {frame} bytes");
                read += n;
            }
            let wait = Duration::from_nanos((frame as u64 - QUANTUM) * 100);
            assert!(started.elapsed() >= wait, "{:?}", started.elapsed());
        });
    }

    #[test]
    fn only_a_sends_last_two_milliseconds_wait_on_the_precise_timer() {
        run(async {
            // 100 MB/s: a quantum every 655 µs, 4 MiB in about 41 ms, 64 quanta.
            let size = 4 << 20;
            let limit = RateLimit::nic(100_000_000);
            let mut timer = Timer::precise();
            let started = Instant::now();
            limit.pace(size, &mut Pacing::send(size), &mut timer).await;
            let ideal = Duration::from_nanos((size - QUANTUM) * 10);
            assert!(started.elapsed() >= ideal, "{:?}", started.elapsed());
            // The last 2 ms at 100 MB/s are 200 KB: at most 4 quanta, and the one that
            // crosses into them (fewer if a late wake's credit sends them at once).
            assert!(timer.precise_waits() <= 5, "{}", timer.precise_waits());
            // A send that does not say its size waits on the precise timer throughout.
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut timer = Timer::precise();
            limit.pace(size, &mut Pacing::default(), &mut timer).await;
            assert!(timer.precise_waits() >= 32, "{}", timer.precise_waits());
        });
    }

    #[test]
    fn a_small_send_waits_for_a_quantum_of_a_large_one_not_for_all_of_it() {
        run_paused(async {
            // 1 MB/s and no burst: every byte is waited for, on tokio's paused clock.
            let limit = std::sync::Arc::new(RateLimit::new(1_000_000, 0));
            let start = Instant::now();
            let large = {
                let limit = limit.clone();
                tokio::spawn(async move {
                    limit.take(1_000_000).await;
                    start.elapsed()
                })
            };
            // The large send takes its first quantum and waits it off.
            tokio::task::yield_now().await;
            limit.take(100).await;
            let small = start.elapsed();
            let large = large.await.unwrap();
            // The small send waits for the large one's first quantum and its own bytes
            // (65.636 ms; tokio's timer rounds up to the millisecond), not for its whole
            // megabyte.
            assert!(
                (Duration::from_micros(65_636)..Duration::from_millis(70)).contains(&small),
                "{small:?}"
            );
            // The large one gets the rate, no more and no less: a second for 1 MB and the
            // 100 bytes that went between, and the timer's last late wake-up; the earlier
            // ones are made up (without that, up to a millisecond per quantum).
            assert!(
                (Duration::from_micros(1_000_100)..Duration::from_millis(1_002)).contains(&large),
                "{large:?}"
            );
        });
    }

    #[test]
    fn a_nic_sends_a_quantum_at_once_after_a_pause_and_makes_up_late_wake_ups() {
        run_paused(async {
            // 10 MB/s: 1 MB after a pause takes (1 MB - 64 KiB) / 10 MB/s = 93.4464 ms,
            // not nothing (as a burst of a whole chunk would let it).
            let slow = RateLimit::nic(10_000_000);
            let start = Instant::now();
            slow.take(1_000_000).await;
            let took = start.elapsed();
            assert!(
                (Duration::from_nanos(93_446_400)..Duration::from_millis(95)).contains(&took),
                "{took:?}"
            );
            // 10 Gbit/s: 1.25 MB takes (1.25 MB - 64 KiB) / 1.25 GB/s = 947.6 us. tokio's
            // timer wakes the send a millisecond late at each wait, and what the rate
            // would have sent meanwhile is made up: it is done at the first wake-up, not
            // one late wake-up per quantum (18 ms).
            let fast = RateLimit::nic(1_250_000_000);
            tokio::time::sleep(Duration::from_millis(10)).await;
            for _ in 0..2 {
                let start = Instant::now();
                fast.take(1_250_000).await;
                let took = start.elapsed();
                assert!(
                    (Duration::from_nanos(947_571)..Duration::from_millis(2)).contains(&took),
                    "{took:?}"
                );
                // A pause between sends is not made up: the next starts from the burst.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    #[test]
    fn a_peer_that_sends_chunks_out_of_order_is_refused() {
        // (offset, total) of each chunk of 5 bytes, and the error.
        let cases: [(&[(u64, u64)], &str); 2] = [
            (
                &[(5, 10)],
                "object 1: a chunk at 5 (5 bytes) of 10 where 0 was next",
            ),
            // A size that changes after the first chunk.
            (
                &[(0, 10), (5, 20)],
                "object 1: a chunk at 5 (5 bytes) of 20 where 5 was next",
            ),
        ];
        for (chunks, error) in cases {
            run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let bad = tokio::spawn(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut conn = Connection::new(stream);
                    conn.recv().await.unwrap();
                    for &(offset, total) in chunks {
                        conn.send(&Message::Chunk {
                            object: 1,
                            offset,
                            total,
                            bytes: vec![0; 5],
                        })
                        .await
                        .unwrap();
                    }
                });
                let mut conn = Connection::new(TcpStream::connect(addr).await.unwrap());
                let e = pull(&mut conn, 1).await.unwrap_err();
                assert_eq!(e.to_string(), error);
                bad.await.unwrap();
            });
        }
    }

    #[test]
    fn a_server_refuses_garbage_and_truncated_pulls_without_a_crash() {
        use tokio::io::AsyncWriteExt;
        run(async {
            for bad in [
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                Message::Pull { object: 1 }.to_frame()[..10].to_vec(),
                Message::Ready.to_frame(),
            ] {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let server = tokio::spawn(async move {
                    let (stream, _) = listener.accept().await.unwrap();
                    let mut conn = Connection::new(stream);
                    let store = Mutex::new(SharedStore::new(1 << 20));
                    let socket = SocketBytes::default();
                    let objects = AtomicU64::new(0);
                    let result = serve(&mut conn, &store, 1000, None, &objects, &socket).await;
                    // What arrived before the refusal is counted all the same.
                    assert!(socket.received() > 0);
                    assert_eq!(socket.received(), conn.bytes_received());
                    result
                });
                let mut peer = TcpStream::connect(addr).await.unwrap();
                peer.write_all(&bad).await.unwrap();
                drop(peer);
                let e = server.await.unwrap().unwrap_err();
                assert!(
                    matches!(e, ControlError::Wire(_) | ControlError::Unexpected { .. }),
                    "{e}"
                );
            }
        });
    }
}
