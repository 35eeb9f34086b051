/* HDF5 datasets read for dusk_input, and result files written in place (see h5.h).
 *
 * Every entry into the HDF5 library goes through h5_enter()/h5_leave(): one mutex, and
 * HDF5's automatic error printing turned off for the calling thread (in a thread-safe HDF5
 * the error stack, and the setting, are per thread). When a call fails, the error stack is
 * read at once (the next API call clears it) for the innermost message, which is the one
 * that says what is wrong ("truncated file: eof = ...").
 */
#define _POSIX_C_SOURCE 200809L

#include "h5.h"
#include "dusk.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dusk's HDF5 result files are written with pwrite() of native doubles: little-endian hosts"
#endif

#define H5_SIGNATURE "\x89HDF\r\n\x1a\n"
#define LIST_MAX 6                     /* datasets named in a message before "and N more" */
#define CHUNK_CACHE_MAX (64u << 20)    /* largest chunk kept in the chunk cache */
#define CHUNK_CACHE_DEFAULT (1u << 20) /* HDF5's default cache size */

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

static void h5_enter(void)
{
    pthread_mutex_lock(&h5_lock);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void h5_leave(void)
{
    pthread_mutex_unlock(&h5_lock);
}

static void close_id(hid_t *id)
{
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE:
        H5Fclose(*id);
        break;
    case H5I_DATASET:
        H5Dclose(*id);
        break;
    case H5I_DATASPACE:
        H5Sclose(*id);
        break;
    case H5I_DATATYPE:
        H5Tclose(*id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(*id);
        break;
    case H5I_ATTR:
        H5Aclose(*id);
        break;
    case H5I_GROUP:
        H5Gclose(*id);
        break;
    default:
        H5Oclose(*id);
        break;
    }
    *id = H5I_INVALID_HID;
}

/* ---- HDF5's error stack ----------------------------------------------------------------- */

typedef struct h5_error {
    char text[160]; /* the innermost description, on one line */
    int filter;     /* some error came from the filter pipeline: the data is corrupt */
} h5_error;

static herr_t walk_error(unsigned n, const H5E_error2_t *e, void *data)
{
    h5_error *r = data;
    if (n == 0 && e->desc != NULL) {
        size_t k = 0;
        for (const char *p = e->desc; *p != '\0' && k + 1 < sizeof r->text; p++)
            r->text[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
        r->text[k] = '\0';
    }
    if (e->maj_num == H5E_PLINE) r->filter = 1;
    return 0;
}

/* What the last failed call left on this thread's stack. */
static void last_error(h5_error *r)
{
    memset(r, 0, sizeof *r);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_error, r);
    if (r->text[0] == '\0') snprintf(r->text, sizeof r->text, "no reason given");
}

/* ---- describing types and shapes --------------------------------------------------------- */

/* 8 or 4 for IEEE float64 or float32 of either byte order (*big set for big-endian), else 0. */
static int ieee_size(hid_t t, int *big)
{
    *big = 0;
    if (H5Tequal(t, H5T_IEEE_F64LE) > 0) return 8;
    if (H5Tequal(t, H5T_IEEE_F32LE) > 0) return 4;
    *big = 1;
    if (H5Tequal(t, H5T_IEEE_F64BE) > 0) return 8;
    if (H5Tequal(t, H5T_IEEE_F32BE) > 0) return 4;
    *big = 0;
    return 0;
}

/* A type in a few words, as a NumPy user would name it: float64, int32, complex128, ... */
static void type_text(hid_t t, char *buf, size_t len)
{
    size_t size = H5Tget_size(t);
    int big;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", 8 * size);
        return;
    case H5T_FLOAT:
        if (ieee_size(t, &big) != 0 || size == 2)
            snprintf(buf, len, "float%zu%s", 8 * size, big ? " (big-endian)" : "");
        else
            snprintf(buf, len, "%zu-byte floats", size);
        return;
    case H5T_STRING:
        snprintf(buf, len, "strings");
        return;
    case H5T_COMPOUND: {
        /* h5py stores complex numbers as a compound of two floats named r and i */
        int complex = 0;
        if (H5Tget_nmembers(t) == 2 && H5Tget_member_class(t, 0) == H5T_FLOAT &&
            H5Tget_member_class(t, 1) == H5T_FLOAT) {
            char *n0 = H5Tget_member_name(t, 0), *n1 = H5Tget_member_name(t, 1);
            complex = n0 != NULL && n1 != NULL && strcmp(n0, "r") == 0 && strcmp(n1, "i") == 0;
            H5free_memory(n0);
            H5free_memory(n1);
        }
        if (complex)
            snprintf(buf, len, "complex%zu", 8 * size);
        else
            snprintf(buf, len, "a compound type");
        return;
    }
    case H5T_ENUM:
        snprintf(buf, len, "an enum type (booleans?)");
        return;
    case H5T_BITFIELD:
        snprintf(buf, len, "bitfields");
        return;
    case H5T_OPAQUE:
        snprintf(buf, len, "opaque bytes");
        return;
    case H5T_REFERENCE:
        snprintf(buf, len, "references");
        return;
    case H5T_VLEN:
        snprintf(buf, len, "variable-length sequences");
        return;
    case H5T_ARRAY:
        snprintf(buf, len, "an array type");
        return;
    case H5T_TIME:
        snprintf(buf, len, "times");
        return;
    default:
        snprintf(buf, len, "an unknown type");
        return;
    }
}

