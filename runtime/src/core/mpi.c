/* Ranks: StarPU-MPI start-up and shut-down, rank queries and the few collectives dusk
 * offers. Everything MPI-specific in dusk lives here and in the graph's owner-computes path
 * (data.c, reads.c, submit.c), behind DUSK_HAVE_MPI; a StarPU built without MPI still runs
 * one rank and refuses more. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_features.h"
#include "dusk_internal.h"
#include "job_counts.h"

#if DUSK_HAVE_MPI
#include <mpi.h>
#include <starpu_mpi.h>
#endif
#if DUSK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static int mpi_on;   /* StarPU-MPI was started (under a launcher) */
static int we_init;  /* dusk called MPI_Init_thread, so dusk calls MPI_Finalize */
static int rank = 0; /* after dusk_init(); before, from the launcher's environment */
static int nranks = 1;

/* The first of these set in the environment, as a number, or -1. Open MPI, MPICH/Hydra,
 * PMIx (Slurm's srun with --mpi=pmix) and Slurm itself. */
static int env_first(const char *const *names)
{
    for (; *names != NULL; names++) {
        const char *s = getenv(*names);
        long long v;
        if (s != NULL && *s != '\0' && dusk__parse_int(s, 0, 1 << 24, &v) == 0) return (int)v;
    }
    return -1;
}

static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                        "MPI_LOCALNRANKS", NULL};
static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", NULL};

int dusk__launched_size(void)
{
    int s = env_first(size_vars);
    /* PMIx names the rank but not always the size (srun --mpi=pmix): Slurm's count then. */
    if (s < 0 && getenv("PMIX_RANK") != NULL) {
        static const char *const slurm[] = {"SLURM_NTASKS", "SLURM_NPROCS", NULL};
        s = env_first(slurm);
        if (s < 0) s = 1;
    }
    return s;
}

int dusk_rank(void)
{
    if (dusk__started || mpi_on) return rank;
    int r = env_first(rank_vars);
    return r < 0 ? 0 : r;
}

int dusk_rank_count(void)
{
    if (dusk__started || mpi_on) return nranks;
    int s = dusk__launched_size();
    return s < 1 ? 1 : s;
}

int dusk__mpi_active(void)
{
    return mpi_on && nranks > 1;
}

int dusk__rank_cpu_workers(int allowed, int reserve_mpi, int cuda_workers)
{
    int n = allowed - (reserve_mpi ? 1 : 0) - (cuda_workers > 0 ? cuda_workers : 0);
    return n > 1 ? n : 1; /* at least one: gen, verify and load run only on CPUs */
}

int dusk__cuda_workers_expected(const dusk_config *cfg)
{
#if DUSK_HAVE_CUDA
    int n = 0;
    if (cfg->ncuda == 0) return 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: StarPU will find none either */
        return 0;
    }
    if (cfg->ncuda > 0 && cfg->ncuda < n) n = cfg->ncuda;
    return n;
#else
    (void)cfg;
    return 0;
#endif
}

#if DUSK_HAVE_MPI
/* How many CPU workers a rank runs, and where. Under a launcher each rank uses the cores it
 * was given (Open MPI binds each of 2 ranks to its own core), not every core of the node:
 * StarPU looks at the whole machine and would put every rank's first worker on core 0, so
 * the workers are bound to the rank's cores through starpu_conf (workers_bindid, which
 * StarPU reads as STARPU_WORKERS_CPUID's list). StarPU-MPI reserves one of them for its
 * communication thread unless the workers are counted explicitly; cfg->mpi_core decides
 * (see dusk_config). A GPU's driver thread gets a core of its own too: StarPU leaves one per
 * GPU when it counts the CPU workers itself, but here dusk counts them. */
