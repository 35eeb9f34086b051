/* Kernels: dusk functions wrapped as StarPU codelets, and what a running task sees. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_features.h"
#include "dusk_internal.h"
#if DUSK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

/* The kernels whose names are in use (made and not freed yet): StarPU keys performance
 * models by name, so two kernels of one name would share (and corrupt) one history. */
static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static dusk_kernel *named;
static dusk_kernel *doomed; /* kernels freed while StarPU still held their codelets */

static const char reserved[] = "dusk_"; /* the built-in kernels' prefix */

/* Lock held (or not, for a syntax check alone). `builtin`: the reserved prefix is allowed. */
static int name_check(const char *name, int builtin, char *why, size_t whylen)
{
    dusk__set_why(why, whylen, "%s", "");
    if (name == NULL || name[0] == '\0') {
        dusk__set_why(why, whylen, "a kernel needs a name");
        return DUSK_EINVAL;
    }
    size_t n = strlen(name);
    if (n > DUSK_KERNEL_NAME_MAX) {
        dusk__set_why(why, whylen, "kernel name '%.20s...' is %zu bytes long; at most %d", name, n,
                      DUSK_KERNEL_NAME_MAX);
        return DUSK_EINVAL;
    }
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.')) {
            dusk__set_why(why, whylen,
                          "kernel name '%s' holds '%c' (byte %d): names take [A-Za-z0-9_.-]", name,
                          *c >= 0x20 && *c < 0x7f ? *c : '?', (int)(c - name));
            return DUSK_EINVAL;
        }
    if (!builtin && strncmp(name, reserved, sizeof reserved - 1) == 0) {
        dusk__set_why(why, whylen,
                      "kernel name '%s': names starting with '%s' are reserved for dusk's "
                      "built-in kernels",
                      name, reserved);
        return DUSK_EINVAL;
    }
    for (const dusk_kernel *k = named; k != NULL; k = k->next_named)
        if (strcmp(k->name, name) == 0) {
            dusk__set_why(why, whylen,
                          "a kernel named '%s' exists already (its performance model has that "
                          "name): free it first, or choose another name",
                          name);
            return DUSK_EEXIST;
        }
    return 0;
}

int dusk_kernel_name_check(const char *name, char *why, size_t whylen)
{
    pthread_mutex_lock(&names_lock);
    int ret = name_check(name, 0, why, whylen);
    pthread_mutex_unlock(&names_lock);
    return ret;
}

/* The task's footprint for StarPU's history: the data sizes, and what k's footprint function
 * makes of the by-value argument. */
static uint32_t task_footprint(struct starpu_task *task)
{
    uint32_t data = starpu_task_data_footprint(task);
    const dusk__task *t = task->cl_arg;
    if (t == NULL || t->k->footprint == NULL) return data;
    uint32_t value = t->k->footprint(t->value_size ? t->value : NULL, t->value_size);
    return starpu_hash_crc32c_be(value, data);
}

static int kernel_new(const char *name, dusk_kernel_fn cpu, dusk_kernel **out, int builtin)
{
    if (out != NULL) *out = NULL;
    if (cpu == NULL || out == NULL) return DUSK_EINVAL;
    dusk_kernel *k = calloc(1, sizeof *k);
    if (k == NULL) return DUSK_ENOMEM;
    pthread_mutex_lock(&names_lock);
    int ret = name_check(name, builtin, NULL, 0);
    if (ret == 0) {
        strcpy(k->name, name);
        k->next_named = named;
        named = k;
    }
    pthread_mutex_unlock(&names_lock);
    if (ret != 0) {
        free(k);
        return ret;
    }
    k->cpu = cpu;
    /* History-based: StarPU records each kernel's time per data size (and per footprint of
     * its by-value argument, when it has a footprint function), so model-based schedulers
     * (dmda, ...) learn where a task finishes first. */
    k->model.type = STARPU_HISTORY_BASED;
    k->model.symbol = k->name;
    k->cl.where = STARPU_CPU;
    k->cl.cpu_funcs[0] = dusk__cpu_entry;
    k->cl.cpu_funcs_name[0] = "dusk__cpu_entry";
    k->cl.nbuffers = STARPU_VARIABLE_NBUFFERS; /* modes come with each task */
    k->cl.model = &k->model;
    k->cl.name = k->name;
    *out = k;
    return 0;
}

