//! Payloads: the bytes an object holds.

use bytes::Bytes;

/// The value of an object or inline argument.
///
/// A payload has real bytes that task code can read, and optionally a *modeled* tail: bytes
/// that count towards the object's size (store accounting, transfer time, cost model) but are
/// not materialised. A workload that moves 15 MiB per task can thus run millions of tasks
/// without touching 15 MiB of memory each time, while its small real part (an ingest
/// timestamp, a partial sum) stays exact. Cloning a payload never copies its bytes.
///
/// Invariant: `size() == bytes().len() + modeled_len()`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Payload {
    bytes: Bytes,
    modeled: u64,
}

impl Payload {
    /// A payload made only of real bytes.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Payload {
            bytes: bytes.into(),
            modeled: 0,
        }
    }

    /// A payload with real bytes `head` followed by `modeled` bytes that are accounted but not
    /// stored.
    pub fn modeled(head: impl Into<Bytes>, modeled: u64) -> Self {
        Payload {
            bytes: head.into(),
            modeled,
        }
    }

    /// A payload holding one little-endian `u64`.
    pub fn from_u64(v: u64) -> Self {
        Payload::from_bytes(Bytes::copy_from_slice(&v.to_le_bytes()))
    }

    /// A payload whose real bytes are `stamp` as a little-endian `u64`, followed by `modeled`
    /// bytes that are accounted but not stored. One allocation, which clones share (a payload
    /// built from a `Vec` allocates again at its first clone).
    pub fn stamped(stamp: u64, modeled: u64) -> Self {
        Payload {
            bytes: Bytes::from_owner(stamp.to_le_bytes()),
            modeled,
        }
    }

    /// A payload holding little-endian `i64`s.
    pub fn from_i64s(values: &[i64]) -> Self {
        let mut buf = Vec::with_capacity(values.len() * 8);
        for v in values {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        Payload::from_bytes(buf)
    }

    /// The real bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The modeled (not materialised) part, in bytes.
    pub fn modeled_len(&self) -> u64 {
        self.modeled
    }

    /// The size this payload counts for: real plus modeled bytes.
    #[inline]
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64 + self.modeled
    }

    /// The first eight real bytes as a little-endian `u64`, if there are eight.
    pub fn as_u64(&self) -> Option<u64> {
        let head: [u8; 8] = self.bytes.get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(head))
    }

    /// The `index`-th little-endian `i64` of the real bytes, if they hold that many whole
    /// words; [`Payload::as_i64s`] without building a list.
    #[inline]
    pub fn i64_at(&self, index: usize) -> Option<i64> {
        let word: [u8; 8] = self
            .bytes
            .get(index.checked_mul(8)?..index.checked_add(1)?.checked_mul(8)?)?
            .try_into()
            .ok()?;
        Some(i64::from_le_bytes(word))
    }

    /// The number of whole little-endian `i64`s in the real bytes.
    #[inline]
    pub fn i64_count(&self) -> usize {
        self.bytes.len() / 8
    }

    /// The real bytes read as little-endian `i64`s (a trailing partial word is ignored).
    pub fn as_i64s(&self) -> Vec<i64> {
        self.bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("chunks_exact gives 8 bytes")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_modeled_bytes() {
        let p = Payload::modeled(Bytes::from_static(b"abc"), 1000);
        assert_eq!(p.size(), 1003);
        assert_eq!(p.bytes().as_ref(), b"abc");
    }

    #[test]
    fn integer_round_trips() {
        assert_eq!(Payload::from_u64(42).as_u64(), Some(42));
        assert_eq!(Payload::from_i64s(&[1, -2, 3]).as_i64s(), vec![1, -2, 3]);
        assert_eq!(Payload::from_bytes(&b"short"[..]).as_u64(), None);
        let p = Payload::from_i64s(&[1, -2, 3]);
        assert_eq!(p.i64_count(), 3);
        assert_eq!(
            (0..4).map(|i| p.i64_at(i)).collect::<Vec<_>>(),
            vec![Some(1), Some(-2), Some(3), None]
        );
        let s = Payload::stamped(7, 100);
        assert_eq!((s.as_u64(), s.size()), (Some(7), 108));
        assert_eq!(s, Payload::modeled(7u64.to_le_bytes().to_vec(), 100));
    }
}
