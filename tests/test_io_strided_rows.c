/* dusk__pwrite_rows() (runtime/src/io/fsutil.c), the rows of a cyclic distribution's chunk
 * written at their stride into a sparse file, as the outputs are: for rows under 64 KiB on a
 * local file system a span at a time, locked, read, patched and written back; with a pwrite
 * per row otherwise. The file must
 * hold, byte for byte, what pwrite of each row would have left:
 *   - several strides and row sizes (one of 64 KiB + 8: the pwrite loop), offsets not page
 *     aligned, spans longer than one piece (4 MiB), one row, contiguous rows; in the
 *     directory of the test (TMPDIR, else /tmp) and on /dev/shm (tmpfs) when there is one;
 *   - two processes writing interleaved rows (stride 2 rows, at 0 and at 1 row) of one file
 *     at the same time, in calls of many rows each, then one of them a row per call (which
 *     takes the lock too: a span read and written back over a row not locked would undo it);
 *   - through the .npy format's write (dusk__format), one row of a strided layout (a chunk of
 *     one item under a cyclic distribution: the first tasks of every run) waits for a lock
 *     another writer holds on its bytes: written without it, it could fall inside a span
 *     that writer has read and is writing back, and be undone (it went as a plain pwrite);
 *   - a full disk (a 1 MiB tmpfs, mounted in a mount namespace of its own; root only, else
 *     said and skipped): -1 with ENOSPC, and the rows written before it filled are all
 *     there. */
#define _GNU_SOURCE /* unshare() */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "outputs.h"
#include "test.h"

/* The byte a writer with this seed puts at offset i of a row. */
static unsigned char pattern(unsigned seed, int64_t row, int64_t i)
{
    uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + (uint64_t)row * 0xBF58476D1CE4E5B9ULL +
                 (uint64_t)i * 0x94D049BB133111EBULL;
    x ^= x >> 29;
    return (unsigned char)(x ^ (x >> 17));
}

/* `count` rows of `row` bytes each, back to back: row k of the writer `seed` */
static unsigned char *rows_of(unsigned seed, int64_t first, size_t row, int64_t count)
{
    unsigned char *src = malloc((size_t)count * row);
    CHECK(src != NULL);
    for (int64_t k = 0; k < count; k++)
        for (size_t i = 0; i < row; i++)
            src[(size_t)k * row + i] = pattern(seed, first + k, (int64_t)i);
    return src;
}

/* A new sparse file of `size` bytes, open for reading and writing (as the outputs are). */
static int sparse_file(const char *path, int64_t size)
{
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(ftruncate(fd, (off_t)size), 0);
    return fd;
}

/* The file must be `want` (size bytes): the first difference is named. */
static void check_file(int fd, const unsigned char *want, int64_t size, const char *what)
{
    struct stat st;
    CHECK_EQ(fstat(fd, &st), 0);
    CHECK_EQ(st.st_size, size);
    unsigned char *have = malloc((size_t)size);
    CHECK(have != NULL);
    CHECK_EQ(dusk__pread_full(fd, have, (size_t)size, 0), 0);
    for (int64_t i = 0; i < size; i++)
        if (have[i] != want[i])
            TEST_FAIL_("%s: byte %" PRId64 " is %d, expected %d", what, i, have[i], want[i]);
    free(have);
}

typedef struct rows_case {
    int64_t skew, stride; /* the first row at `skew` bytes past a page boundary */
    size_t row;
    int64_t count;
} rows_case;

static const rows_case cases[] = {
    {13, 16, 8, 5000},             /* 8-byte rows, every other 8 bytes */
    {4003, 96, 32, 200000},        /* 32-byte rows of 3 ranks: a span over 16 MiB */
    {1, 300, 100, 40000},          /* rows across page boundaries */
    {0, 3 * 4104, 4104, 3},        /* rows a little over a page */
    {7, 2 * 65544, 65544, 5},      /* 64 KiB + 8: the pwrite loop */
    {8, 40, 40, 1000},             /* contiguous: one pwrite */
    {4091, 1000, 24, 1},           /* one row, across a page boundary */
    {2048, 8 * 4096 + 8, 32, 100}, /* one row every 8 pages */
};
enum { NCASES = sizeof cases / sizeof cases[0] };

/* Where each case starts, after the one before it; the file's size. */
static int64_t layout(int64_t *at)
{
    int64_t end = 0;
    for (int c = 0; c < NCASES; c++) {
        const rows_case *k = &cases[c];
        at[c] = (end + 4095) / 4096 * 4096 + 4096 + k->skew;
        end = at[c] + (k->count - 1) * k->stride + (int64_t)k->row;
    }
    return end + 4321;
}