int dusk_kernel_new(const char *name, dusk_kernel_fn cpu, dusk_kernel **out)
{
    return kernel_new(name, cpu, out, 0);
}

int dusk__kernel_new_builtin(const char *name, dusk_kernel_fn cpu, dusk_kernel **out)
{
    return kernel_new(name, cpu, out, 1);
}

int dusk_kernel_set_cuda(dusk_kernel *k, dusk_kernel_fn cuda)
{
    if (k == NULL || cuda == NULL) return DUSK_EINVAL;
#if DUSK_HAVE_CUDA
    k->cuda = cuda;
    k->cl.where |= STARPU_CUDA;
    k->cl.cuda_funcs[0] = dusk__cuda_entry;
    return 0;
#else
    return DUSK_ENODEV;
#endif
}

int dusk_kernel_set_footprint(dusk_kernel *k, dusk_footprint_fn fn)
{
    if (k == NULL) return DUSK_EINVAL;
    k->footprint = fn;
    k->model.footprint = fn != NULL ? task_footprint : NULL;
    return 0;
}

void dusk_kernel_free(dusk_kernel **k)
{
    if (k == NULL || *k == NULL) return;
    pthread_mutex_lock(&names_lock);
    for (dusk_kernel **p = &named; *p != NULL; p = &(*p)->next_named)
        if (*p == *k) {
            *p = (*k)->next_named;
            break;
        }
    pthread_mutex_unlock(&names_lock);
    /* StarPU keeps a pointer to the performance model until it shuts down. */
    if (dusk__started) {
        (*k)->next_doomed = doomed;
        doomed = *k;
    } else {
        free(*k);
    }
    *k = NULL;
}

void dusk__kernels_reap(void)
{
    while (doomed != NULL) {
        dusk_kernel *k = doomed;
        doomed = k->next_doomed;
        dusk_kernel_free(&k);
    }
}

const char *dusk_kernel_name(const dusk_kernel *k)
{
    return k != NULL ? k->name : "";
}

int dusk_call_nargs(const dusk_call *call)
{
    return call != NULL ? call->task->nargs : 0;
}

/* The values of argument i, where the kernel runs. */
static double *arg_values(const dusk_call *call, int i)
{
    const dusk_data *d = call->task->data[i];
    if (call->host != NULL) return call->host[i];
    if (d->kind == DUSK__MATRIX) return (double *)STARPU_MATRIX_GET_PTR(call->buffers[i]);
    return (double *)STARPU_VECTOR_GET_PTR(call->buffers[i]);
}

double *dusk_call_data(const dusk_call *call, int i, int64_t dims[2])
{
    if (call == NULL || i < 0 || i >= call->task->nargs) {
        if (dims != NULL) dims[0] = dims[1] = 0;
        return NULL;
    }
    const dusk_data *d = call->task->data[i];
    if (dims != NULL) {
        dims[0] = d->dims[0] * d->count; /* a stack, seen as one matrix */
        dims[1] = d->dims[1];
    }
    return arg_values(call, i);
}

double *dusk_call_stack(const dusk_call *call, int i, int64_t *count, int64_t dims[2])
{
    if (call == NULL || i < 0 || i >= call->task->nargs) {
        if (count) *count = 0;
        if (dims) dims[0] = dims[1] = 0;
        return NULL;
    }
    const dusk_data *d = call->task->data[i];
    if (count) *count = d->count;
    if (dims) {
        dims[0] = d->dims[0];
        dims[1] = d->dims[1];
    }
    return arg_values(call, i);
}

int64_t dusk_call_items(const dusk_call *call)
{
    return call != NULL ? call->task->nitems : 0;
}

int dusk_call_item_status(const dusk_call *call, int64_t k)
{
    if (call == NULL || k < 0 || k >= call->task->nitems) return DUSK_EINVAL;
    return call->task->item_state[k];
}

