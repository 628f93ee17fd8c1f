/* INF syntax: [sections], key = field, field, ...; ';' comments outside
 * quotes, '\' continuations, "quoted" values with "" escapes, %strkey%
 * from [Strings].  Two passes: split every line into raw fields, then (once
 * all [Strings] sections are known, they may come last) decode each field.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cleanup.h"
#include "inf-parse.h"
#include "log.h"

/* Decoded values may grow by substitution; cap the whole file's. */
#define INF_MAX_DECODED (64u << 20)

struct string_entry {
  const char *key, *value;
  size_t order;                /* later definitions win */
};

struct parser {
  struct inf_file *inf;
  const struct inf_parse_options *opts;
  size_t total_lines, decoded_bytes;
  struct string_entry *strings;
  size_t nstrings;
  char *err;
  size_t errlen;
};

static void set_error(struct parser *ps, unsigned lineno, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static void set_error(struct parser *ps, unsigned lineno, const char *fmt, ...)
{
  va_list ap;
  int n = snprintf(ps->err, ps->errlen, "line %u: ", lineno);
  if (n < 0 || (size_t) n >= ps->errlen)
    return;
  va_start(ap, fmt);
  vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
  va_end(ap);
}

static char *trimmed_dup(const char *s, size_t n)
{
  while (n && isspace((unsigned char) *s))
    s++, n--;
  while (n && isspace((unsigned char) s[n - 1]))
    n--;
  return strndup(s, n);
}

/* ---- pass 1: logical lines -> raw fields ---- */

static int add_section(struct parser *ps, const char *name, size_t n, unsigned lineno)
{
  struct inf_file *inf = ps->inf;
  if (inf->nsections >= INF_MAX_SECTIONS) {
    set_error(ps, lineno, "more than %d sections", INF_MAX_SECTIONS);
    return -1;
  }
  struct inf_section *s = realloc(inf->sections, (inf->nsections + 1) * sizeof *s);
  if (!s)
    goto oom;
  inf->sections = s;
  s = &inf->sections[inf->nsections];
  memset(s, 0, sizeof *s);
  if (!(s->name = trimmed_dup(name, n)))
    goto oom;
  inf->nsections++;
  return 0;
oom:
  set_error(ps, lineno, "out of memory");
  return -1;
}

/* Split LINE at ',' (and the first '=' before any ',') outside quotes. */
static int add_line(struct parser *ps, const char *line, size_t len, unsigned lineno)
{
  struct inf_file *inf = ps->inf;
  if (inf->nsections == 0)
    return 0;                  /* text before the first section is ignored */
  if (++ps->total_lines > INF_MAX_LINES) {
    set_error(ps, lineno, "more than %d lines", INF_MAX_LINES);
    return -1;
  }
  struct inf_section *s = &inf->sections[inf->nsections - 1];
  struct inf_line *l = realloc(s->lines, (s->nlines + 1) * sizeof *l);
  if (!l)
    goto oom;
  s->lines = l;
  l = &s->lines[s->nlines++];
  memset(l, 0, sizeof *l);
  l->lineno = lineno;

  size_t start = 0, cap = 0;
  bool quoted = false, seen_comma = false;
  for (size_t i = 0; i <= len; i++) {
    char c = i < len ? line[i] : ',';
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (quoted && i < len)
      continue;
    if (c == '=' && !l->key && !seen_comma) {
      if (!(l->key = trimmed_dup(line + start, i - start)))
        goto oom;
      start = i + 1;
      continue;
    }
    if (c != ',')
      continue;
    seen_comma = true;
    if (l->nfields >= INF_MAX_FIELDS) {
      set_error(ps, lineno, "more than %d values on one line", INF_MAX_FIELDS);
      return -1;
    }
    if (l->nfields == cap) {
      cap = cap ? cap * 2 : 4;
      char **f = realloc(l->fields, cap * sizeof *f);
      if (!f)
        goto oom;
      l->fields = f;
    }
    if (!(l->fields[l->nfields] = trimmed_dup(line + start, i - start)))
      goto oom;
    l->nfields++;
    start = i + 1;
  }
  return 0;
oom:
  set_error(ps, lineno, "out of memory");
  return -1;
}

static int logical_line(struct parser *ps, const char *line, size_t len, unsigned lineno)
{
  while (len && isspace((unsigned char) *line))
    line++, len--;
  if (len == 0)
    return 0;
  if (*line == '[') {
    const char *end = memchr(line, ']', len);
    if (!end) {
      set_error(ps, lineno, "section name without ']'");
      return -1;
    }
    return add_section(ps, line + 1, end - line - 1, lineno);
  }
  return add_line(ps, line, len, lineno);
}

static int split_lines(struct parser *ps, const char *text, size_t size)
{
  struct p2v_buf line = P2V_BUF_INIT;
  unsigned lineno = 0, start_lineno = 0;
  size_t pos = 0;
  int r = 0;

  while (pos < size) {
    const char *p = text + pos;
    const char *nl = memchr(p, '\n', size - pos);
    size_t n = nl ? (size_t) (nl - p) : size - pos;
    pos += n + (nl != NULL);
    lineno++;
    if (line.len == 0)
      start_lineno = lineno;

    /* Cut the comment: the first ';' outside quotes. */
    bool quoted = false;
    size_t keep = 0;
    for (; keep < n; keep++) {
      if (p[keep] == '"')
        quoted = !quoted;
      else if (p[keep] == ';' && !quoted)
        break;
    }
    while (keep && (isspace((unsigned char) p[keep - 1])))
      keep--;
    bool more = keep && p[keep - 1] == '\\' && !quoted;
    if (more)
      keep--;
    if (line.len + keep > INF_MAX_LINE) {
      set_error(ps, start_lineno, "line longer than %d bytes", INF_MAX_LINE);
      r = -1;
      break;
    }
    if (p2v_buf_append(&line, p, keep) < 0) {
      set_error(ps, lineno, "out of memory");
      r = -1;
      break;
    }
    if (more && pos < size)
      continue;
    r = logical_line(ps, line.data ? line.data : "", line.len, start_lineno);
    line.len = 0;
    if (r < 0)
      break;
  }
  free(line.data);
  return r;
}

/* ---- pass 2: decode fields ---- */

static int compare_strings(const void *a, const void *b)
{
  const struct string_entry *x = a, *y = b;
  int c = strcasecmp(x->key, y->key);
  return c ? c : (x->order > y->order) - (x->order < y->order);
}

static const char *lookup_string(const struct parser *ps, const char *key, size_t n)
{
  size_t lo = 0, hi = ps->nstrings;
  const char *found = NULL;
  /* Last entry equal to KEY: the highest order wins. */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *k = ps->strings[mid].key;
    int c = strncasecmp(k, key, n);
    if (c == 0 && k[n] != '\0')
      c = 1;
    if (c <= 0) {
      if (c == 0)
        found = ps->strings[mid].value;
      lo = mid + 1;
    } else
      hi = mid;
  }
  return found;
}

