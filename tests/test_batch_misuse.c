/* dusk_batch.h used wrongly or sparingly: dusk_batch_run() after a dusk_batch_open() that
 * refused computes nothing and returns open's refusal (it used to run every task, then write
 * where it could not and print a resume command for a directory that does not exist); a
 * batch whose program gave no command line (no dusk_cli_batch_args) prints, through the text
 * reporter, a resume command that says --resume (it used to print '', from an overlapping
 * copy of the flag). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk.h"
#include "dusk_batch.h"
#include "dusk_cli.h"
#include "test.h"

static int calls;

/* A submit function that refuses every chunk: the batch stops at the first. */
static int refuse(void *user, dusk_graph *g, dusk_chunk *c)
{
    (void)user, (void)g, (void)c;
    calls++;
    return DUSK_EINVAL;
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
    CHECK_OK(dusk_batch_set_output(b, dir, NULL));
    return b;
}

int main(void)
{
    char dir[] = "/tmp/dusk-batch-misuse-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char file[600], under[700], out[700], err[700];
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(under, sizeof under, "%s/out", file); /* under a regular file: cannot be made */
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fclose(f);

    /* what the batches say, into a file */
    fflush(stderr);
    int saved = dup(STDERR_FILENO), fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    CHECK(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);

    /* (checked once stderr is back, so that a failure is seen) */
    dusk_batch *refused = batch_in(under), *plain = batch_in(out);
    CHECK_OK(dusk_cli_report_text(refused));
    CHECK_OK(dusk_cli_report_text(plain));
    int open_refused = dusk_batch_open(refused), open_plain = dusk_batch_open(plain);
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
    int status_refused = dusk_batch_exit_status(refused),
        status_plain = dusk_batch_exit_status(plain);
    dusk_batch_free(&refused);
    dusk_batch_free(&plain);
    dusk_shutdown();
    fflush(stderr);
    CHECK(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    if (init != 0) TEST_FAIL_("dusk_init: %s", why);
    CHECK(open_refused < 0);
    CHECK_EQ(status_refused, DUSK_EXIT_FAILURE);
    CHECK_EQ(open_plain, 0);
    CHECK_EQ(run_refused, open_refused); /* open's refusal */
    CHECK_EQ(calls_refused, 0);          /* and nothing computed */
    CHECK_EQ(run_plain, DUSK_EINVAL);    /* the submit function's error */
    CHECK_EQ(status_plain, DUSK_EXIT_FAILURE);
    CHECK_EQ(calls, 1);

    const char *said = slurp(err);
    CHECK(said != NULL);
    printf("the batches said:\n%s", said);
    CHECK_STR_CONTAINS(said, "cannot create output directory");
    char exe[PATH_MAX] = "", real[PATH_MAX], hint[3 * PATH_MAX];
    CHECK(readlink("/proc/self/exe", exe, sizeof exe - 1) > 0);
    CHECK(realpath(out, real) != NULL);
    snprintf(hint, sizeof hint, "misuse: to resume: %s --resume %s\n", exe, real);
    CHECK_STR_CONTAINS(said, hint);
    /* one resume command only: none for the refused batch */
    const char *first = strstr(said, "to resume:");
    CHECK(first != NULL && strstr(first + 1, "to resume:") == NULL);

    unlink(err);
    unlink(file);
    char path[800];
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK_EQ(system(path), 0);
    printf("ok\n");
    return 0;
}
