/* dusk_npy: NumPy .npy files of float64 (see dusk_npy.h and NumPy's format.py); readers also
 * take big-endian float64 and float32 of either byte order, converted as they are read.
 *
 * A file is a preamble (magic, version, header length), a header that is a Python dict
 * literal, then the data. Readers never trust the header: every length is checked against
 * the file before anything is allocated or read, and every size is computed with overflow
 * checks. Data is moved with pread/pwrite only, so one handle serves many threads.
 */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* '<f8' data is moved between the file and memory as it is: the host must be little-endian
 * with IEEE doubles, and offsets and sizes must hold 64 bits (dusk targets x86-64). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dusk_npy needs a little-endian host"
#endif
_Static_assert(sizeof(double) == 8, "dusk_npy needs 8-byte doubles");
_Static_assert(sizeof(off_t) == 8, "dusk_npy needs a 64-bit off_t");
_Static_assert(SIZE_MAX >= INT64_MAX, "dusk_npy needs a 64-bit size_t");

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_PREAMBLE_MAX 12        /* magic, version, u32 header length */
#define NPY_HEADER_MAX (1u << 20)  /* longest header we accept; NumPy writes < 300 bytes */
#define NPY_ALIGN 64               /* the data starts on this boundary, as NumPy does */
#define NPY_GATHER_BYTES (1 << 20) /* buffer for reading Fortran-order matrices */
#define NPY_QUOTE_MAX 40           /* longest piece of a header quoted in a message */
#define NPY_DTYPES_READ "dusk reads float64 and float32 ('<f8', '>f8', '<f4', '>f4')"

struct dusk_npy {
    int fd;
    int writable; /* made by dusk_npy_create() */
    int ndim;
    int fortran;
    int64_t shape[DUSK_NPY_MAX_DIMS];
    int64_t count;       /* number of values */
    int64_t data_offset; /* bytes before the data */
    int itemsize;        /* 8 (float64) or 4 (float32); writers: 8 */
    int big_endian;      /* the data is big-endian ('>f8', '>f4'); writers: 0 */
    char *path;          /* writers: the name dusk_npy_commit() gives the file */
    char *partial;       /* writers: PATH.partial */
    int joined;          /* made by dusk_npy_join(): another process creates and renames it */
};

/* ---- messages --------------------------------------------------------------------------- */

/* ---- sizes ------------------------------------------------------------------------------ */

/* The number of values of a shape whose dimensions are all >= 0, into *count. Returns -1
 * when the product of the non-zero dimensions, times 8 bytes, plus data_offset, does not fit
 * in int64: then no sub-product (a matrix, the number of matrices) can overflow either. */
static int shape_count(int ndim, const int64_t *shape, int64_t data_offset, int64_t *count)
{
    int64_t product = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            zero = 1;
            continue;
        }
        if (product > INT64_MAX / shape[i]) return -1;
        product *= shape[i];
    }
    if (product > (INT64_MAX - data_offset) / (int64_t)sizeof(double)) return -1;
    *count = zero ? 0 : product;
    return 0;
}

/* A file shaped (..., rows, cols) holds nmat matrices of rows x cols. With fewer than two
 * dimensions the missing ones count as 1: a 1-d file is one matrix of 1 x n. */
static void matrix_geometry(const dusk_npy *f, int64_t *rows, int64_t *cols, int64_t *nmat)
{
    int n = f->ndim;
    *rows = n >= 2 ? f->shape[n - 2] : 1;
    *cols = n >= 1 ? f->shape[n - 1] : 1;
    *nmat = 1;
    for (int i = 0; i < n - 2; i++)
        *nmat *= f->shape[i];
}

/* ---- the header dict -------------------------------------------------------------------- */

typedef struct npy_header {
    char descr[NPY_QUOTE_MAX + 4]; /* may end in "..." when the file's is longer */
    int have_descr, have_fortran, have_shape;
    int fortran;
    int ndim; /* may exceed DUSK_NPY_MAX_DIMS; only the first dimensions are kept */
    int64_t shape[DUSK_NPY_MAX_DIMS];
    int negative, too_large;  /* a dimension is < 0, or beyond int64 */
    int itemsize, big_endian; /* of a dtype dusk reads, set by check_header() */
} npy_header;

typedef struct cursor {
    const char *start, *p, *end;
    int allow_long; /* versions 1.0 and 2.0 may hold Python 2 ints such as 3L */
} cursor;

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' ||
                             *c->p == '\f' || *c->p == '\v'))
        c->p++;
}

