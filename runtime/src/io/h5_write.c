/* HDF5 result files (h5.h): made whole, with every dataset allocated and filled with NaN,
 * before a row is written in place; and checked when a run reopens them. */
#define _POSIX_C_SOURCE 200809L

#include "dusk.h"
#include "h5_internal.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define H5_SIGNATURE "\x89HDF\r\n\x1a\n"

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
        dusk__h5_close_id(&t);
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
    dusk__h5_close_id(&attr);
    dusk__h5_close_id(&type);
    dusk__h5_close_id(&space);
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
    dusk__h5_close_id(&d);
    dusk__h5_close_id(&dcpl);
    dusk__h5_close_id(&space);
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
    dusk__h5_error e;
    if (what != NULL) dusk__h5_last_error(&e);
    dusk__h5_close_id(&fcpl);
    dusk__h5_close_id(&fapl);
    if (file >= 0 && H5Fclose(file) < 0 && what == NULL) {
        what = "cannot close it";
        dusk__h5_last_error(&e);
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
        dusk__h5_enter();
        rc = create_locked(tmp, sets, nsets, attrs, nattrs, why, whylen);
        dusk__h5_leave();
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
        dusk__h5_close_id(&mt);
    } else if (a->text == NULL && cls == H5T_INTEGER) {
        int64_t v = 0;
        if (H5Aread(attr, H5T_NATIVE_INT64, &v) >= 0) {
            same = v == a->value;
            snprintf(have, sizeof have, "%" PRId64, v);
        }
    } else {
        snprintf(have, sizeof have, "of another type");
    }
    dusk__h5_close_id(&type);
    dusk__h5_close_id(&attr);
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
    dusk__h5_close_id(&obj);
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
    int rank = space >= 0 ? dusk__h5_space_shape(space, shape) : -1;
    if (d < 0 || type < 0 || dcpl < 0 || space < 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot open %s: %s", name, e.text);
        rc = DUSK_EFORMAT;
    } else if (H5Tequal(type, H5T_IEEE_F64LE) <= 0) {
        dusk__h5_type_text(type, have, sizeof have);
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
    dusk__h5_close_id(&space);
    dusk__h5_close_id(&dcpl);
    dusk__h5_close_id(&type);
    dusk__h5_close_id(&d);
    return rc;
}

static int check_locked(const char *path, dusk__h5_dataset *sets, int nsets,
                        const dusk__h5_attr *attrs, int nattrs, int64_t size, char *why,
                        size_t whylen)
{
    int rc = 0;
    hid_t file = dusk__h5_open_file(path, why, whylen, &rc);
    if (file < 0) return rc;
    hid_t fcpl = H5Fget_create_plist(file);
    hsize_t userblock = 1;
    H5G_info_t info;
    if (fcpl < 0 || H5Pget_userblock(fcpl, &userblock) < 0 || userblock != 0) {
        dusk__set_why(why, whylen, "has a user block: not a file dusk made");
        rc = DUSK_EFORMAT;
    } else if (H5Gget_info(file, &info) < 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
        dusk__set_why(why, whylen, "HDF5 cannot read its root group: %s", e.text);
        rc = DUSK_EFORMAT;
    } else if (info.nlinks != (hsize_t)nsets) {
        dusk__set_why(why, whylen, "holds %llu objects in its root group, not the %d expected",
                      (unsigned long long)info.nlinks, nsets);
        rc = DUSK_EFORMAT;
    }
    dusk__h5_close_id(&fcpl);
    for (int i = 0; i < nsets && rc == 0; i++)
        rc = check_dataset(file, &sets[i], size, why, whylen);
    for (int i = 0; i < nattrs && rc == 0; i++)
        rc = check_attr(file, &attrs[i], why, whylen);
    if (H5Fclose(file) < 0 && rc == 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
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
    dusk__h5_enter();
    rc = check_locked(path, sets, nsets, attrs, nattrs, (int64_t)st.st_size, why, whylen);
    dusk__h5_leave();
    return rc;
}
