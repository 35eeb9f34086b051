/* dusk_eigh_stack and dusk_eigh_generated: a stack in the caller's memory decomposed against
 * LAPACKE called directly (eigenvalues to 1e-10 relative, residuals, orthogonality), the same
 * bits whatever the chunk size (1, 7, automatic), a NaN matrix in the middle failing alone,
 * count 0, both triangles (UPLO), calls from 4 threads at once, cancellation through the flag
 * (before and during a call, the process usable afterwards), the tutorial's generated batch
 * against NumPy's matrices, and the refusals. */
#include <lapacke.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dusk_linalg.h"
#include "test.h"

enum { N = 20, T = 23, BAD = 11 };

/* matrix i of a test stack: bᵀb for b = NumPy's rand(N, N) after seed(seed + i) */
static void make_matrix(uint32_t seed, double *a, int64_t n)
{
    double *b = malloc((size_t)(n * n) * sizeof *b);
    CHECK(b != NULL);
    dusk_mt19937_fill(seed, b, n * n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++)
                s += b[k * n + i] * b[k * n + j];
            a[i * n + j] = s;
        }
    free(b);
}

static double *make_stack(uint32_t seed, int64_t count, int64_t n)
{
    double *a = malloc((size_t)(count * n * n) * sizeof *a);
    CHECK(a != NULL);
    for (int64_t i = 0; i < count; i++)
        make_matrix(seed + (uint32_t)i, a + i * n * n, n);
    return a;
}

/* LAPACK's eigenvalues of the symmetric matrix whose C-order lower (or upper) triangle is a's */
static void reference(const double *a, int64_t n, int upper, double *w)
{
    double *x = malloc((size_t)(n * n) * sizeof *x);
    CHECK(x != NULL);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int lower = j <= i;
            x[i * n + j] = (upper ? !lower || i == j : lower) ? a[i * n + j] : a[j * n + i];
        }
    CHECK_EQ(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)n, x, (lapack_int)n, w), 0);
    free(x);
}

/* w (and v) of matrix a against LAPACK: eigenvalues to 1e-10 of the largest, ascending; the
 * residual ||A V - V diag(w)|| and ||VᵀV - I|| small */
static void check_decomposition(const double *a, int64_t n, int upper, const double *w,
                                const double *v)
{
    double *ref = malloc((size_t)n * sizeof *ref);
    CHECK(ref != NULL);
    reference(a, n, upper, ref);
    double scale = fabs(ref[0]) > fabs(ref[n - 1]) ? fabs(ref[0]) : fabs(ref[n - 1]);
    for (int64_t i = 0; i < n; i++) {
        CHECK_NEAR(w[i], ref[i], 1e-10 * scale);
        if (i > 0) CHECK(w[i] >= w[i - 1]);
    }
    free(ref);
    if (v == NULL) return;
    double res = 0, orth = 0, norm = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            int lower = j <= i;
            double aij = (upper ? !lower || i == j : lower) ? a[i * n + j] : a[j * n + i];
            norm += aij * aij;
            double av = 0, vv = 0;
            for (int64_t k = 0; k < n; k++) {
                int kl = k <= i;
                double aik = (upper ? !kl || i == k : kl) ? a[i * n + k] : a[k * n + i];
                av += aik * v[k * n + j]; /* (A V)_ij, eigenvector j in column j */
                vv += v[k * n + i] * v[k * n + j];
            }
            res += (av - w[j] * v[i * n + j]) * (av - w[j] * v[i * n + j]);
            orth += (vv - (i == j)) * (vv - (i == j));
        }
    CHECK_NEAR(sqrt(res) / ((double)n * sqrt(norm)), 0, 1e-13);
    CHECK_NEAR(sqrt(orth), 0, 1e-12);
}

static int run_stack(const double *a, int64_t count, int64_t n, double *w, double *v, int *status,
                     int64_t chunk, char uplo, char *why)
{
    dusk_eigh_opts o;
    CHECK_OK(dusk_eigh_opts_init(&o));
    o.chunk = chunk;
    o.uplo = uplo;
    return dusk_eigh_stack(a, count, n, w, v, status, &o, why, 256);
}

/* ---- several threads at once ------------------------------------------------------------- */

typedef struct thread_job {
    uint32_t seed;
    int generated;
    double w[T * N], v[T * N * N], wref[T * N], vref[T * N * N];
    int rc;
} thread_job;

