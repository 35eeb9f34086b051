/* The eigh kernel against matrices whose spectrum is known by construction:
 * A = Q diag(d) Qᵀ with Q a product of Householder reflections, d chosen (with repeated,
 * negative and zero values). Eigenvalues must equal sort(d); eigenvectors must satisfy
 * A V = V diag(w) and VᵀV = I, checked here with plain loops, independently of BLAS.
 * Runs in place and copying, with and without vectors, and checks the verify kernel. */
#include <stdint.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "test.h"

typedef struct spec {
    int64_t n;
    uint32_t seed;
} spec;

static double eigenvalue(int64_t k, int64_t n)
{
    /* pairs of equal values, some negative, one zero when n allows */
    return (double)((k / 2) - n / 4) * 1.25;
}

/* Q = H_0 H_1 H_2, H_j = I - 2 u uᵀ / (uᵀu), u from the generator. A = Q D Qᵀ. */
static void build(const spec *s, double *a)
{
    int64_t n = s->n;
    double *q = calloc((size_t)(n * n), sizeof *q), *u = malloc((size_t)n * sizeof *u);
    for (int64_t i = 0; i < n; i++)
        q[i * n + i] = 1;
    for (int j = 0; j < 3; j++) {
        dusk_mt19937_fill(s->seed + (uint32_t)j, u, n);
        double uu = 0;
        for (int64_t i = 0; i < n; i++) {
            u[i] -= 0.5;
            uu += u[i] * u[i];
        }
        if (uu == 0) continue;
        for (int64_t r = 0; r < n; r++) { /* q = q H: row r -= 2 (q_r . u) u / uu */
            double dot = 0;
            for (int64_t c = 0; c < n; c++)
                dot += q[r * n + c] * u[c];
            for (int64_t c = 0; c < n; c++)
                q[r * n + c] -= 2 * dot * u[c] / uu;
        }
    }
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < n; c++) {
            double sum = 0;
            for (int64_t k = 0; k < n; k++)
                sum += q[r * n + k] * eigenvalue(k, n) * q[c * n + k];
            a[r * n + c] = sum;
        }
    free(q);
    free(u);
}

static int known_cpu(dusk_call *call)
{
    int64_t dims[2];
    const spec *s = dusk_call_value(call, NULL);
    build(s, dusk_call_data(call, 0, dims));
    return 0;
}

typedef struct result {
    double *w, *v;
    int64_t n;
    int status, seen;
} result;

static void copy_out(void *user, int status, const double *values, const int64_t dims[2])
{
    double **dst = user;
    if (status == 0) memcpy(*dst, values, (size_t)(dims[0] * dims[1]) * sizeof **dst);
}

