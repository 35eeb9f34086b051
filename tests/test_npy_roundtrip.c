/* dusk_npy: files written with create/write/commit read back exactly; PATH.partial never
 * outlives a commit or an abort; Fortran-order files of 2 to 4 dimensions read back in
 * C order; bad arguments and failing renames are refused as the header says.
 *
 * Usage: test_npy_roundtrip            run the test in a temporary directory
 *        test_npy_roundtrip --write DIR   only write the roundtrip files into DIR (for
 *                                         tests/npy_numpy_check.py, which loads them)
 */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- files ------------------------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    CHECK(s != NULL);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static char *partial_of(const char *path)
{
    size_t n = strlen(path) + sizeof ".partial";
    char *s = malloc(n);
    CHECK(s != NULL);
    snprintf(s, n, "%s.partial", path);
    return s;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    return (int64_t)st.st_size;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_GE(fd, 0);
    CHECK_EQ(write(fd, data, len), (int64_t)len);
    CHECK_EQ(close(fd), 0);
}

static char *read_bytes(const char *path, size_t *len)
{
    int64_t size = file_size(path);
    char *buf = malloc((size_t)size + 1);
    CHECK(buf != NULL);
    int fd = open(path, O_RDONLY);
    CHECK_GE(fd, 0);
    CHECK_EQ(read(fd, buf, (size_t)size), size);
    CHECK_EQ(close(fd), 0);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static int64_t product(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

/* the value dusk writes at C-order index k; tests/npy_numpy_check.py knows it too */
static double value_at(int64_t k)
{
    return (double)k * 0.25 - 1.0;
}

/* ---- writing and reading back ----------------------------------------------------------- */

/* Write `values` (C order) to path, in three pieces written back to front. */
static void write_file(const char *path, int ndim, const int64_t *shape, const double *values)
{
    char *partial = partial_of(path);
    char why[256];
    dusk_npy *f = NULL;
    int existed = exists(path);
    int rc = dusk_npy_create(path, ndim, shape, &f, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk_npy_create(%s) returned %d: %s", path, rc, why);
    CHECK_EQ(why[0], '\0');
    CHECK(exists(partial));
    CHECK_EQ(exists(path), existed); /* PATH is not touched before the commit */
    CHECK_EQ(dusk_npy_ndim(f), ndim);

    int64_t n = product(ndim, shape), a = n / 3, b = 2 * n / 3;
    CHECK_OK(dusk_npy_write(f, b, values + b, n - b));
    CHECK_OK(dusk_npy_write(f, a, values + a, b - a));
    CHECK_OK(dusk_npy_write(f, 0, values, a));
    CHECK_EQ(dusk_npy_read_matrix(f, 0, NULL), DUSK_EINVAL); /* not a reader */

    CHECK_OK(dusk_npy_commit(&f));
    CHECK(f == NULL);
    CHECK(!exists(partial));
    CHECK(exists(path));
    free(partial);
}

/* The header is NumPy's version 1.0 one, aligned to 64 bytes, and the file holds exactly
 * the data after it. */
static void check_written_header(const char *path, int ndim, const int64_t *shape)
{
    size_t len;
    char *bytes = read_bytes(path, &len);
    CHECK_GE(len, 10);
    CHECK_EQ(memcmp(bytes, "\x93NUMPY\x01\x00", 8), 0);
    size_t hlen = (unsigned char)bytes[8] | (size_t)(unsigned char)bytes[9] << 8;
    CHECK_EQ((10 + hlen) % 64, 0);
    CHECK_EQ(len, 10 + hlen + (size_t)product(ndim, shape) * sizeof(double));
    CHECK_EQ(bytes[10 + hlen - 1], '\n');

    char expected[512];
    int n =
        snprintf(expected, sizeof expected, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        n += snprintf(expected + n, sizeof expected - (size_t)n, "%s%" PRId64, i > 0 ? ", " : "",
                      shape[i]);
    snprintf(expected + n, sizeof expected - (size_t)n, "%s), }", ndim == 1 ? "," : "");
    CHECK_EQ(memcmp(bytes + 10, expected, strlen(expected)), 0);
    for (size_t i = 10 + strlen(expected); i < 10 + hlen - 1; i++)
        CHECK_EQ(bytes[i], ' ');
    free(bytes);
}

/* Open path and check that its matrices, in order, are `values`. */
static void check_reads_back(const char *path, int ndim, const int64_t *shape, int fortran,
                             const double *values)
{
    char why[256];
    dusk_npy *f = NULL;
    int rc = dusk_npy_open(path, &f, why, sizeof why);
    if (rc != 0) TEST_FAIL_("dusk_npy_open(%s) returned %d: %s", path, rc, why);
    CHECK_EQ(dusk_npy_ndim(f), ndim);
    for (int i = 0; i < ndim; i++)
        CHECK_EQ(dusk_npy_shape(f)[i], shape[i]);
    CHECK_EQ(dusk_npy_fortran_order(f), fortran);

    int64_t rows = ndim >= 2 ? shape[ndim - 2] : 1, cols = shape[ndim - 1];
    int64_t nmat = ndim > 2 ? product(ndim - 2, shape) : 1;
    int64_t size = rows * cols;
    double *got = malloc((size_t)(size + 1) * sizeof(double));
    CHECK(got != NULL);
    for (int64_t i = 0; i < nmat; i++) {
        CHECK_OK(dusk_npy_read_matrix(f, i, got));
        for (int64_t j = 0; j < size; j++) {
            if (memcmp(&got[j], &values[i * size + j], sizeof(double)) != 0)
                TEST_FAIL_("%s: matrix %" PRId64 " value %" PRId64 " is %.17g, expected %.17g",
                           path, i, j, got[j], values[i * size + j]);
        }
    }
    CHECK_EQ(dusk_npy_read_matrix(f, nmat, got), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_read_matrix(f, -1, got), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 0, got, 1), DUSK_EINVAL); /* not a writer */
    dusk_npy_close(&f);
    CHECK(f == NULL);
    free(got);
}

typedef struct shape_case {
    const char *name;
    int ndim;
    int64_t shape[3];
} shape_case;

static const shape_case roundtrip_cases[] = {
    {"shape_4.npy", 1, {4}},
    {"shape_3_5.npy", 2, {3, 5}},
    {"shape_2_3_3.npy", 3, {2, 3, 3}},
    {"shape_0_3.npy", 2, {0, 3}},
};
#define NCASES (sizeof roundtrip_cases / sizeof roundtrip_cases[0])

static void write_roundtrip_files(const char *dir, int check)
{
    for (size_t c = 0; c < NCASES; c++) {
        const shape_case *sc = &roundtrip_cases[c];
        int64_t n = product(sc->ndim, sc->shape);
        double *values = malloc((size_t)(n + 1) * sizeof(double));
        CHECK(values != NULL);
        for (int64_t k = 0; k < n; k++)
            values[k] = value_at(k);
        char *path = path_in(dir, sc->name);
        write_file(path, sc->ndim, sc->shape, values);
        if (check) {
            check_written_header(path, sc->ndim, sc->shape);
            check_reads_back(path, sc->ndim, sc->shape, 0, values);
        }
        free(path);
        free(values);
    }
}

/* Bit patterns that a conversion anywhere would change. */
static void test_special_values(const char *dir)
{
    const int64_t shape[2] = {2, 4};
    double values[8] = {-0.0,        INFINITY, -INFINITY, NAN,
                        DBL_MIN / 4, DBL_MAX,  -DBL_MAX,  3.141592653589793};
    char *path = path_in(dir, "special.npy");
    write_file(path, 2, shape, values);
    check_reads_back(path, 2, shape, 0, values);
    CHECK_EQ(unlink(path), 0);
    free(path);
}

/* ---- Fortran order, written by hand ------------------------------------------------------- */

/* A version 1.0 header as NumPy writes it, for any dict. */
static size_t npy_header(char *buf, size_t len, const char *dict)
{
    size_t n = strlen(dict);
    size_t total = 10 + n + 1;
    total += (64 - total % 64) % 64;
    CHECK_LE(total, len);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', total - 10 - n);
    buf[total - 1] = '\n';
    return total;
}

/* Write a Fortran-order file whose element of C-order index k is value_at(k), and return the
 * values in C order. */
static double *write_fortran_file(const char *path, int ndim, const int64_t *shape)
{
    char dict[256], tuple[128];
    int n = snprintf(tuple, sizeof tuple, "(");
    for (int i = 0; i < ndim; i++)
        n += snprintf(tuple + n, sizeof tuple - (size_t)n, "%" PRId64 ", ", shape[i]);
    snprintf(tuple + n, sizeof tuple - (size_t)n, ")");
    snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': True, 'shape': %s, }", tuple);
    char header[512];
    size_t hlen = npy_header(header, sizeof header, dict);

    int64_t count = product(ndim, shape);
    double *c_order = malloc((size_t)(count + 1) * sizeof(double));
    double *f_order = malloc((size_t)(count + 1) * sizeof(double));
    CHECK(c_order != NULL && f_order != NULL);
    for (int64_t k = 0; k < count; k++) {
        /* the C-order index k names (i0, ..., i_{n-1}); in Fortran order the first varies
         * fastest */
        int64_t rest = k, pos = 0, stride = 1;
        int64_t idx[DUSK_NPY_MAX_DIMS];
        for (int d = ndim - 1; d >= 0; d--) {
            idx[d] = rest % shape[d];
            rest /= shape[d];
        }
        for (int d = 0; d < ndim; d++) {
            pos += idx[d] * stride;
            stride *= shape[d];
        }
        c_order[k] = value_at(k);
        f_order[pos] = value_at(k);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_GE(fd, 0);
    CHECK_EQ(write(fd, header, hlen), (int64_t)hlen);
    size_t bytes = (size_t)count * sizeof(double);
    CHECK_EQ(write(fd, f_order, bytes), (int64_t)bytes);
    CHECK_EQ(close(fd), 0);
    free(f_order);
    return c_order;
}

static void test_fortran(const char *dir)
{
    static const struct {
        int ndim;
        int64_t shape[4];
    } cases[] = {
        {2, {3, 4}},        {2, {1, 6}},     {3, {2, 3, 4}},
        {4, {2, 3, 4, 5}},  {2, {400, 500}}, /* more than one gather buffer, one column run at a
                                                time */
        {3, {3, 300, 250}},                  /* leading stride 3 over several buffers */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *path = path_in(dir, "fortran.npy");
        double *values = write_fortran_file(path, cases[c].ndim, cases[c].shape);
        check_reads_back(path, cases[c].ndim, cases[c].shape, 1, values);
        CHECK_EQ(unlink(path), 0);
        free(values);
        free(path);
    }
}

/* A leading stride that fills the gather buffer or more: a few matrices only, it is slow. */
static void test_fortran_wide_stride(const char *dir)
{
    static const int64_t shapes[2][3] = {{1000, 20, 30}, {140000, 2, 2}};
    for (int s = 0; s < 2; s++) {
        const int64_t *shape = shapes[s];
        char *path = path_in(dir, "fortran_wide.npy");
        double *values = write_fortran_file(path, 3, shape);
        dusk_npy *f = NULL;
        CHECK_OK(dusk_npy_open(path, &f, NULL, 0));
        int64_t size = shape[1] * shape[2];
        double *got = malloc((size_t)size * sizeof(double));
        CHECK(got != NULL);
        const int64_t picks[4] = {0, 1, shape[0] / 2 + 7, shape[0] - 1};
        for (int p = 0; p < 4; p++) {
            CHECK_OK(dusk_npy_read_matrix(f, picks[p], got));
            CHECK_EQ(memcmp(got, values + picks[p] * size, (size_t)size * sizeof(double)), 0);
        }
        dusk_npy_close(&f);
        CHECK_EQ(unlink(path), 0);
        free(got);
        free(values);
        free(path);
    }
}

/* A file cut short after it was opened: reads fail with DUSK_EIO, in either order. */
static void test_shrunk_after_open(const char *dir)
{
    const int64_t shape[3] = {2, 3, 4};
    char *path = path_in(dir, "shrunk.npy");
    for (int fortran = 0; fortran < 2; fortran++) {
        double *values;
        if (fortran) {
            values = write_fortran_file(path, 3, shape);
        } else {
            values = malloc(24 * sizeof(double));
            CHECK(values != NULL);
            for (int k = 0; k < 24; k++)
                values[k] = value_at(k);
            write_file(path, 3, shape, values);
        }
        dusk_npy *f = NULL;
        CHECK_OK(dusk_npy_open(path, &f, NULL, 0));
        CHECK_EQ(truncate(path, file_size(path) - 8), 0);
        double got[12];
        /* matrix 0 is still all there in either order (in Fortran order it is at the even
         * positions before the last one); matrix 1 needs the value cut off */
        CHECK_OK(dusk_npy_read_matrix(f, 0, got));
        CHECK_EQ(memcmp(got, values, 12 * sizeof(double)), 0);
        CHECK_EQ(dusk_npy_read_matrix(f, 1, got), DUSK_EIO);
        dusk_npy_close(&f);
        CHECK_EQ(unlink(path), 0);
        free(values);
    }
    free(path);
}

/* ---- threads ---------------------------------------------------------------------------- */

#define NTHREADS 4

typedef struct thread_job {
    dusk_npy *f;
    int part; /* this thread does every NTHREADS-th matrix from `part` */
    int64_t nmat, size;
    const double *values; /* the whole array, C order */
    int rc;
} thread_job;

static void *write_part(void *arg)
{
    thread_job *job = arg;
    for (int64_t i = job->part; i < job->nmat && job->rc == 0; i += NTHREADS)
        job->rc = dusk_npy_write(job->f, i * job->size, job->values + i * job->size, job->size);
    return NULL;
}

static void *read_part(void *arg)
{
    thread_job *job = arg;
    double *got = malloc((size_t)job->size * sizeof(double));
    if (got == NULL) {
        job->rc = DUSK_ENOMEM;
        return NULL;
    }
    for (int64_t i = job->part; i < job->nmat && job->rc == 0; i += NTHREADS) {
        job->rc = dusk_npy_read_matrix(job->f, i, got);
        if (job->rc == 0 &&
            memcmp(got, job->values + i * job->size, (size_t)job->size * sizeof(double)) != 0)
            job->rc = 1;
    }
    free(got);
    return NULL;
}

static void run_threads(void *(*fn)(void *), dusk_npy *f, int64_t nmat, int64_t size,
                        const double *values)
{
    pthread_t threads[NTHREADS];
    thread_job jobs[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t] = (thread_job){f, t, nmat, size, values, 0};
        CHECK_EQ(pthread_create(&threads[t], NULL, fn, &jobs[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        CHECK_EQ(pthread_join(threads[t], NULL), 0);
        CHECK_EQ(jobs[t].rc, 0);
    }
}

/* One handle, several threads: writes of disjoint slices, then reads, in both orders. */
static void test_threads(const char *dir)
{
    const int64_t shape[3] = {24, 10, 7};
    const int64_t nmat = shape[0], size = shape[1] * shape[2];
    char *path = path_in(dir, "threads.npy");
    double *values = malloc((size_t)(nmat * size) * sizeof(double));
    CHECK(values != NULL);
    for (int64_t k = 0; k < nmat * size; k++)
        values[k] = value_at(k);
    dusk_npy *f = NULL;
    CHECK_OK(dusk_npy_create(path, 3, shape, &f, NULL, 0));
    run_threads(write_part, f, nmat, size, values);
    CHECK_OK(dusk_npy_commit(&f));
    CHECK_OK(dusk_npy_open(path, &f, NULL, 0));
    run_threads(read_part, f, nmat, size, values);
    dusk_npy_close(&f);
    free(values);

    values = write_fortran_file(path, 3, shape);
    CHECK_OK(dusk_npy_open(path, &f, NULL, 0));
    CHECK_EQ(dusk_npy_fortran_order(f), 1);
    run_threads(read_part, f, nmat, size, values);
    dusk_npy_close(&f);
    CHECK_EQ(unlink(path), 0);
    free(values);
    free(path);
}

/* ---- what must be refused or cleaned up -------------------------------------------------- */

static void test_abort(const char *dir)
{
    const int64_t shape[2] = {3, 5};
    char *path = path_in(dir, "aborted.npy");
    char *partial = partial_of(path);
    dusk_npy *f = NULL;
    CHECK_OK(dusk_npy_create(path, 2, shape, &f, NULL, 0));
    double v[5] = {1, 2, 3, 4, 5};
    CHECK_OK(dusk_npy_write(f, 5, v, 5));
    dusk_npy_abort(&f);
    CHECK(f == NULL);
    CHECK(!exists(partial));
    CHECK(!exists(path));

    /* dusk_npy_close() on a writer is an abort too: nothing that looks complete is left */
    CHECK_OK(dusk_npy_create(path, 2, shape, &f, NULL, 0));
    dusk_npy_close(&f);
    CHECK(f == NULL);
    CHECK(!exists(partial));
    CHECK(!exists(path));

    dusk_npy_abort(&f);
    dusk_npy_abort(NULL);
    dusk_npy_close(&f);
    dusk_npy_close(NULL);
    CHECK_EQ(dusk_npy_commit(&f), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_commit(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_ndim(NULL), 0);
    CHECK(dusk_npy_shape(NULL) == NULL);
    free(partial);
    free(path);
}

/* A stale PATH.partial, even a link to another file, is replaced and the link's target left
 * alone; an existing PATH is replaced by the commit. */
static void test_replace(const char *dir)
{
    const int64_t shape[1] = {3};
    const double values[3] = {7.5, -1.25, 1e300};
    char *path = path_in(dir, "replaced.npy");
    char *partial = partial_of(path);
    char *target = path_in(dir, "innocent.txt");
    write_bytes(target, "keep me", 7);
    CHECK_EQ(symlink(target, partial), 0);
    write_bytes(path, "old contents", 12);
    write_file(path, 1, shape, values);
    check_reads_back(path, 1, shape, 0, values);
    size_t len;
    char *kept = read_bytes(target, &len);
    CHECK_EQ(len, 7);
    CHECK_EQ(memcmp(kept, "keep me", 7), 0);
    free(kept);
    CHECK_EQ(unlink(target), 0);
    CHECK_EQ(unlink(path), 0);
    free(target);
    free(partial);
    free(path);
}

/* The rename fails (PATH is a directory): DUSK_EIO, errno kept, PATH.partial kept (what it
 * holds may be listed by a run's manifest, for a resume). */
static void test_commit_fails(const char *dir)
{
    const int64_t shape[1] = {2};
    char *path = path_in(dir, "is_a_dir.npy");
    char *partial = partial_of(path);
    char *inside = path_in(path, "file");
    CHECK_EQ(mkdir(path, 0755), 0);
    write_bytes(inside, "x", 1); /* a non-empty directory cannot be renamed over */
    dusk_npy *f = NULL;
    CHECK_OK(dusk_npy_create(path, 1, shape, &f, NULL, 0));
    errno = 0;
    CHECK_EQ(dusk_npy_commit(&f), DUSK_EIO);
    CHECK(errno == EISDIR);
    CHECK(f == NULL);
    CHECK(exists(partial));
    CHECK_EQ(unlink(partial), 0);
    CHECK_EQ(unlink(inside), 0);
    CHECK_EQ(rmdir(path), 0);
    free(inside);
    free(partial);
    free(path);
}

static void test_bad_arguments(const char *dir)
{
    char *path = path_in(dir, "bad.npy");
    char why[256];
    dusk_npy *f = (dusk_npy *)1;
    const int64_t ok[2] = {2, 3}, negative[2] = {2, -3}, huge[2] = {INT64_MAX / 4, 3};
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};

    CHECK_EQ(dusk_npy_create(path, 0, ok, &f, why, sizeof why), DUSK_EINVAL);
    CHECK(f == NULL);
    CHECK_STR_CONTAINS(why, "ndim is 0");
    CHECK_EQ(dusk_npy_create(path, 9, nine, &f, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "ndim is 9");
    CHECK_EQ(dusk_npy_create(path, 2, negative, &f, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "dimension 1 is negative");
    CHECK_EQ(dusk_npy_create(path, 2, huge, &f, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "overflows");
    CHECK_EQ(dusk_npy_create(NULL, 2, ok, &f, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_create(path, 2, NULL, &f, NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_create(path, 2, ok, NULL, NULL, 0), DUSK_EINVAL);
    CHECK(!exists(path));

    /* no such directory: DUSK_EIO with errno and its text */
    char *nowhere = path_in(dir, "no/such/dir.npy");
    errno = 0;
    CHECK_EQ(dusk_npy_create(nowhere, 2, ok, &f, why, sizeof why), DUSK_EIO);
    CHECK(errno == ENOENT);
    CHECK_STR_CONTAINS(why, strerror(ENOENT));
    errno = 0;
    CHECK_EQ(dusk_npy_open(nowhere, &f, why, sizeof why), DUSK_EIO);
    CHECK(errno == ENOENT);
    CHECK(f == NULL);
    CHECK_EQ(strcmp(why, strerror(ENOENT)), 0);
    CHECK_EQ(dusk_npy_open(dir, &f, why, sizeof why), DUSK_EIO);
    CHECK(errno == EISDIR);
    CHECK_EQ(dusk_npy_open(NULL, &f, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_open("/dev/null", &f, why, sizeof why), DUSK_EFORMAT);
    CHECK_STR_CONTAINS(why, "not a regular file");
    free(nowhere);

    /* writes outside the array */
    CHECK_OK(dusk_npy_create(path, 2, ok, &f, why, sizeof why));
    double v[7] = {0};
    CHECK_EQ(dusk_npy_write(f, 0, v, 7), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 5, v, 2), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 6, v, 1), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, -1, v, 1), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 0, v, -1), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 1, NULL, 1), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, INT64_MAX, v, 1), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(f, 1, v, INT64_MAX), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_write(NULL, 0, v, 1), DUSK_EINVAL);
    CHECK_OK(dusk_npy_write(f, 6, v, 0));
    CHECK_OK(dusk_npy_write(f, 5, v, 1));
    dusk_npy_abort(&f);
    CHECK_EQ(dusk_npy_read_matrix(NULL, 0, v), DUSK_EINVAL);

    /* a reader cannot be committed, and is closed all the same; nor read into NULL */
    write_file(path, 2, ok, v);
    CHECK_OK(dusk_npy_open(path, &f, why, sizeof why));
    CHECK_EQ(dusk_npy_read_matrix(f, 0, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_commit(&f), DUSK_EINVAL);
    CHECK(f == NULL);
    CHECK(exists(path));
    CHECK_EQ(unlink(path), 0);
    free(path);
}

/* The file cannot be sized (here past RLIMIT_FSIZE): DUSK_EIO, errno kept, nothing left. */
static void test_create_fails(const char *dir)
{
    struct rlimit old, small;
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < (1 << 20)) return;
    small = old;
    small.rlim_cur = 1 << 20;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
    signal(SIGXFSZ, SIG_IGN);

    const int64_t shape[1] = {1 << 20}; /* 8 MiB */
    char *path = path_in(dir, "too_big.npy");
    char *partial = partial_of(path);
    char why[256];
    dusk_npy *f = (dusk_npy *)1;
    errno = 0;
    CHECK_EQ(dusk_npy_create(path, 1, shape, &f, why, sizeof why), DUSK_EIO);
    CHECK(errno == EFBIG);
    CHECK(f == NULL);
    CHECK_STR_CONTAINS(why, "cannot size the file: ");
    CHECK_STR_CONTAINS(why, strerror(EFBIG));
    CHECK(!exists(partial));
    CHECK(!exists(path));

    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    free(partial);
    free(path);
}

/* ---- main ------------------------------------------------------------------------------- */

static char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') base = "/tmp";
    char *dir = path_in(base, "dusk-npy-XXXXXX");
    if (mkdtemp(dir) == NULL) TEST_FAIL_("mkdtemp(%s): %s", dir, strerror(errno));
    return dir;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        write_roundtrip_files(argv[2], 0);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write DIR]\n", argv[0]);
        return 2;
    }
    char *dir = make_temp_dir();
    write_roundtrip_files(dir, 1);
    for (size_t c = 0; c < NCASES; c++) {
        char *path = path_in(dir, roundtrip_cases[c].name);
        CHECK_EQ(unlink(path), 0);
        free(path);
    }
    test_special_values(dir);
    test_fortran(dir);
    test_fortran_wide_stride(dir);
    test_shrunk_after_open(dir);
    test_threads(dir);
    test_abort(dir);
    test_replace(dir);
    test_commit_fails(dir);
    test_bad_arguments(dir);
    test_create_fails(dir);
    if (rmdir(dir) != 0) /* anything left is a file that should not be there */
        TEST_FAIL_("rmdir(%s): %s", dir, strerror(errno));
    free(dir);
    printf("ok\n");
    return 0;
}
