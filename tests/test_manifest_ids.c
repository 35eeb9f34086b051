/* dusk_manifest: the done set's line ("ids") is compact whatever the set, and reads back as
 * the same set. A rank's items under a cyclic distribution (every R-th task) and a stopped
 * job's merged set (the ranks' items, each rank at its own point) are a few items of the
 * line, not one per task: the line's length follows the set's gaps, not its size. Every set
 * here is saved, resumed and compared bit for bit with the one marked; the lines of small
 * sets are compared with the text expected. A manifest written before strides were (ranges
 * alone) reads as before, and a malformed stride is damage. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_manifest.h"
#include "test.h"

static char dir[] = "/tmp/dusk-manifest-ids-XXXXXX";
static char path[600];
static char text[1 << 16];

/* The manifest's "ids" value after saving `set` (T tasks, set[i] != 0: done), and a resume
 * that must give back the same set. Returns a pointer into a static buffer. */
static const char *round_trip(const unsigned char *set, int64_t T)
{
    char why[512];
    dusk_manifest *m = NULL;
    CHECK_OK(dusk_manifest_open(dir, "prog", "p", T, 0, NULL, NULL, &m, why, sizeof why));
    int64_t count = 0;
    for (int64_t i = 0; i < T; i++)
        if (set[i]) {
            dusk_manifest_mark_done(m, i);
            count++;
        }
    CHECK_OK(dusk_manifest_save(m, "interrupted"));
    dusk_manifest_close(&m);
    if (dusk_manifest_open(dir, "prog", "p", T, 1, NULL, NULL, &m, why, sizeof why) != 0)
        TEST_FAIL_("the saved manifest does not resume: %s", why);
    CHECK_EQ(dusk_manifest_done_count(m), count);
    int64_t wrong = 0;
    for (int64_t i = 0; i < T; i++)
        wrong += dusk_manifest_is_done(m, i) != (set[i] != 0);
    if (wrong != 0)
        TEST_FAIL_("%lld of %lld tasks read back otherwise", (long long)wrong, (long long)T);
    dusk_manifest_close(&m);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(text, 1, sizeof text - 1, f);
    CHECK(feof(f)); /* the whole manifest fits: it is compact */
    fclose(f);
    text[n] = '\0';
    char *ids = strstr(text, "\nids ");
    CHECK(ids != NULL);
    ids += 5;
    *strchr(ids, '\n') = '\0';
    return ids;
}

static void expect(const unsigned char *set, int64_t T, const char *want)
{
    const char *got = round_trip(set, T);
    if (strcmp(got, want) != 0) TEST_FAIL_("ids \"%s\", expected \"%s\"", got, want);
}