/* A dataset's rank and dims (-1 for a null dataspace, 0 for a scalar). */
static int space_shape(hid_t space, int64_t shape[DUSK__H5_MAX_RANK])
{
    if (H5Sget_simple_extent_type(space) == H5S_NULL) return -1;
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > DUSK__H5_MAX_RANK) return -1;
    hsize_t dims[DUSK__H5_MAX_RANK];
    if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) return -1;
    for (int i = 0; i < rank; i++)
        shape[i] = dims[i] > (hsize_t)INT64_MAX ? INT64_MAX : (int64_t)dims[i];
    return rank;
}

/* ---- opening a file ---------------------------------------------------------------------- */

static hid_t open_file(const char *path, char *why, size_t whylen, int *code)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    /* Lock as HDF5 does, but do not fail where the file system has no locks (Lustre, NFS
     * mounted without them): HDF5_USE_FILE_LOCKING=FALSE would otherwise be needed there. */
    if (fapl >= 0) H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (file < 0) {
        h5_error e;
        last_error(&e);
        if (strstr(e.text, "lock file") != NULL || strstr(e.text, "lock the file") != NULL) {
            dusk__set_why(why, whylen, "HDF5 cannot lock it (is a program writing it?): %s",
                          e.text);
            *code = DUSK_EIO;
        } else {
            dusk__set_why(why, whylen, "HDF5 cannot open it (truncated or corrupt?): %s", e.text);
            *code = DUSK_EFORMAT;
        }
    }
    close_id(&fapl);
    return file;
}

/* ---- finding the dataset ----------------------------------------------------------------- */

typedef struct visit {
    int datasets, candidates;
    char first[1024];   /* the first candidate's path */
    dusk__sb all, cand; /* "path (shape) type" of the first LIST_MAX of each */
    int all_listed, cand_listed;
} visit;

static herr_t visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    visit *f = data;
    if (info->type != H5L_TYPE_HARD) return 0; /* soft and external links name objects twice */
    hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
    if (obj < 0) return 0;
    if (H5Iget_type(obj) != H5I_DATASET) {
        H5Oclose(obj);
        return 0;
    }
    hid_t type = H5Dget_type(obj), space = H5Dget_space(obj);
    int64_t shape[DUSK__H5_MAX_RANK];
    int rank = space >= 0 ? space_shape(space, shape) : -1;
    char tt[64] = "an unknown type", st[DUSK__H5_MAX_RANK * 22 + 4] = "(null)";
    if (type >= 0) type_text(type, tt, sizeof tt);
    if (rank >= 0) dusk__shape_text(st, sizeof st, rank, shape);
    int candidate = type >= 0 && H5Tget_class(type) == H5T_FLOAT && (rank == 2 || rank == 3);
    close_id(&type);
    close_id(&space);
    close_id(&obj);

    f->datasets++;
    if (f->all_listed < LIST_MAX) {
        dusk__sb_printf(&f->all, "%s/%s %s %s", f->all_listed > 0 ? ", " : "", name, st, tt);
        f->all_listed++;
    }
    if (candidate) {
        if (f->candidates++ == 0) snprintf(f->first, sizeof f->first, "/%.1000s", name);
        if (f->cand_listed < LIST_MAX) {
            dusk__sb_printf(&f->cand, "%s/%s %s %s", f->cand_listed > 0 ? ", " : "", name, st, tt);
            f->cand_listed++;
        }
    }
    return 0;
}

