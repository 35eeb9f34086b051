/* A kernel's footprint can depend on its by-value argument (dusk_kernel_set_footprint), and
 * dusk_eigh's does: values-only and eigenvector tasks of one size keep separate entries in
 * StarPU's performance-model history. Checked in the model files StarPU writes at shut-down
 * (calibrating, in a fresh STARPU_HOME): a kernel with a footprint function gets one entry
 * per value, one without gets one entry for both, dusk_eigh gets two. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "dusk_linalg.h"
#include "test.h"

static int nothing(dusk_call *call)
{
    int64_t dims[2];
    dusk_call_data(call, 0, dims)[0] = 1;
    return 0;
}

static uint32_t by_value(const void *value, size_t size)
{
    return value != NULL && size == sizeof(int) ? (uint32_t) * (const int *)value : 0;
}

/* a symmetric n x n matrix: a[i][j] = 1 / (1 + i + j) */
static int hilbert(dusk_call *call)
{
    int64_t dims[2];
    double *a = dusk_call_data(call, 0, dims);
    for (int64_t i = 0; i < dims[0]; i++)
        for (int64_t j = 0; j < dims[1]; j++)
            a[i * dims[1] + j] = 1.0 / (double)(1 + i + j);
    return 0;
}

static char home[PATH_MAX];

/* The history entries (distinct footprints) of model `name` on CPUs: the lines of its file
 * that start with a footprint, 8 hex digits and a tab. */
static int entries(const char *name)
{
    char dir[PATH_MAX + 64], path[2 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/.starpu/sampling/codelets", home);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    FILE *fp = NULL;
    while (fp == NULL && (e = readdir(d)) != NULL) { /* the model version's directory */
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/%s.dusktest", dir, e->d_name, name);
        fp = fopen(path, "r");
    }
    closedir(d);
    if (fp == NULL) TEST_FAIL_("no model file for %s under %s", name, dir);
    char line[512], seen[16][9];
    int n = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        size_t hex = strspn(line, "0123456789abcdef");
        if (hex != 8 || line[8] != '\t') continue;
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= strncmp(seen[i], line, 8) == 0;
        if (!dup && n < 16) {
            memcpy(seen[n], line, 8);
            seen[n++][8] = '\0';
        }
    }
    fclose(fp);
    return n;
}

int main(void)
{
    snprintf(home, sizeof home, "/tmp/dusk-test-footprint-XXXXXX");
    CHECK(mkdtemp(home) != NULL);
    setenv("STARPU_HOME", home, 1);
    setenv("STARPU_HOSTNAME", "dusktest", 1); /* the model files' suffix */
    setenv("STARPU_CALIBRATE", "1", 1);
    unsetenv("STARPU_PERF_MODEL_DIR");
    unsetenv("XDG_CACHE_HOME"); /* StarPU prefers it to STARPU_HOME */

    dusk_config cfg;
    char why[256];
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.ncpu = 1;
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    dusk_kernel *with, *without, *fill;
    CHECK_OK(dusk_kernel_new("test_fp_value", nothing, &with));
    CHECK_OK(dusk_kernel_set_footprint(with, by_value));
    CHECK_OK(dusk_kernel_new("test_fp_data", nothing, &without));
    CHECK_OK(dusk_kernel_new("test_fp_fill", hilbert, &fill));
    CHECK(dusk_kernel_eigh() != NULL);

    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    for (int rep = 0; rep < 3; rep++)
        for (int value = 0; value < 2; value++) {
            dusk_data *x, *a, *w;
            CHECK_OK(dusk_vector_new(g, 16, &x));
            dusk_arg xa[] = {{x, DUSK_W}};
            CHECK_OK(dusk_task_submit(g, with, xa, 1, &value, sizeof value, NULL, NULL));
            CHECK_OK(dusk_task_submit(g, without, xa, 1, &value, sizeof value, NULL, NULL));
            CHECK_OK(dusk_matrix_new(g, 8, 8, &a));
            CHECK_OK(dusk_vector_new(g, 8, &w));
            dusk_arg fa[] = {{a, DUSK_W}}, ea[] = {{a, DUSK_RW}, {w, DUSK_W}};
            CHECK_OK(dusk_task_submit(g, fill, fa, 1, NULL, 0, NULL, NULL));
            dusk_eigh_args e = {.vectors = value};
            CHECK_OK(dusk_task_submit(g, dusk_kernel_eigh(), ea, 2, &e, sizeof e, NULL, NULL));
            dusk_data_release(&x);
            dusk_data_release(&a);
            dusk_data_release(&w);
        }
    CHECK_OK(dusk_graph_wait(g));
    dusk_graph_free(&g);
    dusk_kernel_free(&with);
    dusk_kernel_free(&without);
    dusk_kernel_free(&fill);
    dusk_shutdown(); /* StarPU writes the models */

    CHECK_EQ(entries("test_fp_value"), 2);
    CHECK_EQ(entries("test_fp_data"), 1);
    CHECK_EQ(entries("test_fp_fill"), 1);
    CHECK_EQ(entries("dusk_eigh"), 2); /* values only, and with eigenvectors */

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
