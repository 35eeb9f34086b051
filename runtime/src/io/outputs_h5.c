/* The HDF5 output format: DIR/results.h5, one dataset per output, shape (nitems, dims...).
 *
 * The file is made whole by the HDF5 library before any row is written (every dataset
 * contiguous, allocated in full, NaN: h5_write.c), then closed; rows are written at each
 * dataset's offset with pwrite (or a span at a time: dusk__pwrite_rows), as .npy rows are, without
 * HDF5 open. So a run killed at any moment (SIGKILL while a row is written, or while the manifest
 * is) can never leave a file HDF5 cannot open, whose metadata cache was half-written: there is none
 * open. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5.h"
#include "io.h"
#include "outputs.h"

struct dusk__outset {
    int fd;
    int creator; /* made or reopened it: commit renames it, abort removes it */
    int nouts;
    int64_t row[DUSK__MAX_OUTPUTS];    /* values per row */
    int64_t offset[DUSK__MAX_OUTPUTS]; /* of each dataset's first value */
    char path[4200], partial[4216];
};

static int h5_files(const dusk__output *outs, int nouts, char (*names)[64], int max)
{
    (void)outs, (void)nouts;
    if (max < 1) return 0;
    snprintf(names[0], 64, "results.h5");
    return 1;
}

/* The datasets of these outputs, named in `names`. */
static void datasets(const dusk__output *outs, int nouts, int64_t nitems, dusk__h5_dataset *sets)
{
    for (int i = 0; i < nouts; i++) {
        memset(&sets[i], 0, sizeof sets[i]);
        sets[i].name = outs[i].name;
        sets[i].ndim = 1 + outs[i].ndim;
        sets[i].shape[0] = nitems;
        for (int d = 0; d < outs[i].ndim; d++)
            sets[i].shape[1 + d] = outs[i].dims[d];
    }
}

static dusk__outset *new_set(const char *dir, const dusk__output *outs, int nouts)
{
    dusk__outset *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    s->fd = -1;
    s->nouts = nouts;
    for (int i = 0; i < nouts; i++)
        s->row[i] = dusk__output_row_values(&outs[i]);
    snprintf(s->path, sizeof s->path, "%s/results.h5", dir);
    snprintf(s->partial, sizeof s->partial, "%s.partial", s->path);
    return s;
}

/* The file checked and its offsets taken, then opened for pwrite. */
static int open_checked(dusk__outset *s, const char *path, const dusk__output *outs, int nouts,
                        int64_t nitems, char *why, size_t whylen)
{
    dusk__h5_dataset sets[DUSK__MAX_OUTPUTS];
    char one[512];
    datasets(outs, nouts, nitems, sets);
    int ret = dusk__h5_check(path, sets, nouts, NULL, 0, one, sizeof one);
    if (ret != 0) {
        dusk__set_why(why, whylen, "results.h5%s: %s",
                      strcmp(path, s->partial) == 0 ? ".partial" : "", one);
        return ret;
    }
    for (int i = 0; i < nouts; i++)
        s->offset[i] = sets[i].offset;
    /* read too: rows at a stride are written a span at a time, read first (dusk__pwrite_rows) */
    s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (s->fd < 0) {
        dusk__set_why_errno(why, whylen, "results.h5", errno);
        return DUSK_EIO;
    }
    return 0;
}

static int h5_create(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                     const dusk__attr *attrs, int nattrs, dusk__outset **out, char *why,
                     size_t whylen)
{
    *out = NULL;
    dusk__outset *s = new_set(dir, outs, nouts);
    if (s == NULL) return DUSK_ENOMEM;
    dusk__h5_dataset sets[DUSK__MAX_OUTPUTS];
    dusk__h5_attr a[DUSK__MAX_ATTRS];
    datasets(outs, nouts, nitems, sets);
    if (nattrs > DUSK__MAX_ATTRS) nattrs = DUSK__MAX_ATTRS;
    for (int i = 0; i < nattrs; i++) {
        /* whole numbers as integer attributes (n = 1000), the rest as strings */
        long long v;
        int number = dusk__parse_int(attrs[i].value, INT64_MIN, INT64_MAX, &v) == 0;
        a[i] = (dusk__h5_attr){attrs[i].name, number ? NULL : attrs[i].value, number ? v : 0};
    }
    char one[512];
    int ret = dusk__h5_create(s->partial, sets, nouts, a, nattrs, one, sizeof one);
    if (ret != 0) {
        int err = errno;
        dusk__set_why(why, whylen, "results.h5: %s", one);
        free(s);
        errno = err;
        return ret;
    }
    s->creator = 1;
    if ((ret = open_checked(s, s->partial, outs, nouts, nitems, why, whylen)) != 0) {
        unlink(s->partial);
        free(s);
        return ret;
    }
    *out = s;
    return 0;
}

