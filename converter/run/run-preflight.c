/* run's first phase: everything that can be checked in seconds before
 * anything is written.  The source answers, every export is readable
 * (its first sector), the survey (if the source serves one) parses and
 * matches the exports, the output directory has room for the used data
 * plus overlays and a margin, and the target format can hold each disk.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnbd.h>

#include "cleanup.h"
#include "human-size.h"
#include "log.h"
#include "nbd-server.h"
#include "run/run.h"
#include "survey.h"

/* Room the overlays take: the conversion rewrites the initramfs, boot
 * loader files and a few configuration files (Debian: about 100 MiB). */
#define OVERLAY_FIRST_DISK  (UINT64_C(512) << 20)
#define OVERLAY_OTHER_DISK  (UINT64_C(64) << 20)
#define MARGIN_FIXED        (UINT64_C(64) << 20)
#define MARGIN_PERCENT      5

/* ---- URIs ---- */

static bool unreserved(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

/* Where the path of an NBD URI starts and ends: "nbd://h:p/exp?q". */
static void uri_parts(const char *uri, size_t *path_start, size_t *path_end)
{
  const char *auth = strstr(uri, "://");
  const char *p = auth ? auth + 3 : uri;
  const char *q = strchr(p, '?');
  const char *end = q ? q : p + strlen(p);
  const char *slash = memchr(p, '/', (size_t) (end - p));
  *path_start = (size_t) ((slash ? slash : end) - uri);
  *path_end = (size_t) (end - uri);
}

char *run_export_uri(const char *base, const char *export_name)
{
  size_t ps, pe;
  uri_parts(base, &ps, &pe);
  size_t n = strlen(export_name);
  char *enc = malloc(3 * n + 2);
  if (!enc)
    return NULL;
  char *o = enc;
  *o++ = '/';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char) export_name[i];
    if (unreserved(c))
      *o++ = (char) c;
    else
      o += sprintf(o, "%%%02X", c);
  }
  *o = '\0';
  char *uri = NULL;
  if (asprintf(&uri, "%.*s%s%s", (int) ps, base, enc, base + pe) == -1)
    uri = NULL;
  free(enc);
  return uri;
}

/* The export named in the URI ("" when none), percent-decoded. */
static char *uri_export(const char *uri)
{
  size_t ps, pe;
  uri_parts(uri, &ps, &pe);
  if (pe - ps <= 1)
    return strdup("");
  char *name = malloc(pe - ps);
  if (!name)
    return NULL;
  char *o = name;
  for (size_t i = ps + 1; i < pe; i++) {
    unsigned v;
    if (uri[i] == '%' && i + 2 < pe && sscanf(uri + i + 1, "%2x", &v) == 1) {
      *o++ = (char) v;
      i += 2;
    } else
      *o++ = uri[i];
  }
  *o = '\0';
  return name;
}

/* ---- the exports ---- */

struct names {
  char **v;
  size_t n;
  bool survey;                   /* P2V_EXPORT_SURVEY is offered */
};

static int list_one(void *opaque, const char *name, const char *description)
{
  (void) description;
  struct names *l = opaque;
  if (!strcmp(name, P2V_EXPORT_SURVEY))
    l->survey = true;
  if (!strncmp(name, "p2v:", 4) || l->n >= 1024)
    return 0;
  char **v = realloc(l->v, (l->n + 1) * sizeof *v);
  if (!v || !(v[l->n] = strdup(name))) {
    if (v)
      l->v = v;
    return 0;
  }
  l->v = v;
  l->n++;
  return 0;
}

static int list_complete(void *opaque, int *error)
{
  int *result = opaque;
  *result = *error ? 1 : 0;
  return 1;
}

/* NBD_OPT_LIST, within the connect timeout.  0 listed; 1 the server
 * cannot list (not reported: the caller may still open a named export,
 * or connect plainly to learn why); -1 the connection failed or stalled
 * (reported, *why set). */
