/* The command line of a batch program (dusk_cli.h): recorded in the manifest as words, given
 * back to a resume, and turned into the command that resumes. Command-line policy (which
 * flags name the directory, which are dropped, which hold paths) lives here, not in the batch
 * layer, which keeps the words as an opaque line. Public API only. */
#define _GNU_SOURCE /* realpath, open_memstream */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dusk_cli.h"
#include "dusk_manifest.h"

/* Whether argument a is `flag` or an abbreviation of it as getopt_long takes them ("--out"
 * for "--output"): 1 for "--flag=VALUE", 2 for "--flag" with VALUE to follow, else 0. */
static int names_flag(const char *a, const char *flag)
{
    if (strncmp(a, "--", 2) != 0 || a[2] == '\0' || strncmp(flag, "--", 2) != 0) return 0;
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (len == 0 || len > strlen(flag + 2) || strncmp(a + 2, flag + 2, len) != 0) return 0;
    return eq ? 1 : 2;
}

static int in_list(const char *a, const char *const *flags, int *kind)
{
    for (int i = 0; flags && flags[i]; i++)
        if ((*kind = names_flag(a, flags[i])) != 0) return 1;
    *kind = 0;
    return 0;
}

static char *copy(const char *s)
{
    size_t len = strlen(s) + 1;
    char *t = malloc(len);
    if (t) memcpy(t, s, len);
    return t;
}

/* A path as the hint must print it: absolute (from the current directory when it does not
 * exist yet). Malloc'ed. */
static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf) != NULL) return copy(buf);
    if (path[0] == '/') return copy(path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) return copy(path);
    size_t len = strlen(cwd) + strlen(path) + 2;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s/%s", cwd, path);
    return s;
}

