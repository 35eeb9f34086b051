/* dusk_input: a batch of square matrices to read, from a NumPy .npy file or an HDF5 dataset.
 *
 * One handle gives the shape and reads one matrix at a time as float64 in C order, whatever
 * the file holds (float64 or float32, either byte order; C or Fortran order in .npy;
 * contiguous, chunked or compressed datasets in HDF5), so a file of any size is read in
 * bounded memory: what one matrix needs, plus, for a chunked HDF5 dataset, one chunk.
 *
 *   dusk_input *in;
 *   char why[512];
 *   if (dusk_input_open("mats.h5:/group/mats", &in, why, sizeof why) != 0) {
 *       fprintf(stderr, "prog: %s\n", why);   (one line; it names the file and dataset)
 *       ...
 *   }
 *   int64_t t = dusk_input_count(in), n = dusk_input_n(in);
 *   dusk_input_read_matrix(in, i, buf);        (n * n doubles; from any thread)
 *   dusk_input_close(&in);
 *
 * The file's kind is decided by its first bytes (NumPy's "\x93NUMPY" or HDF5's signature),
 * never by its name. HDF5 needs a dusk built with it (dusk_have_hdf5()); HDF5's own error
 * reports (HDF5-DIAG) are never printed: what went wrong comes back in `why`.
 */
#ifndef DUSK_INPUT_H
#define DUSK_INPUT_H

#include "dusk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dusk_input dusk_input; /* an open input; opaque */

/* Room enough for every fingerprint dusk_input_fingerprint() writes, terminator included. */
#define DUSK_INPUT_FINGERPRINT_MAX 96

/* 1 when this build of dusk reads HDF5 files (it was built with libhdf5), else 0. */
int dusk_have_hdf5(void);

/* Open `spec` for reading:
 *   FILE             a .npy file, or an HDF5 file holding exactly one dataset that dusk can
 *                    read (floating-point, 2-D or 3-D), taken wherever it is in the file;
 *   FILE:DATASET     that dataset of an HDF5 file: an HDF5 path such as /group/mats (the
 *                    leading '/' may be left out).
 * When `spec` names an existing file as a whole it is that file, even if its name holds a
 * ':'; otherwise the longest part before a ':' that names an existing file is the file.
 *
 * The data must be float64 or float32 ('<f8', '>f8', '<f4', '>f4' in .npy; IEEE 754 of either
 * byte order in HDF5; float32 is converted exactly, see dusk_input_conversion()) and shaped
 * (T, n, n) or (n, n): a batch of T square matrices, or one. T = 0 is allowed (a batch with no
 * matrices), as is n = 0.
 *
 * Returns 0, or a negative code with one line in `why` (when not NULL: cut to whylen and always
 * terminated) that names the file and, for HDF5, the dataset:
 *   DUSK_EINVAL   the caller's mistake, which a program reports as bad usage: spec is empty
 *                 or NULL, out is NULL, the dataset named does not exist or is a group, a
 *                 .npy file is given a dataset, the HDF5 file holds several datasets dusk
 *                 can read and none is named (`why` lists them), or the file is HDF5 and
 *                 this dusk was built without HDF5;
 *   DUSK_EIO      the file cannot be opened or read (missing, a directory, no permission:
 *                 errno is kept), or an HDF5 file is locked by a program writing it;
 *   DUSK_EFORMAT  the file holds data dusk does not read: neither .npy nor HDF5, truncated
 *                 or corrupt, an integer, complex, string, float16 or other type, a rank
 *                 other than 2 or 3, non-square matrices, an HDF5 file with no dataset
 *                 dusk can read (`why` lists what it has), a malformed .npy header;
 *   DUSK_ENOMEM   out of memory.
 * *out is NULL on failure. The caller owns *out: close it with dusk_input_close(). */
DUSK_NODISCARD int dusk_input_open(const char *spec, dusk_input **out, char *why, size_t whylen);

/* Its rank (2 or 3) and shape: (T, n, n) or (n, n), owned by `in` (0 and NULL for NULL). */
int dusk_input_ndim(const dusk_input *in);
const int64_t *dusk_input_shape(const dusk_input *in);

/* The number of matrices (T, or 1 for a 2-D input) and their size n (0 for NULL). */
int64_t dusk_input_count(const dusk_input *in);
int64_t dusk_input_n(const dusk_input *in);

