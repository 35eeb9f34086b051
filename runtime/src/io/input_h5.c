/* HDF5 datasets as an input format of dusk_input (inputs.h), read through h5_read.c: a file
 * with HDF5's signature at 0, 512, 1024, 2048, ... Recognised in every build, so that a dusk
 * built without HDF5 can say that it is one. */
#define _POSIX_C_SOURCE 200809L

#include "dusk_features.h"
#include "dusk_input.h"
#include "inputs.h"
#include "io.h"
#if DUSK_HAVE_HDF5
#include "h5.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H5_SIGNATURE "\x89HDF\r\n\x1a\n"

int dusk_have_hdf5(void)
{
    return DUSK_HAVE_HDF5;
}

static int h5_probe(int fd, int64_t size, const unsigned char *head, size_t have, char *text,
                    size_t len)
{
    if (size < 8 && memcmp(head, H5_SIGNATURE, have) == 0) {
        snprintf(text, len, "file is truncated: an HDF5 signature cut at %zu bytes", have);
        return DUSK_EFORMAT;
    }
    /* HDF5 looks for its signature at 0, 512, 1024, 2048, ...: a user block may come first */
    unsigned char at[8];
    memcpy(at, head, have);
    for (int64_t off = 0; off <= size - 8; off = off == 0 ? 512 : off * 2) {
        if (off > 0 && dusk__pread_full(fd, at, 8, off) != 0) break;
        if (memcmp(at, H5_SIGNATURE, 8) == 0) return 1;
    }
    return 0;
}

#if DUSK_HAVE_HDF5

/* The dataset, and what a read needs of its shape. */
typedef struct h5_source {
    dusk__h5_input *h5;
    int ndim;
    int64_t n;
} h5_source;

static int h5_open(const char *path, int fd, const char *dataset, void **state, char *why,
                   size_t whylen)
{
    (void)fd;
    h5_source *s = calloc(1, sizeof *s);
    if (s == NULL) {
        dusk__input_say(why, whylen, path, dataset, "out of memory");
        return DUSK_ENOMEM;
    }
    char text[480], found[1024];
    int rc = dusk__h5_input_open(path, dataset, &s->h5, text, sizeof text, found, sizeof found);
    if (rc != 0) {
        /* named as the user named it, or as found when it was found alone */
        dusk__input_say(why, whylen, path,
                        dataset != NULL ? dataset
                        : found[0]      ? found
                                        : NULL,
                        text);
        free(s);
        return rc;
    }
    int64_t shape[DUSK__H5_MAX_RANK];
    s->ndim = dusk__h5_input_shape(s->h5, shape);
    s->n = s->ndim > 0 ? shape[s->ndim - 1] : 0;
    *state = s;
    return 0;
}

static int h5_shape(const void *state, int64_t shape[DUSK__INPUT_MAX_RANK])
{
    const h5_source *s = state;
    return dusk__h5_input_shape(s->h5, shape);
}

static const char *h5_dataset(const void *state)
{
    const h5_source *s = state;
    return dusk__h5_input_dataset(s->h5);
}

static int h5_read(const void *state, int64_t index, double *out)
{
    const h5_source *s = state;
    return s->ndim == 3 ? dusk__h5_input_read(s->h5, index, 1, out)
                        : dusk__h5_input_read(s->h5, 0, s->n, out);
}

static const char *h5_conversion(const void *state)
{
    const h5_source *s = state;
    return dusk__h5_input_conversion(s->h5);
}

static void h5_describe(const void *state, char *buf, size_t len)
{
    const h5_source *s = state;
    snprintf(buf, len, "hdf5 %.1024s %s", dusk__h5_input_dataset(s->h5),
             dusk__h5_input_type(s->h5));
}

static void h5_close(void **state)
{
    h5_source *s = *state;
    *state = NULL;
    if (s == NULL) return;
    dusk__h5_input_close(&s->h5);
    free(s);
}

#else /* a build without HDF5: the files are recognised, and refused */

static int h5_open(const char *path, int fd, const char *dataset, void **state, char *why,
                   size_t whylen)
{
    (void)fd, (void)state;
    dusk__input_say(
        why, whylen, path, dataset,
        "an HDF5 file, and this dusk was built without HDF5 (install libhdf5-dev and rebuild)");
    return DUSK_EINVAL;
}

#define h5_shape NULL
#define h5_dataset NULL
#define h5_read NULL
#define h5_conversion NULL
#define h5_describe NULL
#define h5_close NULL

#endif

const dusk__input_format dusk__input_h5 = {
    .name = "hdf5",
    .label = "HDF5",
    .probe = h5_probe,
    .open = h5_open,
    .shape = h5_shape,
    .dataset = h5_dataset,
    .read = h5_read,
    .conversion = h5_conversion,
    .describe = h5_describe,
    .close = h5_close,
};
