//! An idle pool burns no CPU: after the spin window its workers park. Alone
//! in its binary, so other tests' threads do not share its workers' names.

#![cfg(all(target_os = "linux", not(miri)))]

use std::time::Duration;

/// Total CPU time (utime + stime, in clock ticks) of this process's threads
/// named `nogil-worker-*`, and how many there are.
fn worker_cpu_ticks() -> (u64, usize) {
    let mut ticks = 0;
    let mut workers = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        if !comm.starts_with("nogil-worker") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        workers += 1;
    }
    (ticks, workers)
}

#[test]
fn an_idle_pool_parks_its_workers() {
    let pool = nogil::Pool::builder().threads(3).spin(Duration::from_millis(2)).build().unwrap();
    for _ in 0..100 {
        pool.run(3000, |r| {
            std::hint::black_box(r);
        });
    }
    // Past the spin window, workers must be parked.
    std::thread::sleep(Duration::from_millis(20));
    let (before, workers) = worker_cpu_ticks();
    assert_eq!(workers, 2);
    std::thread::sleep(Duration::from_millis(300));
    let (after, _) = worker_cpu_ticks();
    // Two spinning workers would add about 60 ticks (100 Hz) in 300 ms; one
    // tick of slack covers a tick boundary landing in the sleep's first instant.
    assert!(after - before <= 1, "idle workers used {} ticks in 300 ms", after - before);

    // And they wake again.
    let sum = std::sync::atomic::AtomicUsize::new(0);
    pool.run(1000, |r| {
        sum.fetch_add(r.len(), std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(sum.into_inner(), 1000);
}
