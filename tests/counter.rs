//! The counter experiment: the exact kinds are exact, the racy kinds never
//! overshoot, and the mirror counts.

mod common;

use common::{Fixture, THREADS, chunk_params, schedules, size};
use nogil::kernels::counter::{CounterKind, count, count_mirror, count_raw};

#[test]
fn exact_kinds_are_exact_and_racy_kinds_never_overshoot() {
    let increments = size(200_000, 300);
    for &threads in THREADS {
        let fx = Fixture::new(threads);
        for exec in fx.executors(&schedules(chunk_params(&[1, 1000]))) {
            for kind in CounterKind::ALL {
                let r = count(kind, exec.as_ref(), increments);
                assert_eq!(r.expected, increments as u64);
                assert_eq!(r.threads, exec.threads());
                assert!(r.value <= r.expected, "{} {}: {r:?}", kind.name(), exec.label());
                assert_eq!(r.lost, r.expected - r.value);
                if !kind.can_lose_updates() {
                    assert_eq!(r.value, r.expected, "{} on {} lost updates", kind.name(), exec.label());
                }
                if exec.threads() == 1 {
                    // One thread cannot race with itself.
                    assert_eq!(r.lost, 0, "{} single-threaded", kind.name());
                }
            }
        }
    }
}

#[test]
fn zero_increments_give_zero() {
    let fx = Fixture::new(2);
    for kind in CounterKind::ALL {
        let r = count(kind, &fx.pool, 0);
        assert_eq!((r.value, r.expected, r.lost), (0, 0, 0));
    }
}

#[test]
fn the_mirror_counts_every_increment() {
    let mut x = 5u64;
    // SAFETY: `x` is a live local that nothing else touches.
    unsafe { count_raw(&mut x, 1000) };
    assert_eq!(x, 1005);
    assert_eq!(count_mirror(1000), 1000);
}
