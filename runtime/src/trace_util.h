/* What the trace writer (trace.c) and reader (trace_read.c) share: a growable string with
 * JSON escaping, and the codelet colour palette. Private. */
#ifndef DUSK_TRACE_UTIL_H
#define DUSK_TRACE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dusk.h"

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
/* s as a JSON string, quotes included; '<' and '>' are escaped too so that the result can be
 * embedded in an HTML <script>. NULL is written as "". */
void dusk__sb_json(dusk__sb *b, const char *s);

/* The fill colour of a codelet ("#rrggbb", static), the same in dag.dot and report.html. */
const char *dusk__codelet_color(const char *codelet);

#endif
