//! The data plane between nodes (tokio): a node pulls an object from a peer, which sends it
//! in chunks, in order, paced by an optional token bucket so that a machine can emulate a
//! slower NIC (e.g. 1.25 or 10 Gbit/s on loopback).
//!
//! The frames and their bytes are counted on each [`Connection`]
//! ([`Connection::bytes_sent`], [`Connection::bytes_received`]): the socket bytes a live run
//! reports beside the transfers its core recorded.

use crate::control::{Connection, ControlError, brief};
use crate::message::Message;
use crate::shm::SharedStore;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

/// The most bytes a send takes from a [`RateLimit`] at once: a large send takes its tokens
/// a quantum at a time, so that a small send on another connection waits for at most a
/// quantum of each send ahead of it, as a NIC interleaves the packets of its flows. 64 KiB
/// is the largest segment a NIC with TCP segmentation offload is handed at once.
pub const QUANTUM: u64 = 64 * 1024;

/// A token bucket: sends at most `rate` bytes per second on average, and at most `burst`
/// bytes at once after a pause.
///
/// Invariant: `tokens` (bytes that may go now) never exceeds `burst`; it may go negative by
/// a [`QUANTUM`] per sender waiting (the debt is waited off before the sender's next take).
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

    /// Waits until `bytes` may be sent, taking them from the bucket a [`QUANTUM`] at a time
    /// (a take of 0 bytes waits off any debt).
    pub async fn take(&self, bytes: u64) {
        let mut left = bytes;
        loop {
            let now = left.min(QUANTUM);
            self.take_at_once(now).await;
            left -= now;
            if left == 0 {
                return;
            }
        }
    }

    /// Takes `bytes` from the bucket, then waits until its debt, if any, is paid off.
    async fn take_at_once(&self, bytes: u64) {
        let wait = {
            let mut s = self.state.lock().expect("not poisoned");
            let now = Instant::now();
            let refill =
                now.duration_since(s.1).as_nanos() as i128 * i128::from(self.rate) / 1_000_000_000;
            s.0 = (s.0 + refill).min(i128::from(self.burst));
            s.1 = now;
            s.0 -= i128::from(bytes);
            if s.0 >= 0 {
                None
            } else {
                let ns = (-s.0) * 1_000_000_000 / i128::from(self.rate);
                Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
            }
        };
        if let Some(d) = wait {
            tokio::time::sleep(d).await;
        }
    }
}

/// Serves a peer's pulls from `store` until it closes the connection: each object in chunks
/// of `chunk` bytes (at least 1), each paced by `limit` if there is one. Adds the object
/// bytes it sends to `served`.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    store: &Mutex<SharedStore>,
    chunk: usize,
    limit: Option<&RateLimit>,
    served: &AtomicU64,
) -> Result<(), ControlError> {
    let chunk = chunk.max(1);
    while let Some(m) = conn.recv().await? {
        let Message::Pull { object } = m else {
            return Err(ControlError::Unexpected {
                expected: "a pull",
                got: brief(&m),
            });
        };
        let held = store.lock().expect("not poisoned").get(object);
        let Some(bytes) = held else {
            conn.send(&Message::Missing { object }).await?;
            continue;
        };
        let total = bytes.len() as u64;
        let mut offset = 0;
        loop {
            let end = (offset + chunk).min(bytes.len());
            if let Some(l) = limit {
                l.take((end - offset) as u64).await;
            }
            conn.send(&Message::Chunk {
                object,
                offset: offset as u64,
                total,
                bytes: bytes[offset..end].to_vec(),
            })
            .await?;
            served.fetch_add((end - offset) as u64, Ordering::Relaxed);
            offset = end;
            if offset >= bytes.len() {
                break;
            }
        }
    }
    Ok(())
}

/// Why a pull got no object.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
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

/// Pulls `object` from the peer at the other end of `conn`: its bytes, whole.
pub async fn pull<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Connection<S>,
    object: u64,
) -> Result<Vec<u8>, PullError> {
    conn.send(&Message::Pull { object }).await?;
    let mut out: Vec<u8> = Vec::new();
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
                let expected = out.len() as u64;
                let fits = offset == expected && offset + bytes.len() as u64 <= total;
                if !fits {
                    return Err(PullError::OutOfOrder {
                        object,
                        offset,
                        len: bytes.len(),
                        total,
                        expected,
                    });
                }
                if out.is_empty() {
                    out.reserve_exact(usize::try_from(total).unwrap_or(0));
                }
                out.extend_from_slice(&bytes);
                if out.len() as u64 == total {
                    return Ok(out);
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
            serve(&mut conn, &store, chunk, limit.as_ref(), &served)
                .await
                .unwrap();
            (
                conn.bytes_sent(),
                conn.bytes_received(),
                served.into_inner(),
            )
        });
        let conn = Connection::new(TcpStream::connect(addr).await.unwrap());
        (conn, server)
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
    fn a_rate_limit_paces_the_chunks() {
        run(async {
            let data = vec![7u8; 2_000_000];
            let mut store = SharedStore::new(1 << 30);
            store.put(1, &data).unwrap();
            // 20 MB/s with a 100 KB burst: 2 MB take at least (2 MB - 100 KB) / 20 MB/s = 95 ms.
            let (mut conn, _server) =
                peer(store, 100_000, Some(RateLimit::new(20_000_000, 100_000))).await;
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
    fn a_small_send_waits_for_a_quantum_of_a_large_one_not_for_all_of_it() {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(async {
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
                // The large one still gets no more than the rate: a second for 1 MB and the
                // 100 bytes that went between (and at most a millisecond per quantum lost
                // to the timer's rounding, as the bucket holds no burst).
                assert!(
                    (Duration::from_micros(1_000_100)..Duration::from_millis(1_020))
                        .contains(&large),
                    "{large:?}"
                );
            });
    }

    #[test]
    fn a_peer_that_sends_chunks_out_of_order_is_refused() {
        run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let bad = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut conn = Connection::new(stream);
                conn.recv().await.unwrap();
                conn.send(&Message::Chunk {
                    object: 1,
                    offset: 5,
                    total: 10,
                    bytes: vec![0; 5],
                })
                .await
                .unwrap();
            });
            let mut conn = Connection::new(TcpStream::connect(addr).await.unwrap());
            let e = pull(&mut conn, 1).await.unwrap_err();
            assert_eq!(
                e.to_string(),
                "object 1: a chunk at 5 (5 bytes) of 10 where 0 was next"
            );
            bad.await.unwrap();
        });
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
                    serve(&mut conn, &store, 1000, None, &AtomicU64::new(0)).await
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