static void *thread_main(void *arg)
{
    thread_job *tj = arg;
    char why[256];
    int status[T];
    for (int round = 0; round < 3 && tj->rc == 0; round++) {
        if (tj->generated) {
            tj->rc =
                dusk_eigh_generated(N, T, tj->seed, tj->w, tj->v, status, NULL, why, sizeof why);
        } else {
            double *a = make_stack(tj->seed, T, N);
            tj->rc = dusk_eigh_stack(a, T, N, tj->w, tj->v, status, NULL, why, sizeof why);
            free(a);
        }
        if (tj->rc == 0 && (memcmp(tj->w, tj->wref, sizeof tj->w) != 0 ||
                            memcmp(tj->v, tj->vref, sizeof tj->v) != 0))
            tj->rc = -100;
    }
    return NULL;
}

/* ---- cancellation from another thread ----------------------------------------------------- */

static volatile int cancel_flag;

static void *canceller(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    __atomic_store_n(&cancel_flag, 1, __ATOMIC_RELAXED); /* as the flag is read (see dusk.h) */
    return NULL;
}

int main(void)
{
    char why[256];
    double w1[N] = {0};
    CHECK_EQ(dusk_eigh_stack(w1, 1, N, w1, NULL, NULL, NULL, why, sizeof why), DUSK_ESTATE);
    CHECK_STR_CONTAINS(why, "not started");

    dusk_config cfg;
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));

    /* the stack against LAPACK, in both triangles, with and without vectors */
    double *a = make_stack(7, T, N);
    static double w[T * N], v[T * N * N], w2[T * N], v2[T * N * N];
    int status[T];
    for (int upper = 0; upper <= 1; upper++) {
        /* the other triangle holds garbage that must not be read */
        double *skew = malloc(sizeof(double) * T * N * N);
        CHECK(skew != NULL);
        memcpy(skew, a, sizeof(double) * T * N * N);
        for (int k = 0; k < T; k++)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    if (upper ? j < i : j > i) skew[(k * N + i) * N + j] = -3.0 * (i + j + k);
        CHECK_OK(run_stack(skew, T, N, w, v, status, 0, upper ? 'U' : 'L', why));
        CHECK_EQ(why[0], '\0');
        for (int k = 0; k < T; k++) {
            CHECK_EQ(status[k], 0);
            check_decomposition(skew + k * N * N, N, upper, w + k * N, v + k * N * N);
        }
        CHECK_OK(run_stack(skew, T, N, w2, NULL, status, 0, upper ? 'U' : 'L', why));
        for (int k = 0; k < T; k++)
            check_decomposition(skew + k * N * N, N, upper, w2 + k * N, NULL);
        free(skew);
    }

    /* chunks of 1, of 7 and automatic: the same bits */
    CHECK_OK(run_stack(a, T, N, w, v, status, 1, 'L', why));
    for (int64_t chunk = 7; chunk >= 0; chunk -= 7) {
        memset(w2, 0, sizeof w2);
        memset(v2, 0, sizeof v2);
        CHECK_OK(run_stack(a, T, N, w2, v2, status, chunk, 'L', why));
        CHECK(memcmp(w, w2, sizeof w) == 0);
        CHECK(memcmp(v, v2, sizeof v) == 0);
    }
    for (int k = 0; k < T; k++)
        check_decomposition(a + k * N * N, N, 0, w + k * N, v + k * N * N);
    /* vectors computed and dropped: the eigenvalues of the run that keeps them */
    {
        dusk_eigh_opts o;
        CHECK_OK(dusk_eigh_opts_init(&o));
        o.vectors = 1;
        CHECK_OK(dusk_eigh_stack(a, T, N, w2, NULL, status, &o, why, sizeof why));
        CHECK(memcmp(w, w2, sizeof w) == 0);
    }

    /* a NaN in the middle: that matrix fails alone, NaN results, named in `why` */
    for (int64_t chunk = 0; chunk <= 7; chunk += 7) {
        a[BAD * N * N + 3] = NAN;
        memset(status, 0x55, sizeof status);
        CHECK_EQ(run_stack(a, T, N, w2, v2, status, chunk, 'L', why), DUSK_ETASK);
        CHECK_STR_CONTAINS(why, "matrix 11: ");
        CHECK_STR_CONTAINS(why, "non-finite");
        for (int k = 0; k < T; k++) {
            if (k == BAD) {
                CHECK_EQ(status[k], DUSK_EDATA);
                for (int i = 0; i < N; i++)
                    CHECK(isnan(w2[k * N + i]));
                for (int i = 0; i < N * N; i++)
                    CHECK(isnan(v2[k * N * N + i]));
                continue;
            }
            CHECK_EQ(status[k], 0);
            CHECK(memcmp(w + k * N, w2 + k * N, sizeof(double) * N) == 0);
            CHECK(memcmp(v + k * N * N, v2 + k * N * N, sizeof(double) * N * N) == 0);
        }
        /* without a status array: the same answer */
        CHECK_EQ(dusk_eigh_stack(a, T, N, w2, NULL, NULL, NULL, why, sizeof why), DUSK_ETASK);
        CHECK_STR_CONTAINS(why, "matrix 11: ");
        CHECK(isnan(w2[BAD * N]));
        make_matrix(7 + BAD, a + BAD * N * N, N);
    }

    /* nothing to do */
    CHECK_OK(dusk_eigh_stack(NULL, 0, N, NULL, NULL, NULL, NULL, why, sizeof why));
    CHECK_OK(dusk_eigh_stack(NULL, 5, 0, NULL, NULL, NULL, NULL, why, sizeof why));
    CHECK_OK(dusk_eigh_generated(N, 0, 0, NULL, NULL, NULL, NULL, why, sizeof why));

    /* refusals: nothing is written */
    {
        dusk_eigh_opts o;
        CHECK_EQ(dusk_eigh_opts_init(NULL), DUSK_EINVAL);
        CHECK_OK(dusk_eigh_opts_init(&o));
        CHECK_EQ(o.uplo, 'L');
        o.uplo = 'x';
        status[0] = 12345;
        CHECK_EQ(dusk_eigh_stack(a, T, N, w2, NULL, status, &o, why, sizeof why), DUSK_EINVAL);
        CHECK_STR_CONTAINS(why, "uplo");
        CHECK_EQ(status[0], 12345);
        CHECK_OK(dusk_eigh_opts_init(&o));
        o.chunk = -1;
        CHECK_EQ(dusk_eigh_stack(a, T, N, w2, NULL, status, &o, why, sizeof why), DUSK_EINVAL);
        CHECK_EQ(dusk_eigh_stack(a, -1, N, w2, NULL, status, NULL, why, sizeof why), DUSK_EINVAL);
        CHECK_EQ(dusk_eigh_stack(NULL, T, N, w2, NULL, status, NULL, why, sizeof why), DUSK_EINVAL);
        CHECK_EQ(dusk_eigh_stack(a, T, N, NULL, NULL, status, NULL, why, sizeof why), DUSK_EINVAL);
        CHECK_EQ(dusk_eigh_stack(a, 1, DUSK_EIGH_MAX_N + 1, w2, v2, status, NULL, why, sizeof why),
                 DUSK_EINVAL);
        CHECK_STR_CONTAINS(why, "LAPACK");
        CHECK_EQ(dusk_eigh_stack(a, 1, 50000, w2, NULL, status, NULL, why, sizeof why),
                 DUSK_EINVAL);
        CHECK_EQ(dusk_eigh_generated(N, 2, UINT32_MAX, w2, NULL, status, NULL, why, sizeof why),
                 DUSK_EINVAL);
        CHECK_STR_CONTAINS(why, "2^32");
        CHECK_EQ(status[0], 12345);
    }

    /* the generated batch: NumPy's matrices, the same bits in any chunks */
    CHECK_OK(dusk_eigh_generated(N, T, 7, w2, v2, status, NULL, why, sizeof why));
    for (int k = 0; k < T; k++) {
        CHECK_EQ(status[k], 0);
        check_decomposition(a + k * N * N, N, 0, w2 + k * N, v2 + k * N * N);
    }
    for (int64_t chunk = 1; chunk <= 7; chunk += 6) {
        dusk_eigh_opts o;
        CHECK_OK(dusk_eigh_opts_init(&o));
        o.chunk = chunk;
        memset(w, 0, sizeof w);
        memset(v, 0, sizeof v);
        CHECK_OK(dusk_eigh_generated(N, T, 7, w, v, status, &o, why, sizeof why));
        CHECK(memcmp(w, w2, sizeof w) == 0);
        CHECK(memcmp(v, v2, sizeof v) == 0);
    }
    CHECK_OK(dusk_eigh_generated(N, T, 7, w, NULL, status, NULL, why, sizeof why));
    for (int k = 0; k < T; k++)
        check_decomposition(a + k * N * N, N, 0, w + k * N, NULL);
    {
        dusk_eigh_opts o;
        CHECK_OK(dusk_eigh_opts_init(&o));
        o.vectors = 1;
        CHECK_OK(dusk_eigh_generated(N, T, 7, w, NULL, status, &o, why, sizeof why));
        CHECK(memcmp(w, w2, sizeof w) == 0);
    }
    /* item i is seed + i: the batch from seed 9 is this one shifted by two */
    CHECK_OK(dusk_eigh_generated(N, T - 2, 9, w, v, status, NULL, why, sizeof why));
    CHECK(memcmp(w, w2 + 2 * N, sizeof(double) * (T - 2) * N) == 0);
    free(a);

    /* 4 threads at once, 3 rounds each: two over stacks, two generated, each its own bits */
    {
        static thread_job jobs[4];
        pthread_t th[4];
        for (int t = 0; t < 4; t++) {
            jobs[t].seed = 1000 + 100 * (uint32_t)t;
            jobs[t].generated = t % 2;
            if (jobs[t].generated) {
                CHECK_OK(dusk_eigh_generated(N, T, jobs[t].seed, jobs[t].wref, jobs[t].vref, NULL,
                                             NULL, why, sizeof why));
            } else {
                double *at = make_stack(jobs[t].seed, T, N);
                CHECK_OK(dusk_eigh_stack(at, T, N, jobs[t].wref, jobs[t].vref, NULL, NULL, why,
                                         sizeof why));
                free(at);
            }
        }
        for (int t = 0; t < 4; t++)
            CHECK_EQ(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
        for (int t = 0; t < 4; t++) {
            CHECK_EQ(pthread_join(th[t], NULL), 0);
            CHECK_OK(jobs[t].rc); /* -100: other bits than alone */
        }
        for (int t = 0; t < 4; t += 2) {
            double *at = make_stack(jobs[t].seed, T, N);
            for (int k = 0; k < T; k++)
                check_decomposition(at + k * N * N, N, 0, jobs[t].w + k * N, jobs[t].v + k * N * N);
            free(at);
        }
    }

    /* cancelled before it starts: nothing computed, NaN everywhere */
    {
        dusk_eigh_opts o;
        CHECK_OK(dusk_eigh_opts_init(&o));
        cancel_flag = 1;
        o.cancel = &cancel_flag;
        CHECK_EQ(dusk_eigh_generated(N, T, 0, w, NULL, status, &o, why, sizeof why),
                 DUSK_ECANCELED);
        CHECK_STR_CONTAINS(why, "cancelled");
        for (int k = 0; k < T; k++) {
            CHECK_EQ(status[k], DUSK_ECANCELED);
            CHECK(isnan(w[k * N]));
        }
    }
    /* cancelled during a long call (seconds of work): it returns early, what was computed is
     * valid, the rest is NaN; then dusk computes again */
    {
        enum { BN = 200, BT = 2000 };
        double *bw = malloc(sizeof(double) * BN * BT);
        int *bs = malloc(sizeof(int) * BT);
        CHECK(bw != NULL && bs != NULL);
        dusk_eigh_opts o;
        CHECK_OK(dusk_eigh_opts_init(&o));
        cancel_flag = 0;
        o.cancel = &cancel_flag;
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, canceller, NULL), 0);
        CHECK_EQ(dusk_eigh_generated(BN, BT, 0, bw, NULL, bs, &o, why, sizeof why), DUSK_ECANCELED);
        CHECK_EQ(pthread_join(th, NULL), 0);
        int64_t done = 0, cancelled = 0;
        for (int k = 0; k < BT; k++) {
            if (bs[k] == 0) {
                done++;
                CHECK(isfinite(bw[k * BN]) && isfinite(bw[k * BN + BN - 1]));
            } else {
                CHECK_EQ(bs[k], DUSK_ECANCELED);
                cancelled++;
                CHECK(isnan(bw[k * BN]));
            }
        }
        CHECK_GT(cancelled, 0);
        printf("cancelled after %lld of %d matrices\n", (long long)done, BT);
        /* the matrices computed are right: the first one against a call of its own */
        if (bs[0] == 0) {
            double one[BN];
            CHECK_OK(dusk_eigh_generated(BN, 1, 0, one, NULL, NULL, NULL, why, sizeof why));
            CHECK(memcmp(one, bw, sizeof one) == 0);
        }
        free(bw);
        free(bs);
        CHECK_OK(dusk_eigh_generated(N, T, 7, w, NULL, status, NULL, why, sizeof why));
    }

    dusk_shutdown();
    printf("eigh stack: ok\n");
    return 0;
}
