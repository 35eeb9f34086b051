/* What the trace writer (trace.c) and the report (trace_report.c) share besides the I/O
 * layer's string builder: the codelet colour palette (trace_palette.c). Private. */
#ifndef DUSK_TRACE_UTIL_H
#define DUSK_TRACE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dusk.h"
#include "io.h" /* dusk__sb */

/* The fill colour of a codelet ("#rrggbb", static), from its name alone, so that dag.dot
 * and report.html agree. NULL and "other" are grey. Thread-safe. */
const char *dusk__codelet_color(const char *codelet);

#endif