/* The file's only 2-D or 3-D floating-point dataset, into name[len]. */
static int find_only(hid_t file, const char *path, char *name, size_t len, char *why, size_t whylen)
{
    char s1[512], s2[512];
    visit f;
    memset(&f, 0, sizeof f);
    dusk__sb_init(&f.all, s1, sizeof s1);
    dusk__sb_init(&f.cand, s2, sizeof s2);
    int rc = 0;
    if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &f) < 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot list its datasets (corrupt?): %s", e.text);
        rc = DUSK_EFORMAT;
    } else if (f.candidates == 1) {
        snprintf(name, len, "%s", f.first);
    } else if (f.candidates == 0) {
        char more[32] = "";
        if (f.datasets > f.all_listed)
            snprintf(more, sizeof more, " and %d more", f.datasets - f.all_listed);
        if (f.datasets == 0)
            dusk__set_why(why, whylen, "holds no dataset");
        else
            dusk__set_why(why, whylen, "holds no 2-D or 3-D floating-point dataset (it has %s%s)",
                          f.all.p, more);
        rc = DUSK_EFORMAT;
    } else {
        dusk__set_why(why, whylen,
                      "holds %d 2-D or 3-D floating-point datasets (%s%s): name one, as in %s:%s",
                      f.candidates, f.cand.p, f.candidates > f.cand_listed ? ", ..." : "", path,
                      f.first);
        rc = DUSK_EINVAL;
    }
    dusk__sb_free(&f.all);
    dusk__sb_free(&f.cand);
    return rc;
}

/* A named object exists, every group on its path included (H5Lexists fails, rather than
 * answering no, when a group on the path is missing). */
static int object_exists(hid_t file, const char *name)
{
    if (strcmp(name, "/") == 0) return 1;
    size_t len = strlen(name);
    char *p = malloc(len + 1);
    if (p == NULL) return 0;
    memcpy(p, name, len + 1);
    int ok = 1;
    for (size_t i = 1; i <= len && ok; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char saved = p[i];
        p[i] = '\0';
        if (p[0] != '\0' && strcmp(p, "/") != 0) ok = H5Lexists(file, p, H5P_DEFAULT) > 0;
        p[i] = saved;
    }
    free(p);
    return ok;
}

/* ---- reading a dataset ------------------------------------------------------------------- */

struct dusk__h5_input {
    hid_t file, dset, fspace;
    int rank;
    int64_t shape[DUSK__H5_MAX_RANK];
    int itemsize, big_endian;
    char *name;
};

/* Chunks that a filter this HDF5 lacks made (h5py's LZF, Blosc, ...) cannot be read: say so
 * now rather than at the first matrix. */
static int check_filters(hid_t dcpl, char *why, size_t whylen)
{
    int n = H5Pget_nfilters(dcpl);
    for (int i = 0; i < n; i++) {
        unsigned flags, config;
        size_t nelmts = 0;
        char fname[64] = "";
        H5Z_filter_t id =
            H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts, NULL, sizeof fname, fname, &config);
        if (id >= 0 && H5Zfilter_avail(id) <= 0) {
            dusk__set_why(why, whylen,
                          "is compressed with HDF5 filter %d (%s), which this HDF5 library does "
                          "not have",
                          (int)id, fname[0] != '\0' ? fname : "unnamed");
            return DUSK_EFORMAT;
        }
    }
    return 0;
}

