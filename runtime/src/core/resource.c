/* How much memory and disk this process may still use, asked before a run allocates. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dusk_internal.h"
#include "resource.h"

/* A cgroup v1 limit at or above this means "no limit" (the kernel writes 2^63 rounded down
 * to a page). */
#define NO_LIMIT ((int64_t)1 << 62)

/* The first line of a small file, without its newline. Returns 0 or -1. */
static int read_line(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) return -1;
    char *got = fgets(buf, (int)len, fp);
    fclose(fp);
    if (got == NULL) return -1;
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

/* A file holding one non-negative integer, or "max" (-> INT64_MAX). Returns 0 or -1. */
static int read_int_file(const char *path, int64_t *out)
{
    char buf[64];
    if (read_line(path, buf, sizeof buf) != 0) return -1;
    if (strcmp(buf, "max") == 0) {
        *out = INT64_MAX;
        return 0;
    }
    long long v;
    if (dusk__parse_int(buf, 0, INT64_MAX, &v) != 0) return -1;
    *out = v;
    return 0;
}

/* The value of `key` (followed by a space or ':') in a "key value [kB]" file, times `unit`.
 * Returns 0 or -1. */
static int read_keyed(const char *path, const char *key, int64_t unit, int64_t *out)
{
    FILE *fp = fopen(path, "re");
    if (fp == NULL) return -1;
    char line[256];
    size_t klen = strlen(key);
    int rc = -1;
    while (fgets(line, sizeof line, fp) != NULL) {
        if (strncmp(line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != ':')) continue;
        char *p = line + klen + 1, *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end != p && errno == 0 && v >= 0 && v <= INT64_MAX / unit) {
            *out = v * unit;
            rc = 0;
        }
        break;
    }
    fclose(fp);
    return rc;
}

/* Room left in the cgroup at dir (limit - usage + inactive page cache, which the kernel
 * reclaims before it fails an allocation), or -1 when dir sets no limit. */
static int64_t cgroup_room(const char *dir, int v2)
{
    char path[PATH_MAX + 64];
    int64_t limit, usage, inactive = 0;
    snprintf(path, sizeof path, "%s/%s", dir, v2 ? "memory.max" : "memory.limit_in_bytes");
    if (read_int_file(path, &limit) != 0 || limit >= NO_LIMIT) return -1;
    snprintf(path, sizeof path, "%s/%s", dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    if (read_int_file(path, &usage) != 0) usage = 0;
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    if (read_keyed(path, v2 ? "inactive_file" : "total_inactive_file", 1, &inactive) != 0)
        inactive = 0;
    if (inactive > usage) inactive = usage;
    usage -= inactive;
    return usage >= limit ? 0 : limit - usage;
}

/* The least room left in the cgroup at root/rel and each of its ancestors up to root (every
 * one of them bounds this process), or -1 when none sets a limit. */
static int64_t cgroup_walk(const char *root, const char *rel, int v2)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s%s", root, rel) >= (int)sizeof dir) return -1;
    size_t rootlen = strlen(root);
    size_t n = strlen(dir);
    while (n > rootlen && dir[n - 1] == '/')
        dir[--n] = '\0';
    int64_t least = -1;
    for (;;) {
        int64_t room = cgroup_room(dir, v2);
        if (room >= 0 && (least < 0 || room < least)) least = room;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= rootlen || slash == NULL || (size_t)(slash - dir) < rootlen) break;
        *slash = '\0';
    }
    return least;
}

/* Room left under a process limit of `limit` bytes (-1: none) for a use of `key` in
 * PROC/self/status (VmSize, VmData), or -1 when there is no limit. */
static int64_t rlimit_room(const char *proc, int64_t limit, const char *key)
{
    if (limit < 0) return -1;
    char path[PATH_MAX];
    int64_t used = 0;
    snprintf(path, sizeof path, "%s/self/status", proc);
    if (read_keyed(path, key, 1024, &used) != 0) used = 0; /* the limit alone, then */
    return used >= limit ? 0 : limit - used;
}

int dusk__memory_query_at(const char *proc, const char *sys_cgroup, dusk_memory *out)
{
    return dusk__memory_query_lim(proc, sys_cgroup, -1, -1, out);
}