static int at(const cursor *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static int malformed(const cursor *c, char *why, size_t whylen, const char *expected)
{
    dusk__set_why(why, whylen, "malformed header: expected %s at byte %td", expected,
                  c->p - c->start);
    return DUSK_EFORMAT;
}

/* A quoted string with no escapes, returned as a span of the header. */
static int parse_string(cursor *c, const char **s, size_t *len, char *why, size_t whylen)
{
    if (!at(c, '\'') && !at(c, '"')) return malformed(c, why, whylen, "a quoted string");
    char quote = *c->p++;
    const char *begin = c->p;
    while (c->p < c->end && *c->p != quote) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch >= 0x7f || ch == '\\')
            return malformed(c, why, whylen, "a plain ASCII string");
        c->p++;
    }
    if (c->p == c->end) return malformed(c, why, whylen, "the end of a string");
    *s = begin;
    *len = (size_t)(c->p - begin);
    c->p++;
    return 0;
}

static int parse_descr(cursor *c, npy_header *h, char *why, size_t whylen)
{
    if (at(c, '[')) {
        dusk__set_why(why, whylen, "dtype is a structured type, " NPY_DTYPES_READ);
        return DUSK_EFORMAT;
    }
    if (!at(c, '\'') && !at(c, '"')) {
        dusk__set_why(why, whylen, "dtype is not a type string, " NPY_DTYPES_READ);
        return DUSK_EFORMAT;
    }
    const char *s;
    size_t len;
    int rc = parse_string(c, &s, &len, why, whylen);
    if (rc != 0) return rc;
    if (len > NPY_QUOTE_MAX)
        snprintf(h->descr, sizeof h->descr, "%.*s...", NPY_QUOTE_MAX, s);
    else
        snprintf(h->descr, sizeof h->descr, "%.*s", (int)len, s);
    return 0;
}

static int parse_fortran(cursor *c, npy_header *h, char *why, size_t whylen)
{
    const char *begin = c->p;
    while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    size_t len = (size_t)(c->p - begin);
    if (len == 4 && memcmp(begin, "True", 4) == 0)
        h->fortran = 1;
    else if (len == 5 && memcmp(begin, "False", 5) == 0)
        h->fortran = 0;
    else {
        dusk__set_why(why, whylen, "fortran_order is not True or False");
        return DUSK_EFORMAT;
    }
    return 0;
}

/* A tuple of integers: (), (5,), (3, 4), (2,3,4,). */
static int parse_shape(cursor *c, npy_header *h, char *why, size_t whylen)
{
    if (!at(c, '(')) {
        dusk__set_why(why, whylen, "shape is not a tuple of integers");
        return DUSK_EFORMAT;
    }
    c->p++;
    int trailing_comma = 0;
    for (;;) {
        skip_ws(c);
        if (at(c, ')')) break;
        int negative = 0;
        if (at(c, '-')) {
            negative = 1;
            c->p++;
        }
        if (!(c->p < c->end && *c->p >= '0' && *c->p <= '9')) {
            if (c->p == c->end || strchr(",)]}:", *c->p) != NULL)
                return malformed(c, why, whylen, "an integer or ')' in the shape");
            dusk__set_why(why, whylen, "shape holds a value that is not an integer");
            return DUSK_EFORMAT;
        }
        uint64_t v = 0;
        int big = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            unsigned digit = (unsigned)(*c->p++ - '0');
            if (v > ((uint64_t)INT64_MAX - digit) / 10)
                big = 1;
            else
                v = v * 10 + digit;
        }
        if (c->allow_long && at(c, 'L')) c->p++;
        if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || *c->p == 'j' ||
                              *c->p == 'J' || *c->p == '_')) {
            dusk__set_why(why, whylen, "shape holds a value that is not an integer");
            return DUSK_EFORMAT;
        }
        if (negative && (v != 0 || big))
            h->negative = 1;
        else if (big)
            h->too_large = 1;
        if (h->ndim < DUSK_NPY_MAX_DIMS) h->shape[h->ndim] = (int64_t)v;
        if (h->ndim < INT32_MAX) h->ndim++;
        skip_ws(c);
        if (at(c, ',')) {
            c->p++;
            trailing_comma = 1;
            continue;
        }
        trailing_comma = 0;
        if (!at(c, ')')) return malformed(c, why, whylen, "',' or ')' in the shape");
    }
    c->p++;
    if (h->ndim == 1 && !trailing_comma) {
        dusk__set_why(why, whylen,
                      "shape (%" PRId64 ") is not a tuple: a 1-d shape is written (%" PRId64 ",)",
                      h->shape[0], h->shape[0]);
        return DUSK_EFORMAT;
    }
    return 0;
}

