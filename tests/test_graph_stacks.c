/* Stacks: K matrices in one data object, computed by the built-in kernels as K tasks of one
 * would compute them (the same values bit for bit), failing item by item: a NaN matrix in the
 * middle of a stack fails that item alone (its failure named by item, the tasks after it
 * skipping it), the others are computed. Also wraps over the caller's memory, held reads
 * finished from another thread, observers seeing every task's life, and the refusals: stacks of
 * different counts, item counts that do not match, reads of data nothing wrote.
 * `test_graph_stacks --injected`, with DUSK_FAIL_TASKS=gen-46: an item failed by DUSK_FAIL_TASKS
 * fails alone (its exit status is the test's, as for the run without it). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "test.h"

enum { N = 12, K = 7 };

/* copy: out (W) = in (R), the whole stack */
static int copy_cpu(dusk_call *call)
{
    int64_t kin, kout, din[2], dout[2];
    const double *in = dusk_call_stack(call, 0, &kin, din);
    double *out = dusk_call_stack(call, 1, &kout, dout);
    CHECK_EQ(kin, kout);
    for (int64_t k = 0; k < kin; k++)
        if (dusk_call_item_status(call, k) == 0)
            memcpy(out + k * din[0] * din[1], in + k * din[0] * din[1],
                   (size_t)(din[0] * din[1]) * sizeof *in);
    return 0;
}

/* poison: item `value` of the stack gets a NaN (an input that eigh refuses) */
static int poison_cpu(dusk_call *call)
{
    int64_t count, dims[2];
    double *a = dusk_call_stack(call, 0, &count, dims);
    const int64_t *bad = dusk_call_value(call, NULL);
    if (*bad >= 0 && *bad < count) a[*bad * dims[0] * dims[1] + 1] = NAN;
    return 0;
}

static dusk_kernel *copy_k, *poison_k;

/* One matrix a = bᵀb of the tutorial's batch, as one-item tasks make it: the reference,
 * copied into the caller's w and v through wraps. */
static void reference(dusk_graph *g, uint32_t seed, double *w, double *v)
{
    dusk_data *b, *a, *wd, *ww, *wv;
    CHECK_OK(dusk_matrix_new(g, N, N, &b));
    CHECK_OK(dusk_matrix_new(g, N, N, &a));
    CHECK_OK(dusk_vector_new(g, N, &wd));
    CHECK_OK(dusk_stack_wrap(g, w, 1, N, 0, &ww));
    CHECK_OK(dusk_stack_wrap(g, v, 1, N, N, &wv));
    dusk_arg gen[] = {{b, DUSK_W}}, gram[] = {{b, DUSK_R}, {a, DUSK_W}};
    dusk_arg eigh[] = {{a, DUSK_RW}, {wd, DUSK_W}};
    dusk_arg cw[] = {{wd, DUSK_R}, {ww, DUSK_W}}, cv[] = {{a, DUSK_R}, {wv, DUSK_W}};
    dusk_eigh_args ea = {.vectors = 1};
    CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), gen, 1, &seed, sizeof seed, NULL, NULL));
    CHECK_OK(dusk_task_submit(g, dusk_kernel_gram(), gram, 2, NULL, 0, NULL, NULL));
    CHECK_OK(dusk_task_submit(g, dusk_kernel_eigh(), eigh, 2, &ea, sizeof ea, NULL, NULL));
    CHECK_OK(dusk_task_submit(g, copy_k, cw, 2, NULL, 0, NULL, NULL));
    CHECK_OK(dusk_task_submit(g, copy_k, cv, 2, NULL, 0, NULL, NULL));
    dusk_data_release(&b);
    dusk_data_release(&a);
    dusk_data_release(&wd);
    dusk_data_release(&ww);
    dusk_data_release(&wv);
}

/* The same K matrices as a stack, seeds 100 + k, with item `bad` poisoned (-1: none); results
 * into the caller's memory through wraps, item statuses into status. */
