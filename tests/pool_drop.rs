//! Dropping a pool joins its workers. Alone in its binary so that no other
//! test's threads change the count.

#![cfg(target_os = "linux")]

fn live_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn dropping_a_pool_joins_every_worker() {
    let before = live_threads();
    for threads in [2, 5, 16] {
        let pool = nogil::Pool::new(threads).unwrap();
        assert_eq!(live_threads(), before + threads - 1);
        pool.run(1000, |_| {});
        drop(pool);
        assert_eq!(live_threads(), before, "workers left running after drop ({threads} threads)");
    }
}