int64_t dusk_call_item_id(const dusk_call *call, int64_t k)
{
    if (call == NULL) return -1;
    const dusk__task *t = call->task;
    return dusk__task_item(t, k);
}

/* Record item k's failure with its reason (NULL: the code's text). */
static void fail_item(dusk__task *t, int64_t k, int code, const char *reason)
{
    if (t->item_state[k] != 0) return; /* the first reason stands */
    t->item_state[k] = (int8_t)code;
    if (t->nifails == t->ifails_cap) {
        int64_t cap = t->ifails_cap ? 2 * t->ifails_cap : 4;
        dusk__item_fail *f = realloc(t->ifails, (size_t)cap * sizeof *f);
        if (f == NULL) return; /* failed all the same, without its reason */
        t->ifails = f;
        t->ifails_cap = cap;
    }
    t->ifails[t->nifails++] =
        (dusk__item_fail){k, code, dusk__strdup(reason ? reason : dusk_strerror(code))};
}

/* Whether code is one of dusk's DUSK_E* codes (dusk_strerror() knows it). */
static int known_code(int code)
{
    return strcmp(dusk_strerror(code), dusk_strerror(INT_MIN)) != 0;
}

void dusk_call_fail_item(dusk_call *call, int64_t k, int code, const char *fmt, ...)
{
    if (call == NULL || k < 0 || k >= call->task->nitems || code >= 0) return;
    /* a code dusk does not know is the kernel's own failure (and must fit item statuses) */
    if (!known_code(code)) code = DUSK_EKERNEL;
    dusk__task *t = call->task;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fail_item(t, k, code, buf);
}

const void *dusk_call_value(const dusk_call *call, size_t *size)
{
    if (size) *size = call != NULL ? call->task->value_size : 0;
    return call != NULL && call->task->value_size ? call->task->value : NULL;
}

void *dusk_call_cuda_stream(const dusk_call *call)
{
    return call != NULL ? call->stream : NULL;
}

void dusk_call_fail(dusk_call *call, const char *fmt, ...)
{
    if (call == NULL || fmt == NULL) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(call->task->reason);
    call->task->reason = dusk__strdup(buf);
}

static void items_settle(dusk__task *t);

/* Each item's state before the kernel runs: skipped (DUSK_EDEP) when a stack it reads failed
 * at that item. Then the hook before a task body, when one is set (fault injection, fault.c),
 * may fail the task as a whole, counted as one attempt, or items of it. A task none of whose
 * items is left does not run: it fails with the first item's error. */
static void items_begin(dusk__task *t, dusk_call *call)
{
    memset(t->item_state, 0, (size_t)t->nitems);
    for (int i = 0; i < t->nargs; i++) {
        const dusk_data *d = t->data[i];
        if (!(t->modes[i] & DUSK_R) || d->count != t->nitems || d->count == 1) continue;
        for (int64_t k = 0; k < t->nitems; k++)
            if (d->item_status[k] != 0) t->item_state[k] = DUSK_EDEP;
    }
    if (dusk__before_run != NULL && (t->status = dusk__before_run(t, call)) != 0) {
        t->attempts = 1;
        return;
    }
    int64_t left = 0;
    for (int64_t k = 0; k < t->nitems; k++)
        left += t->item_state[k] == 0;
    if (left == 0) items_settle(t);
}

/* After the run: how many items were not computed; when none was, the task has failed with
 * the first item's error and reason. */
static void items_settle(dusk__task *t)
{
    int64_t bad = 0;
    for (int64_t k = 0; k < t->nitems; k++)
        bad += t->item_state[k] != 0;
    t->items_failed = t->status != 0 ? t->nitems : bad;
    if (t->status != 0 || bad < t->nitems) return;
    t->status = t->item_state[0];
    t->from_items = 1;
    free(t->reason);
    t->reason = NULL;
    for (int64_t i = 0; i < t->nifails; i++)
        if (t->ifails[i].k == 0 && t->ifails[i].reason) {
            t->reason = dusk__strdup(t->ifails[i].reason);
            break;
        }
    if (t->attempts == 0 && t->status != DUSK_EDEP) t->attempts = 1;
}