static int input_open_locked(dusk__h5_input *in, const char *path, const char *dataset, char *why,
                             size_t whylen, char *found, size_t foundlen)
{
    int code = 0;
    in->file = open_file(path, why, whylen, &code);
    if (in->file < 0) return code;

    char found_name[1024];
    if (dataset == NULL) {
        int rc = find_only(in->file, path, found_name, sizeof found_name, why, whylen);
        if (rc != 0) return rc;
        dataset = found_name;
    }
    if (found != NULL && foundlen > 0) snprintf(found, foundlen, "%s", dataset);
    if (!object_exists(in->file, dataset)) {
        dusk__set_why(why, whylen, "no such dataset in the file");
        return DUSK_EINVAL;
    }
    hid_t obj = H5Oopen(in->file, dataset, H5P_DEFAULT);
    if (obj < 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot open it (corrupt?): %s", e.text);
        return DUSK_EFORMAT;
    }
    H5I_type_t kind = H5Iget_type(obj);
    H5Oclose(obj);
    if (kind != H5I_DATASET) {
        dusk__set_why(why, whylen, "is %s, not a dataset",
                      kind == H5I_GROUP ? "a group" : "a named datatype");
        return DUSK_EINVAL;
    }

    hid_t d = H5Dopen2(in->file, dataset, H5P_DEFAULT);
    hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
    hid_t type = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
    int rc = 0;
    if (d < 0 || dcpl < 0 || type < 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot open the dataset (corrupt?): %s", e.text);
        rc = DUSK_EFORMAT;
    }
    if (rc == 0) {
        in->itemsize = ieee_size(type, &in->big_endian);
        if (in->itemsize == 0) {
            char tt[64];
            type_text(type, tt, sizeof tt);
            dusk__set_why(why, whylen, "holds %s, dusk reads float64 and float32", tt);
            rc = DUSK_EFORMAT;
        }
    }
    if (rc == 0) rc = check_filters(dcpl, why, whylen);
    if (rc == 0) {
        in->fspace = H5Dget_space(d);
        in->rank = in->fspace >= 0 ? space_shape(in->fspace, in->shape) : -1;
        if (in->rank < 0) {
            dusk__set_why(why, whylen, "has no dataspace (an empty, null dataset)");
            rc = DUSK_EFORMAT;
        }
    }
    if (rc == 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
        /* One chunk stays cached, so that matrices that share a chunk are decompressed once
         * when read in order; chunks past CHUNK_CACHE_MAX are read each time, as HDF5 reads
         * chunks larger than its cache (memory stays bounded either way). */
        hsize_t chunk[DUSK__H5_MAX_RANK];
        int crank = H5Pget_chunk(dcpl, DUSK__H5_MAX_RANK, chunk);
        double bytes = (double)H5Tget_size(type);
        for (int i = 0; i < crank; i++)
            bytes *= (double)chunk[i];
        if (bytes > CHUNK_CACHE_DEFAULT && bytes <= CHUNK_CACHE_MAX) {
            hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
            if (dapl >= 0 && H5Pset_chunk_cache(dapl, 521, (size_t)bytes, 1.0) >= 0) {
                hid_t d2 = H5Dopen2(in->file, dataset, dapl);
                if (d2 >= 0) {
                    H5Dclose(d);
                    d = d2;
                }
            }
            close_id(&dapl);
        }
    }
    close_id(&dcpl);
    close_id(&type);
    in->dset = d;
    if (rc != 0) return rc;

    char full[1024];
    ssize_t got = H5Iget_name(d, full, sizeof full);
    in->name = dusk__strdup(got > 0 && (size_t)got < sizeof full ? full : dataset);
    if (in->name == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    return 0;
}

static void input_close_locked(dusk__h5_input *in)
{
    close_id(&in->fspace);
    close_id(&in->dset);
    close_id(&in->file);
}

int dusk__h5_input_open(const char *path, const char *dataset, dusk__h5_input **out, char *why,
                        size_t whylen, char *found, size_t foundlen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (found != NULL && foundlen > 0) found[0] = '\0';
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL) {
        dusk__set_why(why, whylen, "no path or no place for the handle");
        return DUSK_EINVAL;
    }
    dusk__h5_input *in = calloc(1, sizeof *in);
    if (in == NULL) {
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    in->file = in->dset = in->fspace = H5I_INVALID_HID;
    h5_enter();
    int rc = input_open_locked(in, path, dataset, why, whylen, found, foundlen);
    if (rc != 0) input_close_locked(in);
    h5_leave();
    if (rc != 0) {
        free(in->name);
        free(in);
        return rc;
    }
    *out = in;
    return 0;
}

int dusk__h5_input_shape(const dusk__h5_input *in, int64_t shape[DUSK__H5_MAX_RANK])
{
    if (in == NULL) return 0;
    memcpy(shape, in->shape, (size_t)in->rank * sizeof *shape);
    return in->rank;
}

const char *dusk__h5_input_dataset(const dusk__h5_input *in)
{
    return in != NULL ? in->name : NULL;
}

const char *dusk__h5_input_type(const dusk__h5_input *in)
{
    if (in == NULL) return NULL;
    if (in->itemsize == 8) return in->big_endian ? "float64be" : "float64le";
    return in->big_endian ? "float32be" : "float32le";
}

const char *dusk__h5_input_conversion(const dusk__h5_input *in)
{
    if (in == NULL || (in->itemsize == 8 && !in->big_endian)) return NULL;
    if (in->itemsize == 8) return "big-endian float64 byte-swapped";
    return in->big_endian ? "big-endian float32 byte-swapped and widened to float64"
                          : "float32 widened to float64";
}

int dusk__h5_input_read(const dusk__h5_input *in, int64_t first, int64_t count, double *out)
{
    if (in == NULL || in->rank < 1 || first < 0 || count < 0 || first > in->shape[0] - count)
        return DUSK_EINVAL;
    int64_t total = count;
    for (int i = 1; i < in->rank; i++) {
        if (in->shape[i] != 0 && total > INT64_MAX / 8 / in->shape[i]) return DUSK_EINVAL;
        total *= in->shape[i];
    }
    if (total == 0) return 0;
    if (out == NULL) return DUSK_EINVAL;
    hsize_t start[DUSK__H5_MAX_RANK], cnt[DUSK__H5_MAX_RANK];
    for (int i = 0; i < in->rank; i++) {
        start[i] = 0;
        cnt[i] = (hsize_t)in->shape[i];
    }
    start[0] = (hsize_t)first;
    cnt[0] = (hsize_t)count;
    /* float32 is read as it is (HDF5 swaps the bytes of big-endian data) into the second half
     * of out, then widened here as C and NumPy widen it, forwards in place (see npy.c). */
    void *dst = in->itemsize == 8 ? (void *)out : (void *)((unsigned char *)out + total * 4);
    hsize_t m = (hsize_t)total;
    int rc = 0;
    h5_enter();
    hid_t mspace = H5Screate_simple(1, &m, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(in->fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(in->dset, in->itemsize == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, mspace,
                in->fspace, H5P_DEFAULT, dst) < 0) {
        h5_error e;
        last_error(&e);
        rc = e.filter ? DUSK_EFORMAT : DUSK_EIO;
    }
    close_id(&mspace);
    h5_leave();
    if (rc == 0 && in->itemsize == 4) {
        const unsigned char *src = dst;
        for (int64_t i = 0; i < total; i++) {
            float x;
            memcpy(&x, src + 4 * i, sizeof x);
            out[i] = (double)x;
        }
    }
    return rc;
}

void dusk__h5_input_close(dusk__h5_input **pin)
{
    if (pin == NULL || *pin == NULL) return;
    dusk__h5_input *in = *pin;
    *pin = NULL;
    h5_enter();
    input_close_locked(in);
    h5_leave();
    free(in->name);
    free(in);
}

/* ---- result files ------------------------------------------------------------------------ */

/* A dataset of the root group: "/name" or "name", name 1 to 255 of [A-Za-z0-9_.-], not "."
 * or "..". */
static int valid_dataset_name(const char *s)
{
    if (s == NULL) return 0;
    if (*s == '/') s++;
    size_t n = strlen(s);
    if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* An attribute's name: 1 to 255 printable ASCII characters. */
static int valid_attr_name(const char *s)
{
    if (s == NULL) return 0;
    size_t n = strlen(s);
    if (n == 0 || n > 255) return 0;
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) return 0;
    return 1;
}

/* The arguments both calls take; each set's bytes filled in, its offset reset to -1. */
static int check_args(const char *path, dusk__h5_dataset *sets, int nsets,
                      const dusk__h5_attr *attrs, int nattrs, char *why, size_t whylen)
{
    if (path == NULL || path[0] == '\0' || (sets == NULL && nsets > 0) || nsets < 0 ||
        (attrs == NULL && nattrs > 0) || nattrs < 0) {
        dusk__set_why(why, whylen, "no path, datasets or attributes");
        return DUSK_EINVAL;
    }
    for (int i = 0; i < nsets; i++) {
        dusk__h5_dataset *s = &sets[i];
        s->offset = -1;
        s->bytes = 0;
        if (!valid_dataset_name(s->name)) {
            dusk__set_why(why, whylen, "dataset name '%s' is not 1 to 255 of [A-Za-z0-9_.-]",
                          s->name != NULL ? s->name : "(null)");
            return DUSK_EINVAL;
        }
        if (s->ndim < 1 || s->ndim > DUSK__H5_MAX_DIMS) {
            dusk__set_why(why, whylen, "dataset %s: ndim is %d, not 1 to %d", s->name, s->ndim,
                          DUSK__H5_MAX_DIMS);
            return DUSK_EINVAL;
        }
        int64_t values = 1;
        for (int k = 0; k < s->ndim; k++) {
            if (s->shape[k] < 0 || (s->shape[k] > 0 && values > INT64_MAX / 8 / s->shape[k])) {
                dusk__set_why(why, whylen, "dataset %s: dimension %d (%" PRId64 ") is %s", s->name,
                              k, s->shape[k], s->shape[k] < 0 ? "negative" : "too large");
                return DUSK_EINVAL;
            }
            values *= s->shape[k];
        }
        s->bytes = values * 8;
        for (int j = 0; j < i; j++) {
            const char *a = sets[j].name, *b = s->name;
            if (strcmp(a + (*a == '/'), b + (*b == '/')) == 0) {
                dusk__set_why(why, whylen, "dataset %s is named twice", s->name);
                return DUSK_EINVAL;
            }
        }
    }
    for (int i = 0; i < nattrs; i++) {
        if (!valid_attr_name(attrs[i].key)) {
            dusk__set_why(why, whylen, "attribute name '%s' is not 1 to 255 printable characters",
                          attrs[i].key != NULL ? attrs[i].key : "(null)");
            return DUSK_EINVAL;
        }
    }
    return 0;
}

static hid_t string_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0))
        close_id(&t);
    return t;
}