/* The dict literal NumPy writes, e.g. {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
 * with keys in any order, either quote, an optional trailing comma and any whitespace. */
static int parse_header(cursor *c, npy_header *h, char *why, size_t whylen)
{
    skip_ws(c);
    if (!at(c, '{')) {
        dusk__set_why(why, whylen, "header is not a Python dict literal");
        return DUSK_EFORMAT;
    }
    c->p++;
    for (;;) {
        skip_ws(c);
        if (at(c, '}')) break;
        const char *key;
        size_t len;
        int rc = parse_string(c, &key, &len, why, whylen);
        if (rc != 0) return rc;
        skip_ws(c);
        if (!at(c, ':')) return malformed(c, why, whylen, "':' after a key");
        c->p++;
        skip_ws(c);
        int *have;
        if (len == 5 && memcmp(key, "descr", 5) == 0)
            have = &h->have_descr;
        else if (len == 13 && memcmp(key, "fortran_order", 13) == 0)
            have = &h->have_fortran;
        else if (len == 5 && memcmp(key, "shape", 5) == 0)
            have = &h->have_shape;
        else {
            dusk__set_why(why, whylen, "header has an unexpected key '%.*s'",
                          len > NPY_QUOTE_MAX ? NPY_QUOTE_MAX : (int)len, key);
            return DUSK_EFORMAT;
        }
        if (*have) {
            dusk__set_why(why, whylen, "header repeats the key '%.*s'", (int)len, key);
            return DUSK_EFORMAT;
        }
        *have = 1;
        if (have == &h->have_descr)
            rc = parse_descr(c, h, why, whylen);
        else if (have == &h->have_fortran)
            rc = parse_fortran(c, h, why, whylen);
        else
            rc = parse_shape(c, h, why, whylen);
        if (rc != 0) return rc;
        skip_ws(c);
        if (at(c, ',')) {
            c->p++;
            continue;
        }
        if (!at(c, '}')) return malformed(c, why, whylen, "',' or '}' after a value");
    }
    c->p++;
    /* NumPy pads the header with spaces and ends it with '\n'; accept any whitespace, as
     * NumPy's own reader does. */
    skip_ws(c);
    if (c->p != c->end) return malformed(c, why, whylen, "only padding after the closing '}'");
    return 0;
}