static void copy_checks(void *user, int status, const double *values, const int64_t dims[2])
{
    double *dst = user;
    (void)dims;
    dst[0] = status == 0 ? values[0] : -1;
    dst[1] = status == 0 ? values[1] : -1;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(void)
{
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    dusk_kernel *known;
    CHECK_OK(dusk_kernel_new("test_known", known_cpu, &known));

    const int64_t sizes[] = {1, 2, 5, 60, 97};
    enum { NS = 5, NMODES = 4 };
    double *w[NS][NMODES], *v[NS][NMODES], checks[NS][NMODES][2];
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    for (int si = 0; si < NS; si++)
        for (int mode = 0; mode < NMODES; mode++) {
            /* mode bit 0: vectors; bit 1: keep A (3-argument form) */
            int64_t n = sizes[si];
            int vectors = mode & 1, keep = mode & 2;
            spec s = {n, (uint32_t)(100 * si + mode)};
            dusk_data *a, *x = NULL, *wd, *r;
            w[si][mode] = calloc((size_t)n, sizeof(double));
            v[si][mode] = calloc((size_t)(n * n), sizeof(double));
            CHECK_OK(dusk_matrix_new(g, n, n, &a));
            CHECK_OK(dusk_vector_new(g, n, &wd));
            CHECK_OK(dusk_vector_new(g, 2, &r));
            dusk_arg ka[] = {{a, DUSK_W}};
            CHECK_OK(dusk_task_submit(g, known, ka, 1, &s, sizeof s, NULL, NULL));
            dusk_eigh_args ea = {.vectors = vectors};
            if (keep) {
                CHECK_OK(dusk_matrix_new(g, n, n, &x));
                dusk_arg ea3[] = {{a, DUSK_R}, {x, vectors ? DUSK_W : DUSK_SCRATCH}, {wd, DUSK_W}};
                CHECK_OK(
                    dusk_task_submit(g, dusk_kernel_eigh(), ea3, 3, &ea, sizeof ea, NULL, NULL));
                dusk_arg va[] = {{a, DUSK_R}, {wd, DUSK_R}, {x, DUSK_R}, {r, DUSK_W}};
                dusk_arg va3[] = {{a, DUSK_R}, {wd, DUSK_R}, {r, DUSK_W}};
                CHECK_OK(dusk_task_submit(g, dusk_kernel_verify(), vectors ? va : va3,
                                          vectors ? 4 : 3, NULL, 0, NULL, NULL));
                CHECK_OK(dusk_data_read(r, copy_checks, checks[si][mode]));
            } else {
                dusk_arg ea2[] = {{a, DUSK_RW}, {wd, DUSK_W}};
                CHECK_OK(
                    dusk_task_submit(g, dusk_kernel_eigh(), ea2, 2, &ea, sizeof ea, NULL, NULL));
                checks[si][mode][0] = checks[si][mode][1] = 0;
            }
            CHECK_OK(dusk_data_read(wd, copy_out, &w[si][mode]));
            if (vectors) CHECK_OK(dusk_data_read(keep ? x : a, copy_out, &v[si][mode]));
            dusk_data_release(&a);
            dusk_data_release(&x);
            dusk_data_release(&wd);
            dusk_data_release(&r);
        }
    CHECK_OK(dusk_graph_wait(g));

    for (int si = 0; si < NS; si++)
        for (int mode = 0; mode < NMODES; mode++) {
            int64_t n = sizes[si];
            double *d = malloc((size_t)n * sizeof *d), dmax = 0;
            for (int64_t k = 0; k < n; k++) {
                d[k] = eigenvalue(k, n);
                if (fabs(d[k]) > dmax) dmax = fabs(d[k]);
            }
            qsort(d, (size_t)n, sizeof *d, cmp_double);
            double tol = 1e-12 * (dmax > 1 ? dmax : 1);
            for (int64_t k = 0; k < n; k++)
                CHECK_NEAR(w[si][mode][k], d[k], tol);
            if (mode & 1) {
                /* A V = V Λ and VᵀV = I, V's columns being the eigenvectors */
                spec s = {n, (uint32_t)(100 * si + mode)};
                double *a = malloc((size_t)(n * n) * sizeof *a), *vv = v[si][mode];
                build(&s, a);
                for (int64_t i = 0; i < n; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double av = 0, vtv = 0;
                        for (int64_t k = 0; k < n; k++) {
                            av += a[i * n + k] * vv[k * n + j];
                            vtv += vv[k * n + i] * vv[k * n + j];
                        }
                        CHECK_NEAR(av, vv[i * n + j] * w[si][mode][j],
                                   1e-11 * (dmax > 1 ? dmax : 1));
                        CHECK_NEAR(vtv, i == j ? 1.0 : 0.0, 1e-12);
                    }
                free(a);
            }
            /* the verify kernel agrees: tiny residuals for these exact decompositions */
            CHECK(checks[si][mode][0] >= 0 && checks[si][mode][0] < 1e-14);
            CHECK(checks[si][mode][1] >= 0 && checks[si][mode][1] < 1e-12);
            free(d);
            free(w[si][mode]);
            free(v[si][mode]);
        }

    /* and the verify kernel can fail: a wrong eigenvalue gives a large residual */
    {
        int64_t n = 20;
        spec s = {n, 7};
        double wrong[2] = {-1, -1};
        dusk_data *a, *x, *wd, *r;
        CHECK_OK(dusk_matrix_new(g, n, n, &a));
        CHECK_OK(dusk_matrix_new(g, n, n, &x));
        CHECK_OK(dusk_vector_new(g, n, &wd));
        CHECK_OK(dusk_vector_new(g, 2, &r));
        dusk_arg ka[] = {{a, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, known, ka, 1, &s, sizeof s, NULL, NULL));
        dusk_eigh_args ea = {.vectors = 1};
        dusk_arg e3[] = {{a, DUSK_R}, {x, DUSK_W}, {wd, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_eigh(), e3, 3, &ea, sizeof ea, NULL, NULL));
        spec s2 = {n, 8}; /* A now differs from the matrix x and wd decompose */
        CHECK_OK(dusk_task_submit(g, known, ka, 1, &s2, sizeof s2, NULL, NULL));
        dusk_arg va[] = {{a, DUSK_R}, {wd, DUSK_R}, {x, DUSK_R}, {r, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_verify(), va, 4, NULL, 0, NULL, NULL));
        CHECK_OK(dusk_data_read(r, copy_checks, wrong));
        dusk_data_release(&a);
        dusk_data_release(&x);
        dusk_data_release(&wd);
        dusk_data_release(&r);
        CHECK_OK(dusk_graph_wait(g));
        CHECK(wrong[0] > 1e-3);
        CHECK(wrong[1] < 1e-12); /* still orthonormal */
    }
    dusk_graph_free(&g);
    dusk_kernel_free(&known);
    dusk_shutdown();
    printf("eigh matches %d known spectra in 4 modes on %s\n", NS, "StarPU");
    return 0;
}