/* One word for a POSIX shell, after a space, quoted when it needs to be. */
static void shell_word(FILE *f, const char *a)
{
    int plain = *a != '\0';
    for (const char *c = a; *c; c++)
        plain = plain && (strchr("-_./=:,+@%", *c) || (*c >= '0' && *c <= '9') ||
                          (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'));
    fputc(' ', f);
    if (plain) {
        fputs(a, f);
        return;
    }
    fputc('\'', f);
    for (const char *c = a; *c; c++)
        fputs(*c == '\'' ? "'\\''" : (char[2]){*c, 0}, f);
    fputc('\'', f);
}

/* A word for the manifest's args line: bytes outside a plain set as %XX; words are separated
 * by spaces (*first: none before this one). */
static void percent_word(FILE *f, const char *a, int *first)
{
    if (!*first) fputc(' ', f);
    *first = 0;
    if (*a == '\0') fputc('%', f);
    for (const unsigned char *c = (const unsigned char *)a; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-_./=:,+@", *c))
            fputc(*c, f);
        else
            fprintf(f, "%%%02X", *c);
    }
}

/* The text written to memory stream f, open_memstream's *buf (malloc'ed); NULL when it
 * failed. */
static char *closed(FILE *f, char **buf)
{
    if (fclose(f) != 0) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

int dusk_cli_batch_args(dusk_batch *b, int argc, char *const *argv, const char *const *dir_flags,
                        const char *const *drop_flags, const char *const *path_flags,
                        const char *resume_flag)
{
    if (b == NULL || argc < 1 || argv == NULL || resume_flag == NULL || strlen(resume_flag) >= 32)
        return DUSK_EINVAL;
    /* the names messages use: the first of each list (too long a one is not used) */
    const char *out = dir_flags && dir_flags[0] && strlen(dir_flags[0]) < 32 ? dir_flags[0] : NULL;
    const char *drop =
        drop_flags && drop_flags[0] && strlen(drop_flags[0]) < 32 ? drop_flags[0] : NULL;
    int ret = dusk_batch_set_flags(b, out, resume_flag, drop);
    if (ret != 0) return ret;
    char *words = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&words, &len);
    if (f == NULL) return DUSK_ENOMEM;
    int first = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int kind;
        if (in_list(a, dir_flags, &kind)) {
            i += kind == 2; /* the directory is the next argument */
            continue;
        }
        if (in_list(a, drop_flags, &kind)) continue;
        if (in_list(a, path_flags, &kind)) {
            const char *value = kind == 1 ? strchr(a, '=') + 1 : i + 1 < argc ? argv[i + 1] : NULL;
            char *abs = value ? absolute(value) : NULL;
            if (kind == 1) {
                char flag[64];
                snprintf(flag, sizeof flag, "%.*s", (int)(strchr(a, '=') - a), a);
                percent_word(f, flag, &first);
            } else {
                percent_word(f, a, &first);
                i++;
            }
            if (abs) percent_word(f, abs, &first);
            free(abs);
            continue;
        }
        percent_word(f, a, &first);
    }
    if ((words = closed(f, &words)) == NULL) return DUSK_ENOMEM;
    ret = dusk_batch_set_args(b, words);
    free(words);
    return ret;
}

/* The words of an args line (percent-encoded, separated by spaces) as a NULL-terminated
 * array in one block the caller frees. 0 or DUSK_ENOMEM. */
static int decode_words(const char *s, char ***argvp, int *argcp)
{
    size_t len = strlen(s);
    int words = 0;
    for (const char *c = s; *c; c++)
        words += *c != ' ' && (c == s || c[-1] == ' ');
    char **argv = malloc((size_t)(words + 1) * sizeof *argv + len + 1);
    if (argv == NULL) return DUSK_ENOMEM;
    char *out = (char *)(argv + words + 1);
    int argc = 0;
    for (const char *c = s; *c;) {
        if (*c == ' ') {
            c++;
            continue;
        }
        argv[argc++] = out;
        for (; *c && *c != ' '; c++) {
            unsigned v;
            if (*c == '%' && (c[1] == ' ' || c[1] == '\0')) continue; /* "%": an empty word */
            if (*c == '%' && sscanf(c + 1, "%2x", &v) == 1) {
                *out++ = (char)v;
                c += 2;
            } else {
                *out++ = *c;
            }
        }
        *out++ = '\0';
    }
    argv[argc] = NULL;
    *argvp = argv;
    *argcp = argc;
    return 0;
}

int dusk_cli_resume_args(const char *dir, char ***argvp, int *argcp, char *why, size_t whylen)
{
    if (argvp) *argvp = NULL;
    if (argcp) *argcp = 0;
    if (dir == NULL || argvp == NULL || argcp == NULL) return DUSK_EINVAL;
    dusk_manifest *m = NULL;
    char what[512];
    int ret = dusk_manifest_read(dir, &m, what, sizeof what);
    if (ret == DUSK_EIO) {
        int err = errno;
        if (why && whylen)
            snprintf(why, whylen, "%s: %s: there is no run to resume there", dir, strerror(err));
        errno = err;
        return DUSK_EIO;
    }
    if (ret == DUSK_ENOMEM) return ret;
    const char *args = ret == 0 ? dusk_manifest_field(m, "args") : NULL;
    /* no args (a manifest from before they were recorded, or none to read: the resume itself
     * says what is wrong with it) */
    ret = args ? decode_words(args, argvp, argcp) : 0;
    dusk_manifest_close(&m);
    return ret;
}

int dusk_cli_resume_command(const dusk_batch *b, char **out)
{
    dusk_batch_info info;
    if (out) *out = NULL;
    if (out == NULL || dusk_batch_get_info(b, &info) != 0 || info.dir == NULL) return DUSK_EINVAL;
    char *text = NULL, exe[PATH_MAX];
    size_t len = 0;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    snprintf(exe + (n > 0 ? n : 0), sizeof exe - (size_t)(n > 0 ? n : 0), "%s",
             n > 0 ? "" : info.program);
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) return DUSK_ENOMEM;
    shell_word(f, exe);
    /* the recorded words, decoded back, then the directory */
    char **argv = NULL, *dir = absolute(info.dir);
    int argc = 0;
    if (decode_words(info.args, &argv, &argc) == 0) {
        for (int i = 0; i < argc; i++)
            shell_word(f, argv[i]);
        free(argv);
    }
    shell_word(f, info.resume_flag);
    shell_word(f, dir ? dir : info.dir);
    free(dir);
    if ((text = closed(f, &text)) == NULL) return DUSK_ENOMEM;
    memmove(text, text + 1, strlen(text)); /* without the leading space */
    *out = text;
    return 0;
}