static void place_workers(struct starpu_conf *conf, const dusk_config *cfg)
{
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int allowed = (int)online;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) {
        allowed = CPU_COUNT(&set);
        if (allowed < online && getenv("STARPU_WORKERS_CPUID") == NULL &&
            getenv("STARPU_WORKERS_COREID") == NULL && getenv("STARPU_WORKERS_NOBIND") == NULL) {
            unsigned cpus[STARPU_NMAXWORKERS];
            int n = 0;
            for (int c = 0; c < CPU_SETSIZE && n < STARPU_NMAXWORKERS; c++)
                if (CPU_ISSET(c, &set)) cpus[n++] = (unsigned)c;
            /* StarPU takes the whole table (it wraps a shorter STARPU_WORKERS_CPUID list the
             * same way): worker i runs on the rank's (i mod n)-th core */
            conf->use_explicit_workers_bindid = 1;
            for (int i = 0; i < STARPU_NMAXWORKERS; i++)
                conf->workers_bindid[i] = cpus[i % n];
        }
    }
    if (cfg->ncpu >= 0) return; /* counted by the user: StarPU-MPI reserves nothing */
    /* Default: a core of its own only when the rank has cores to spare: on 2 to 4 cores a
     * reserved core would cost a third to a half of the workers; with 1 core per rank it
     * keeps its one worker either way (bench/RESULTS.md: the two within noise) */
    int reserve = cfg->mpi_core >= 0 ? cfg->mpi_core : allowed > 4;
    conf->ncpus = dusk__rank_cpu_workers(allowed, reserve, dusk__cuda_workers_expected(cfg));
    /* the communication thread shares the cores: StarPU-MPI has no field for it */
    if (!reserve && getenv("STARPU_MPI_NOBIND") == NULL) dusk__env_scope("STARPU_MPI_NOBIND", "1");
#ifdef STARPU_MAXCPUS
    if (conf->ncpus > STARPU_MAXCPUS) conf->ncpus = STARPU_MAXCPUS;
#endif
}

/* Warn once per node (from its first rank, unless quiet) when its ranks start more workers
 * than it has cores: `mpirun -np 4` on 2 cores runs 8 workers that compete for 2 cores. The
 * ranks on the node and this rank's place among them come from the launcher (Open MPI,
 * MPICH's Hydra; srun's step layout and local id), and every rank is taken to start as many workers
 * as this one. No MPI call: a collective here, beside StarPU-MPI's own thread, hung ranks talking
 * TCP across network namespaces (tests/test_mpi_netns.sh). */
/* The ranks srun starts on this node: SLURM_STEP_TASKS_PER_NODE ("2(x3),1": 2 on each of the
 * step's first 3 nodes, then 1) at this node's place in the step (SLURM_NODEID), or -1. */
static int slurm_local_size(void)
{
    const char *s = getenv("SLURM_STEP_TASKS_PER_NODE"), *id = getenv("SLURM_NODEID");
    long long node;
    if (s == NULL || id == NULL || dusk__parse_int(id, 0, 1 << 24, &node) != 0) return -1;
    while (*s) {
        char *end;
        long count = strtol(s, &end, 10), times = 1;
        if (end == s || count < 0) return -1;
        if (*end == '(') {
            if (end[1] != 'x') return -1;
            times = strtol(end + 2, &end, 10);
            if (*end != ')' || times < 1) return -1;
            end++;
        }
        if (node < times) return (int)count;
        node -= times;
        if (*end != ',') return -1;
        s = end + 1;
    }
    return -1;
}

static void warn_oversubscribed(const dusk_config *cfg)
{
    static const char *const local_size_vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                                  NULL};
    static const char *const local_rank_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                                  "SLURM_LOCALID", NULL};
    int local_size = env_first(local_size_vars), local_rank = env_first(local_rank_vars);
    if (local_size < 0) local_size = slurm_local_size(); /* srun sets neither of those */
    long long workers = (long long)starpu_worker_get_count() * local_size;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg->verbose >= 0 && local_size > 1 && local_rank == 0 && cores > 0 && workers > cores)
        fprintf(stderr,
                "dusk: warning: the %d ranks on this node start %lld workers in all, on %ld "
                "cores: they compete for them (start fewer ranks per node, or fewer workers "
                "each with --ncpu)\n",
                local_size, workers, cores);
}
#endif

