/* Batches (dusk_batch.h): the handle, its settings and the query of them. The batch layer is
 * built on the public graph API and the I/O layer (outputs, manifest, output directory); see
 * batch.h for how its files divide the work. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "io.h"

static int valid_word(const char *s, const char *extra, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= max) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(extra, *s)))
            return 0;
    return 1;
}

int dusk_batch_new(const char *program, int64_t nitems, dusk_batch **out)
{
    if (out == NULL) return DUSK_EINVAL;
    *out = NULL;
    if (!valid_word(program, "-_.", 64) || nitems < 0 || nitems > ((int64_t)1 << 40))
        return DUSK_EINVAL;
    dusk_batch *b = calloc(1, sizeof *b);
    if (b == NULL) return DUSK_ENOMEM;
    snprintf(b->program, sizeof b->program, "%s", program);
    b->nitems = nitems;
    snprintf(b->format, sizeof b->format, "npy");
    snprintf(b->label, sizeof b->label, "items");
    snprintf(b->noun1, sizeof b->noun1, "item");
    snprintf(b->noun2, sizeof b->noun2, "items");
    snprintf(b->out_flag, sizeof b->out_flag, "--output");
    snprintf(b->resume_flag, sizeof b->resume_flag, "--resume");
    const char *env = getenv("DUSK_CHUNK");
    long long k;
    if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0) {
        if (dusk__parse_int(env, 1, INT32_MAX, &k) == 0)
            b->chunk_k = k;
        else
            snprintf(b->chunk_error, sizeof b->chunk_error,
                     "DUSK_CHUNK='%.60s' is not auto or a whole number from 1 to %d", env,
                     INT32_MAX);
    }
    pthread_mutex_init(&b->qlock, NULL);
    pthread_cond_init(&b->qcond, NULL);
    pthread_mutex_init(&b->rlock, NULL);
    b->qtail = &b->qhead;
    b->lock_fd = -1;
    b->share_fd = -1;
    *out = b;
    return 0;
}

void dusk_batch_free(dusk_batch **pb)
{
    if (pb == NULL || *pb == NULL) return;
    dusk_batch *b = *pb;
    /* no signal may reach the batch once it is going: the watcher thread ends first */
    if (b->opened) dusk__batch_signals_restore();
    if (b->files) (void)!b->fmt->suspend(&b->files); /* kept as they are, for a resume */
    dusk_manifest_close(&b->manifest);
    dusk_manifest_close(&b->prior);
    dusk_chunker_free(&b->chunker);
    if (b->lock_fd >= 0) close(b->lock_fd); /* another batch of the process may use the directory */
    if (b->share_fd >= 0) close(b->share_fd);
    if (b->report) dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_DETACH});
    for (int i = 0; i < b->nattrs; i++) {
        free(b->attr_names[i]);
        free(b->attr_values[i]);
    }
    for (int i = 0; i < b->nsubjects; i++) {
        free(b->subject_step[i]);
        free(b->subject[i]);
    }
    for (int64_t i = 0; i < b->nfailures; i++) {
        free((char *)b->failures[i].step);
        free((char *)b->failures[i].reason);
    }
    free(b->failures);
    free(b->why);
    free(b->dir);
    free(b->params);
    free(b->args);
    free(b->resume_cmd);
    free(b->quit);
    pthread_cond_destroy(&b->qcond);
    pthread_mutex_destroy(&b->qlock);
    pthread_mutex_destroy(&b->rlock);
    free(b);
    *pb = NULL;
}

/* ---- what it produces ----------------------------------------------------------------------- */

int dusk_batch_add_output(dusk_batch *b, const char *name, int ndim, const int64_t *dims,
                          int *index)
{
    if (index) *index = -1;
    if (b == NULL || b->opened || !valid_word(name, "_", sizeof b->outs[0].name) || ndim < 0 ||
        ndim > 2 || (ndim > 0 && dims == NULL) || b->nouts == DUSK__MAX_OUTPUTS)
        return DUSK_EINVAL;
    dusk__output *o = &b->outs[b->nouts];
    int64_t row = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 1 || dims[d] > INT32_MAX || row > INT64_MAX / 8 / dims[d]) return DUSK_EINVAL;
        row *= dims[d];
        o->dims[d] = dims[d];
    }
    for (int i = 0; i < b->nouts; i++)
        if (strcmp(b->outs[i].name, name) == 0) return DUSK_EINVAL;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->ndim = ndim;
    if (index) *index = b->nouts;
    b->nouts++;
    return 0;
}

