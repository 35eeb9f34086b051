/* The HDF5 library entered under one lock, its error stack read back, and types and shapes
 * described, for the HDF5 reader and the result files (h5_internal.h). */
#define _POSIX_C_SOURCE 200809L

#include "dusk.h"
#include "h5_internal.h"
#include "io.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_lock = PTHREAD_MUTEX_INITIALIZER;

void dusk__h5_enter(void)
{
    pthread_mutex_lock(&h5_lock);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void dusk__h5_leave(void)
{
    pthread_mutex_unlock(&h5_lock);
}

void dusk__h5_close_id(hid_t *id)
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

static herr_t walk_error(unsigned n, const H5E_error2_t *e, void *data)
{
    dusk__h5_error *r = data;
    if (n == 0 && e->desc != NULL) {
        size_t k = 0;
        for (const char *p = e->desc; *p != '\0' && k + 1 < sizeof r->text; p++)
            r->text[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
        r->text[k] = '\0';
    }
    if (e->maj_num == H5E_PLINE) r->filter = 1;
    return 0;
}

void dusk__h5_last_error(dusk__h5_error *r)
{
    memset(r, 0, sizeof *r);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_error, r);
    if (r->text[0] == '\0') snprintf(r->text, sizeof r->text, "no reason given");
}

/* ---- describing types and shapes --------------------------------------------------------- */

int dusk__h5_ieee_size(hid_t t, int *big)
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

void dusk__h5_type_text(hid_t t, char *buf, size_t len)
{
    size_t size = H5Tget_size(t);
    int big;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(buf, len, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", 8 * size);
        return;
    case H5T_FLOAT:
        if (dusk__h5_ieee_size(t, &big) != 0 || size == 2)
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

int dusk__h5_space_shape(hid_t space, int64_t shape[DUSK__H5_MAX_RANK])
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

hid_t dusk__h5_open_file(const char *path, char *why, size_t whylen, int *code)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    /* Lock as HDF5 does, but do not fail where the file system has no locks (Lustre, NFS
     * mounted without them): HDF5_USE_FILE_LOCKING=FALSE would otherwise be needed there. */
    if (fapl >= 0) H5Pset_file_locking(fapl, 1, 1);
#endif
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (file < 0) {
        dusk__h5_error e;
        dusk__h5_last_error(&e);
        if (strstr(e.text, "lock file") != NULL || strstr(e.text, "lock the file") != NULL) {
            dusk__set_why(why, whylen, "HDF5 cannot lock it (is a program writing it?): %s",
                          e.text);
            *code = DUSK_EIO;
        } else if (strstr(e.text, "already open for write") != NULL) {
            /* HDF5's own text suggests h5clear, which would break a file that a program is
             * still writing: a file that opens for SWMR reading has a writer in SWMR mode now
             * (or one that died in it); otherwise its writer died without closing it */
            hid_t probe =
                H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl >= 0 ? fapl : H5P_DEFAULT);
            if (probe >= 0) {
                H5Fclose(probe);
                dusk__set_why(why, whylen,
                              "another program is writing it (it is open for SWMR writing): "
                              "read it once that program has closed it");
            } else {
                dusk__set_why(why, whylen,
                              "is marked open for writing: wait until the program writing it "
                              "closes it or, if none is (one stopped without closing it), "
                              "clear the mark with h5clear -s");
            }
            *code = DUSK_EIO;
        } else {
            dusk__set_why(why, whylen, "HDF5 cannot open it (truncated or corrupt?): %s", e.text);
            *code = DUSK_EFORMAT;
        }
    }
    dusk__h5_close_id(&fapl);
    return file;
}
