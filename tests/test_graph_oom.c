/* Out of memory, and StarPU refusing work, inside graph.c (issue 12, "Fixes found by reading
 * graph.c"): made to happen on purpose. The test is linked with the static libdusk.a and
 * -Wl,--wrap=malloc,--wrap=realloc,--wrap=starpu_data_acquire_cb,--wrap=starpu_task_submit,
 * which sends the library's own calls of those functions through the __wrap_ functions below:
 * a switch makes the next call (on the main thread) fail, or every allocation on StarPU's
 * threads.
 *
 *   a. A held graph whose operation record cannot grow (after 256 operations): the task is
 *      refused with DUSK_ENOMEM and never runs (before, it was handed to StarPU at once, ahead
 *      of the operations recorded before it, its handle leaked); what it writes is failed for
 *      the operations recorded after it.
 *   b. A recorded read that cannot start at dusk_graph_compute(): its callback hears of it
 *      (status DUSK_ESTARPU) and compute returns an error (before: dropped silently, the
 *      callback never called, compute 0).
 *   c. The status tables cannot grow at submission: DUSK_ENOMEM, no task left pending, and
 *      dusk_graph_wait() returns; and tasks that fail while every allocation of StarPU's
 *      threads fails still record their status (before, set_status's DUSK_ENOMEM was ignored
 *      there and the task stayed "pending" for good).
 *   d. StarPU refusing a submission: the task's outputs are failed, so that tasks and reads
 *      after it get DUSK_EDEP (or its error), not garbage, also when an earlier writer of the
 *      data is still running, and when nothing else ever wrote it (StarPU asserted on reading
 *      that never-initialised handle).
 * Run alone or under mpirun -np 2 (a graph of both ranks, its data on rank 0: StarPU-MPI's
 * submission path); with several ranks only rank 0 runs the tasks, and case d alone is run. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <starpu.h>
#include <time.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "test.h"

/* ---- the switches ------------------------------------------------------------------------ */

static pthread_t main_thread;
static atomic_int fail_malloc, fail_realloc, fail_acquire, fail_submit; /* next N, main thread */
static atomic_int fail_off_main; /* every malloc and realloc on other threads */
static atomic_int injected;      /* failures made so far */

static int take(atomic_int *sw)
{
    if (!pthread_equal(pthread_self(), main_thread)) return 0;
    int n = atomic_load(sw);
    while (n > 0 && !atomic_compare_exchange_weak(sw, &n, n - 1)) {
    }
    if (n <= 0) return 0;
    atomic_fetch_add(&injected, 1);
    return 1;
}

static int off_main(void)
{
    if (!atomic_load(&fail_off_main) || pthread_equal(pthread_self(), main_thread)) return 0;
    atomic_fetch_add(&injected, 1);
    return 1;
}

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);
int __real_starpu_data_acquire_cb(starpu_data_handle_t handle, enum starpu_data_access_mode mode,
                                  void (*callback)(void *), void *arg);
int __real_starpu_task_submit(struct starpu_task *task);

