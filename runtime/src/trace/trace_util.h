/* What the trace writer (trace.c) and reader (trace_read.c) share besides the I/O layer's
 * string builder: the codelet colour palette. Private. */
#ifndef DUSK_TRACE_UTIL_H
#define DUSK_TRACE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "dusk.h"
#include "io.h" /* dusk__sb */

/* The fill colour of a codelet ("#rrggbb", static), the same in dag.dot and report.html. */
const char *dusk__codelet_color(const char *codelet);

#endif