static void stacked(dusk_graph *g, int64_t bad, double *w, double *v, int *status)
{
    uint32_t seeds[K];
    for (int k = 0; k < K; k++)
        seeds[k] = 100 + (uint32_t)k;
    dusk_data *b, *a, *x, *wd, *vd;
    CHECK_OK(dusk_stack_new(g, K, N, N, &b));
    CHECK_OK(dusk_stack_new(g, K, N, N, &a));
    CHECK_OK(dusk_stack_wrap(g, w, K, N, 0, &wd));
    CHECK_OK(dusk_stack_wrap(g, v, K, N, N, &vd));
    CHECK_OK(dusk_stack_new(g, K, N, N, &x));
    CHECK_EQ(dusk_data_count(b), K);
    dusk_task_opts o;
    CHECK_OK(dusk_task_opts_init(&o));
    o.item_first = 40;
    o.item_count = K;
    o.item_step = 3;
    dusk_arg gen[] = {{b, DUSK_W}}, gram[] = {{b, DUSK_R}, {a, DUSK_W}};
    dusk_arg poison[] = {{a, DUSK_RW}};
    dusk_arg eigh[] = {{a, DUSK_R}, {x, DUSK_W}, {wd, DUSK_W}};
    dusk_arg copy[] = {{x, DUSK_R}, {vd, DUSK_W}};
    dusk_eigh_args ea = {.vectors = 1};
    o.key = "gen";
    CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), gen, 1, seeds, sizeof seeds, &o, NULL));
    o.key = "gram";
    CHECK_OK(dusk_task_submit(g, dusk_kernel_gram(), gram, 2, NULL, 0, &o, NULL));
    o.key = "poison";
    CHECK_OK(dusk_task_submit(g, poison_k, poison, 1, &bad, sizeof bad, &o, NULL));
    o.key = "eigh";
    int64_t eigh_id;
    CHECK_OK(dusk_task_submit(g, dusk_kernel_eigh(), eigh, 3, &ea, sizeof ea, &o, &eigh_id));
    o.key = "copy";
    CHECK_OK(dusk_task_submit(g, copy_k, copy, 2, NULL, 0, &o, NULL));
    dusk_data_release(&b);
    dusk_data_release(&a);
    dusk_data_release(&x);
    dusk_data_release(&vd);
    CHECK_OK(dusk_graph_wait(g));
    for (int k = 0; k < K; k++)
        status[k] = dusk_data_item_status(wd, k);
    CHECK_EQ(dusk_task_status(g, eigh_id), 0); /* some items failed, not the task */
    dusk_data_release(&wd);
    CHECK_OK(dusk_graph_wait(g)); /* the results are in the caller's memory */
}

/* ---- observers ------------------------------------------------------------------------ */

typedef struct seen {
    pthread_mutex_t lock;
    int submit, start, finish, status_recorded, items_failed;
} seen;