int dusk__memory_query_lim(const char *proc, const char *sys_cgroup, int64_t as_limit,
                           int64_t data_limit, dusk_memory *out)
{
    char path[PATH_MAX], root[PATH_MAX];
    out->available = -1;
    out->meminfo = -1;
    out->cgroup = -1;
    out->rlimit = -1;
    /* ulimit -v bounds the address space (what is mapped, VmSize), ulimit -d the data
     * (VmData): a run past either fails in malloc, or in StarPU's assertions */
    int64_t as_room = rlimit_room(proc, as_limit, "VmSize");
    int64_t data_room = rlimit_room(proc, data_limit, "VmData");
    out->rlimit = as_room < 0 || (data_room >= 0 && data_room < as_room) ? data_room : as_room;
    snprintf(path, sizeof path, "%s/meminfo", proc);
    int64_t v;
    if (read_keyed(path, "MemAvailable", 1024, &v) == 0) out->meminfo = v;

    /* /proc/self/cgroup: "0::/path" for v2, "N:a,memory,b:/path" for v1 */
    snprintf(path, sizeof path, "%s/self/cgroup", proc);
    FILE *fp = fopen(path, "re");
    char line[PATH_MAX + 64];
    while (fp != NULL && fgets(line, sizeof line, fp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL || c2[1] != '/') continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *rel = c2 + 1;
        int64_t room = -1;
        if (*controllers == '\0') { /* v2: the unified hierarchy, alone or beside v1 */
            const char *mounts[] = {"", "/unified"};
            for (int i = 0; i < 2 && room < 0; i++) {
                snprintf(root, sizeof root, "%s%s", sys_cgroup, mounts[i]);
                room = cgroup_walk(root, rel, 1);
            }
        } else {
            char list[256];
            snprintf(list, sizeof list, ",%s,", controllers);
            if (strstr(list, ",memory,") == NULL) continue;
            snprintf(root, sizeof root, "%s/memory", sys_cgroup);
            room = cgroup_walk(root, rel, 0);
        }
        if (room >= 0 && (out->cgroup < 0 || room < out->cgroup)) out->cgroup = room;
    }
    if (fp != NULL) fclose(fp);

    const int64_t known[] = {out->meminfo, out->cgroup, out->rlimit};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] >= 0 && (out->available < 0 || known[i] < out->available))
            out->available = known[i];
    return out->available < 0 ? DUSK_EIO : 0;
}

/* A process limit in bytes, or -1 when there is none. */
static int64_t limit_of(int resource)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    return rl.rlim_cur > (rlim_t)INT64_MAX ? INT64_MAX : (int64_t)rl.rlim_cur;
}

int dusk_memory_query(dusk_memory *out)
{
    if (out == NULL) return DUSK_EINVAL;
    return dusk__memory_query_lim("/proc", "/sys/fs/cgroup", limit_of(RLIMIT_AS),
                                  limit_of(RLIMIT_DATA), out);
}

int dusk_disk_available(const char *path, int64_t *bytes)
{
    if (bytes != NULL) *bytes = -1;
    if (path == NULL || *path == '\0' || bytes == NULL) return DUSK_EINVAL;
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return DUSK_EINVAL;
    /* the path, or the nearest directory above it that exists */
    struct statvfs st;
    for (;;) {
        if (statvfs(dir, &st) == 0) break;
        if (errno != ENOENT && errno != ENOTDIR) return DUSK_EIO;
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            dir[--n] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            strcpy(dir, ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
    }
    if (st.f_blocks == 0) return DUSK_ENODEV; /* /proc, /sys: no size, no files of ours */
    uint64_t avail = (uint64_t)st.f_bavail, unit = (uint64_t)st.f_frsize;
    if (unit == 0) unit = (uint64_t)st.f_bsize;
    *bytes = unit != 0 && avail > (uint64_t)INT64_MAX / unit ? INT64_MAX : (int64_t)(avail * unit);
    return 0;
}

void dusk_bytes_text(char *buf, size_t len, int64_t bytes)
{
    const char *units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1000 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld bytes", (long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

int dusk_config_cpu_workers(const dusk_config *cfg)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cfg != NULL && cfg->ncpu >= 0 ? cfg->ncpu : (cores > 0 ? cores : 1);
#ifdef STARPU_MAXCPUS
    if (n > STARPU_MAXCPUS) n = STARPU_MAXCPUS;
#endif
    return (int)n;
}
