/* dusk_input: a batch of matrices from a .npy file or an HDF5 dataset (see dusk_input.h).
 *
 * The file is opened here first, with the C library: its first bytes decide its kind, and the
 * descriptor is kept for the fingerprint. The format's own reader (dusk_npy, or h5.c) then
 * opens it by name; for .npy, both descriptors are checked to be the same file.
 */
#define _POSIX_C_SOURCE 200809L

#include "dusk_input.h"
#include "dusk_features.h"
#include "dusk_npy.h"
#include "io.h"
#include "npy_internal.h"
#if DUSK_HAVE_HDF5
#include "h5.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define H5_SIGNATURE "\x89HDF\r\n\x1a\n"
#define SAMPLE_BLOCK 4096 /* the fingerprint hashes blocks of this size, */
#define SAMPLE_COUNT 64   /* this many of them at most */
#define MAX_RANK 32       /* the most dimensions either reader reports */

enum { KIND_NPY = 1, KIND_HDF5 = 2 };

struct dusk_input {
    int fd; /* ours: the magic bytes, and the fingerprint's samples */
    int kind;
    char *path;    /* the file, as given */
    char *dataset; /* HDF5: the dataset's full path */
    dusk_npy *npy;
#if DUSK_HAVE_HDF5
    dusk__h5_input *h5;
#endif
    int ndim;
    int64_t shape[3];
};

int dusk_have_hdf5(void)
{
    return DUSK_HAVE_HDF5;
}

/* ---- messages ---------------------------------------------------------------------------- */

/* why = "FILE: text" or "FILE:DATASET: text" */
static void say(char *why, size_t whylen, const char *file, const char *dataset, const char *text)
{
    if (dataset != NULL)
        dusk__set_why(why, whylen, "%s:%s: %s", file, dataset, text);
    else
        dusk__set_why(why, whylen, "%s: %s", file, text);
}

static void say_errno(char *why, size_t whylen, const char *file, const char *dataset, int err)
{
    char text[128];
    dusk__errno_text(err, text, sizeof text);
    say(why, whylen, file, dataset, text);
    errno = err;
}

/* ---- the spec ---------------------------------------------------------------------------- */

/* FILE or FILE:DATASET into *file and *dataset (NULL when none; both malloc'ed). The whole
 * spec is the file when it exists; else the longest prefix before a ':' that exists and is
 * not a directory. When none exists, the part before the last ':' is taken, so that the
 * message names the file the user most likely meant. */
static int split_spec(const char *spec, char **file, char **dataset)
{
    *file = *dataset = NULL;
    struct stat st;
    size_t len = strlen(spec), cut = len;
    if (stat(spec, &st) != 0) {
        char *buf = dusk__strdup(spec);
        if (buf == NULL) return DUSK_ENOMEM;
        size_t last = len;
        for (size_t i = len; i-- > 0;) {
            if (buf[i] != ':') continue;
            if (last == len) last = i;
            buf[i] = '\0';
            int found = stat(buf, &st) == 0 && !S_ISDIR(st.st_mode);
            buf[i] = ':';
            if (found) {
                cut = i;
                break;
            }
        }
        free(buf);
        if (cut == len) cut = last;
    }
    *file = malloc(cut + 1);
    if (*file == NULL) return DUSK_ENOMEM;
    memcpy(*file, spec, cut);
    (*file)[cut] = '\0';
    if (cut < len) {
        *dataset = dusk__strdup(spec + cut + 1);
        if (*dataset == NULL) {
            free(*file);
            *file = NULL;
            return DUSK_ENOMEM;
        }
    }
    return 0;
}

/* ---- opening ----------------------------------------------------------------------------- */

static void input_free(dusk_input *in)
{
    if (in == NULL) return;
    int saved = errno;
    if (in->fd >= 0) close(in->fd);
    dusk_npy_close(&in->npy);
#if DUSK_HAVE_HDF5
    dusk__h5_input_close(&in->h5);
#endif
    free(in->path);
    free(in->dataset);
    free(in);
    errno = saved;
}

