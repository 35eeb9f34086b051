/* dusk_manifest: the done set survives a save and a reload; a resume refuses another run's
 * manifest and a damaged one; the sync step runs before the manifest is written, and a
 * failing sync leaves the old manifest in place. The check of the done tasks (the sum of a
 * value per task) adds up across saves, resumes and merges, and a merge that cannot tell
 * what it adds leaves it unknown. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* the check's value of task id: any fixed function of it */
static uint64_t task_value(void *ctx, int64_t id)
{
    (void)ctx;
    return (uint64_t)id * 0x9E3779B97F4A7C15ull + 1;
}

static uint64_t sum_of(const int *ids, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += task_value(NULL, ids[i]);
    return s;
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

    /* A manifest says "version 2" on its second line and ends with "end": one cut short at
     * any byte (copied in part, a damaged disk) is damaged, for a resume and for a look alike,
     * never read in part (a cut args line read as flags, a cut ids list as fewer tasks). */
    CHECK_OK(
        dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 0, NULL, NULL, &m, why, sizeof why));
    CHECK_OK(dusk_manifest_set_field(m, "args", "-n 5 --ntasks 100 --output d"));
    dusk_manifest_mark_done(m, 3);
    dusk_manifest_mark_done(m, 70);
    CHECK_OK(dusk_manifest_save(m, "interrupted"));
    dusk_manifest_close(&m);
    char whole[4096];
    snprintf(whole, sizeof whole, "%s", slurp(manifest_path));
    size_t whole_len = strlen(whole);
    CHECK(strncmp(whole, "dusk-manifest 1\nversion 2\n", 26) == 0);
    CHECK(whole_len > 5 && strcmp(whole + whole_len - 5, "\nend\n") == 0);
    for (size_t cut = 1; cut < whole_len; cut++) {
        char part[4096];
        memcpy(part, whole, cut);
        part[cut] = '\0';
        write_file(manifest_path, part);
        dusk_manifest *r = NULL;
        int ret = dusk_manifest_read(dir, &r, why, sizeof why);
        if (ret != DUSK_EFORMAT)
            TEST_FAIL_("cut at byte %zu of %zu: read gives %d", cut, whole_len, ret);
        dusk_manifest_close(&r);
        ret =
            dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why);
        if (ret != DUSK_EFORMAT)
            TEST_FAIL_("cut at byte %zu of %zu: resume gives %d", cut, whole_len, ret);
        if (m != NULL) dusk_manifest_close(&m);
    }
    CHECK_STR_CONTAINS(why, "damaged");
    write_file(manifest_path, whole);
    CHECK_OK(
        dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why));
    CHECK_EQ(dusk_manifest_done_count(m), 2);
    CHECK(strcmp(dusk_manifest_field(m, "args"), "-n 5 --ntasks 100 --output d") == 0);
    dusk_manifest_close(&m);
    /* a manifest of a newer layout is refused, named as such */
    write_file(manifest_path, "dusk-manifest 1\nversion 3\nprogram prog\nend\n");
    CHECK_EQ(dusk_manifest_open(dir, "prog", "n=5 seed=1", 100, 1, NULL, NULL, &m, why, sizeof why),
             DUSK_EFORMAT);
    CHECK_STR_CONTAINS(why, "newer dusk");

    /* the check: the sum over done tasks, kept across a resume, added up by a merge */
    CHECK_OK(dusk_manifest_open(dir, "prog", "p", 50, 0, NULL, NULL, &m, why, sizeof why));
    CHECK_OK(dusk_manifest_set_check(m, task_value, NULL));
    const int first[] = {1, 4, 5};
    for (size_t i = 0; i < 3; i++)
        dusk_manifest_mark_done(m, first[i]);
    CHECK_OK(dusk_manifest_save(m, "interrupted"));
    char line[64];
    snprintf(line, sizeof line, "check %016llx\n", (unsigned long long)sum_of(first, 3));
    CHECK_STR_CONTAINS(slurp(manifest_path), line);
    dusk_manifest_close(&m);
    uint64_t v = 0;
    CHECK_OK(dusk_manifest_open(dir, "prog", "p", 50, 1, NULL, NULL, &m, why, sizeof why));
    CHECK_EQ(dusk_manifest_check_value(m, &v), 1);
    CHECK(v == sum_of(first, 3));
    /* resumed: the tasks done before are in the base (the function gives 0 for them, as a
     * batch does for matrices it did not read); a rank's manifest adds its own */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/rank", dir);
    CHECK(mkdir(sub, 0777) == 0);
    dusk_manifest *r;
    CHECK_OK(dusk_manifest_open(sub, "prog", "p", 50, 0, NULL, NULL, &r, why, sizeof why));
    CHECK_OK(dusk_manifest_set_check(r, task_value, NULL));
    const int other[] = {7, 9};
    dusk_manifest_mark_done(r, 7);
    dusk_manifest_mark_done(r, 9);
    CHECK_OK(dusk_manifest_save(r, "interrupted"));
    dusk_manifest_close(&r);
    CHECK_OK(dusk_manifest_open(sub, "prog", "p", 50, 1, NULL, NULL, &r, why, sizeof why));
    CHECK_EQ(dusk_manifest_merge(m, r), 2);
    CHECK_EQ(dusk_manifest_check_value(m, &v), 1);
    CHECK(v == sum_of(first, 3) + sum_of(other, 2));
    CHECK_EQ(dusk_manifest_merge(m, r), 2); /* merged before: adds nothing */
    CHECK_EQ(dusk_manifest_check_value(m, &v), 1);
    CHECK(v == sum_of(first, 3) + sum_of(other, 2));
    dusk_manifest_mark_done(r, 11); /* part of it merged already: unknown */
    CHECK_EQ(dusk_manifest_merge(m, r), 3);
    CHECK_EQ(dusk_manifest_check_value(m, &v), 0);
    CHECK_OK(dusk_manifest_set_check(m, task_value, NULL));
    CHECK_OK(dusk_manifest_save(m, "interrupted"));
    CHECK(strstr(slurp(manifest_path), "check ") == NULL); /* unknown: not written */
    dusk_manifest_close(&r);
    dusk_manifest_close(&m);
    char rpath[800];
    snprintf(rpath, sizeof rpath, "%s/manifest.txt", sub);
    unlink(rpath);
    rmdir(sub);

    unlink(manifest_path);
    rmdir(dir);
    return 0;
}
