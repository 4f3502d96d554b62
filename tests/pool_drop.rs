//! Dropping a pool joins its workers. Alone in its binary so that no other
//! test's threads change the count.

// Miri cannot read /proc under isolation.
#![cfg(all(target_os = "linux", not(miri)))]

fn live_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once it settles at `expected` (polling for up to 2 s):
/// a joined thread may stay listed briefly while the kernel reaps it, but a
/// worker that was never joined stays listed for good.
fn settled_threads(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let n = live_threads();
        if n == expected || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn dropping_a_pool_joins_every_worker() {
    let before = live_threads();
    for threads in [2, 5, 16] {
        let pool = nogil::Pool::new(threads).unwrap();
        assert_eq!(live_threads(), before + threads - 1);
        pool.run(1000, |_| {});
        drop(pool);
        assert_eq!(settled_threads(before), before, "workers left running after drop ({threads} threads)");
    }
}