/* The kind of file from its first bytes, or 0 with `why`'s text in text[len]. */
static int sniff(int fd, int64_t size, char *text, size_t len)
{
    unsigned char head[8];
    size_t have = size < 8 ? (size_t)size : 8;
    int got = dusk__pread_full(fd, head, have, 0);
    if (got != 0) {
        if (got < 0)
            dusk__errno_text(errno, text, len);
        else
            snprintf(text, len, "the file shrank while being read");
        return got < 0 ? -1 : 0;
    }
    if (size == 0) {
        snprintf(text, len, "file is empty: not a .npy or HDF5 file");
        return 0;
    }
    /* a file that ends inside the magic is still a .npy file, which its reader says is cut */
    if (memcmp(head, NPY_MAGIC, have < 6 ? have : 6) == 0) return KIND_NPY;
    if (size < 8 && memcmp(head, H5_SIGNATURE, have) == 0) {
        snprintf(text, len, "file is truncated: an HDF5 signature cut at %zu bytes", have);
        return 0;
    }
    /* HDF5 looks for its signature at 0, 512, 1024, 2048, ...: a user block may come first */
    for (int64_t off = 0; off <= size - 8; off = off == 0 ? 512 : off * 2) {
        if (off > 0 && dusk__pread_full(fd, head, 8, off) != 0) break;
        if (memcmp(head, H5_SIGNATURE, 8) == 0) return KIND_HDF5;
    }
    snprintf(text, len, "not a .npy or HDF5 file (it starts with neither's signature)");
    return 0;
}

/* (T, n, n) or (n, n): what dusk reads. */
static int check_shape(int ndim, const int64_t *shape, char *text, size_t len)
{
    char st[MAX_RANK * 22 + 4];
    dusk__shape_text(st, sizeof st, ndim, shape);
    if (ndim != 2 && ndim != 3) {
        snprintf(text, len, "has %d dimension%s (shape %.200s); dusk reads (T, n, n) or (n, n)",
                 ndim, ndim == 1 ? "" : "s", st);
        return DUSK_EFORMAT;
    }
    if (shape[ndim - 1] != shape[ndim - 2]) {
        snprintf(text, len,
                 "holds non-square matrices (shape %.200s); dusk reads (T, n, n) or (n, n)", st);
        return DUSK_EFORMAT;
    }
    return 0;
}

static int open_npy(dusk_input *in, const char *dataset, char *why, size_t whylen)
{
    if (dataset != NULL) {
        say(why, whylen, in->path, dataset,
            "a .npy file holds one array, not datasets: give the file alone");
        return DUSK_EINVAL;
    }
    char text[320];
    int rc = dusk_npy_open(in->path, &in->npy, text, sizeof text);
    if (rc != 0) {
        say(why, whylen, in->path, NULL, text);
        return rc;
    }
    struct stat a, b;
    if (fstat(in->fd, &a) != 0 || fstat(dusk__npy_fd(in->npy), &b) != 0 || a.st_dev != b.st_dev ||
        a.st_ino != b.st_ino) {
        say(why, whylen, in->path, NULL, "the file was replaced while being opened");
        return DUSK_EIO;
    }
    int ndim = dusk_npy_ndim(in->npy);
    rc = check_shape(ndim, dusk_npy_shape(in->npy), text, sizeof text);
    if (rc != 0) {
        say(why, whylen, in->path, NULL, text);
        return rc;
    }
    in->ndim = ndim;
    memcpy(in->shape, dusk_npy_shape(in->npy), (size_t)ndim * sizeof(int64_t));
    return 0;
}

