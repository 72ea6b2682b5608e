//! A one-shot timer precise to tens of microseconds, for the data plane's paced NIC.
//!
//! tokio's own `sleep` fires on the next tick of its millisecond wheel, and later still when
//! its runtime parks: measured on this project's 2-core VM, sleeps of 131–900 µs woke 1.1 ms
//! late on average, where a timerfd woke 27–56 µs late (BENCHMARKS.md). A paced send makes up
//! a late wake in its middle (its credit, [`crate::data::Pacing`]) but not after its last
//! quantum's wait, so every paced transfer ended up to a millisecond after its bytes were
//! due. A [`Timer`] waits on a Linux timerfd registered with tokio's reactor instead; the
//! data plane uses it for a send's last waits only ([`crate::data::PRECISE_TAIL`]), as each
//! of its wake-ups costs the host's cores.

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// A timer for one waiter at a time (`sleep` takes `&mut self`).
///
/// Invariant: with a timerfd, the fd is non-blocking and registered with the reactor of the
/// runtime the timer was made on; without one, it sleeps on tokio's timer.
#[derive(Debug)]
pub struct Timer {
    fd: Option<AsyncFd<Fd>>,
    /// Waits it has made on its timerfd.
    precise_waits: u64,
}

/// A timerfd as tokio's reactor takes it.
#[derive(Debug)]
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    /// A timer on a timerfd, registered with the current tokio runtime's reactor (tokio's
    /// timer if the system gives no timerfd).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O enabled, as tokio's sockets do.
    pub fn precise() -> Timer {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .ok()
        .and_then(|fd| {
            // SAFETY: `Fd` owns the timerfd (an `OwnedFd` inside `TimerFd`), and the
            // `AsyncFd` owns the `Fd` and never hands it out by value: the descriptor stays
            // open and is not replaced while it is registered, and is closed only when the
            // `AsyncFd` (deregistering first) is dropped.
            #[allow(unsafe_code)]
            let registered = unsafe { AsyncFd::register(Fd(fd)) };
            registered.ok()
        });
        Timer {
            fd,
            precise_waits: 0,
        }
    }

    /// A timer on tokio's own (millisecond ticks; it follows a paused test clock).
    pub fn coarse() -> Timer {
        Timer {
            fd: None,
            precise_waits: 0,
        }
    }

    /// Whether it waits on a timerfd (else on tokio's timer).
    pub fn is_precise(&self) -> bool {
        self.fd.is_some()
    }

    /// How many waits it has made on its timerfd.
    pub fn precise_waits(&self) -> u64 {
        self.precise_waits
    }

    /// Waits `wait` (at least; a zero wait returns at once).
    pub async fn sleep(&mut self, wait: Duration) {
        if wait.is_zero() {
            return;
        }
        let deadline = tokio::time::Instant::now() + wait;
        let armed = self.fd.as_ref().is_some_and(|fd| {
            // Arming resets the timer's count of expirations, so an earlier wait given up
            // before it fired cannot end this one.
            fd.get_ref()
                .0
                .set(
                    Expiration::OneShot(TimeSpec::from_duration(wait)),
                    TimerSetTimeFlags::empty(),
                )
                .is_ok()
        });
        match &self.fd {
            Some(fd) if armed => {
                self.precise_waits += 1;
                loop {
                    let Ok(mut ready) = fd.readable().await else {
                        break;
                    };
                    // Reading the expiration count: `WouldBlock` (a stale readiness) clears
                    // the readiness and waits again.
                    match ready.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                        Ok(Ok(())) => return,
                        Ok(Err(_)) => break,
                        Err(_would_block) => continue,
                    }
                }
                // The timerfd failed: what is left of the wait on tokio's timer.
                self.fd = None;
                tokio::time::sleep_until(deadline).await;
            }
            _ => tokio::time::sleep_until(deadline).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// On the crate's bounded test runtime (I/O and time).
    fn on_runtime<F: std::future::Future<Output = ()>>(f: F) {
        crate::testing::run_bounded(Duration::from_secs(20), f);
    }

    /// On a runtime with a timer and no reactor.
    fn without_io<F: std::future::Future<Output = ()>>(f: F) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
            .block_on(f);
    }

    #[test]
    fn a_timer_waits_at_least_its_wait_on_a_timerfd() {
        on_runtime(async {
            let mut t = Timer::precise();
            assert!(t.is_precise(), "Linux gives a timerfd");
            for us in [50, 300, 2_000] {
                let wait = Duration::from_micros(us);
                let started = Instant::now();
                t.sleep(wait).await;
                assert!(
                    started.elapsed() >= wait,
                    "{us} µs: {:?}",
                    started.elapsed()
                );
            }
            assert!(t.is_precise());
        });
    }

    #[test]
    fn a_wait_given_up_does_not_end_the_next_one_early() {
        on_runtime(async {
            let mut t = Timer::precise();
            // Given up before it fires; then let the abandoned expiry pass.
            let gave_up = tokio::time::timeout(
                Duration::from_micros(100),
                t.sleep(Duration::from_millis(2)),
            )
            .await;
            assert!(gave_up.is_err());
            std::thread::sleep(Duration::from_millis(3));
            let started = Instant::now();
            t.sleep(Duration::from_millis(5)).await;
            assert!(
                started.elapsed() >= Duration::from_millis(5),
                "{:?}",
                started.elapsed()
            );
        });
    }

    #[test]
    fn a_coarse_timer_sleeps_on_tokios_timer() {
        without_io(async {
            let mut t = Timer::coarse();
            assert!(!t.is_precise());
            let started = Instant::now();
            t.sleep(Duration::from_millis(2)).await;
            assert!(started.elapsed() >= Duration::from_millis(2));
        });
    }

    #[test]
    fn timers_wait_side_by_side() {
        on_runtime(async {
            let started = Instant::now();
            let after = |us: u64| async move {
                let mut t = Timer::precise();
                t.sleep(Duration::from_micros(us)).await;
                started.elapsed()
            };
            let ended = tokio::join!(after(900), after(300), after(600));
            assert!(ended.0 >= Duration::from_micros(900), "{ended:?}");
            assert!(ended.1 >= Duration::from_micros(300), "{ended:?}");
            assert!(ended.2 >= Duration::from_micros(600), "{ended:?}");
            assert!(ended.1 <= ended.0, "the shorter wait ends first: {ended:?}");
        });
    }
}
