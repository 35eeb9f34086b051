/* A small JSON reader for JSON-lines files (one JSON value per line), such as dusk's traces.
 * Private to the trace reader; no StarPU, no I/O layer: the C library only, so that it can be
 * built and fuzzed on its own.
 *
 * A line is read in place: the caller hands it over writable and NUL-terminated (a '\n' also
 * ends it inside a string), and strings are decoded into it, so they point into the line and
 * live as long as it does. Values are taken one at a time, the caller saying what it expects
 * where: an object's fields through a callback per key (dusk__json_object), an array's
 * elements through one per element (dusk__json_array), numbers and strings directly, and any
 * value it does not want skipped whole (dusk__json_skip). Nothing is allocated.
 *
 * Every reading function returns 0, or -1 after recording why in j->err: the first error of
 * the line, a static string ("expected a string", "unterminated string", "bad number", ...),
 * which the caller reports with the line's number. j->p is then where it stopped. Numbers are
 * doubles (strtod), finite; strings may hold any UTF-8 but NUL (\u0000 is refused). Spaces
 * and tabs between tokens are skipped. Not thread-safe on one dusk__json; no global state.
 */
#ifndef DUSK_JSONL_H
#define DUSK_JSONL_H

typedef struct dusk__json {
    char *p;         /* the next character to read */
    const char *err; /* the first error, or NULL */
} dusk__json;

/* Start reading `line` (writable, NUL-terminated): j->p at its start, no error. */
void dusk__json_init(dusk__json *j, char *line);

/* Skip spaces and tabs. */
void dusk__json_ws(dusk__json *j);

/* Record err as the line's error unless one is already recorded; returns -1, for
 * `return dusk__json_fail(j, "...")` in callbacks. */
int dusk__json_fail(dusk__json *j, const char *err);

/* The character c next (after spaces): ':' (else "expected ':'"), '}' ("expected '}'"), or
 * any other ("bad syntax"). */
int dusk__json_expect(dusk__json *j, char c);

/* A string, decoded in place: *out points into the line, NUL-terminated. */
int dusk__json_string(dusk__json *j, const char **out);

/* A number, as strtod() reads it, finite. */
int dusk__json_number(dusk__json *j, double *out);

/* Any one value (string, number, object, array, true, false, null), nested at most 16 deep
 * below `depth`: pass the depth at which the value sits (0 for a whole line). */
int dusk__json_skip(dusk__json *j, int depth);

/* An object, {"key": value, ...}: field() is called with each key (decoded, in the line) and
 * must read its value (or skip it) and return 0, or -1 after dusk__json_fail(). */
typedef int (*dusk__json_field_fn)(dusk__json *j, const char *key, void *user);
int dusk__json_object(dusk__json *j, dusk__json_field_fn field, void *user);

/* An array, [value, ...]: elem() is called for each element and must read it. */
typedef int (*dusk__json_elem_fn)(dusk__json *j, void *user);
int dusk__json_array(dusk__json *j, dusk__json_elem_fn elem, void *user);

#endif