/* Every case into one sparse file in dir, against the same writes applied to memory. */
static void strided_cases(const char *dir)
{
    int64_t at[NCASES];
    const int64_t size = layout(at);
    char path[600];
    snprintf(path, sizeof path, "%s/strided.bin", dir);
    int fd = sparse_file(path, size);
    unsigned char *want = calloc(1, (size_t)size);
    CHECK(want != NULL);
    for (int c = 0; c < NCASES; c++) {
        const rows_case *k = &cases[c];
        unsigned char *src = rows_of((unsigned)c + 1, 0, k->row, k->count);
        for (int64_t r = 0; r < k->count; r++)
            memcpy(want + at[c] + r * k->stride, src + (size_t)r * k->row, k->row);
        if (dusk__pwrite_rows(fd, at[c], k->stride, k->row, k->count, src) != 0)
            TEST_FAIL_("%s: case %d (row %zu, stride %" PRId64 "): %s", dir, c, k->row, k->stride,
                       strerror(errno));
        free(src);
    }
    char what[600];
    snprintf(what, sizeof what, "%s: strided rows", dir);
    check_file(fd, want, size, what);
    /* rows written again in between those of case 1 (pages now allocated, not holes) */
    unsigned char *src = rows_of(99, 0, 32, 200000);
    for (int64_t r = 0; r < 200000; r++)
        memcpy(want + at[1] + 32 + r * 96, src + (size_t)r * 32, 32);
    CHECK_EQ(dusk__pwrite_rows(fd, at[1] + 32, 96, 32, 200000, src), 0);
    free(src);
    snprintf(what, sizeof what, "%s: strided rows written among others", dir);
    check_file(fd, want, size, what);
    /* count 0 writes nothing */
    CHECK_EQ(dusk__pwrite_rows(fd, 0, 16, 8, 0, NULL), 0);
    check_file(fd, want, size, what);
    free(want);
    close(fd);
    unlink(path);
}

enum { ROW = 32, ROWS = 400000, BATCH = 517 };

/* A process of its own: rows first, first + 2, ... of the file (seed first + 1), in calls of
 * BATCH rows, once the parent says go (a byte on `go`). by_row: one row per call. */
static pid_t writer(const char *path, int first, int by_row, int go)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid > 0) return pid;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int64_t count = ROWS / 2;
    unsigned char *src = rows_of((unsigned)first + 1, 0, ROW, count);
    char c;
    if (fd < 0 || read(go, &c, 1) != 1) _exit(2);
    for (int64_t k = 0; k < count; k += BATCH) {
        int64_t n = count - k < BATCH ? count - k : BATCH;
        int64_t off = (first + 2 * k) * ROW;
        if (by_row) {
            for (int64_t i = 0; i < n; i++)
                if (dusk__pwrite_rows(fd, off + i * 2 * ROW, 2 * ROW, ROW, 1, src + (k + i) * ROW))
                    _exit(3);
        } else if (dusk__pwrite_rows(fd, off, 2 * ROW, ROW, n, src + k * ROW) != 0) {
            _exit(3);
        }
    }
    _exit(close(fd) == 0 ? 0 : 4);
}

static void two_writers(const char *dir, int second_by_row)
{
    char path[600];
    snprintf(path, sizeof path, "%s/two.bin", dir);
    const int64_t size = (int64_t)ROWS * ROW;
    close(sparse_file(path, size));
    int go[2];
    CHECK_EQ(pipe(go), 0);
    pid_t a = writer(path, 0, 0, go[0]), b = writer(path, 1, second_by_row, go[0]);
    CHECK_EQ(write(go[1], "ab", 2), 2); /* both start at once */
    close(go[0]);
    close(go[1]);
    int sa, sb;
    CHECK_EQ(waitpid(a, &sa, 0), a);
    CHECK_EQ(waitpid(b, &sb, 0), b);
    if (!WIFEXITED(sa) || WEXITSTATUS(sa) != 0 || !WIFEXITED(sb) || WEXITSTATUS(sb) != 0)
        TEST_FAIL_("two writers: status %#x and %#x", sa, sb);
    unsigned char *want = malloc((size_t)size);
    CHECK(want != NULL);
    for (int64_t r = 0; r < ROWS; r++)
        for (int64_t i = 0; i < ROW; i++)
            want[r * ROW + i] = pattern((unsigned)(r % 2) + 1, r / 2, i);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    check_file(fd, want, size,
               second_by_row ? "two writers at once, one a row per call" : "two writers at once");
    close(fd);
    free(want);
    unlink(path);
}

