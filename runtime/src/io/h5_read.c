/* HDF5 datasets read for dusk_input (h5.h): the dataset found or named, its type and shape
 * checked, and matrices read as float64. */
#define _POSIX_C_SOURCE 200809L

#include "dusk.h"
#include "h5_internal.h"
#include "io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 6                     /* datasets named in a message before "and N more" */
#define CHUNK_CACHE_MAX (64u << 20)    /* largest chunk kept in the chunk cache */
#define CHUNK_CACHE_DEFAULT (1u << 20) /* HDF5's default cache size */

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
    int rank = space >= 0 ? dusk__h5_space_shape(space, shape) : -1;
    char tt[64] = "an unknown type", st[DUSK__H5_MAX_RANK * 22 + 4] = "(null)";
    if (type >= 0) dusk__h5_type_text(type, tt, sizeof tt);
    if (rank >= 0) dusk__shape_text(st, sizeof st, rank, shape);
    int candidate = type >= 0 && H5Tget_class(type) == H5T_FLOAT && (rank == 2 || rank == 3);
    dusk__h5_close_id(&type);
    dusk__h5_close_id(&space);
    dusk__h5_close_id(&obj);

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
        dusk__h5_error e;
        dusk__h5_last_error(&e);
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
    /* chunked, and only some chunks allocated (a producer that stopped part-way): a read
     * first checks that each chunk it covers was written (chunk: the chunk's shape) */
    int partial;
    hsize_t chunk[DUSK__H5_MAX_RANK];
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

/* Data never written: HDF5 allocates a dataset's storage when it is first written (at the
 * first write of each chunk for a chunked one, unless told to allocate it early), and reads
 * what was never written as the fill value, which would then be decomposed as if real. A
 * dataset with no storage at all is refused; one with some chunks is read, each read checking
 * its chunks (dusk__h5_input_read). Data written as the fill value, or storage allocated early
 * and never written, cannot be told apart from real data. */
static int check_allocated(dusk__h5_input *in, hid_t d, hid_t dcpl, char *why, size_t whylen)
{
    int64_t values = in->rank > 0 ? 1 : 0;
    for (int i = 0; i < in->rank; i++)
        values *= in->shape[i];
    H5D_layout_t layout = H5Pget_layout(dcpl);
    H5D_space_status_t status;
    if (values == 0 || (layout != H5D_CHUNKED && layout != H5D_CONTIGUOUS) ||
        H5Dget_space_status(d, &status) < 0)
        return 0;
    if (status == H5D_SPACE_STATUS_NOT_ALLOCATED) {
        dusk__set_why(why, whylen,
                      "was never written: %s no storage in the file (HDF5 would read its fill "
                      "value)",
                      layout == H5D_CHUNKED ? "none of its chunks has" : "its data has");
        return DUSK_EFORMAT;
    }
#if H5_VERSION_GE(1, 10, 5) /* H5Dget_chunk_info_by_coord */
    if (status == H5D_SPACE_STATUS_PART_ALLOCATED && layout == H5D_CHUNKED &&
        H5Pget_chunk(dcpl, in->rank, in->chunk) == in->rank)
        in->partial = 1;
#endif
    return 0;
}

/* Whether every chunk that the selection [start, start + cnt) covers was written (allocated):
 * 1, 0, or 1 when HDF5 cannot say (the read then goes ahead). Inside dusk__h5_enter(). */
static int chunks_written(const dusk__h5_input *in, const hsize_t *start, const hsize_t *cnt)
{
#if !H5_VERSION_GE(1, 10, 5)
    (void)in, (void)start, (void)cnt;
    return 1;
#else
    hsize_t first[DUSK__H5_MAX_RANK], at[DUSK__H5_MAX_RANK];
    for (int i = 0; i < in->rank; i++) {
        if (cnt[i] == 0 || in->chunk[i] == 0) return 1;
        first[i] = at[i] = start[i] / in->chunk[i] * in->chunk[i];
    }
    for (;;) {
        unsigned mask;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        if (H5Dget_chunk_info_by_coord(in->dset, at, &mask, &addr, &size) < 0) return 1;
        if (addr == HADDR_UNDEF) return 0;
        int i = in->rank - 1; /* the next chunk, the last dimension fastest */
        for (; i >= 0; i--) {
            at[i] += in->chunk[i];
            if (at[i] < start[i] + cnt[i]) break;
            at[i] = first[i];
        }
        if (i < 0) return 1;
    }
#endif
}

/* When the last link of `name` is a soft or external link whose target is missing (a soft
 * link left behind when its dataset was deleted or renamed, an external file gone): what it
 * points to, as a refusal in `why` (DUSK_EINVAL, as for a name not in the file); else 0.
 * HDF5 itself reports such a link as "component not found" on opening it, which reads as a
 * damaged file. */