int dusk__mpi_start(struct starpu_conf *conf, const dusk_config *cfg, char *why, size_t whylen)
{
    int size = dusk__launched_size();
    if (size < 1) return starpu_init(conf);
#if !DUSK_HAVE_MPI
    (void)conf;
    (void)cfg;
    if (size > 1) {
        dusk__set_why(why, whylen,
                      "this dusk was built against a StarPU without MPI support: it cannot run "
                      "as %d ranks (run one process, or rebuild with StarPU-MPI)",
                      size);
        return -EPROTONOSUPPORT;
    }
    return starpu_init(conf);
#else
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* MULTIPLE: dusk's collectives (dusk_ranks_max, dusk_barrier) are called from the
         * program's thread while StarPU-MPI's own thread drives the communications. */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
            dusk__set_why(why, whylen, "MPI_Init_thread failed");
            return -EIO;
        }
        we_init = 1;
    } else {
        MPI_Query_thread(&provided);
    }
    if (provided < MPI_THREAD_MULTIPLE) {
        dusk__set_why(why, whylen,
                      "the MPI library gives thread level %d, dusk needs MPI_THREAD_MULTIPLE",
                      provided);
        if (we_init) MPI_Finalize();
        we_init = 0;
        return -EPROTONOSUPPORT;
    }
    place_workers(conf, cfg);
    int ret = starpu_mpi_init_conf(NULL, NULL, 0, MPI_COMM_WORLD, conf);
    if (ret != 0) {
        if (we_init) MPI_Finalize();
        we_init = 0;
        return ret;
    }
    mpi_on = 1;
    starpu_mpi_comm_rank(MPI_COMM_WORLD, &rank);
    starpu_mpi_comm_size(MPI_COMM_WORLD, &nranks);
    if (nranks > 1) warn_oversubscribed(cfg);
    return 0;
#endif
}

void dusk__mpi_stop(void)
{
#if DUSK_HAVE_MPI
    if (mpi_on) {
        starpu_mpi_shutdown(); /* also shuts StarPU down */
        mpi_on = 0;
        if (we_init) MPI_Finalize();
        we_init = 0;
        return;
    }
#endif
    starpu_shutdown();
}

int dusk_barrier(void)
{
    if (!dusk__started) return DUSK_ESTATE;
#if DUSK_HAVE_MPI
    if (mpi_on && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) return DUSK_EIO;
#endif
    return 0;
}

/* value combined over the ranks: the largest (sum == 0) or the sum */
static int ranks_reduce(int64_t value, int64_t *out, int sum)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = value;
    if (!dusk__started) return DUSK_ESTATE;