/* *to = a copy of s (NULL: none). 0 or DUSK_ENOMEM. */
static int set_string(char **to, const char *s)
{
    char *copy = s ? dusk__strdup(s) : NULL;
    if (s && copy == NULL) return DUSK_ENOMEM;
    free(*to);
    *to = copy;
    return 0;
}

static int set_dir(dusk_batch *b, const char *dir)
{
    if (dir == NULL || *dir == '\0' || strlen(dir) > 4000) return DUSK_EINVAL;
    return set_string(&b->dir, dir);
}

int dusk_batch_set_output(dusk_batch *b, const char *dir, const char *format)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    for (int i = 0; i < b->nouts; i++)
        if (b->memory[i]) return DUSK_EINVAL;
    if (format != NULL) {
        if (!dusk__format_known(format)) return DUSK_EINVAL;
        if (dusk__format_find(format) == NULL) return DUSK_ENODEV;
        snprintf(b->format, sizeof b->format, "%s", format);
        b->format_given = 1;
    }
    return set_dir(b, dir);
}

int dusk_batch_set_memory(dusk_batch *b, int index, double *values)
{
    if (b == NULL || b->opened || b->dir || index < 0 || index >= b->nouts || values == NULL)
        return DUSK_EINVAL;
    b->memory[index] = values;
    return 0;
}

int dusk_batch_resume(dusk_batch *b, const char *dir)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    int ret = set_dir(b, dir);
    if (ret == 0) b->resume = 1;
    return ret;
}

int dusk_batch_set_overwrite(dusk_batch *b, int overwrite)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    b->overwrite = overwrite != 0;
    return 0;
}

int dusk_batch_set_signals(dusk_batch *b, int catch)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    b->no_signals = catch == 0;
    return 0;
}

int dusk_batch_stop(dusk_batch *b, int sig)
{
    if (b == NULL || !b->opened || sig <= 0) return DUSK_EINVAL;
    dusk__batch_signals_raise(sig);
    return 0;
}

int dusk_batch_set_params(dusk_batch *b, const char *params)
{
    if (b == NULL || b->opened || params == NULL || strchr(params, '\n')) return DUSK_EINVAL;
    return set_string(&b->params, params);
}

int dusk_batch_set_input(dusk_batch *b, dusk_input *input)
{
    if (b == NULL || b->opened || input == NULL || dusk_input_count(input) != b->nitems)
        return DUSK_EINVAL;
    int ret = dusk_input_keep_hashes(input);
    if (ret == 0) b->input = input;
    return ret;
}

int dusk_batch_set_attr(dusk_batch *b, const char *name, const char *value)
{
    if (b == NULL || b->opened || !valid_word(name, "_", 64) || value == NULL ||
        strchr(value, '\n') || b->nattrs == DUSK__MAX_ATTRS - 2)
        return DUSK_EINVAL;
    char *n = dusk__strdup(name), *v = dusk__strdup(value);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return DUSK_ENOMEM;
    }
    b->attr_names[b->nattrs] = n;
    b->attr_values[b->nattrs++] = v;
    return 0;
}

/* ---- what it says -----------------------------------------------------------------------------
 */

int dusk_batch_set_args(dusk_batch *b, const char *args)
{
    if (b == NULL || b->opened || (args && strchr(args, '\n'))) return DUSK_EINVAL;
    return set_string(&b->args, args);
}

static int set_flag(char *to, size_t len, const char *flag)
{
    if (flag == NULL) return 0;
    if (strlen(flag) >= len || strchr(flag, '\n')) return DUSK_EINVAL;
    snprintf(to, len, "%s", flag);
    return 0;
}

int dusk_batch_set_flags(dusk_batch *b, const char *output, const char *resume,
                         const char *overwrite)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    char o[32], r[32], w[32];
    memcpy(o, b->out_flag, sizeof o);
    memcpy(r, b->resume_flag, sizeof r);
    memcpy(w, b->overwrite_flag, sizeof w);
    if (set_flag(o, sizeof o, output) || set_flag(r, sizeof r, resume) ||
        set_flag(w, sizeof w, overwrite))
        return DUSK_EINVAL; /* all or nothing */
    memcpy(b->out_flag, o, sizeof o);
    memcpy(b->resume_flag, r, sizeof r);
    memcpy(b->overwrite_flag, w, sizeof w);
    return 0;
}

/* The two below may come from the reporter's OPEN event: allowed until the run starts. */
int dusk_batch_set_resume_command(dusk_batch *b, const char *command)
{
    if (b == NULL || b->ran_once || (command && strchr(command, '\n'))) return DUSK_EINVAL;
    return set_string(&b->resume_cmd, command);
}

