/* The .npy output format: DIR/NAME.npy per output, shape (nitems, dims...), made with the
 * dusk_npy writers (PATH.partial until committed). And the table of formats. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_features.h"
#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"
#include "outputs.h"

struct dusk__outset {
    int nouts;
    int64_t row[DUSK__MAX_OUTPUTS]; /* values per row */
    dusk_npy *files[DUSK__MAX_OUTPUTS];
};

int64_t dusk__output_row_values(const dusk__output *o)
{
    int64_t n = 1;
    for (int d = 0; d < o->ndim; d++)
        n *= o->dims[d];
    return n;
}

static int npy_files(const dusk__output *outs, int nouts, char (*names)[64], int max)
{
    int n = 0;
    for (int i = 0; i < nouts && n < max; i++)
        snprintf(names[n++], 64, "%s.npy", outs[i].name);
    return n;
}

enum { MAKE_CREATE, MAKE_JOIN, MAKE_REOPEN };

static void npy_close_all(dusk__outset *s, int how)
{
    for (int i = 0; i < s->nouts; i++) {
        if (s->files[i] == NULL) continue;
        if (how == MAKE_CREATE)
            dusk_npy_abort(&s->files[i]);
        else
            (void)!dusk_npy_suspend(&s->files[i]);
    }
    free(s);
}

static int npy_make(const char *dir, const dusk__output *outs, int nouts, int64_t nitems, int how,
                    dusk__outset **out, char *why, size_t whylen)
{
    *out = NULL;
    dusk__outset *s = calloc(1, sizeof *s);
    if (s == NULL) return DUSK_ENOMEM;
    s->nouts = nouts;
    for (int i = 0; i < nouts; i++) {
        char path[4200], one[512];
        int64_t shape[4] = {nitems};
        for (int d = 0; d < outs[i].ndim; d++)
            shape[1 + d] = outs[i].dims[d];
        s->row[i] = dusk__output_row_values(&outs[i]);
        snprintf(path, sizeof path, "%s/%s.npy", dir, outs[i].name);
        int ret =
            how == MAKE_CREATE
                ? dusk_npy_create(path, 1 + outs[i].ndim, shape, &s->files[i], one, sizeof one)
            : how == MAKE_JOIN
                ? dusk_npy_join(path, 1 + outs[i].ndim, shape, &s->files[i], one, sizeof one)
                : dusk_npy_reopen(path, 1 + outs[i].ndim, shape, &s->files[i], one, sizeof one);
        if (ret != 0) {
            int err = errno;
            if (how == MAKE_REOPEN && strncmp(one, "is ", 3) == 0) {
                /* its size: the file named as it is on disk, "NAME.npy.partial is N bytes" */
                char partial[4300];
                snprintf(partial, sizeof partial, "%s.partial", path);
                dusk__set_why(why, whylen, "%s.npy%s %s", outs[i].name,
                              access(partial, F_OK) == 0 ? ".partial" : "", one);
            } else
                dusk__set_why(why, whylen, "%s.npy%s: %s", outs[i].name,
                              how == MAKE_REOPEN ? "(.partial)" : "", one);
            npy_close_all(s, how);
            errno = err;
            return ret;
        }
    }
    *out = s;
    return 0;
}

static int npy_create(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                      const dusk__attr *attrs, int nattrs, dusk__outset **out, char *why,
                      size_t whylen)
{
    (void)attrs, (void)nattrs; /* a .npy file has nowhere to keep them */
    return npy_make(dir, outs, nouts, nitems, MAKE_CREATE, out, why, whylen);
}

static int npy_join(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                    dusk__outset **out, char *why, size_t whylen)
{
    return npy_make(dir, outs, nouts, nitems, MAKE_JOIN, out, why, whylen);
}

static int npy_reopen(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                      dusk__outset **out, char *why, size_t whylen)
{
    return npy_make(dir, outs, nouts, nitems, MAKE_REOPEN, out, why, whylen);
}

enum { NAN_CHUNK = 1 << 17 }; /* 1 MiB of NaN, written as many times as rows need */
static double nan_chunk[NAN_CHUNK];
static pthread_once_t nan_once = PTHREAD_ONCE_INIT;