static int write_attr(hid_t file, const dusk__h5_attr *a)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t type = a->text != NULL ? string_type() : H5Tcopy(H5T_STD_I64LE);
    hid_t attr = space >= 0 && type >= 0
                     ? H5Acreate2(file, a->key, type, space, H5P_DEFAULT, H5P_DEFAULT)
                     : H5I_INVALID_HID;
    int ok = attr >= 0;
    if (ok && a->text != NULL) ok = H5Awrite(attr, type, &a->text) >= 0;
    if (ok && a->text == NULL) ok = H5Awrite(attr, H5T_NATIVE_INT64, &a->value) >= 0;
    close_id(&attr);
    close_id(&type);
    close_id(&space);
    return ok ? 0 : -1;
}

static int make_dataset(hid_t file, const dusk__h5_dataset *s)
{
    hsize_t dims[DUSK__H5_MAX_DIMS];
    for (int k = 0; k < s->ndim; k++)
        dims[k] = (hsize_t)s->shape[k];
    const double nan = NAN;
    hid_t space = H5Screate_simple(s->ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int ok = space >= 0 && dcpl >= 0 && H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 &&
             H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
             H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) >= 0 &&
             H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) >= 0 &&
             H5Pset_obj_track_times(dcpl, 0) >= 0;
    hid_t d = ok ? H5Dcreate2(file, s->name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                 : H5I_INVALID_HID;
    ok = d >= 0;
    close_id(&d);
    close_id(&dcpl);
    close_id(&space);
    return ok ? 0 : -1;
}

