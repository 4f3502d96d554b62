//! What every nogil bench shares: print the build beside the figures, run the
//! groups with criterion's command-line configuration, print the summary.

use criterion::Criterion;

/// Runs `bench` as a criterion harness after printing [`nogil::build_info`].
pub fn run(bench: fn(&mut Criterion)) {
    println!("nogil build: {}", nogil::build_info());
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
