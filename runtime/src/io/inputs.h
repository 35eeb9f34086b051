/* The file formats dusk_input reads, behind one small table of functions each (in the manner
 * of SQLite's VFS, as outputs.h does for a batch's outputs): input.c opens the file, decides
 * its format from its first bytes by asking each format in turn, checks the shape and computes
 * the fingerprint, and never names a format. Each format is a file of its own (input_npy.c,
 * input_h5.c); input_formats.c lists them, once. Part of the I/O layer (no StarPU). Private.
 */
#ifndef DUSK_INPUTS_H
#define DUSK_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#define DUSK__INPUT_MAX_RANK 32 /* the most dimensions a format reports */

typedef struct dusk__input_format {
    const char *name;  /* what dusk_input_format() says: "npy", "hdf5" */
    const char *label; /* in messages, "not a .npy or HDF5 file": ".npy", "HDF5" */
    /* Whether the file is of this format: head[have] are its first bytes (have is its size,
     * up to 8), and fd (pread() only) its `size` bytes when the format must look further.
     * 1: it is; 0: it is not; DUSK_EFORMAT: it is, but cannot be read, with text[len] saying
     * why ("file is truncated: an HDF5 signature cut at 5 bytes"). */
    int (*probe)(int fd, int64_t size, const unsigned char *head, size_t have, char *text,
                 size_t len);
    /* Open `path` for reading, the file input.c holds open as fd (the format may open it by
     * name, and then checks that it is the same file), and its dataset `dataset` (NULL: none
     * named). Returns 0 with the format's own handle in *state, or a DUSK_E* code (as
     * dusk_input_open() documents them) with `why` in the form "FILE: text" or
     * "FILE:DATASET: text" (dusk__input_say). */
    int (*open)(const char *path, int fd, const char *dataset, void **state, char *why,
                size_t whylen);
    /* Its rank and shape (input.c checks that it is (T, n, n) or (n, n)). */
    int (*shape)(const void *state, int64_t shape[DUSK__INPUT_MAX_RANK]);
    /* The full name of the dataset read ("/group/mats"), owned by state; NULL when the format
     * has no datasets. */
    const char *(*dataset)(const void *state);
    /* Matrix `index` (in range) of n x n, n > 0, into out, as dusk_input_read_matrix(). */
    int (*read)(const void *state, int64_t index, double *out);
    /* What reading converts, as dusk_input_conversion(). */
    const char *(*conversion)(const void *state);
    /* What the input is, for the fingerprint, without its shape: the same bytes read as
     * another dtype, order or dataset give another text ("npy <f8 C", "hdf5 /mats float64le"). */
    void (*describe)(const void *state, char *buf, size_t len);
    /* Close it and set *state to NULL. */
    void (*close)(void **state);
} dusk__input_format;

/* The formats, in the order their probes are tried, NULL-terminated (input_formats.c). */
extern const dusk__input_format *const dusk__input_formats[];

/* why = "FILE: text", or "FILE:DATASET: text" when dataset is not NULL. */
void dusk__input_say(char *why, size_t whylen, const char *file, const char *dataset,
                     const char *text);

#endif
