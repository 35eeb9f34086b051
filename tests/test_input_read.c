/* dusk_input on the files tests/fixtures/input/make_fixtures.py makes (HDF5 in every layout
 * h5py writes, .npy, damaged files): every file it accepts must read, matrix by matrix and
 * from several threads at once, NumPy's values; every file it refuses must be refused with
 * the expected code and one line naming the file (and dataset). Fingerprints: equal for the
 * same content reached otherwise, different when content, shape, dtype or dataset differ;
 * and cheap on a sparse 1 TiB .npy file (reading it whole would outlast the test's timeout).
 * Prints nothing on stderr unless a check fails: tests/test_input_hdf5.py runs it with
 * stderr captured, so that an HDF5-DIAG report would fail the test.
 *
 * In a build without HDF5, every HDF5 file must be refused (EINVAL, "built without HDF5") and
 * the other cases hold as they are.
 *
 * Usage: test_input_read DIR   (DIR holds the files and cases.txt)
 */
#define _POSIX_C_SOURCE 200809L

#include "dusk_input.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_ 4096
#define THREADS 4

static const char *dir;

static char *join(const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    CHECK(s != NULL);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int code_of(const char *name)
{
    if (strcmp(name, "EFORMAT") == 0) return DUSK_EFORMAT;
    if (strcmp(name, "EIO") == 0) return DUSK_EIO;
    if (strcmp(name, "EINVAL") == 0) return DUSK_EINVAL;
    TEST_FAIL_("cases.txt: unknown code '%s'", name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) TEST_FAIL_("cannot open %s: %s", path, strerror(errno));
    CHECK_EQ(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    CHECK_GE(n, 0);
    rewind(fp);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf != NULL);
    CHECK_EQ(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static dusk_input *open_ok(const char *spec)
{
    char *p = join(spec), why[512];
    dusk_input *in = NULL;
    int rc = dusk_input_open(p, &in, why, sizeof why);
    if (rc != 0)
        TEST_FAIL_("%s: dusk_input_open returned %d (%s): %s", spec, rc, dusk_strerror(rc), why);
    CHECK_EQ(why[0], '\0');
    free(p);
    return in;
}

/* ---- accepted files -------------------------------------------------------------------- */

typedef struct reader {
    const dusk_input *in;
    const double *expected;
    int64_t count, n2;
    int id;
    int bad; /* first index that read wrong, + 1 */
} reader;

static void *read_all(void *arg)
{
    reader *r = arg;
    double *got = malloc((size_t)(r->n2 + 1) * sizeof *got);
    CHECK(got != NULL);
    for (int64_t k = 0; k < r->count && !r->bad; k++) {
        /* each thread in its own order: forwards, backwards, odd strides */
        int64_t i = r->id == 0   ? k
                    : r->id == 1 ? r->count - 1 - k
                                 : (k * (2 * r->id + 1)) % r->count;
        if (dusk_input_read_matrix(r->in, i, got) != 0 ||
            memcmp(got, r->expected + i * r->n2, (size_t)r->n2 * sizeof *got) != 0)
            r->bad = (int)i + 1;
    }
    free(got);
    return NULL;
}

/* detail: shape=D0,D1[,D2] values=NAME.f64 format=F [dataset=/P] [conversion=W_W] */
static void check_accepted(const char *spec, const char *detail)
{
    int64_t shape[3];
    int ndim = 0;
    const char *p = strstr(detail, "shape=");
    CHECK(p != NULL);
    p += strlen("shape=");
    while (*p >= '0' && *p <= '9') {
        CHECK_LT(ndim, 3);
        char *end;
        shape[ndim++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    char values[256] = "", format[16] = "", dataset[512] = "", conversion[128] = "";
    const char *q;
    CHECK((q = strstr(detail, "values=")) && sscanf(q, "values=%255s", values) == 1);
    CHECK((q = strstr(detail, "format=")) && sscanf(q, "format=%15s", format) == 1);
    if ((q = strstr(detail, "dataset="))) CHECK(sscanf(q, "dataset=%511s", dataset) == 1);
    if ((q = strstr(detail, "conversion="))) {
        CHECK(sscanf(q, "conversion=%127s", conversion) == 1);
        for (char *c = conversion; *c; c++)
            if (*c == '_') *c = ' ';
    }

    dusk_input *in = open_ok(spec);
    CHECK_EQ(dusk_input_ndim(in), ndim);
    for (int i = 0; i < ndim; i++)
        if (dusk_input_shape(in)[i] != shape[i])
            TEST_FAIL_("%s: dimension %d is %" PRId64 ", expected %" PRId64, spec, i,
                       dusk_input_shape(in)[i], shape[i]);
    int64_t count = ndim == 3 ? shape[0] : 1, n = shape[ndim - 1];
    CHECK_EQ(dusk_input_count(in), count);
    CHECK_EQ(dusk_input_n(in), n);
    if (strcmp(dusk_input_format(in), format) != 0)
        TEST_FAIL_("%s: format %s, expected %s", spec, dusk_input_format(in), format);
    const char *ds = dusk_input_dataset(in);
    if (dataset[0] ? ds == NULL || strcmp(ds, dataset) != 0 : ds != NULL)
        TEST_FAIL_("%s: dataset %s, expected %s", spec, ds ? ds : "(none)",
                   dataset[0] ? dataset : "(none)");
    const char *conv = dusk_input_conversion(in);
    if (conversion[0] ? conv == NULL || strstr(conv, conversion) == NULL : conv != NULL)
        TEST_FAIL_("%s: conversion '%s', expected '%s'", spec, conv ? conv : "(none)",
                   conversion[0] ? conversion : "(none)");
    /* the file part of the spec, as given */
    const char *path = dusk_input_path(in);
    CHECK(path != NULL && strncmp(path, dir, strlen(dir)) == 0);

    char *vpath = join(values);
    size_t len;
    double *expected = (double *)slurp(vpath, &len);
    int64_t n2 = n * n;
    CHECK_EQ((int64_t)len, count * n2 * (int64_t)sizeof(double));
    double *got = malloc((size_t)(n2 + 1) * sizeof *got);
    CHECK(got != NULL);
    for (int64_t i = 0; i < count; i++) {
        CHECK_OK(dusk_input_read_matrix(in, i, got));
        for (int64_t k = 0; k < n2; k++)
            if (memcmp(&got[k], &expected[i * n2 + k], sizeof(double)) != 0)
                TEST_FAIL_("%s: matrix %" PRId64 " value %" PRId64 " is %.17g, NumPy's %.17g", spec,
                           i, k, got[k], expected[i * n2 + k]);
    }
    CHECK_EQ(dusk_input_read_matrix(in, count, got), DUSK_EINVAL);
    CHECK_EQ(dusk_input_read_matrix(in, -1, got), DUSK_EINVAL);
    if (count > 0 && n > 0) CHECK_EQ(dusk_input_read_matrix(in, 0, NULL), DUSK_EINVAL);

    if (count > 0 && n > 0) {
        pthread_t th[THREADS];
        reader r[THREADS];
        for (int t = 0; t < THREADS; t++) {
            r[t] = (reader){in, expected, count, n2, t, 0};
            CHECK_EQ(pthread_create(&th[t], NULL, read_all, &r[t]), 0);
        }
        for (int t = 0; t < THREADS; t++) {
            CHECK_EQ(pthread_join(th[t], NULL), 0);
            if (r[t].bad) TEST_FAIL_("%s: thread %d read matrix %d wrong", spec, t, r[t].bad - 1);
        }
    }

    char fp[DUSK_INPUT_FINGERPRINT_MAX], fp2[DUSK_INPUT_FINGERPRINT_MAX];
    CHECK_OK(dusk_input_fingerprint(in, fp, sizeof fp));
    CHECK_OK(dusk_input_fingerprint(in, fp2, sizeof fp2));
    CHECK_EQ(strcmp(fp, fp2), 0);
    CHECK_EQ(strncmp(fp, format, strlen(format)), 0);
    CHECK_EQ(strspn(fp, "0123456789abcdefghijklmnopqrstuvwxyz:"), strlen(fp));
    CHECK_EQ(dusk_input_fingerprint(in, fp2, DUSK_INPUT_FINGERPRINT_MAX - 1), DUSK_EINVAL);
    CHECK_EQ(fp2[0], '\0');

    dusk_input_close(&in);
    CHECK(in == NULL);
    dusk_input_close(&in);
    free(got);
    free(expected);
    free(vpath);
}

/* ---- refused files --------------------------------------------------------------------- */

/* words: "A|B|C", each of which must be in `why` */
static void check_refused(const char *spec, int code, const char *words)
{
    char *p = join(spec), why[512];
    memset(why, 'x', sizeof why);
    dusk_input *in = (dusk_input *)1; /* must be reset */
    int rc = dusk_input_open(p, &in, why, sizeof why);
    if (rc != code)
        TEST_FAIL_("%s: dusk_input_open returned %d (%s), expected %d; why: %s", spec, rc,
                   dusk_strerror(rc), code, rc != 0 ? why : "");
    CHECK(in == NULL);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (strchr(why, '\n') != NULL) TEST_FAIL_("%s: why is not one line: %s", spec, why);
    /* it names the file, as given */
    char file[1024];
    snprintf(file, sizeof file, "%s/%s", dir, spec);
    char *colon = strchr(file + strlen(dir) + 1, ':');
    if (colon && strncmp(spec, "odd:", 4) != 0) *colon = '\0';
    if (strncmp(why, file, strlen(file)) != 0)
        TEST_FAIL_("%s: why \"%s\" does not start with the file's name %s", spec, why, file);
    char list[LINE_MAX_];
    snprintf(list, sizeof list, "%s", words);
    for (char *w = strtok(list, "|"); w != NULL; w = strtok(NULL, "|"))
        if (strstr(why, w) == NULL) TEST_FAIL_("%s: why \"%s\" does not hold \"%s\"", spec, why, w);

    /* a short buffer is cut and terminated; no buffer at all is fine */
    char tiny[7];
    CHECK_EQ(dusk_input_open(p, &in, tiny, sizeof tiny), code);
    CHECK_EQ(strlen(tiny), sizeof tiny - 1);
    CHECK_EQ(strncmp(tiny, why, strlen(tiny)), 0);
    CHECK_EQ(dusk_input_open(p, &in, NULL, 0), code);
    CHECK(in == NULL);
    free(p);
}

typedef struct bad_reader {
    const dusk_input *in;
    int64_t index;
    double *buf;
    int rc;
} bad_reader;

static void *read_one(void *arg)
{
    bad_reader *r = arg;
    r->rc = dusk_input_read_matrix(r->in, r->index, r->buf);
    return NULL;
}

static void check_bad_read(const char *spec, const char *detail)
{
    long index;
    char name[16];
    CHECK(sscanf(detail, "index=%ld code=%15s", &index, name) == 2);
    dusk_input *in = open_ok(spec);
    double *buf = malloc((size_t)(dusk_input_n(in) * dusk_input_n(in)) * sizeof *buf);
    CHECK(buf != NULL);
    for (int64_t i = 0; i < dusk_input_count(in); i++) {
        int rc = dusk_input_read_matrix(in, i, buf);
        if (i == index && rc != code_of(name))
            TEST_FAIL_("%s: matrix %" PRId64 ": %d (%s), expected %s", spec, i, rc,
                       dusk_strerror(rc), name);
        if (i != index) CHECK_OK(rc);
    }
    /* again from another thread: HDF5's error printing is off there too (stderr is checked) */
    bad_reader r = {in, index, buf, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, read_one, &r), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(r.rc, code_of(name));
    free(buf);
    dusk_input_close(&in);
}

static void check_fingerprints(const char *a, const char *b, int same)
{
    dusk_input *x = open_ok(a), *y = open_ok(b);
    char fa[DUSK_INPUT_FINGERPRINT_MAX], fb[DUSK_INPUT_FINGERPRINT_MAX];
    CHECK_OK(dusk_input_fingerprint(x, fa, sizeof fa));
    CHECK_OK(dusk_input_fingerprint(y, fb, sizeof fb));
    if ((strcmp(fa, fb) == 0) != same)
        TEST_FAIL_("fingerprints of %s (%s) and %s (%s) should %s", a, fa, b, fb,
                   same ? "be equal" : "differ");
    dusk_input_close(&x);
    dusk_input_close(&y);
}

/* ---- a build without HDF5 ------------------------------------------------------------------ */

/* The spec's file starts with HDF5's signature (the whole spec, or what comes before its last
 * ':', as dusk_input_open takes it when the whole is not a file). */
static int is_hdf5(const char *spec)
{
    char *p = join(spec);
    int fd = open(p, O_RDONLY);
    char *colon = strrchr(p, ':');
    if (fd < 0 && colon != NULL) {
        *colon = '\0';
        fd = open(p, O_RDONLY);
    }
    free(p);
    if (fd < 0) return 0;
    unsigned char sig[8];
    int yes = 0;
    for (off_t off = 0; off <= 512 && !yes; off += 512)
        yes = pread(fd, sig, 8, off) == 8 && memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
    close(fd);
    return yes;
}

/* ---- a sparse 1 TiB .npy file: the fingerprint samples it -------------------------------- */

static void fingerprint_of(const char *path, char *fp)
{
    dusk_input *in = NULL;
    char why[256];
    int rc = dusk_input_open(path, &in, why, sizeof why);
    if (rc != 0) TEST_FAIL_("%s: %s", path, why);
    CHECK_OK(dusk_input_fingerprint(in, fp, DUSK_INPUT_FINGERPRINT_MAX));
    dusk_input_close(&in);
}

static void poke(int fd, int64_t off)
{
    unsigned char one = 1;
    CHECK_EQ(pwrite(fd, &one, 1, (off_t)off), 1);
}

static void check_huge_file(void)
{
    /* (2048, 8192, 8192) float64: 1 TiB of data after a 128-byte header */
    char *path = join("huge_sparse.npy");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    char header[128];
    int len = snprintf(header, sizeof header,
                       "\x93NUMPY\x01%c%c%c{'descr': '<f8', "
                       "'fortran_order': False, 'shape': (2048, 8192, 8192), }",
                       0, 118, 0);
    memset(header + len, ' ', sizeof header - (size_t)len - 1);
    header[sizeof header - 1] = '\n';
    CHECK_EQ(pwrite(fd, header, sizeof header, 0), (ssize_t)sizeof header);
    const int64_t size = 128 + ((int64_t)1 << 40);
    if (ftruncate(fd, (off_t)size) != 0) {
        printf("no sparse 1 TiB file here (%s): skipped that check\n", strerror(errno));
        close(fd);
        unlink(path);
        free(path);
        return;
    }
    char base[DUSK_INPUT_FINGERPRINT_MAX], fp[DUSK_INPUT_FINGERPRINT_MAX];
    fingerprint_of(path, base);
    dusk_input *in = open_ok("huge_sparse.npy");
    CHECK_EQ(dusk_input_count(in), 2048);
    CHECK_EQ(dusk_input_n(in), 8192);
    dusk_input_close(&in);

    /* a byte changed in the last block, or in a sampled block in the middle, is seen */
    const int64_t blocks = (size + 4095) / 4096;
    poke(fd, size - 1);
    fingerprint_of(path, fp);
    CHECK(strcmp(fp, base) != 0);
    int64_t sampled = 31 * (blocks - 1) / 63 * 4096 + 100;
    poke(fd, sampled);
    char fp2[DUSK_INPUT_FINGERPRINT_MAX];
    fingerprint_of(path, fp2);
    CHECK(strcmp(fp2, fp) != 0);
    /* one between two sampled blocks is not: the fingerprint is a sample, as documented */
    int64_t between = (31 * (blocks - 1) / 63 + 5) * 4096;
    poke(fd, between);
    fingerprint_of(path, fp);
    CHECK_EQ(strcmp(fp, fp2), 0);
    close(fd);
    CHECK_EQ(unlink(path), 0);
    free(path);
}

/* ---- arguments -------------------------------------------------------------------------- */

static void check_arguments(void)
{
    dusk_input *in = (dusk_input *)1;
    char why[128];
    CHECK_EQ(dusk_input_open(NULL, &in, why, sizeof why), DUSK_EINVAL);
    CHECK(in == NULL);
    CHECK(why[0] != '\0');
    CHECK_EQ(dusk_input_open("", &in, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_input_open("x.npy", NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_input_ndim(NULL), 0);
    CHECK(dusk_input_shape(NULL) == NULL);
    CHECK_EQ(dusk_input_count(NULL), 0);
    CHECK_EQ(dusk_input_n(NULL), 0);
    CHECK(dusk_input_conversion(NULL) == NULL);
    CHECK(dusk_input_path(NULL) == NULL);
    CHECK(dusk_input_dataset(NULL) == NULL);
    CHECK(dusk_input_format(NULL) == NULL);
    double x;
    CHECK_EQ(dusk_input_read_matrix(NULL, 0, &x), DUSK_EINVAL);
    char fp[DUSK_INPUT_FINGERPRINT_MAX];
    CHECK_EQ(dusk_input_fingerprint(NULL, fp, sizeof fp), DUSK_EINVAL);
    dusk_input_close(NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    int hdf5 = dusk_have_hdf5();
    if (!hdf5) printf("this dusk was built without HDF5: HDF5 files must be refused\n");
    check_arguments();
    char *manifest = join("cases.txt");
    FILE *fp = fopen(manifest, "r");
    if (fp == NULL) TEST_FAIL_("cannot open %s: %s", manifest, strerror(errno));
    char line[LINE_MAX_];
    int counts[5] = {0}, lineno = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        char *spec = line, *kind = strchr(line, '\t');
        char *detail = kind != NULL ? strchr(kind + 1, '\t') : NULL;
        if (detail == NULL)
            TEST_FAIL_("%s:%d: expected SPEC<TAB>EXPECT<TAB>DETAIL", manifest, lineno);
        *kind++ = '\0';
        *detail++ = '\0';
        /* (an empty dataset name is refused before the file is read) */
        if (!hdf5 && is_hdf5(spec) && spec[strlen(spec) - 1] != ':') {
            if (strcmp(kind, "SAMEFP") != 0 && strcmp(kind, "DIFFFP") != 0) {
                check_refused(spec, DUSK_EINVAL,
                              "an HDF5 file, and this dusk was built without HDF5");
                counts[4]++;
            }
            continue;
        }
        if (strcmp(kind, "OK") == 0) {
            check_accepted(spec, detail);
            counts[0]++;
        } else if (strcmp(kind, "BADREAD") == 0) {
            check_bad_read(spec, detail);
            counts[2]++;
        } else if (strcmp(kind, "SAMEFP") == 0 || strcmp(kind, "DIFFFP") == 0) {
            check_fingerprints(spec, detail, kind[0] == 'S');
            counts[3]++;
        } else {
            check_refused(spec, code_of(kind), detail);
            counts[1]++;
        }
    }
    fclose(fp);
    free(manifest);
    CHECK_GT(counts[0], 0);
    CHECK_GT(counts[1], 0);
    CHECK_GT(counts[3], 0);
    CHECK(hdf5 || counts[4] > 0);
    check_huge_file();
    printf("%d inputs read as NumPy wrote them, %d refused as expected, %d bad reads, %d "
           "fingerprint pairs; %d HDF5 files refused by a build without HDF5\n",
           counts[0], counts[1], counts[2], counts[3], counts[4]);
    return 0;
}
