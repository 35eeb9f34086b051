/* Fault injection, a test aid: DUSK_FAIL_TASKS=KEY,KEY,... makes the tasks of those keys fail
 * as a LAPACK error would, without running (and "KEY-ITEM" one item of a task whose options
 * name items). It is an extension of the core rather than part of it: dusk_init() switches it
 * on only when the variable is set, by setting the hook kernel.c calls before each task body
 * (dusk__before_run, NULL otherwise), and nothing else of the core names it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "dusk_internal.h"

static char *fail_tasks; /* ",key,key," from DUSK_FAIL_TASKS, or NULL */

/* DUSK_FAIL_TASKS (a test aid): task keys as the apps make them, NAME-ID ("eigh-5",
 * "add-2-7"), separated by commas. Anything else would silently inject nothing. */
int dusk__fail_tasks_check(char *why, size_t whylen)
{
    const char *s = getenv("DUSK_FAIL_TASKS");
    if (s == NULL || *s == '\0') return 0;
    for (const char *key = s; *key != '\0';) {
        size_t len = strcspn(key, ",");
        int ok = len > 0 && len < 200 && key[len - 1] >= '0' && key[len - 1] <= '9';
        size_t digits = 0;
        while (ok && digits < len && key[len - 1 - digits] >= '0' && key[len - 1 - digits] <= '9')
            digits++;
        ok = ok && digits < len && key[len - 1 - digits] == '-' && len - digits - 1 > 0;
        for (size_t i = 0; ok && i < len; i++)
            ok = (key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z') ||
                 (key[i] >= '0' && key[i] <= '9') || key[i] == '-' || key[i] == '_' ||
                 key[i] == '.';
        if (!ok) {
            dusk__set_why(why, whylen,
                          "DUSK_FAIL_TASKS='%s': '%.*s' is not a task key (expected keys such as "
                          "eigh-5,gen-17, separated by commas)",
                          s, (int)(len > 60 ? 60 : len), key);
            return DUSK_EINVAL;
        }
        key += len;
        if (*key == ',') {
            key++;
            if (*key == '\0') { /* a trailing comma: an empty key */
                dusk__set_why(why, whylen, "DUSK_FAIL_TASKS='%s' ends with a comma", s);
                return DUSK_EINVAL;
            }
        }
    }
    return 0;
}

/* Whether DUSK_FAIL_TASKS names this task key; with an item, the key "KEY-ITEM". */
static int injected(const char *key)
{
    if (fail_tasks == NULL || key[0] == '\0' || strchr(key, ',') != NULL) return 0;
    size_t len = strlen(key);
    for (const char *p = strstr(fail_tasks, key); p != NULL; p = strstr(p + 1, key))
        if (p[-1] == ',' && p[len] == ',') return 1;
    return 0;
}

static int injected_item(const char *key, int64_t item)
{
    char k[256];
    if (fail_tasks == NULL ||
        snprintf(k, sizeof k, "%s-%lld", key, (long long)item) >= (int)sizeof k)
        return 0;
    return injected(k);
}

/* The hook: a task whose options name no items fails as a whole when its key is named; one
 * that names items fails each item named (an item already skipped keeps its reason). */
static int before_run(const dusk__task *t, dusk_call *call)
{
    if (t->item_count == 0) {
        if (!injected(dusk__task_key(t))) return 0;
        dusk_call_fail(call, "injected failure (DUSK_FAIL_TASKS)");
        return DUSK_ENUMERIC;
    }
    for (int64_t k = 0; k < t->nitems; k++)
        if (t->item_state[k] == 0 && injected_item(dusk__task_key(t), dusk__task_item(t, k)))
            dusk_call_fail_item(call, k, DUSK_ENUMERIC, "injected failure (DUSK_FAIL_TASKS)");
    return 0;
}

void dusk__fault_start(void)
{
    const char *inject = getenv("DUSK_FAIL_TASKS");
    if (inject != NULL && *inject != '\0') {
        size_t len = strlen(inject);
        fail_tasks = malloc(len + 3);
        if (fail_tasks != NULL) snprintf(fail_tasks, len + 3, ",%s,", inject);
    }
    if (fail_tasks != NULL) dusk__before_run = before_run;
}

void dusk__fault_stop(void)
{
    dusk__before_run = NULL;
    free(fail_tasks);
    fail_tasks = NULL;
}