static int list_exports(const char *uri, struct names *l, enum p2v_open_failure *why)
{
  struct nbd_handle *h = nbd_create();
  if (!h || nbd_set_uri_allow_local_file(h, true) == -1 || nbd_set_opt_mode(h, true) == -1) {
    p2v_error("cannot set up an NBD handle: %s", p2v_nbd_message());
    nbd_close(h);
    *why = P2V_OPEN_FAILED;
    return -1;
  }
  double deadline = p2v_nbd_handshake_deadline();
  int r = -1;
  if (p2v_nbd_connect(h, uri, deadline, why) == -1)
    goto out;
  int listed = -1;
  nbd_list_callback cb = { .callback = list_one, .user_data = l };
  nbd_completion_callback done = { .callback = list_complete, .user_data = &listed };
  if (nbd_aio_opt_list(h, cb, done) == -1) {
    p2v_debug("%s: cannot list exports: %s", uri, nbd_get_error());
    r = 1;
    goto out;
  }
  if (p2v_nbd_handshake_wait(h, uri, deadline, why) == -1)
    goto out;
  if (listed != 0) {
    p2v_debug("%s: the server did not list its exports", uri);
    r = 1;
    goto out;
  }
  nbd_opt_abort(h);
  r = 0;
out:
  nbd_close(h);
  return r;
}

static void free_names(struct names *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
}

static int add_disk(struct run *run, const char *export_name, const char *uri)
{
  struct run_disk *v = realloc(run->disks, (run->ndisks + 1) * sizeof *v);
  if (!v) {
    p2v_error("out of memory");
    return -1;
  }
  run->disks = v;
  struct run_disk *d = &v[run->ndisks];
  *d = (struct run_disk) { 0 };
  d->changed = (struct p2v_extent_list) P2V_EXTENT_LIST_INIT;
  d->export_name = strdup(export_name);
  d->uri = uri ? strdup(uri) : NULL;
  d->label = d->export_name && *d->export_name ? d->export_name : "default export";
  run->ndisks++;
  if (!d->export_name || (uri && !d->uri)) {
    p2v_error("out of memory");
    return -1;
  }
  return 0;
}

/* Read a small export whole (the survey). */
static char *read_export(struct p2v_image *img, size_t *len)
{
  if (img->size > P2V_SURVEY_MAX_JSON_BYTES) {
    p2v_error("the source's survey is %llu bytes, more than the %u allowed",
              (unsigned long long) img->size, P2V_SURVEY_MAX_JSON_BYTES);
    return NULL;
  }
  char *buf = malloc(img->size + 1);
  if (!buf) {
    p2v_error("out of memory");
    return NULL;
  }
  if (img->size && img->ops->pread(img, buf, img->size, 0) == -1) {
    free(buf);
    return NULL;
  }
  buf[img->size] = '\0';
  *len = img->size;
  return buf;
}

/* --source: the exports and the survey.  RUN_OK or a failure kind. */
static enum run_failure open_source(struct run *run)
{
  CLEANUP_FREE char *named = uri_export(run->source);
  if (!named) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  struct names l = { 0 };
  enum p2v_open_failure why = P2V_OPEN_FAILED;
  int listed = list_exports(run->source, &l, &why);
  if (listed == -1) {
    free_names(&l);
    return run_open_failure(why);
  }
  if (listed == 1 && !*named) {
    /* Connect plainly to learn why (TLS, ...): one line. */
    struct p2v_image *img = p2v_nbd_open(run->source, &why);
    if (img) {
      img->ops->close(img);
      p2v_error("%s does not list its exports; name the disk in the URI "
                "(nbd://HOST:PORT/EXPORT)", run->source);
      return RUN_NO_EXPORT;
    }
    return run_open_failure(why);
  }
  enum run_failure r = RUN_OK;
  if (*named) {
    if (!strncmp(named, P2V_EXPORT_PREFIX, strlen(P2V_EXPORT_PREFIX))) {
      p2v_error("%s names a p2v control export, not a disk", run->source);
      r = RUN_BAD_USAGE;
    } else
      r = add_disk(run, named, run->source) == -1 ? RUN_FAILED : 0;
  } else if (l.n == 0) {
    p2v_error("%s serves no disk exports (nbdinfo --list %s shows what it serves)",
              run->source, run->source);
    r = RUN_NO_EXPORT;
  } else {
    for (size_t i = 0; i < l.n && r == 0; i++) {
      CLEANUP_FREE char *uri = run_export_uri(run->source, l.v[i]);
      if (!uri || add_disk(run, l.v[i], uri) == -1)
        r = RUN_FAILED;
    }
  }
  bool has_survey = l.survey;
  free_names(&l);
  if (r)
    return r;

