/* One table of bounds (dusk_config_bounds) serves the environment, the flags and dusk_init():
 * for every numeric setting, its variable is refused just past its range with that range in
 * the message, dusk_config_set() takes the range and the "decide for me" value and refuses
 * the rest naming the field, and dusk_init() refuses a struct out of range naming the field
 * and its range. NULLs and unknown settings are DUSK_EINVAL. */
#include <stdio.h>
#include <stdlib.h>

#include "dusk.h"
#include "test.h"

int main(void)
{
    dusk_config cfg;
    char why[256], words[128], value[64];
    long long lo, hi, unset, v;
    const char *field, *env, *flag;
    int nflags = 0, nenv = 0;

    for (int s = 0; s < DUSK_SETTING_COUNT; s++) {
        CHECK_OK(dusk_config_bounds((dusk_setting)s, &lo, &hi, &unset, &field, &env, &flag));
        CHECK(field != NULL && field[0] != '\0');
        CHECK_LT(lo, hi);
        CHECK(flag == NULL || strncmp(flag, "--", 2) == 0);
        nflags += flag != NULL;
        nenv += env != NULL;

        /* the default configuration holds the unset value (the field's default) */
        if (env != NULL) unsetenv(env);
        CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
        CHECK_OK(dusk_config_get(&cfg, (dusk_setting)s, &v));
        CHECK_EQ(v, unset);

        /* the environment: the bounds are taken, one past is refused with the range */
        if (env != NULL) {
            long long ok[] = {lo, hi}, bad[] = {lo - 1, hi + 1};
            for (int i = 0; i < 2; i++) {
                snprintf(value, sizeof value, "%lld", ok[i]);
                setenv(env, value, 1);
                CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
                CHECK_OK(dusk_config_get(&cfg, (dusk_setting)s, &v));
                CHECK_EQ(v, ok[i]);
                snprintf(value, sizeof value, "%lld", bad[i]);
                setenv(env, value, 1);
                CHECK_EQ(dusk_config_init(&cfg, why, sizeof why), DUSK_EINVAL);
                snprintf(words, sizeof words, "%s=%lld is out of range (%lld to %lld)", env, bad[i],
                         lo, hi);
                CHECK_STR_CONTAINS(why, words);
            }
            unsetenv(env);
        }

        /* dusk_config_set: the range and the unset value; the rest refused, cfg unchanged */
        CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
        CHECK_OK(dusk_config_set(&cfg, (dusk_setting)s, hi, why, sizeof why));
        CHECK_OK(dusk_config_get(&cfg, (dusk_setting)s, &v));
        CHECK_EQ(v, hi);
        CHECK_OK(dusk_config_set(&cfg, (dusk_setting)s, unset, why, sizeof why));
        CHECK_OK(dusk_config_set(&cfg, (dusk_setting)s, lo, why, sizeof why));
        long long outside = unset == lo - 1 ? lo - 2 : lo - 1;
        CHECK_EQ(dusk_config_set(&cfg, (dusk_setting)s, outside, why, sizeof why), DUSK_EINVAL);
        CHECK_EQ(dusk_config_set(&cfg, (dusk_setting)s, hi + 1, why, sizeof why), DUSK_EINVAL);
        snprintf(words, sizeof words, "%s = %lld is out of range (%lld to %lld", field, hi + 1, lo,
                 hi);
        CHECK_STR_CONTAINS(why, words);
        CHECK_OK(dusk_config_get(&cfg, (dusk_setting)s, &v));
        CHECK_EQ(v, lo);

        /* dusk_init: the same check on the struct, naming the field and its range */
        CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
        cfg.ncpu = 1;
        int *fieldp = NULL;
        switch ((dusk_setting)s) {
        case DUSK_SETTING_NCPU:
            fieldp = &cfg.ncpu;
            break;
        case DUSK_SETTING_NCUDA:
            fieldp = &cfg.ncuda;
            break;
        case DUSK_SETTING_BLAS_THREADS:
            fieldp = &cfg.blas_threads;
            break;
        case DUSK_SETTING_WINDOW:
            fieldp = &cfg.window;
            break;
        case DUSK_SETTING_WINDOW_MB:
            fieldp = &cfg.window_mb;
            break;
        case DUSK_SETTING_MPI_CORE:
            fieldp = &cfg.mpi_core;
            break;
        case DUSK_SETTING_PROGRESS:
            fieldp = &cfg.progress;
            break;
        case DUSK_SETTING_VERBOSE:
            fieldp = &cfg.verbose;
            break;
        case DUSK_SETTING_COUNT:
            break;
        }
        CHECK(fieldp != NULL);
        *fieldp = (int)(hi + 1);
        CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EINVAL);
        CHECK_STR_CONTAINS(why, "invalid configuration value");
        CHECK_STR_CONTAINS(why, words);
        CHECK(dusk_current_config() == NULL);
    }
    CHECK_EQ(nflags, 4); /* --ncpu, --blas-threads, --window, --window-mb */
    CHECK_EQ(nenv, 6);

    /* the figures docs/cli.md and the help give */
    CHECK_OK(dusk_config_bounds(DUSK_SETTING_NCPU, &lo, &hi, &unset, NULL, &env, &flag));
    CHECK(lo == 0 && hi == 4096 && unset == -1);
    CHECK(strcmp(env, "STARPU_NCPU") == 0 && strcmp(flag, "--ncpu") == 0);
    CHECK_OK(dusk_config_bounds(DUSK_SETTING_WINDOW, &lo, &hi, &unset, &field, NULL, NULL));
    CHECK(lo == 1 && hi == 1 << 20 && unset == 0 && strcmp(field, "window") == 0);
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.window = -3;
    CHECK_EQ(dusk_init(&cfg, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "window = -3 is out of range (1 to 1048576, or 0 for 64 per worker)");

    /* refusals */
    CHECK_EQ(dusk_config_bounds(DUSK_SETTING_COUNT, &lo, &hi, &unset, &field, &env, &flag),
             DUSK_EINVAL);
    CHECK(lo == 0 && hi == 0 && unset == 0 && field == NULL && env == NULL && flag == NULL);
    CHECK_EQ(dusk_config_bounds((dusk_setting)-1, NULL, NULL, NULL, NULL, NULL, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_config_set(NULL, DUSK_SETTING_NCPU, 1, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_config_set(&cfg, DUSK_SETTING_COUNT, 1, why, sizeof why), DUSK_EINVAL);
    v = 5;
    CHECK_EQ(dusk_config_get(NULL, DUSK_SETTING_NCPU, &v), DUSK_EINVAL);
    CHECK_EQ(v, 0);
    CHECK_EQ(dusk_config_get(&cfg, DUSK_SETTING_NCPU, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_config_init(NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "NULL");
    CHECK_EQ(dusk_init(NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "NULL");
    return 0;
}
