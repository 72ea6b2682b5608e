//! Frames: how one message crosses a byte stream, and how a stream of bytes is cut back into
//! messages, without trusting it.
//!
//! A frame is a fixed 16-byte header followed by its payload:
//!
//! | bytes | field | |
//! | --- | --- | --- |
//! | 0..4 | magic | `b"CHRT"` |
//! | 4..6 | version | [`PROTOCOL_VERSION`], little-endian |
//! | 6..8 | reserved | zero |
//! | 8..12 | length | payload bytes, little-endian, at most the decoder's limit |
//! | 12..16 | checksum | CRC-32 (IEEE) of the payload, little-endian |
//!
//! The decoder is sans-IO: it is handed bytes as they come ([`FrameDecoder::push`]) and gives
//! back whole payloads ([`FrameDecoder::next_frame`]). It checks the header before it waits
//! for (or allocates) a payload, so a peer of another version, a stream that is not cohort's,
//! or a length beyond the limit is refused at once with an error that says which; a payload
//! whose bytes changed on the way is refused by its checksum. A stream that ends inside a
//! frame is [`FrameError::Truncated`] ([`FrameDecoder::finish`]).

use thiserror::Error;

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"CHRT";

/// The version of the wire protocol this build speaks. A frame of another version is refused:
/// head and nodes must be the same build of cohort. (2: a node's counters carry its CPU
/// time.)
pub const PROTOCOL_VERSION: u16 = 2;

/// Bytes of a frame's header.
pub const HEADER_LEN: usize = 16;

/// The default largest payload: a 1 MB data chunk (Ray v0.6's chunk size) with room to spare,
/// or a control message.
pub const DEFAULT_MAX_PAYLOAD: u32 = 4 << 20;

/// Why bytes are not a frame.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// The stream is not cohort's wire protocol.
    #[error("not a cohort frame: it starts with {found:02x?}, not \"CHRT\"")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The peer speaks another version of the protocol.
    #[error(
        "the peer speaks wire protocol version {theirs}, this cohort speaks {ours}: run the same \
         build of cohort on the head and every node"
    )]
    Version {
        /// This build's version.
        ours: u16,
        /// The peer's.
        theirs: u16,
    },
    /// The reserved header bytes are not zero.
    #[error("a frame header's reserved bytes are {0:#06x}, not zero")]
    Reserved(u16),
    /// The payload is longer than the decoder accepts.
    #[error("a frame announces {len} bytes of payload, more than the {max} allowed")]
    TooLong {
        /// The announced length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// The payload's checksum does not match: its bytes changed on the way.
    #[error("a frame's payload ({len} bytes) does not match its checksum")]
    Checksum {
        /// The payload's length.
        len: u32,
    },
    /// The stream ended inside a frame.
    #[error("the stream ended inside a frame: {have} of its {needed} bytes arrived")]
    Truncated {
        /// Bytes of the frame that arrived.
        have: usize,
        /// Bytes the frame needs (its header, or header and payload).
        needed: usize,
    },
}

/// The frame carrying `payload`.
///
/// # Panics
/// If the payload is longer than `u32::MAX` bytes (the caller's limit is far below that).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a payload fits a u32 length");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A checked frame header.
#[derive(Clone, Copy, Debug)]
struct Header {
    len: u32,
    checksum: u32,
}

/// Cuts a byte stream into payloads. See the module documentation.
///
/// Invariant: `buf` holds the bytes pushed and not yet returned as frames; once an error has
/// been returned, every later call returns it again (a stream that went wrong is not resynced).
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_payload: u32,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_PAYLOAD)
    }
}

