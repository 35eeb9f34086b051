/* HDF5 result files (runtime/src/io/h5.h): made whole by dusk__h5_create(), then written row
 * by row with pwrite() at the offsets it returns, from several threads, without HDF5.
 *
 * With no arguments, the checks of its own: the datasets read NaN before any row is written;
 * rows written from 4 threads read back through HDF5's own H5Dread bit for bit; attributes
 * are there; dusk__h5_check() finds the same offsets and refuses, in one line, files that
 * differ (shape, dataset, type, layout, attribute), are damaged, missing or not HDF5; bad
 * arguments are refused; a new file replaces an old one; a file that cannot be made leaves
 * nothing behind; HDF5 never prints on stderr (stderr is captured around every refusal).
 *
 * With arguments, the writer that tests/test_h5_h5py.py reads with h5py and kills:
 *   test_h5_output write PATH T N THREADS DELAY_US LOG   make PATH, print "created", write
 *       every row (4 threads each take every 4th), appending "I\n" to LOG after row I is
 *       written, sleeping DELAY_US per row
 *   test_h5_output resume PATH T N THREADS LOG   dusk__h5_check PATH, write the rows LOG
 *       does not list
 * Row I of /eigenvalues (T, N) holds (I * 1000003 + J) / 7, of /eigenvectors (T, N, N)
 * -(I * 1000003 + J * N + K) / 13: numbers NumPy computes bit for bit the same.
 */
#define _POSIX_C_SOURCE 200809L

#include "h5.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dusk.h"

static double value_of(int64_t i, int64_t j)
{
    return (double)(i * 1000003 + j) / 7.0;
}

static double vector_of(int64_t i, int64_t j, int64_t k, int64_t n)
{
    return -(double)(i * 1000003 + j * n + k) / 13.0;
}

static const dusk__h5_attr run_attrs[] = {{"program", "dusk-eigh", 0},
                                          {"version", DUSK_VERSION_STRING, 0},
                                          {"input", "mats.h5", 0},
                                          {"dataset", "/group/mats", 0},
                                          {"n", NULL, 0},
                                          {"ntasks", NULL, 0},
                                          {"values_only", NULL, 0},
                                          {"note", "ünïcode and spaces: ok", 0},
                                          {"negative", NULL, -123456789012}};
enum { NATTRS = sizeof run_attrs / sizeof run_attrs[0] };

static void make_attrs(dusk__h5_attr *a, int64_t t, int64_t n)
{
    memcpy(a, run_attrs, sizeof run_attrs);
    a[4].value = n;
    a[5].value = t;
    a[6].value = 0;
}

static void make_sets(dusk__h5_dataset *s, int64_t t, int64_t n)
{
    memset(s, 0, 2 * sizeof *s);
    s[0] = (dusk__h5_dataset){.name = "/eigenvalues", .ndim = 2, .shape = {t, n}};
    s[1] = (dusk__h5_dataset){.name = "eigenvectors", .ndim = 3, .shape = {t, n, n}};
}

/* ---- writing rows with pwrite ------------------------------------------------------------ */

typedef struct writer {
    int fd, log;
    int64_t t, n, first, step, delay_us;
    const dusk__h5_dataset *sets;
    const unsigned char *skip; /* rows not to write (NULL: none) */
} writer;

static void write_row(int fd, const dusk__h5_dataset *sets, int64_t i, int64_t n)
{
    double *row = malloc((size_t)(n * n + 1) * sizeof *row);
    CHECK(row != NULL);
    for (int64_t j = 0; j < n; j++)
        for (int64_t k = 0; k < n; k++)
            row[j * n + k] = vector_of(i, j, k, n);
    size_t bytes = (size_t)(n * n) * sizeof *row;
    CHECK_EQ(pwrite(fd, row, bytes, (off_t)(sets[1].offset + i * (int64_t)bytes)), (ssize_t)bytes);
    for (int64_t j = 0; j < n; j++)
        row[j] = value_of(i, j);
    bytes = (size_t)n * sizeof *row;
    CHECK_EQ(pwrite(fd, row, bytes, (off_t)(sets[0].offset + i * (int64_t)bytes)), (ssize_t)bytes);
    free(row);
}

