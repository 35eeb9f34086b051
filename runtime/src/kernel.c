/* Kernels: dusk functions wrapped as StarPU codelets, and what a running task sees. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_internal.h"

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof(((dusk_kernel *)0)->name)) return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == '.'))
            return 0;
    return 1;
}

int dusk_kernel_new(const char *name, dusk_kernel_fn cpu, dusk_kernel **out)
{
    *out = NULL;
    if (name == NULL || cpu == NULL || !valid_name(name)) return DUSK_EINVAL;
    dusk_kernel *k = calloc(1, sizeof *k);
    if (k == NULL) return DUSK_ENOMEM;
    strcpy(k->name, name);
    k->cpu = cpu;
    /* History-based: StarPU records each kernel's time per data size, so model-based
     * schedulers (dmda, ...) learn where a task finishes first. */
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

void dusk_kernel_free(dusk_kernel **k)
{
    if (k == NULL || *k == NULL) return;
    /* StarPU keeps a pointer to the performance model until it shuts down. */
    if (dusk__started)
        dusk__kernel_doom(*k);
    else
        free(*k);
    *k = NULL;
}

const char *dusk_kernel_name(const dusk_kernel *k)
{
    return k->name;
}

int dusk_call_nargs(const dusk_call *call)
{
    return call->task->nargs;
}

double *dusk_call_data(const dusk_call *call, int i, int64_t dims[2])
{
    if (i < 0 || i >= call->task->nargs) {
        dims[0] = dims[1] = 0;
        return NULL;
    }
    const dusk_data *d = call->task->data[i];
    dims[0] = d->dims[0];
    dims[1] = d->dims[1];
    if (d->kind == DUSK__MATRIX) return (double *)STARPU_MATRIX_GET_PTR(call->buffers[i]);
    return (double *)STARPU_VECTOR_GET_PTR(call->buffers[i]);
}

const void *dusk_call_value(const dusk_call *call, size_t *size)
{
    if (size) *size = call->task->value_size;
    return call->task->value_size ? call->task->value : NULL;
}

void dusk_call_fail(dusk_call *call, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(call->task->reason);
    call->task->reason = dusk__strdup(buf);
}

void dusk__cpu_entry(void *buffers[], void *cl_arg)
{
    dusk__task *t = cl_arg;
    dusk_call call = {t, buffers};
    t->worker = starpu_worker_get_id();
    t->start = dusk_now();

    /* A cancelled graph runs nothing more; a task whose input was not produced does not
     * run; what it writes is not produced either, so the failure travels down the graph and
     * stops there. */
    if (dusk__graph_cancelling(t->g)) t->status = DUSK_ECANCELED;
    for (int i = 0; i < t->nargs && t->status == 0; i++) {
        if ((t->modes[i] & DUSK_R) && atomic_load(&t->data[i]->failed) != 0) {
            t->status = DUSK_EDEP;
            break;
        }
    }
    if (t->status == 0) {
        /* StarPU may pad a matrix it allocates; our kernels expect it packed. */
        for (int i = 0; i < t->nargs; i++)
            if (t->data[i]->kind == DUSK__MATRIX &&
                STARPU_MATRIX_GET_LD(buffers[i]) != STARPU_MATRIX_GET_NX(buffers[i])) {
                dusk_call_fail(&call, "argument %d is not packed", i);
                t->status = DUSK_EINVAL;
            }
    }
    if (t->status == 0 && dusk__fail_injected(t->key ? t->key : t->k->name)) {
        dusk_call_fail(&call, "injected failure (DUSK_FAIL_TASKS)");
        t->status = DUSK_ENUMERIC;
        t->attempts = 1;
    }
    if (t->status == 0) {
        /* Retries run on the same worker, at once: the kernel's inputs are still here. */
        do {
            t->attempts++;
            t->status = t->k->cpu(&call);
        } while (t->status != 0 && t->attempts <= t->retries);
        if (t->status == 0) {
            free(t->reason);
            t->reason = NULL;
        }
    }
    for (int i = 0; i < t->nargs; i++)
        if (t->modes[i] & DUSK_W) atomic_store(&t->data[i]->failed, t->status);
    t->end = dusk_now();
}