impl FrameDecoder {
    /// A decoder that accepts payloads of at most `max_payload` bytes.
    pub fn new(max_payload: u32) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max_payload,
            failed: None,
        }
    }

    /// Adds bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet returned in a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole payload, `None` if more bytes are needed, or why the stream is not
    /// cohort's frames.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let header = match self.header() {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        let total = HEADER_LEN + header.len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..total].to_vec();
        if crc32fast::hash(&payload) != header.checksum {
            return Err(self.fail(FrameError::Checksum { len: header.len }));
        }
        self.buf.drain(..total);
        Ok(Some(payload))
    }

    /// The stream ended: an error if it ended inside a frame (or had failed).
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let needed = if self.buf.len() < HEADER_LEN {
            HEADER_LEN
        } else {
            let len = u32::from_le_bytes(self.buf[8..12].try_into().expect("4 bytes"));
            HEADER_LEN + len as usize
        };
        Err(FrameError::Truncated {
            have: self.buf.len(),
            needed,
        })
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e.clone());
        e
    }

    /// The header at the front of the buffer, checked as far as its bytes have arrived: a
    /// wrong magic or version is refused before the rest of the header is there.
    fn header(&self) -> Result<Option<Header>, FrameError> {
        let b = &self.buf;
        let have = b.len().min(4);
        if b[..have] != MAGIC[..have] {
            let mut found = [0; 4];
            found[..have].copy_from_slice(&b[..have]);
            return Err(FrameError::BadMagic { found });
        }
        if b.len() >= 6 {
            let theirs = u16::from_le_bytes([b[4], b[5]]);
            if theirs != PROTOCOL_VERSION {
                return Err(FrameError::Version {
                    ours: PROTOCOL_VERSION,
                    theirs,
                });
            }
        }
        if b.len() < HEADER_LEN {
            return Ok(None);
        }
        let reserved = u16::from_le_bytes([b[6], b[7]]);
        if reserved != 0 {
            return Err(FrameError::Reserved(reserved));
        }
        let len = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if len > self.max_payload {
            return Err(FrameError::TooLong {
                len,
                max: self.max_payload,
            });
        }
        let checksum = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        Ok(Some(Header { len, checksum }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut d = FrameDecoder::default();
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(p) = d.next_frame()? {
            out.push(p);
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn a_frame_is_its_header_then_its_payload() {
        let f = encode(b"hello");
        assert_eq!(&f[..4], b"CHRT");
        assert_eq!(&f[4..6], &[2, 0]);
        assert_eq!(&f[6..8], &[0, 0]);
        assert_eq!(&f[8..12], &[5, 0, 0, 0]);
        assert_eq!(&f[12..16], &crc32fast::hash(b"hello").to_le_bytes());
        assert_eq!(&f[16..], b"hello");
        assert_eq!(decode_all(&f), Ok(vec![b"hello".to_vec()]));
        assert_eq!(decode_all(&encode(b"")), Ok(vec![Vec::new()]));
    }

    #[test]
    fn frames_arriving_byte_by_byte_come_out_whole_and_in_order() {
        let mut stream = encode(b"one");
        stream.extend(encode(&[7; 3000]));
        stream.extend(encode(b""));
        let mut d = FrameDecoder::default();
        let mut out = Vec::new();
        for b in &stream {
            d.push(std::slice::from_ref(b));
            while let Some(p) = d.next_frame().unwrap() {
                out.push(p);
            }
        }
        assert_eq!(out, vec![b"one".to_vec(), vec![7; 3000], Vec::new()]);
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn another_stream_is_refused_from_its_first_bytes() {
        let mut d = FrameDecoder::default();
        d.push(b"GE");
        assert_eq!(
            d.next_frame(),
            Err(FrameError::BadMagic {
                found: [b'G', b'E', 0, 0]
            })
        );
        // Once failed, always failed.
        d.push(&encode(b"x"));
        assert!(d.next_frame().is_err());
        assert!(d.finish().is_err());
        assert!(
            decode_all(b"GET / HTTP/1.1\r\n")
                .unwrap_err()
                .to_string()
                .starts_with("not a cohort frame")
        );
    }

    #[test]
    fn a_peer_of_another_version_is_refused_naming_both() {
        let mut f = encode(b"hi");
        f[4..6].copy_from_slice(&7u16.to_le_bytes());
        let e = decode_all(&f[..6]).unwrap_err();
        assert_eq!(e, FrameError::Version { ours: 2, theirs: 7 });
        assert_eq!(
            e.to_string(),
            "the peer speaks wire protocol version 7, this cohort speaks 2: run the same build \
             of cohort on the head and every node"
        );
    }

    #[test]
    fn a_length_beyond_the_limit_is_refused_before_its_payload_arrives() {
        let f = encode(&[0; 100]);
        let mut d = FrameDecoder::new(99);
        d.push(&f[..HEADER_LEN]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLong { len: 100, max: 99 })
        );
        let mut huge = encode(b"");
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_all(&huge),
            Err(FrameError::TooLong { len: u32::MAX, .. })
        ));
    }

    #[test]
    fn changed_bytes_fail_the_checksum_and_a_cut_stream_is_truncated() {
        let mut f = encode(b"payload");
        f[HEADER_LEN + 2] ^= 1;
        assert_eq!(decode_all(&f), Err(FrameError::Checksum { len: 7 }));
        let f = encode(b"payload");
        assert_eq!(
            decode_all(&f[..10]),
            Err(FrameError::Truncated {
                have: 10,
                needed: HEADER_LEN
            })
        );
        assert_eq!(
            decode_all(&f[..20]),
            Err(FrameError::Truncated {
                have: 20,
                needed: HEADER_LEN + 7
            })
        );
        let mut reserved = encode(b"x");
        reserved[6] = 1;
        assert_eq!(decode_all(&reserved), Err(FrameError::Reserved(1)));
    }

    proptest! {
        /// Any bytes at all: an answer, never a panic or an allocation beyond the limit.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_all(&bytes);
        }

        /// Frames cut at arbitrary points come out as they went in.
        #[test]
        fn frames_survive_any_cutting(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            cuts in proptest::collection::vec(1usize..64, 0..40),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| encode(p)).collect();
            let mut d = FrameDecoder::default();
            let mut out = Vec::new();
            let mut at = 0;
            let mut sizes = cuts.into_iter().chain(std::iter::repeat(17));
            while at < stream.len() {
                let n = sizes.next().unwrap_or(17).min(stream.len() - at);
                d.push(&stream[at..at + n]);
                at += n;
                while let Some(p) = d.next_frame().unwrap() {
                    out.push(p);
                }
            }
            prop_assert_eq!(out, payloads);
            prop_assert_eq!(d.finish(), Ok(()));
        }

        /// One flipped bit anywhere in a frame is an error, never a different payload.
        #[test]
        fn a_flipped_bit_is_caught(payload in proptest::collection::vec(any::<u8>(), 1..100), bit in 0usize..800) {
            let mut f = encode(&payload);
            let bit = bit % (f.len() * 8);
            f[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode_all(&f).is_err());
        }
    }
}
