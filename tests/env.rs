//! `NOGIL_NUM_THREADS` is respected, and a bad value is a clear error. Kept
//! alone in its binary: it changes the process environment.

use nogil::{Error, Pool, default_threads};

#[test]
fn num_threads_env_is_respected_and_validated() {
    let set = |v: &str| {
        // SAFETY: this binary has a single test, so no other thread reads or
        // writes the environment while it runs.
        unsafe { std::env::set_var("NOGIL_NUM_THREADS", v) }
    };
    set("3");
    assert_eq!(default_threads(), Ok(3));
    assert_eq!(Pool::builder().build().unwrap().threads(), 3);
    // An explicit count wins over the variable.
    assert_eq!(Pool::new(2).unwrap().threads(), 2);

    let mut first_error = None;
    for bad in ["0", "abc", "-2", "", "1e3"] {
        set(bad);
        let err = Pool::builder().build().unwrap_err();
        assert!(matches!(&err, Error::BadEnv { var: "NOGIL_NUM_THREADS", value, .. } if value == bad), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("NOGIL_NUM_THREADS") && msg.contains(&format!("{bad:?}")), "{msg}");
        // The global pool is made once: it keeps the error of its first attempt.
        let first = first_error.get_or_insert_with(|| err.clone());
        assert_eq!(&Pool::global().unwrap_err(), first);
    }

    // SAFETY: as above.
    unsafe { std::env::remove_var("NOGIL_NUM_THREADS") };
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(default_threads(), Ok(cpus));
}
