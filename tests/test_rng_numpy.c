/* dusk_mt19937_fill against values NumPy produced (tests/fixtures/mt19937.txt), bit for bit,
 * including values deep into the stream (past several regenerations of the state). */
#include <stdint.h>

#include "dusk_linalg.h"
#include "test.h"

int main(int argc, char **argv)
{
    CHECK_EQ(argc, 2);
    FILE *f = fopen(argv[1], "r");
    CHECK(f != NULL);
    char line[256];
    int blocks = 0, values = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long seed;
        long long count, skip;
        if (line[0] == '#') continue;
        CHECK_EQ(sscanf(line, "seed %llu count %lld skip %lld", &seed, &count, &skip), 3);
        double *got = malloc((size_t)(skip + count) * sizeof *got);
        CHECK(got != NULL);
        dusk_mt19937_fill((uint32_t)seed, got, skip + count);
        for (long long i = 0; i < count; i++) {
            double want;
            CHECK(fgets(line, sizeof line, f) != NULL);
            want = strtod(line, NULL);
            if (got[skip + i] != want)
                TEST_FAIL_("seed %llu value %lld: got %a, NumPy gave %a", seed, skip + i,
                           got[skip + i], want);
            values++;
        }
        free(got);
        blocks++;
    }
    fclose(f);
    CHECK_GE(blocks, 5);
    CHECK_GE(values, 40);

    /* The first value of np.random.seed(0); np.random.rand() is well known. */
    double first;
    dusk_mt19937_fill(0, &first, 1);
    CHECK_NEAR(first, 0.5488135039273248, 0);
    printf("%d blocks, %d values equal to NumPy's\n", blocks, values);
    return 0;
}
