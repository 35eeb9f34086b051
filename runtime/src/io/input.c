/* dusk_input: a batch of matrices from a .npy file or an HDF5 dataset (see dusk_input.h).
 *
 * The file is opened here first, with the C library: its first bytes decide its format (each
 * format of inputs.h is asked in turn), and the descriptor is kept for the fingerprint. The
 * format's own reader then opens it by name, and checks that it is the same file.
 */
#define _POSIX_C_SOURCE 200809L

#include "dusk_input.h"
#include "inputs.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SAMPLE_BLOCK 4096 /* the fingerprint hashes blocks of this size, */
#define SAMPLE_COUNT 64   /* this many of them at most */
#define MAX_RANK DUSK__INPUT_MAX_RANK

struct dusk_input {
    int fd; /* ours: the magic bytes, and the fingerprint's samples */
    const dusk__input_format *fmt;
    void *state;   /* the format's */
    char *path;    /* the file, as given */
    char *dataset; /* the dataset's full path, for a format that has datasets */
    int ndim;
    int64_t shape[3];
    uint64_t *hashes; /* dusk_input_keep_hashes(): each matrix's hash as last read, or 0 */
};

/* ---- messages ---------------------------------------------------------------------------- */

void dusk__input_say(char *why, size_t whylen, const char *file, const char *dataset,
                     const char *text)
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
    dusk__input_say(why, whylen, file, dataset, text);
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
    if (in->state != NULL) in->fmt->close(&in->state);
    free(in->hashes);
    free(in->path);
    free(in->dataset);
    free(in);
    errno = saved;
}

/* The formats' labels, as "a", "a or b", "a, b or c". */
static void formats_text(char *buf, size_t len)
{
    dusk__sb b;
    dusk__sb_init(&b, buf, len);
    for (int i = 0; dusk__input_formats[i] != NULL; i++) {
        const char *sep = i == 0 ? "" : dusk__input_formats[i + 1] == NULL ? " or " : ", ";
        dusk__sb_puts(&b, sep);
        dusk__sb_puts(&b, dusk__input_formats[i]->label);
    }
    if (b.heap) snprintf(buf, len, "%s", b.p); /* cut to the caller's room */
    dusk__sb_free(&b);
}

/* The format of the file from its first bytes, or NULL with `text` saying why none, and *code
 * DUSK_EIO (it cannot be read) or DUSK_EFORMAT. */
static const dusk__input_format *sniff(int fd, int64_t size, char *text, size_t len, int *code)
{
    unsigned char head[8];
    size_t have = size < 8 ? (size_t)size : 8;
    int got = dusk__pread_full(fd, head, have, 0);
    *code = DUSK_EFORMAT;
    if (got != 0) {
        if (got < 0)
            dusk__errno_text(errno, text, len);
        else
            snprintf(text, len, "the file shrank while being read");
        if (got < 0) *code = DUSK_EIO;
        return NULL;
    }
    char formats[64];
    formats_text(formats, sizeof formats);
    if (size == 0) {
        snprintf(text, len, "file is empty: not a %s file", formats);
        return NULL;
    }
    int n = 0;
    for (; dusk__input_formats[n] != NULL; n++) {
        int is = dusk__input_formats[n]->probe(fd, size, head, have, text, len);
        if (is > 0) return dusk__input_formats[n];
        if (is < 0) {
            *code = is;
            return NULL;
        }
    }
    snprintf(text, len, "not a %s file (it starts with %s)", formats,
             n == 2 ? "neither's signature" : "none of their signatures");
    return NULL;
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
        dusk__input_say(why, whylen, in->path, NULL, "the dataset named after ':' is empty");
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
        dusk__input_say(why, whylen, in->path, dataset, "not a regular file");
        rc = DUSK_EFORMAT;
        goto fail;
    }
    char text[480];
    in->fmt = sniff(in->fd, (int64_t)st.st_size, text, sizeof text, &rc);
    if (in->fmt == NULL) {
        dusk__input_say(why, whylen, in->path, dataset, text);
        goto fail;
    }
    rc = in->fmt->open(in->path, in->fd, dataset, &in->state, why, whylen);
    if (rc != 0) goto fail;
    /* named as the format names it (an HDF5 dataset found alone, its full path) */
    const char *name = in->fmt->dataset != NULL ? in->fmt->dataset(in->state) : NULL;
    if (name != NULL && (in->dataset = dusk__strdup(name)) == NULL) {
        dusk__input_say(why, whylen, in->path, name, "out of memory");
        rc = DUSK_ENOMEM;
        goto fail;
    }
    int64_t shape[MAX_RANK];
    int ndim = in->fmt->shape(in->state, shape);
    rc = check_shape(ndim, shape, text, sizeof text);
    if (rc != 0) {
        dusk__input_say(why, whylen, in->path, name, text);
        goto fail;
    }
    in->ndim = ndim;
    memcpy(in->shape, shape, (size_t)ndim * sizeof(int64_t));
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

