/* The I/O layer's shared helpers: what the .npy files, the manifest, the output directory
 * and the traces all need, written once. This layer uses only the C library and POSIX (no
 * StarPU): runtime/src/io/ is built on its own (the fuzzer links it alone). Private. */
#ifndef DUSK_IO_H
#define DUSK_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dusk.h"

/* ---- strings ------------------------------------------------------------------------------ */

/* strdup() that C11 lacks: NULL when out of memory. */
char *dusk__strdup(const char *s);

/* One line of explanation into why[whylen] (nothing when why is NULL or whylen is 0). */
void dusk__set_why(char *why, size_t whylen, const char *fmt, ...) DUSK_PRINTF(3, 4);

/* `why` gets "what: strerror(err)", or just the text when what is NULL; errno is left as err. */
void dusk__set_why_errno(char *why, size_t whylen, const char *what, int err);

/* A shape as Python writes a tuple: "()", "(5,)", "(2, 3)". */
void dusk__shape_text(char *buf, size_t len, int ndim, const int64_t *shape);

/* strerror(err) into buf, thread-safely (strerror itself is not). */
void dusk__errno_text(int err, char *buf, size_t len);

/* A whole decimal integer in [lo, hi]: no trailing characters, no overflow.
 * Returns 0, DUSK__NOT_A_NUMBER or DUSK__OUT_OF_RANGE, so that callers can say which. */
enum { DUSK__NOT_A_NUMBER = 1, DUSK__OUT_OF_RANGE = 2 };
int dusk__parse_int(const char *s, long long lo, long long hi, long long *out);

/* A string that starts in caller-provided storage (usually on the stack) and moves to the
 * heap only when it outgrows it. `oom` is set, and further appends ignored, when it cannot
 * grow. Free with dusk__sb_free(). */
typedef struct dusk__sb {
    char *p;
    size_t len, cap;
    int heap, oom;
} dusk__sb;

void dusk__sb_init(dusk__sb *b, char *storage, size_t cap);
void dusk__sb_free(dusk__sb *b);
void dusk__sb_put(dusk__sb *b, const char *s, size_t n);
void dusk__sb_puts(dusk__sb *b, const char *s);
void dusk__sb_printf(dusk__sb *b, const char *fmt, ...) DUSK_PRINTF(2, 3);
/* s as a JSON string, quotes included; '<', '>' and '&' are escaped too, so that the result
 * can be embedded in an HTML <script>. NULL is written as "". */
void dusk__sb_json(dusk__sb *b, const char *s);

/* ---- files and directories ----------------------------------------------------------------- */

/* mkdir -p with `mode` for the directories it makes. 0 when `path` is (now) a directory,
 * else -1 with errno set (ENOTDIR when it, or a parent, is something else). */
int dusk__mkdir_p(const char *path, unsigned mode);

/* fsync() a directory, so that the names just made or renamed in it are durable. 0 or -1. */
int dusk__sync_dir(const char *dir);

/* pread/pwrite of the whole length, across short transfers and EINTR. read: 0, 1 when the
 * file ends first, or -1 with errno set; write: 0 or -1 with errno set. */
int dusk__pread_full(int fd, void *buf, size_t len, int64_t off);
int dusk__pwrite_full(int fd, const void *buf, size_t len, int64_t off);

/* `count` rows of `row` bytes, back to back at src, written at off, off + stride, ... (stride
 * >= row): one pwrite when they are contiguous; rows under 64 KiB of a file on a local file
 * system a span of up to 4 MiB at a time, locked (an OFD lock), read, patched and written
 * back (fd open for reading and writing); else one pwrite per row. Other processes may write
 * the rows in between at the same time, through this function alone. 0, or -1 with errno
 * set (ENOSPC on a full disk). */
int dusk__pwrite_rows(int fd, int64_t off, int64_t stride, size_t row, int64_t count,
                      const void *src);

/* A small file replaced atomically, with the one durability policy every such file of dusk
 * follows: written to PATH.tmp, flushed and fsync'ed, renamed over PATH, and the directory
 * fsync'ed. A crash at any point leaves the old file or the new one, never a mix.
 *
 *   dusk__atomic a;
 *   FILE *f = dusk__atomic_open(&a, path);   (NULL, errno set: nothing to clean up)
 *   ... fprintf(f, ...) ...
 *   if (dusk__atomic_commit(&a) != 0) ... errno says why; PATH.tmp is gone, PATH unchanged
 *
 * dusk__atomic_abort() drops the new contents. */
typedef struct dusk__atomic {
    FILE *f;
    char path[4096], tmp[4104], dir[4096];
} dusk__atomic;

FILE *dusk__atomic_open(dusk__atomic *a, const char *path);
int dusk__atomic_commit(dusk__atomic *a);
void dusk__atomic_abort(dusk__atomic *a);

#endif