static void fill_nan(void)
{
    for (int k = 0; k < NAN_CHUNK; k++)
        nan_chunk[k] = NAN;
}

int dusk__output_write_rows(dusk__put_rows put, void *file, int64_t row, int64_t first,
                            int64_t step, int64_t count, const double *values)
{
    if (row < 1 || first < 0 || step < 1 || count < 0) return DUSK_EINVAL;
    if (count == 0) return 0;
    /* the end of the last row, (first + (count - 1) step + 1) row, fits in int64 */
    int64_t room = INT64_MAX / row - 1 - first;
    if (room < 0 || count - 1 > room / step) return DUSK_EINVAL;
    if (values != NULL) return put(file, first * row, step * row, row, count, values);
    (void)pthread_once(&nan_once, fill_nan);
    if (row <= NAN_CHUNK) {
        /* the block holds this many NaN rows back to back */
        int64_t per = NAN_CHUNK / row;
        for (int64_t done = 0; done < count; done += per) {
            int ret = put(file, (first + done * step) * row, step * row, row,
                          count - done < per ? count - done : per, nan_chunk);
            if (ret != 0) return ret;
        }
        return 0;
    }
    for (int64_t k = 0; k < count; k++)
        for (int64_t done = 0; done < row; done += NAN_CHUNK) {
            int ret = put(file, (first + k * step) * row + done, row,
                          row - done < NAN_CHUNK ? row - done : NAN_CHUNK, 1, nan_chunk);
            if (ret != 0) return ret;
        }
    return 0;
}

static int npy_put(void *file, int64_t at, int64_t stride, int64_t len, int64_t count,
                   const double *src)
{
    return dusk__npy_write_rows(file, at, stride, len, count, src);
}

static int npy_write(dusk__outset *s, int o, int64_t first, int64_t step, int64_t count,
                     const double *values)
{
    if (o < 0 || o >= s->nouts) return DUSK_EINVAL;
    return dusk__output_write_rows(npy_put, s->files[o], s->row[o], first, step, count, values);
}

static int npy_sync(dusk__outset *s)
{
    for (int i = 0; i < s->nouts; i++)
        if (dusk_npy_sync(s->files[i]) != 0) return DUSK_EIO;
    return 0;
}

/* commit or suspend every file; the first failure's errno is kept */
static int npy_end(dusk__outset **ps, int commit)
{
    dusk__outset *s = *ps;
    *ps = NULL;
    if (s == NULL) return DUSK_EINVAL;
    int ret = 0, err = 0;
    for (int i = 0; i < s->nouts; i++) {
        int r = commit && ret == 0 ? dusk_npy_commit(&s->files[i]) : 0;
        if (s->files[i] != NULL && dusk_npy_suspend(&s->files[i]) != 0 && r == 0) r = DUSK_EIO;
        if (r != 0 && ret == 0) {
            ret = r;
            err = errno;
        }
    }
    free(s);
    if (ret != 0) errno = err;
    return ret;
}

static int npy_commit(dusk__outset **s)
{
    return npy_end(s, 1);
}

static int npy_suspend(dusk__outset **s)
{
    return npy_end(s, 0);
}

static void npy_abort(dusk__outset **ps)
{
    if (*ps == NULL) return;
    for (int i = 0; i < (*ps)->nouts; i++)
        dusk_npy_abort(&(*ps)->files[i]);
    free(*ps);
    *ps = NULL;
}

static const dusk__format npy_format = {
    "npy",     npy_files, npy_create, npy_join,    npy_reopen,
    npy_write, npy_sync,  npy_commit, npy_suspend, npy_abort,
};

#if defined(DUSK_HAVE_HDF5) && DUSK_HAVE_HDF5
extern const dusk__format dusk__h5_format;
#endif

const dusk__format *dusk__format_find(const char *name)
{
    if (name == NULL || strcmp(name, "npy") == 0) return &npy_format;
#if defined(DUSK_HAVE_HDF5) && DUSK_HAVE_HDF5
    if (strcmp(name, "h5") == 0) return &dusk__h5_format;
#endif
    return NULL;
}

int dusk__format_known(const char *name)
{
    return name != NULL && (strcmp(name, "npy") == 0 || strcmp(name, "h5") == 0);
}
