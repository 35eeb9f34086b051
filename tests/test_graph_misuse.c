/* Misusing the graph API gets an error code, never an abort or a hang (issue 17, C API items
 * 1, 3, 4, 5 and 6): data too large to allocate fails its task with DUSK_ENOMEM and a reason
 * naming the size, and its readers with DUSK_EDEP; reading data that nothing wrote is
 * DUSK_EINVAL at the call; after dusk_shutdown() the calls that need StarPU are DUSK_ESTATE,
 * and dusk_shutdown() itself first waits for the work in flight; dusk_graph_wait() on a held
 * graph with recorded operations is DUSK_ESTATE and runs nothing; NULL handles are
 * DUSK_EINVAL (or the value their declaration gives). Before the fixes each of these was an
 * abort inside StarPU (SIGABRT), a segfault or a hang, which no CHECK here would survive: this
 * test then died or hit its ctest TIMEOUT. */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <time.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "test.h"

/* Every element of its last argument = the by-value double plus the first element of each
 * argument before it; `slow` tasks sleep first, so that they are still running when the test
 * acts. */
typedef struct set_args {
    double value;
    int slow_ms;
} set_args;

static atomic_int ran; /* kernels that ran */

static int set_cpu(dusk_call *call)
{
    const set_args *a = dusk_call_value(call, NULL);
    int n = dusk_call_nargs(call);
    int64_t dims[2];
    double add = a->value;
    for (int i = 0; i < n - 1; i++)
        add += dusk_call_data(call, i, dims)[0];
    if (a->slow_ms > 0) {
        struct timespec ts = {0, (long)a->slow_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    double *out = dusk_call_data(call, n - 1, dims);
    for (int64_t i = 0; i < dims[0] * dims[1]; i++)
        out[i] = add;
    atomic_fetch_add(&ran, 1);
    return 0;
}

typedef struct seen {
    atomic_int calls;
    int status;
    double value;
} seen;

static void on_read(void *user, int status, const double *values, const int64_t dims[2])
{
    seen *s = user;
    (void)dims;
    s->status = status;
    s->value = status == 0 ? values[0] : NAN;
    atomic_fetch_add(&s->calls, 1);
}

static void never_called(void *user, int status, const double *values, const int64_t dims[2])
{
    (void)user;
    (void)status;
    (void)values;
    (void)dims;
    TEST_FAIL_("a read refused at the call had its callback called");
}

static void never_held(void *user, dusk_read *r)
{
    (void)user;
    (void)r;
    TEST_FAIL_("a held read refused at the call had its callback called");
}

static void observer(void *user, const dusk_task_event *ev)
{
    (void)user;
    (void)ev;
}

static int64_t submit(dusk_graph *g, const dusk_kernel *k, dusk_data *in, dusk_data *out,
                      dusk_access mode, double value, int slow_ms, int *ret)
{
    dusk_arg args[2];
    int n = 0;
    if (in != NULL) args[n++] = (dusk_arg){in, DUSK_R};
    args[n++] = (dusk_arg){out, mode};
    set_args a = {value, slow_ms};
    int64_t id = 99;
    *ret = dusk_task_submit(g, k, args, n, &a, sizeof a, NULL, &id);
    return id;
}

static void start(void)
{
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
}

/* Every graph function given NULL handles (and a pointer that is no live graph). */
static void null_handles(const dusk_kernel *k)
{
    dusk_graph *g = (dusk_graph *)&g, *gnull = NULL;
    dusk_data *d = (dusk_data *)&d, *x;
    /* a pointer to memory that holds no graph (zeroed, as a freed graph's magic field is): the
     * magic field check refuses it without reading further */
    static uint64_t not_a_graph[64];
    dusk_graph *bogus = (dusk_graph *)not_a_graph;
    int64_t a = 7, b = 7, c = 7;
    const char *key = "x", *reason = "x";
    int64_t dims[2] = {7, 7};
    dusk_item_failure f = {.item = 7};
    int handle = 7;

    CHECK_EQ(dusk_graph_new(NULL), DUSK_EINVAL);
    CHECK_OK(dusk_graph_new(&g));
    CHECK_EQ(dusk_matrix_new(g, 2, 2, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_matrix_new(NULL, 2, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_matrix_new(bogus, 2, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(dusk_vector_new(g, 2, NULL), DUSK_EINVAL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_vector_new(NULL, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);
    CHECK_EQ(dusk_stack_new(g, 2, 2, 2, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_stack_new(g, 2, 2, -1, NULL), DUSK_EINVAL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_stack_new(NULL, 2, 2, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);
    double values[8];
    CHECK_EQ(dusk_stack_wrap(g, values, 2, 2, 2, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_stack_wrap(g, NULL, 2, 2, 2, NULL), DUSK_EINVAL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_stack_wrap(g, NULL, 2, 2, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_stack_wrap(NULL, values, 2, 2, 2, &d), DUSK_EINVAL);
    CHECK(d == NULL);

    /* queries */
    CHECK_EQ(dusk_task_status(NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_task_status(bogus, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_task_status(g, 0), DUSK_EINVAL); /* no such task */
    CHECK_EQ(dusk_task_attempts(NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_task_attempts(g, 0), 0);
    dusk_graph_counts(NULL, &a, &b, &c);
    CHECK(a == 0 && b == 0 && c == 0);
    dusk_graph_counts(g, NULL, NULL, NULL);
    CHECK_EQ(dusk_graph_cancelled(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_peak_in_flight(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_failure(NULL, 0, &a, &key, &reason), DUSK_EINVAL);
    CHECK(a == -1 && key == NULL && reason == NULL);
    CHECK_EQ(dusk_graph_failure(g, 0, NULL, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_failure(g, 0, &a, &key, &reason), DUSK_EINVAL); /* none */
    CHECK_EQ(dusk_graph_item_failure_count(NULL), 0);
    CHECK_EQ(dusk_graph_item_failure(NULL, 0, &f), DUSK_EINVAL);
    CHECK(f.item == 0 && f.key == NULL);
    CHECK_EQ(dusk_graph_item_failure(g, 0, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_progress(NULL, 0, "x"), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_progress(g, 0, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_progress(g, -1, "x"), DUSK_EINVAL);

    /* running */
    CHECK_EQ(dusk_graph_hold(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_compute(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_wait(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_wait(bogus), DUSK_EINVAL);
    dusk_graph_cancel(NULL);
    CHECK_EQ(dusk_graph_set_local(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_watch_cancel(NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_graph_observe(NULL, observer, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_observer_add(NULL, NULL, &handle), DUSK_EINVAL);
    CHECK_EQ(handle, -1);
    CHECK_EQ(dusk_observer_remove(-1), DUSK_EINVAL);
    CHECK_EQ(dusk_task_opts_init(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_config_init(NULL, NULL, 0), DUSK_EINVAL);
    a = 99;
    CHECK_EQ(dusk_task_submit(NULL, k, NULL, 0, NULL, 0, NULL, &a), DUSK_EINVAL);
    CHECK_EQ(a, -1);
    CHECK_EQ(dusk_task_submit(g, NULL, NULL, 0, NULL, 0, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_task_submit(g, k, NULL, 1, NULL, 0, NULL, NULL), DUSK_EINVAL);
    dusk_arg nodata = {NULL, DUSK_W};
    CHECK_EQ(dusk_task_submit(g, k, &nodata, 1, NULL, 0, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_task_submit(g, k, NULL, 0, NULL, 8, NULL, NULL), DUSK_EINVAL); /* value */

    /* data and reads */
    CHECK_OK(dusk_vector_new(g, 1, &x));
    CHECK_EQ(dusk_data_read(NULL, never_called, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read(x, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_at(NULL, 0, never_called, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_at(x, 0, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_at(x, dusk_rank_count(), never_called, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_hold(NULL, never_held, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_hold(x, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_read_status(NULL), DUSK_EINVAL);
    a = 7;
    CHECK(dusk_read_values(NULL, &a, dims) == NULL);
    CHECK(a == 0 && dims[0] == 0 && dims[1] == 0);
    CHECK_EQ(dusk_read_item_status(NULL, 0), DUSK_EINVAL);
    dusk_read_done(NULL);
    dusk_read *r = NULL;
    dusk_read_done(&r);
    CHECK_EQ(dusk_data_count(NULL), 0);
    CHECK_EQ(dusk_data_item_status(NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_data_item_status(x, 1), DUSK_EINVAL);
    dims[0] = dims[1] = 7;
    CHECK_EQ(dusk_data_dims(NULL, dims), DUSK_EINVAL);
    CHECK(dims[0] == 0 && dims[1] == 0);
    CHECK_EQ(dusk_data_dims(x, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_set_owner(NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_data_owner(NULL), 0);
    dusk_data_release(NULL);
    d = NULL;
    dusk_data_release(&d);
    dusk_data_release(&x);
    CHECK(x == NULL);

    /* freeing */
    dusk_graph_free(NULL);
    dusk_graph_free(&gnull);
    dusk_graph_free(&bogus); /* not a graph: left alone */
    CHECK(bogus == (dusk_graph *)not_a_graph);
    dusk_graph_free(&g);
    CHECK(g == NULL);
    dusk_graph_free(&g);

    /* the others of dusk.h that take pointers */
    CHECK_EQ(dusk_memory_query(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_disk_available(NULL, &a), DUSK_EINVAL);
    CHECK_EQ(a, -1);
    CHECK_EQ(dusk_disk_available(".", NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_config_set(NULL, DUSK_SETTING_NCPU, 1, NULL, 0), DUSK_EINVAL);
    long long v = 7;
    CHECK_EQ(dusk_config_get(NULL, DUSK_SETTING_NCPU, &v), DUSK_EINVAL);
    CHECK_EQ(v, 0);
    CHECK_EQ(dusk_config_get(dusk_current_config(), DUSK_SETTING_NCPU, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_sched_check(NULL, NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_sched_policy(0, NULL, NULL), 0);
    CHECK_EQ(dusk_extension_register(NULL), DUSK_EINVAL);
    CHECK_GE(dusk_config_cpu_workers(NULL), 1);
    dusk_set_run_info(NULL);
    CHECK(dusk_strerror(12345) != NULL);
}

/* Reading data that no task wrote: StarPU 1.3 asserted ("handle is not initialized"). */
static void unwritten(const dusk_kernel *k)
{
    dusk_graph *g;
    dusk_data *x, *y, *fresh;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_vector_new(g, 4, &x));
    CHECK_OK(dusk_vector_new(g, 4, &y));
    CHECK_EQ(dusk_data_read(x, never_called, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_data_read_hold(x, never_held, NULL), DUSK_EINVAL);
    int ret;
    int64_t id = submit(g, k, x, y, DUSK_W, 1.0, 0, &ret); /* reads x */
    CHECK_EQ(ret, DUSK_EINVAL);
    CHECK_EQ(id, -1);
    id = submit(g, k, NULL, x, DUSK_RW, 1.0, 0, &ret); /* updates x: reads it too */
    CHECK_EQ(ret, DUSK_EINVAL);
    int64_t submitted;
    dusk_graph_counts(g, &submitted, NULL, NULL);
    CHECK_EQ(submitted, 0); /* refused at the call: no task */

    /* once written, the same calls work, in a held graph as in a running one */
    id = submit(g, k, NULL, x, DUSK_W, 2.0, 0, &ret);
    CHECK_OK(ret);
    CHECK_EQ(id, 0);
    CHECK_OK(dusk_graph_hold(g));
    CHECK_OK(dusk_vector_new(g, 4, &fresh));
    CHECK_EQ(dusk_data_read(fresh, never_called, NULL), DUSK_EINVAL); /* held: the same */
    (void)submit(g, k, x, y, DUSK_W, 1.0, 0, &ret);
    CHECK_OK(ret);
    seen sy = {0}, sx = {0};
    CHECK_OK(dusk_data_read(y, on_read, &sy));
    CHECK_OK(dusk_data_read(x, on_read, &sx));
    CHECK_OK(dusk_graph_compute(g));
    CHECK_EQ(atomic_load(&sy.calls), 1);
    CHECK_EQ(sy.status, 0);
    CHECK_NEAR(sy.value, 3.0, 0);
    CHECK_NEAR(sx.value, 2.0, 0);
    dusk_data_release(&fresh);
    dusk_data_release(&x);
    dusk_data_release(&y);
    dusk_graph_free(&g);
}

/* 720 GB: StarPU waited forever for room (a worker spinning in _starpu_allocate_memory_on_node). */
static void too_large(const dusk_kernel *k)
{
    const int64_t n = 300000;
    dusk_memory m;
    if (dusk_memory_query(&m) == 0 && m.available > n * n * 8) {
        printf("too large: skipped, this machine has %lld bytes available\n",
               (long long)m.available);
        return;
    }
    dusk_graph *g;
    dusk_data *big, *after, *small;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_matrix_new(g, n, n, &big));
    CHECK_OK(dusk_vector_new(g, 1, &after));
    CHECK_OK(dusk_vector_new(g, 1, &small));
    int ret;
    int64_t writer = submit(g, k, NULL, big, DUSK_W, 1.0, 0, &ret);
    CHECK_EQ(ret, DUSK_ENOMEM);
    CHECK_EQ(writer, 0); /* counted as a task that failed */
    int64_t reader = submit(g, k, big, after, DUSK_W, 1.0, 0, &ret);
    int64_t other = submit(g, k, NULL, small, DUSK_W, 5.0, 0, &ret);
    CHECK_OK(ret);
    seen sbig = {0}, safter = {0}, ssmall = {0};
    CHECK_OK(dusk_data_read(big, on_read, &sbig));
    CHECK_OK(dusk_data_read(after, on_read, &safter));
    CHECK_OK(dusk_data_read(small, on_read, &ssmall));
    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    CHECK_EQ(dusk_task_status(g, writer), DUSK_ENOMEM);
    CHECK_EQ(dusk_task_status(g, reader), DUSK_EDEP);
    CHECK_EQ(dusk_task_status(g, other), 0);
    CHECK_EQ(atomic_load(&sbig.calls), 1);
    CHECK_EQ(sbig.status, DUSK_ENOMEM);
    CHECK_EQ(atomic_load(&safter.calls), 1);
    CHECK_EQ(safter.status, DUSK_EDEP);
    CHECK_NEAR(ssmall.value, 5.0, 0);
    int64_t id;
    const char *key, *reason;
    CHECK_OK(dusk_graph_failure(g, 0, &id, &key, &reason));
    CHECK_EQ(id, writer);
    CHECK_STR_CONTAINS(reason, "720.0 GB");
    printf("too large: %s\n", reason);
    dusk_data_release(&big);
    dusk_data_release(&after);
    dusk_data_release(&small);
    dusk_graph_free(&g);
}

/* A held graph with recorded operations: wait returned 0 at once, and the reads' callbacks
 * never came. */
static void held_wait(const dusk_kernel *k)
{
    dusk_graph *g;
    dusk_data *x;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_graph_hold(g));
    CHECK_OK(dusk_graph_wait(g)); /* nothing recorded: nothing to wait for */
    CHECK_OK(dusk_vector_new(g, 1, &x));
    int ret;
    int64_t id = submit(g, k, NULL, x, DUSK_W, 4.0, 0, &ret);
    CHECK_OK(ret);
    seen s = {0};
    CHECK_OK(dusk_data_read(x, on_read, &s));
    int before = atomic_load(&ran);
    CHECK_EQ(dusk_graph_wait(g), DUSK_ESTATE);
    CHECK_EQ(dusk_graph_wait(g), DUSK_ESTATE);
    CHECK_EQ(dusk_task_status(g, id), 1); /* pending: nothing ran */
    CHECK_EQ(atomic_load(&ran), before);
    CHECK_EQ(atomic_load(&s.calls), 0);
    CHECK_OK(dusk_graph_compute(g));
    CHECK_EQ(dusk_task_status(g, id), 0);
    CHECK_EQ(atomic_load(&s.calls), 1);
    CHECK_NEAR(s.value, 4.0, 0);
    CHECK_OK(dusk_graph_wait(g)); /* computed: wait is wait again */
    dusk_data_release(&x);
    dusk_graph_free(&g);
}

/* dusk_shutdown() with tasks running, and calls after it: they aborted in StarPU
 * ("starpu_init must be called before submitting tasks"). */
static void after_shutdown(const dusk_kernel *k)
{
    dusk_graph *g, *held, *g2 = (dusk_graph *)&g2;
    dusk_data *x[4], *h, *d = (dusk_data *)&d;
    CHECK_OK(dusk_graph_new(&g));
    int ret;
    int64_t ids[4];
    seen s[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(dusk_vector_new(g, 2, &x[i]));
        ids[i] = submit(g, k, NULL, x[i], DUSK_W, 10.0 + i, 150, &ret);
        CHECK_OK(ret);
        CHECK_OK(dusk_data_read(x[i], on_read, &s[i]));
    }
    /* a held graph never computed: shutting down runs what it recorded */
    CHECK_OK(dusk_graph_new(&held));
    CHECK_OK(dusk_graph_hold(held));
    CHECK_OK(dusk_vector_new(held, 1, &h));
    int64_t hid = submit(held, k, NULL, h, DUSK_W, 20.0, 0, &ret);
    CHECK_OK(ret);
    seen sh = {0};
    CHECK_OK(dusk_data_read(h, on_read, &sh));
    int64_t finished;
    dusk_graph_counts(g, NULL, &finished, NULL);
    CHECK_LT(finished, 4); /* 150 ms each: still running */

    dusk_shutdown(); /* waits for them */
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(dusk_task_status(g, ids[i]), 0);
        CHECK_EQ(dusk_task_attempts(g, ids[i]), 1);
        CHECK_EQ(atomic_load(&s[i].calls), 1);
        CHECK_EQ(s[i].status, 0);
        CHECK_NEAR(s[i].value, 10.0 + i, 0);
    }
    dusk_graph_counts(g, NULL, &finished, NULL);
    CHECK_EQ(finished, 4);
    CHECK_EQ(dusk_task_status(held, hid), 0);
    CHECK_EQ(atomic_load(&sh.calls), 1);
    CHECK_NEAR(sh.value, 20.0, 0);
    CHECK_OK(dusk_graph_wait(g)); /* nothing in flight: its result */

    /* what needs StarPU is refused */
    CHECK_EQ(dusk_graph_new(&g2), DUSK_ESTATE);
    CHECK(g2 == NULL);
    CHECK_EQ(dusk_matrix_new(g, 2, 2, &d), DUSK_ESTATE);
    CHECK(d == NULL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_vector_new(g, 2, &d), DUSK_ESTATE);
    CHECK(d == NULL);
    d = (dusk_data *)&d;
    CHECK_EQ(dusk_stack_new(g, 2, 2, 2, &d), DUSK_ESTATE);
    CHECK(d == NULL);
    int64_t id = submit(g, k, NULL, x[0], DUSK_W, 1.0, 0, &ret);
    CHECK_EQ(ret, DUSK_ESTATE);
    CHECK_EQ(id, -1);
    id = submit(g, k, x[0], x[1], DUSK_W, 1.0, 0, &ret);
    CHECK_EQ(ret, DUSK_ESTATE);
    CHECK_EQ(dusk_data_read(x[0], never_called, NULL), DUSK_ESTATE);
    CHECK_EQ(dusk_data_read_hold(x[0], never_held, NULL), DUSK_ESTATE);
    CHECK_EQ(dusk_graph_compute(g), DUSK_ESTATE);
    CHECK_EQ(dusk_graph_progress(g, 0, "after"), DUSK_ESTATE);
    CHECK_EQ(dusk_barrier(), DUSK_ESTATE);
    dusk_graph_counts(g, NULL, &finished, NULL);
    CHECK_EQ(finished, 4);
    dusk_shutdown(); /* twice: nothing */

    /* data and graphs made before are freed safely */
    for (int i = 0; i < 4; i++)
        dusk_data_release(&x[i]);
    dusk_data_release(&h);
    dusk_graph_free(&g);
    dusk_graph_free(&held);
    CHECK(g == NULL && held == NULL);
}

int main(void)
{
    dusk_kernel *k;
    dusk_graph *g = (dusk_graph *)&g;
    /* before dusk_init() */
    CHECK_EQ(dusk_graph_new(&g), DUSK_ESTATE);
    CHECK(g == NULL);
    CHECK_EQ(dusk_graph_new(NULL), DUSK_EINVAL);
    start();
    CHECK_OK(dusk_kernel_new("test_set", set_cpu, &k));
    null_handles(k);
    unwritten(k);
    too_large(k);
    held_wait(k);
    after_shutdown(k);
    dusk_kernel_free(&k);
    printf("graph misuse: ok\n");
    return 0;
}
