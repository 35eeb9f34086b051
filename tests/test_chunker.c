/* dusk_chunker (dusk_chunker.h), by itself: one item per task until a time is known; then
 * enough items that a task lasts the target (DUSK_CHUNK_SECONDS, or what
 * dusk_chunker_set_target() set: dusk.map(processes=True) asks for longer tasks); never more
 * than a sixteenth (or the tail set) per worker of what is left, nor max_k, nor what is left;
 * a fixed k as given.
 * No StarPU: the chunker needs the C library alone. */
#include <math.h>
#include <stdint.h>

#include "dusk_chunker.h"
#include "test.h"

int main(void)
{
    dusk_chunker *c;
    CHECK_EQ(dusk_chunker_new(-1, 0, 2, &c), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_new(0, 0, 0, &c), DUSK_EINVAL);

    /* automatic, 2 workers, no bound */
    CHECK_OK(dusk_chunker_new(0, 0, 2, &c));
    CHECK_EQ(dusk_chunker_next(c, 1000000), 1); /* nothing measured: one item */
    CHECK_EQ(dusk_chunker_next(c, 0), 0);
    dusk_chunker_add(c, 100, 0.1); /* 1 ms an item */
    int64_t k = dusk_chunker_next(c, 1000000);
    CHECK_EQ(k, (int64_t)ceil(DUSK_CHUNK_SECONDS / 0.001));
    /* a longer target: k grows with it */
    CHECK_EQ(dusk_chunker_set_target(c, -1, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_set_target(c, 61, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_set_target(c, NAN, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_set_target(c, 1, -1), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_set_target(c, 1, 65), DUSK_EINVAL);
    CHECK_EQ(dusk_chunker_set_target(NULL, 1, 0), DUSK_EINVAL);
    CHECK_OK(dusk_chunker_set_target(c, 0.05, 0));
    CHECK_EQ(dusk_chunker_next(c, 1000000), 50);
    /* near the end: at most a sixteenth per worker of what is left, at least one */
    CHECK_EQ(dusk_chunker_next(c, 32 * 20), 20);
    CHECK_EQ(dusk_chunker_next(c, 3), 1);
    CHECK_EQ(dusk_chunker_largest(c), 50);
    /* a tail of 2: a quarter of what is left (2 workers) */
    CHECK_OK(dusk_chunker_set_target(c, 0.05, 2));
    CHECK_EQ(dusk_chunker_next(c, 4 * 20), 20);
    CHECK_EQ(dusk_chunker_next(c, 1000000), 50);
    /* 0, 0: the defaults again */
    CHECK_OK(dusk_chunker_set_target(c, 0, 0));
    CHECK_EQ(dusk_chunker_next(c, 1000000), k);
    CHECK_EQ(dusk_chunker_next(c, 32 * 1), 1);
    dusk_chunker_free(&c);
    CHECK(c == NULL);

    /* bounded by max_k (memory), and a fixed k stays fixed whatever the time */
    CHECK_OK(dusk_chunker_new(0, 7, 1, &c));
    dusk_chunker_add(c, 1000, 0.001);
    CHECK_EQ(dusk_chunker_next(c, 1000000), 7);
    dusk_chunker_free(&c);
    CHECK_OK(dusk_chunker_new(5, 0, 4, &c));
    CHECK_OK(dusk_chunker_set_target(c, 10, 1));
    dusk_chunker_add(c, 1, 1.0);
    CHECK_EQ(dusk_chunker_next(c, 1000000), 5);
    CHECK_EQ(dusk_chunker_next(c, 3), 3);
    dusk_chunker_free(&c);
    return 0;
}
