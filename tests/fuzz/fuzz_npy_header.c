/* libFuzzer target for the .npy reader: the header parser on a memory buffer
 * (dusk__npy_parse_header, the code dusk_npy_open runs), then, when it accepts the input,
 * dusk_npy_open and dusk_npy_read_matrix on the same bytes as a file.
 *
 * Besides crashes and sanitizer reports, it checks what the parser promises:
 *   - a refusal has a one-line reason and leaves the result zeroed;
 *   - an accepted header fits the input: at most DUSK_NPY_MAX_DIMS dimensions, none negative,
 *     a dtype of 8 or 4 bytes, and data_offset + itemsize * count <= size;
 *   - the file reader agrees with the buffer parser, and every matrix it reads holds the
 *     values the shape, order and dtype say (byte-swapped and widened here on their own),
 *     found by an independent index computation.
 * Any failed check aborts, which libFuzzer reports as a crash with the input saved.
 *
 * Built two ways (tests/CMakeLists.txt): with clang's -fsanitize=fuzzer (DUSK_FUZZ=ON), and
 * with replay_main.c as test_npy_fuzz_corpus, which runs it over the corpus in every build.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dusk_npy.h"
#include "npy_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "fuzz_npy_header: check failed: %s (line %d)\n", #expr, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0) return 0;
    return 1;
}

/* The value at p as the header's dtype says, as a double. */
static double expected_value(const uint8_t *p, const dusk__npy_header *h)
{
    uint8_t b[8];
    for (int i = 0; i < h->itemsize; i++)
        b[i] = h->big_endian ? p[h->itemsize - 1 - i] : p[i];
    if (h->itemsize == 8) {
        double d;
        memcpy(&d, b, 8);
        return d;
    }
    float x;
    memcpy(&x, b, 4);
    return (double)x;
}

/* Check every matrix dusk_npy_read_matrix returns against the bytes of the input. */
static void check_matrices(const dusk_npy *f, const dusk__npy_header *h, const uint8_t *data)
{
    int nd = h->ndim;
    int64_t rows = nd >= 2 ? h->shape[nd - 2] : 1, cols = nd >= 1 ? h->shape[nd - 1] : 1;
    int64_t nmat = 1;
    for (int i = 0; i < nd - 2; i++)
        nmat *= h->shape[i];
    if (h->count == 0) return;
    double *got = malloc((size_t)(rows * cols) * sizeof *got);
    FUZZ_CHECK(got != NULL);
    for (int64_t m = 0; m < nmat; m++) {
        FUZZ_CHECK(dusk_npy_read_matrix(f, m, got) == 0);
        /* the index tuple of element (r, c) of matrix m, then its place in the file */
        int64_t idx[DUSK_NPY_MAX_DIMS];
        int64_t k = m;
        for (int d = nd - 3; d >= 0; d--) {
            idx[d] = k % h->shape[d];
            k /= h->shape[d];
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                if (nd >= 2) idx[nd - 2] = r;
                if (nd >= 1) idx[nd - 1] = c;
                int64_t lin = 0;
                if (h->fortran) {
                    for (int d = nd - 1; d >= 0; d--)
                        lin = lin * h->shape[d] + idx[d];
                } else {
                    for (int d = 0; d < nd; d++)
                        lin = lin * h->shape[d] + idx[d];
                }
                double want = expected_value(data + h->data_offset + h->itemsize * lin, h);
                FUZZ_CHECK(memcmp(&got[r * cols + c], &want, 8) == 0);
            }
    }
    FUZZ_CHECK(dusk_npy_read_matrix(f, nmat, got) == DUSK_EINVAL);
    free(got);
}

/* The same bytes as a file, through the public reader. */
static void check_file(const uint8_t *data, size_t size, const dusk__npy_header *h)
{
    int fd = memfd_create("fuzz.npy", MFD_CLOEXEC);
    if (fd < 0) return; /* no memfd here: the buffer checks still ran */
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
    char path[64], why[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    dusk_npy *f = NULL;
    int rc = dusk_npy_open(path, &f, why, sizeof why);
    if (h == NULL) {
        FUZZ_CHECK(rc == DUSK_EFORMAT && f == NULL);
    } else {
        FUZZ_CHECK(rc == 0 && f != NULL);
        FUZZ_CHECK(dusk_npy_ndim(f) == h->ndim);
        FUZZ_CHECK(dusk_npy_fortran_order(f) == h->fortran);
        const char *dtype = dusk_npy_dtype(f);
        FUZZ_CHECK(dtype[0] == (h->big_endian ? '>' : '<'));
        FUZZ_CHECK(dtype[2] - '0' == h->itemsize);
        FUZZ_CHECK((dusk_npy_conversion(f) == NULL) == (h->itemsize == 8 && !h->big_endian));
        FUZZ_CHECK(memcmp(dusk_npy_shape(f), h->shape, (size_t)h->ndim * sizeof(int64_t)) == 0);
        check_matrices(f, h, data);
        dusk_npy_close(&f);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dusk__npy_header h;
    char why[256];
    memset(why, 'x', sizeof why);
    int rc = dusk__npy_parse_header(data, size, &h, why, sizeof why);
    FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
    FUZZ_CHECK(strchr(why, '\n') == NULL);
    if (rc != 0) {
        FUZZ_CHECK(rc == DUSK_EFORMAT);
        FUZZ_CHECK(why[0] != '\0');
        FUZZ_CHECK(all_zero(&h, sizeof h));
        /* the file reader refuses it too (small inputs only: the check costs a syscall) */
        if (size <= 4096) check_file(data, size, NULL);
        return 0;
    }
    FUZZ_CHECK(why[0] == '\0');
    FUZZ_CHECK(h.ndim >= 0 && h.ndim <= DUSK_NPY_MAX_DIMS);
    FUZZ_CHECK(h.fortran == 0 || h.fortran == 1);
    int64_t count = 1;
    for (int i = 0; i < h.ndim; i++) {
        FUZZ_CHECK(h.shape[i] >= 0);
        FUZZ_CHECK(h.shape[i] == 0 || count <= INT64_MAX / h.shape[i]);
        count *= h.shape[i];
    }
    FUZZ_CHECK(count == h.count);
    FUZZ_CHECK(h.data_offset >= 10 && (uint64_t)h.data_offset <= size);
    FUZZ_CHECK(h.itemsize == 8 || h.itemsize == 4);
    FUZZ_CHECK(h.big_endian == 0 || h.big_endian == 1);
    FUZZ_CHECK(h.count <= ((int64_t)size - h.data_offset) / h.itemsize);
    check_file(data, size, &h);
    return 0;
}
