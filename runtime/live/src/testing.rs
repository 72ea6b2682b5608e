//! What the crate's tests share.

use std::time::Duration;

/// Runs `f` on a current-thread runtime with IO and time, failing the test if it takes longer
/// than `limit` (a test on loopback is bounded in time).
pub(crate) fn run_bounded<F: std::future::Future<Output = ()>>(limit: Duration, f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .expect("a test runtime")
        .block_on(async {
            tokio::time::timeout(limit, f)
                .await
                .expect("the test ran out of time")
        });
}
