//! [`IdMap`]: a map from ids handed out in ascending order to values, for the core's tables.

use rustc_hash::FxHashMap;

/// A map from `u64` ids to values, for ids that are handed out ascending and mostly removed
/// in roughly the order they were inserted (the core's tasks and objects).
///
/// Recent ids live in a window of slots indexed by `id - base`, so that inserting, finding
/// and removing one is a subtraction and an index rather than a hash, and a value is not
/// moved while it stays (a hash table moves its values when it grows). Ids older than the
/// window (stragglers: an object the driver holds for the whole run, a task waiting long
/// for its arguments) are moved into a hash map, so that one old id never keeps a window of
/// mostly empty slots alive.
///
/// How sparse the window may get is `SPARSE`: a map whose ids are mostly all present (the
/// task table, the directory) keeps the default, 4; one that holds a scattered subset of the
/// ids (a store: the objects of one node) a larger one, so that it does not keep moving
/// values out of the window.
///
/// Invariants: `slots[i]` holds the value of id `base + i`, if any; `slots[..head]` are
/// empty (they are dropped only when the slots would otherwise grow), and `slots` is empty
/// if `live` is 0; at least one in `SPARSE` of `slots[head..]` is occupied once it has
/// `MIN_COMPACT` slots; `live` counts the occupied slots; `old` holds only ids below
/// `base + head` (stragglers moved out of the window), so at most one of `slots` and `old`
/// holds a given id. [`IdMap::iter`] visits the values in no particular order (the window's,
/// then `old`'s): a caller whose result depends on the order sorts what it finds by a total
/// order.
#[derive(Debug)]
pub(super) struct IdMap<V, const SPARSE: usize = 4> {
    slots: Vec<Option<V>>,
    base: u64,
    head: usize,
    live: usize,
    old: FxHashMap<u64, V>,
}

impl<V, const SPARSE: usize> Default for IdMap<V, SPARSE> {
    fn default() -> Self {
        IdMap {
            slots: Vec::new(),
            base: 0,
            head: 0,
            live: 0,
            old: FxHashMap::default(),
        }
    }
}

/// Windows smaller than this are never compacted.
const MIN_COMPACT: usize = 64;

impl<V, const SPARSE: usize> IdMap<V, SPARSE> {
    /// Number of values held.
    pub(super) fn len(&self) -> usize {
        self.live + self.old.len()
    }

    /// The value of `id`.
    #[inline]
    pub(super) fn get(&self, id: u64) -> Option<&V> {
        match self.slots.get(id.wrapping_sub(self.base) as usize) {
            Some(Some(value)) => Some(value),
            _ if self.old.is_empty() => None,
            _ => self.old.get(&id),
        }
    }

