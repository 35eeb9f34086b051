/* dusk_batch.h used wrongly or sparingly: dusk_batch_run() after a dusk_batch_open() that
 * refused computes nothing and returns open's refusal (it used to run every task, then write
 * where it could not and print a resume command for a directory that does not exist); a
 * batch whose program gave no command line (no dusk_cli_batch_args) prints, through the text
 * reporter, a resume command that says --resume (it used to print '', from an overlapping
 * copy of the flag).
 *
 * And the batch as a library: the records after a refused open (why, usage or failure); the
 * exit status of each outcome (0, 1, 2, 3, 128 + N) with the code dusk_batch_run() returns;
 * the records of failed items; the events' order (STOPPING from a signal among them); and
 * that a batch without a reporter says nothing at all, on stdout or stderr. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_cli.h"
#include "dusk_kernel.h"
#include "test.h"

static int calls;

/* A submit function that refuses every chunk: the batch stops at the first. */
static int refuse(void *user, dusk_graph *g, dusk_chunk *c)
{
    (void)user, (void)g, (void)c;
    calls++;
    return DUSK_EINVAL;
}

/* One that submits nothing (a batch without outputs): its items are simply done. */
static int nothing(void *user, dusk_graph *g, dusk_chunk *c)
{
    (void)user, (void)g, (void)c;
    return 0;
}

/* One that sends itself SIGINT at its first chunk: a graceful stop. */
static int interrupt(void *user, dusk_graph *g, dusk_chunk *c)
{
    (void)user, (void)g, (void)c;
    raise(SIGINT);
    return 0;
}

/* A kernel that fails the odd items of its task, and one chunk of it per item. */
static int odd_cpu(dusk_call *call)
{
    int64_t count, dims[2];
    double *v = dusk_call_stack(call, 0, &count, dims);
    for (int64_t k = 0; k < count; k++) {
        v[k] = (double)dusk_call_item_id(call, k);
        if (dusk_call_item_id(call, k) % 2) dusk_call_fail_item(call, k, DUSK_EDATA, "odd item");
    }
    return 0;
}

static int odd_items(void *user, dusk_graph *g, dusk_chunk *c)
{
    dusk_data *d = NULL;
    dusk_task_opts o;
    (void)dusk_task_opts_init(&o);
    dusk_chunk_task_opts(c, &o);
    o.key = "odd";
    o.flags = DUSK_TASK_COUNTS;
    int ret = dusk_stack_new(g, dusk_chunk_count(c), 1, 0, &d);
    dusk_arg args[] = {{d, DUSK_W}};
    if (ret == 0) ret = dusk_task_submit(g, user, args, 1, NULL, 0, &o, NULL);
    dusk_data_release(&d);
    return ret;
}

/* A reporter that keeps the kinds of the events it gets, in order (events are serialised). */
typedef struct recorder {
    char kinds[256];
    int n;
} recorder;

static void record(void *user, const dusk_batch_event *ev)
{
    recorder *r = user;
    /* one letter each: O R E W S P s F e D */
    static const char letters[] = "?OREWSPsFeD";
    if (r->n < (int)sizeof r->kinds - 1 && ev->kind >= 1 && ev->kind <= 10) {
        /* progress: one letter however many */
        if (!(ev->kind == DUSK_BATCH_EVENT_PROGRESS && r->n > 0 && r->kinds[r->n - 1] == 'P'))
            r->kinds[r->n++] = letters[ev->kind];
    }
}

static char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static dusk_batch *batch_in(const char *dir)
{
    dusk_batch *b;
    const int64_t one = 1;
    CHECK_OK(dusk_batch_new("misuse", 4, &b));
    CHECK_OK(dusk_batch_add_output(b, "v", 1, &one, NULL));
    if (dir) CHECK_OK(dusk_batch_set_output(b, dir, NULL));
    return b;
}

