/* dusk_memory_query, dusk_disk_available, dusk_bytes_text and dusk_config_cpu_workers: the memory
 * query on made-up /proc and /sys/fs/cgroup trees (meminfo alone, cgroup v2 with a tighter parent,
 * v1, v2 beside v1, unlimited, over the limit, nothing readable), then on this machine
 * against what /proc/meminfo and statvfs say. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <starpu.h>

#include "dusk.h"
#include "resource.h"
#include "test.h"

static char base[1024];

/* Write text to base/rel, making the directories on the way. */
static void put(const char *rel, const char *fmt, ...)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    for (char *p = path + strlen(base) + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0777) != 0 && errno != EEXIST) TEST_FAIL_("mkdir %s", path);
            *p = '/';
        }
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    CHECK_EQ(fclose(fp), 0);
}

/* A fresh tree named `name` under the test's directory; base points at it. */
static void tree(const char *name) /* name: a short word */
{
    static char top[512];
    if (top[0] == '\0') {
        snprintf(top, sizeof top, "/tmp/dusk-test-resource-XXXXXX");
        CHECK(mkdtemp(top) != NULL);
    }
    snprintf(base, sizeof base, "%s/%s", top, name);
    CHECK_EQ(mkdir(base, 0777), 0);
}

static dusk_memory query(void)
{
    char proc[PATH_MAX], sys[PATH_MAX];
    snprintf(proc, sizeof proc, "%s/proc", base);
    snprintf(sys, sizeof sys, "%s/sys", base);
    dusk_memory m;
    memset(&m, 0x55, sizeof m);
    CHECK_OK(dusk__memory_query_at(proc, sys, &m));
    return m;
}

static const char meminfo[] = "MemTotal:       24000000 kB\n"
                              "MemFree:         1000000 kB\n"
                              "MemAvailable:    2000000 kB\n"
                              "Buffers:           10000 kB\n";