    /// The value of `id`, to change.
    #[inline]
    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        match self.slots.get_mut(id.wrapping_sub(self.base) as usize) {
            Some(Some(value)) => Some(value),
            _ if self.old.is_empty() => None,
            _ => self.old.get_mut(&id),
        }
    }

    /// Every id and its value, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        let window = self.slots[self.head..]
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((self.base + (self.head + i) as u64, v.as_ref()?)));
        window.chain(self.old.iter().map(|(&id, v)| (id, v)))
    }

    /// Whether `id` has a value.
    pub(super) fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// Sets the value of `id` if it has none, and returns true; returns false (dropping
    /// `value`, changing nothing) if it has one.
    #[inline]
    pub(super) fn try_insert(&mut self, id: u64, value: V) -> bool {
        if self.contains(id) {
            return false;
        }
        self.insert(id, value);
        true
    }

    /// Sets the value of `id`, which must have none. Cheapest for an id above every id held.
    #[inline]
    pub(super) fn insert(&mut self, id: u64, value: V) {
        if self.live == 0 && id >= self.base {
            self.slots.clear();
            self.base = id;
            self.head = 0;
        }
        if id < self.base {
            let old = self.old.insert(id, value);
            debug_assert!(old.is_none(), "id {id} inserted twice");
            return;
        }
        let mut i = (id - self.base) as usize;
        let mut len = self.slots.len();
        if i >= len && len == self.slots.capacity() && self.head * 4 >= len * 3 {
            // Full, and mostly empty slots at the front: reuse them rather than grow.
            i -= self.head;
            len -= self.head;
            self.drop_front();
        }
        if i == len {
            self.slots.push(Some(value));
        } else if i > len && i - len >= MIN_COMPACT && i - len > (self.live + 1) * SPARSE {
            // Growing the window to `id` would leave it mostly empty (a store that held old
            // ids receives a much newer one): its values become stragglers, and the window
            // starts again at `id`, rather than allocating the whole gap.
            self.rebase(id);
            self.slots.push(Some(value));
        } else if i > len {
            self.slots.resize_with(i, || None);
            self.slots.push(Some(value));
        } else {
            let slot = &mut self.slots[i];
            debug_assert!(slot.is_none(), "id {id} inserted twice");
            *slot = Some(value);
            self.head = self.head.min(i);
        }
        self.live += 1;
        if self.slots.len() - self.head >= MIN_COMPACT
            && self.live * SPARSE < self.slots.len() - self.head
        {
            self.compact();
        }
    }

    /// Removes and returns the value of `id`.
    #[inline]
    pub(super) fn remove(&mut self, id: u64) -> Option<V> {
        let i = id.wrapping_sub(self.base) as usize;
        if let Some(slot @ Some(_)) = self.slots.get_mut(i) {
            let value = slot.take();
            self.vacated(i);
            return value;
        }
        if self.old.is_empty() {
            None
        } else {
            self.old.remove(&id)
        }
    }

    /// Removes the value of `id` and drops it where it lies; returns whether there was one.
    #[inline]
    pub(super) fn discard(&mut self, id: u64) -> bool {
        let i = id.wrapping_sub(self.base) as usize;
        if let Some(slot @ Some(_)) = self.slots.get_mut(i) {
            *slot = None;
            self.vacated(i);
            return true;
        }
        !self.old.is_empty() && self.old.remove(&id).is_some()
    }

    /// Slot `i` was just emptied: move past the empty slots at the front.
    #[inline]
    fn vacated(&mut self, i: usize) {
        self.live -= 1;
        if self.live == 0 {
            self.base += self.slots.len() as u64;
            self.slots.clear();
            self.head = 0;
        } else if i == self.head {
            // Some later slot is occupied, so this stops inside `slots`.
            while self.slots[self.head].is_none() {
                self.head += 1;
            }
        }
    }

    /// Drops the empty slots before `head`, moving the rest to the front. Called only when
    /// the slots are full and at least three quarters of them are dropped, so a slot is
    /// moved at most once for every three insertions.
    #[cold]
    fn drop_front(&mut self) {
        self.slots.drain(..self.head);
        self.base += self.head as u64;
        self.head = 0;
    }

    /// Moves every value of the window to the stragglers and starts an empty window at `id`
    /// (releasing a window much larger than what it held).
    #[cold]
    fn rebase(&mut self, id: u64) {
        for (k, slot) in self.slots.iter_mut().enumerate().skip(self.head) {
            if let Some(v) = slot.take() {
                self.old.insert(self.base + k as u64, v);
            }
        }
        self.live = 0;
        self.slots.clear();
        if self.slots.capacity() > 4 * MIN_COMPACT {
            self.slots.shrink_to(MIN_COMPACT);
        }
        self.base = id;
        self.head = 0;
    }

    /// Moves stragglers out of a window that is mostly empty, until at least two in `SPARSE`
    /// of it are occupied. Each value moves at most once, so this costs O(1) amortized per
    /// insertion.
    #[cold]
    fn compact(&mut self) {
        while self.live * (SPARSE / 2) < self.slots.len() - self.head {
            if let Some(v) = self.slots[self.head].take() {
                self.old.insert(self.base + self.head as u64, v);
                self.live -= 1;
            }
            self.head += 1;
        }
        while self.head < self.slots.len() && self.slots[self.head].is_none() {
            self.head += 1;
        }
        if self.live == 0 {
            self.base += self.slots.len() as u64;
            self.slots.clear();
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_in_and_out_of_order() {
        let mut m: IdMap<u64> = IdMap::default();
        for id in 1..=10u64 {
            m.insert(id, id * 10);
        }
        assert_eq!(m.len(), 10);
        assert_eq!(m.remove(4), Some(40));
        assert_eq!(m.remove(4), None);
        assert_eq!(m.remove(1), Some(10));
        assert_eq!(m.get(2), Some(&20));
        assert_eq!(m.get(1), None);
        // An id with a gap before it, then one filling a slot of the gap.
        m.insert(15, 150);
        m.insert(12, 120);
        assert_eq!(m.get(12), Some(&120));
        assert_eq!(m.get(13), None);
        assert_eq!(m.remove(15), Some(150));
        assert_eq!(m.get(15), None);
        *m.get_mut(2).unwrap() += 1;
        assert_eq!(m.get(2), Some(&21));
        assert_eq!(m.len(), 9);
        assert!(m.contains(12));
        assert!(!m.contains(100));
        // A second insertion of an id held changes nothing.
        assert!(!m.try_insert(12, 0));
        assert_eq!(m.get(12), Some(&120));
        assert!(m.try_insert(13, 130));
        assert_eq!(m.len(), 10);
    }

    #[test]
    fn a_straggler_moves_out_of_the_window_and_stays_reachable() {
        // Id 1 stays while 100 others at a time come and go, first in first out.
        let mut m: IdMap<u64> = IdMap::default();
        m.insert(1, 1u64);
        for id in 2..10_000u64 {
            m.insert(id, id);
            if id > 101 {
                assert_eq!(m.remove(id - 100), Some(id - 100));
            }
            let window = m.slots.len() - m.head;
            assert!(window <= 4 * 101 + MIN_COMPACT, "window {window}");
            assert!(m.slots.capacity() <= 16 * (4 * 101 + MIN_COMPACT));
        }
        assert_eq!(m.get(1), Some(&1));
        assert!(!m.try_insert(1, 2), "a straggler is found too");
        let mut all: Vec<(u64, u64)> = m.iter().map(|(id, &v)| (id, v)).collect();
        all.sort_unstable();
        let mut want = vec![(1, 1)];
        want.extend((9_900..10_000u64).map(|id| (id, id)));
        assert_eq!(all, want);
        for id in 9_900..10_000u64 {
            assert_eq!(m.remove(id), Some(id));
        }
        assert_eq!(m.len(), 1);
        assert!(m.discard(1));
        assert!(!m.discard(1));
        m.insert(1, 1);
        // An id below the window can even be inserted (not the common case).
        m.insert(5, 5);
        assert_eq!(m.remove(5), Some(5));
        assert_eq!(m.remove(1), Some(1));
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn an_id_far_past_a_small_window_does_not_allocate_the_gap() {
        // A store of a few old objects receives one with a much newer id (at scale, ids run
        // to millions while one node holds a few): the window restarts there.
        let mut m: IdMap<u64, 16> = IdMap::default();
        for id in 1..=5u64 {
            m.insert(id, id);
        }
        m.insert(1_000_000, 7);
        assert!(
            m.slots.capacity() <= 4 * MIN_COMPACT,
            "{}",
            m.slots.capacity()
        );
        for id in 1..=5u64 {
            assert_eq!(m.get(id), Some(&id));
        }
        assert_eq!(m.get(1_000_000), Some(&7));
        assert_eq!(m.len(), 6);
        // Nearby ids go into the new window; the old ones are still found and removed.
        m.insert(1_000_003, 8);
        assert_eq!(m.slots.len(), 4);
        for id in 1..=5u64 {
            assert_eq!(m.remove(id), Some(id));
        }
        let mut all: Vec<(u64, u64)> = m.iter().map(|(id, &v)| (id, v)).collect();
        all.sort_unstable();
        assert_eq!(all, vec![(1_000_000, 7), (1_000_003, 8)]);
    }
}
