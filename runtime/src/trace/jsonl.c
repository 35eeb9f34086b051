/* The JSON reader of jsonl.h: a cursor over one line, strings decoded in place. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

void dusk__json_init(dusk__json *j, char *line)
{
    j->p = line;
    j->err = NULL;
}

void dusk__json_ws(dusk__json *j)
{
    while (*j->p == ' ' || *j->p == '\t')
        j->p++;
}

int dusk__json_fail(dusk__json *j, const char *err)
{
    if (j->err == NULL) j->err = err;
    return -1;
}

static int hex4(const char *h, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = h[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* A JSON string, decoded in place (the result is never longer than its encoding). */
int dusk__json_string(dusk__json *j, const char **out)
{
    dusk__json_ws(j);
    if (*j->p != '"') return dusk__json_fail(j, "expected a string");
    char *r = ++j->p, *w = r;
    *out = w;
    for (;;) {
        unsigned char c = (unsigned char)*r;
        if (c == '\0' || c == '\n') return dusk__json_fail(j, "unterminated string");
        if (c < 0x20) return dusk__json_fail(j, "control character in a string");
        if (c == '"') break;
        if (c != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case '"':
        case '\\':
        case '/':
            *w++ = *r++;
            break;
        case 'b':
            *w++ = '\b';
            r++;
            break;
        case 'f':
            *w++ = '\f';
            r++;
            break;
        case 'n':
            *w++ = '\n';
            r++;
            break;
        case 'r':
            *w++ = '\r';
            r++;
            break;
        case 't':
            *w++ = '\t';
            r++;
            break;
        case 'u': {
            unsigned u, lo;
            if (hex4(r + 1, &u) != 0) return dusk__json_fail(j, "bad \\u escape");
            r += 5;
            if (u >= 0xd800 && u < 0xdc00 && r[0] == '\\' && r[1] == 'u' && hex4(r + 2, &lo) == 0 &&
                lo >= 0xdc00 && lo < 0xe000) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                r += 6;
            }
            if (u == 0) return dusk__json_fail(j, "NUL in a string");
            if (u < 0x80) {
                *w++ = (char)u;
            } else if (u < 0x800) {
                *w++ = (char)(0xc0 | (u >> 6));
                *w++ = (char)(0x80 | (u & 0x3f));
            } else if (u < 0x10000) {
                *w++ = (char)(0xe0 | (u >> 12));
                *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
                *w++ = (char)(0x80 | (u & 0x3f));
            } else {
                *w++ = (char)(0xf0 | (u >> 18));
                *w++ = (char)(0x80 | ((u >> 12) & 0x3f));
                *w++ = (char)(0x80 | ((u >> 6) & 0x3f));
                *w++ = (char)(0x80 | (u & 0x3f));
            }
            break;
        }
        default:
            return dusk__json_fail(j, "bad escape in a string");
        }
    }
    j->p = r + 1;
    *w = '\0'; /* w <= r: the closing quote or before it */
    return 0;
}

int dusk__json_number(dusk__json *j, double *out)
{
    dusk__json_ws(j);
    char *s = j->p;
    if (!(*s == '-' || (*s >= '0' && *s <= '9'))) return dusk__json_fail(j, "expected a number");
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(*out)) return dusk__json_fail(j, "bad number");
    j->p = end;
    return 0;
}

int dusk__json_expect(dusk__json *j, char c)
{
    dusk__json_ws(j);
    if (*j->p != c)
        return dusk__json_fail(j, c == ':'   ? "expected ':'"
                                  : c == '}' ? "expected '}'"
                                             : "bad syntax");
    j->p++;
    return 0;
}

static int skip_container(dusk__json *j, char close, int depth)
{
    j->p++;
    dusk__json_ws(j);
    if (*j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            const char *k;
            if (dusk__json_string(j, &k) || dusk__json_expect(j, ':')) return -1;
        }
        if (dusk__json_skip(j, depth + 1)) return -1;
        dusk__json_ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        return dusk__json_expect(j, close);
    }
}

int dusk__json_skip(dusk__json *j, int depth)
{
    dusk__json_ws(j);
    if (depth > 16) return dusk__json_fail(j, "nested too deeply");
    if (*j->p == '"') {
        const char *s;
        return dusk__json_string(j, &s);
    }
    if (*j->p == '{') return skip_container(j, '}', depth);
    if (*j->p == '[') return skip_container(j, ']', depth);
    for (const char *w = "true\0false\0null\0"; *w; w += strlen(w) + 1)
        if (strncmp(j->p, w, strlen(w)) == 0) {
            j->p += strlen(w);
            return 0;
        }
    double d;
    return dusk__json_number(j, &d);
}

int dusk__json_array(dusk__json *j, dusk__json_elem_fn elem, void *user)
{
    if (dusk__json_expect(j, '[')) return -1;
    dusk__json_ws(j);
    if (*j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (elem(j, user)) return -1;
        dusk__json_ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        return dusk__json_expect(j, ']');
    }
}

int dusk__json_object(dusk__json *j, dusk__json_field_fn field, void *user)
{
    if (dusk__json_expect(j, '{')) return -1;
    dusk__json_ws(j);
    if (*j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        const char *k;
        if (dusk__json_string(j, &k) || dusk__json_expect(j, ':') || field(j, k, user)) return -1;
        dusk__json_ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        return dusk__json_expect(j, '}');
    }
}
