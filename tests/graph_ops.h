/* A tiny kernel for graph tests: out[0] = (out[0] if RW) + sum of inputs[0] + add, recording
 * when each task started and ended, and failing on request. */
#ifndef DUSK_TEST_GRAPH_OPS_H
#define DUSK_TEST_GRAPH_OPS_H

#include <time.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "test.h"

typedef struct op_args {
    int id;
    int fail;
    int accumulate; /* the output is read too (RW): add to it */
    double add;
} op_args;

typedef struct op_record {
    double start, end;
    int ran;
} op_record;

#define MAX_OPS 4096
static op_record records[MAX_OPS];

static inline int op_cpu(dusk_call *call)
{
    const op_args *a = dusk_call_value(call, NULL);
    op_record *rec = &records[a->id];
    rec->start = dusk_now();
    rec->ran = 1;
    int nargs = dusk_call_nargs(call);
    int64_t dims[2];
    double sum = a->add;
    for (int i = 0; i < nargs - 1; i++)
        sum += dusk_call_data(call, i, dims)[0];
    double *out = dusk_call_data(call, nargs - 1, dims);
    struct timespec ts = {0, 2000000}; /* 2 ms, so that tasks could overlap if allowed */
    nanosleep(&ts, NULL);
    if (a->fail) {
        dusk_call_fail(call, "boom %d", a->id);
        rec->end = dusk_now();
        return DUSK_EDATA;
    }
    out[0] = a->accumulate ? out[0] + sum : sum;
    rec->end = dusk_now();
    return 0;
}

/* out = op(inputs..., add); out is written (W), or updated (RW) when rw is set */
static inline int64_t op(dusk_graph *g, const dusk_kernel *k, int id, int fail, double add,
                         dusk_data *out, int rw, int nin, dusk_data **in)
{
    dusk_arg args[DUSK_MAX_ARGS];
    for (int i = 0; i < nin; i++)
        args[i] = (dusk_arg){in[i], DUSK_R};
    args[nin] = (dusk_arg){out, rw ? DUSK_RW : DUSK_W};
    op_args a = {id, fail, rw, add};
    int64_t tid;
    CHECK_OK(dusk_task_submit(g, k, args, nin + 1, &a, sizeof a, NULL, &tid));
    return tid;
}

static inline void read_scalar(void *user, int status, const double *values, const int64_t dims[2])
{
    double *dst = user;
    (void)dims;
    dst[0] = status == 0 ? values[0] : NAN;
    dst[1] = status;
}

/* x happened entirely before y */
#define CHECK_BEFORE(x, y)                                                                         \
    do {                                                                                           \
        CHECK(records[x].ran &&records[y].ran);                                                    \
        if (!(records[x].end <= records[y].start))                                                 \
            TEST_FAIL_("task %d (ended %.6f) did not finish before task %d (started %.6f)",        \
                       (int)(x), records[x].end, (int)(y), records[y].start);                      \
    } while (0)

static inline void start_dusk(int window)
{
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    if (window) cfg.window = window;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
}

#endif
