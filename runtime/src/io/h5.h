/* HDF5 in the I/O layer: datasets read for dusk_input (h5_read.c), and result files for the
 * batch layer (h5_write.c), over what both share (h5_common.c, h5_internal.h). Private.
 * Compiled only in a build with HDF5 (DUSK_HAVE_HDF5, dusk_features.h).
 *
 * The HDF5 library is entered under one process-wide mutex (a serial HDF5 build must not be
 * entered by two threads at once), and every entry first turns HDF5's automatic error
 * printing off for the calling thread: HDF5-DIAG never reaches stderr, and what went wrong
 * comes back as one line in `why` (HDF5's own innermost message, when it helps). Messages
 * do not name the file: callers prefix it ("FILE:DATASET: ...").
 *
 * Result files are made so that nothing can corrupt them: dusk__h5_create() makes the file
 * and all its datasets (contiguous, float64, every byte allocated and filled with NaN),
 * closes it, and returns where each dataset's data lies in the file. Rows are then written
 * with pwrite() at those offsets, exactly as rows of a .npy file are, with HDF5 never opening
 * the file for writing again: its metadata is final before the first row, and a process
 * killed at any moment (SIGKILL included) leaves a file HDF5 opens, in which rows never
 * written read as NaN. Rows written are durable once the caller fdatasync()s the file.
 */
#ifndef DUSK_H5_H
#define DUSK_H5_H

#include <stddef.h>
#include <stdint.h>

/* ---- reading a dataset (for dusk_input) -------------------------------------------------- */

#define DUSK__H5_MAX_RANK 32 /* HDF5's own limit (H5S_MAX_RANK) */

typedef struct dusk__h5_input dusk__h5_input; /* an open dataset; opaque */

/* Open dataset `dataset` (an HDF5 path; relative paths start at the root group) of the HDF5
 * file `path`, or, when dataset is NULL, the file's only 2-D or 3-D floating-point dataset,
 * wherever it is. The dataset's type must be IEEE float32 or float64 of either byte order;
 * its rank and shape are not checked here (see dusk__h5_input_shape). Returns 0, or:
 *   DUSK_EINVAL   the dataset does not exist or is not a dataset; dataset is NULL and the
 *                 file holds several candidates (`why` lists them);
 *   DUSK_EFORMAT  HDF5 cannot open the file (truncated, corrupt: `why` quotes HDF5); the
 *                 type is not one dusk reads (`why` names it: int64, complex128, strings,
 *                 float16, ...); dataset is NULL and the file holds no candidate (`why`
 *                 lists the datasets it does hold);
 *   DUSK_ENOMEM.
 * found[foundlen] (when not NULL) receives the dataset that was looked at, found alone or
 * named, also when it is then refused ("" when there was none), for the caller's message.
 * *out is NULL on failure. Close with dusk__h5_input_close(). */
int dusk__h5_input_open(const char *path, const char *dataset, dusk__h5_input **out, char *why,
                        size_t whylen, char *found, size_t foundlen);

/* Its rank (0 for a scalar, up to DUSK__H5_MAX_RANK) and shape into shape[]. */
int dusk__h5_input_shape(const dusk__h5_input *in, int64_t shape[DUSK__H5_MAX_RANK]);

/* The dataset's full path ("/group/mats"), owned by `in`. */
const char *dusk__h5_input_dataset(const dusk__h5_input *in);

/* Its type in short ("float64le", "float32be"), a static string, and what reading converts
 * (as dusk_input_conversion(): NULL for float64le). */
const char *dusk__h5_input_type(const dusk__h5_input *in);
const char *dusk__h5_input_conversion(const dusk__h5_input *in);

/* Read the elements [first, first + count) of the dataset's leading dimension, with every
 * other dimension whole, as float64 in C order into out (the product of the other dimensions,
 * times count, values). For a (T, n, n) dataset, first = i and count = 1 is matrix i; for
 * (n, n), first = row 0 and count = n is the matrix. float32 is widened exactly (as C and
 * NumPy widen it). Thread-safe (serialised). Returns 0; DUSK_EINVAL for a range outside the
 * dataset or a rank-0 dataset; DUSK_EFORMAT when HDF5 finds the data corrupt (a filter
 * fails); DUSK_EIO for other read failures. */
int dusk__h5_input_read(const dusk__h5_input *in, int64_t first, int64_t count, double *out);

/* Close it and set *in to NULL (nothing for NULL). */
void dusk__h5_input_close(dusk__h5_input **in);

/* ---- result files (for the batch layer) -------------------------------------------------- */

#define DUSK__H5_MAX_DIMS 4

/* A dataset of a result file, described by the caller; dusk__h5_create() and dusk__h5_check()
 * fill in where its data lies. */
typedef struct dusk__h5_dataset {
    const char *name;                 /* in: "/eigenvalues" or "eigenvalues": a dataset of the
                                         root group ([A-Za-z0-9_.-], 1 to 255 characters) */
    int ndim;                         /* in: 1 to DUSK__H5_MAX_DIMS */
    int64_t shape[DUSK__H5_MAX_DIMS]; /* in: each >= 0 */
    int64_t offset; /* out: byte offset of its first value in the file (C order, float64
                       little-endian: value k is at offset + 8 k); -1 when it holds none */
    int64_t bytes;  /* out: 8 times the number of values */
} dusk__h5_dataset;

/* An attribute of the file's root group: a string (UTF-8, variable length: h5py reads it as
 * str) when text is not NULL, else a 64-bit integer. */
typedef struct dusk__h5_attr {
    const char *key;  /* 1 to 255 printable ASCII characters */
    const char *text; /* NULL: an integer attribute holding `value` */
    int64_t value;
} dusk__h5_attr;

/* Make `path` (the caller names it: DIR/results.h5.partial) with exactly the datasets sets[0..
 * nsets) in its root group, each contiguous, float64 little-endian, allocated in full and
 * filled with NaN (HDF5 writes every byte: as long as writing every row once), and the
 * attributes attrs[0..nattrs) on the root group; fill in each set's offset and bytes. The file
 * is written as PATH.tmp, fsync'ed, renamed to PATH (an existing PATH is replaced) and the
 * directory fsync'ed, then opened again read-only and checked (dusk__h5_check): PATH never
 * exists half-made. Returns 0, or DUSK_EINVAL (a bad name, rank, shape or attribute),
 * DUSK_EIO (cannot write it: errno kept when it was a system call; PATH.tmp removed, PATH
 * left as it was), with one line in `why`. Not thread-safe against other writers of PATH. */
int dusk__h5_create(const char *path, dusk__h5_dataset *sets, int nsets, const dusk__h5_attr *attrs,
                    int nattrs, char *why, size_t whylen);

/* Open an existing `path` read-only (a resume, or another rank joining the run) and check that
 * it is such a file: its root group holds exactly the datasets sets[0..nsets), each float64
 * little-endian, contiguous, of that shape, allocated, and lying inside the file; and, when
 * nattrs > 0, that it has each of attrs[0..nattrs) with that type and value (other attributes
 * are allowed). Fills in each set's offset and bytes. Returns 0; DUSK_EIO when the file
 * cannot be opened (errno kept); DUSK_EFORMAT when it is not HDF5, is corrupt, or differs
 * (`why` says how, in one line: "/eigenvalues has shape (10, 6), not (10, 5)"). */
int dusk__h5_check(const char *path, dusk__h5_dataset *sets, int nsets, const dusk__h5_attr *attrs,
                   int nattrs, char *why, size_t whylen);

#endif
