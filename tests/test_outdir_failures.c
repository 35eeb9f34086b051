/* failures.json (runtime/src/io/outdir.c) is never committed truncated (issue 12: it was
 * renamed into place without checking ferror() or fclose()): when the write fails part way
 * (RLIMIT_FSIZE, with SIGXFSZ ignored, as on a full disk), dusk__outdir_write_failures()
 * returns -1 with errno set, the old failures.json is still there byte for byte (or none is,
 * when there was none), and no failures.json.tmp is left. A write that succeeds gives the
 * expected JSON, sorted by task id and escaped, which Python's json module reads back too
 * (when /usr/bin/python3 is there). No StarPU. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dusk.h"
#include "outdir.h"
#include "test.h"

static char dir[256], path[300], tmp[300];

/* The whole file, NUL-terminated (caller frees), or NULL when it does not exist. */
static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (f == NULL) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    CHECK(buf != NULL);
    size_t got;
    while ((got = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* `count` failure lines, about 100 bytes each, in decreasing task order */
static char *many_lines(int count)
{
    size_t cap = (size_t)count * 128 + 1, used = 0;
    char *s = malloc(cap);
    CHECK(s != NULL);
    s[0] = '\0';
    for (int i = count; i > 0; i--)
        used += (size_t)snprintf(s + used, cap - used,
                                 "%d\teigh\tDUSK_ENUMERIC\tdsyevd failed on matrix %d, which is "
                                 "not quite symmetric enough\n",
                                 i, i);
    return s;
}

/* Write with the file size limited to `limit` bytes: must fail and leave `before` (the old
 * contents, or NULL for none) in place, and no temporary file. */
static void write_limited(rlim_t limit, const char *lines, const char *before)
{
    struct rlimit old, lim;
    CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
    lim = old;
    lim.rlim_cur = limit;
    CHECK_OK(setrlimit(RLIMIT_FSIZE, &lim));
    errno = 0;
    int ret = dusk__outdir_write_failures(dir, "test-prog", 1000, lines);
    int err = errno;
    CHECK_OK(setrlimit(RLIMIT_FSIZE, &old));
    CHECK_EQ(ret, -1);
    CHECK_EQ(err, EFBIG);
    char *now = slurp(path, NULL);
    if (before == NULL) {
        CHECK(now == NULL);
    } else {
        CHECK(now != NULL);
        CHECK(strcmp(now, before) == 0);
    }
    free(now);
    CHECK(access(tmp, F_OK) != 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_outdir_failures.%d", (int)getpid());
    CHECK_OK(mkdir(dir, 0700));
    snprintf(path, sizeof path, "%s/failures.json", dir);
    snprintf(tmp, sizeof tmp, "%s/failures.json.tmp", dir);
    signal(SIGXFSZ, SIG_IGN); /* past RLIMIT_FSIZE, write() fails with EFBIG instead */

    /* a good write: sorted by task id, escaped */
    const char *lines = "3\tgen\tDUSK_EDATA\tmatrix has a \"NaN\" <here> \\ tab\there\n"
                        "1\teigh\tDUSK_ENUMERIC\tdsyevd failed\n";
    CHECK_OK(dusk__outdir_write_failures(dir, "test-prog", 10, lines));
    const char *want =
        "{\"program\": \"test-prog\", \"tasks\": 10, \"failures\": [\n"
        "  {\"task\": 1, \"step\": \"eigh\", \"error\": \"DUSK_ENUMERIC\", \"reason\": "
        "\"dsyevd failed\"},\n"
        "  {\"task\": 3, \"step\": \"gen\", \"error\": \"DUSK_EDATA\", \"reason\": "
        "\"matrix has a \\\"NaN\\\" \\u003chere\\u003e \\\\ tab\\u0009here\"}\n"
        "]}\n";
    char *got = slurp(path, NULL);
    CHECK(got != NULL);
    if (strcmp(got, want) != 0) TEST_FAIL_("failures.json:\n%s\nwanted:\n%s", got, want);
    CHECK(access(tmp, F_OK) != 0);
    if (access("/usr/bin/python3", X_OK) == 0) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); "
                 "f = d[\"failures\"]; assert d[\"program\"] == \"test-prog\" and "
                 "d[\"tasks\"] == 10 and [x[\"task\"] for x in f] == [1, 3] and "
                 "f[1][\"reason\"] == \"matrix has a \\\"NaN\\\" <here> \\\\ tab\\there\", d' %s",
                 path);
        CHECK_EQ(system(cmd), 0);
    }

    /* the write fails part way: the good file stays */
    char *big = many_lines(500); /* about 50 KB: stdio flushes, and fails, while writing */
    write_limited(1000, big, got);
    write_limited(100, "7\tgen\tDUSK_EDATA\tshort\n", got); /* fails at the last flush */
    write_limited(0, "7\tgen\tDUSK_EDATA\tshort\n", got);   /* at the first byte */
    /* and with no old file, none appears */
    CHECK_OK(unlink(path));
    write_limited(1000, big, NULL);
    write_limited(100, "7\tgen\tDUSK_EDATA\tshort\n", NULL);

    /* the same writes with room: whole files */
    CHECK_OK(dusk__outdir_write_failures(dir, "test-prog", 1000, big));
    size_t len;
    char *whole = slurp(path, &len);
    CHECK(whole != NULL);
    CHECK_GT(len, 50000);
    const char *head = "{\"program\": \"test-prog\", \"tasks\": 1000, \"failures\": [\n  "
                       "{\"task\": 1, ";
    CHECK(strncmp(whole, head, strlen(head)) == 0);
    CHECK(strcmp(whole + len - 5, "}\n]}\n") == 0);
    CHECK_STR_CONTAINS(whole, "{\"task\": 500, ");
    free(whole);

    /* no lines: the old file goes; a directory that does not exist: -1, errno set */
    CHECK_OK(dusk__outdir_write_failures(dir, "test-prog", 1000, ""));
    CHECK(access(path, F_OK) != 0);
    CHECK_OK(dusk__outdir_write_failures(dir, "test-prog", 1000, NULL));
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such", dir);
    errno = 0;
    CHECK_EQ(dusk__outdir_write_failures(missing, "test-prog", 1, lines), -1);
    CHECK_EQ(errno, ENOENT);

    free(big);
    free(got);
    CHECK_OK(rmdir(dir));
    printf("outdir failures: ok\n");
    return 0;
}