/* Read matrix `index` (0 <= index < dusk_input_count()) into out: n * n float64 values in
 * C order. Thread-safe: any number of threads may read from one handle at once (HDF5 reads
 * are serialised inside, since the HDF5 library must not be entered by two threads at once).
 * Returns 0; DUSK_EINVAL for a bad index or a NULL argument; DUSK_EIO when the read fails or
 * comes up short (the file shrank after it was opened); DUSK_EFORMAT when HDF5 finds the
 * matrix's data corrupt (a compressed chunk that does not decompress); DUSK_EDATA when the
 * matrix was never written (a chunk of a chunked HDF5 dataset that was never allocated: a
 * producer that stopped part-way; HDF5 would read its fill value); DUSK_ENOMEM. (A dataset
 * with nothing written at all is refused by dusk_input_open(), DUSK_EFORMAT.) */
DUSK_NODISCARD int dusk_input_read_matrix(const dusk_input *in, int64_t index, double *out);

/* What reading converts, as a phrase for a verbose message ("prog: FILE: CONVERSION"): NULL
 * when the data is little-endian float64 and read as it is; else "float32 widened to
 * float64", "big-endian float64 byte-swapped" or "big-endian float32 byte-swapped and
 * widened to float64". A static string. */
const char *dusk_input_conversion(const dusk_input *in);

/* A content fingerprint of the input, for checking that a resumed run reads the same data:
 * one token of [0-9a-z:] (no spaces), at most DUSK_INPUT_FINGERPRINT_MAX - 1 characters, such
 * as "npy:1048704:86b3c1d2e0f4a597:4f0a2c9e7b315d68". It covers the file's size, what the
 * input is (the .npy header's dtype, order and shape; the HDF5 dataset's path, type and
 * shape), and a 64-bit hash of sampled 4 KiB blocks of the file: all of them for a file of
 * up to 64 blocks, else the first, the last and 62 evenly spaced between. It reads at most
 * 256 KiB, whatever the file's size, so it is cheap at any size. Files that differ in size,
 * shape, dtype or dataset, or anywhere inside a sampled block, give different fingerprints;
 * a change outside the sampled blocks of a same-sized file is not seen. The same file reached
 * by another path or spec (FILE.h5 and FILE.h5:/mats) gives the same fingerprint.
 * Thread-safe. Returns 0; DUSK_EINVAL when len < DUSK_INPUT_FINGERPRINT_MAX or an argument
 * is NULL (out is then "" when it has room); DUSK_EIO when a read fails (errno kept). */
DUSK_NODISCARD int dusk_input_fingerprint(const dusk_input *in, char *out, size_t len);

/* What a resume checks when the file's size or modification time changed since the run
 * stopped (dusk_batch_set_input): a 64-bit hash of each matrix as read (its n * n float64
 * values, XXH64 seeded with its index, so that the same matrix at another index differs).
 *
 * dusk_input_keep_hashes: from now on, dusk_input_read_matrix() keeps the hash of each matrix
 * it reads (8 bytes per matrix of the input); dusk_input_kept_hash() gives it back (0 for a
 * matrix not read yet). Thread-safe, as reading is. 0, DUSK_EINVAL, DUSK_ENOMEM.
 * dusk_input_hash_matrix: read matrix `index` into buf (n * n doubles) and hash it, without
 * keeping anything; errors as dusk_input_read_matrix().
 * dusk_input_stat: the file's size and modification time (ns since the epoch), from the
 * descriptor opened (the file, even if its name now names another). 0, DUSK_EINVAL, DUSK_EIO. */
DUSK_NODISCARD int dusk_input_keep_hashes(dusk_input *in);
uint64_t dusk_input_kept_hash(const dusk_input *in, int64_t index);
DUSK_NODISCARD int dusk_input_hash_matrix(const dusk_input *in, int64_t index, double *buf,
                                          uint64_t *hash);
DUSK_NODISCARD int dusk_input_stat(const dusk_input *in, int64_t *size, int64_t *mtime_ns);

/* The file, as given in the spec (without ":DATASET"); the dataset's full HDF5 path ("/mats",
 * also when found alone or named without the '/'), or NULL for a .npy file; and the format,
 * "npy" or "hdf5". Static or owned by `in`; NULL for NULL. For messages and records. */
const char *dusk_input_path(const dusk_input *in);
const char *dusk_input_dataset(const dusk_input *in);
const char *dusk_input_format(const dusk_input *in);

/* Close it and set *in to NULL (nothing for NULL). No read may be in progress. */
void dusk_input_close(dusk_input **in);

#ifdef __cplusplus
}
#endif
#endif /* DUSK_INPUT_H */
