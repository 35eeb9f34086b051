/* dusk_npy's readers (dusk_npy.h): a file opened and its header checked (npy_header.c),
 * matrices read in C or Fortran order and converted to float64 as they are read. Data is
 * read with pread only, so one handle serves many threads. */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_GATHER_BYTES (1 << 20) /* buffer for reading Fortran-order matrices */

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

/* ---- opening ---------------------------------------------------------------------------- */

void dusk__npy_free(dusk_npy *f)
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

int dusk__npy_open_checked(dusk_npy *f, char *why, size_t whylen)
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
    f->file_size = size;

    unsigned char bytes[DUSK__NPY_PREAMBLE_MAX];
    size_t have = size < DUSK__NPY_PREAMBLE_MAX ? (size_t)size : DUSK__NPY_PREAMBLE_MAX;
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
    rc = dusk__npy_parse_dict(text, &pre, f->any_size ? INT64_MAX : size, &h, why, whylen);
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
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; dusk__npy_open_checked()
     * refuses anything but a regular file, where the flag changes nothing. */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0) {
        int err = errno;
        free(f);
        dusk__set_why_errno(why, whylen, NULL, err);
        return DUSK_EIO;
    }
    int rc = dusk__npy_open_checked(f, why, whylen);
    if (rc != 0) {
        dusk__npy_free(f); /* keeps errno */
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
    dusk__npy_free(*f); /* a writer's PATH.partial goes too: it was never committed */
    *f = NULL;
}
