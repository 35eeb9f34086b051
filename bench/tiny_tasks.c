/* dusk-bench-tiny: the task throughput of the runtime itself. N tasks (default 200,000) of a
 * kernel that does nothing and has no data (dusk_task_submit with nargs 0) go through one
 * graph's window; what is timed is the submission loop plus dusk_graph_wait(), so the figure
 * is the whole cost per task: dusk's bookkeeping, StarPU's task creation, scheduling and
 * callback, and the window's hand-over between the submitting thread and the workers.
 *
 *   dusk-bench-tiny [-N TASKS] [-q] [--help]
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

static int nothing_cpu(dusk_call *call)
{
    (void)call;
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dusk-bench-tiny [-N TASKS] [-q] [--help]\n"
               "  -N, --ntasks TASKS  number of empty tasks (default 200000)\n"
               "  -q, --quiet         print only the result line\n"
               "Workers etc. from the environment: STARPU_NCPU, STARPU_SCHED, DUSK_WINDOW, "
               "DUSK_TRACE.\n");
}

int main(int argc, char **argv)
{
    long long count = 200000;
    int quiet = 0;
    static const struct option longopts[] = {{"ntasks", required_argument, NULL, 'N'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
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
    for (long long i = 0; i < count; i++) {
        if ((ret = dusk_task_submit(g, k, NULL, 0, NULL, 0, NULL, NULL)) != 0) {
            fprintf(stderr, "dusk-bench-tiny: cannot submit task %lld: %s\n", i,
                    dusk_strerror(ret));
            break;
        }
    }
    int wret = dusk_graph_wait(g);
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
               "sched %s, peak in flight %lld; peak memory grew by %.1f MB\n",
               count, elapsed, (double)count / elapsed, 1e6 * elapsed / (double)count,
               dusk_cpu_worker_count(), dusk_sched_name(), (long long)dusk_graph_peak_in_flight(g),
               (double)grown / 1e6);
    }
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return status;
}