static int create_locked(const char *tmp, const dusk__h5_dataset *sets, int nsets,
                         const dusk__h5_attr *attrs, int nattrs, char *why, size_t whylen)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0) H5Pset_file_locking(fapl, 1, 1);
#endif
    if (fcpl >= 0) H5Pset_obj_track_times(fcpl, 0); /* the same run makes the same bytes */
    hid_t file =
        fapl >= 0 && fcpl >= 0 ? H5Fcreate(tmp, H5F_ACC_EXCL, fcpl, fapl) : H5I_INVALID_HID;
    const char *what = file < 0 ? "cannot create it" : NULL;
    for (int i = 0; i < nattrs && what == NULL; i++)
        if (write_attr(file, &attrs[i]) != 0) what = "cannot write an attribute";
    for (int i = 0; i < nsets && what == NULL; i++)
        if (make_dataset(file, &sets[i]) != 0) what = "cannot make a dataset";
    h5_error e;
    if (what != NULL) last_error(&e);
    close_id(&fcpl);
    close_id(&fapl);
    if (file >= 0 && H5Fclose(file) < 0 && what == NULL) {
        what = "cannot close it";
        last_error(&e);
    }
    if (what != NULL) {
        dusk__set_why(why, whylen, "%s: HDF5: %s", what, e.text);
        return DUSK_EIO;
    }
    return 0;
}