static void observer(void *user, const dusk_task_event *ev)
{
    seen *s = user;
    pthread_mutex_lock(&s->lock);
    if (ev->kind == DUSK_EVENT_SUBMIT) s->submit++;
    if (ev->kind == DUSK_EVENT_START) s->start++;
    if (ev->kind == DUSK_EVENT_FINISH) {
        s->finish++;
        s->status_recorded += dusk_task_status(ev->graph, ev->id) == ev->status;
        s->items_failed += (int)ev->items_failed;
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- held reads ----------------------------------------------------------------------- */

typedef struct held {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    dusk_read *r;
} held;

static void on_hold(void *user, dusk_read *r)
{
    held *h = user;
    pthread_mutex_lock(&h->lock);
    h->r = r;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void *finish_read(void *arg)
{
    held *h = arg;
    pthread_mutex_lock(&h->lock);
    while (h->r == NULL)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    int64_t count, dims[2];
    const double *values = dusk_read_values(h->r, &count, dims);
    CHECK_EQ(dusk_read_status(h->r), 0);
    CHECK_EQ(count, K);
    CHECK_EQ(dims[0], N);
    CHECK_EQ(dims[1], N);
    double want[N * N];
    dusk_mt19937_fill(100 + 3, want, N * N);
    CHECK(memcmp(values + 3 * N * N, want, sizeof want) == 0);
    dusk_read_done(&h->r);
    CHECK(h->r == NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    bool injected = argc > 1 && strcmp(argv[1], "--injected") == 0;
    if (argc > 1 + injected) {
        fprintf(stderr,
                "test_graph_stacks: unknown argument %s (usage: test_graph_stacks "
                "[--injected])\n",
                argv[1 + injected]);
        return 2;
    }
    /* dusk_config_init reads DUSK_FAIL_TASKS: it must name what this run checks, or nothing */
    const char *inject = getenv("DUSK_FAIL_TASKS");
    if (inject == NULL) inject = "";
    if (strcmp(inject, injected ? "gen-46" : "") != 0) {
        fprintf(stderr, "test_graph_stacks: DUSK_FAIL_TASKS=%s: %s\n", inject,
                injected ? "--injected needs DUSK_FAIL_TASKS=gen-46"
                         : "failures are injected only with --injected (and gen-46)");
        return 1;
    }
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_OK(dusk_kernel_new("copy_stack", copy_cpu, &copy_k));
    CHECK_OK(dusk_kernel_new("poison_stack", poison_cpu, &poison_k));
    seen obs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0};
    int handle;
    CHECK_OK(dusk_observer_add(observer, &obs, &handle));

    if (injected) {
        /* DUSK_FAIL_TASKS names an item of a task whose options name items: that item
         * alone fails (40 + 2 * 3: gen failed, the tasks after it skip it) */
        static double w[K][N], v[K][N * N];
        int status[K];
        dusk_graph *g;
        CHECK_OK(dusk_graph_new(&g));
        stacked(g, -1, &w[0][0], &v[0][0], status);
        for (int k = 0; k < K; k++)
            CHECK_EQ(status[k], k == 2 ? DUSK_EDEP : 0);
        CHECK_EQ(dusk_graph_item_failure_count(g), 1);
        dusk_item_failure f;
        CHECK_OK(dusk_graph_item_failure(g, 0, &f));
        CHECK_EQ(f.item, 46);
        CHECK_EQ(f.status, DUSK_ENUMERIC);
        CHECK(strcmp(f.key, "gen") == 0);
        dusk_graph_free(&g);
        dusk_shutdown();
        printf("injected item failure: ok\n");
        return 0;
    }

    /* the reference: one matrix per task */
    static double wref[K][N], vref[K][N * N];
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    for (int k = 0; k < K; k++)
        reference(g, 100 + (uint32_t)k, wref[k], vref[k]);
    CHECK_OK(dusk_graph_wait(g));
    dusk_graph_free(&g);
    CHECK(wref[0][0] != 0 || wref[0][N - 1] != 0);

    /* the stack, clean: the same bits */
    static double w[K][N], v[K][N * N];
    int status[K];
    CHECK_OK(dusk_graph_new(&g));
    stacked(g, -1, &w[0][0], &v[0][0], status);
    for (int k = 0; k < K; k++) {
        CHECK_EQ(status[k], 0);
        CHECK(memcmp(w[k], wref[k], sizeof w[k]) == 0);
        CHECK(memcmp(v[k], vref[k], sizeof v[k]) == 0);
    }
    CHECK_EQ(dusk_graph_item_failure_count(g), 0);
    dusk_graph_free(&g);

    /* item 3 poisoned: it fails alone, named 40 + 3 * 3 = 49, and copy skips it */
    memset(w, 0, sizeof w);
    memset(v, 0, sizeof v);
    CHECK_OK(dusk_graph_new(&g));
    stacked(g, 3, &w[0][0], &v[0][0], status);
    for (int k = 0; k < K; k++) {
        if (k == 3) {
            CHECK_EQ(status[k], DUSK_EDATA);
            continue;
        }
        CHECK_EQ(status[k], 0);
        CHECK(memcmp(w[k], wref[k], sizeof w[k]) == 0);
        CHECK(memcmp(v[k], vref[k], sizeof v[k]) == 0);
    }
    for (int i = 0; i < N * N; i++)
        CHECK(v[3][i] == 0); /* copy skipped it */
    CHECK_EQ(dusk_graph_item_failure_count(g), 1);
    dusk_item_failure f;
    CHECK_OK(dusk_graph_item_failure(g, 0, &f));
    CHECK_EQ(f.item, 49);
    CHECK_EQ(f.status, DUSK_EDATA);
    CHECK(strcmp(f.key, "eigh") == 0);
    CHECK(strstr(f.reason, "non-finite") != NULL);
    CHECK_EQ(dusk_graph_item_failure(g, 1, &f), DUSK_EINVAL);
    int64_t failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    CHECK_EQ(failed, 0); /* no task failed as a whole */
    dusk_graph_free(&g);

    /* the observer saw every task: 5 x 7 one-item ones, 2 x 5 stacked ones */
    pthread_mutex_lock(&obs.lock);
    CHECK_EQ(obs.submit, 5 * K + 2 * 5);
    CHECK_EQ(obs.finish, obs.submit);
    CHECK_EQ(obs.start, obs.submit);
    CHECK_EQ(obs.status_recorded, obs.finish);
    CHECK_EQ(obs.items_failed, 2); /* eigh's item 3, and copy's (skipped) */
    pthread_mutex_unlock(&obs.lock);
    CHECK_OK(dusk_observer_remove(handle));
    CHECK_EQ(dusk_observer_remove(handle), DUSK_EINVAL);

    /* a held read, finished from another thread */
    CHECK_OK(dusk_graph_new(&g));
    {
        uint32_t seeds[K];
        for (int k = 0; k < K; k++)
            seeds[k] = 100 + (uint32_t)k;
        dusk_data *b;
        CHECK_OK(dusk_stack_new(g, K, N, N, &b));
        dusk_arg gen[] = {{b, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), gen, 1, seeds, sizeof seeds, NULL, NULL));
        held h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, finish_read, &h), 0);
        CHECK_OK(dusk_data_read_hold(b, on_hold, &h));
        dusk_data_release(&b);
        CHECK_OK(dusk_graph_wait(g)); /* returns once the other thread is done with it */
        CHECK_EQ(pthread_join(th, NULL), 0);
    }
    dusk_graph_free(&g);

    /* refusals */
    CHECK_OK(dusk_graph_new(&g));
    {
        dusk_data *s7, *s5, *m, *fresh, *refused = (dusk_data *)&g;
        CHECK_OK(dusk_stack_new(g, 7, 3, 3, &s7));
        CHECK_OK(dusk_vector_new(g, 3, &fresh));
        CHECK_EQ(dusk_stack_new(g, 0, 3, 3, &refused), DUSK_EINVAL);
        CHECK(refused == NULL); /* out-parameters are reset on failure */
        CHECK_OK(dusk_matrix_new(g, 3, 3, &m));
        refused = (dusk_data *)&g;
        CHECK_EQ(dusk_stack_new(g, (int64_t)1 << 40, 1 << 20, 4, &refused), DUSK_EINVAL);
        CHECK(refused == NULL);
        CHECK_OK(dusk_stack_new(g, 5, 3, 3, &s5));
        uint32_t seeds[7] = {0};
        dusk_arg w7[] = {{s7, DUSK_W}}, w5[] = {{s5, DUSK_W}};
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), w7, 1, seeds, sizeof seeds, NULL, NULL));
        CHECK_OK(dusk_task_submit(g, dusk_kernel_gen(), w5, 1, seeds, 5 * 4, NULL, NULL));
        dusk_arg mixed[] = {{s7, DUSK_R}, {s5, DUSK_W}};
        CHECK_EQ(dusk_task_submit(g, copy_k, mixed, 2, NULL, 0, NULL, NULL), DUSK_EINVAL);
        dusk_task_opts o;
        CHECK_OK(dusk_task_opts_init(&o));
        o.item_count = 6; /* the stacks have 7 */
        CHECK_EQ(dusk_task_submit(g, dusk_kernel_gen(), w7, 1, seeds, sizeof seeds, &o, NULL),
                 DUSK_EINVAL);
        /* nothing wrote `fresh`: StarPU would abort on reading it */
        dusk_arg reads_fresh[] = {{fresh, DUSK_R}, {m, DUSK_W}};
        CHECK_EQ(dusk_task_submit(g, copy_k, reads_fresh, 2, NULL, 0, NULL, NULL), DUSK_EINVAL);
        CHECK_EQ(dusk_data_read_hold(fresh, on_hold, NULL), DUSK_EINVAL);
        CHECK_EQ(dusk_graph_set_local(g), DUSK_EINVAL); /* it has data already */
        CHECK_EQ(dusk_data_item_status(s7, 7), DUSK_EINVAL);
        CHECK_EQ(dusk_task_opts_init(NULL), DUSK_EINVAL);
        dusk_data_release(&s7);
        dusk_data_release(&s5);
        dusk_data_release(&m);
        dusk_data_release(&fresh);
    }
    CHECK_OK(dusk_graph_wait(g));
    dusk_graph_free(&g);

    dusk_kernel_free(&copy_k);
    dusk_kernel_free(&poison_k);
    dusk_shutdown();
    printf("stacks: ok\n");
    return 0;
}