int dusk_batch_set_quit_message(dusk_batch *b, const char *text)
{
    if (b == NULL || b->ran_once || (text && strlen(text) > 8191)) return DUSK_EINVAL;
    int ret = set_string(&b->quit, text && *text ? text : NULL);
    /* the handler's copy, once it is there (before that, dusk_batch_open() hands it over) */
    if (ret == 0 && b->opened) dusk__batch_signals_set_quit(b->quit);
    return ret;
}

int dusk_batch_set_label(dusk_batch *b, const char *label)
{
    if (b == NULL || label == NULL || strlen(label) >= sizeof b->label) return DUSK_EINVAL;
    snprintf(b->label, sizeof b->label, "%s", label);
    return 0;
}

int dusk_batch_set_noun(dusk_batch *b, const char *singular, const char *plural)
{
    if (b == NULL || singular == NULL || plural == NULL || strlen(singular) >= sizeof b->noun1 ||
        strlen(plural) >= sizeof b->noun2)
        return DUSK_EINVAL;
    snprintf(b->noun1, sizeof b->noun1, "%s", singular);
    snprintf(b->noun2, sizeof b->noun2, "%s", plural);
    return 0;
}

int dusk_batch_set_subject(dusk_batch *b, const char *step, const char *subject)
{
    if (b == NULL || step == NULL || subject == NULL || b->nsubjects == DUSK__BATCH_MAX_SUBJECTS)
        return DUSK_EINVAL;
    char *s = dusk__strdup(step), *t = dusk__strdup(subject);
    if (s == NULL || t == NULL) {
        free(s);
        free(t);
        return DUSK_ENOMEM;
    }
    b->subject_step[b->nsubjects] = s;
    b->subject[b->nsubjects++] = t;
    return 0;
}

/* ---- how it runs -------------------------------------------------------------------------------
 */

int dusk_batch_set_share(dusk_batch *b, int64_t k, int64_t n)
{
    if (b == NULL || b->opened || n < 0 || n > (1 << 20) || (n > 0 && (k < 0 || k >= n)))
        return DUSK_EINVAL;
    b->share_k = n > 0 ? k : 0;
    b->share_n = n;
    return 0;
}

int dusk_batch_set_distribution(dusk_batch *b, dusk_distribution d)
{
    if (b == NULL || b->opened || (d != DUSK_CYCLIC && d != DUSK_BLOCK)) return DUSK_EINVAL;
    b->dist = d;
    return 0;
}

int dusk_batch_set_chunk(dusk_batch *b, int64_t k, int64_t item_bytes)
{
    if (b == NULL || b->opened || k < -1 || item_bytes < 0) return DUSK_EINVAL;
    if (k >= 0) {
        b->chunk_k = k;
        b->chunk_error[0] = '\0'; /* given: DUSK_CHUNK does not count */
    }
    b->item_bytes = item_bytes;
    return 0;
}

int dusk_batch_set_task_target(dusk_batch *b, double seconds, int tail)
{
    if (b == NULL || b->opened || !(seconds >= 0 && seconds <= 60) || tail < 0 || tail > 64)
        return DUSK_EINVAL;
    b->task_seconds = seconds;
    b->task_tail = tail;
    return 0;
}

int dusk_batch_set_reporter(dusk_batch *b, dusk_batch_report_fn fn, void *user)
{
    if (b == NULL || b->opened) return DUSK_EINVAL;
    if (b->report) dusk__batch_emit(b, &(dusk_batch_event){.kind = DUSK_BATCH_EVENT_DETACH});
    pthread_mutex_lock(&b->rlock);
    b->report = fn;
    b->report_user = fn ? user : NULL;
    pthread_mutex_unlock(&b->rlock);
    return 0;
}

int dusk_batch_get_info(const dusk_batch *b, dusk_batch_info *out)
{
    if (out == NULL) return DUSK_EINVAL;
    memset(out, 0, sizeof *out);
    if (b == NULL) return DUSK_EINVAL;
    *out = (dusk_batch_info){
        .program = b->program,
        .label = b->label,
        .singular = b->noun1,
        .plural = b->noun2,
        .output_flag = b->out_flag,
        .resume_flag = b->resume_flag,
        .overwrite_flag = b->overwrite_flag,
        .dir = b->dir,
        .args = b->args ? b->args : "",
        .resume = b->resume,
        .items = b->nitems,
        .chunk = b->chunk_k > 0 ? b->chunk_k : 0,
    };
    return 0;
}