/* A manifest of T tasks written by hand, then resumed: 0, or the error. */
static int resume_text(const char *ids, const char *done, int64_t T, dusk_manifest **m)
{
    char why[512];
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f,
            "dusk-manifest 1\nprogram prog\nparams p\ntasks %lld\nstate interrupted\n"
            "done %s\nids %s\n",
            (long long)T, done, ids);
    fclose(f);
    return dusk_manifest_open(dir, "prog", "p", T, 1, NULL, NULL, m, why, sizeof why);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    enum { T = 2000000 };
    unsigned char *set = calloc(T, 1);
    CHECK(set != NULL);

    /* small sets, their lines exactly: ranges, singles, a stride, two items a stride apart
     * (written one by one: shorter), empty */
    int64_t t = 40;
    for (int i = 0; i < 4; i++)
        set[i] = 1;
    set[10] = set[12] = 1;
    for (int i = 17; i <= 29; i += 3)
        set[i] = 1;
    set[38] = set[39] = 1;
    expect(set, t, "0-3,10,12,17-29:3,38-39");
    memset(set, 0, T);
    expect(set, t, "");
    set[39] = 1;
    expect(set, t, "39");

    /* rank 1 of 2 under a cyclic distribution: 1, 3, 5, ... one item, whatever T */
    memset(set, 0, T);
    for (int64_t i = 1; i < T; i += 2)
        set[i] = 1;
    expect(set, T, "1-1999999:2");
    /* ... stopped: its first 600,000 in order, then a few done out of order (several workers) */
    memset(set, 0, T);
    for (int64_t i = 1; i < 1200000; i += 2)
        set[i] = 1;
    set[1200003] = set[1200007] = 1;
    expect(set, T, "1-1199999:2,1200003,1200007");

    /* a stopped job's merged set, 3 ranks cyclic, each at its own point: rank 0 to 900,000,
     * rank 1 to 1,500,000, rank 2 to 300,000; a few gaps (failed items) on the way */
    memset(set, 0, T);
    for (int64_t i = 0; i < 900000; i += 3)
        set[i] = 1;
    for (int64_t i = 1; i < 1500000; i += 3)
        set[i] = 1;
    for (int64_t i = 2; i < 300000; i += 3)
        set[i] = 1;
    set[4] = set[1000] = set[777777] = 0;
    const char *ids = round_trip(set, T);
    if (strlen(ids) > 120) TEST_FAIL_("3 ranks merged: ids \"%s\"", ids);
    printf("3 ranks merged, %zu characters: %s\n", strlen(ids), ids);
    /* block distribution, 3 ranks stopped: three ranges */
    memset(set, 0, T);
    for (int64_t i = 0; i < 100000; i++)
        set[i] = set[666667 + i] = set[1333334 + 2 * i] = 1;
    for (int64_t i = 0; i < 100000; i++)
        set[1333334 + 2 * i + 1] = 1;
    expect(set, T, "0-99999,666667-766666,1333334-1533333");

    /* random sets: the round trip holds whatever the pattern (dense, sparse, strided with
     * random gaps), and the line grows with the gaps, not the size */
    srand(7);
    for (int k = 0; k < 12; k++) {
        int64_t tt = 1 + rand() % 50000;
        int stride = 1 + rand() % 7;
        int holes = rand() % 4 == 0 ? 2 : 200; /* one in 2 or one in 200 missing */
        memset(set, 0, T);
        int64_t gaps = 0;
        for (int64_t i = rand() % stride; i < tt; i += stride) {
            set[i] = rand() % holes != 0;
            gaps += !set[i];
        }
        ids = round_trip(set, tt);
        if (holes == 200 && strlen(ids) > (size_t)(40 * (gaps + 2)))
            TEST_FAIL_("%lld tasks, stride %d, %lld gaps: %zu characters", (long long)tt, stride,
                       (long long)gaps, strlen(ids));
    }

    /* a manifest written before strides were: ranges alone, read as before */
    dusk_manifest *m = NULL;
    CHECK_OK(resume_text("0-3,7,9-10,99", "8", 100, &m));
    CHECK_EQ(dusk_manifest_done_count(m), 8);
    CHECK(dusk_manifest_is_done(m, 9) && dusk_manifest_is_done(m, 99) &&
          !dusk_manifest_is_done(m, 8));
    dusk_manifest_close(&m);
    /* strided items in any order, as written */
    CHECK_OK(resume_text("0-8:4,1-9:4,3", "7", 100, &m));
    CHECK(dusk_manifest_is_done(m, 4) && dusk_manifest_is_done(m, 9) &&
          dusk_manifest_is_done(m, 3) && !dusk_manifest_is_done(m, 2));
    dusk_manifest_close(&m);
    /* malformed: a stride of 0, negative, not landing on the end, past the tasks, a stride
     * without a range, a count that does not add up */
    const char *bad[] = {"0-8:0", "0-8:-2", "0-9:4", "0-100:4", "4:2", "0-8:", "0-8:2x", "-1-3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (resume_text(bad[i], "3", 100, &m) != DUSK_EFORMAT)
            TEST_FAIL_("ids \"%s\" not refused as damaged", bad[i]);
        if (m != NULL) dusk_manifest_close(&m);
    }
    CHECK_EQ(resume_text("0-8:4", "4", 100, &m), DUSK_EFORMAT);
    CHECK(m == NULL);

    free(set);
    unlink(path);
    rmdir(dir);
    return 0;
}
