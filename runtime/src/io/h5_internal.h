/* What the HDF5 files of the I/O layer share: h5_common.c's entry and exit of the HDF5 library,
 * its error stack, and the descriptions of types and shapes, for the reader (h5_read.c) and
 * the result files (h5_write.c). Private to those files; needs <hdf5.h>.
 *
 * Every entry into the HDF5 library goes through dusk__h5_enter()/dusk__h5_leave(): one
 * mutex, and HDF5's automatic error printing turned off for the calling thread (in a
 * thread-safe HDF5 the error stack, and the setting, are per thread). When a call fails, the
 * error stack is read at once (the next API call clears it) for the innermost message, which
 * is the one that says what is wrong ("truncated file: eof = ...").
 */
#ifndef DUSK_H5_INTERNAL_H
#define DUSK_H5_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "h5.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dusk's HDF5 result files are written with pwrite() of native doubles: little-endian hosts"
#endif

/* Take and release the one lock under which the HDF5 library is entered. */
void dusk__h5_enter(void);
void dusk__h5_leave(void);

/* Close an identifier of any kind and set it to H5I_INVALID_HID (nothing for one < 0). */
void dusk__h5_close_id(hid_t *id);

/* What the last failed call left on this thread's error stack. */
typedef struct dusk__h5_error {
    char text[160]; /* the innermost description, on one line */
    int filter;     /* some error came from the filter pipeline: the data is corrupt */
} dusk__h5_error;

void dusk__h5_last_error(dusk__h5_error *r);

/* 8 or 4 for IEEE float64 or float32 of either byte order (*big set for big-endian), else 0. */
int dusk__h5_ieee_size(hid_t t, int *big);

/* A type in a few words, as a NumPy user would name it: float64, int32, complex128, ... */
void dusk__h5_type_text(hid_t t, char *buf, size_t len);

/* A dataset's rank and dims (-1 for a null dataspace, 0 for a scalar). */
int dusk__h5_space_shape(hid_t space, int64_t shape[DUSK__H5_MAX_RANK]);

/* Open `path` read-only, the lock held, locking it as HDF5 does where the file system
 * can; < 0 on failure, with `why` set and *code DUSK_EIO (locked by a writer) or
 * DUSK_EFORMAT (truncated or corrupt). */
hid_t dusk__h5_open_file(const char *path, char *why, size_t whylen, int *code);

#endif
