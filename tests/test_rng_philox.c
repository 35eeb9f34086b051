/* Philox4x32-10 against Random123's published known-answer vectors (tests/kat_vectors of
 * github.com/DEShawResearch/random123), and dusk's stream of doubles built from it as
 * dusk_linalg.h documents, computed here independently from the raw blocks. */
#include "dusk_linalg.h"
#include "test.h"

static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

/* The documented construction, written out again with floating-point operations. */
static double expected_double(uint32_t a, uint32_t b)
{
    return ldexp((double)(a >> 5) * 67108864.0 + (double)(b >> 6), -53);
}

int main(void)
{
    for (size_t k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        dusk_philox4x32_10(kat[k].ctr, kat[k].key, out);
        for (int i = 0; i < 4; i++)
            CHECK_EQ(out[i], kat[k].out[i]);
    }

    /* The stream: block j under key {seed lo, seed hi} with counter {j lo, j hi, 0, 0}. */
    const uint64_t seeds[] = {0, 1, 42, 0xffffffffu, 0x123456789abcdefull};
    enum { COUNT = 2001 };
    static double got[COUNT], shorter[COUNT];
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        uint64_t seed = seeds[s];
        dusk_philox_fill(seed, got, COUNT);
        for (int64_t j = 0; 2 * j < COUNT; j++) {
            uint32_t ctr[4] = {(uint32_t)j, 0, 0, 0},
                     key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
            uint32_t x[4];
            dusk_philox4x32_10(ctr, key, x);
            CHECK(got[2 * j] == expected_double(x[0], x[1]));
            if (2 * j + 1 < COUNT) CHECK(got[2 * j + 1] == expected_double(x[2], x[3]));
        }
        /* A prefix of the stream is the stream of the shorter length (odd lengths too). */
        dusk_philox_fill(seed, shorter, 777);
        CHECK(memcmp(shorter, got, 777 * sizeof *got) == 0);
    }
    /* Block 2^32 uses the high counter word: not the same as block 0. */
    uint32_t c0[4] = {0, 0, 0, 0}, c1[4] = {0, 1, 0, 0}, key[2] = {7, 0}, x0[4], x1[4];
    dusk_philox4x32_10(c0, key, x0);
    dusk_philox4x32_10(c1, key, x1);
    CHECK(memcmp(x0, x1, sizeof x0) != 0);

    /* Uniform on [0, 1): range, mean and variance of a million draws. */
    enum { BIG = 1000000 };
    double *u = malloc(BIG * sizeof *u);
    CHECK(u != NULL);
    dusk_philox_fill(2024, u, BIG);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < BIG; i++) {
        CHECK(u[i] >= 0.0 && u[i] < 1.0);
        sum += u[i];
        sum2 += u[i] * u[i];
    }
    double mean = sum / BIG, var = sum2 / BIG - mean * mean;
    CHECK_NEAR(mean, 0.5, 5 * sqrt(1.0 / 12 / BIG));
    CHECK_NEAR(var, 1.0 / 12, 0.001);
    free(u);
    printf("philox: 3 known-answer vectors, the stream of 5 seeds, mean %.5f var %.5f\n", mean,
           var);
    return 0;
}