/* Quotes off, "" -> ", %% -> %, %key% -> [Strings] value, $ARCH$ -> arch. */
static char *decode(struct parser *ps, const char *raw, bool substitute, unsigned lineno)
{
  struct p2v_buf out = P2V_BUF_INIT;
  bool quoted = false;
  const char *arch = ps->opts ? ps->opts->arch : NULL;

  if (p2v_buf_append(&out, "", 0) < 0)
    goto oom;
  for (const char *p = raw; *p; p++) {
    const char *piece = p;
    size_t n = 1;
    if (*p == '"') {
      if (quoted && p[1] == '"')
        p++;                   /* "" inside quotes: one quote */
      else {
        quoted = !quoted;
        continue;
      }
    } else if (*p == '%' && substitute) {
      const char *end = strchr(p + 1, '%');
      if (end == p + 1)
        p++;                   /* %%: one percent sign */
      else if (end) {
        const char *v = lookup_string(ps, p + 1, end - p - 1);
        if (v)
          piece = v, n = strlen(v);
        else {
          p2v_debug("INF line %u: unknown string %.*s", lineno, (int) (end - p + 1), p);
          n = end - p + 1;
        }
        p = end;
      }
    } else if (*p == '$' && arch && !strncasecmp(p, "$ARCH$", 6)) {
      piece = arch, n = strlen(arch);
      p += 5;
    }
    if (out.len + n > INF_MAX_LINE) {
      set_error(ps, lineno, "value longer than %d bytes after %%strings%% substitution",
                INF_MAX_LINE);
      free(out.data);
      return NULL;
    }
    if (p2v_buf_append(&out, piece, n) < 0)
      goto oom;
  }
  ps->decoded_bytes += out.len;
  if (ps->decoded_bytes > INF_MAX_DECODED) {
    set_error(ps, lineno, "more than %u bytes of values after substitution", INF_MAX_DECODED);
    free(out.data);
    return NULL;
  }
  return out.data;
oom:
  free(out.data);
  set_error(ps, lineno, "out of memory");
  return NULL;
}

