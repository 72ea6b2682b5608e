//! A control connection on a plain socket, once joining is over: read by the thread that waits
//! for it (blocking, or polled with others), written by whichever thread has something to say.
//! No thread hands messages to another on their way in or out, which on a machine where
//! waking a thread costs tens of microseconds is most of a task's round trip.

use crate::control::{Connection, ControlError};
use crate::message::{Message, MessageDecoder};
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Duration;

/// The reading side of a control connection, and what has arrived and is not a whole message
/// yet.
#[derive(Debug)]
pub struct Link {
    stream: TcpStream,
    decoder: MessageDecoder,
    buf: Vec<u8>,
    received: u64,
}

/// The writing side of a control connection: frames queued, and bytes written.
#[derive(Debug)]
pub struct Writer {
    stream: TcpStream,
    out: Vec<u8>,
    sent: u64,
}

/// What reading a non-blocking link found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadState {
    /// Nothing more for now.
    Waiting,
    /// The peer closed the connection between messages.
    Closed,
}

impl Link {
    /// The two sides of `conn` (a joined connection) on plain sockets, keeping what it had
    /// received and not decoded yet. Call within the runtime that made the connection.
    pub fn split(conn: Connection<tokio::net::TcpStream>) -> std::io::Result<(Link, Writer)> {
        let (stream, decoder, sent, received) = conn.into_parts();
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        let write = stream.try_clone()?;
        Ok((
            Link {
                stream,
                decoder,
                buf: vec![0; 64 << 10],
                received,
            },
            Writer {
                stream: write,
                out: Vec::new(),
                sent,
            },
        ))
    }

    /// Bytes read so far (counting those read while joining).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The next message, waiting for it; `None` if the peer closed the connection between
    /// messages.
    pub fn recv(&mut self) -> Result<Option<Message>, ControlError> {
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(Some(m));
            }
            let n = match self.stream.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            self.received += n as u64;
            if n == 0 {
                self.decoder.finish()?;
                return Ok(None);
            }
            self.decoder.push(&self.buf[..n]);
        }
    }

    /// Makes reads return at once when nothing has arrived (for [`Link::read_ready`]).
    pub fn set_nonblocking(&self) -> std::io::Result<()> {
        self.stream.set_nonblocking(true)
    }

    /// Reads what has arrived, without waiting, and hands `each` every whole message.
    pub fn read_ready(&mut self, each: &mut dyn FnMut(Message)) -> Result<ReadState, ControlError> {
        loop {
            while let Some(m) = self.decoder.next_message()? {
                each(m);
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.decoder.finish()?;
                    return Ok(ReadState::Closed);
                }
                Ok(n) => {
                    self.received += n as u64;
                    self.decoder.push(&self.buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(ReadState::Waiting),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Writer {
    /// Bytes written so far (counting those written while joining).
    pub fn bytes_sent(&self) -> u64 {
        self.sent
    }

    /// Queues `message` to be written.
    pub fn queue(&mut self, message: &Message) {
        self.out.extend_from_slice(&message.to_frame());
    }

    /// Whether queued bytes wait to be written.
    pub fn has_queued(&self) -> bool {
        !self.out.is_empty()
    }

    /// Closes the connection both ways (the peer reads its end; nothing queued is written).
    pub fn shutdown(&mut self) {
        self.out.clear();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Writes `message` and anything queued, waiting until the socket takes it all.
    pub fn send(&mut self, message: &Message) -> std::io::Result<()> {
        self.queue(message);
        self.flush()
    }

    /// Writes everything queued, waiting until the socket takes it all (on a blocking
    /// socket), or as much as it takes now (on a non-blocking one: the rest stays queued).
    pub fn flush(&mut self) -> std::io::Result<()> {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n as u64;
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Which of `links` (with the writers of their connections) are ready: waits until one can be
/// read, one whose writer has bytes queued can be written, or `timeout` passes (`None`: no
/// limit). Links marked `false` in `live` are left out. Returns, for each link, whether it
/// can be read and whether it can be written.
pub fn wait(
    links: &[(&Link, &Writer)],
    live: &[bool],
    timeout: Option<Duration>,
) -> std::io::Result<Vec<(bool, bool)>> {
    let mut fds = Vec::with_capacity(links.len());
    let mut index = Vec::with_capacity(links.len());
    for (i, (link, writer)) in links.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let mut events = PollFlags::POLLIN;
        if writer.has_queued() {
            events |= PollFlags::POLLOUT;
        }
        fds.push(PollFd::new(link.stream.as_fd(), events));
        index.push(i);
    }
    let mut ready = vec![(false, false); links.len()];
    if fds.is_empty() {
        if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        return Ok(ready);
    }
    let timeout = timeout.map(TimeSpec::from_duration);
    match ppoll(&mut fds, timeout, None) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok(ready),
        Err(e) => return Err(e.into()),
    }
    for (fd, &i) in fds.iter().zip(&index) {
        let r = fd.revents().unwrap_or(PollFlags::empty());
        let readable = r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        ready[i] = (readable, r.contains(PollFlags::POLLOUT));
    }
    Ok(ready)
}
