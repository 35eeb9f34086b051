/* The I/O layer's shared helpers (io.h): strings, directories, whole reads and writes, rows
 * written at a stride, and files replaced atomically; and dusk_std_fds_open() (dusk.h). */
#define _GNU_SOURCE /* F_OFD_SETLKW */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/vfs.h>
#endif

#include "io.h"

#define IO_MAX ((size_t)1 << 30) /* largest single pread/pwrite */

char *dusk__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void dusk__set_why_errno(char *why, size_t whylen, const char *what, int err)
{
    char text[128];
    dusk__errno_text(err, text, sizeof text);
    if (what != NULL)
        dusk__set_why(why, whylen, "%s: %s", what, text);
    else
        dusk__set_why(why, whylen, "%s", text);
    errno = err;
}

void dusk__shape_text(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64, i > 0 ? ", " : "", shape[i]);
    if (used < len) snprintf(buf + used, len - used, "%s", ndim == 1 ? ",)" : ")");
}

void dusk__set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(why, whylen, fmt, ap) < 0) why[0] = '\0';
    va_end(ap);
}

/* strerror_r() comes in an XSI and a GNU flavour. */
void dusk__errno_text(int err, char *buf, size_t len)
{
#if defined(_GNU_SOURCE)
    const char *s = strerror_r(err, buf, len);
    if (s != buf) snprintf(buf, len, "%s", s);
#else
    if (strerror_r(err, buf, len) != 0) snprintf(buf, len, "error %d", err);
#endif
}

int dusk__parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    *out = 0;
    if (s == NULL || *s == '\0' || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
        return DUSK__NOT_A_NUMBER;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || end == s) return DUSK__NOT_A_NUMBER;
    if (errno == ERANGE || v < lo || v > hi) return DUSK__OUT_OF_RANGE;
    *out = v;
    return 0;
}

/* ---- the string builder ---------------------------------------------------------------------- */

void dusk__sb_init(dusk__sb *b, char *storage, size_t cap)
{
    b->p = storage;
    b->cap = cap;
    b->len = 0;
    b->heap = 0;
    b->oom = 0;
    if (cap) b->p[0] = '\0';
}

