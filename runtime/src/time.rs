//! Time on either clock, as whole nanoseconds since the run started.

/// Nanoseconds since the start of a run (virtual or real).
pub type Nanos = u64;

/// One millisecond in [`Nanos`].
pub const MILLISECOND: Nanos = 1_000_000;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000_000_000;

/// Converts a [`std::time::Duration`] to [`Nanos`], saturating.
pub fn nanos(d: std::time::Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