/* Before a kernel runs: a cancelled graph runs nothing more; a task whose input was not
 * produced does not run (what it writes is not produced either, so the failure travels down
 * the graph and stops there); a matrix StarPU padded is refused (our kernels expect them
 * packed); then its items (and the hook before a task body, see items_begin). */
static void task_begin(dusk__task *t, dusk_call *call)
{
    t->worker = starpu_worker_get_id();
    t->start = dusk_now();
    if (dusk__graph_cancelling(t->g)) t->status = DUSK_ECANCELED;
    for (int i = 0; i < t->nargs && t->status == 0; i++) {
        if ((t->modes[i] & DUSK_R) && atomic_load(&t->data[i]->failed) != 0) {
            t->status = DUSK_EDEP;
            break;
        }
    }
    if (t->status == 0) {
        for (int i = 0; i < t->nargs; i++)
            if (t->data[i]->kind == DUSK__MATRIX &&
                STARPU_MATRIX_GET_LD(call->buffers[i]) != STARPU_MATRIX_GET_NX(call->buffers[i])) {
                dusk_call_fail(call, "argument %d is not packed", i);
                t->status = DUSK_EINVAL;
            }
    }
    if (t->status == 0) items_begin(t, call);
}

static void observe_start(const dusk__task *t)
{
    if (!dusk__observing(t->g)) return;
    dusk_task_event ev;
    dusk__task_event(t, DUSK_EVENT_START, &ev);
    dusk__observe(&ev);
}

/* What a kernel function returned, as the task's status: 0 and dusk's codes as they are;
 * anything else (C's `return 1`, a negative number that is no DUSK_E* code, which
 * dusk_strerror() does not know) is DUSK_EKERNEL, with the number as the reason unless the
 * function gave one. A status of 1 would read as "pending", 2 as "on another rank". */
static int kernel_status(dusk_call *call, int ret)
{
    if (ret == 0) return 0;
    if (ret < 0 && known_code(ret)) return ret;
    if (call->task->reason == NULL) dusk_call_fail(call, "kernel returned %d", ret);
    return DUSK_EKERNEL;
}

/* The state task t leaves its output i in: its status, or the error of a refusal of the next
 * task to write it (bit i of `poison`). */
static int output_status(dusk__task *t, int i, unsigned poison)
{
    return t->status == 0 && (poison & (1u << i)) ? atomic_load(&t->poison_status) : t->status;
}

static void task_end(dusk__task *t)
{
    if (t->status == 0) {
        items_settle(t);
        if (t->status == 0) {
            free(t->reason);
            t->reason = NULL;
        }
    } else {
        t->items_failed = t->nitems;
    }
    /* What it wrote is failed after all when the next task to write it was refused before it
     * ran (see fail_outputs in submit.c). That refusal may come meanwhile, on the submitting
     * thread: it sets `poison`, then looks at `ended`; this stores `ended`, then looks at
     * `poison` again (sequentially consistent: one of the two sees the other). */
    unsigned poison = atomic_load(&t->poison);
    for (int i = 0; i < t->nargs; i++) {
        dusk_data *d = t->data[i];
        if (!(t->modes[i] & DUSK_W)) continue;
        atomic_store(&d->failed, output_status(t, i, poison));
        if (d->count > 1 && d->count == t->nitems)
            for (int64_t k = 0; k < t->nitems; k++)
                d->item_status[k] = (int8_t)(t->status ? t->status : t->item_state[k]);
    }
    atomic_store(&t->ended, 1);
    unsigned late = atomic_load(&t->poison) & ~poison;
    for (int i = 0; i < t->nargs; i++)
        if (late & (1u << i)) atomic_store(&t->data[i]->failed, output_status(t, i, late));
    t->end = dusk_now();
}

static size_t arg_bytes(const dusk_data *d)
{
    return (size_t)dusk__data_values(d) * sizeof(double);
}