static int decode_in_place(struct parser *ps, char **s, bool substitute, unsigned lineno)
{
  char *d = decode(ps, *s, substitute, lineno);
  if (!d)
    return -1;
  free(*s);
  *s = d;
  return 0;
}

static bool is_strings_section(const char *name)
{
  return !strcasecmp(name, "Strings") || !strcasecmp(name, "Strings.0409");
}

static int decode_all(struct parser *ps)
{
  struct inf_file *inf = ps->inf;
  size_t count = 0;

  /* Strings first, without substitution (Windows does not recurse).
   * [Strings.0409] comes after [Strings] so it overrides it. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < inf->nsections; i++) {
      struct inf_section *s = &inf->sections[i];
      if (!is_strings_section(s->name) || (pass == 0) != !strcasecmp(s->name, "Strings"))
        continue;
      /* +1: never realloc to 0 bytes, which frees. */
      struct string_entry *e = realloc(ps->strings, (ps->nstrings + s->nlines + 1) * sizeof *e);
      if (!e) {
        set_error(ps, 0, "out of memory");
        return -1;
      }
      ps->strings = e;
      for (size_t j = 0; j < s->nlines; j++) {
        struct inf_line *l = &s->lines[j];
        for (size_t k = 0; k < l->nfields; k++)
          if (decode_in_place(ps, &l->fields[k], false, l->lineno) < 0)
            return -1;
        if (l->key && l->nfields >= 1)
          ps->strings[ps->nstrings++] = (struct string_entry) {
            .key = l->key, .value = l->fields[0], .order = count++ };
      }
    }
  if (ps->nstrings)
    qsort(ps->strings, ps->nstrings, sizeof *ps->strings, compare_strings);

  for (size_t i = 0; i < inf->nsections; i++) {
    struct inf_section *s = &inf->sections[i];
    if (decode_in_place(ps, &s->name, false, 0) < 0)
      return -1;
    if (is_strings_section(s->name))
      continue;
    for (size_t j = 0; j < s->nlines; j++) {
      struct inf_line *l = &s->lines[j];
      if (l->key && decode_in_place(ps, &l->key, true, l->lineno) < 0)
        return -1;
      for (size_t k = 0; k < l->nfields; k++)
        if (decode_in_place(ps, &l->fields[k], true, l->lineno) < 0)
          return -1;
    }
  }
  return 0;
}

/* ---- sections: merge duplicates, sort for lookup ---- */

static int compare_sections(const void *a, const void *b)
{
  const struct inf_section *x = a, *y = b;
  return strcasecmp(x->name, y->name);
}

