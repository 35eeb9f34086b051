/* NumPy .npy files as an input format of dusk_input (inputs.h), read through dusk_npy: a file
 * that starts with NumPy's magic (or a prefix of it: the reader then says that it is cut). */
#define _POSIX_C_SOURCE 200809L

#include "dusk_npy.h"
#include "inputs.h"
#include "io.h"
#include "npy_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int npy_probe(int fd, int64_t size, const unsigned char *head, size_t have, char *text,
                     size_t len)
{
    (void)fd, (void)size, (void)text, (void)len;
    /* a file that ends inside the magic is still a .npy file, which its reader says is cut */
    return memcmp(head, DUSK__NPY_MAGIC, have < 6 ? have : 6) == 0;
}

static int npy_open(const char *path, int fd, const char *dataset, void **state, char *why,
                    size_t whylen)
{
    if (dataset != NULL) {
        dusk__input_say(why, whylen, path, dataset,
                        "a .npy file holds one array, not datasets: give the file alone");
        return DUSK_EINVAL;
    }
    char text[320];
    dusk_npy *npy = NULL;
    int rc = dusk_npy_open(path, &npy, text, sizeof text);
    if (rc != 0) {
        dusk__input_say(why, whylen, path, NULL, text);
        return rc;
    }
    struct stat a, b;
    if (fstat(fd, &a) != 0 || fstat(dusk__npy_fd(npy), &b) != 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino) {
        dusk__input_say(why, whylen, path, NULL, "the file was replaced while being opened");
        dusk_npy_close(&npy);
        return DUSK_EIO;
    }
    *state = npy;
    return 0;
}

static int npy_shape(const void *state, int64_t shape[DUSK__INPUT_MAX_RANK])
{
    int ndim = dusk_npy_ndim(state);
    memcpy(shape, dusk_npy_shape(state), (size_t)ndim * sizeof(int64_t));
    return ndim;
}

static int npy_read(const void *state, int64_t index, double *out)
{
    return dusk_npy_read_matrix(state, index, out);
}

static const char *npy_conversion(const void *state)
{
    return dusk_npy_conversion(state);
}

static void npy_describe(const void *state, char *buf, size_t len)
{
    snprintf(buf, len, "npy %s %s", dusk_npy_dtype(state),
             dusk_npy_fortran_order(state) ? "F" : "C");
}

static void npy_close(void **state)
{
    dusk_npy *npy = *state;
    dusk_npy_close(&npy); /* keeps errno */
    *state = NULL;
}

const dusk__input_format dusk__input_npy = {
    .name = "npy",
    .label = ".npy",
    .probe = npy_probe,
    .open = npy_open,
    .shape = npy_shape,
    .dataset = NULL,
    .read = npy_read,
    .conversion = npy_conversion,
    .describe = npy_describe,
    .close = npy_close,
};
