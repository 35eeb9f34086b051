/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
 * one implementation that both the CPU (philox.c) and CUDA (gen_philox_cuda.cu) generators
 * compile, so that they give the same numbers bit for bit. Private to codelets/.
 *
 * The stream for a 64-bit seed: block j (j = 0, 1, ...) is Philox4x32-10 of the counter
 * {j mod 2^32, j / 2^32, 0, 0} under the key {seed mod 2^32, seed / 2^32}; its four words
 * x0..x3 make doubles 2j and 2j + 1, each from 53 bits as NumPy makes them:
 * ((x0 >> 5) * 2^26 + (x1 >> 6)) / 2^53, then the same of x2, x3. Every step is integer
 * arithmetic, and the last is an exact conversion and a multiplication by a power of two, so
 * no compiler or device can round it differently. */
#ifndef DUSK_PHILOX_H
#define DUSK_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define DUSK__PHILOX_FN static inline __host__ __device__
#else
#define DUSK__PHILOX_FN static inline
#endif

typedef struct dusk__philox4x32 {
    uint32_t v[4];
} dusk__philox4x32;

DUSK__PHILOX_FN uint32_t dusk__mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* Philox4x32 with 10 rounds of counter `c` under key {k0, k1}. */
DUSK__PHILOX_FN dusk__philox4x32 dusk__philox4x32_10(dusk__philox4x32 c, uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) { /* the key schedule: bumped before every round but the first */
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint32_t hi0, hi1;
        uint32_t lo0 = dusk__mulhilo32(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = dusk__mulhilo32(0xCD9E8D57u, c.v[2], &hi1);
        dusk__philox4x32 n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
    }
    return c;
}

/* A double in [0, 1) from 53 of the bits of two words, as NumPy's random_double does. */
DUSK__PHILOX_FN double dusk__philox_double(uint32_t a, uint32_t b)
{
    uint64_t bits = ((uint64_t)(a >> 5) << 26) | (uint64_t)(b >> 6);
    return (double)bits * (1.0 / 9007199254740992.0);
}

/* Block j of the stream of `seed`: doubles 2j and 2j + 1. */
DUSK__PHILOX_FN void dusk__philox_block(uint64_t seed, uint64_t j, double out[2])
{
    dusk__philox4x32 c = {{(uint32_t)j, (uint32_t)(j >> 32), 0, 0}};
    dusk__philox4x32 x = dusk__philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    out[0] = dusk__philox_double(x.v[0], x.v[1]);
    out[1] = dusk__philox_double(x.v[2], x.v[3]);
}

#endif
