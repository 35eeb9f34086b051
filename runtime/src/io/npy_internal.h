/* The .npy header parser behind dusk_npy_open(), on memory buffers, for the fuzz target
 * (tests/fuzz/fuzz_npy_header.c) and the tests. Private: not part of the public API.
 *
 * dusk_npy_open() reads the preamble and the header of a file and hands them to the two
 * functions below; dusk__npy_parse_header() does the same from a whole file held in
 * memory, so the fuzzer drives exactly the code that reads users' files. None of them
 * reads past the lengths it is given, allocates or keeps a pointer. Thread-safe.
 */
#ifndef DUSK_NPY_INTERNAL_H
#define DUSK_NPY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dusk_npy.h"

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

/* The file descriptor of an open file (-1 for NULL): dusk_input reads it for the input's
 * fingerprint. Owned by f; pread() only (other threads may be reading it). */
int dusk__npy_fd(const dusk_npy *f);

#endif
