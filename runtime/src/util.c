#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dusk_internal.h"

double dusk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t dusk_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

char *dusk__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void dusk__set_why(char *why, size_t whylen, const char *fmt, ...)
{
    if (why == NULL || whylen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

/* A whole decimal integer in [lo, hi]: no trailing characters, no overflow.
 * Returns 0, DUSK__NOT_A_NUMBER or DUSK__OUT_OF_RANGE, so that callers can say which. */
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
