/* The OpenMP reference for benches/sched.rs: what libgomp charges for an
 * empty `parallel for` of 64 * threads iterations, per schedule.
 *
 *   gcc -O2 -fopenmp benches/omp/empty_region.c -o target/omp_empty_region
 *   OMP_NUM_THREADS=2 OMP_PROC_BIND=true target/omp_empty_region
 *
 * Prints the median over 11 batches of 20,000 regions, per schedule.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static volatile long sink;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BATCHES 11
#define REGIONS 20000

#define MEASURE(label, clause)                                              \
    do {                                                                    \
        double t[BATCHES];                                                  \
        for (int b = 0; b < BATCHES; b++) {                                 \
            double t0 = omp_get_wtime();                                    \
            for (int r = 0; r < REGIONS; r++) {                             \
                _Pragma(clause) for (long i = 0; i < n; i++) { sink = i; }  \
            }                                                               \
            t[b] = (omp_get_wtime() - t0) / REGIONS;                        \
        }                                                                   \
        qsort(t, BATCHES, sizeof t[0], cmp);                                \
        printf("%-34s %8.1f ns\n", label, t[BATCHES / 2] * 1e9);            \
    } while (0)

int main(void) {
    int threads = omp_get_max_threads();
    long n = 64L * threads;
    printf("libgomp empty parallel for, %d threads, %ld iterations\n", threads, n);
    MEASURE("static", "omp parallel for schedule(static)");
    MEASURE("static,64", "omp parallel for schedule(static, 64)");
    MEASURE("dynamic,64", "omp parallel for schedule(dynamic, 64)");
    MEASURE("guided,1", "omp parallel for schedule(guided, 1)");
    return 0;
}