/* Everything the header says that dusk cannot read. */
static int check_header(npy_header *h, char *why, size_t whylen)
{
    if (!h->have_descr || !h->have_fortran || !h->have_shape) {
        dusk__set_why(why, whylen, "header is missing the '%s' key",
                      !h->have_descr     ? "descr"
                      : !h->have_fortran ? "fortran_order"
                                         : "shape");
        return DUSK_EFORMAT;
    }
    /* NumPy writes float64 and float32 as '<f8' and '<f4' on little-endian hosts, and as
     * '>f8' and '>f4' on big-endian ones or when asked (astype('>f8')). */
    if (h->descr[0] == '<' || h->descr[0] == '>') {
        h->big_endian = h->descr[0] == '>';
        if (strcmp(h->descr + 1, "f8") == 0) h->itemsize = 8;
        if (strcmp(h->descr + 1, "f4") == 0) h->itemsize = 4;
    }
    if (h->itemsize == 0) {
        dusk__set_why(why, whylen, "dtype is '%s', " NPY_DTYPES_READ, h->descr);
        return DUSK_EFORMAT;
    }
    if (h->ndim > DUSK_NPY_MAX_DIMS) {
        dusk__set_why(why, whylen, "shape has %d dimensions, dusk reads at most %d", h->ndim,
                      DUSK_NPY_MAX_DIMS);
        return DUSK_EFORMAT;
    }
    if (h->negative) {
        dusk__set_why(why, whylen, "shape has a negative dimension");
        return DUSK_EFORMAT;
    }
    if (h->too_large) {
        dusk__set_why(why, whylen, "shape has a dimension too large for int64");
        return DUSK_EFORMAT;
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

static void npy_free(dusk_npy *f)
{
    if (f == NULL) return;
    int saved = errno;
    if (f->fd >= 0) close(f->fd);
    if (f->writable && !f->joined && f->partial != NULL) unlink(f->partial);
    free(f->path);
    free(f->partial);
    free(f);
    errno = saved;
}

/* The preamble: magic, version, header length, from its first `have` bytes (at most
 * NPY_PREAMBLE_MAX) in a file of `size` bytes. */
int dusk__npy_parse_preamble(const unsigned char *pre, size_t have, int64_t size,
                             dusk__npy_preamble *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (size == 0) {
        dusk__set_why(why, whylen, "file is empty: not a .npy file");
        return DUSK_EFORMAT;
    }
    size_t cmp = have < NPY_MAGIC_LEN ? have : NPY_MAGIC_LEN;
    if (memcmp(pre, NPY_MAGIC, cmp) != 0) {
        dusk__set_why(why, whylen, "bad magic: not a .npy file");
        return DUSK_EFORMAT;
    }
    int major = 0;
    if (have >= 8) {
        int minor = pre[7];
        major = pre[6];
        if ((major != 1 && major != 2 && major != 3) || minor != 0) {
            dusk__set_why(why, whylen,
                          "unsupported .npy format version %d.%d (dusk reads 1.0, 2.0, 3.0)", major,
                          minor);
            return DUSK_EFORMAT;
        }
    }
    size_t len_bytes = have >= 8 && major == 1 ? 2 : 4;
    if (have < 8 + len_bytes) {
        dusk__set_why(why, whylen,
                      "file is truncated: it ends inside the .npy preamble (%zu bytes)", have);
        return DUSK_EFORMAT;
    }
    uint32_t header_len = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (len_bytes == 4) header_len |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    int64_t header_start = (int64_t)(8 + len_bytes);
    if (header_len > NPY_HEADER_MAX) {
        dusk__set_why(why, whylen, "header length %" PRIu32 " is over dusk's limit of %u bytes",
                      header_len, NPY_HEADER_MAX);
        return DUSK_EFORMAT;
    }
    if (header_start + header_len > size) {
        dusk__set_why(why, whylen,
                      "header length %" PRIu32 " runs past the end of the file (%" PRId64 " bytes)",
                      header_len, size);
        return DUSK_EFORMAT;
    }
    out->major = major;
    out->header_len = header_len;
    out->header_start = header_start;
    return 0;
}

/* The header dict (header_len bytes at text, not NUL-terminated) of a file of `size` bytes
 * whose preamble is pre: what it says, checked against what dusk reads and the file's size. */
int dusk__npy_parse_dict(const char *text, const dusk__npy_preamble *pre, int64_t size,
                         dusk__npy_header *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    npy_header h;
    memset(&h, 0, sizeof h);
    cursor c = {text, text, text + pre->header_len, pre->major < 3};
    int rc = parse_header(&c, &h, why, whylen);
    if (rc == 0) rc = check_header(&h, why, whylen);
    if (rc != 0) return rc;

    int64_t data_offset = pre->header_start + pre->header_len;
    char shape[DUSK_NPY_MAX_DIMS * 22 + 4];
    dusk__shape_text(shape, sizeof shape, h.ndim, h.shape);
    int64_t count;
    if (shape_count(h.ndim, h.shape, data_offset, &count) != 0) {
        dusk__set_why(why, whylen, "shape %s overflows: its size in bytes does not fit in int64",
                      shape);
        return DUSK_EFORMAT;
    }
    int64_t need = count * h.itemsize;
    if (need > size - data_offset) {
        dusk__set_why(why, whylen,
                      "file is truncated: shape %s needs %" PRId64 " data bytes, file has %" PRId64,
                      shape, need, size - data_offset);
        return DUSK_EFORMAT;
    }
    out->ndim = h.ndim;
    out->fortran = h.fortran;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->count = count;
    out->data_offset = data_offset;
    out->itemsize = h.itemsize;
    out->big_endian = h.big_endian;
    return 0;
}

int dusk__npy_parse_header(const unsigned char *file, size_t size, dusk__npy_header *out, char *why,
                           size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    dusk__npy_preamble pre;
    size_t have = size < NPY_PREAMBLE_MAX ? size : NPY_PREAMBLE_MAX;
    memset(out, 0, sizeof *out);
    if (size > INT64_MAX) return DUSK_EINVAL;
    int rc = dusk__npy_parse_preamble(file, have, (int64_t)size, &pre, why, whylen);
    if (rc != 0) return rc;
    return dusk__npy_parse_dict((const char *)file + pre.header_start, &pre, (int64_t)size, out,
                                why, whylen);
}

static int open_checked(dusk_npy *f, char *why, size_t whylen)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        return DUSK_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        dusk__set_why_errno(why, whylen, NULL, EISDIR);
        return DUSK_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        dusk__set_why(why, whylen, "not a regular file");
        return DUSK_EFORMAT;
    }
    int64_t size = (int64_t)st.st_size;

    unsigned char bytes[NPY_PREAMBLE_MAX];
    size_t have = size < NPY_PREAMBLE_MAX ? (size_t)size : NPY_PREAMBLE_MAX;
    int got = dusk__pread_full(f->fd, bytes, have, 0);
    if (got < 0) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        return DUSK_EIO;
    }
    if (got > 0) {
        dusk__set_why(why, whylen, "file is truncated: it shrank while being read");
        return DUSK_EFORMAT;
    }
    dusk__npy_preamble pre;
    int rc = dusk__npy_parse_preamble(bytes, have, size, &pre, why, whylen);
    if (rc != 0) return rc;

    /* one more byte, so that an empty header is not a zero-byte allocation */
    char *text = malloc((size_t)pre.header_len + 1);
    if (text == NULL) {
        dusk__set_why(why, whylen, "out of memory reading the header");
        return DUSK_ENOMEM;
    }
    got = dusk__pread_full(f->fd, text, pre.header_len, pre.header_start);
    if (got != 0) {
        free(text);
        if (got < 0) {
            dusk__set_why_errno(why, whylen, NULL, errno);
            return DUSK_EIO;
        }
        dusk__set_why(why, whylen, "file is truncated: it shrank while being read");
        return DUSK_EFORMAT;
    }
    dusk__npy_header h;
    rc = dusk__npy_parse_dict(text, &pre, size, &h, why, whylen);
    free(text);
    if (rc != 0) return rc;
    f->ndim = h.ndim;
    f->fortran = h.fortran;
    memcpy(f->shape, h.shape, sizeof h.shape);
    f->count = h.count;
    f->data_offset = h.data_offset;
    f->itemsize = h.itemsize;
    f->big_endian = h.big_endian;
    return 0;
}

