/* dusk_map_run() (dusk_map.h) alone: a per-item C function over a count and over rows in
 * memory or read by a callback, a chunk function that fails items alone, and a batch that
 * leaves the signals to its program (dusk_batch_set_signals) and is stopped with
 * dusk_batch_stop(): no handler of its own, the outcome STOPPED with exit 130. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_map.h"
#include "test.h"

#define T 97

static int item_fn(int64_t item, const double *x, int64_t xlen, double *out, int64_t outlen)
{
    if (item == 13) return 5;
    for (int64_t j = 0; j < outlen; j++)
        out[j] = (double)item * 10 + (double)j + (xlen > 0 ? x[j % xlen] : 0);
    return 0;
}

static int read_row(void *user, int64_t item, double *row)
{
    const double *x = user;
    memcpy(row, x + item * 2, 2 * sizeof *row);
    return 0;
}

/* two outputs: a vector of 3 and a scalar; item 7 fails alone */
static int chunk_fn(void *user, dusk_call *call, int64_t count, const int64_t *items,
                    double *const *outs)
{
    (void)user;
    for (int64_t k = 0; k < count; k++) {
        if (items[k] == 7) {
            dusk_call_fail_item(call, k, DUSK_EDATA, "item %lld refused", (long long)items[k]);
            continue;
        }
        for (int j = 0; j < 3; j++)
            outs[0][k * 3 + j] = (double)(items[k] * 3 + j);
        outs[1][k] = -(double)items[k];
    }
    return 0;
}

static dusk_batch *batch(int nouts, double **mem)
{
    dusk_batch *b = NULL;
    int64_t three = 3;
    CHECK_OK(dusk_batch_new("test-map", T, &b));
    CHECK_OK(dusk_batch_add_output(b, "a", 1, &three, NULL));
    if (nouts > 1) CHECK_OK(dusk_batch_add_output(b, "b", 0, NULL, NULL));
    for (int j = 0; j < nouts; j++) {
        for (int64_t i = 0; i < T * 3; i++)
            mem[j][i] = 0;
        CHECK_OK(dusk_batch_set_memory(b, j, mem[j]));
    }
    CHECK_OK(dusk_batch_set_signals(b, 0));
    CHECK_OK(dusk_batch_open(b));
    return b;
}

int main(void)
{
    dusk_config cfg;
    char why[512];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    struct sigaction before, after;
    CHECK_OK(sigaction(SIGINT, NULL, &before));
    static double a[T * 3], s[T * 3], x[T * 2];
    double *mem[2] = {a, s};
    for (int i = 0; i < T * 2; i++)
        x[i] = 0.25 * i;

    dusk_map_spec spec;
    CHECK_OK(dusk_map_spec_init(&spec));
    dusk_batch *b = batch(1, mem);
    CHECK_OK(sigaction(SIGINT, NULL, &after));
    CHECK(after.sa_handler == before.sa_handler); /* the program's own handler stays */
    int init = dusk_init(&cfg, why, sizeof why);
    if (init != 0) {
        fprintf(stderr, "skip: %s\n", why);
        return TEST_SKIP;
    }
    /* bad specs */
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_EINVAL); /* no name, no function */
    spec.name = "test_map_item";
    spec.item = item_fn;
    spec.chunk = chunk_fn;
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_EINVAL); /* both */
    spec.chunk = NULL;
    spec.xlen = 2;
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_EINVAL); /* rows, but neither x nor read */
    spec.xlen = 0;

    /* an item function over a count */
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_ETASK); /* item 13 failed */
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_ITEMS_FAILED);
    CHECK_EQ(dusk_batch_failure_count(b), 1);
    dusk_batch_failure f;
    CHECK_OK(dusk_batch_get_failure(b, 0, &f));
    CHECK_EQ(f.item, 13);
    CHECK_STR_CONTAINS(f.reason, "test_map_item returned 5 for item 13");
    CHECK_STR_CONTAINS(f.step, "test_map_item");
    for (int i = 0; i < T; i++)
        for (int j = 0; j < 3; j++)
            CHECK(i == 13 ? isnan(a[i * 3 + j]) : a[i * 3 + j] == i * 10 + j);
    dusk_batch_free(&b);

    /* over rows in memory, then read by a callback */
    for (int pass = 0; pass < 2; pass++) {
        b = batch(1, mem);
        spec.xlen = 2;
        spec.x = pass == 0 ? x : NULL;
        spec.read = pass == 0 ? NULL : read_row;
        spec.user = x;
        CHECK_EQ(dusk_map_run(b, &spec), DUSK_ETASK);
        for (int i = 0; i < T; i++)
            for (int j = 0; j < 3; j++)
                CHECK(i == 13 ? isnan(a[i * 3 + j])
                              : a[i * 3 + j] == i * 10 + j + x[i * 2 + j % 2]);
        dusk_batch_free(&b);
    }

    /* a chunk function, two outputs */
    b = batch(2, mem);
    CHECK_OK(dusk_map_spec_init(&spec));
    spec.name = "test_map_chunk";
    spec.chunk = chunk_fn;
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_ETASK);
    CHECK_EQ(dusk_batch_failure_count(b), 1);
    CHECK_OK(dusk_batch_get_failure(b, 0, &f));
    CHECK_EQ(f.item, 7);
    CHECK_STR_CONTAINS(f.reason, "item 7 refused");
    for (int i = 0; i < T; i++) {
        CHECK(i == 7 ? isnan(s[i]) : s[i] == -i);
        CHECK(i == 7 ? isnan(a[i * 3 + 2]) : a[i * 3 + 2] == i * 3 + 2);
    }
    dusk_batch_free(&b);

    /* stopped by the program: STOPPED, 128 + SIGINT, nothing ends the process */
    b = batch(2, mem);
    CHECK_EQ(dusk_batch_stop(NULL, SIGINT), DUSK_EINVAL);
    CHECK_OK(dusk_batch_stop(b, SIGINT));
    CHECK_OK(dusk_batch_stop(b, SIGINT)); /* a second one does nothing more */
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_ECANCELED);
    dusk_batch_state st;
    CHECK_OK(dusk_batch_get_state(b, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_STOPPED);
    CHECK_EQ(st.signal, SIGINT);
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_SIGNAL + SIGINT);
    dusk_batch_free(&b);

    /* the next batch starts afresh */
    b = batch(2, mem);
    CHECK_EQ(dusk_map_run(b, &spec), DUSK_ETASK);
    dusk_batch_free(&b);
    CHECK_OK(sigaction(SIGINT, NULL, &after));
    CHECK(after.sa_handler == before.sa_handler);
    dusk_shutdown();
    printf("ok\n");
    return 0;
}
