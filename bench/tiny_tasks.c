/* dusk-bench-tiny: the task throughput of the runtime itself. N tasks (default 200,000) of a
 * kernel that does nothing and has no data (dusk_task_submit with nargs 0) go through one
 * graph's window; what is timed is the submission loop plus dusk_graph_wait(), so the figure
 * is the whole cost per task: dusk's bookkeeping, StarPU's task creation, scheduling and
 * callback, and the window's hand-over between the submitting thread and the workers.
 *
 *   dusk-bench-tiny [-N TASKS] [--hold] [--data] [-q] [--help]
 *
 * --hold builds the whole graph first (dusk_graph_hold) and then runs it (dusk_graph_compute),
 * so that the memory growth shows what each recorded task costs until compute; --data gives
 * each task a data object of its own (a 1-value vector it writes, released at once), as
 * dusk-reduce's tasks have. bench/held_memory.sh compares the four combinations.
 *
 * Workers, scheduler, window and trace come from the environment as for every dusk program
 * (STARPU_NCPU, STARPU_SCHED, DUSK_WINDOW, DUSK_TRACE). It uses only the public API.
 * Output (one line, parsed by bench/graph.sh):
 *
 *   Ran N tiny tasks in X s: R tasks/s, U us per task, W workers, sched S, peak in flight P;
 *   peak memory grew by M MB
 */
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dusk.h"
#include "dusk_kernel.h"

static atomic_llong ran;

/* writes its one argument, when it has one */
static int nothing_cpu(dusk_call *call)
{
    int64_t dims[2];
    if (dusk_call_nargs(call) > 0) dusk_call_data(call, 0, dims)[0] = 1;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dusk-bench-tiny [-N TASKS] [--hold] [--data] [-q] [--help]\n"
               "  -N, --ntasks TASKS  number of empty tasks (default 200000)\n"
               "      --hold          build the whole graph first, then compute it\n"
               "      --data          each task writes a 1-value vector of its own\n"
               "  -q, --quiet         print only the result line\n"
               "Workers etc. from the environment: STARPU_NCPU, STARPU_SCHED, DUSK_WINDOW, "
               "DUSK_TRACE.\n");
}

int main(int argc, char **argv)
{
    long long count = 200000;
    int quiet = 0, hold = 0, data = 0;
    static const struct option longopts[] = {
        {"ntasks", required_argument, NULL, 'N'}, {"hold", no_argument, NULL, 'H'},
        {"data", no_argument, NULL, 'D'},         {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "N:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'N': {
            char *end;
            count = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || count < 1) {
                fprintf(stderr, "dusk-bench-tiny: -N: '%s' is not a positive whole number\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'q':
            quiet = 1;
            break;
        case 'H':
            hold = 1;
            break;
        case 'D':
            data = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dusk-bench-tiny: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    dusk_config cfg;
    char why[256];
    int ret;
    if ((ret = dusk_config_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "dusk-bench-tiny: %s\n", why);
        return 2;
    }
    cfg.progress = DUSK_PROGRESS_OFF;
    cfg.verbose = -1;
    if ((ret = dusk_init(&cfg, why, sizeof why)) != 0) {
        fprintf(stderr, "dusk-bench-tiny: %s\n", why);
        return ret == DUSK_EINVAL ? 2 : 1;
    }
    dusk_kernel *k = NULL;
    dusk_graph *g = NULL;
    if ((ret = dusk_kernel_new("bench_nothing", nothing_cpu, &k)) != 0 ||
        (ret = dusk_graph_new(&g)) != 0) {
        fprintf(stderr, "dusk-bench-tiny: %s\n", dusk_strerror(ret));
        dusk_kernel_free(&k);
        dusk_shutdown();
        return 1;
    }
    char info[128];
    snprintf(info, sizeof info, "dusk-bench-tiny: %lld empty tasks", count);
    dusk_set_run_info(info);
    if (!quiet)
        printf("dusk-bench-tiny: %lld empty tasks, %d CPU workers, sched=%s\n", count,
               dusk_cpu_worker_count(), dusk_sched_name());
    fflush(stdout);

    int64_t rss0 = dusk_peak_rss();
    double t0 = dusk_now();
    if (hold && (ret = dusk_graph_hold(g)) != 0) count = 0;
    for (long long i = 0; i < count; i++) {
        dusk_data *v = NULL;
        if (data && (ret = dusk_vector_new(g, 1, &v)) == 0) {
            dusk_arg arg = {v, DUSK_W};
            ret = dusk_task_submit(g, k, &arg, 1, NULL, 0, NULL, NULL);
            dusk_data_release(&v);
        } else if (!data) {
            ret = dusk_task_submit(g, k, NULL, 0, NULL, 0, NULL, NULL);
        }
        if (ret != 0) {
            fprintf(stderr, "dusk-bench-tiny: cannot submit task %lld: %s\n", i,
                    dusk_strerror(ret));
            break;
        }
    }
    int64_t built = dusk_peak_rss() - rss0;
    int wret = hold ? dusk_graph_compute(g) : dusk_graph_wait(g);
    double elapsed = dusk_now() - t0;
    int64_t grown = dusk_peak_rss() - rss0;

    int64_t finished, failed;
    dusk_graph_counts(g, NULL, &finished, &failed);
    int status = 0;
    if (ret != 0 || wret != 0 || failed != 0 || finished != count || atomic_load(&ran) != count) {
        fprintf(stderr, "dusk-bench-tiny: %lld of %lld tasks finished, %lld failed, %lld ran\n",
                (long long)finished, count, (long long)failed, (long long)atomic_load(&ran));
        status = 1;
    } else {
        printf("Ran %lld tiny tasks in %.3f s: %.0f tasks/s, %.2f us per task, %d workers, "
               "sched %s, peak in flight %lld; peak memory grew by %.1f MB (%.0f bytes per "
               "task; %.1f MB before running)%s%s\n",
               count, elapsed, (double)count / elapsed, 1e6 * elapsed / (double)count,
               dusk_cpu_worker_count(), dusk_sched_name(), (long long)dusk_graph_peak_in_flight(g),
               (double)grown / 1e6, (double)grown / (double)count, (double)built / 1e6,
               hold ? ", held" : "", data ? ", a vector each" : "");
    }
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return status;
}