int main(void)
{
    /* /proc/meminfo alone: MemAvailable, in bytes */
    tree("meminfo");
    put("proc/meminfo", "%s", meminfo);
    dusk_memory m = query();
    CHECK_EQ(m.meminfo, 2000000LL * 1024);
    CHECK_EQ(m.cgroup, -1);
    CHECK_EQ(m.available, m.meminfo);

    /* v2: the process's cgroup leaves 1000000 - (400000 - 100000 inactive page cache), its
     * parent only 500000 - 450000: the parent bounds it */
    tree("v2");
    put("proc/meminfo", "%s", meminfo);
    put("proc/self/cgroup", "0::/a/b\n");
    put("sys/a/b/memory.max", "1000000\n");
    put("sys/a/b/memory.current", "400000\n");
    put("sys/a/b/memory.stat", "anon 300000\nfile 100000\ninactive_file 100000\n");
    put("sys/a/memory.max", "500000\n");
    put("sys/a/memory.current", "450000\n");
    put("sys/memory.max", "max\n");
    m = query();
    CHECK_EQ(m.cgroup, 50000);
    CHECK_EQ(m.available, 50000);
    CHECK_EQ(m.meminfo, 2000000LL * 1024);

    /* the same with the parent unlimited: the cgroup's own room, page cache not counted */
    put("sys/a/memory.max", "max\n");
    m = query();
    CHECK_EQ(m.cgroup, 700000);
    CHECK_EQ(m.available, 700000);

    /* a cgroup above its limit has no room at all */
    put("sys/a/b/memory.current", "2000000\n");
    put("sys/a/b/memory.stat", "inactive_file 0\n");
    m = query();
    CHECK_EQ(m.cgroup, 0);
    CHECK_EQ(m.available, 0);

    /* a limit above MemAvailable does not raise it */
    put("sys/a/b/memory.max", "%lld\n", 1LL << 50);
    put("sys/a/b/memory.current", "0\n");
    m = query();
    CHECK_EQ(m.cgroup, 1LL << 50);
    CHECK_EQ(m.available, m.meminfo);

    /* v1, in a process listed in several hierarchies; an unlimited root */
    tree("v1");
    put("proc/meminfo", "%s", meminfo);
    put("proc/self/cgroup", "9:pids:/x\n4:cpu,memory:/p/q\n1:name=systemd:/\n0::/\n");
    put("sys/memory/p/q/memory.limit_in_bytes", "2000000\n");
    put("sys/memory/p/q/memory.usage_in_bytes", "1500000\n");
    put("sys/memory/p/q/memory.stat", "cache 0\ninactive_file 7\ntotal_inactive_file 500000\n");
    put("sys/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/memory/memory.usage_in_bytes", "1000\n");
    m = query();
    CHECK_EQ(m.cgroup, 1000000);
    CHECK_EQ(m.available, 1000000);

    /* v2 mounted at /sys/fs/cgroup/unified beside v1 (the hybrid layout) */
    tree("hybrid");
    put("proc/meminfo", "%s", meminfo);
    put("proc/self/cgroup", "4:memory:/\n0::/job\n");
    put("sys/unified/job/memory.max", "123456\n");
    put("sys/unified/job/memory.current", "6\n");
    m = query();
    CHECK_EQ(m.cgroup, 123450);

    /* a limit but no /proc/meminfo: the limit alone */
    tree("nomeminfo");
    put("proc/self/cgroup", "0::/\n");
    put("sys/memory.max", "4096\n");
    m = query();
    CHECK_EQ(m.meminfo, -1);
    CHECK_EQ(m.available, 4096);

    /* nothing readable: DUSK_EIO, every field -1; malformed files count as unreadable */
    tree("nothing");
    put("proc/meminfo", "MemAvailable: lots\n");
    put("proc/self/cgroup", "0::/\n");
    put("sys/memory.max", "12abc\n");
    char proc[PATH_MAX], sys[PATH_MAX];
    snprintf(proc, sizeof proc, "%s/proc", base);
    snprintf(sys, sizeof sys, "%s/sys", base);
    CHECK_EQ(dusk__memory_query_at(proc, sys, &m), DUSK_EIO);
    CHECK_EQ(m.available, -1);
    CHECK_EQ(m.meminfo, -1);
    CHECK_EQ(m.cgroup, -1);

    /* this machine: available is at most MemAvailable, which matches our own reading */
    CHECK_EQ(dusk_memory_query(NULL), DUSK_EINVAL);
    CHECK_OK(dusk_memory_query(&m));
    FILE *fp = fopen("/proc/meminfo", "r");
    CHECK(fp != NULL);
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, fp) != NULL)
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
    fclose(fp);
    CHECK_GT(kb, 0);
    CHECK_GT(m.meminfo, 0);
    CHECK_NEAR((double)m.meminfo, (double)kb * 1024, 0.2 * (double)kb * 1024);
    CHECK_LE(m.available, m.meminfo);
    CHECK_GE(m.available, 0);
    printf("memory here: available %lld, MemAvailable %lld, cgroup %lld\n", (long long)m.available,
           (long long)m.meminfo, (long long)m.cgroup);

    /* disk: a directory, and a path below it that does not exist yet, read statvfs's figure */
    int64_t bytes, missing;
    struct statvfs st;
    CHECK_EQ(statvfs("/tmp", &st), 0);
    double expect = (double)st.f_bavail * (double)st.f_frsize;
    CHECK_OK(dusk_disk_available("/tmp", &bytes));
    CHECK_NEAR((double)bytes, expect, 0.05 * expect + 1e8);
    CHECK_OK(dusk_disk_available("/tmp/dusk-no-such-dir/a/b/c.npy", &missing));
    CHECK_NEAR((double)missing, expect, 0.05 * expect + 1e8);
    CHECK_OK(dusk_disk_available("dusk-no-such-relative-dir/x", &missing));
    CHECK_GE(missing, 0);
    CHECK_EQ(dusk_disk_available("", &bytes), DUSK_EINVAL);
    CHECK_EQ(bytes, -1);
    CHECK_EQ(dusk_disk_available(NULL, &bytes), DUSK_EINVAL);
    CHECK_EQ(dusk_disk_available("/tmp", NULL), DUSK_EINVAL);
    /* a file system with no size (procfs) says nothing, rather than "0 bytes free" */
    CHECK_EQ(dusk_disk_available("/proc/dusk-no-such-dir", &bytes), DUSK_ENODEV);
    CHECK_EQ(bytes, -1);

    /* sizes as the refusals print them: decimal units, one decimal */
    const struct {
        int64_t bytes;
        const char *text;
    } sizes[] = {{0, "0 bytes"},
                 {999, "999 bytes"},
                 {1000, "1.0 kB"},
                 {43352192, "43.4 MB"},
                 {80LL * 1000000000, "80.0 GB"},
                 {INT64_MAX, "9.2 EB"}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char text[32];
        dusk_bytes_text(text, sizeof text, sizes[i].bytes);
        CHECK_EQ(strcmp(text, sizes[i].text), 0);
    }

    /* workers: what was asked for, at most what StarPU can run */
    dusk_config cfg;
    char why[256];
    unsetenv("STARPU_NCPU");
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    CHECK_EQ(dusk_config_cpu_workers(&cfg), 1);
    cfg.ncpu = 4000;
#ifdef STARPU_MAXCPUS
    CHECK_EQ(dusk_config_cpu_workers(&cfg), STARPU_MAXCPUS);
#else
    CHECK_EQ(dusk_config_cpu_workers(&cfg), 4000);
#endif
    cfg.ncpu = -1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_GE(dusk_config_cpu_workers(&cfg), 1);
    CHECK_LE(dusk_config_cpu_workers(&cfg), cores);
    return 0;
}
