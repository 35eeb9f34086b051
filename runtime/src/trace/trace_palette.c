/* The codelet palette, shared by dag.dot (the writer) and report.html: a codelet's colour is
 * a function of its name alone, so that the two files agree without knowing which codelets
 * the other saw, and no kernel is named here. */
#include <stdint.h>
#include <string.h>

#include "trace_util.h"

/* Ten light colours of distinct hues (from ColorBrewer's Set3), dark text readable on each,
 * none of them the red that outlines a failed task. */
static const char *const PALETTE[] = {"#bebada", "#fdb462", "#fccde5", "#ffed6f", "#fb8072",
                                      "#80b1d3", "#d8b48a", "#8dd3c7", "#bc80bd", "#b3de69"};
#define NPALETTE (sizeof PALETTE / sizeof PALETTE[0])
#define OTHER "#d9d9d9" /* grey: the report's "other" codelets, and a missing name */

const char *dusk__codelet_color(const char *codelet)
{
    if (codelet == NULL || strcmp(codelet, "other") == 0) return OTHER;
    /* FNV-1a, then MurmurHash3's finaliser: FNV alone leaves names that differ in their last
     * letters ("dusk_gen", "dusk_gram") close in its low bits. With ten colours, two of four
     * random names share one about half the time; the built-in kernels' names do not, nor do
     * those of dusk-reduce (tests/test_trace_palette.sh checks both sets). */
    uint32_t h = 2166136261u;
    for (const char *c = codelet; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return PALETTE[h % NPALETTE];
}
