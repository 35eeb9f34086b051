/* What the .npy files of the I/O layer share: the header parser (npy_header.c), on memory
 * buffers, for dusk_npy_open(), the fuzz target (tests/fuzz/fuzz_npy_header.c) and the tests;
 * and the handle that the readers (npy_read.c) and the writers (npy_write.c) share. Private:
 * not part of the public API.
 *
 * A file is a preamble (magic, version, header length), a header that is a Python dict
 * literal, then the data (see NumPy's format.py). dusk_npy_open() reads the preamble and the
 * header of a file and hands them to the two parser functions below; dusk__npy_parse_header()
 * does the same from a whole file held in memory, so the fuzzer drives exactly the code that
 * reads users' files. None of them reads past the lengths it is given, allocates or keeps a
 * pointer. Thread-safe.
 */
#ifndef DUSK_NPY_INTERNAL_H
#define DUSK_NPY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dusk_npy.h"

#define DUSK__NPY_MAGIC "\x93NUMPY"
#define DUSK__NPY_PREAMBLE_MAX 12 /* magic, version, u32 header length */

typedef struct dusk__npy_preamble {
    int major;            /* format version 1, 2 or 3 */
    uint32_t header_len;  /* bytes of the header dict, padding included */
    int64_t header_start; /* offset of the header dict: 10 or 12 */
} dusk__npy_preamble;

typedef struct dusk__npy_header {
    int ndim, fortran;
    int64_t shape[DUSK_NPY_MAX_DIMS];
    int64_t count;       /* values the shape holds */
    int64_t data_offset; /* bytes before the data */
    int itemsize;        /* bytes per value: 8 ('<f8', '>f8') or 4 ('<f4', '>f4') */
    int big_endian;      /* the values are big-endian ('>f8', '>f4') */
} dusk__npy_header;

/* The preamble from the first `have` bytes (all of them, up to 12) of a file of `size`
 * bytes. Returns 0, or DUSK_EFORMAT with one line in `why`; *out is zeroed on failure. */
int dusk__npy_parse_preamble(const unsigned char *pre, size_t have, int64_t size,
                             dusk__npy_preamble *out, char *why, size_t whylen);

/* The header dict: pre->header_len bytes at text (need not be NUL-terminated) of a file of
 * `size` bytes. Checks that dusk reads it (dtype '<f8', '>f8', '<f4' or '>f4', at most
 * DUSK_NPY_MAX_DIMS dimensions, none negative) and that the file holds the data its shape needs,
 * with no overflow. Returns 0 or DUSK_EFORMAT with one line in `why`; *out is zeroed on failure. */
int dusk__npy_parse_dict(const char *text, const dusk__npy_preamble *pre, int64_t size,
                         dusk__npy_header *out, char *why, size_t whylen);

/* Both, on a whole .npy file of `size` bytes held at `file`. */
int dusk__npy_parse_header(const unsigned char *file, size_t size, dusk__npy_header *out, char *why,
                           size_t whylen);

/* The number of values of a shape whose dimensions are all >= 0, into *count. Returns -1
 * when the product of the non-zero dimensions, times 8 bytes, plus data_offset, does not fit
 * in int64: then no sub-product (a matrix, the number of matrices) can overflow either. */
int dusk__npy_shape_count(int ndim, const int64_t *shape, int64_t data_offset, int64_t *count);

/* ---- the handle, shared by the readers and the writers ----------------------------------------
 */

/* '<f8' data is moved between the file and memory as it is: the host must be little-endian
 * with IEEE doubles, and offsets and sizes must hold 64 bits (dusk targets x86-64). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dusk_npy needs a little-endian host"
#endif
_Static_assert(sizeof(double) == 8, "dusk_npy needs 8-byte doubles");
_Static_assert(sizeof(off_t) == 8, "dusk_npy needs a 64-bit off_t");
_Static_assert(SIZE_MAX >= INT64_MAX, "dusk_npy needs a 64-bit size_t");

struct dusk_npy {
    int fd;
    int writable; /* made by dusk_npy_create() */
    int ndim;
    int fortran;
    int64_t shape[DUSK_NPY_MAX_DIMS];
    int64_t count;       /* number of values */
    int64_t data_offset; /* bytes before the data */
    int itemsize;        /* 8 (float64) or 4 (float32); writers: 8 */
    int big_endian;      /* the data is big-endian ('>f8', '>f4'); writers: 0 */
    char *path;          /* writers: the name dusk_npy_commit() gives the file */
    char *partial;       /* writers: PATH.partial */
    int joined;          /* made by dusk_npy_join(): another process creates and renames it */
    int any_size;        /* set before dusk__npy_open_checked(): a file shorter than its header
                          * says is read too (dusk_npy_reopen() refuses it in its own words) */
    int64_t file_size;   /* bytes, as dusk__npy_open_checked() found them */
};

/* Read and check the preamble and header of f->fd (a regular file) into f's shape, dtype and
 * data offset. 0, or DUSK_EIO (errno kept), DUSK_EFORMAT or DUSK_ENOMEM, with one line in why. */
int dusk__npy_open_checked(dusk_npy *f, char *why, size_t whylen);

/* A writer's `count` runs of `len` values each, back to back at values, written at value
 * offsets offset, offset + stride, ... of the data (stride >= len; dusk__pwrite_rows). 0,
 * DUSK_EINVAL (outside the file, or not a writer) or DUSK_EIO (errno kept). Thread-safe. */
int dusk__npy_write_rows(dusk_npy *f, int64_t offset, int64_t stride, int64_t len, int64_t count,
                         const double *values);

/* Free f (nothing for NULL): its descriptor closed, and, for a writer neither committed nor
 * joined, PATH.partial removed. errno is kept. */
void dusk__npy_free(dusk_npy *f);

/* The file descriptor of an open file (-1 for NULL): dusk_input reads it for the input's
 * fingerprint. Owned by f; pread() only (other threads may be reading it). */
int dusk__npy_fd(const dusk_npy *f);

#endif