/* In a child: a 1 MiB tmpfs of its own mount namespace. Exits 77 when it cannot be made. */
static void full_disk_child(const char *dir)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("dusk-test", dir, "tmpfs", 0, "size=1m") != 0)
        _exit(TEST_SKIP);
    char path[700];
    snprintf(path, sizeof path, "%s/full.bin", dir);
    const int64_t size = 4 << 20, half = 512 << 10;
    int fd = sparse_file(path, size);
    /* 512 KiB of rows fits: written */
    unsigned char *src = rows_of(7, 0, 32, size / 64);
    CHECK_EQ(dusk__pwrite_rows(fd, 5, 64, 32, half / 64, src), 0);
    /* the rest cannot: the disk fills on the way */
    errno = 0;
    int rc = dusk__pwrite_rows(fd, 5 + half, 64, 32, (size - half) / 64 - 1, src + half / 2);
    if (rc != -1 || errno != ENOSPC)
        TEST_FAIL_("a full disk: returned %d, errno %d (%s), not -1 with ENOSPC", rc, errno,
                   strerror(errno));
    unsigned char *have = malloc((size_t)half);
    CHECK(have != NULL);
    CHECK_EQ(dusk__pread_full(fd, have, (size_t)half, 5), 0);
    for (int64_t r = 0; r < half / 64; r++)
        if (memcmp(have + r * 64, src + r * 32, 32) != 0)
            TEST_FAIL_("a full disk: row %" PRId64 ", written before it filled, is not there", r);
    _exit(0);
}

static void full_disk(const char *dir)
{
    if (geteuid() != 0) {
        printf("note: not root: the full disk not checked\n");
        return;
    }
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s/full", dir);
    CHECK_EQ(mkdir(mnt, 0700), 0);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) full_disk_child(mnt);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    rmdir(mnt);
    if (WIFSIGNALED(st))
        TEST_FAIL_("a full disk: killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WIFEXITED(st) && WEXITSTATUS(st) == TEST_SKIP) {
        printf("note: no tmpfs could be mounted here: the full disk not checked\n");
        return;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A row of item 1 of 64 (step 2: a cyclic distribution's), written by a child through the
 * format's write while this process holds a lock on the file: the child must wait. */
static void one_row_waits_for_the_lock(const char *dir)
{
    const dusk__format *fmt = dusk__format_find("npy");
    CHECK(fmt != NULL);
    dusk__output out = {.name = "w", .ndim = 1, .dims = {4}};
    dusk__outset *set = NULL;
    char why[256], path[600];
    CHECK_OK(fmt->create(dir, &out, 1, 64, NULL, 0, &set, why, sizeof why));
    snprintf(path, sizeof path, "%s/w.npy.partial", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC); /* another open file description: another writer */
    CHECK(fd >= 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    CHECK_EQ(fcntl(fd, F_OFD_SETLK, &fl), 0);
    struct stat st;
    CHECK_EQ(fstat(fd, &st), 0);
    const int64_t row_at = (int64_t)st.st_size - 64 * 4 * 8 + 1 * 4 * 8; /* item 1's row */
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        const double row[4] = {1, 2, 3, 4};
        _exit(fmt->write(set, 0, 1, 2, 1, row) == 0 ? 0 : 3);
    }
    /* while the lock is held the row is not written (the child waits for it; a slow start
     * of the child only makes this weaker, never wrong) */
    int status = 0;
    for (int i = 0; i < 30 && waitpid(pid, &status, WNOHANG) == 0; i++)
        usleep(10000);
    double have[4];
    CHECK_EQ(dusk__pread_full(fd, have, sizeof have, row_at), 0);
    if (have[0] != 0 || have[3] != 0)
        TEST_FAIL_("one row of a strided layout was written while another writer held a lock "
                   "on its bytes (%g ... %g)",
                   have[0], have[3]);
    fl.l_type = F_UNLCK;
    CHECK_EQ(fcntl(fd, F_OFD_SETLK, &fl), 0);
    if (waitpid(pid, &status, WNOHANG) == 0) CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(dusk__pread_full(fd, have, sizeof have, row_at), 0);
    CHECK(have[0] == 1 && have[3] == 4);
    close(fd);
    fmt->abort(&set);
    printf("one row of a strided layout waits for a lock on its bytes, then is written\n");
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/dusk-strided-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);

    strided_cases(dir);
    one_row_waits_for_the_lock(dir);
    two_writers(dir, 0);
    two_writers(dir, 1);
    full_disk(dir);

    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) {
        char shm[64] = "/dev/shm/dusk-strided-XXXXXX";
        if (mkdtemp(shm) != NULL) {
            strided_cases(shm);
            two_writers(shm, 0);
            rmdir(shm);
        }
    }
    CHECK_EQ(rmdir(dir), 0);
    printf("strided rows: all checks passed\n");
    return 0;
}
