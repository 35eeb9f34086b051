/* MT19937 as NumPy's legacy RandomState uses it (numpy/random/src/mt19937), so that
 * dusk_mt19937_fill(s, ...) equals np.random.seed(s); np.random.rand(...) bit for bit. */
#include "dusk_linalg.h"

#define MT_N 624
#define MT_M 397

typedef struct mt_state {
    uint32_t key[MT_N];
    int pos;
} mt_state;

/* init_genrand: what np.random.seed(int) does for a seed below 2**32. */
static void mt_seed(mt_state *st, uint32_t seed)
{
    st->key[0] = seed;
    for (int i = 1; i < MT_N; i++)
        st->key[i] = 1812433253u * (st->key[i - 1] ^ (st->key[i - 1] >> 30)) + (uint32_t)i;
    st->pos = MT_N;
}

static void mt_regenerate(mt_state *st)
{
    uint32_t *k = st->key;
    int i;
    for (i = 0; i < MT_N - MT_M; i++) {
        uint32_t y = (k[i] & 0x80000000u) | (k[i + 1] & 0x7fffffffu);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    for (; i < MT_N - 1; i++) {
        uint32_t y = (k[i] & 0x80000000u) | (k[i + 1] & 0x7fffffffu);
        k[i] = k[i + (MT_M - MT_N)] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    }
    uint32_t y = (k[MT_N - 1] & 0x80000000u) | (k[0] & 0x7fffffffu);
    k[MT_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ (-(y & 1u) & 0x9908b0dfu);
    st->pos = 0;
}

static inline uint32_t mt_next(mt_state *st)
{
    if (st->pos == MT_N) mt_regenerate(st);
    uint32_t y = st->key[st->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

void dusk_mt19937_fill(uint32_t seed, double *out, int64_t count)
{
    mt_state st;
    mt_seed(&st, seed);
    for (int64_t i = 0; i < count; i++) {
        uint32_t a = mt_next(&st) >> 5, b = mt_next(&st) >> 6;
        out[i] = ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
    }
}