void *__wrap_malloc(size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_starpu_data_acquire_cb(starpu_data_handle_t handle, enum starpu_data_access_mode mode,
                                  void (*callback)(void *), void *arg);
int __wrap_starpu_task_submit(struct starpu_task *task);

void *__wrap_malloc(size_t size)
{
    if (take(&fail_malloc) || off_main()) return NULL;
    return __real_malloc(size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (take(&fail_realloc) || off_main()) return NULL;
    return __real_realloc(p, size);
}

int __wrap_starpu_data_acquire_cb(starpu_data_handle_t handle, enum starpu_data_access_mode mode,
                                  void (*callback)(void *), void *arg)
{
    if (take(&fail_acquire)) return -EINVAL;
    return __real_starpu_data_acquire_cb(handle, mode, callback, arg);
}

int __wrap_starpu_task_submit(struct starpu_task *task)
{
    if (take(&fail_submit)) return -EINVAL;
    return __real_starpu_task_submit(task);
}

/* Arm switch sw for `n` calls, and check afterwards that exactly those were made. */
#define ARM(sw, n) (atomic_store(&injected, 0), atomic_store(&sw, n))
#define CHECK_INJECTED(n)                                                                          \
    do {                                                                                           \
        CHECK_EQ(atomic_load(&injected), n);                                                       \
        atomic_store(&fail_malloc, 0);                                                             \
        atomic_store(&fail_realloc, 0);                                                            \
        atomic_store(&fail_acquire, 0);                                                            \
        atomic_store(&fail_submit, 0);                                                             \
    } while (0)

/* ---- a kernel that logs the order it ran in ------------------------------------------------ */

typedef struct op_args {
    int id;       /* its place in the log */
    double value; /* out = value (+ out with RW, + in[0] with an input) */
    int slow_ms;
    int fail; /* return DUSK_EDATA with a reason */
} op_args;

#define MAX_LOG 8192
static atomic_int nlog;
static int logged[MAX_LOG];

static int op_cpu(dusk_call *call)
{
    const op_args *a = dusk_call_value(call, NULL);
    int n = dusk_call_nargs(call);
    int64_t dims[2];
    if (a->slow_ms) {
        struct timespec ts = {0, (long)a->slow_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    int at = atomic_fetch_add(&nlog, 1);
    if (at < MAX_LOG) logged[at] = a->id;
    if (a->fail) {
        dusk_call_fail(call, "failed on purpose (%d)", a->id);
        return DUSK_EDATA;
    }
    double in = 0;
    for (int i = 0; i < n - 1; i++)
        in += dusk_call_data(call, i, dims)[0];
    double *out = dusk_call_data(call, n - 1, dims);
    out[0] = a->value + in;
    return 0;
}

/* updates (RW) keep a running total: the value is added */
static int add_cpu(dusk_call *call)
{
    const op_args *a = dusk_call_value(call, NULL);
    int64_t dims[2];
    int at = atomic_fetch_add(&nlog, 1);
    if (at < MAX_LOG) logged[at] = a->id;
    dusk_call_data(call, 0, dims)[0] += a->value;
    return 0;
}

static dusk_kernel *set_k, *add_k;

/* out = value [+ in]; returns dusk_task_submit's result, the id in *id */
static int set(dusk_graph *g, int logid, double value, int slow_ms, dusk_data *in, dusk_data *out,
               int64_t *id)
{
    dusk_arg args[2];
    int n = 0;
    if (in != NULL) args[n++] = (dusk_arg){in, DUSK_R};
    args[n++] = (dusk_arg){out, DUSK_W};
    op_args a = {logid, value, slow_ms, 0};
    return dusk_task_submit(g, set_k, args, n, &a, sizeof a, NULL, id);
}

static int add(dusk_graph *g, int logid, double value, dusk_data *x, int64_t *id)
{
    dusk_arg arg = {x, DUSK_RW};
    op_args a = {logid, value, 0, 0};
    return dusk_task_submit(g, add_k, &arg, 1, &a, sizeof a, NULL, id);
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
    s->value = status == 0 && values != NULL ? values[0] : NAN;
    atomic_fetch_add(&s->calls, 1);
}

static void on_hold(void *user, dusk_read *r)
{
    seen *s = user;
    s->status = dusk_read_status(r);
    const double *v = dusk_read_values(r, NULL, NULL);
    s->value = v != NULL ? v[0] : NAN;
    atomic_fetch_add(&s->calls, 1);
    dusk_read_done(&r);
}

static int log_index(int logid)
{
    int n = atomic_load(&nlog);
    for (int i = 0; i < n && i < MAX_LOG; i++)
        if (logged[i] == logid) return i;
    return -1;
}

/* ---- the cases ------------------------------------------------------------------------------ */

/* a. The 257th operation of a held graph cannot be recorded. */
static void held_record(void)
{
    dusk_graph *g;
    dusk_data *x, *y, *z, *w;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_vector_new(g, 1, &x));
    CHECK_OK(dusk_vector_new(g, 1, &y));
    CHECK_OK(dusk_vector_new(g, 1, &z));
    CHECK_OK(dusk_vector_new(g, 1, &w));
    CHECK_OK(dusk_graph_hold(g));
    atomic_store(&nlog, 0);
    int64_t id;
    /* 256 operations: a chain x = 1, x += 1 (255 times) */
    CHECK_OK(set(g, 0, 1.0, 0, NULL, x, &id));
    for (int i = 1; i < 256; i++)
        CHECK_OK(add(g, i, 1.0, x, &id));
    /* the record is full: y's writer cannot be recorded */
    ARM(fail_realloc, 1);
    CHECK_EQ(set(g, 256, 1000.0, 0, NULL, y, &id), DUSK_ENOMEM);
    CHECK_INJECTED(1);
    CHECK_EQ(id, 256); /* counted: a task that failed without running */
    CHECK_EQ(dusk_task_status(g, 256), DUSK_ENOMEM);
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL); /* had it been handed to StarPU, it would have run by now */
    CHECK_EQ(atomic_load(&nlog), 0);
    /* the next operations are recorded again */
    CHECK_OK(add(g, 257, 100.0, x, &id));
    CHECK_OK(set(g, 258, 1.0, 0, y, z, &id)); /* reads the y that was not produced */
    seen sx = {0}, sy = {0}, sz = {0};
    CHECK_OK(dusk_data_read(x, on_read, &sx));
    CHECK_OK(dusk_data_read(y, on_read, &sy));
    CHECK_OK(dusk_data_read(z, on_read, &sz));
    /* An operation that cannot be recorded when it updates what recorded operations write:
     * x is then failed for what comes after it. At the next growth of the record: 261
     * operations so far (256 tasks, 2 more, 3 reads), filled up to 512. */
    for (int64_t nops = 261; nops < 511; nops++)
        CHECK_OK(set(g, 1000, 5.0, 0, NULL, w, &id));
    CHECK_OK(add(g, 1001, 1.0, x, &id)); /* the 512th */
    ARM(fail_realloc, 1);
    int64_t refused;
    CHECK_EQ(add(g, 1002, 1.0, x, &refused), DUSK_ENOMEM);
    CHECK_INJECTED(1);
    seen sx2 = {0};
    int64_t after;
    CHECK_OK(add(g, 1003, 1.0, x, &after));
    CHECK_OK(dusk_data_read(x, on_read, &sx2));
    CHECK_OK(set(g, 1004, 7.0, 0, NULL, x, &id)); /* overwritten: good again */
    seen sx3 = {0};
    CHECK_OK(dusk_data_read(x, on_read, &sx3));

    CHECK_EQ(dusk_graph_compute(g), DUSK_ETASK);
    /* the chain ran in order, 257 after it; 256 never ran */
    CHECK_GE(log_index(0), 0);
    for (int i = 1; i < 256; i++)
        CHECK_GT(log_index(i), log_index(i - 1));
    CHECK_GT(log_index(257), log_index(255));
    CHECK_EQ(log_index(256), -1);
    CHECK_EQ(log_index(258), -1); /* its input was never produced */
    CHECK_EQ(atomic_load(&sx.calls), 1);
    CHECK_EQ(sx.status, 0);
    CHECK_NEAR(sx.value, 356.0, 0);
    CHECK_EQ(sy.status, DUSK_ENOMEM);
    CHECK_EQ(sz.status, DUSK_EDEP);
    CHECK_EQ(dusk_task_status(g, 258), DUSK_EDEP);
    /* what came after the refused update of x does not see x as good */
    CHECK_EQ(dusk_task_status(g, refused), DUSK_ENOMEM);
    CHECK_EQ(dusk_task_status(g, after), DUSK_EDEP);
    CHECK_EQ(atomic_load(&sx2.calls), 1);
    CHECK_NE(sx2.status, 0);
    CHECK_EQ(log_index(1002), -1);
    CHECK_EQ(sx3.status, 0);
    CHECK_NEAR(sx3.value, 7.0, 0);
    dusk_data_release(&x);
    dusk_data_release(&y);
    dusk_data_release(&z);
    dusk_data_release(&w);
    dusk_graph_free(&g);
}

/* b. A recorded read that StarPU refuses to start at compute. */
static void read_refused(void)
{
    dusk_graph *g;
    dusk_data *x;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_vector_new(g, 1, &x));
    CHECK_OK(dusk_graph_hold(g));
    int64_t id;
    CHECK_OK(set(g, 0, 3.0, 0, NULL, x, &id));
    seen s1 = {0}, s2 = {0}, s3 = {0};
    CHECK_OK(dusk_data_read(x, on_read, &s1));
    CHECK_OK(dusk_data_read_hold(x, on_hold, &s2));
    CHECK_OK(dusk_data_read(x, on_read, &s3));
    ARM(fail_acquire, 2); /* the first two */
    CHECK_EQ(dusk_graph_compute(g), DUSK_ESTARPU);
    CHECK_INJECTED(2);
    CHECK_EQ(atomic_load(&s1.calls), 1);
    CHECK_EQ(s1.status, DUSK_ESTARPU);
    CHECK(isnan(s1.value));
    CHECK_EQ(atomic_load(&s2.calls), 1);
    CHECK_EQ(s2.status, DUSK_ESTARPU);
    CHECK_EQ(atomic_load(&s3.calls), 1);
    CHECK_EQ(s3.status, 0);
    CHECK_NEAR(s3.value, 3.0, 0);
    CHECK_EQ(dusk_task_status(g, id), 0);
    /* not held: refused at the call, and the callback is never called */
    ARM(fail_acquire, 1);
    seen s4 = {0};
    CHECK_EQ(dusk_data_read(x, on_read, &s4), DUSK_ESTARPU);
    CHECK_INJECTED(1);
    CHECK_OK(dusk_graph_wait(g));
    CHECK_EQ(atomic_load(&s4.calls), 0);
    dusk_data_release(&x);
    dusk_graph_free(&g);
}

/* c. The status tables cannot grow. */
static void status_tables(void)
{
    dusk_graph *g;
    dusk_data *x;
    int64_t id, submitted, finished, failed;
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_vector_new(g, 1, &x));
    /* the first task: the table of odd statuses is made (malloc) */
    ARM(fail_malloc, 1);
    CHECK_EQ(set(g, 0, 1.0, 0, NULL, x, &id), DUSK_ENOMEM);
    CHECK_INJECTED(1);
    CHECK_EQ(id, -1); /* refused before it was counted */
    dusk_graph_counts(g, &submitted, NULL, NULL);
    CHECK_EQ(submitted, 0);
    /* 4096 tasks, then the 2-bit table grows (realloc) */
    for (int i = 0; i < 4096; i++) {
        CHECK_OK(set(g, 0, (double)i, 0, NULL, x, &id));
        CHECK_EQ(id, i);
    }
    ARM(fail_realloc, 1);
    CHECK_EQ(set(g, 0, -1.0, 0, NULL, x, &id), DUSK_ENOMEM);
    CHECK_INJECTED(1);
    CHECK_EQ(id, -1);
    seen s = {0};
    CHECK_OK(dusk_data_read(x, on_read, &s));
    CHECK_OK(dusk_graph_wait(g)); /* returns: nothing was left pending */
    dusk_graph_counts(g, &submitted, &finished, &failed);
    CHECK_EQ(submitted, 4096);
    CHECK_EQ(finished, 4096);
    CHECK_EQ(failed, 0);
    CHECK_NEAR(s.value, 4095.0, 0);                   /* the refused one did not write */
    CHECK_EQ(dusk_task_status(g, 4096), DUSK_EINVAL); /* no such task */
    CHECK_OK(set(g, 0, 1.0, 0, NULL, x, &id));        /* and the next one goes */
    CHECK_EQ(id, 4096);
    CHECK_OK(dusk_graph_wait(g));

    /* Tasks that fail, while every allocation on StarPU's threads fails: their statuses are
     * recorded all the same (room was reserved when they were submitted), only their
     * reasons are lost. */
    dusk_graph *g2;
    CHECK_OK(dusk_graph_new(&g2));
    enum { N = 100 };
    dusk_data *out[N];
    int64_t ids[N];
    atomic_store(&fail_off_main, 1);
    atomic_store(&injected, 0);
    for (int i = 0; i < N; i++) {
        CHECK_OK(dusk_vector_new(g2, 1, &out[i]));
        dusk_arg arg = {out[i], DUSK_W};
        op_args a = {0, 1.0, 0, 1};
        CHECK_OK(dusk_task_submit(g2, set_k, &arg, 1, &a, sizeof a, NULL, &ids[i]));
    }
    CHECK_EQ(dusk_graph_wait(g2), DUSK_ETASK);
    atomic_store(&fail_off_main, 0);
    CHECK_GT(atomic_load(&injected), 0); /* the reasons, the failure records */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(dusk_task_status(g2, ids[i]), DUSK_EDATA);
        CHECK_EQ(dusk_task_attempts(g2, ids[i]), 1);
        dusk_data_release(&out[i]);
    }
    dusk_graph_counts(g2, &submitted, &finished, &failed);
    CHECK_EQ(finished, N);
    CHECK_EQ(failed, N);
    dusk_graph_free(&g2);
    dusk_data_release(&x);
    dusk_graph_free(&g);
}