int dusk_cli_continue_state(const char *dir, const char *program, const char *params, int64_t items,
                            const char *format, dusk_cli_continue *state, char *why, size_t whylen)
{
    if (state) *state = DUSK_CLI_CONTINUE_NEW;
    if (why && whylen) why[0] = '\0';
    if (dir == NULL || program == NULL || params == NULL || state == NULL || items < 0)
        return DUSK_EINVAL;
    char none[1];
    if (why == NULL || whylen == 0) why = none, whylen = sizeof none;
    if (format == NULL) format = "npy";
    dusk_manifest *m = NULL;
    char what[512];
    int ret = dusk_manifest_read(dir, &m, what, sizeof what);
    if (ret == DUSK_EIO && (errno == ENOENT || errno == ENOTDIR)) {
        snprintf(why, whylen, "no run there: a new one starts");
        return 0; /* no DIR, or no manifest in it */
    }
    if (ret == DUSK_EFORMAT) {
        *state = DUSK_CLI_CONTINUE_OTHER;
        snprintf(why, whylen, "holds a manifest.txt that is not a dusk manifest, or is damaged");
        return 0;
    }
    if (ret != 0) {
        int err = errno;
        snprintf(why, whylen, "%s", what);
        errno = err;
        return ret;
    }
    const char *was_program = dusk_manifest_field(m, "program");
    const char *was_params = dusk_manifest_field(m, "params");
    const char *was_tasks = dusk_manifest_field(m, "tasks");
    const char *was_format = dusk_manifest_field(m, "format");
    const char *was_state = dusk_manifest_field(m, "state");
    const char *was_done = dusk_manifest_field(m, "done");
    char tasks[24];
    snprintf(tasks, sizeof tasks, "%lld", (long long)items);
    if (was_format == NULL) was_format = "npy"; /* the only one before formats were recorded */
    if (was_program == NULL || strcmp(was_program, program) != 0) {
        *state = DUSK_CLI_CONTINUE_OTHER;
        snprintf(why, whylen, "holds the outputs of another program's run (%s)",
                 was_program ? was_program : "unnamed");
    } else if (was_params == NULL || strcmp(was_params, params) != 0) {
        *state = DUSK_CLI_CONTINUE_OTHER;
        snprintf(why, whylen,
                 "holds the outputs of another run (its parameters: %s; this run's: %s)",
                 was_params ? was_params : "none", params);
    } else if (was_tasks == NULL || strcmp(was_tasks, tasks) != 0) {
        *state = DUSK_CLI_CONTINUE_OTHER;
        snprintf(why, whylen, "holds the outputs of another run (of %s items, not %s)",
                 was_tasks ? was_tasks : "?", tasks);
    } else if (strcmp(was_format, format) != 0) {
        *state = DUSK_CLI_CONTINUE_OTHER;
        snprintf(why, whylen, "holds this run's outputs written as %s, not %s", was_format, format);
    } else if (was_state != NULL && strcmp(was_state, "finished") == 0 && was_done != NULL &&
               strcmp(was_done, tasks) == 0) {
        *state = DUSK_CLI_CONTINUE_FINISHED;
        snprintf(why, whylen, "this run is finished (%s of %s done)", was_done, tasks);
    } else {
        *state = DUSK_CLI_CONTINUE_RESUME;
        snprintf(why, whylen, "this run is %s (%s of %s done): it goes on",
                 was_state && strcmp(was_state, "finished") == 0 ? "finished with failed items"
                                                                 : "not finished",
                 was_done ? was_done : "0", tasks);
    }
    dusk_manifest_close(&m);
    return 0;
}
