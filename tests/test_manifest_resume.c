/* dusk_manifest: the done set survives a save and a reload; a resume refuses another run's
 * manifest and a damaged one; the sync step runs before the manifest is written, and a
 * failing sync leaves the old manifest in place. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_manifest.h"
#include "test.h"

static int syncs, fail_sync;
static char manifest_path[600];

static int count_sync(void *ctx)
{
    (void)ctx;
    syncs++;
    return fail_sync ? -1 : 0;
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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    char dir[] = "/tmp/dusk-manifest-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    snprintf(manifest_path, sizeof manifest_path, "%s/manifest.txt", dir);
    char why[512];
    dusk_manifest *m;

    /* a resume with nothing to resume */
    CHECK_EQ(dusk_manifest_open(dir, "prog", "n=5", 100, 1, NULL, NULL, &m, why, sizeof why),
             DUSK_EIO);
    CHECK(m == NULL);
    CHECK_STR_CONTAINS(why, "does not exist");

    /* a new run: mark, save, and the file lists exactly the marked ids as ranges */
    CHECK_OK(dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 0, count_sync, NULL, &m, why,
                                sizeof why));
    const int done[] = {0, 1, 2, 3, 7, 9, 10, 99};
    for (size_t i = 0; i < sizeof done / sizeof *done; i++)
        dusk_manifest_mark_done(m, done[i]);
    dusk_manifest_mark_done(m, 3);   /* twice counts once */
    dusk_manifest_mark_done(m, 100); /* out of range: ignored */
    dusk_manifest_mark_done(m, -1);
    CHECK_EQ(dusk_manifest_done_count(m), 8);
    CHECK_OK(dusk_manifest_save(m, "interrupted"));
    CHECK_EQ(syncs, 1);
    const char *text = slurp(manifest_path);
    CHECK(text != NULL);
    CHECK_STR_CONTAINS(text, "state interrupted\n");
    CHECK_STR_CONTAINS(text, "done 8\n");
    CHECK_STR_CONTAINS(text, "ids 0-3,7,9-10,99\n");

    /* a failing sync: nothing is written, the old manifest stays */
    dusk_manifest_mark_done(m, 50);
    fail_sync = 1;
    CHECK_EQ(dusk_manifest_save(m, "running"), DUSK_EIO);
    CHECK_STR_CONTAINS(slurp(manifest_path), "ids 0-3,7,9-10,99\n");
    fail_sync = 0;
    dusk_manifest_close(&m);
    CHECK(m == NULL);

    /* resume: the same done set comes back */
    CHECK_OK(
        dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why));
    CHECK_EQ(dusk_manifest_done_count(m), 8);
    for (int i = 0; i < 100; i++) {
        int want = 0;
        for (size_t j = 0; j < sizeof done / sizeof *done; j++)
            want |= done[j] == i;
        if (dusk_manifest_is_done(m, i) != want) TEST_FAIL_("task %d: done %d", i, !want);
    }
    CHECK(strcmp(dusk_manifest_prior_state(m), "interrupted") == 0);
    /* autosave writes "running" once something new is done, and stops cleanly */
    CHECK_OK(dusk_manifest_autosave(m, 0.02));
    dusk_manifest_mark_done(m, 42);
    for (int tries = 0; tries < 500 && !strstr(slurp(manifest_path), "done 9\n"); tries++)
        usleep(10000);
    CHECK_STR_CONTAINS(slurp(manifest_path), "state running\n");
    CHECK_STR_CONTAINS(slurp(manifest_path), "ids 0-3,7,9-10,42,99\n");
    CHECK_OK(dusk_manifest_autosave(m, 0));
    dusk_manifest_close(&m);

    /* another run's manifest is refused, naming both parameter lines */
    CHECK_EQ(dusk_manifest_open(dir, "prog", "n=6 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why),
             DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "n=5 seed=1");
    CHECK_STR_CONTAINS(why, "n=6 seed=1");
    CHECK_EQ(dusk_manifest_open(dir, "prog", "n=5 seed=1", 101, 1, NULL, NULL, &m, why, sizeof why),
             DUSK_EINVAL);
    CHECK_EQ(
        dusk_manifest_open(dir, "other", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why),
        DUSK_EINVAL);

    /* damaged manifests */
    const char *damaged[] = {
        "",
        "not a manifest\n",
        "dusk-manifest 1\nprogram prog\nparams n=5 seed=1\ntasks 100\nstate running\ndone 2\nids "
        "0-200\n",
        "dusk-manifest 1\nprogram prog\nparams n=5 seed=1\ntasks 100\nstate running\ndone 3\nids "
        "0-1\n",
        "dusk-manifest 1\nprogram prog\nparams n=5 seed=1\ntasks 100\nstate running\ndone 2\nids "
        "1,x\n",
        "dusk-manifest 1\nprogram prog\nparams n=5 seed=1\ntasks 100\nstate running\ndone 2\nids "
        "5-3\n",
        "dusk-manifest 1\nprogram prog\nparams n=5 seed=1\ntasks 100\nstate running\n",
    };
    for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
        write_file(manifest_path, damaged[i]);
        int ret =
            dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why);
        if (ret != DUSK_EFORMAT) TEST_FAIL_("damaged manifest %zu: got %d", i, ret);
        CHECK(m == NULL);
    }

    unlink(manifest_path);
    rmdir(dir);
    return 0;
}