/* A task that may be retried keeps a copy of what it reads and updates (DUSK_RW): a failed
 * attempt may have overwritten it (LAPACK's eigh works in place), and a retry must start
 * from the same input. On a CPU worker the copies are on the host; on a GPU worker they stay
 * on the device when it has the memory (bit i of `on_device`, from cudaMallocAsync on
 * `stream`), else on the host. */
typedef struct saved_args {
    double *copy[DUSK_MAX_ARGS];
    unsigned on_device;
    void *stream;
} saved_args;

#if DUSK_HAVE_CUDA
/* Argument i's copy in device memory, on the worker's stream, waited for: a kernel may work on
 * a stream of its own. 0, or 1 when there is no device memory for it (the host copy then). */
static int save_on_device(dusk_call *call, int i, const double *p, size_t bytes, saved_args *sv)
{
    cudaStream_t s = call->stream;
    void *d = NULL;
    if (cudaMallocAsync(&d, bytes, s) != cudaSuccess) {
        (void)cudaGetLastError(); /* not this task's error */
        return 1;
    }
    sv->copy[i] = d;
    sv->on_device |= 1u << i;
    sv->stream = s;
    if (cudaMemcpyAsync(d, p, bytes, cudaMemcpyDeviceToDevice, s) != cudaSuccess ||
        cudaStreamSynchronize(s) != cudaSuccess) {
        dusk_call_fail(call, "cannot keep argument %d for a retry", i);
        return DUSK_ENODEV;
    }
    return 0;
}
#endif

static int save_rw_args(const dusk__task *t, dusk_call *call, saved_args *sv)
{
    memset(sv, 0, sizeof *sv);
    if (t->attempts >= t->retries) return 0; /* the coming attempt is the last one */
    for (int i = 0; i < t->nargs; i++) {
        if (t->modes[i] != DUSK_RW) continue;
        int64_t dims[2];
        const double *p = dusk_call_data(call, i, dims);
#if DUSK_HAVE_CUDA
        if (call->stream != NULL) {
            int ret = save_on_device(call, i, p, arg_bytes(t->data[i]), sv);
            if (ret <= 0) {
                if (ret < 0) return ret;
                continue;
            }
        }
#endif
        if ((sv->copy[i] = malloc(arg_bytes(t->data[i]))) == NULL) {
            dusk_call_fail(call, "no memory to keep argument %d for a retry", i);
            return DUSK_ENOMEM;
        }
#if DUSK_HAVE_CUDA
        if (call->stream != NULL) {
            if (cudaMemcpyAsync(sv->copy[i], p, arg_bytes(t->data[i]), cudaMemcpyDeviceToHost,
                                call->stream) != cudaSuccess ||
                cudaStreamSynchronize(call->stream) != cudaSuccess) {
                dusk_call_fail(call, "cannot keep argument %d for a retry", i);
                return DUSK_ENODEV;
            }
            continue;
        }
#endif
        memcpy(sv->copy[i], p, arg_bytes(t->data[i]));
    }
    return 0;
}

static void free_saved(saved_args *sv)
{
    for (int i = 0; i < DUSK_MAX_ARGS; i++) {
#if DUSK_HAVE_CUDA
        if (sv->on_device & (1u << i)) {
            (void)cudaFreeAsync(sv->copy[i], sv->stream);
            continue;
        }
#endif
        free(sv->copy[i]);
    }
}

void dusk__cpu_entry(void *buffers[], void *cl_arg)
{
    dusk__task *t = cl_arg;
    dusk_call call = {t, buffers, NULL, NULL};
    saved_args sv = {{NULL}, 0, NULL};
    if (t->attempts > 0) {
        /* A GPU attempt failed and handed the task to the CPU workers (hand_to_cpu): its
         * arguments are as they were before it, and this attempt ends it. */
        t->worker = starpu_worker_get_id();
        t->start = dusk_now();
        t->impl = "CUDA>CPU";
        t->status = 0;
    } else {
        task_begin(t, &call);
        t->impl = "CPU";
        if (t->status == 0) observe_start(t);
    }
    if (t->status == 0) t->status = save_rw_args(t, &call, &sv);
    /* Retries run on the same worker, at once, from the saved inputs. */
    if (t->status == 0) {
        for (;;) {
            t->attempts++;
            t->status = kernel_status(&call, t->k->cpu(&call));
            if (t->status == 0 || t->attempts > t->retries) break;
            for (int i = 0; i < t->nargs; i++) {
                int64_t dims[2];
                if (sv.copy[i])
                    memcpy(dusk_call_data(&call, i, dims), sv.copy[i], arg_bytes(t->data[i]));
            }
        }
    }
    free_saved(&sv);
    task_end(t);
}