int dusk__h5_create(const char *path, dusk__h5_dataset *sets, int nsets, const dusk__h5_attr *attrs,
                    int nattrs, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    int rc = check_args(path, sets, nsets, attrs, nattrs, why, whylen);
    if (rc != 0) return rc;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp"), *dir = malloc(plen + 2);
    if (tmp == NULL || dir == NULL) {
        free(tmp);
        free(dir);
        dusk__set_why(why, whylen, "out of memory");
        return DUSK_ENOMEM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", sizeof ".tmp");
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, plen + 2, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';

    char text[128];
    int err = 0;
    if (unlink(tmp) != 0 && errno != ENOENT) {
        err = errno;
        dusk__errno_text(err, text, sizeof text);
        dusk__set_why(why, whylen, "cannot remove %s: %s", tmp, text);
        rc = DUSK_EIO;
    }
    if (rc == 0) {
        h5_enter();
        rc = create_locked(tmp, sets, nsets, attrs, nattrs, why, whylen);
        h5_leave();
    }
    /* durable before it gets its name: PATH is whole or absent after any crash */
    const char *what = NULL;
    if (rc == 0) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            what = "cannot fsync it";
        else if (rename(tmp, path) != 0)
            what = "cannot rename it into place";
        else if (dusk__sync_dir(dir) != 0)
            what = "cannot fsync its directory";
        err = errno;
        if (fd >= 0) close(fd);
        if (what != NULL) {
            dusk__set_why_errno(why, whylen, what, err);
            rc = DUSK_EIO;
        }
    }
    if (rc != 0) unlink(tmp); /* gone already when the rename was done */
    if (rc == 0) rc = dusk__h5_check(path, sets, nsets, attrs, nattrs, why, whylen);
    free(tmp);
    free(dir);
    if (rc != 0 && err != 0) errno = err;
    return rc;
}

/* ---- checking a result file -------------------------------------------------------------- */

static int check_attr(hid_t file, const dusk__h5_attr *a, char *why, size_t whylen)
{
    if (H5Aexists(file, a->key) <= 0) {
        dusk__set_why(why, whylen, "has no attribute '%s'", a->key);
        return DUSK_EFORMAT;
    }
    hid_t attr = H5Aopen(file, a->key, H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    int same = 0;
    char have[64] = "";
    if (a->text != NULL && cls == H5T_STRING && H5Tis_variable_str(type) > 0) {
        hid_t mt = string_type();
        char *s = NULL;
        if (mt >= 0 && H5Aread(attr, mt, &s) >= 0 && s != NULL) {
            same = strcmp(s, a->text) == 0;
            snprintf(have, sizeof have, "'%.40s%s'", s, strlen(s) > 40 ? "..." : "");
            H5free_memory(s);
        }
        close_id(&mt);
    } else if (a->text == NULL && cls == H5T_INTEGER) {
        int64_t v = 0;
        if (H5Aread(attr, H5T_NATIVE_INT64, &v) >= 0) {
            same = v == a->value;
            snprintf(have, sizeof have, "%" PRId64, v);
        }
    } else {
        snprintf(have, sizeof have, "of another type");
    }
    close_id(&type);
    close_id(&attr);
    if (!same) {
        if (a->text != NULL)
            dusk__set_why(why, whylen, "attribute '%s' is %s, not '%.60s'", a->key,
                          have[0] ? have : "unreadable", a->text);
        else
            dusk__set_why(why, whylen, "attribute '%s' is %s, not %" PRId64, a->key,
                          have[0] ? have : "unreadable", a->value);
        return DUSK_EFORMAT;
    }
    return 0;
}

static int check_dataset(hid_t file, dusk__h5_dataset *s, int64_t file_size, char *why,
                         size_t whylen)
{
    char want[DUSK__H5_MAX_DIMS * 22 + 4], have[DUSK__H5_MAX_RANK * 22 + 4];
    const char *name = s->name;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
        dusk__set_why(why, whylen, "has no dataset %s", name);
        return DUSK_EFORMAT;
    }
    hid_t obj = H5Oopen(file, name, H5P_DEFAULT);
    int is_dataset = obj >= 0 && H5Iget_type(obj) == H5I_DATASET;
    close_id(&obj);
    if (!is_dataset) {
        dusk__set_why(why, whylen, "%s is not a dataset", name);
        return DUSK_EFORMAT;
    }
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t type = d >= 0 ? H5Dget_type(d) : H5I_INVALID_HID;
    hid_t dcpl = d >= 0 ? H5Dget_create_plist(d) : H5I_INVALID_HID;
    hid_t space = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    int rc = 0;
    int64_t shape[DUSK__H5_MAX_RANK];
    int rank = space >= 0 ? space_shape(space, shape) : -1;
    if (d < 0 || type < 0 || dcpl < 0 || space < 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot open %s: %s", name, e.text);
        rc = DUSK_EFORMAT;
    } else if (H5Tequal(type, H5T_IEEE_F64LE) <= 0) {
        type_text(type, have, sizeof have);
        dusk__set_why(why, whylen, "%s holds %s, not float64 (little-endian)", name, have);
        rc = DUSK_EFORMAT;
    } else if (H5Pget_layout(dcpl) != H5D_CONTIGUOUS) {
        dusk__set_why(why, whylen, "%s is not stored contiguously", name);
        rc = DUSK_EFORMAT;
    } else if (rank != s->ndim || memcmp(shape, s->shape, (size_t)rank * sizeof *shape) != 0) {
        dusk__shape_text(want, sizeof want, s->ndim, s->shape);
        if (rank >= 0)
            dusk__shape_text(have, sizeof have, rank, shape);
        else
            snprintf(have, sizeof have, "none");
        dusk__set_why(why, whylen, "%s has shape %s, not %s", name, have, want);
        rc = DUSK_EFORMAT;
    } else if (s->bytes > 0) {
        haddr_t off = H5Dget_offset(d);
        hsize_t stored = H5Dget_storage_size(d);
        if (off == HADDR_UNDEF || stored != (hsize_t)s->bytes) {
            dusk__set_why(why, whylen, "%s is not allocated in full", name);
            rc = DUSK_EFORMAT;
        } else if (off > (haddr_t)file_size || (int64_t)off > file_size - s->bytes) {
            dusk__set_why(why, whylen, "%s lies past the end of the file (truncated?)", name);
            rc = DUSK_EFORMAT;
        } else {
            s->offset = (int64_t)off;
        }
    }
    close_id(&space);
    close_id(&dcpl);
    close_id(&type);
    close_id(&d);
    return rc;
}

