/* Extensions: dusk_init() runs every registered start in order once StarPU has started, then
 * worker_start once on each worker's own thread (never two at once), then sleep; the first
 * graph made wakes them and freeing the last puts them to sleep; dusk_shutdown() wakes them,
 * then runs stop before StarPU stops and fini after it, in the reverse order. A start that fails
 * fails dusk_init() with its code and reason, and only the extensions started before it are
 * stopped. Registration refuses what it should. This program never names the built-in
 * kernels: with libdusk.a it links none of them, and the core runs without them. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "dusk.h"
#include "test.h"

#define MAX_EVENTS 256
static char events[MAX_EVENTS][32];
static atomic_int nevents;
static pthread_t main_thread;

static void event(const char *what, const char *who)
{
    int i = atomic_fetch_add(&nevents, 1);
    if (i >= MAX_EVENTS) TEST_FAIL_("too many events");
    snprintf(events[i], sizeof events[i], "%s %s", what, who);
}

/* per worker, for each extension: how many calls, on which thread, how many at once */
static atomic_int calls[2][1024], inside;
static pthread_t threads[2][1024];
static int overlap;

static void on_worker(int ext, int worker, int is_cuda, const dusk_config *cfg)
{
    if (atomic_fetch_add(&inside, 1) != 0) overlap = 1;
    CHECK(worker >= 0 && worker < 1024);
    CHECK_EQ(is_cuda, 0); /* this test asks for no GPU */
    CHECK_EQ(cfg->window, 77);
    atomic_fetch_add(&calls[ext][worker], 1);
    threads[ext][worker] = pthread_self();
    struct timespec ts = {0, 2000000}; /* 2 ms: two calls at once would overlap */
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&inside, 1);
}

static int start_a(const dusk_config *cfg, char *why, size_t whylen)
{
    (void)why, (void)whylen;
    CHECK_EQ(cfg->window, 77);
    CHECK_GE(dusk_worker_count(), 1); /* StarPU runs already */
    event("start", "a");
    return 0;
}
static void worker_a(int worker, int is_cuda, const dusk_config *cfg)
{
    on_worker(0, worker, is_cuda, cfg);
}
static void stop_a(void)
{
    CHECK_GE(dusk_worker_count(), 1); /* before StarPU stops */
    event("stop", "a");
}
static void fini_a(void)
{
    CHECK_EQ(dusk_worker_count(), 0); /* after it */
    event("fini", "a");
}

static int start_b(const dusk_config *cfg, char *why, size_t whylen)
{
    (void)cfg, (void)why, (void)whylen;
    event("start", "b");
    return 0;
}
static void worker_b(int worker, int is_cuda, const dusk_config *cfg)
{
    on_worker(1, worker, is_cuda, cfg);
}
static void stop_b(void)
{
    event("stop", "b");
}
static void fini_b(void)
{
    event("fini", "b");
}

static int start_bad(const dusk_config *cfg, char *why, size_t whylen)
{
    (void)cfg;
    event("start", "bad");
    snprintf(why, whylen, "no licence for the frobnicator");
    return DUSK_ENODEV;
}
static void stop_bad(void)
{
    event("stop", "bad");
}
static void fini_bad(void)
{
    event("fini", "bad");
}

static void wake_a(void)
{
    CHECK(pthread_equal(pthread_self(), main_thread)); /* the thread making the graph */
    event("wake", "a");
}
static void sleep_a(void)
{
    CHECK(pthread_equal(pthread_self(), main_thread));
    event("sleep", "a");
}
static void wake_b(void)
{
    event("wake", "b");
}
static void sleep_b(void)
{
    event("sleep", "b");
}

static const dusk_extension ext_a = {"a", start_a, worker_a, stop_a, fini_a, wake_a, sleep_a};
static const dusk_extension ext_b = {"b", start_b, worker_b, stop_b, fini_b, wake_b, sleep_b};
static const dusk_extension ext_a_again = {.name = "a", .start = start_b};
static const dusk_extension ext_bad = {
    .name = "bad", .start = start_bad, .stop = stop_bad, .fini = fini_bad};
