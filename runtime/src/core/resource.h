/* resource.c's query on other roots than /proc and /sys/fs/cgroup, for its tests. */
#ifndef DUSK_RESOURCE_H
#define DUSK_RESOURCE_H

#include "dusk.h"

/* dusk_memory_query() reading PROC/meminfo, PROC/self/cgroup and the cgroup files under
 * SYS_CGROUP (v2 at SYS_CGROUP or SYS_CGROUP/unified, v1 at SYS_CGROUP/memory). */
int dusk__memory_query_at(const char *proc, const char *sys_cgroup, dusk_memory *out);

/* The same, with the limits RLIMIT_AS and RLIMIT_DATA would give (bytes; -1: none), counted
 * against VmSize and VmData in PROC/self/status. */
int dusk__memory_query_lim(const char *proc, const char *sys_cgroup, int64_t as_limit,
                           int64_t data_limit, dusk_memory *out);

#endif