struct section_pos {
  struct inf_section *s;
  size_t pos;
};

static int compare_positions(const void *a, const void *b)
{
  const struct section_pos *x = a, *y = b;
  int c = strcasecmp(x->s->name, y->s->name);
  return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Windows treats repeated [Name] sections as one, lines in file order.
 * qsort is not stable, hence the positions. */
static int merge_sections(struct parser *ps)
{
  struct inf_file *inf = ps->inf;
  size_t n = inf->nsections;
  struct inf_section *sorted = malloc((n ? n : 1) * sizeof *sorted);
  struct section_pos *pos = malloc((n ? n : 1) * sizeof *pos);
  if (!sorted || !pos) {
    free(sorted);
    free(pos);
    set_error(ps, 0, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    pos[i] = (struct section_pos) { &inf->sections[i], i };
  qsort(pos, n, sizeof *pos, compare_positions);

  size_t out = 0;
  int r = 0;
  for (size_t i = 0; i < n; i++) {
    struct inf_section *s = pos[i].s;
    struct inf_section *d = out ? &sorted[out - 1] : NULL;
    if (!d || strcasecmp(d->name, s->name) != 0) {
      sorted[out++] = *s;
      continue;
    }
    struct inf_line *l = realloc(d->lines, (d->nlines + s->nlines + 1) * sizeof *l);
    if (!l) {
      set_error(ps, 0, "out of memory");
      r = -1;
      sorted[out++] = *s;      /* still owned, still freed */
      continue;
    }
    if (s->nlines)
      memcpy(l + d->nlines, s->lines, s->nlines * sizeof *l);
    d->lines = l;
    d->nlines += s->nlines;
    free(s->lines);
    free(s->name);
  }
  free(pos);
  free(inf->sections);
  inf->sections = sorted;
  inf->nsections = out;
  return r;
}

struct inf_file *inf_parse(const uint8_t *data, size_t size,
                           const struct inf_parse_options *opts,
                           char *err, size_t errlen)
{
  struct parser ps = { .opts = opts, .err = err, .errlen = errlen };
  if (errlen)
    err[0] = '\0';
  if (size > INF_MAX_SIZE) {
    snprintf(err, errlen, "larger than %u bytes", INF_MAX_SIZE);
    return NULL;
  }
  size_t len;
  CLEANUP_FREE char *text = inf_text_to_utf8(data, size, &len);
  if (!text || !(ps.inf = calloc(1, sizeof *ps.inf))) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (split_lines(&ps, text, len) < 0 || decode_all(&ps) < 0 || merge_sections(&ps) < 0) {
    free(ps.strings);
    inf_free(ps.inf);
    return NULL;
  }
  free(ps.strings);
  return ps.inf;
}

void inf_free(struct inf_file *inf)
{
  if (!inf)
    return;
  for (size_t i = 0; i < inf->nsections; i++) {
    struct inf_section *s = &inf->sections[i];
    for (size_t j = 0; j < s->nlines; j++) {
      struct inf_line *l = &s->lines[j];
      free(l->key);
      for (size_t k = 0; k < l->nfields; k++)
        free(l->fields[k]);
      free(l->fields);
    }
    free(s->lines);
    free(s->name);
  }
  free(inf->sections);
  free(inf);
}

const struct inf_section *inf_find_section(const struct inf_file *inf, const char *name)
{
  struct inf_section key = { .name = (char *) name };
  return bsearch(&key, inf->sections, inf->nsections, sizeof key, compare_sections);
}

const char *inf_section_value(const struct inf_section *s, const char *key)
{
  if (!s)
    return NULL;
  for (size_t i = 0; i < s->nlines; i++)
    if (s->lines[i].key && !strcasecmp(s->lines[i].key, key) && s->lines[i].nfields)
      return s->lines[i].fields[0];
  return NULL;
}