#if DUSK_HAVE_MPI
    if (mpi_on) {
        long long in = value, res = value;
        if (MPI_Allreduce(&in, &res, 1, MPI_LONG_LONG, sum ? MPI_SUM : MPI_MAX, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return DUSK_EIO;
        *out = res;
    }
#else
    (void)sum;
#endif
    return 0;
}

int dusk_ranks_max(int64_t value, int64_t *out)
{
    return ranks_reduce(value, out, 0);
}

int dusk_ranks_sum(int64_t value, int64_t *out)
{
    return ranks_reduce(value, out, 1);
}

int dusk_ranks_gather(const char *text, size_t len, char **out, size_t *outlen)
{
    if (out != NULL) *out = NULL;
    if (outlen != NULL) *outlen = 0;
    if (out == NULL || outlen == NULL || (text == NULL && len > 0)) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
    if (len > INT32_MAX) return DUSK_EINVAL;
    int n = 1;
#if DUSK_HAVE_MPI
    if (mpi_on) n = nranks;
#endif
    int mine = (int)len, *lens = NULL, *offs = NULL;
    if (rank == 0) {
        lens = calloc((size_t)n, sizeof *lens);
        offs = calloc((size_t)n, sizeof *offs);
        if (lens == NULL || offs == NULL) { /* the others would wait for us: end the job */
            fprintf(stderr, "dusk: rank 0: out of memory in a gather\n");
            dusk_abort(1);
        }
    }
#if DUSK_HAVE_MPI
    if (mpi_on &&
        MPI_Gather(&mine, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(lens);
        free(offs);
        return DUSK_EIO;
    }
#endif
    size_t total = 0;
    if (rank == 0) {
        if (!mpi_on) lens[0] = mine;
        for (int r = 0; r < n; r++) {
            offs[r] = (int)total;
            total += (size_t)lens[r];
        }
        if (total > INT32_MAX || (*out = malloc(total + 1)) == NULL) {
            fprintf(stderr, "dusk: rank 0: cannot gather %zu bytes from the ranks\n", total);
            dusk_abort(1);
        }
    }
    int ret = 0;
    if (mpi_on) {
#if DUSK_HAVE_MPI
        if (MPI_Gatherv(text, mine, MPI_CHAR, *out, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            ret = DUSK_EIO;
#endif
    } else if (len > 0) {
        memcpy(*out, text, len); /* one rank: this is rank 0 */
    }
    if (rank == 0) {
        (*out)[total] = '\0';
        *outlen = total;
    }
    free(lens);
    free(offs);
    if (ret != 0) {
        free(*out);
        *out = NULL;
        *outlen = 0;
    }
    return ret;
}

int dusk_ranks_merge(void *buf, size_t len)
{
    if (buf == NULL && len > 0) return DUSK_EINVAL;
    if (!dusk__started) return DUSK_ESTATE;
#if DUSK_HAVE_MPI
    /* MPI counts are ints: 1 GiB at a time */
    for (size_t at = 0; mpi_on && at < len;) {
        size_t n = len - at < ((size_t)1 << 30) ? len - at : (size_t)1 << 30;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at, (int)n, MPI_BYTE, MPI_BOR,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return DUSK_EIO;
        at += n;
    }
#endif
    return 0;
}

void dusk_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
#if DUSK_HAVE_MPI
    if (mpi_on && nranks > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    _exit(code);
}

/* ---- owner-computes, for the graph --------------------------------------------------------------
 */

#if DUSK_HAVE_MPI
static int64_t next_tag = 1;

void dusk__mpi_data_register(dusk_data *d)
{
    if (!dusk__mpi_active()) return;
    /* Every rank registers the same data in the same order (at their first use, as every
     * rank hands over the same graph in the same order), so the tags agree. */
    starpu_mpi_data_register(d->handle, next_tag++, d->owner);
}

void dusk__mpi_data_set_owner(dusk_data *d, int owner)
{
    d->owner = owner;
    if (dusk__mpi_active() && d->handle != NULL) starpu_mpi_data_set_rank(d->handle, owner);
}

struct starpu_task *dusk__mpi_task_build(const struct starpu_codelet *cl,
                                         struct starpu_data_descr *descrs, int n)
{
    return starpu_mpi_task_build(MPI_COMM_WORLD, (struct starpu_codelet *)cl,
                                 STARPU_DATA_MODE_ARRAY, descrs, n, 0);
}

void dusk__mpi_task_post_build(const struct starpu_codelet *cl, struct starpu_data_descr *descrs,
                               int n)
{
    starpu_mpi_task_post_build(MPI_COMM_WORLD, (struct starpu_codelet *)cl, STARPU_DATA_MODE_ARRAY,
                               descrs, n, 0);
}

void dusk__mpi_send_to(dusk_data *d, int to)
{
    starpu_mpi_get_data_on_node_detached(MPI_COMM_WORLD, d->handle, to, NULL, NULL);
}
#else
void dusk__mpi_data_register(dusk_data *d)
{
    (void)d;
}

void dusk__mpi_data_set_owner(dusk_data *d, int owner)
{
    d->owner = owner;
}

struct starpu_task *dusk__mpi_task_build(const struct starpu_codelet *cl,
                                         struct starpu_data_descr *descrs, int n)
{
    (void)cl, (void)descrs, (void)n;
    return NULL;
}

void dusk__mpi_task_post_build(const struct starpu_codelet *cl, struct starpu_data_descr *descrs,
                               int n)
{
    (void)cl, (void)descrs, (void)n;
}

void dusk__mpi_send_to(dusk_data *d, int to)
{
    (void)d, (void)to;
}
#endif

/* ---- the whole job's counts (job_counts.h) ----------------------------------------------- */

struct dusk__job_counts {
#if DUSK_HAVE_MPI
    MPI_Comm comm;
    MPI_Request req; /* ranks > 0: the send in flight, or MPI_REQUEST_NULL */
    long long msg[2];
    long long sent;       /* ranks > 0: messages sent */
    long long *latest;    /* rank 0: per rank, done and failed */
    long long *received;  /* rank 0: per rank, messages received */
    pthread_mutex_t lock; /* rank 0: between the polls and the close's draining */
    int closed;           /* the communicator is freed */
#else
    int unused;
#endif
};

int dusk__job_counts_open(dusk__job_counts **out)
{
    *out = NULL;
    if (!dusk__started) return DUSK_ESTATE;
#if DUSK_HAVE_MPI
    if (!mpi_on || nranks < 2) return 0;
    dusk__job_counts *c = calloc(1, sizeof *c);
    int ok = c != NULL;
    if (ok && rank == 0) {
        c->latest = calloc((size_t)nranks * 2, sizeof *c->latest);
        c->received = calloc((size_t)nranks, sizeof *c->received);
        ok = c->latest && c->received;
    }
    /* every rank must take part in the dup, whatever it lacks: the sum says whether all can */
    int all_ok = 0;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD) != MPI_SUCCESS)
        all_ok = 0;
    if (all_ok && MPI_Comm_dup(MPI_COMM_WORLD, &c->comm) != MPI_SUCCESS) all_ok = 0;
    if (!all_ok) {
        if (c) free(c->latest), free(c->received);
        free(c);
        return DUSK_ENOMEM;
    }
    c->req = MPI_REQUEST_NULL;
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
#endif
    return 0;
}

void dusk__job_counts_post(dusk__job_counts *c, int64_t done, int64_t failed, int last)
{
#if DUSK_HAVE_MPI
    if (c == NULL || rank == 0) return;
    int flag = 1;
    if (last && c->req != MPI_REQUEST_NULL) /* rank 0 polls, or drains at the close */
        (void)MPI_Wait(&c->req, MPI_STATUS_IGNORE);
    if (c->req != MPI_REQUEST_NULL && MPI_Test(&c->req, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return;
    if (!flag) return; /* rank 0 has not taken the last one yet */
    c->msg[0] = done;
    c->msg[1] = failed;
    if (MPI_Isend(c->msg, 2, MPI_LONG_LONG, 0, 1, c->comm, &c->req) == MPI_SUCCESS) c->sent++;
#else
    (void)c, (void)done, (void)failed, (void)last;
#endif
}

#if DUSK_HAVE_MPI
/* Rank 0: one message from `src`, kept as its latest. 0 or -1. */
static int take(dusk__job_counts *c, int src)
{
    long long m[2];
    if (MPI_Recv(m, 2, MPI_LONG_LONG, src, 1, c->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) return -1;
    c->latest[2 * src] = m[0];
    c->latest[2 * src + 1] = m[1];
    c->received[src]++;
    return 0;
}
#endif

void dusk__job_counts_poll(dusk__job_counts *c, int64_t *done, int64_t *failed)
{
    *done = *failed = 0;
#if DUSK_HAVE_MPI
    if (c == NULL || rank != 0) return;
    pthread_mutex_lock(&c->lock);
    for (; !c->closed;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, 1, c->comm, &flag, &st) != MPI_SUCCESS || !flag) break;
        if (take(c, st.MPI_SOURCE) != 0) break;
    }
    for (int r = 1; r < nranks; r++) {
        *done += c->latest[2 * r];
        *failed += c->latest[2 * r + 1];
    }
    pthread_mutex_unlock(&c->lock);
#else
    (void)c;
#endif
}

int dusk__job_counts_close(dusk__job_counts *c, int64_t done, int64_t failed, int64_t *jdone,
                           int64_t *jfailed)
{
    *jdone = done;
    *jfailed = failed;
    if (c == NULL) return 0;
    int ret = 0;
#if DUSK_HAVE_MPI
    /* how many each rank sent: rank 0 takes the rest, and so every send completes */
    long long *sent = rank == 0 ? calloc((size_t)nranks, sizeof *sent) : NULL;
    if (rank == 0 && sent == NULL) dusk_abort(1); /* the others would wait for us */
    if (MPI_Gather(&c->sent, 1, MPI_LONG_LONG, sent, 1, MPI_LONG_LONG, 0, c->comm) != MPI_SUCCESS)
        ret = DUSK_EIO;
    if (rank == 0) pthread_mutex_lock(&c->lock);
    if (ret == 0 && rank == 0)
        for (int r = 1; r < nranks; r++)
            while (c->received[r] < sent[r])
                if (take(c, r) != 0) dusk_abort(1); /* rank r would wait for us */
    if (c->req != MPI_REQUEST_NULL) MPI_Wait(&c->req, MPI_STATUS_IGNORE);
    long long in[2] = {done, failed}, sum[2] = {done, failed};
    if (ret == 0 && MPI_Reduce(in, sum, 2, MPI_LONG_LONG, MPI_SUM, 0, c->comm) != MPI_SUCCESS)
        ret = DUSK_EIO;
    if (ret == 0 && rank == 0) {
        *jdone = sum[0];
        *jfailed = sum[1];
    }
    MPI_Comm_free(&c->comm);
    c->closed = 1;
    if (rank == 0) pthread_mutex_unlock(&c->lock);
    free(sent);
#else
    (void)done, (void)failed;
#endif
    return ret;
}

void dusk__job_counts_free(dusk__job_counts **cp)
{
    dusk__job_counts *c = *cp;
    if (c == NULL) return;
    *cp = NULL;
#if DUSK_HAVE_MPI
    pthread_mutex_destroy(&c->lock);
    free(c->latest);
    free(c->received);
#endif
    free(c);
}
