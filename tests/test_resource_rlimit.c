/* dusk_memory_query counts this process's own limits (ulimit -v, -d): RLIMIT_AS less VmSize
 * and RLIMIT_DATA less VmData, with MemAvailable and the cgroup's limit, the lowest being
 * what is available. On a made-up /proc, then on this process under a real RLIMIT_AS and
 * RLIMIT_DATA (soft limits, put back after). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dusk.h"
#include "resource.h"
#include "test.h"

static char base[PATH_MAX];

static void put(const char *rel, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", base, rel);
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    CHECK(fputs(text, fp) >= 0);
    CHECK_EQ(fclose(fp), 0);
}

/* VmSize (or VmData) of this process, in bytes */
static int64_t vm(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    CHECK(fp != NULL);
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, fp) != NULL)
        if (strncmp(line, key, strlen(key)) == 0) kb = atoll(line + strlen(key) + 1);
    fclose(fp);
    CHECK_GE(kb, 0);
    return (int64_t)kb * 1024;
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/dusk-test-rlimit-XXXXXX");
    CHECK(mkdtemp(base) != NULL);
    char proc[PATH_MAX + 16], sys[PATH_MAX + 16], dir[PATH_MAX + 32];
    snprintf(proc, sizeof proc, "%s/proc", base);
    snprintf(sys, sizeof sys, "%s/sys", base);
    snprintf(dir, sizeof dir, "%s/proc/self", base);
    CHECK_EQ(mkdir(proc, 0777), 0);
    CHECK_EQ(mkdir(dir, 0777), 0);
    put("proc/meminfo", "MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n");
    put("proc/self/status", "Name:\tx\nVmPeak:\t 300000 kB\nVmSize:\t  200000 kB\n"
                            "VmData:\t   50000 kB\n");
    const int64_t k = 1024, mem = 4000000 * k;
    dusk_memory m;

    /* no limit: as before */
    CHECK_OK(dusk__memory_query_lim(proc, sys, -1, -1, &m));
    CHECK_EQ(m.rlimit, -1);
    CHECK_EQ(m.available, mem);
    CHECK_OK(dusk__memory_query_at(proc, sys, &m));
    CHECK_EQ(m.rlimit, -1);

    /* ulimit -v 1000000: 1000000 - 200000 kB left */
    CHECK_OK(dusk__memory_query_lim(proc, sys, 1000000 * k, -1, &m));
    CHECK_EQ(m.rlimit, 800000 * k);
    CHECK_EQ(m.available, 800000 * k);
    CHECK_EQ(m.meminfo, mem);
    /* ulimit -d 300000 too: 250000 kB left, the lower */
    CHECK_OK(dusk__memory_query_lim(proc, sys, 1000000 * k, 300000 * k, &m));
    CHECK_EQ(m.rlimit, 250000 * k);
    CHECK_EQ(m.available, 250000 * k);
    /* a limit above MemAvailable: MemAvailable bounds it */
    CHECK_OK(dusk__memory_query_lim(proc, sys, 100000000 * k, -1, &m));
    CHECK_EQ(m.available, mem);
    /* already past the limit: nothing left */
    CHECK_OK(dusk__memory_query_lim(proc, sys, 100000 * k, -1, &m));
    CHECK_EQ(m.rlimit, 0);
    CHECK_EQ(m.available, 0);
    /* a limit alone is enough to answer */
    put("proc/meminfo", "");
    CHECK_OK(dusk__memory_query_lim(proc, sys, 1000000 * k, -1, &m));
    CHECK_EQ(m.meminfo, -1);
    CHECK_EQ(m.available, 800000 * k);
    CHECK_EQ(dusk__memory_query_lim(proc, sys, -1, -1, &m), DUSK_EIO);
    CHECK(m.available == -1 && m.meminfo == -1 && m.cgroup == -1 && m.rlimit == -1);

    /* this process, under real soft limits 256 MB above what it uses */
    struct rlimit as0, data0, lim;
    CHECK_EQ(getrlimit(RLIMIT_AS, &as0), 0);
    CHECK_EQ(getrlimit(RLIMIT_DATA, &data0), 0);
    const int64_t room = 256 << 20, slack = 16 << 20;
    lim = as0;
    lim.rlim_cur = (rlim_t)(vm("VmSize") + room);
    if (as0.rlim_max != RLIM_INFINITY && lim.rlim_cur > as0.rlim_max) lim.rlim_cur = as0.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_AS, &lim), 0);
    CHECK_OK(dusk_memory_query(&m));
    CHECK(m.rlimit > room - slack && m.rlimit <= room);
    CHECK_LE(m.available, m.rlimit);
    CHECK_EQ(setrlimit(RLIMIT_AS, &as0), 0);
    lim = data0;
    lim.rlim_cur = (rlim_t)(vm("VmData") + room / 2);
    if (data0.rlim_max != RLIM_INFINITY && lim.rlim_cur > data0.rlim_max)
        lim.rlim_cur = data0.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_DATA, &lim), 0);
    CHECK_OK(dusk_memory_query(&m));
    CHECK(m.rlimit > room / 2 - slack && m.rlimit <= room / 2);
    CHECK_EQ(setrlimit(RLIMIT_DATA, &data0), 0);
    CHECK_OK(dusk_memory_query(&m));
    if (as0.rlim_cur == RLIM_INFINITY && data0.rlim_cur == RLIM_INFINITY) CHECK_EQ(m.rlimit, -1);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