static int check_locked(const char *path, dusk__h5_dataset *sets, int nsets,
                        const dusk__h5_attr *attrs, int nattrs, int64_t size, char *why,
                        size_t whylen)
{
    int rc = 0;
    hid_t file = open_file(path, why, whylen, &rc);
    if (file < 0) return rc;
    hid_t fcpl = H5Fget_create_plist(file);
    hsize_t userblock = 1;
    H5G_info_t info;
    if (fcpl < 0 || H5Pget_userblock(fcpl, &userblock) < 0 || userblock != 0) {
        dusk__set_why(why, whylen, "has a user block: not a file dusk made");
        rc = DUSK_EFORMAT;
    } else if (H5Gget_info(file, &info) < 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot read its root group: %s", e.text);
        rc = DUSK_EFORMAT;
    } else if (info.nlinks != (hsize_t)nsets) {
        dusk__set_why(why, whylen, "holds %llu objects in its root group, not the %d expected",
                      (unsigned long long)info.nlinks, nsets);
        rc = DUSK_EFORMAT;
    }
    close_id(&fcpl);
    for (int i = 0; i < nsets && rc == 0; i++)
        rc = check_dataset(file, &sets[i], size, why, whylen);
    for (int i = 0; i < nattrs && rc == 0; i++)
        rc = check_attr(file, &attrs[i], why, whylen);
    if (H5Fclose(file) < 0 && rc == 0) {
        h5_error e;
        last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot close it: %s", e.text);
        rc = DUSK_EFORMAT;
    }
    return rc;
}

int dusk__h5_check(const char *path, dusk__h5_dataset *sets, int nsets, const dusk__h5_attr *attrs,
                   int nattrs, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    int rc = check_args(path, sets, nsets, attrs, nattrs, why, whylen);
    if (rc != 0) return rc;
    /* the signature first, with the C library: HDF5 is not asked about a file that is not
     * one (nor about a FIFO or a directory) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        dusk__set_why_errno(why, whylen, NULL, err);
        return DUSK_EIO;
    }
    unsigned char sig[8];
    int got = S_ISREG(st.st_mode) ? dusk__pread_full(fd, sig, sizeof sig, 0) : 1;
    int err = errno;
    close(fd);
    if (got < 0) {
        dusk__set_why_errno(why, whylen, NULL, err);
        return DUSK_EIO;
    }
    if (got > 0 || memcmp(sig, H5_SIGNATURE, 8) != 0) {
        dusk__set_why(why, whylen, "%s",
                      !S_ISREG(st.st_mode) ? "not a regular file"
                      : st.st_size < 8     ? "not an HDF5 file (too short)"
                                           : "not an HDF5 file (no HDF5 signature)");
        return DUSK_EFORMAT;
    }
    h5_enter();
    rc = check_locked(path, sets, nsets, attrs, nattrs, (int64_t)st.st_size, why, whylen);
    h5_leave();
    return rc;
}