static int open_hdf5(dusk_input *in, const char *dataset, char *why, size_t whylen)
{
#if DUSK_HAVE_HDF5
    char text[480], found[1024];
    int rc =
        dusk__h5_input_open(in->path, dataset, &in->h5, text, sizeof text, found, sizeof found);
    if (rc != 0) {
        /* named as the user named it, or as found when it was found alone */
        say(why, whylen, in->path, dataset != NULL ? dataset : found[0] ? found : NULL, text);
        return rc;
    }
    const char *name = dusk__h5_input_dataset(in->h5);
    in->dataset = dusk__strdup(name);
    if (in->dataset == NULL) {
        say(why, whylen, in->path, name, "out of memory");
        return DUSK_ENOMEM;
    }
    int64_t shape[DUSK__H5_MAX_RANK];
    int ndim = dusk__h5_input_shape(in->h5, shape);
    rc = check_shape(ndim, shape, text, sizeof text);
    if (rc != 0) {
        say(why, whylen, in->path, name, text);
        return rc;
    }
    in->ndim = ndim;
    memcpy(in->shape, shape, (size_t)ndim * sizeof(int64_t));
    return 0;
#else
    say(why, whylen, in->path, dataset,
        "an HDF5 file, and this dusk was built without HDF5 (install libhdf5-dev and rebuild)");
    return DUSK_EINVAL;
#endif
}

