/* Misusing the kernel API gets an error code, never a crash: a kernel that returns 1 (or any
 * number that is no DUSK_E* code) fails its task with DUSK_EKERNEL and "kernel returned N";
 * NULL handles are DUSK_EINVAL; kernel names past their limits, reserved for the built-in
 * kernels or already taken are refused, each with its own reason. */
#include <limits.h>

#include "dusk.h"
#include "dusk_kernel.h"
#include "test.h"

static int returns(dusk_call *call)
{
    int64_t dims[2];
    const int *v = dusk_call_value(call, NULL);
    dusk_call_data(call, 0, dims)[0] = 1;
    if (v[1]) dusk_call_fail(call, "my own reason");
    return v[0];
}

static int nothing(dusk_call *call)
{
    (void)call;
    return 0;
}

int main(void)
{
    dusk_config cfg;
    char why[256];
    dusk_kernel *k = (dusk_kernel *)&cfg, *k2;

    /* NULL handles */
    CHECK_EQ(dusk_kernel_new("test_x", nothing, NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_kernel_new(NULL, nothing, &k), DUSK_EINVAL);
    CHECK(k == NULL);
    k = (dusk_kernel *)&cfg;
    CHECK_EQ(dusk_kernel_new("test_x", NULL, &k), DUSK_EINVAL);
    CHECK(k == NULL);
    CHECK_EQ(dusk_kernel_set_cuda(NULL, nothing), DUSK_EINVAL);
    CHECK_EQ(dusk_kernel_set_footprint(NULL, NULL), DUSK_EINVAL);
    CHECK(strcmp(dusk_kernel_name(NULL), "") == 0);
    dusk_kernel_free(NULL);
    CHECK_EQ(dusk_task_opts_init(NULL), DUSK_EINVAL);
    CHECK_EQ(dusk_config_init(NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_config_init(NULL, NULL, 0), DUSK_EINVAL);
    CHECK_EQ(dusk_init(NULL, why, sizeof why), DUSK_EINVAL);
    CHECK_EQ(dusk_ranks_max(1, NULL), DUSK_EINVAL);
    size_t len = 5;
    CHECK_EQ(dusk_ranks_gather("x", 1, NULL, &len), DUSK_EINVAL);
    CHECK_EQ(len, 0);
    char *gathered = (char *)why;
    CHECK_EQ(dusk_ranks_gather("x", 1, &gathered, NULL), DUSK_EINVAL);
    CHECK(gathered == NULL);
    CHECK_EQ(dusk_call_nargs(NULL), 0);
    CHECK(dusk_call_data(NULL, 0, NULL) == NULL);
    CHECK(dusk_call_value(NULL, NULL) == NULL);
    CHECK(dusk_call_cuda_stream(NULL) == NULL);
    dusk_call_fail(NULL, "nothing happens");

    /* names: the limits, each with its reason */
    char name[64];
    memset(name, 'k', sizeof name);
    name[DUSK_KERNEL_NAME_MAX] = '\0'; /* 47 bytes: the longest */
    CHECK_OK(dusk_kernel_name_check(name, why, sizeof why));
    CHECK_OK(dusk_kernel_new(name, nothing, &k));
    CHECK(strcmp(dusk_kernel_name(k), name) == 0);
    dusk_kernel_free(&k);
    CHECK(k == NULL);
    name[DUSK_KERNEL_NAME_MAX] = 'k'; /* 48 */
    name[DUSK_KERNEL_NAME_MAX + 1] = '\0';
    CHECK_EQ(dusk_kernel_name_check(name, why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "is 48 bytes long; at most 47");
    CHECK_EQ(dusk_kernel_new(name, nothing, &k), DUSK_EINVAL);
    CHECK_EQ(dusk_kernel_name_check("", why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "needs a name");
    CHECK_EQ(dusk_kernel_name_check("my kernel", why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "holds ' ' (byte 2): names take [A-Za-z0-9_.-]");
    CHECK_EQ(dusk_kernel_new("a/b", nothing, &k), DUSK_EINVAL);
    CHECK_OK(dusk_kernel_name_check("A-z_0.9", why, sizeof why));
    /* dusk_ names belong to the built-in kernels, which share performance models by name */
    CHECK_EQ(dusk_kernel_name_check("dusk_gen", why, sizeof why), DUSK_EINVAL);
    CHECK_STR_CONTAINS(why, "reserved for dusk's built-in kernels");
    CHECK_EQ(dusk_kernel_new("dusk_mine", nothing, &k), DUSK_EINVAL);
    CHECK(k == NULL);
    CHECK_OK(dusk_kernel_name_check("dusk", why, sizeof why));
    /* one live kernel per name; freeing it frees the name */
    CHECK_OK(dusk_kernel_new("test_twice", nothing, &k));
    CHECK_EQ(dusk_kernel_new("test_twice", nothing, &k2), DUSK_EEXIST);
    CHECK(k2 == NULL);
    CHECK_EQ(dusk_kernel_name_check("test_twice", why, sizeof why), DUSK_EEXIST);
    CHECK_STR_CONTAINS(why, "a kernel named 'test_twice' exists already");
    dusk_kernel_free(&k);
    CHECK_OK(dusk_kernel_new("test_twice", nothing, &k));
    dusk_kernel_free(&k);
    CHECK(strcmp(dusk_strerror(DUSK_EEXIST), "unknown error") != 0);

    /* a kernel's return value: C's return 1 and unknown codes are DUSK_EKERNEL */
    CHECK_OK(dusk_config_init(&cfg, why, sizeof why));
    cfg.progress = DUSK_PROGRESS_OFF;
    CHECK_OK(dusk_init(&cfg, why, sizeof why));
    CHECK_OK(dusk_kernel_new("test_returns", returns, &k));
    dusk_graph *g;
    CHECK_OK(dusk_graph_new(&g));
    const struct {
        int ret, reason, status;
        const char *why;
    } cases[] = {
        {0, 0, 0, NULL},
        {1, 0, DUSK_EKERNEL, "kernel returned 1"},
        {2, 0, DUSK_EKERNEL, "kernel returned 2"}, /* would read as DUSK_TASK_ELSEWHERE */
        {-999, 0, DUSK_EKERNEL, "kernel returned -999"},
        {INT_MIN, 0, DUSK_EKERNEL, "kernel returned -2147483648"},
        {7, 1, DUSK_EKERNEL, "my own reason"},
        {DUSK_EDATA, 1, DUSK_EDATA, "my own reason"},
        {DUSK_EDATA, 0, DUSK_EDATA, "input data refused"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    int64_t ids[16];
    for (int i = 0; i < n; i++) {
        dusk_data *d;
        CHECK_OK(dusk_vector_new(g, 1, &d));
        dusk_arg args[] = {{d, DUSK_W}};
        int v[2] = {cases[i].ret, cases[i].reason};
        CHECK_OK(dusk_task_submit(g, k, args, 1, v, sizeof v, NULL, &ids[i]));
        dusk_data_release(&d);
    }
    CHECK_EQ(dusk_graph_wait(g), DUSK_ETASK);
    int64_t failed;
    dusk_graph_counts(g, NULL, NULL, &failed);
    CHECK_EQ(failed, n - 1);
    for (int i = 0; i < n; i++)
        CHECK_EQ(dusk_task_status(g, ids[i]), cases[i].status);
    for (int64_t f = 0; f < failed; f++) {
        int64_t id;
        const char *key, *reason;
        CHECK_OK(dusk_graph_failure(g, f, &id, &key, &reason));
        CHECK(id >= 1 && id < n);
        CHECK(strcmp(reason, cases[id].why) == 0);
    }
    CHECK(strcmp(dusk_strerror(DUSK_EKERNEL), "the kernel reported a failure") == 0);
    dusk_graph_free(&g);
    dusk_kernel_free(&k);
    dusk_shutdown();
    return 0;
}
