/* The .npy header parser (npy_internal.h): the preamble and the header dict of a file, from
 * memory, checked against what dusk reads and the file's size. Readers never trust the
 * header: every length is checked against the file before anything is allocated or read, and
 * every size is computed with overflow checks. dusk_npy_open() and the fuzz target
 * (tests/fuzz/fuzz_npy_header.c) both come through here. */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define NPY_MAGIC_LEN 6
#define NPY_HEADER_MAX (1u << 20) /* longest header we accept; NumPy writes < 300 bytes */
#define NPY_QUOTE_MAX 40          /* longest piece of a header quoted in a message */
#define NPY_DTYPES_READ "dusk reads float64 and float32 ('<f8', '>f8', '<f4', '>f4')"

/* ---- sizes ------------------------------------------------------------------------------ */

/* The number of values of a shape whose dimensions are all >= 0, into *count. Returns -1
 * when the product of the non-zero dimensions, times 8 bytes, plus data_offset, does not fit
 * in int64: then no sub-product (a matrix, the number of matrices) can overflow either. */
int dusk__npy_shape_count(int ndim, const int64_t *shape, int64_t data_offset, int64_t *count)
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

/* The preamble: magic, version, header length, from its first `have` bytes (at most
 * DUSK__NPY_PREAMBLE_MAX) in a file of `size` bytes. */
int dusk__npy_parse_preamble(const unsigned char *pre, size_t have, int64_t size,
                             dusk__npy_preamble *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (size == 0) {
        dusk__set_why(why, whylen, "file is empty: not a .npy file");
        return DUSK_EFORMAT;
    }
    size_t cmp = have < NPY_MAGIC_LEN ? have : NPY_MAGIC_LEN;
    if (memcmp(pre, DUSK__NPY_MAGIC, cmp) != 0) {
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
    if (dusk__npy_shape_count(h.ndim, h.shape, data_offset, &count) != 0) {
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
    size_t have = size < DUSK__NPY_PREAMBLE_MAX ? size : DUSK__NPY_PREAMBLE_MAX;
    memset(out, 0, sizeof *out);
    if (size > INT64_MAX) return DUSK_EINVAL;
    int rc = dusk__npy_parse_preamble(file, have, (int64_t)size, &pre, why, whylen);
    if (rc != 0) return rc;
    return dusk__npy_parse_dict((const char *)file + pre.header_start, &pre, (int64_t)size, out,
                                why, whylen);
}
