/* dusk_npy's writers (dusk_npy.h): a file made whole (header, then its full size) under
 * PATH.partial, rows written in place with pwrite (or a span at a time: dusk__pwrite_rows)
 * from any thread, and the file given its
 * name when done; or joined by the other ranks of a job, or reopened for a resume. */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define NPY_ALIGN 64 /* the data starts on this boundary, as NumPy does */

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
    memcpy(buf, DUSK__NPY_MAGIC "\x01\x00", 8);
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
    if (dusk__npy_shape_count(ndim, shape, (int64_t)header_len, &count) != 0) {
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
        f->fd = open(f->partial, O_RDWR | O_CLOEXEC); /* read too: spans (dusk__pwrite_rows) */
        if (f->fd < 0 || fstat(f->fd, &st) != 0) {
            dusk__set_why_errno(why, whylen, NULL, errno);
            dusk__npy_free(f);
            return DUSK_EIO;
        }
        if ((int64_t)st.st_size != f->data_offset + count * (int64_t)sizeof(double)) {
            dusk__set_why(why, whylen, "%s is not the size its shape needs: not the file expected",
                          f->partial);
            dusk__npy_free(f);
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
        dusk__npy_free(f);
        return DUSK_EIO;
    }
    f->fd = open(f->partial, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (f->fd < 0) {
        dusk__set_why_errno(why, whylen, NULL, errno);
        dusk__npy_free(f); /* not yet writable: leaves alone a file someone else made meanwhile */
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
        dusk__npy_free(f); /* removes PATH.partial, keeps errno */
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
        dusk__npy_free(f);
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
        dusk__npy_free(f); /* not writable yet: removes nothing */
        return DUSK_EIO;
    }
    f->any_size = 1;
    int rc = dusk__npy_open_checked(f, why, whylen);
    int64_t need = f->data_offset + f->count * (int64_t)f->itemsize;
    if (rc == 0 && f->file_size != need) {
        /* cut short or grown since the stop: its rows cannot be trusted (zeros read back as
         * results), and writing more would not mend it */
        dusk__set_why(why, whylen,
                      "is %" PRId64 " bytes, its header says %" PRId64
                      ": damaged; start again with --overwrite",
                      f->file_size, need);
        dusk__npy_free(f);
        return DUSK_EFORMAT;
    }
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
        dusk__npy_free(f);
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

int dusk__npy_write_rows(dusk_npy *f, int64_t offset, int64_t stride, int64_t len, int64_t count,
                         const double *values)
{
    if (f == NULL || !f->writable || offset < 0 || len < 0 || count < 0 ||
        (count > 1 && stride < len) || (count > 0 && len > 0 && values == NULL))
        return DUSK_EINVAL;
    if (count == 0 || len == 0) return 0;
    /* the last value written, offset + (count - 1) * stride + len, within the file, with no
     * overflow on the way */
    if (offset > f->count - len || (count > 1 && (f->count - len - offset) / stride < count - 1))
        return DUSK_EINVAL;
    int64_t off = f->data_offset + offset * (int64_t)sizeof(double);
    /* the stride even for one row: a row of a strided layout is written under its lock (a
     * span another writer reads and writes back over it would undo it otherwise) */
    if (dusk__pwrite_rows(f->fd, off, stride * (int64_t)sizeof(double),
                          (size_t)len * sizeof(double), count, values) != 0)
        return DUSK_EIO;
    return 0;
}

int dusk_npy_commit(dusk_npy **pf)
{
    if (pf == NULL || *pf == NULL) return DUSK_EINVAL;
    dusk_npy *f = *pf;
    *pf = NULL;
    if (!f->writable) {
        dusk__npy_free(f);
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
    dusk__npy_free(f);
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
    dusk__npy_free(f);
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