#if DUSK_HAVE_CUDA

/* A failed GPU attempt may have overwritten what the task updates in place: put the saved
 * input back, on the device. */
static int restore_rw_args(dusk__task *t, dusk_call *call, const saved_args *sv)
{
    for (int i = 0; i < t->nargs; i++) {
        if (sv->copy[i] == NULL) continue;
        int64_t dims[2];
        enum cudaMemcpyKind kind =
            (sv->on_device & (1u << i)) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice;
        if (cudaMemcpyAsync(dusk_call_data(call, i, dims), sv->copy[i], arg_bytes(t->data[i]), kind,
                            call->stream) != cudaSuccess) {
            (void)cudaStreamSynchronize(call->stream);
            return DUSK_ENODEV;
        }
    }
    return cudaStreamSynchronize(call->stream) == cudaSuccess ? 0 : DUSK_ENODEV;
}

static void handed_done(void *arg)
{
    starpu_task_end_dep_release(arg);
}

_Static_assert(DUSK_MAX_ARGS <= STARPU_NMAXBUFS, "a task's arguments fit StarPU's handles[]");

/* Hand task t, whose GPU attempt failed, to the CPU workers: a task of the same codelet on the
 * same data, restricted to CPU workers, runs the CPU implementation (dusk__cpu_entry sees
 * t->attempts > 0) and ends t. StarPU's task for t, running here, ends only after it (an end
 * dependency), so what waits for t waits for it; the new task does not wait for this one
 * (sequential_consistency 0) but for its data, which StarPU hands over when this returns.
 * Once it is submitted, t belongs to it. Returns 0, or -1 when no CPU worker can take it now
 * (nothing was submitted). */
static int hand_to_cpu(dusk__task *t)
{
    struct starpu_task *self = starpu_task_get_current();
    if (self == NULL || starpu_cpu_worker_get_count() == 0) return -1;
    /* Submitting may wait while STARPU_LIMIT_{MAX,MIN}_SUBMITTED_TASKS throttle, which StarPU
     * refuses from inside a task. */
    int most = starpu_get_env_number("STARPU_LIMIT_MAX_SUBMITTED_TASKS"),
        least = starpu_get_env_number("STARPU_LIMIT_MIN_SUBMITTED_TASKS"),
        now = starpu_task_nsubmitted();
    if (most >= 0 && least >= 0 && now >= most && now >= least) return -1;
    struct starpu_task *c = starpu_task_create();
    if (c == NULL) return -1;
    c->cl = self->cl;
    c->cl_arg = t;
    c->where = STARPU_CPU;
    c->nbuffers = (int)STARPU_TASK_GET_NBUFFERS(self);
    for (int i = 0; i < c->nbuffers; i++) {
        c->handles[i] = STARPU_TASK_GET_HANDLE(self, i);
        c->modes[i] = STARPU_TASK_GET_MODE(self, i);
    }
    c->sequential_consistency = 0;
    c->priority = self->priority;
    c->name = self->name;
    c->callback_func = handed_done;
    c->callback_arg = self;
    starpu_task_end_dep_add(self, 1);
    if (starpu_task_submit(c) != 0) {
        starpu_task_end_dep_release(self); /* takes back the one added: the task still runs */
        c->destroy = 0;
        starpu_task_destroy(c);
        return -1;
    }
    return 0;
}

/* A GPU attempt failed and no CPU worker can take the task: run the CPU implementation on
 * host copies of the arguments, from this worker, and copy what it writes back. The task's
 * data stay where StarPU put them, so the graph's order is kept. */
