/* dusk_npy_open on the corpus in tests/fixtures/npy (made by make_corpus.py there): every
 * file it refuses must be refused with the expected code and reason, every file it accepts
 * must read back the values NumPy holds. The cases come from the corpus's cases.txt, so
 * adding one needs no change here.
 *
 * Usage: test_npy_refusals CORPUS_DIR
 */
#include "dusk_npy.h"
#include "test.h"

#include <errno.h>

#define LINE_MAX_ 4096

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    CHECK(s != NULL);
    snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int code_of(const char *name)
{
    if (strcmp(name, "OK") == 0) return 0;
    if (strcmp(name, "EFORMAT") == 0) return DUSK_EFORMAT;
    if (strcmp(name, "EIO") == 0) return DUSK_EIO;
    if (strcmp(name, "EINVAL") == 0) return DUSK_EINVAL;
    TEST_FAIL_("cases.txt: unknown code '%s'", name);
}

/* The whole of a small file, into *len bytes. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) TEST_FAIL_("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
    }
    CHECK(!ferror(fp));
    fclose(fp);
    *len = n;
    return buf;
}

static void check_refused(const char *dir, const char *name, int code, const char *substring)
{
    char *path = join(dir, name);
    char why[256];
    memset(why, 'x', sizeof why);
    dusk_npy *f = (dusk_npy *)1; /* must be reset */
    int rc = dusk_npy_open(path, &f, why, sizeof why);
    if (rc != code)
        TEST_FAIL_("%s: dusk_npy_open returned %d (%s), expected %d; why: %s", name, rc,
                   dusk_strerror(rc), code, rc != 0 ? why : "");
    CHECK(f == NULL);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    CHECK(strchr(why, '\n') == NULL);
    if (strstr(why, substring) == NULL)
        TEST_FAIL_("%s: why \"%s\" does not contain \"%s\"", name, why, substring);

    /* A short buffer is cut and still terminated; no buffer at all is fine too. */
    char tiny[6];
    memset(tiny, 'x', sizeof tiny);
    CHECK_EQ(dusk_npy_open(path, &f, tiny, sizeof tiny), code);
    CHECK(memchr(tiny, '\0', sizeof tiny) != NULL);
    CHECK_EQ(strncmp(tiny, why, strlen(tiny)), 0);
    CHECK_EQ(dusk_npy_open(path, &f, NULL, 0), code);
    CHECK(f == NULL);
    free(path);
}

/* detail: "shape=D0,D1,... fortran=0|1 values=NAME.f64 [dtype=DESCR]" */
static void check_accepted(const char *dir, const char *name, const char *detail)
{
    int64_t shape[DUSK_NPY_MAX_DIMS];
    int ndim = 0, fortran = -1;
    char values_name[256] = "";
    const char *p = strstr(detail, "shape=");
    CHECK(p != NULL);
    p += strlen("shape=");
    while (*p >= '0' && *p <= '9') {
        CHECK_LT(ndim, DUSK_NPY_MAX_DIMS);
        char *end;
        shape[ndim++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    const char *q = strstr(detail, "fortran=");
    CHECK(q != NULL && sscanf(q, "fortran=%d", &fortran) == 1);
    q = strstr(detail, "values=");
    CHECK(q != NULL && sscanf(q, "values=%255s", values_name) == 1);
    char dtype[8] = "<f8";
    q = strstr(detail, "dtype=");
    CHECK(q == NULL || sscanf(q, "dtype=%7s", dtype) == 1);

    char *path = join(dir, name);
    char why[256];
    dusk_npy *f = NULL;
    int rc = dusk_npy_open(path, &f, why, sizeof why);
    if (rc != 0)
        TEST_FAIL_("%s: dusk_npy_open returned %d (%s): %s", name, rc, dusk_strerror(rc), why);
    CHECK_EQ(why[0], '\0');
    CHECK_EQ(dusk_npy_ndim(f), ndim);
    for (int i = 0; i < ndim; i++)
        CHECK_EQ(dusk_npy_shape(f)[i], shape[i]);
    CHECK_EQ(dusk_npy_fortran_order(f), fortran);
    if (strcmp(dusk_npy_dtype(f), dtype) != 0)
        TEST_FAIL_("%s: dtype %s, expected %s", name, dusk_npy_dtype(f), dtype);
    /* a conversion is named exactly when there is one, and says which */
    const char *conv = dusk_npy_conversion(f);
    if (strcmp(dtype, "<f8") == 0) {
        CHECK(conv == NULL);
    } else {
        CHECK(conv != NULL);
        if (dtype[2] == '4') CHECK_STR_CONTAINS(conv, "widened to float64");
        if (dtype[0] == '>') CHECK_STR_CONTAINS(conv, "big-endian");
    }

    int64_t rows = ndim >= 2 ? shape[ndim - 2] : 1, cols = ndim >= 1 ? shape[ndim - 1] : 1;
    int64_t nmat = 1;
    for (int i = 0; i < ndim - 2; i++)
        nmat *= shape[i];
    int64_t total = nmat * rows * cols;

    char *values_path = join(dir, values_name);
    size_t len;
    char *expected = slurp(values_path, &len);
    CHECK_EQ(len, total * (int64_t)sizeof(double));
    double *got = malloc((size_t)(total + 1) * sizeof(double));
    CHECK(got != NULL);
    for (int64_t i = 0; i < nmat; i++)
        CHECK_OK(dusk_npy_read_matrix(f, i, got + i * rows * cols));
    if (total > 0 && memcmp(got, expected, len) != 0) {
        for (int64_t i = 0; i < total; i++) {
            double e;
            memcpy(&e, expected + i * (int64_t)sizeof(double), sizeof e);
            if (memcmp(&e, &got[i], sizeof e) != 0)
                TEST_FAIL_("%s: value %" PRId64 " (C order) is %.17g, expected %.17g", name, i,
                           got[i], e);
        }
    }
    CHECK_EQ(dusk_npy_read_matrix(f, nmat, got), DUSK_EINVAL);
    CHECK_EQ(dusk_npy_read_matrix(f, -1, got), DUSK_EINVAL);

    dusk_npy_close(&f);
    CHECK(f == NULL);
    free(got);
    free(expected);
    free(values_path);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char *manifest = join(dir, "cases.txt");
    FILE *fp = fopen(manifest, "r");
    if (fp == NULL) TEST_FAIL_("cannot open %s: %s", manifest, strerror(errno));

    char line[LINE_MAX_];
    int refusals = 0, accepted = 0, lineno = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        char *name = line, *code = strchr(line, '\t');
        char *detail = code != NULL ? strchr(code + 1, '\t') : NULL;
        if (detail == NULL)
            TEST_FAIL_("%s:%d: expected NAME<TAB>CODE<TAB>DETAIL", manifest, lineno);
        *code++ = '\0';
        *detail++ = '\0';
        int expect = code_of(code);
        if (expect == 0) {
            check_accepted(dir, name, detail);
            accepted++;
        } else {
            check_refused(dir, name, expect, detail);
            refusals++;
        }
    }
    fclose(fp);
    free(manifest);
    CHECK_GT(refusals, 0);
    CHECK_GT(accepted, 0);
    printf("%d files refused and %d read as expected\n", refusals, accepted);
    return 0;
}