static const dusk_extension ext_nameless = {.name = "", .start = start_b};

static void check_events(const char *const *want, int n)
{
    CHECK_EQ(atomic_load(&nevents), n);
    for (int i = 0; i < n; i++)
        if (strcmp(events[i], want[i]) != 0)
            TEST_FAIL_("event %d is '%s', expected '%s'", i, events[i], want[i]);
    atomic_store(&nevents, 0);
}

static void start(int ncpu)
{
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = ncpu;
    cfg.ncuda = 0;
    cfg.window = 77;
    memset(calls, 0, sizeof calls);
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
}

int main(void)
{
    main_thread = pthread_self();
    CHECK_EQ(dusk_extension_register(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_extension_register(&ext_nameless), DUSK_EINVAL);
    CHECK_OK(dusk_extension_register(&ext_a));
    CHECK_OK(dusk_extension_register(&ext_b));
    CHECK_OK(dusk_extension_register(&ext_a)); /* the same table again: nothing happens */
    CHECK_EQ(dusk_extension_register(&ext_a_again), DUSK_EEXIST);

    /* twice, with 1 and 2 workers: every start, stop and fini each time */
    for (int ncpu = 1; ncpu <= 2; ncpu++) {
        start(ncpu);
        CHECK_EQ(dusk_extension_register(&ext_bad), DUSK_ESTATE); /* not while started */
        int nworkers = dusk_worker_count();
        CHECK_EQ(nworkers, ncpu);
        for (int e = 0; e < 2; e++)
            for (int w = 0; w < 1024; w++) {
                CHECK_EQ(atomic_load(&calls[e][w]), w < nworkers ? 1 : 0);
                if (w < nworkers) {
                    CHECK(!pthread_equal(threads[e][w], main_thread));
                    CHECK(pthread_equal(threads[e][w], threads[0][w])); /* that worker's */
                    for (int v = 0; v < w; v++)
                        CHECK(!pthread_equal(threads[e][w], threads[e][v]));
                }
            }
        CHECK(!overlap);
        /* the workers sleep once started, wake for the first graph and sleep again when the
         * last one is freed */
        static const char *const started[] = {"start a", "start b", "sleep a", "sleep b"};
        check_events(started, 4);
        dusk_graph *g = NULL, *h = NULL;
        CHECK_OK(dusk_graph_new(&g));
        CHECK_OK(dusk_graph_new(&h));
        dusk_graph_free(&g);
        static const char *const woken[] = {"wake a", "wake b"};
        check_events(woken, 2);
        dusk_graph_free(&h);
        static const char *const slept[] = {"sleep a", "sleep b"};
        check_events(slept, 2);
        dusk_shutdown();
        static const char *const stopped[] = {"wake a", "wake b", "stop b",
                                              "stop a", "fini b", "fini a"};
        check_events(stopped, 6);
        dusk_shutdown(); /* twice: nothing more */
        check_events(NULL, 0);
    }

    /* a start that fails: dusk_init fails with its code and reason; a and b, started
     * before it, are stopped; its own stop and fini are not called */
    CHECK_OK(dusk_extension_register(&ext_bad));
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    cfg.window = 77;
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_ENODEV);
    CHECK_STR_CONTAINS(why, "cannot start bad: no licence for the frobnicator");
    static const char *const failed[] = {"start a", "start b", "start bad", "stop b",
                                         "stop a",  "fini b",  "fini a"};
    check_events(failed, 7);
    CHECK(dusk_current_config() == NULL);
    CHECK_EQ(dusk_worker_count(), 0);

    /* the limit */
    static dusk_extension many[DUSK_MAX_EXTENSIONS];
    static char names[DUSK_MAX_EXTENSIONS][16];
    int registered = 3, ret = 0;
    for (int i = 0; i < DUSK_MAX_EXTENSIONS && ret == 0; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        many[i].name = names[i];
        if ((ret = dusk_extension_register(&many[i])) == 0) registered++;
    }
    CHECK_EQ(ret, DUSK_EINVAL);
    CHECK_EQ(registered, DUSK_MAX_EXTENSIONS);
    return 0;
}