int dusk_npy_open(const char *path, dusk_npy **out, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL) {
        dusk__set_why(why, whylen, "no path or no place for the handle");
        return DUSK_EINVAL;
    }
    dusk_npy *f = calloc(1, sizeof *f);
    if (f == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; open_checked()
     * refuses anything but a regular file, where the flag changes nothing. */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        int err = errno;
        free(f);
        dusk__set_why_errno(why, whylen, NULL, err);
        return DUSK_EIO;
    }
    int rc = open_checked(f, why, whylen);
    if (rc != 0) {
        npy_free(f); /* keeps errno */
        return rc;
    }
    *out = f;
    return 0;
}

int dusk_npy_ndim(const dusk_npy *f)
{
    return f != NULL ? f->ndim : 0;
}

const int64_t *dusk_npy_shape(const dusk_npy *f)
{
    return f != NULL ? f->shape : NULL;
}

int dusk_npy_fortran_order(const dusk_npy *f)
{
    return f != NULL ? f->fortran : 0;
}

const char *dusk_npy_dtype(const dusk_npy *f)
{
    if (f == NULL) return NULL;
    return f->itemsize == 4 ? (f->big_endian ? ">f4" : "<f4") : (f->big_endian ? ">f8" : "<f8");
}

const char *dusk_npy_conversion(const dusk_npy *f)
{
    if (f == NULL || (f->itemsize == 8 && !f->big_endian)) return NULL;
    if (f->itemsize == 8) return "big-endian float64 byte-swapped";
    return f->big_endian ? "big-endian float32 byte-swapped and widened to float64"
                         : "float32 widened to float64";
}

int dusk__npy_fd(const dusk_npy *f)
{
    return f != NULL ? f->fd : -1;
}

/* One value of the file's dtype at p, as a double: float32 is widened exactly. */
static double file_value(const unsigned char *p, int itemsize, int big_endian)
{
    unsigned char b[8];
    if (big_endian)
        for (int i = 0; i < itemsize; i++)
            b[i] = p[itemsize - 1 - i];
    else
        memcpy(b, p, (size_t)itemsize);
    if (itemsize == 4) {
        float x;
        memcpy(&x, b, sizeof x);
        return (double)x;
    }
    double x;
    memcpy(&x, b, sizeof x);
    return x;
}

/* Fortran order: element (i0, ..., r, c) of shape (d0, ..., R, C) is at linear index
 * lead + P * (r + R * c), where lead = i0 + d0 * (i1 + ...) and P = d0 * d1 * ... (the
 * leading dimensions). Walk the matrix in file order, reading spans of up to
 * NPY_GATHER_BYTES that cover as many of its elements as fit (a whole column run when
 * P == 1, one element per read when P is that large), and scatter them into C order. */
