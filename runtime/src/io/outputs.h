/* A batch's output files, behind one small table of functions per file format (in the
 * manner of SQLite's VFS): the batch layer never names a format. Each output is an array
 * (nitems, dims...) of float64 whose rows are written in place, from any thread, at their
 * offsets, under temporary names until the batch has finished. Part of the I/O layer (no
 * StarPU). Private to the runtime.
 *
 * Life of a set: create (a new run, by the rank that makes the files), join (the other ranks
 * of the job, once the creator has made them), or reopen (a resume); then write and sync as
 * rows come; then commit (finished: the files get their names; a joined set only flushes),
 * or suspend (stopped: kept as they are, for a resume), or abort (removed). */
#ifndef DUSK_OUTPUTS_H
#define DUSK_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "dusk.h"

#define DUSK__MAX_OUTPUTS 8
#define DUSK__MAX_ATTRS 32

/* One output: its name (letters, digits, _) and the shape of one row. */
typedef struct dusk__output {
    char name[48];
    int ndim;
    int64_t dims[3];
} dusk__output;

/* A name = value recorded with the outputs (an HDF5 attribute; .npy files have none). */
typedef struct dusk__attr {
    const char *name, *value;
} dusk__attr;

typedef struct dusk__outset dusk__outset; /* an open set of output files; opaque */

typedef struct dusk__format {
    const char *name; /* "npy", "h5" */
    /* The files this format makes in a directory for these outputs, as names relative to it
     * ("eigenvalues.npy"; each also exists as NAME.partial while a run is going on), into
     * names[max][64]; returns how many. */
    int (*files)(const dusk__output *outs, int nouts, char (*names)[64], int max);
    /* 0, or a DUSK_E* code with one line in why (without the directory). */
    int (*create)(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                  const dusk__attr *attrs, int nattrs, dusk__outset **out, char *why,
                  size_t whylen);
    int (*join)(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                dusk__outset **out, char *why, size_t whylen);
    int (*reopen)(const char *dir, const dusk__output *outs, int nouts, int64_t nitems,
                  dusk__outset **out, char *why, size_t whylen);
    /* rows of `count` consecutive items from `first` of output `o` (values NULL: NaN rows).
     * Thread-safe. 0, DUSK_EINVAL, DUSK_EIO (errno kept). */
    int (*write)(dusk__outset *s, int o, int64_t first, int64_t count, const double *values);
    /* what was written so far reaches the disk (fdatasync). Thread-safe. */
    int (*sync)(dusk__outset *s);
    /* each sets *s to NULL; on failure errno says why and the files are kept as .partial */
    int (*commit)(dusk__outset **s);
    int (*suspend)(dusk__outset **s);
    void (*abort)(dusk__outset **s);
} dusk__format;

/* The format named `name` ("npy", or "h5" in a build with HDF5), or NULL. */
const dusk__format *dusk__format_find(const char *name);

/* Whether this build can write `name` at all (h5 needs HDF5); for messages. */
int dusk__format_known(const char *name);

/* A block of NaN values (*count of them, 1 MiB) for the rows of failed items, which every
 * format writes as many times as the rows need. */
const double *dusk__nan_values(int64_t *count);

/* Values in one row of an output. */
int64_t dusk__output_row_values(const dusk__output *o);

#endif