/* XXH64 (Yann Collet's xxHash, 64 bits), over whole 8-byte words and a tail: several GB/s,
 * so that hashing what was read costs nothing beside reading it. Not a defence against a
 * matrix made to collide on purpose. */
#define XP1 0x9E3779B185EBCA87ull
#define XP2 0xC2B2AE3D27D4EB4Full
#define XP3 0x165667B19E3779F9ull
#define XP4 0x85EBCA77C2B2AE63ull
#define XP5 0x27D4EB2F165667C5ull

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t word(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w; /* little-endian hosts: the hash of the bytes as XXH64 defines it */
}

static uint64_t xround(uint64_t acc, uint64_t in)
{
    return rotl(acc + in * XP2, 31) * XP1;
}

static uint64_t xmerge(uint64_t h, uint64_t v)
{
    return (h ^ xround(0, v)) * XP1 + XP4;
}

static uint64_t xxh64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + XP1 + XP2, v2 = seed + XP2, v3 = seed, v4 = seed - XP1;
        for (; p + 32 <= end; p += 32) {
            v1 = xround(v1, word(p));
            v2 = xround(v2, word(p + 8));
            v3 = xround(v3, word(p + 16));
            v4 = xround(v4, word(p + 24));
        }
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = xmerge(xmerge(xmerge(xmerge(h, v1), v2), v3), v4);
    } else {
        h = seed + XP5;
    }
    h += (uint64_t)len;
    for (; p + 8 <= end; p += 8)
        h = rotl(h ^ xround(0, word(p)), 27) * XP1 + XP4;
    if (p + 4 <= end) {
        uint32_t w;
        memcpy(&w, p, 4);
        h = rotl(h ^ ((uint64_t)w * XP1), 23) * XP2 + XP3;
        p += 4;
    }
    for (; p < end; p++)
        h = rotl(h ^ (*p * XP5), 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    h ^= h >> 32;
    return h;
}

/* Matrix `index` as read (n * n float64), hashed with its index as the seed: the same matrix
 * at another index hashes differently. */
static uint64_t matrix_hash(int64_t index, const double *a, int64_t n)
{
    return xxh64(a, (size_t)(n * n) * sizeof *a, (uint64_t)index);
}

int dusk_input_read_matrix(const dusk_input *in, int64_t index, double *out)
{
    if (in == NULL || index < 0 || index >= dusk_input_count(in)) return DUSK_EINVAL;
    int64_t n = dusk_input_n(in);
    if (n == 0) return 0;
    if (out == NULL) return DUSK_EINVAL;
    int rc = in->fmt->read(in->state, index, out);
    if (rc == 0 && in->hashes != NULL)
        __atomic_store_n(&in->hashes[index], matrix_hash(index, out, n), __ATOMIC_RELEASE);
    return rc;
}

int dusk_input_keep_hashes(dusk_input *in)
{
    if (in == NULL) return DUSK_EINVAL;
    if (in->hashes != NULL) return 0;
    int64_t t = dusk_input_count(in);
    in->hashes = calloc((size_t)(t > 0 ? t : 1), sizeof *in->hashes);
    return in->hashes != NULL ? 0 : DUSK_ENOMEM;
}

uint64_t dusk_input_kept_hash(const dusk_input *in, int64_t index)
{
    if (in == NULL || in->hashes == NULL || index < 0 || index >= dusk_input_count(in)) return 0;
    return __atomic_load_n(&in->hashes[index], __ATOMIC_ACQUIRE);
}

int dusk_input_hash_matrix(const dusk_input *in, int64_t index, double *buf, uint64_t *hash)
{
    if (in == NULL || hash == NULL || index < 0 || index >= dusk_input_count(in))
        return DUSK_EINVAL;
    int64_t n = dusk_input_n(in);
    if (n > 0 && buf == NULL) return DUSK_EINVAL;
    int rc = n > 0 ? in->fmt->read(in->state, index, buf) : 0;
    if (rc == 0) *hash = matrix_hash(index, buf, n);
    return rc;
}

int dusk_input_stat(const dusk_input *in, int64_t *size, int64_t *mtime_ns)
{
    struct stat st;
    if (in == NULL || size == NULL || mtime_ns == NULL) return DUSK_EINVAL;
    if (fstat(in->fd, &st) != 0) return DUSK_EIO;
    *size = (int64_t)st.st_size;
    *mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + (int64_t)st.st_mtim.tv_nsec;
    return 0;
}

const char *dusk_input_conversion(const dusk_input *in)
{
    return in != NULL ? in->fmt->conversion(in->state) : NULL;
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
    return in != NULL ? in->fmt->name : NULL;
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
    char what[1200], desc[1400], st[3 * 22 + 4];
    dusk__shape_text(st, sizeof st, in->ndim, in->shape);
    in->fmt->describe(in->state, what, sizeof what);
    snprintf(desc, sizeof desc, "%s %s", what, st);
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