/* d. StarPU refuses a submission. */
static void submit_refused(void)
{
    dusk_graph *g;
    dusk_data *x, *y, *fresh;
    int64_t w0, t1, t2, t3, t4;
    int me = dusk_rank();
    CHECK_OK(dusk_graph_new(&g));
    CHECK_OK(dusk_vector_new(g, 1, &x));
    CHECK_OK(dusk_vector_new(g, 1, &y));
    CHECK_OK(dusk_vector_new(g, 1, &fresh));
    atomic_store(&nlog, 0);
    /* x written by a slow task, still running when its next writer is refused */
    CHECK_OK(set(g, 0, 2.0, 200, NULL, x, &w0));
    ARM(fail_submit, 1);
    int ret = add(g, 1, 10.0, x, &t1);
    if (me == 0) {
        CHECK_EQ(ret, DUSK_ESTARPU);
        CHECK_INJECTED(1);
    } else {
        CHECK_OK(ret); /* rank 0 runs it */
        CHECK_INJECTED(0);
    }
    CHECK_OK(set(g, 2, 1.0, 0, x, y, &t2)); /* reads x: not garbage (2 without the update) */
    seen sx = {0}, sy = {0};
    CHECK_OK(dusk_data_read(x, on_read, &sx));
    CHECK_OK(dusk_data_read(y, on_read, &sy));
    /* rewritten: good again */
    CHECK_OK(set(g, 3, 5.0, 0, NULL, x, &t3));
    CHECK_OK(add(g, 4, 1.0, x, &t4));
    seen sx2 = {0};
    CHECK_OK(dusk_data_read(x, on_read, &sx2));
    /* one rank: data nothing else wrote, whose only writer StarPU refused (under several
     * ranks StarPU-MPI would send its uninitialised handle: not covered) */
    int64_t tf = -1, tr = -1;
    seen sf = {0};
    if (dusk_rank_count() == 1) {
        ARM(fail_submit, 1);
        CHECK_EQ(set(g, 5, 1.0, 0, NULL, fresh, &tf), DUSK_ESTARPU);
        CHECK_INJECTED(1);
        CHECK_OK(set(g, 6, 1.0, 0, fresh, y, &tr));
        CHECK_OK(dusk_data_read(fresh, on_read, &sf));
    }
    CHECK_EQ(dusk_graph_wait(g), me == 0 ? DUSK_ETASK : 0);
    if (me == 0) {
        CHECK_EQ(dusk_task_status(g, w0), 0);
        CHECK_EQ(dusk_task_status(g, t1), DUSK_ESTARPU);
        CHECK_EQ(dusk_task_status(g, t2), DUSK_EDEP);
        CHECK_EQ(log_index(2), -1);
        CHECK_EQ(atomic_load(&sx.calls), 1);
        CHECK_EQ(sx.status, DUSK_ESTARPU);
        CHECK_EQ(sy.status, DUSK_EDEP);
        CHECK_EQ(dusk_task_status(g, t3), 0);
        CHECK_EQ(dusk_task_status(g, t4), 0);
        CHECK_EQ(sx2.status, 0);
        CHECK_NEAR(sx2.value, 6.0, 0);
    } else {
        CHECK_EQ(dusk_task_status(g, t1), DUSK_TASK_ELSEWHERE);
        CHECK_EQ(atomic_load(&sx.calls), 0); /* reads happen on the owner */
    }
    if (tf >= 0) {
        CHECK_EQ(dusk_task_status(g, tf), DUSK_ESTARPU);
        CHECK_EQ(dusk_task_status(g, tr), DUSK_EDEP);
        CHECK_EQ(log_index(6), -1);
        CHECK_EQ(atomic_load(&sf.calls), 1);
        CHECK_EQ(sf.status, DUSK_ESTARPU);
    }
    int64_t fid;
    const char *key, *reason;
    if (me == 0) {
        CHECK_OK(dusk_graph_failure(g, 0, &fid, &key, &reason));
        CHECK_EQ(fid, t1);
    }
    dusk_data_release(&x);
    dusk_data_release(&y);
    dusk_data_release(&fresh);
    dusk_graph_free(&g);
}

int main(void)
{
    main_thread = pthread_self();
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_OK(dusk_kernel_new("test_oom_set", op_cpu, &set_k));
    CHECK_OK(dusk_kernel_new("test_oom_add", add_cpu, &add_k));
    if (dusk_rank_count() == 1) {
        held_record();
        read_refused();
        status_tables();
    }
    submit_refused();
    dusk_kernel_free(&set_k);
    dusk_kernel_free(&add_k);
    int rank = dusk_rank();
    dusk_shutdown();
    printf("graph oom (rank %d): ok\n", rank);
    return 0;
}