static int dangling_link(hid_t file, const char *name, char *why, size_t whylen)
{
    H5L_info_t info;
    if (strcmp(name, "/") == 0 || H5Lget_info(file, name, &info, H5P_DEFAULT) < 0 ||
        info.type == H5L_TYPE_HARD)
        return 0;
    if (H5Oexists_by_name(file, name, H5P_DEFAULT) > 0) return 0;
    size_t len = info.u.val_size;
    char *val = len > 0 && len < 65536 ? malloc(len) : NULL;
    if (val == NULL || H5Lget_val(file, name, val, len, H5P_DEFAULT) < 0) {
        free(val);
        dusk__set_why(why, whylen, "is a link to an object that is not there");
        return DUSK_EINVAL;
    }
    val[len - 1] = '\0';
    const char *ext_file = NULL, *ext_obj = NULL;
    unsigned flags = 0;
    if (info.type == H5L_TYPE_SOFT)
        dusk__set_why(why, whylen, "is a soft link to %.512s, which is not in the file", val);
    else if (info.type == H5L_TYPE_EXTERNAL &&
             H5Lunpack_elink_val(val, len, &flags, &ext_file, &ext_obj) >= 0)
        dusk__set_why(why, whylen, "is an external link to %.400s:%.400s, which HDF5 cannot open",
                      ext_file, ext_obj);
    else
        dusk__set_why(why, whylen, "is a link to an object that is not there");
    free(val);
    return DUSK_EINVAL;
}

static int input_open_locked(dusk__h5_input *in, const char *path, const char *dataset, char *why,
                             size_t whylen, char *found, size_t foundlen)
{
    int code = 0;
    in->file = dusk__h5_open_file(path, why, whylen, &code);
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
    int dangling = dangling_link(in->file, dataset, why, whylen);
    if (dangling != 0) return dangling;
    hid_t obj = H5Oopen(in->file, dataset, H5P_DEFAULT);
    if (obj < 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
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
        dusk__h5_error e;
        dusk__h5_last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot open the dataset (corrupt?): %s", e.text);
        rc = DUSK_EFORMAT;
    }
    if (rc == 0) {
        in->itemsize = dusk__h5_ieee_size(type, &in->big_endian);
        if (in->itemsize == 0) {
            char tt[64];
            dusk__h5_type_text(type, tt, sizeof tt);
            dusk__set_why(why, whylen, "holds %s, dusk reads float64 and float32", tt);
            rc = DUSK_EFORMAT;
        }
    }
    if (rc == 0) rc = check_filters(dcpl, why, whylen);
    if (rc == 0) {
        in->fspace = H5Dget_space(d);
        in->rank = in->fspace >= 0 ? dusk__h5_space_shape(in->fspace, in->shape) : -1;
        if (in->rank < 0) {
            dusk__set_why(why, whylen, "has no dataspace (an empty, null dataset)");
            rc = DUSK_EFORMAT;
        }
    }
    if (rc == 0) rc = check_allocated(in, d, dcpl, why, whylen);
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
            dusk__h5_close_id(&dapl);
        }
    }
    dusk__h5_close_id(&dcpl);
    dusk__h5_close_id(&type);
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
    dusk__h5_close_id(&in->fspace);
    dusk__h5_close_id(&in->dset);
    dusk__h5_close_id(&in->file);
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
    dusk__h5_enter();
    int rc = input_open_locked(in, path, dataset, why, whylen, found, foundlen);
    if (rc != 0) input_close_locked(in);
    dusk__h5_leave();
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
     * of out, then widened here as C and NumPy widen it, forwards in place (see npy_read.c). */
    void *dst = in->itemsize == 8 ? (void *)out : (void *)((unsigned char *)out + total * 4);
    hsize_t m = (hsize_t)total;
    int rc = 0;
    dusk__h5_enter();
    if (in->partial && !chunks_written(in, start, cnt)) {
        dusk__h5_leave();
        return DUSK_EDATA;
    }
    hid_t mspace = H5Screate_simple(1, &m, NULL);
    if (mspace < 0 || H5Sselect_hyperslab(in->fspace, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(in->dset, in->itemsize == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT, mspace,
                in->fspace, H5P_DEFAULT, dst) < 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
        rc = e.filter ? DUSK_EFORMAT : DUSK_EIO;
    }
    dusk__h5_close_id(&mspace);
    dusk__h5_leave();
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
    dusk__h5_enter();
    input_close_locked(in);
    dusk__h5_leave();
    free(in->name);
    free(in);
}
