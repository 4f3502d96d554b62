//! A panic inside a region reaches the caller with its original payload, and
//! the executor stays usable.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind, panic_any};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Fixture, schedules, size};
use nogil::Pool;

/// The payload thrown by the tests, so the hook can silence exactly these.
#[derive(Debug, PartialEq)]
struct Boom(usize);

fn quiet_boom_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<Boom>().is_none() {
            default(info);
        }
    }));
}

#[test]
fn panics_resume_on_the_caller_with_their_payload_and_the_executor_survives() {
    quiet_boom_hook();
    let n = size(1000, 20);
    for &threads in if cfg!(miri) { &[1, 3][..] } else { &[1, 2, 3, 7][..] } {
        let fx = Fixture::new(threads);
        for exec in fx.executors(&schedules(&[1, 16])) {
            // Index 0 runs on the caller under static blocks; the last index on
            // the last worker. Try both, and every index panicking.
            for bad in [Some(0), Some(n - 1), None] {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    exec.for_each_range(n, &|range| {
                        for i in range {
                            if bad.is_none_or(|b| b == i) {
                                panic_any(Boom(i));
                            }
                        }
                    })
                }));
                let payload = result.expect_err("the panic was swallowed");
                let boom = payload.downcast::<Boom>().expect("payload replaced");
                match bad {
                    Some(b) => assert_eq!(*boom, Boom(b), "{}", exec.label()),
                    None => assert!(boom.0 < n),
                }
                // The same executor then runs a normal region in full.
                let sum = AtomicUsize::new(0);
                exec.for_each_range(n, &|range| {
                    sum.fetch_add(range.sum::<usize>(), Ordering::Relaxed);
                });
                assert_eq!(sum.into_inner(), n * (n - 1) / 2, "{} after a panic", exec.label());
            }
        }
    }
}

#[test]
fn a_panic_stops_further_chunks_from_being_claimed() {
    quiet_boom_hook();
    let pool = Pool::new(2).unwrap();
    let dynamic = pool.with_schedule(nogil::Schedule::Dynamic { chunk: 1 }).unwrap();
    let ran = AtomicUsize::new(0);
    let n = size(100_000, 200);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        dynamic.run(n, |range| {
            ran.fetch_add(range.len(), Ordering::Relaxed);
            if range.start == 10 {
                panic_any(Boom(10));
            }
        })
    }));
    // Abandoned: far fewer than n chunks ran after the panic at chunk 10.
    assert!(ran.into_inner() < n / 2);
}
