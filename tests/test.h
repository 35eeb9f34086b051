/* dusk's test assertions, in the style of libuv's test/task.h.
 *
 * Each test is one executable; an assertion that fails prints the file, the line, the
 * expression and both values, then exits 1. They do not depend on NDEBUG. A test that
 * cannot run here (no GPU, no mpirun) exits TEST_SKIP (77), which ctest reports as skipped.
 */
#ifndef DUSK_TEST_H
#define DUSK_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SKIP 77

#define TEST_FAIL_(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr)) TEST_FAIL_("CHECK(%s) failed", #expr);                                        \
    } while (0)

#define CHECK_INT_OP_(a, op, b)                                                                    \
    do {                                                                                           \
        int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                              \
        if (!(a_ op b_))                                                                           \
            TEST_FAIL_("%s %s %s failed: %" PRId64 " vs %" PRId64, #a, #op, #b, a_, b_);           \
    } while (0)

#define CHECK_EQ(a, b) CHECK_INT_OP_(a, ==, b)
#define CHECK_NE(a, b) CHECK_INT_OP_(a, !=, b)
#define CHECK_LT(a, b) CHECK_INT_OP_(a, <, b)
#define CHECK_LE(a, b) CHECK_INT_OP_(a, <=, b)
#define CHECK_GE(a, b) CHECK_INT_OP_(a, >=, b)
#define CHECK_GT(a, b) CHECK_INT_OP_(a, >, b)

/* a call returning a dusk error code must succeed */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) TEST_FAIL_("%s returned %d (%s)", #call, rc_, dusk_strerror(rc_));           \
    } while (0)

/* |a - b| <= tol, printing both values */
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                             \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            TEST_FAIL_("CHECK_NEAR(%s, %s, %s) failed: %.17g vs %.17g (diff %.3g)", #a, #b, #tol,  \
                       a_, b_, fabs(a_ - b_));                                                     \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                                  \
            TEST_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                  \
    } while (0)

#endif /* DUSK_TEST_H */