  for (size_t i = 0; i < run->ndisks; i++) {
    run->disks[i].source = p2v_nbd_open(run->disks[i].uri, &why);
    if (!run->disks[i].source)
      return run_open_failure(why);
  }

  if (has_survey) {
    CLEANUP_FREE char *uri = run_export_uri(run->source, P2V_EXPORT_SURVEY);
    struct p2v_image *img = uri ? p2v_nbd_open(uri, &why) : NULL;
    if (!img)
      return why == P2V_OPEN_UNREACHABLE ? RUN_UNREACHABLE : RUN_PREFLIGHT_FAILED;
    size_t len = 0;
    struct watchdog *w = watchdog_start(img, run->connect_timeout, run->source);
    watchdog_step(w, "the read of its survey (%s)", P2V_EXPORT_SURVEY);
    run->survey_json = read_export(img, &len);
    bool stalled = watchdog_stop(w);
    img->ops->close(img);
    if (stalled)
      return RUN_UNREACHABLE;
    if (!run->survey_json)
      return RUN_PREFLIGHT_FAILED;
  }
  return 0;
}

/* --listen: wait for the source to dial in.  RUN_OK or a failure kind. */
static enum run_failure open_dialin(struct run *run)
{
  /* d keeps a pointer to its options: they live as long as run. */
  run->dialin_options = (struct p2v_dialin_options) {
    .address = run->listen, .wait_seconds = run->dialin_wait,
    .tls_psk_file = run->tls_psk_file, .tls_certificates = run->tls_certificates,
  };
  enum p2v_open_failure why = P2V_OPEN_FAILED;
  run->dialin = p2v_dialin_listen(&run->dialin_options, &why);
  if (!run->dialin)
    return run_open_failure(why);
  const char *const *names;
  size_t n = p2v_dialin_exports(run->dialin, &names);
  if (n == 0) {
    p2v_error("the source that dialled in to %s serves no disk exports", run->listen);
    return RUN_NO_EXPORT;
  }
  for (size_t i = 0; i < n; i++) {
    if (add_disk(run, names[i], NULL) == -1)
      return RUN_FAILED;
    run->disks[i].source = p2v_dialin_open(run->dialin, names[i], &why);
    if (!run->disks[i].source)
      return run_open_failure(why);
  }
  size_t len = 0;
  const char *survey = p2v_dialin_survey(run->dialin, &len);
  if (survey && !(run->survey_json = strndup(survey, len))) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  return 0;
}

/* ---- checks ---- */

/* The first sector reads and the used bytes are counted, each request
 * within the connect timeout.  RUN_OK or a failure kind. */
static enum run_failure probe_disk(struct run *run, struct run_disk *d, const char *label)
{
  struct p2v_image *img = d->source;
  unsigned char sector[512];
  size_t n = d->size < sizeof sector ? (size_t) d->size : sizeof sector;
  struct watchdog *w = watchdog_start(img, run->connect_timeout,
                                      d->uri ? d->uri : run->listen);
  watchdog_step(w, "the first-sector read of %s", label);
  int r = img->ops->pread(img, sector, n, 0);
  if (r == -1 && !watchdog_stop(w)) {
    p2v_error("cannot read the first sector of %s; the source cannot serve it", label);
    return RUN_PREFLIGHT_FAILED;
  }
  if (r == -1)
    return RUN_UNREACHABLE;
  r = p2v_image_used_bytes(img, label, 1, w, &d->used_bytes);
  if (watchdog_stop(w))
    return RUN_UNREACHABLE;
  return r == -1 ? RUN_PREFLIGHT_FAILED : 0;
}