static int run_on_host(dusk__task *t, dusk_call *call)
{
    double *host[DUSK_MAX_ARGS] = {0}, *dev[DUSK_MAX_ARGS];
    cudaStream_t s = call->stream;
    int ret = 0;
    for (int i = 0; i < t->nargs; i++) {
        int64_t dims[2];
        dev[i] = dusk_call_data(call, i, dims);
    }
    for (int i = 0; i < t->nargs && ret == 0; i++) {
        if ((host[i] = malloc(arg_bytes(t->data[i]))) == NULL) {
            dusk_call_fail(call, "no host memory for the CPU fallback");
            ret = DUSK_ENOMEM;
        } else if ((t->modes[i] & DUSK_R) &&
                   cudaMemcpyAsync(host[i], dev[i], arg_bytes(t->data[i]), cudaMemcpyDeviceToHost,
                                   s) != cudaSuccess) {
            dusk_call_fail(call, "cannot copy argument %d to the host for the CPU fallback", i);
            ret = DUSK_ENODEV;
        }
    }
    if (ret == 0 && cudaStreamSynchronize(s) != cudaSuccess) {
        dusk_call_fail(call, "cannot copy the arguments to the host for the CPU fallback");
        ret = DUSK_ENODEV;
    }
    if (ret == 0) {
        dusk_call hcall = {t, call->buffers, host, NULL};
        ret = kernel_status(&hcall, t->k->cpu(&hcall));
    }
    for (int i = 0; i < t->nargs && ret == 0; i++)
        if ((t->modes[i] & DUSK_W) && cudaMemcpyAsync(dev[i], host[i], arg_bytes(t->data[i]),
                                                      cudaMemcpyHostToDevice, s) != cudaSuccess) {
            dusk_call_fail(call, "cannot copy result %d back to the GPU after the CPU fallback", i);
            ret = DUSK_ENODEV;
        }
    if (cudaStreamSynchronize(s) != cudaSuccess && ret == 0) ret = DUSK_ENODEV;
    for (int i = 0; i < t->nargs; i++)
        free(host[i]);
    return ret;
}

void dusk__cuda_entry(void *buffers[], void *cl_arg)
{
    dusk__task *t = cl_arg;
    dusk_call call = {t, buffers, NULL, starpu_cuda_get_local_stream()};
    saved_args sv = {{NULL}, 0, NULL};
    task_begin(t, &call);
    t->impl = "CUDA";
    if (t->status == 0) observe_start(t);
    if (t->status == 0) t->status = save_rw_args(t, &call, &sv);
    if (t->status == 0) {
        /* An error left by earlier work on this thread (StarPU does not clear a failed
         * cudaMalloc of its own) must not be taken for this kernel's. */
        (void)cudaGetLastError();
        t->attempts++;
        t->status = kernel_status(&call, t->k->cuda(&call));
        /* A kernel that failed may have left work queued on the stream; StarPU asserts that
         * the stream is idle when a synchronous codelet returns. */
        if (t->status != 0) {
            (void)cudaStreamSynchronize(call.stream);
            (void)cudaGetLastError();
        }
        /* With retries, a failed GPU attempt is run again by the CPU implementation, from the
         * input as it was: on a CPU worker, or on the host from here when no CPU worker can
         * take it. Whatever made the GPU fail (its memory, its solver) is not there. */
        if (t->status != 0 && t->attempts <= t->retries) {
            int ret = restore_rw_args(t, &call, &sv);
            if (ret == 0 && hand_to_cpu(t) == 0) {
                free_saved(&sv);
                return; /* the task on the CPU ends t */
            }
            while (ret == 0 && t->status != 0 && t->attempts <= t->retries) {
                t->attempts++;
                t->impl = "CUDA>host";
                t->status = run_on_host(t, &call);
            }
        }
    }
    free_saved(&sv);
    task_end(t);
}
#else
void dusk__cuda_entry(void *buffers[], void *cl_arg)
{
    (void)buffers;
    (void)cl_arg;
}
#endif
