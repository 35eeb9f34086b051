/* dusk_npy: NumPy .npy files of float64, read and written in place.
 *
 * Readers read one slice at a time with pread(), so a file of any size is read in bounded
 * memory, and take float32 and big-endian files too, converted to float64 as they are read.
 * (dusk_input.h reads .npy and HDF5 files alike, on top of this.) Writers size the whole file up
 * front and take slices at their offsets from any thread, under a temporary name (PATH.partial)
 * that only dusk_npy_commit() renames to PATH: a run that fails never leaves a file that looks
 * complete.
 */
#ifndef DUSK_NPY_H
#define DUSK_NPY_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most dimensions a .npy file dusk reads or writes may have (dusk_npy_open() refuses
 * more with DUSK_EFORMAT; dusk_npy_create() with DUSK_EINVAL). */
#define DUSK_NPY_MAX_DIMS 8

typedef struct dusk_npy dusk_npy; /* an open .npy file; opaque */

/* Open an existing .npy file for reading. It must hold float64 or float32 of either byte
 * order ('<f8', '>f8', '<f4', '>f4': what NumPy writes for np.float64 and np.float32) in C or
 * Fortran order, with a well-formed header (format 1.0, 2.0 or 3.0) and at least as many
 * data bytes as its shape needs. Other dtypes (integers, complex, '=f8', float16, ...) are
 * refused. On failure returns DUSK_EIO (cannot open or read: errno is
 * kept), or DUSK_EFORMAT, and `why` receives one line naming the problem (without the
 * path). The caller owns *out; close it with dusk_npy_close(). */
DUSK_NODISCARD int dusk_npy_open(const char *path, dusk_npy **out, char *why, size_t whylen);

/* Its rank, its shape (ndim values, owned by f), and whether it is in Fortran order. */
int dusk_npy_ndim(const dusk_npy *f);
const int64_t *dusk_npy_shape(const dusk_npy *f);
int dusk_npy_fortran_order(const dusk_npy *f);

/* Its dtype as the header spells it: "<f8", ">f8", "<f4" or ">f4" (a static string; NULL
 * for NULL). Files made by dusk_npy_create() are "<f8". */
const char *dusk_npy_dtype(const dusk_npy *f);

/* What reading converts, as a phrase for a verbose message: NULL for '<f8' (read as it is),
 * "big-endian float64 byte-swapped", "float32 widened to float64" or "big-endian float32
 * byte-swapped and widened to float64" (static strings). float32 is widened exactly. */
const char *dusk_npy_conversion(const dusk_npy *f);

/* Read the index-th matrix of a file shaped (..., rows, cols), counting over the leading
 * dimensions in C order (the only one for a 2-d file is 0), into out (rows*cols values,
 * C order, float64, whatever the file's order and dtype). Thread-safe. Returns DUSK_EINVAL for a
 * bad index, DUSK_EIO when the read fails or comes up short. */
DUSK_NODISCARD int dusk_npy_read_matrix(const dusk_npy *f, int64_t index, double *out);

/* Create PATH.partial holding a C-order float64 array of the given shape (1 to
 * DUSK_NPY_MAX_DIMS dims, each >= 0), with a valid header and the data sized (zeros) for
 * dusk_npy_write(). An existing PATH.partial is replaced. DUSK_EIO (errno kept) or
 * DUSK_EINVAL, with `why`. The caller owns *out: end it with dusk_npy_commit() or
 * dusk_npy_abort(). */
DUSK_NODISCARD int dusk_npy_create(const char *path, int ndim, const int64_t *shape, dusk_npy **out,
                                   char *why, size_t whylen);

/* Open PATH.partial, which another process (rank 0) made with dusk_npy_create() for the
 * same shape, to write slices into it too (each rank writes its own). DUSK_EIO (errno kept)
 * when it cannot be opened, DUSK_EFORMAT when its size does not match the shape; `why` says.
 * dusk_npy_commit() on it flushes and closes without renaming, dusk_npy_abort() closes without
 * removing: the creator renames or removes it once every writer is done. */
DUSK_NODISCARD int dusk_npy_join(const char *path, int ndim, const int64_t *shape, dusk_npy **out,
                                 char *why, size_t whylen);

/* Open again, for writing in place, a file that dusk_npy_create() made for the same path and
 * shape: PATH.partial when it exists (an interrupted run), else PATH (a finished run), which
 * is first renamed back to PATH.partial so that it no longer looks complete. Its values are
 * kept. DUSK_EIO (errno kept), DUSK_EFORMAT when the file is not such a file or its shape
 * (or dtype: '<f8' only) differs, with `why`; the file is left as it was. End it like a created
 * one. */
DUSK_NODISCARD int dusk_npy_reopen(const char *path, int ndim, const int64_t *shape, dusk_npy **out,
                                   char *why, size_t whylen);

/* Write count values at element offset `offset` (in C order). Thread-safe.
 * DUSK_EINVAL when the range is outside the array, DUSK_EIO when the write fails. */
DUSK_NODISCARD int dusk_npy_write(dusk_npy *f, int64_t offset, const double *values, int64_t count);

/* Flush to disk, close and rename PATH.partial to PATH. Sets *f to NULL, even on failure
 * (then DUSK_EIO is returned, errno says why, and PATH.partial is kept as it is, for a
 * resume: it never looks complete). */
DUSK_NODISCARD int dusk_npy_commit(dusk_npy **f);

/* Make what was written so far durable (fdatasync). Thread-safe. DUSK_EIO on failure. */
DUSK_NODISCARD int dusk_npy_sync(dusk_npy *f);

/* Flush, close and keep PATH.partial, for dusk_npy_reopen() later (a run that stops early
 * and can be resumed). Sets *f to NULL. DUSK_EIO when the flush fails. */
DUSK_NODISCARD int dusk_npy_suspend(dusk_npy **f);

/* Close and remove PATH.partial. Sets *f to NULL. */
void dusk_npy_abort(dusk_npy **f);

/* Close a file opened for reading. Sets *f to NULL. */
void dusk_npy_close(dusk_npy **f);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_NPY_H */