/* Format limits first (they need no request), then the source. */
static enum run_failure check_disk(struct run *run, struct run_disk *d)
{
  d->size = d->source->size;
  if (d->size == 0) {
    p2v_error("export %s is empty (0 bytes)", d->label);
    return RUN_PREFLIGHT_FAILED;
  }
  bool vmdk = !strcmp(run->format, "vmdk") || !strcmp(run->format, "vmdk-stream");
  if (vmdk && d->size > VMDK_MAX_CAPACITY) {
    char h[32];
    p2v_human_size(h, sizeof h, d->size);
    p2v_error("export %s is %s: a VMDK holds at most 2 TiB; use --target kvm (qcow2) "
              "or shrink the disk at the source", d->label, h);
    return RUN_PREFLIGHT_FAILED;
  }
  CLEANUP_FREE char *label = NULL;
  if ((*d->export_name ? asprintf(&label, "export %s", d->export_name)
                       : asprintf(&label, "the default export")) == -1) {
    p2v_error("out of memory");
    return RUN_FAILED;
  }
  if (!strcmp(run->format, "qcow2") && p2v_qcow2_check_size(label, d->size, run->cluster_size) == -1)
    return RUN_PREFLIGHT_FAILED;
  return probe_disk(run, d, label);
}

/* The survey must parse and describe these disks. */
static enum run_failure check_survey(struct run *run)
{
  if (!run->survey_json) {
    p2v_warning("the source serves no survey (%s): using %u vCPUs and %llu MiB of memory "
                "(--vcpus, --memory)", P2V_EXPORT_SURVEY, run->vcpus ? run->vcpus : 2,
                (unsigned long long) ((run->memory ? run->memory : UINT64_C(2) << 30) >> 20));
    return 0;
  }
  run->survey = p2v_survey_from_json(run->survey_json, strlen(run->survey_json));
  if (!run->survey)
    return RUN_PREFLIGHT_FAILED;         /* the parser said which field */
  const struct p2v_survey *s = run->survey;
  for (size_t i = 0; i < run->ndisks; i++)
    for (size_t j = 0; j < s->ndisks; j++)
      if (s->disks[j].name && !strcmp(s->disks[j].name, run->disks[i].export_name) &&
          s->disks[j].size_bytes != run->disks[i].size) {
        p2v_error("the survey says disk %s has %llu bytes but its export has %llu: "
                  "the survey is not of this source", run->disks[i].label,
                  (unsigned long long) s->disks[j].size_bytes,
                  (unsigned long long) run->disks[i].size);
        return RUN_PREFLIGHT_FAILED;
      }
  return 0;
}

static enum run_failure check_space(struct run *run)
{
  uint64_t used = 0;
  for (size_t i = 0; i < run->ndisks; i++)
    used += run->disks[i].used_bytes;
  uint64_t extra = OVERLAY_FIRST_DISK + OVERLAY_OTHER_DISK * (run->ndisks - 1) +
                   MARGIN_FIXED + used / 100 * MARGIN_PERCENT;
  uint64_t need = used + extra;
  /* The OVA holds another copy of the (compressed) disks. */
  if (run->target == P2V_TARGET_VMWARE && !strcmp(run->format, "vmdk-stream"))
    need += used;
  uint64_t avail;
  if (p2v_free_space(run->out_dir, &avail) == -1)
    return RUN_PREFLIGHT_FAILED;
  char hn[32], hu[32], he[32], ha[32];
  p2v_human_size(hn, sizeof hn, need);
  p2v_human_size(hu, sizeof hu, used);
  p2v_human_size(he, sizeof he, extra);
  p2v_human_size(ha, sizeof ha, avail);
  if (avail < need) {
    p2v_error("not enough space in %s: need %s (%s of used data in %zu disk%s%s, %s for "
              "overlays and margin), %s free; free space or choose another --out",
              run->out_dir, hn, hu, run->ndisks, run->ndisks == 1 ? "" : "s",
              need > used + extra ? ", twice for the OVA" : "", he, ha);
    return RUN_PREFLIGHT_FAILED;
  }
  p2v_info("space in %s: need %s, %s free", run->out_dir, hn, ha);
  return 0;
}

enum run_failure run_preflight(struct run *run)
{
  enum run_failure r = run->listen ? open_dialin(run) : open_source(run);
  for (size_t i = 0; i < run->ndisks; i++)   /* the array moves no more */
    pthread_mutex_init(&run->disks[i].digest_lock, NULL);
  for (size_t i = 0; r == 0 && i < run->ndisks; i++)
    r = check_disk(run, &run->disks[i]);
  if (r == 0)
    r = check_survey(run);
  if (r == 0)
    r = check_space(run);
  return r;
}
