/* The process-wide state of dusk, in one place: whether it is started and with which
 * configuration, the registered extensions, the environment set for StarPU's start alone, the
 * trace being written and the hook run before each task body; and what a running dusk
 * answers from it (workers, scheduler). The rest of the core reads this state here; this file
 * calls none of the others (tools/layers.sh checks that no call goes round in a cycle). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dusk_features.h"
#include "dusk_internal.h"

int dusk__started = 0;
dusk__before_run_fn dusk__before_run = NULL;
static dusk_config current;
static dusk__trace *trace; /* when DUSK_TRACE or --trace asked for one */
static char *run_info;

/* Registered extensions, and how many of them have started (their stop and fini are due). */
static const dusk_extension *extensions[DUSK_MAX_EXTENSIONS];
static int nextensions, nstarted;

void dusk__runtime_start(const dusk_config *cfg)
{
    current = *cfg;
    dusk__started = 1;
}

void dusk__runtime_stop(void)
{
    dusk__started = 0;
}

dusk__trace **dusk__runtime_trace(void)
{
    return &trace;
}

void dusk_set_run_info(const char *line)
{
    if (trace == NULL || line == NULL) return;
    free(run_info);
    run_info = dusk__strdup(line);
}

const char *dusk__runtime_run_info(void)
{
    return run_info ? run_info : "";
}

void dusk__runtime_run_info_clear(void)
{
    free(run_info);
    run_info = NULL;
}

/* ---- the environment StarPU reads only at start-up ---------------------------------------- */

/* Variables set (or unset) for StarPU's start alone, with what was there before. */
static struct env_saved {
    char *name, *old; /* old: NULL when it was unset */
} env_saved[8];
static int nenv_saved;

void dusk__env_scope(const char *name, const char *value)
{
    if (nenv_saved == (int)(sizeof env_saved / sizeof env_saved[0])) return;
    for (int i = 0; i < nenv_saved; i++)
        if (strcmp(env_saved[i].name, name) == 0) { /* saved already: that value comes back */
            if (value != NULL)
                (void)setenv(name, value, 1);
            else
                (void)unsetenv(name);
            return;
        }
    const char *old = getenv(name);
    struct env_saved *e = &env_saved[nenv_saved];
    e->name = dusk__strdup(name);
    e->old = old != NULL ? dusk__strdup(old) : NULL;
    if (e->name == NULL || (old != NULL && e->old == NULL)) { /* out of memory: leave it */
        free(e->name);
        free(e->old);
        return;
    }
    nenv_saved++;
    if (value != NULL)
        (void)setenv(name, value, 1);
    else
        (void)unsetenv(name);
}

void dusk__env_restore(void)
{
    while (nenv_saved > 0) {
        struct env_saved *e = &env_saved[--nenv_saved];
        if (e->old != NULL)
            (void)setenv(e->name, e->old, 1);
        else
            (void)unsetenv(e->name);
        free(e->name);
        free(e->old);
        e->name = e->old = NULL;
    }
}

/* ---- extensions --------------------------------------------------------------------------- */

int dusk_extension_register(const dusk_extension *ext)
{
    if (ext == NULL || ext->name == NULL || ext->name[0] == '\0') return DUSK_EINVAL;
    if (dusk__started) return DUSK_ESTATE;
    for (int i = 0; i < nextensions; i++) {
        if (extensions[i] == ext) return 0;
        if (strcmp(extensions[i]->name, ext->name) == 0) return DUSK_EEXIST;
    }
    if (nextensions == DUSK_MAX_EXTENSIONS) return DUSK_EINVAL;
    extensions[nextensions++] = ext;
    return 0;
}

/* On each worker's thread: every extension's worker_start, one call at a time (an extension
 * need not be thread-safe: OpenBLAS's thread count is a global). */
static pthread_mutex_t worker_hook_lock = PTHREAD_MUTEX_INITIALIZER;

static void worker_hooks(void *arg)
{
    (void)arg;
    int id = starpu_worker_get_id();
    int is_cuda = id >= 0 && starpu_worker_get_type(id) == STARPU_CUDA_WORKER;
    pthread_mutex_lock(&worker_hook_lock);
    for (int i = 0; i < nstarted; i++)
        if (extensions[i]->worker_start != NULL) extensions[i]->worker_start(id, is_cuda, &current);
    pthread_mutex_unlock(&worker_hook_lock);
}

void dusk__extensions_wake(int awake)
{
    for (int i = 0; i < nstarted; i++) {
        void (*hook)(void) = awake ? extensions[i]->wake : extensions[i]->sleep;
        if (hook != NULL) hook();
    }
}

int dusk__extensions_start(char *why, size_t whylen)
{
    for (nstarted = 0; nstarted < nextensions; nstarted++) {
        const dusk_extension *e = extensions[nstarted];
        if (e->start == NULL) continue;
        char ewhy[256] = "";
        int ret = e->start(&current, ewhy, sizeof ewhy);
        if (ret != 0) {
            if (ret > 0) ret = DUSK_ESTARPU; /* not a dusk code: a failed start all the same */
            dusk__set_why(why, whylen, "cannot start %s: %s", e->name,
                          ewhy[0] != '\0' ? ewhy : dusk_strerror(ret));
            return ret;
        }
    }
    int hooks = 0;
    for (int i = 0; i < nstarted; i++)
        hooks |= extensions[i]->worker_start != NULL;
    if (hooks) starpu_execute_on_each_worker(worker_hooks, NULL, STARPU_CPU | STARPU_CUDA);
    return 0;
}

void dusk__extensions_stop(void)
{
    for (int i = nstarted - 1; i >= 0; i--)
        if (extensions[i]->stop != NULL) extensions[i]->stop();
}

void dusk__extensions_fini(void)
{
    for (int i = nstarted - 1; i >= 0; i--)
        if (extensions[i]->fini != NULL) extensions[i]->fini();
    nstarted = 0;
}

/* ---- what a running dusk answers ------------------------------------------------------------ */

int dusk_worker_count(void)
{
    return dusk__started ? (int)starpu_worker_get_count() : 0;
}

int dusk_cpu_worker_count(void)
{
    return dusk__started ? (int)starpu_cpu_worker_get_count() : 0;
}

int dusk_cuda_worker_count(void)
{
#if DUSK_HAVE_CUDA
    return dusk__started ? (int)starpu_cuda_worker_get_count() : 0;
#else
    return 0;
#endif
}

int dusk_have_cuda(void)
{
    return DUSK_HAVE_CUDA;
}

const char *dusk_sched_name(void)
{
    if (!dusk__started) return "";
    struct starpu_sched_policy *p = starpu_sched_ctx_get_sched_policy(0);
    return p != NULL && p->policy_name != NULL ? p->policy_name : "";
}

const dusk_config *dusk_current_config(void)
{
    return dusk__started ? &current : NULL;
}