int dusk_input_open(const char *spec, dusk_input **out, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (out != NULL) *out = NULL;
    if (spec == NULL || spec[0] == '\0' || out == NULL) {
        dusk__set_why(why, whylen, "no input named, or no place for the handle");
        return DUSK_EINVAL;
    }
    dusk_input *in = calloc(1, sizeof *in);
    char *dataset = NULL;
    int rc = in == NULL ? DUSK_ENOMEM : split_spec(spec, &in->path, &dataset);
    if (rc != 0) {
        free(in);
        dusk__set_why(why, whylen, "%s: out of memory", spec);
        return DUSK_ENOMEM;
    }
    in->fd = -1;
    if (dataset != NULL && dataset[0] == '\0') {
        say(why, whylen, in->path, NULL, "the dataset named after ':' is empty");
        rc = DUSK_EINVAL;
        goto fail;
    }
    /* O_NONBLOCK: a FIFO must not wait for a writer (it is refused below) */
    in->fd = open(in->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (in->fd < 0 || fstat(in->fd, &st) != 0) {
        int err = errno;
        char text[160];
        dusk__errno_text(err, text, sizeof text);
        if (dataset != NULL) {
            char more[96];
            snprintf(more, sizeof more, " (for dataset %.60s)", dataset);
            dusk__set_why(why, whylen, "%s: %s%s", in->path, text, more);
        } else {
            dusk__set_why(why, whylen, "%s: %s", in->path, text);
        }
        errno = err;
        rc = DUSK_EIO;
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        say_errno(why, whylen, in->path, dataset, EISDIR);
        rc = DUSK_EIO;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        say(why, whylen, in->path, dataset, "not a regular file");
        rc = DUSK_EFORMAT;
        goto fail;
    }
    char text[160];
    in->kind = sniff(in->fd, (int64_t)st.st_size, text, sizeof text);
    if (in->kind <= 0) {
        say(why, whylen, in->path, dataset, text);
        rc = in->kind < 0 ? DUSK_EIO : DUSK_EFORMAT;
        goto fail;
    }
    rc = in->kind == KIND_NPY ? open_npy(in, dataset, why, whylen)
                              : open_hdf5(in, dataset, why, whylen);
    if (rc != 0) goto fail;
    free(dataset);
    *out = in;
    return 0;
fail:
    free(dataset);
    input_free(in); /* keeps errno */
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------- */

int dusk_input_ndim(const dusk_input *in)
{
    return in != NULL ? in->ndim : 0;
}

const int64_t *dusk_input_shape(const dusk_input *in)
{
    return in != NULL ? in->shape : NULL;
}

int64_t dusk_input_count(const dusk_input *in)
{
    if (in == NULL) return 0;
    return in->ndim == 3 ? in->shape[0] : 1;
}

int64_t dusk_input_n(const dusk_input *in)
{
    return in != NULL ? in->shape[in->ndim - 1] : 0;
}

int dusk_input_read_matrix(const dusk_input *in, int64_t index, double *out)
{
    if (in == NULL || index < 0 || index >= dusk_input_count(in)) return DUSK_EINVAL;
    int64_t n = dusk_input_n(in);
    if (n == 0) return 0;
    if (out == NULL) return DUSK_EINVAL;
    if (in->kind == KIND_NPY) return dusk_npy_read_matrix(in->npy, index, out);
#if DUSK_HAVE_HDF5
    return in->ndim == 3 ? dusk__h5_input_read(in->h5, index, 1, out)
                         : dusk__h5_input_read(in->h5, 0, n, out);
#else
    return DUSK_EINVAL;
#endif
}

const char *dusk_input_conversion(const dusk_input *in)
{
    if (in == NULL) return NULL;
    if (in->kind == KIND_NPY) return dusk_npy_conversion(in->npy);
#if DUSK_HAVE_HDF5
    return dusk__h5_input_conversion(in->h5);
#else
    return NULL;
#endif
}

const char *dusk_input_path(const dusk_input *in)
{
    return in != NULL ? in->path : NULL;
}

const char *dusk_input_dataset(const dusk_input *in)
{
    return in != NULL ? in->dataset : NULL;
}

const char *dusk_input_format(const dusk_input *in)
{
    if (in == NULL) return NULL;
    return in->kind == KIND_NPY ? "npy" : "hdf5";
}

/* ---- the fingerprint --------------------------------------------------------------------- */

/* FNV-1a, 64 bits: any one changed byte changes the hash (each step is a bijection of the
 * state), and it needs no table. Not a defence against a file made to collide on purpose. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

int dusk_input_fingerprint(const dusk_input *in, char *out, size_t len)
{
    if (out != NULL && len > 0) out[0] = '\0';
    if (in == NULL || out == NULL || len < DUSK_INPUT_FINGERPRINT_MAX) return DUSK_EINVAL;

    /* what the input is: the same data under another dtype, order, shape or dataset differs */
    char desc[1400], st[3 * 22 + 4];
    dusk__shape_text(st, sizeof st, in->ndim, in->shape);
    if (in->kind == KIND_NPY)
        snprintf(desc, sizeof desc, "npy %s %s %s", dusk_npy_dtype(in->npy),
                 dusk_npy_fortran_order(in->npy) ? "F" : "C", st);
#if DUSK_HAVE_HDF5
    else
        snprintf(desc, sizeof desc, "hdf5 %.1024s %s %s", in->dataset, dusk__h5_input_type(in->h5),
                 st);
#endif
    uint64_t hd = fnv(FNV_OFFSET, desc, strlen(desc));

    struct stat sb;
    if (fstat(in->fd, &sb) != 0) return DUSK_EIO;
    int64_t size = (int64_t)sb.st_size;
    int64_t blocks = (size + SAMPLE_BLOCK - 1) / SAMPLE_BLOCK;
    int64_t samples = blocks <= SAMPLE_COUNT ? blocks : SAMPLE_COUNT;
    uint64_t h = FNV_OFFSET;
    unsigned char buf[SAMPLE_BLOCK];
    for (int64_t k = 0; k < samples; k++) {
        /* all blocks, or the first, the last and 62 evenly spaced between (distinct, since
         * there are more than SAMPLE_COUNT blocks to spread them over) */
        int64_t b = blocks <= SAMPLE_COUNT ? k : k * (blocks - 1) / (SAMPLE_COUNT - 1);
        int64_t off = b * SAMPLE_BLOCK;
        size_t n = size - off < SAMPLE_BLOCK ? (size_t)(size - off) : SAMPLE_BLOCK;
        int got = dusk__pread_full(in->fd, buf, n, off);
        if (got != 0) {
            if (got > 0) errno = EIO; /* it shrank since the fstat */
            return DUSK_EIO;
        }
        unsigned char where[8];
        for (int i = 0; i < 8; i++)
            where[i] = (unsigned char)((uint64_t)b >> (8 * i));
        h = fnv(h, where, sizeof where);
        h = fnv(h, buf, n);
    }
    snprintf(out, len, "%s:%" PRId64 ":%016" PRIx64 ":%016" PRIx64, dusk_input_format(in), size, hd,
             h);
    return 0;
}

void dusk_input_close(dusk_input **in)
{
    if (in == NULL) return;
    input_free(*in);
    *in = NULL;
}