static int read_fortran(const dusk_npy *f, int64_t index, int64_t rows, int64_t cols, double *out)
{
    int64_t lead = 0, stride = 1;
    if (f->ndim > 2) {
        int64_t idx[DUSK_NPY_MAX_DIMS], k = index;
        for (int d = f->ndim - 3; d >= 0; d--) {
            idx[d] = k % f->shape[d];
            k /= f->shape[d];
        }
        for (int d = f->ndim - 3; d >= 0; d--)
            lead = lead * f->shape[d] + idx[d];
        for (int d = 0; d < f->ndim - 2; d++)
            stride *= f->shape[d];
    }
    const int64_t item = f->itemsize;
    const int64_t total = rows * cols;
    const int64_t cap = NPY_GATHER_BYTES / item;
    const int64_t per_read = stride >= cap ? 1 : (cap - 1) / stride + 1;
    const int64_t first_span = (per_read < total ? per_read - 1 : total - 1) * stride + 1;
    unsigned char *buf = malloc((size_t)(first_span * item));
    if (buf == NULL) return DUSK_ENOMEM;
    int rc = 0;
    for (int64_t j0 = 0; j0 < total && rc == 0; j0 += per_read) {
        int64_t m = total - j0 < per_read ? total - j0 : per_read;
        int64_t span = (m - 1) * stride + 1;
        int64_t off = f->data_offset + (lead + stride * j0) * item;
        int got = dusk__pread_full(f->fd, buf, (size_t)(span * item), off);
        if (got != 0) {
            if (got > 0) errno = EIO;
            rc = DUSK_EIO;
            break;
        }
        for (int64_t t = 0; t < m; t++) {
            int64_t j = j0 + t; /* j = r + rows * c */
            out[(j % rows) * cols + j / rows] =
                file_value(buf + t * stride * item, f->itemsize, f->big_endian);
        }
    }
    free(buf);
    return rc;
}

int dusk_npy_read_matrix(const dusk_npy *f, int64_t index, double *out)
{
    if (f == NULL || f->writable) return DUSK_EINVAL;
    int64_t rows, cols, nmat;
    matrix_geometry(f, &rows, &cols, &nmat);
    if (index < 0 || index >= nmat) return DUSK_EINVAL;
    int64_t total = rows * cols;
    if (total == 0) return 0;
    if (out == NULL) return DUSK_EINVAL;
    if (f->fortran && f->ndim >= 2) return read_fortran(f, index, rows, cols, out);
    /* C order: the matrix's bytes are read into the end of `out` (all of it for float64, its
     * second half for float32), then converted forwards in place. Value i is read before
     * out[i] is written, and out[i] ends where value i + 1 starts at the earliest, so no
     * value is overwritten before it is read and no second buffer is needed. */
    int64_t bytes = total * f->itemsize;
    unsigned char *raw = (unsigned char *)out + (total * (int64_t)sizeof(double) - bytes);
    int64_t off = f->data_offset + index * bytes;
    int got = dusk__pread_full(f->fd, raw, (size_t)bytes, off);
    if (got > 0) errno = EIO; /* the file was cut short after it was opened */
    if (got != 0) return DUSK_EIO;
    if (f->itemsize != 8 || f->big_endian)
        for (int64_t i = 0; i < total; i++)
            out[i] = file_value(raw + i * f->itemsize, f->itemsize, f->big_endian);
    return 0;
}