static void *write_rows(void *arg)
{
    writer *w = arg;
    for (int64_t i = w->first; i < w->t; i += w->step) {
        if (w->skip && w->skip[i]) continue;
        write_row(w->fd, w->sets, i, w->n);
        if (w->log >= 0) {
            char line[32];
            int len = snprintf(line, sizeof line, "%lld\n", (long long)i);
            CHECK_EQ(write(w->log, line, (size_t)len), len); /* O_APPEND: whole lines */
        }
        if (w->delay_us > 0) {
            struct timespec ts = {0, (long)(w->delay_us * 1000)};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void write_all(const char *path, const dusk__h5_dataset *sets, int64_t t, int64_t n,
                      int threads, int64_t delay_us, int log, const unsigned char *skip)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    pthread_t th[16];
    writer w[16];
    CHECK(threads >= 1 && threads <= 16);
    for (int k = 0; k < threads; k++) {
        w[k] = (writer){fd, log, t, n, k, threads, delay_us, sets, skip};
        CHECK_EQ(pthread_create(&th[k], NULL, write_rows, &w[k]), 0);
    }
    for (int k = 0; k < threads; k++)
        CHECK_EQ(pthread_join(th[k], NULL), 0);
    CHECK_EQ(fdatasync(fd), 0);
    CHECK_EQ(close(fd), 0);
}

/* ---- stderr, captured around the calls that fail inside HDF5 ------------------------------ */

static int saved_stderr = -1;
static char capture_path[4200];

static void capture_begin(void)
{
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved_stderr >= 0 && fd >= 0);
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
}

static void capture_end(const char *what)
{
    fflush(stderr);
    CHECK(dup2(saved_stderr, STDERR_FILENO) >= 0);
    close(saved_stderr);
    struct stat st;
    CHECK_EQ(stat(capture_path, &st), 0);
    if (st.st_size != 0) {
        FILE *fp = fopen(capture_path, "r");
        char buf[400] = "";
        if (fp) {
            size_t got = fread(buf, 1, sizeof buf - 1, fp);
            buf[got] = '\0';
            fclose(fp);
        }
        TEST_FAIL_("%s: %lld bytes on stderr: %s", what, (long long)st.st_size, buf);
    }
}

/* ---- checks ------------------------------------------------------------------------------ */

/* dusk__h5_check must refuse with `code` and one line holding `words` */
static void check_refused(const char *path, dusk__h5_dataset *sets, int nsets,
                          const dusk__h5_attr *attrs, int nattrs, int code, const char *words)
{
    char why[512];
    memset(why, 'x', sizeof why);
    capture_begin();
    int rc = dusk__h5_check(path, sets, nsets, attrs, nattrs, why, sizeof why);
    capture_end(words);
    if (rc != code)
        TEST_FAIL_("check of %s: %d (%s), expected %d (%s); why: %s", path, rc, dusk_strerror(rc),
                   code, words, why);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    CHECK(strchr(why, '\n') == NULL);
    CHECK_STR_CONTAINS(why, words);
}

static void create_refused(const char *path, dusk__h5_dataset *sets, int nsets,
                           const dusk__h5_attr *attrs, int nattrs, int code, const char *words)
{
    char why[512];
    capture_begin();
    int rc = dusk__h5_create(path, sets, nsets, attrs, nattrs, why, sizeof why);
    capture_end(words);
    if (rc != code)
        TEST_FAIL_("create %s: %d (%s), expected %d (%s); why: %s", path, rc, dusk_strerror(rc),
                   code, words, why);
    CHECK(strchr(why, '\n') == NULL);
    CHECK_STR_CONTAINS(why, words);
}

/* Every value of a dataset through HDF5 itself: C order, float64. */
static double *h5_read_all(const char *path, const char *name, int64_t count)
{
    double *buf = malloc((size_t)(count + 1) * sizeof *buf);
    CHECK(buf != NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK(d >= 0);
    CHECK(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    return buf;
}

static void check_attrs_hdf5(const char *path, int64_t t, int64_t n)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    hid_t a = H5Aopen(f, "program", H5P_DEFAULT);
    CHECK(a >= 0);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8);
    char *s = NULL;
    CHECK(H5Aread(a, st, &s) >= 0);
    CHECK(s != NULL && strcmp(s, "dusk-eigh") == 0);
    H5free_memory(s);
    H5Aclose(a);
    H5Tclose(st);
    int64_t v = 0;
    a = H5Aopen(f, "ntasks", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    CHECK_EQ(v, t);
    H5Aclose(a);
    a = H5Aopen(f, "n", H5P_DEFAULT);
    CHECK(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    CHECK_EQ(v, n);
    H5Aclose(a);
    H5Fclose(f);
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *s = malloc(len);
    CHECK(s != NULL);
    snprintf(s, len, "%s/%s", dir, name);
    return s;
}

static void copy_prefix(const char *from, const char *to, int64_t bytes)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(in >= 0 && out >= 0);
    char buf[65536];
    int64_t done = 0;
    while (done < bytes) {
        ssize_t want =
            bytes - done < (int64_t)sizeof buf ? (ssize_t)(bytes - done) : (ssize_t)sizeof buf;
        ssize_t got = read(in, buf, (size_t)want);
        CHECK(got > 0);
        CHECK_EQ(write(out, buf, (size_t)got), got);
        done += got;
    }
    close(in);
    close(out);
}

static void self_test(void)
{
    char tmpl[] = "/tmp/dusk_h5_test_XXXXXX";
    const char *base = getenv("TMPDIR");
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s/dusk_h5_test_XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(dirbuf);
    if (dir == NULL) dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    snprintf(capture_path, sizeof capture_path, "%s/stderr.txt", dir);
    char *path = join(dir, "results.h5.partial"), *tmp = join(dir, "results.h5.partial.tmp");
    const int64_t t = 37, n = 9;
    dusk__h5_dataset sets[2];
    dusk__h5_attr attrs[NATTRS];
    make_sets(sets, t, n);
    make_attrs(attrs, t, n);
    char why[512];

    /* made whole: contiguous, allocated, NaN everywhere, no .tmp left */
    capture_begin();
    int rc = dusk__h5_create(path, sets, 2, attrs, NATTRS, why, sizeof why);
    capture_end("create");
    if (rc != 0) TEST_FAIL_("dusk__h5_create: %s", why);
    CHECK_EQ(why[0], '\0');
    CHECK(access(tmp, F_OK) != 0);
    CHECK_EQ(sets[0].bytes, t * n * 8);
    CHECK_EQ(sets[1].bytes, t * n * n * 8);
    CHECK_GT(sets[0].offset, 0);
    CHECK_GT(sets[1].offset, 0);
    CHECK(sets[0].offset + sets[0].bytes <= sets[1].offset ||
          sets[1].offset + sets[1].bytes <= sets[0].offset);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_GE(st.st_size, sets[1].offset + sets[1].bytes);
    CHECK_GE(st.st_size, sets[0].offset + sets[0].bytes);
    double *fresh = h5_read_all(path, "/eigenvectors", t * n * n);
    for (int64_t k = 0; k < t * n * n; k++)
        if (!isnan(fresh[k]))
            TEST_FAIL_("value %lld of a fresh dataset is %g, not NaN", (long long)k, fresh[k]);
    free(fresh);
    /* the NaN is there in the file's bytes, where pwrite will go */
    int fd = open(path, O_RDONLY);
    double raw;
    CHECK_EQ(pread(fd, &raw, 8, (off_t)(sets[0].offset + sets[0].bytes - 8)), 8);
    CHECK(isnan(raw));
    close(fd);

    /* rows from 4 threads, at the offsets, read back by HDF5 bit for bit */
    write_all(path, sets, t, n, 4, 0, -1, NULL);
    dusk__h5_dataset again[2];
    make_sets(again, t, n);
    capture_begin();
    rc = dusk__h5_check(path, again, 2, attrs, NATTRS, why, sizeof why);
    capture_end("check");
    if (rc != 0) TEST_FAIL_("dusk__h5_check: %s", why);
    CHECK_EQ(again[0].offset, sets[0].offset);
    CHECK_EQ(again[1].offset, sets[1].offset);
    CHECK_EQ(again[1].bytes, sets[1].bytes);
    double *w = h5_read_all(path, "/eigenvalues", t * n);
    double *v = h5_read_all(path, "/eigenvectors", t * n * n);
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = 0; j < n; j++) {
            double e = value_of(i, j);
            if (memcmp(&w[i * n + j], &e, 8) != 0)
                TEST_FAIL_("eigenvalues[%lld, %lld] = %.17g, expected %.17g", (long long)i,
                           (long long)j, w[i * n + j], e);
            for (int64_t k = 0; k < n; k++) {
                e = vector_of(i, j, k, n);
                if (memcmp(&v[(i * n + j) * n + k], &e, 8) != 0)
                    TEST_FAIL_("eigenvectors[%lld, %lld, %lld] differs", (long long)i, (long long)j,
                               (long long)k);
            }
        }
    free(w);
    free(v);
    check_attrs_hdf5(path, t, n);
    /* no attributes asked: only the datasets are checked */
    make_sets(again, t, n);
    CHECK_OK(dusk__h5_check(path, again, 2, NULL, 0, why, sizeof why));

    /* files that differ */
    dusk__h5_dataset other[2];
    make_sets(other, t, n + 1);
    check_refused(path, other, 2, NULL, 0, DUSK_EFORMAT,
                  "/eigenvalues has shape (37, 9), not (37, 10)");
    make_sets(other, t, n);
    other[1].name = "vectors";
    check_refused(path, other, 2, NULL, 0, DUSK_EFORMAT, "has no dataset vectors");
    make_sets(other, t, n);
    check_refused(path, other, 1, NULL, 0, DUSK_EFORMAT,
                  "holds 2 objects in its root group, not the 1");
    dusk__h5_attr changed[NATTRS];
    make_attrs(changed, t, n);
    changed[5].value = t + 1;
    check_refused(path, other, 2, changed, NATTRS, DUSK_EFORMAT,
                  "attribute 'ntasks' is 37, not 38");
    make_attrs(changed, t, n);
    changed[3].text = "/other";
    check_refused(path, other, 2, changed, NATTRS, DUSK_EFORMAT,
                  "attribute 'dataset' is '/group/mats', not '/other'");
    make_attrs(changed, t, n);
    changed[0].key = "absent";
    check_refused(path, other, 2, changed, NATTRS, DUSK_EFORMAT, "has no attribute 'absent'");
    make_attrs(changed, t, n);
    changed[4].text = "9"; /* an integer attribute asked for as a string */
    check_refused(path, other, 2, changed, NATTRS, DUSK_EFORMAT,
                  "attribute 'n' is of another type");

    /* files that are damaged, missing or not HDF5 */
    char *cut = join(dir, "cut.h5");
    copy_prefix(path, cut, st.st_size / 2);
    make_sets(other, t, n);
    check_refused(cut, other, 2, NULL, 0, DUSK_EFORMAT, "truncated");
    copy_prefix(path, cut, 5);
    check_refused(cut, other, 2, NULL, 0, DUSK_EFORMAT, "not an HDF5 file");
    FILE *fp = fopen(cut, "w");
    fprintf(fp, "eigenvalues: none\n");
    fclose(fp);
    check_refused(cut, other, 2, NULL, 0, DUSK_EFORMAT, "not an HDF5 file (no HDF5 signature)");
    char *missing = join(dir, "missing.h5");
    check_refused(missing, other, 2, NULL, 0, DUSK_EIO, "No such file or directory");
    check_refused(dir, other, 2, NULL, 0, DUSK_EFORMAT, "not a regular file");

    /* one someone else made: chunked, float32 */
    hid_t f = H5Fcreate(cut, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d2[2] = {(hsize_t)t, (hsize_t)n}, d3[3] = {(hsize_t)t, (hsize_t)n, (hsize_t)n},
            c3[3] = {1, (hsize_t)n, (hsize_t)n};
    hid_t s2 = H5Screate_simple(2, d2, NULL), s3 = H5Screate_simple(3, d3, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, c3);
    H5Dclose(
        H5Dcreate2(f, "eigenvalues", H5T_IEEE_F32LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Dclose(H5Dcreate2(f, "eigenvectors", H5T_IEEE_F64LE, s3, H5P_DEFAULT, dcpl, H5P_DEFAULT));
    H5Pclose(dcpl);
    H5Sclose(s2);
    H5Sclose(s3);
    H5Fclose(f);
    check_refused(cut, other, 2, NULL, 0, DUSK_EFORMAT, "/eigenvalues holds float32, not float64");
    other[0] = other[1];
    other[0].name = "/eigenvectors";
    other[1] = (dusk__h5_dataset){.name = "eigenvalues", .ndim = 2, .shape = {t, n}};
    f = H5Fopen(cut, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "eigenvalues", H5P_DEFAULT);
    s2 = H5Screate_simple(2, d2, NULL);
    H5Dclose(
        H5Dcreate2(f, "eigenvalues", H5T_IEEE_F64LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Sclose(s2);
    H5Fclose(f);
    check_refused(cut, other, 2, NULL, 0, DUSK_EFORMAT, "/eigenvectors is not stored contiguously");

    /* arguments */
    make_sets(other, t, n);
    other[0].name = "/a/b";
    create_refused(path, other, 2, NULL, 0, DUSK_EINVAL, "dataset name '/a/b'");
    make_sets(other, t, n);
    other[1].name = "/eigenvalues";
    create_refused(path, other, 2, NULL, 0, DUSK_EINVAL, "named twice");
    make_sets(other, t, n);
    other[0].ndim = 0;
    create_refused(path, other, 2, NULL, 0, DUSK_EINVAL, "ndim is 0");
    make_sets(other, t, n);
    other[1].shape[2] = -1;
    create_refused(path, other, 2, NULL, 0, DUSK_EINVAL, "is negative");
    make_sets(other, t, n);
    other[1].shape[0] = other[1].shape[1] = other[1].shape[2] = INT64_C(1) << 30;
    create_refused(path, other, 2, NULL, 0, DUSK_EINVAL, "too large");
    make_sets(other, t, n);
    make_attrs(changed, t, n);
    changed[2].key = "";
    create_refused(path, other, 2, changed, NATTRS, DUSK_EINVAL, "attribute name ''");
    create_refused(NULL, other, 2, NULL, 0, DUSK_EINVAL, "no path");
    /* the refusals above left the finished file alone */
    make_sets(other, t, n);
    CHECK_OK(dusk__h5_check(path, other, 2, attrs, NATTRS, why, sizeof why));

    /* a directory that does not exist: EIO, nothing left */
    char *nowhere = join(dir, "no/such/dir/results.h5.partial");
    create_refused(nowhere, other, 2, NULL, 0, DUSK_EIO, "cannot create it");

    /* a new file replaces the old one (and a stale .tmp) */
    fp = fopen(tmp, "w");
    fprintf(fp, "left by a killed creation\n");
    fclose(fp);
    dusk__h5_dataset one[1] = {{.name = "eigenvalues", .ndim = 2, .shape = {0, 4}}};
    CHECK_OK(dusk__h5_create(path, one, 1, NULL, 0, why, sizeof why));
    CHECK(access(tmp, F_OK) != 0);
    CHECK_EQ(one[0].offset, -1); /* T = 0: nothing to write */
    CHECK_EQ(one[0].bytes, 0);
    CHECK_OK(dusk__h5_check(path, one, 1, NULL, 0, why, sizeof why));
    check_refused(path, sets, 2, NULL, 0, DUSK_EFORMAT, "holds 1 objects in its root group");

    unlink(path);
    unlink(cut);
    unlink(capture_path);
    CHECK_EQ(rmdir(dir), 0);
    free(path);
    free(tmp);
    free(cut);
    free(missing);
    free(nowhere);
    printf("HDF5 result files: made, written from 4 threads, read back, checked and refused as "
           "expected\n");
}

/* ---- the writer for test_h5_h5py.py ------------------------------------------------------- */

static long long arg(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0') TEST_FAIL_("not a number: %s", s);
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 1) {
        self_test();
        return 0;
    }
    if (argc >= 7 && strcmp(argv[1], "write") == 0) {
        const char *path = argv[2];
        int64_t t = arg(argv[3]), n = arg(argv[4]);
        int threads = (int)arg(argv[5]);
        int64_t delay = argc == 8 ? arg(argv[6]) : 0;
        const char *logname = argv[argc - 1];
        dusk__h5_dataset sets[2];
        dusk__h5_attr attrs[NATTRS];
        make_sets(sets, t, n);
        make_attrs(attrs, t, n);
        char why[512];
        if (dusk__h5_create(path, sets, 2, attrs, NATTRS, why, sizeof why) != 0)
            TEST_FAIL_("create: %s", why);
        int log = open(logname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        CHECK(log >= 0);
        printf("created %lld %lld\n", (long long)sets[0].offset, (long long)sets[1].offset);
        fflush(stdout);
        write_all(path, sets, t, n, threads, delay, log, NULL);
        close(log);
        printf("done\n");
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "resume") == 0) {
        const char *path = argv[2];
        int64_t t = arg(argv[3]), n = arg(argv[4]);
        int threads = (int)arg(argv[5]);
        dusk__h5_dataset sets[2];
        dusk__h5_attr attrs[NATTRS];
        make_sets(sets, t, n);
        make_attrs(attrs, t, n);
        char why[512];
        if (dusk__h5_check(path, sets, 2, attrs, NATTRS, why, sizeof why) != 0)
            TEST_FAIL_("check: %s", why);
        unsigned char *done = calloc((size_t)t + 1, 1);
        CHECK(done != NULL);
        FILE *fp = fopen(argv[6], "r");
        long long i;
        while (fp != NULL && fscanf(fp, "%lld", &i) == 1)
            if (i >= 0 && i < t) done[i] = 1;
        if (fp) fclose(fp);
        write_all(path, sets, t, n, threads, 0, -1, done);
        free(done);
        printf("resumed\n");
        return 0;
    }
    fprintf(stderr,
            "usage: %s [write PATH T N THREADS [DELAY_US] LOG | resume PATH T N THREADS LOG]\n",
            argv[0]);
    return 2;
}