static int h5_join(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                   dusk__outset **out, char *why, size_t whylen)
{
    *out = NULL;
    dusk__outset *s = new_set(dir, outs, nouts);
    if (s == NULL) return DUSK_ENOMEM;
    int ret = open_checked(s, s->partial, outs, nouts, nitems, why, whylen);
    if (ret != 0) {
        free(s);
        return ret;
    }
    *out = s;
    return 0;
}

/* A resume: results.h5.partial (a stopped run), else results.h5 (a finished one), which is
 * renamed back to .partial first so that it no longer looks complete. */
static int h5_reopen(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                     dusk__outset **out, char *why, size_t whylen)
{
    *out = NULL;
    dusk__outset *s = new_set(dir, outs, nouts);
    if (s == NULL) return DUSK_ENOMEM;
    struct stat st;
    int finished = stat(s->partial, &st) != 0 && errno == ENOENT;
    int ret = open_checked(s, finished ? s->path : s->partial, outs, nouts, nitems, why, whylen);
    if (ret == 0 && finished && rename(s->path, s->partial) != 0) {
        int err = errno;
        dusk__set_why_errno(why, whylen, "results.h5: cannot rename it to .partial", err);
        close(s->fd);
        errno = err;
        ret = DUSK_EIO;
    }
    if (ret != 0) {
        free(s);
        return ret;
    }
    s->creator = 1;
    *out = s;
    return 0;
}

/* a dataset's values, at its offset in the file */
typedef struct dataset_at {
    int fd;
    int64_t offset;
} dataset_at;

static int h5_put(void *file, int64_t at, int64_t stride, int64_t len, int64_t count,
                  const double *src)
{
    const dataset_at *d = file;
    return dusk__pwrite_rows(d->fd, d->offset + at * 8, stride * 8, (size_t)len * 8, count, src) ==
                   0
               ? 0
               : DUSK_EIO;
}

static int h5_write(dusk__outset *s, int o, int64_t first, int64_t step, int64_t count,
                    const double *values)
{
    if (o < 0 || o >= s->nouts) return DUSK_EINVAL;
    dataset_at d = {s->fd, s->offset[o]};
    return dusk__output_write_rows(h5_put, &d, s->row[o], first, step, count, values);
}

static int h5_sync(dusk__outset *s)
{
    return fdatasync(s->fd) == 0 ? 0 : DUSK_EIO;
}

/* Flush and close; commit: renamed to results.h5 (by its creator). */
static int h5_end(dusk__outset **ps, int commit)
{
    dusk__outset *s = *ps;
    *ps = NULL;
    if (s == NULL) return DUSK_EINVAL;
    int err = 0;
    if (fsync(s->fd) != 0) err = errno;
    if (close(s->fd) != 0 && err == 0 && errno != EINTR) err = errno;
    if (err == 0 && commit && s->creator && rename(s->partial, s->path) != 0) err = errno;
    if (err == 0 && commit && s->creator) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", s->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        (void)dusk__sync_dir(slash ? dir : ".");
    }
    free(s);
    if (err != 0) {
        errno = err;
        return DUSK_EIO;
    }
    return 0;
}

static int h5_commit(dusk__outset **s)
{
    return h5_end(s, 1);
}

static int h5_suspend(dusk__outset **s)
{
    return h5_end(s, 0);
}

static void h5_abort(dusk__outset **ps)
{
    dusk__outset *s = *ps;
    *ps = NULL;
    if (s == NULL) return;
    close(s->fd);
    if (s->creator) unlink(s->partial);
    free(s);
}

const dusk__format dusk__h5_format = {
    "h5",     h5_files, h5_create, h5_join,    h5_reopen,
    h5_write, h5_sync,  h5_commit, h5_suspend, h5_abort,
};