void dusk_npy_close(dusk_npy **f)
{
    if (f == NULL) return;
    npy_free(*f); /* a writer's PATH.partial goes too: it was never committed */
    *f = NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* The version 1.0 header NumPy writes, padded with spaces so that the data starts on a
 * NPY_ALIGN boundary, ending in '\n'. Returns its length (a multiple of NPY_ALIGN). */
static size_t make_header(char *buf, size_t len, int ndim, const int64_t *shape)
{
    char tuple[DUSK_NPY_MAX_DIMS * 22 + 4];
    dusk__shape_text(tuple, sizeof tuple, ndim, shape);
    int n = snprintf(buf + 10, len - 10, "{'descr': '<f8', 'fortran_order': False, 'shape': %s, }",
                     tuple);
    size_t total = 10 + (size_t)n + 1;
    total += (NPY_ALIGN - total % NPY_ALIGN) % NPY_ALIGN;
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

static int create_or_join(const char *path, int ndim, const int64_t *shape, dusk_npy **out,
                          int join, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL || shape == NULL) {
        dusk__set_why(why, whylen, "no path, shape or place for the handle");
        return DUSK_EINVAL;
    }
    if (ndim < 1 || ndim > DUSK_NPY_MAX_DIMS) {
        dusk__set_why(why, whylen, "ndim is %d, dusk writes 1 to %d dimensions", ndim,
                      DUSK_NPY_MAX_DIMS);
        return DUSK_EINVAL;
    }
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            dusk__set_why(why, whylen, "dimension %d is negative (%" PRId64 ")", i, shape[i]);
            return DUSK_EINVAL;
        }
    }
    char header[512];
    size_t header_len = make_header(header, sizeof header, ndim, shape);
    int64_t count;
    if (shape_count(ndim, shape, (int64_t)header_len, &count) != 0) {
        char tuple[DUSK_NPY_MAX_DIMS * 22 + 4];
        dusk__shape_text(tuple, sizeof tuple, ndim, shape);
        dusk__set_why(why, whylen, "shape %s overflows: its size in bytes does not fit in int64",
                      tuple);
        return DUSK_EINVAL;
    }

    dusk_npy *f = calloc(1, sizeof *f);
    size_t plen = strlen(path);
    if (f != NULL) {
        f->fd = -1;
        f->path = malloc(plen + 1);
        f->partial = malloc(plen + sizeof ".partial");
    }
    if (f == NULL || f->path == NULL || f->partial == NULL) {
        if (f != NULL) {
            free(f->path);
            free(f->partial);
        }
        free(f);
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    memcpy(f->path, path, plen + 1);
    memcpy(f->partial, path, plen);
    memcpy(f->partial + plen, ".partial", sizeof ".partial");
    f->ndim = ndim;
    memcpy(f->shape, shape, (size_t)ndim * sizeof *shape);
    f->count = count;
    f->data_offset = (int64_t)header_len;
    f->itemsize = 8;

    if (join) {
        /* the creator sized it before the writers open it: check that it is the same file */
        struct stat st;
        f->fd = open(f->partial, O_WRONLY | O_CLOEXEC);
        if (f->fd < 0 || fstat(f->fd, &st) != 0) {
            dusk__set_why_errno(why, whylen, NULL, errno);
            npy_free(f);
            return DUSK_EIO;
        }
        if ((int64_t)st.st_size != f->data_offset + count * (int64_t)sizeof(double)) {
            dusk__set_why(why, whylen, "%s is not the size its shape needs: not the file expected",
                          f->partial);
            npy_free(f);
            return DUSK_EFORMAT;
        }
        f->writable = 1;
        f->joined = 1;
        *out = f;
        return 0;
    }
    /* Replace, never truncate in place: an old PATH.partial may be a link to something else,
     * or still be open in a writer that is going away. */
    if (unlink(f->partial) != 0 && errno != ENOENT) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        npy_free(f);
        return DUSK_EIO;
    }
    f->fd = open(f->partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f->fd < 0) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        npy_free(f); /* not yet writable: leaves alone a file someone else made meanwhile */
        return DUSK_EIO;
    }
    f->writable = 1;
    const char *what = NULL;
    if (dusk__pwrite_full(f->fd, header, header_len, 0) != 0)
        what = "cannot write the header";
    else if (ftruncate(f->fd, (off_t)(f->data_offset + count * (int64_t)sizeof(double))) != 0)
        what = "cannot size the file";
    if (what != NULL) {
        dusk__set_why_errno(why, whylen, what, errno);
        npy_free(f); /* removes PATH.partial, keeps errno */
        return DUSK_EIO;
    }
    *out = f;
    return 0;
}

int dusk_npy_create(const char *path, int ndim, const int64_t *shape, dusk_npy **out, char *why,
                    size_t whylen)
{
    return create_or_join(path, ndim, shape, out, 0, why, whylen);
}

int dusk_npy_join(const char *path, int ndim, const int64_t *shape, dusk_npy **out, char *why,
                  size_t whylen)
{
    return create_or_join(path, ndim, shape, out, 1, why, whylen);
}

/* Fill in f->path and f->partial (PATH.partial). */
static int writer_names(dusk_npy *f, const char *path)
{
    size_t plen = strlen(path);
    f->path = malloc(plen + 1);
    f->partial = malloc(plen + sizeof ".partial");
    if (f->path == NULL || f->partial == NULL) return DUSK_ENOMEM;
    memcpy(f->path, path, plen + 1);
    memcpy(f->partial, path, plen);
    memcpy(f->partial + plen, ".partial", sizeof ".partial");
    return 0;
}