void dusk__sb_free(dusk__sb *b)
{
    if (b->heap) free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int sb_reserve(dusk__sb *b, size_t n)
{
    if (b->oom) return -1;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = b->heap ? realloc(b->p, cap) : malloc(cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    if (!b->heap && b->len) memcpy(p, b->p, b->len);
    b->p = p;
    b->cap = cap;
    b->heap = 1;
    return 0;
}

void dusk__sb_put(dusk__sb *b, const char *s, size_t n)
{
    if (sb_reserve(b, n) != 0) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dusk__sb_puts(dusk__sb *b, const char *s)
{
    dusk__sb_put(b, s, strlen(s));
}

void dusk__sb_printf(dusk__sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = b->oom ? -1 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) {
        if (sb_reserve(b, (size_t)n) != 0) return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void dusk__sb_json(dusk__sb *b, const char *s)
{
    dusk__sb_put(b, "\"", 1);
    const char *run = s ? s : "";
    for (const char *c = run; s && *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u >= 0x20 && u != '"' && u != '\\' && u != '<' && u != '>' && u != '&') continue;
        dusk__sb_put(b, run, (size_t)(c - run));
        char esc[8];
        if (u == '"' || u == '\\')
            snprintf(esc, sizeof esc, "\\%c", u);
        else if (u == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else
            snprintf(esc, sizeof esc, "\\u%04x", u);
        dusk__sb_puts(b, esc);
        run = c + 1;
    }
    if (s) dusk__sb_puts(b, run);
    dusk__sb_put(b, "\"", 1);
}

/* ---- files and directories ------------------------------------------------------------------- */

int dusk__mkdir_p(const char *path, unsigned mode)
{
    char p[4096];
    if (path == NULL || *path == '\0') {
        errno = ENOENT;
        return -1;
    }
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) return -1;
        *s = c;
        if (c == '\0') break;
    }
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int dusk_std_fds_open(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        /* the lowest free descriptor, fd itself, unless another thread took it meanwhile */
        int got = open("/dev/null", O_RDWR);
        if (got < 0) return DUSK_EIO;
        if (got != fd) {
            int rc = dup2(got, fd);
            int err = errno;
            close(got);
            errno = err;
            if (rc < 0) return DUSK_EIO;
        }
    }
    return 0;
}

int dusk__sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    int err = errno;
    close(dfd);
    errno = err;
    return rc == 0 ? 0 : -1;
}

int dusk__pread_full(int fd, void *buf, size_t len, int64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len < IO_MAX ? len : IO_MAX, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) return 1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int dusk__pwrite_full(int fd, const void *buf, size_t len, int64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len < IO_MAX ? len : IO_MAX, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (n == 0) { /* not expected from a regular file; do not spin */
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* ---- rows at a stride ------------------------------------------------------------------------ */

/* Rows up to this size are written a span at a time (below): a pwrite each costs a system
 * call, and the ranks of a cyclic distribution, whose rows interleave, contend for the file's
 * inode lock with them (at n = 4, a row of eigenvalues is 32 bytes: +63% at 2 ranks). Larger
 * rows are written one pwrite each, which costs nothing beside their computing. */
#define SIEVED_ROW_MAX ((size_t)64 << 10)
/* the span read and written back at a time: memory stays bounded, and so does the time the
 * other writers wait for its lock */
#define SIEVED_SPAN ((int64_t)4 << 20)

/* Whether every writer of the file shares one page cache and one lock table, as on a local
 * file system: there a span can be read, patched and written back under a lock (below). On
 * NFS, Lustre, GPFS, BeeGFS or CephFS the ranks of another host cache pages of their own:
 * those keep one pwrite per row, which writes its own bytes alone. The same answer for every
 * writer of one file, so all of them write it the same way. */
static int sieving_is_safe(int fd)
{
#if defined(__linux__)
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return 0;
    switch ((unsigned long)st.f_type & 0xffffffffUL) {
    case 0xEF53UL:     /* ext2, ext3, ext4 */
    case 0x58465342UL: /* XFS */
    case 0x9123683EUL: /* btrfs */
    case 0x01021994UL: /* tmpfs */
    case 0xF2F52010UL: /* f2fs */
    case 0x794C7630UL: /* overlayfs (a container's root) */
        return 1;
    default:
        return 0;
    }
#else
    (void)fd;
    return 0;
#endif
}

/* Lock bytes [off, off + len) of the file against the other writers (an open file
 * description's lock: another process's, or another open of this file, waits), or unlock. */
static int span_lock(int fd, int64_t off, int64_t len, int lock)
{
    struct flock fl = {.l_type = lock ? F_WRLCK : F_UNLCK,
                       .l_whence = SEEK_SET,
                       .l_start = (off_t)off,
                       .l_len = (off_t)len};
    int rc;
    do
        rc = fcntl(fd, F_OFD_SETLKW, &fl);
    while (rc != 0 && errno == EINTR);
    return rc;
}

/* One span, as MPI-IO's "data sieving" writes it: locked, read, the rows copied in, written
 * back whole, unlocked. The other writers' rows in between are read and written back as they
 * are, which the lock makes safe: every writer of rows at a stride takes it (one row alone
 * too, below). Two system calls a span where a pwrite a row took one a row; the pages are
 * written as pwrite writes them, with no page fault per page and writer, which made the
 * shared mappings tried first cost 13% at 2 ranks. 0, or -1 (errno). */
static int rows_sieved(int fd, int64_t off, int64_t stride, size_t row, int64_t count,
                       const char *src)
{
    int64_t len = (count - 1) * stride + (int64_t)row;
    char *buf = malloc((size_t)len);
    if (buf == NULL) return -1;
    int rc = span_lock(fd, off, len, 1);
    if (rc == 0) {
        rc = dusk__pread_full(fd, buf, (size_t)len, off);
        if (rc == 1) { /* shorter than its outputs' shape: never so for a file dusk made */
            errno = EIO;
            rc = -1;
        }
        if (rc == 0) {
            for (int64_t i = 0; i < count; i++)
                memcpy(buf + i * stride, src + i * (int64_t)row, row);
            rc = dusk__pwrite_full(fd, buf, (size_t)len, off);
        }
        int err = errno;
        (void)span_lock(fd, off, len, 0);
        errno = err;
    }
    free(buf);
    return rc;
}

int dusk__pwrite_rows(int fd, int64_t off, int64_t stride, size_t row, int64_t count,
                      const void *src)
{
    const char *s = src;
    if (count <= 0 || row == 0) return 0;
    if (stride == (int64_t)row) return dusk__pwrite_full(fd, s, (size_t)count * row, off);
    if (row >= SIEVED_ROW_MAX || !sieving_is_safe(fd)) {
        for (int64_t i = 0; i < count; i++)
            if (dusk__pwrite_full(fd, s + i * (int64_t)row, row, off + i * stride) != 0) return -1;
        return 0;
    }
    for (int64_t done = 0; done < count;) {
        int64_t n = stride <= SIEVED_SPAN ? 1 + (SIEVED_SPAN - (int64_t)row) / stride : 1;
        if (n > count - done) n = count - done;
        int64_t at = off + done * stride;
        int rc;
        if (n == 1) { /* one row: its own bytes, locked so that no span read over it undoes it */
            rc = span_lock(fd, at, (int64_t)row, 1);
            if (rc == 0) {
                rc = dusk__pwrite_full(fd, s, row, at);
                int err = errno;
                (void)span_lock(fd, at, (int64_t)row, 0);
                errno = err;
            }
        } else {
            rc = rows_sieved(fd, at, stride, row, n, s);
        }
        if (rc != 0) return -1;
        s += n * (int64_t)row;
        done += n;
    }
    return 0;
}

FILE *dusk__atomic_open(dusk__atomic *a, const char *path)
{
    a->f = NULL;
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(a->dir, sizeof a->dir, ".");
    else if (slash == path)
        snprintf(a->dir, sizeof a->dir, "/");
    else
        snprintf(a->dir, sizeof a->dir, "%.*s", (int)(slash - path), path);
    a->f = fopen(a->tmp, "w");
    return a->f;
}

int dusk__atomic_commit(dusk__atomic *a)
{
    if (a->f == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* A write that failed on the way (a full disk, a file size limit) left the stream's error
     * flag; flushing what is still buffered then fails the same way and says why in errno
     * (ENOSPC, EFBIG), which the caller prints: EIO only when nothing says more. */
    int err = 0;
    errno = 0;
    if (fflush(a->f) != 0 || ferror(a->f)) err = errno ? errno : EIO;
    if (err == 0 && fsync(fileno(a->f)) != 0) err = errno;
    if (fclose(a->f) != 0 && err == 0) err = errno ? errno : EIO;
    a->f = NULL;
    if (err == 0 && rename(a->tmp, a->path) != 0) err = errno;
    if (err != 0) {
        unlink(a->tmp);
        errno = err;
        return -1;
    }
    /* the rename itself is durable once the directory is */
    return dusk__sync_dir(a->dir);
}

void dusk__atomic_abort(dusk__atomic *a)
{
    if (a->f == NULL) return;
    int err = errno;
    fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
    errno = err;
}
