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
    /* rows of output `o` for `count` items first, first + step, first + 2 step, ... (step >= 1;
     * values holds the rows back to back, or is NULL: NaN rows), in as few calls to the system
     * as their layout allows (dusk__pwrite_rows). Other processes may write the rows in
     * between at the same time. Thread-safe. 0, DUSK_EINVAL, DUSK_EIO (errno kept). */
    int (*write)(dusk__outset *s, int o, int64_t first, int64_t step, int64_t count,
                 const double *values);
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

/* How a format writes `count` runs of `len` values, back to back at src, at value offsets at,
 * at + stride, ... of one output's data (stride >= len). 0 or a DUSK_E* code, errno kept. */
typedef int (*dusk__put_rows)(void *file, int64_t at, int64_t stride, int64_t len, int64_t count,
                              const double *src);

/* A format's write() on its put(): the rows of `row` values of items first, first + step, ...
 * at value offset item * row, from values or, when values is NULL, NaN (from one 1 MiB block,
 * as many times as the rows need). */
int dusk__output_write_rows(dusk__put_rows put, void *file, int64_t row, int64_t first,
                            int64_t step, int64_t count, const double *values);

/* Values in one row of an output. */
int64_t dusk__output_row_values(const dusk__output *o);

#endif