int dusk_npy_reopen(const char *path, int ndim, const int64_t *shape, dusk_npy **out, char *why,
                    size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL || shape == NULL || ndim < 1 || ndim > DUSK_NPY_MAX_DIMS) {
        dusk__set_why(why, whylen, "no path, shape or place for the handle");
        return DUSK_EINVAL;
    }
    dusk_npy *f = calloc(1, sizeof *f);
    if (f == NULL || writer_names(f, path) != 0) {
        if (f != NULL) f->fd = -1;
        npy_free(f);
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    int renamed = 0;
    f->fd = open(f->partial, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (f->fd < 0 && errno == ENOENT) {
        f->fd = open(f->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        renamed = f->fd >= 0;
    }
    if (f->fd < 0) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        npy_free(f); /* not writable yet: removes nothing */
        return DUSK_EIO;
    }
    int rc = open_checked(f, why, whylen);
    int same = rc == 0 && !f->fortran && f->ndim == ndim &&
               memcmp(f->shape, shape, (size_t)ndim * sizeof *shape) == 0;
    if (rc == 0 && (f->itemsize != 8 || f->big_endian)) {
        /* not one of dusk's outputs: it writes '<f8' only */
        dusk__set_why(why, whylen, "holds '%s' data, not '<f8'", dusk_npy_dtype(f));
        rc = DUSK_EFORMAT;
    } else if (rc == 0 && !same) {
        char want[DUSK_NPY_MAX_DIMS * 22 + 4], have[DUSK_NPY_MAX_DIMS * 22 + 4];
        dusk__shape_text(want, sizeof want, ndim, shape);
        dusk__shape_text(have, sizeof have, f->ndim, f->shape);
        dusk__set_why(why, whylen, "holds shape %s%s, not %s", have,
                      f->fortran ? " (Fortran order)" : "", want);
        rc = DUSK_EFORMAT;
    }
    if (rc == 0 && renamed && rename(f->path, f->partial) != 0) {
        dusk__set_why_errno(why, whylen, "cannot rename it to .partial", errno);
        rc = DUSK_EIO;
    }
    if (rc != 0) {
        npy_free(f);
        return rc;
    }
    f->writable = 1;
    *out = f;
    return 0;
}

int dusk_npy_write(dusk_npy *f, int64_t offset, const double *values, int64_t count)
{
    if (f == NULL || !f->writable || offset < 0 || count < 0 || offset > f->count - count ||
        (count > 0 && values == NULL))
        return DUSK_EINVAL;
    if (count == 0) return 0;
    int64_t off = f->data_offset + offset * (int64_t)sizeof(double);
    if (dusk__pwrite_full(f->fd, values, (size_t)count * sizeof(double), off) != 0) return DUSK_EIO;
    return 0;
}

int dusk_npy_commit(dusk_npy **pf)
{
    if (pf == NULL || *pf == NULL) return DUSK_EINVAL;
    dusk_npy *f = *pf;
    *pf = NULL;
    if (!f->writable) {
        npy_free(f);
        return DUSK_EINVAL;
    }
    /* No fsync of the directory after the rename: a crash may then lose the new name, but
     * what is left is PATH.partial, which never looks complete. */
    int err = 0;
    if (fsync(f->fd) != 0) err = errno;
    if (close(f->fd) != 0 && err == 0 && errno != EINTR) /* Linux closes it even on EINTR */
        err = errno;
    f->fd = -1;
    if (err == 0 && !f->joined && rename(f->partial, f->path) != 0) err = errno;
    /* Renamed: nothing left to remove. Failed: PATH.partial stays, for a resume (a run's
     * manifest may list what it holds); it never looks complete. */
    f->writable = 0;
    npy_free(f);
    if (err != 0) {
        errno = err;
        return DUSK_EIO;
    }
    return 0;
}

int dusk_npy_sync(dusk_npy *f)
{
    if (f == NULL || !f->writable) return DUSK_EINVAL;
    return fdatasync(f->fd) == 0 ? 0 : DUSK_EIO;
}

int dusk_npy_suspend(dusk_npy **pf)
{
    if (pf == NULL || *pf == NULL) return DUSK_EINVAL;
    dusk_npy *f = *pf;
    *pf = NULL;
    int err = 0;
    if (f->writable && fsync(f->fd) != 0) err = errno;
    f->writable = 0; /* keep PATH.partial */
    npy_free(f);
    if (err != 0) {
        errno = err;
        return DUSK_EIO;
    }
    return 0;
}

void dusk_npy_abort(dusk_npy **f)
{
    dusk_npy_close(f);
}