/* stdout and stderr into `path` (both when `out` too); returns the saved descriptors. */
static void capture(const char *path, int out, int saved[2])
{
    fflush(stdout);
    fflush(stderr);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    CHECK(fd >= 0);
    saved[0] = dup(STDERR_FILENO);
    saved[1] = out ? dup(STDOUT_FILENO) : -1;
    CHECK(saved[0] >= 0 && (!out || saved[1] >= 0));
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    if (out) CHECK(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
}

static void release(int saved[2])
{
    fflush(stdout);
    fflush(stderr);
    CHECK(dup2(saved[0], STDERR_FILENO) >= 0);
    close(saved[0]);
    if (saved[1] >= 0) {
        CHECK(dup2(saved[1], STDOUT_FILENO) >= 0);
        close(saved[1]);
    }
}

int main(void)
{
    char dir[] = "/tmp/dusk-batch-misuse-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char file[600], under[700], out[700], out2[700], err[700], silent[700], foreign[700];
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(under, sizeof under, "%s/out", file); /* under a regular file: cannot be made */
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(out2, sizeof out2, "%s/out2", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    snprintf(silent, sizeof silent, "%s/silent", dir);
    snprintf(foreign, sizeof foreign, "%s/foreign", dir); /* holds a v.npy of no run */
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fclose(f);
    CHECK_OK(mkdir(foreign, 0700));
    char stray[800];
    snprintf(stray, sizeof stray, "%s/v.npy", foreign);
    f = fopen(stray, "w");
    CHECK(f != NULL);
    fclose(f);

    /* (checked once stderr is back, so that a failure is seen) */
    int saved[2];
    /* without a reporter: nothing on stdout or stderr, from open, run or free */
    capture(silent, 1, saved);
    dusk_batch *quiet_refused = batch_in(under), *quiet_run = batch_in(out2);
    int open_quiet_refused = dusk_batch_open(quiet_refused);
    int open_quiet_run = dusk_batch_open(quiet_run);
    release(saved);

    /* what the text reporter says, into a file */
    capture(err, 0, saved);
    dusk_batch *refused = batch_in(under), *plain = batch_in(out), *usage = batch_in(foreign);
    CHECK_OK(dusk_cli_report_text(refused));
    CHECK_OK(dusk_cli_report_text(plain));
    recorder rec_usage = {0};
    CHECK_OK(dusk_batch_set_reporter(usage, record, &rec_usage));
    int open_refused = dusk_batch_open(refused), open_plain = dusk_batch_open(plain);
    int open_usage = dusk_batch_open(usage);
    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    cfg.verbose = -1;
    int init = dusk_init(&cfg, why, sizeof why);
    /* run after a refused open; then a batch with no dusk_cli_batch_args, stopped at its
     * first chunk */
    int run_refused = init == 0 ? dusk_batch_run(refused, refuse, NULL) : -1000;
    int calls_refused = calls;
    int run_plain = init == 0 ? dusk_batch_run(plain, refuse, NULL) : -1000;
    int run_usage = init == 0 ? dusk_batch_run(usage, refuse, NULL) : -1000;
    release(saved);

    capture(silent, 1, saved);
    int run_quiet_refused = init == 0 ? dusk_batch_run(quiet_refused, refuse, NULL) : -1000;
    int run_quiet = init == 0 ? dusk_batch_run(quiet_run, refuse, NULL) : -1000;
    dusk_batch_free(&quiet_refused);
    dusk_batch_free(&quiet_run);
    release(saved);
    if (init != 0) TEST_FAIL_("dusk_init: %s", why);

    /* the refused open: its code, the record, the exit status */
    CHECK(open_refused < 0);
    CHECK_EQ(dusk_batch_exit_status(refused), DUSK_EXIT_FAILURE);
    CHECK_EQ(run_refused, open_refused); /* open's refusal */
    CHECK_EQ(calls_refused, 0);          /* and nothing computed */
    dusk_batch_state st;
    CHECK_OK(dusk_batch_get_state(refused, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_REFUSED);
    CHECK_EQ(st.usage, 0);
    CHECK_EQ(st.ran, 0);
    CHECK_EQ(st.code, open_refused);
    CHECK_EQ(st.exit_status, DUSK_EXIT_FAILURE);
    CHECK_STR_CONTAINS(st.why, "cannot create output directory ");
    CHECK(strchr(st.why, '\n') == NULL && strncmp(st.why, "misuse", 6) != 0);
    /* another program's files: refused for the caller to fix (exit 2), with the events */
    CHECK(open_usage < 0);
    CHECK_EQ(run_usage, open_usage);
    CHECK_OK(dusk_batch_get_state(usage, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_REFUSED);
    CHECK_EQ(st.usage, 1);
    CHECK_EQ(dusk_batch_exit_status(usage), DUSK_EXIT_USAGE);
    CHECK_STR_CONTAINS(st.why, "is not from a misuse run");
    dusk_batch_free(&usage);
    printf("events of a refused batch: %s\n", rec_usage.kinds);
    CHECK(strcmp(rec_usage.kinds, "OReD") == 0);

    /* a submission refused: an error stops the run, resumably (exit 1) */
    CHECK_EQ(open_plain, 0);
    CHECK_EQ(run_plain, DUSK_EINVAL); /* the submit function's error */
    CHECK_EQ(calls, 2);               /* plain's chunk, and quiet_run's */
    CHECK_EQ(dusk_batch_exit_status(plain), DUSK_EXIT_FAILURE);
    CHECK_OK(dusk_batch_get_state(plain, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_FAILED);
    CHECK_EQ(st.ran, 1);
    CHECK_STR_CONTAINS(st.why, "cannot submit item 0");
    CHECK(st.resume != NULL && st.dir != NULL);
    CHECK_EQ(st.saved, 0);
    CHECK_EQ(st.saved_current, 1);
    dusk_batch_free(&refused);
    dusk_batch_free(&plain);

    /* without a reporter, the same outcomes and not a byte said */
    CHECK(open_quiet_refused < 0);
    CHECK_EQ(open_quiet_run, 0);
    CHECK_EQ(run_quiet_refused, open_quiet_refused);
    CHECK_EQ(run_quiet, DUSK_EINVAL);
    const char *said = slurp(silent);
    CHECK(said != NULL);
    if (*said) TEST_FAIL_("a batch without a reporter said:\n%s", said);

    said = slurp(err);
    CHECK(said != NULL);
    printf("the batches said:\n%s", said);
    CHECK_STR_CONTAINS(said, "misuse: cannot create output directory");
    char exe[PATH_MAX] = "", real[PATH_MAX], hint[3 * PATH_MAX];
    CHECK(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    CHECK(realpath(out, real) != NULL);
    snprintf(hint, sizeof hint, "misuse: to resume: %s --resume %s\n", exe, real);
    CHECK_STR_CONTAINS(said, hint);
    /* one resume command only: none for the refused batch */
    const char *first = strstr(said, "to resume:");
    CHECK(first != NULL && strstr(first + 1, "to resume:") == NULL);
    /* the reporter attached to the refused batch of another's files said nothing itself */
    CHECK(strstr(said, "is not from a misuse run") == NULL);

    /* finished, every item done: exit 0; with failed items: exit 3, their records */
    dusk_batch *b;
    recorder rec = {0};
    CHECK_OK(dusk_batch_new("misuse", 4, &b));
    CHECK_OK(dusk_batch_set_reporter(b, record, &rec));
    CHECK_OK(dusk_batch_open(b));
    CHECK_OK(dusk_batch_run(b, nothing, NULL));
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_OK);
    CHECK_OK(dusk_batch_get_state(b, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_FINISHED);
    CHECK(st.why == NULL && st.resume == NULL && st.dir == NULL);
    dusk_batch_free(&b);
    printf("events of a finished batch: %s\n", rec.kinds);
    CHECK(strcmp(rec.kinds, "OSPFeD") == 0);

    dusk_kernel *odd;
    CHECK_OK(dusk_kernel_new("misuse_odd", odd_cpu, &odd));
    CHECK_OK(dusk_batch_new("misuse", 5, &b));
    CHECK_OK(dusk_batch_set_chunk(b, 1, 0));
    CHECK_EQ(dusk_batch_set_task_target(b, -1, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_batch_set_task_target(b, 61, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_batch_set_task_target(b, NAN, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_batch_set_task_target(b, 1, 65), DUSK_EINVAL);
    CHECK_EQ(dusk_batch_set_task_target(NULL, 1, 0), DUSK_EINVAL);
    CHECK_OK(dusk_batch_set_task_target(b, 0.05, 2));
    CHECK_OK(dusk_batch_set_task_target(b, 0, 0));
    CHECK_OK(dusk_batch_open(b));
    CHECK_EQ(dusk_batch_set_task_target(b, 1, 0), DUSK_EINVAL); /* after open */
    CHECK_EQ(dusk_batch_run(b, odd_items, odd), DUSK_ETASK);
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_ITEMS_FAILED);
    CHECK_OK(dusk_batch_get_state(b, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_FINISHED);
    CHECK_EQ(dusk_batch_failure_count(b), 2);
    dusk_batch_failure fail;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(dusk_batch_get_failure(b, i, &fail));
        CHECK_EQ(fail.item, 2 * i + 1);
        CHECK_EQ(fail.code, DUSK_EDATA);
        CHECK(strcmp(fail.step, "odd") == 0 && strcmp(fail.reason, "odd item") == 0);
        CHECK(fail.subject == NULL);
    }
    CHECK_EQ(dusk_batch_get_failure(b, 2, &fail), DUSK_EINVAL);
    dusk_batch_summary sum;
    CHECK_OK(dusk_batch_get_summary(b, &sum));
    CHECK_EQ(sum.done, 3);
    CHECK_EQ(sum.failed, 2);
    dusk_batch_free(&b);
    dusk_kernel_free(&odd);

    /* a signal: a graceful stop (exit 130), STOPPING before the end */
    recorder rec_int = {0};
    CHECK_OK(dusk_batch_new("misuse", 4, &b));
    CHECK_OK(dusk_batch_set_reporter(b, record, &rec_int));
    CHECK_OK(dusk_batch_open(b));
    CHECK_EQ(dusk_batch_run(b, interrupt, NULL), DUSK_ECANCELED);
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_SIGNAL + SIGINT);
    CHECK_OK(dusk_batch_get_state(b, &st));
    CHECK_EQ(st.outcome, DUSK_BATCH_STOPPED);
    CHECK_EQ(st.signal, SIGINT);
    CHECK_EQ(st.code, DUSK_ECANCELED);
    dusk_batch_free(&b); /* puts the handler back */
    printf("events of a stopped batch: %s\n", rec_int.kinds);
    CHECK(strcmp(rec_int.kinds, "OSPsFeD") == 0 || strcmp(rec_int.kinds, "OSsPFeD") == 0);

    /* misuse of the records and the run */
    CHECK_EQ(dusk_batch_exit_status(NULL), DUSK_EXIT_FAILURE);
    CHECK_EQ(dusk_batch_get_state(NULL, &st), DUSK_EINVAL);
    CHECK_EQ(dusk_batch_failure_count(NULL), 0);
    CHECK_OK(dusk_batch_new("misuse", 4, &b));
    CHECK_EQ(dusk_batch_run(b, nothing, NULL), DUSK_EINVAL); /* not opened */
    CHECK_EQ(dusk_batch_exit_status(b), DUSK_EXIT_OK);       /* nothing happened */
    dusk_batch_free(&b);
    dusk_shutdown();

    unlink(err);
    unlink(file);
    char path[800];
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK_EQ(system(path), 0);
    printf("ok\n");
    return 0;
}
