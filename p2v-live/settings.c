/* p2v.* settings: from the kernel command line, qemu's fw_cfg file or the
 * console.  Pure: text in, struct out, one message per problem.  The
 * command line is outside input (a boot loader prompt), so every value is
 * checked and every length capped.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "log.h"
#include "parse.h"

#define MAX_WORD 4096

void live_settings_init(struct live_settings *s)
{
  memset(s, 0, sizeof *s);
  s->port = LIVE_DEFAULT_PORT;
  s->connections = LIVE_DEFAULT_CONNECTIONS;
}

static void free_disks(struct live_settings *s)
{
  for (size_t i = 0; i < s->ndisks; i++)
    free(s->disks[i]);
  free(s->disks);
  s->disks = NULL;
  s->ndisks = 0;
}

void live_settings_clear(struct live_settings *s)
{
  free(s->server);
  free(s->tls_psk);
  free(s->ip);
  free(s->gateway);
  free(s->dns);
  free(s->interface);
  free_disks(s);
  live_settings_init(s);
}

const char *live_mode_name(enum live_mode mode)
{
  switch (mode) {
  case LIVE_MODE_SERVE: return "serve";
  case LIVE_MODE_DIAL: return "dial";
  case LIVE_MODE_SHELL: return "shell";
  default: return "";
  }
}

static const char *tls_name(enum live_tls t)
{
  return t == LIVE_TLS_ON ? "on" : t == LIVE_TLS_REQUIRE ? "require" : "off";
}

static const char *net_name(enum live_net n)
{
  return n == LIVE_NET_STATIC ? "static" : n == LIVE_NET_NONE ? "none" : "dhcp";
}

enum live_after live_settings_after(const struct live_settings *s)
{
  if (s->after != LIVE_AFTER_UNSET)
    return s->after;
  return s->unattended ? LIVE_AFTER_POWEROFF : LIVE_AFTER_WAIT;
}

static int bad(const char *key, const char *value, const char *allowed)
{
  p2v_error("p2v.%s=%s: %s", key, value, allowed);
  return -1;
}

static bool parse_uint(const char *text, unsigned min, unsigned max, unsigned *out)
{
  uint64_t v;
  if (p2v_parse_u64(text, &v) == -1 || v < min || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

static bool all_chars(const char *s, const char *allowed_punct)
{
  if (!*s)
    return false;
  for (; *s; s++) {
    char c = *s;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
      (c && strchr(allowed_punct, c));
    if (!ok)
      return false;
  }
  return true;
}

static bool is_ip(const char *s)
{
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A host name or an IP address (IPv6 with or without brackets). */
static bool is_host(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > 253)
    return false;
  if (s[0] == '[' && s[n - 1] == ']' && n > 2) {
    char inner[256];
    memcpy(inner, s + 1, n - 2);
    inner[n - 2] = '\0';
    unsigned char buf[16];
    return inet_pton(AF_INET6, inner, buf) == 1;
  }
  return is_ip(s) || (all_chars(s, ".-") && s[0] != '-' && s[0] != '.');
}

/* "192.0.2.7/24" or "2001:db8::7/64". */
static bool is_ip_prefix(const char *s)
{
  const char *slash = strchr(s, '/');
  if (!slash || slash == s || (size_t)(slash - s) >= 64)
    return false;
  char addr[64];
  memcpy(addr, s, (size_t)(slash - s));
  addr[slash - s] = '\0';
  unsigned char buf[16];
  unsigned prefix;
  if (inet_pton(AF_INET, addr, buf) == 1)
    return parse_uint(slash + 1, 0, 32, &prefix);
  if (inet_pton(AF_INET6, addr, buf) == 1)
    return parse_uint(slash + 1, 0, 128, &prefix);
  return false;
}

/* "user:hexkey": psktool's format, one line. */
static bool is_psk(const char *s)
{
  const char *colon = strchr(s, ':');
  if (!colon || colon == s || colon - s > 64)
    return false;
  for (const char *p = s; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '-' || *p == '.'))
      return false;
  size_t keylen = strlen(colon + 1);
  if (keylen < 2 || keylen > 256 || keylen % 2)
    return false;
  for (const char *p = colon + 1; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
      return false;
  return true;
}

static int set_string(char **field, const char *value)
{
  char *copy = strdup(value);
  if (!copy) {
    p2v_error("out of memory");
    return -1;
  }
  free(*field);
  *field = copy;
  return 0;
}

/* "sda,sdb" or "all".  Names as in /sys/block ("cciss!c0d0" too) or /dev paths. */
static int set_disks(struct live_settings *s, const char *value)
{
  free_disks(s);
  if (!strcmp(value, "all"))
    return 0;
  const char *p = value;
  while (1) {
    size_t n = strcspn(p, ",");
    if (n == 0 || n > 64)
      return bad("disks", value, "expected disk names separated by commas "
                 "(e.g. sda,sdb) or all");
    char name[72];
    memcpy(name, p, n);
    name[n] = '\0';
    const char *base = strncmp(name, "/dev/", 5) == 0 ? name + 5 : name;
    if (!all_chars(base, "._-!") || base[0] == '.')
      return bad("disks", value, "expected disk names separated by commas "
                 "(e.g. sda,sdb) or all");
    for (size_t i = 0; i < s->ndisks; i++)
      if (!strcmp(s->disks[i], base))
        return bad("disks", value, "names a disk twice");
    if (s->ndisks >= LIVE_MAX_DISKS)
      return bad("disks", value, "names more than 64 disks");
    char **grown = realloc(s->disks, (s->ndisks + 1) * sizeof *grown);
    if (!grown || !(grown[s->ndisks] = strdup(base))) {
      if (grown)
        s->disks = grown;
      p2v_error("out of memory");
      return -1;
    }
    s->disks = grown;
    s->ndisks++;
    if (p[n] == '\0')
      return 0;
    p += n + 1;
  }
}

static int set_bool(const char *key, const char *value, bool *out)
{
  if (!strcmp(value, "1") || !strcmp(value, "yes") || !strcmp(value, "on"))
    *out = true;
  else if (!strcmp(value, "0") || !strcmp(value, "no") || !strcmp(value, "off"))
    *out = false;
  else
    return bad(key, value, "expected 1 or 0");
  return 0;
}

int live_settings_set(struct live_settings *s, const char *key, const char *value)
{
  static const char *const modes[] = { "", "serve", "dial", "shell", NULL };
  static const char *const tls[] = { "off", "on", "require", NULL };
  static const char *const nets[] = { "dhcp", "static", "none", NULL };
  static const char *const afters[] = { "", "poweroff", "wait", NULL };
  int i;

  if (!strcmp(key, "mode")) {
    if ((i = p2v_parse_choice(value, modes)) <= 0)
      return bad(key, value, "expected serve, dial or shell");
    s->mode = (enum live_mode)i;
  } else if (!strcmp(key, "server")) {
    if (!is_host(value))
      return bad(key, value, "expected a host name or IP address (the converter's)");
    return set_string(&s->server, value);
  } else if (!strcmp(key, "port")) {
    if (!parse_uint(value, 1, 65535, &s->port))
      return bad(key, value, "expected a TCP port from 1 to 65535");
  } else if (!strcmp(key, "connections")) {
    if (!parse_uint(value, 1, 16, &s->connections))
      return bad(key, value, "expected a number of connections from 1 to 16");
  } else if (!strcmp(key, "tls")) {
    if ((i = p2v_parse_choice(value, tls)) < 0)
      return bad(key, value, "expected off, on or require");
    s->tls = (enum live_tls)i;
  } else if (!strcmp(key, "tls_psk")) {
    if (!is_psk(value))
      return bad(key, "...", "expected USER:HEXKEY as psktool writes it "
                 "(an even number of hex digits, at most 256)");
    return set_string(&s->tls_psk, value);
  } else if (!strcmp(key, "insecure")) {
    return set_bool(key, value, &s->insecure);
  } else if (!strcmp(key, "disks")) {
    return set_disks(s, value);
  } else if (!strcmp(key, "auto")) {
    return set_bool(key, value, &s->unattended);
  } else if (!strcmp(key, "net")) {
    if ((i = p2v_parse_choice(value, nets)) < 0)
      return bad(key, value, "expected dhcp, static or none");
    s->net = (enum live_net)i;
  } else if (!strcmp(key, "ip")) {
    if (!is_ip_prefix(value))
      return bad(key, value, "expected ADDRESS/PREFIX, e.g. 192.0.2.7/24");
    return set_string(&s->ip, value);
  } else if (!strcmp(key, "gateway")) {
    if (!is_ip(value))
      return bad(key, value, "expected an IP address");
    return set_string(&s->gateway, value);
  } else if (!strcmp(key, "dns")) {
    if (!is_ip(value))
      return bad(key, value, "expected an IP address");
    return set_string(&s->dns, value);
  } else if (!strcmp(key, "interface")) {
    if (strlen(value) > 15 || !all_chars(value, "._-@"))
      return bad(key, value, "expected a network interface name such as eth0 "
                 "(at most 15 characters)");
    return set_string(&s->interface, value);
  } else if (!strcmp(key, "after")) {
    if ((i = p2v_parse_choice(value, afters)) <= 0)
      return bad(key, value, "expected poweroff or wait");
    s->after = (enum live_after)i;
  } else if (!strcmp(key, "dump_settings")) {
    return set_bool(key, value, &s->dump);
  } else {
    return 1;
  }
  return 0;
}

/* The next word of text from *pos, quotes removed (a quote anywhere toggles
 * quoting, as the kernel's parser does).  0 at the end, -1 if too long. */
static int next_word(const char *text, size_t len, size_t *pos, char *word, size_t size,
                     size_t *wlen)
{
  size_t i = *pos, n = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
    i++;
  if (i >= len)
    return 0;
  bool quoted = false;
  bool too_long = false;
  for (; i < len; i++) {
    char c = text[i];
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
      break;
    if (n + 1 < size)
      word[n++] = c;
    else
      too_long = true;
  }
  word[n] = '\0';
  *wlen = n;
  *pos = i;
  return too_long ? -1 : 1;
}

static bool is_known(const char *key)
{
  static const char *const keys[] = {
    "mode", "server", "port", "connections", "tls", "tls_psk", "insecure", "disks", "auto",
    "net", "ip", "gateway", "dns", "interface", "after", "dump_settings", NULL,
  };
  return p2v_parse_choice(key, keys) >= 0;
}

static bool printable(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return false;
  return true;
}

int live_settings_parse(struct live_settings *s, const char *text, size_t len,
                        const char *origin)
{
  if (len > LIVE_MAX_SETTINGS_BYTES) {
    p2v_error("%s: %zu bytes of settings, more than the %d allowed", origin, len,
              LIVE_MAX_SETTINGS_BYTES);
    return -1;
  }
  char *word = malloc(MAX_WORD);
  if (!word) {
    p2v_error("out of memory");
    return -1;
  }
  size_t pos = 0, wlen;
  int r, status = 0;
  while ((r = next_word(text, len, &pos, word, MAX_WORD, &wlen)) != 0) {
    if (strncmp(word, "p2v.", 4) != 0)
      continue;                /* root=, console=, BOOT_IMAGE= ... */
    if (r < 0) {
      p2v_error("%s: a setting longer than %d bytes: %.40s...", origin, MAX_WORD - 1, word);
      status = -1;
      break;
    }
    if (!printable(word, wlen)) {
      p2v_error("%s: a p2v setting holds a control character: remove it", origin);
      status = -1;
      break;
    }
    char *key = word + 4, *eq = strchr(key, '=');
    const char *value = "1";   /* "p2v.auto" alone means p2v.auto=1 */
    if (eq) {
      *eq = '\0';
      value = eq + 1;
    } else if (is_known(key) && strcmp(key, "dump_settings") && strcmp(key, "auto") &&
               strcmp(key, "insecure")) {
      p2v_error("%s: p2v.%s needs a value: p2v.%s=...", origin, key, key);
      status = -1;
      break;
    }
    r = live_settings_set(s, key, value);
    if (r == 1)
      p2v_warning("%s: unknown setting p2v.%s ignored (see docs/p2v-live.md)", origin, key);
    else if (r < 0) {
      status = -1;
      break;
    }
  }
  free(word);
  return status;
}

bool live_settings_complete(const struct live_settings *s)
{
  return s->mode != LIVE_MODE_UNSET || s->unattended || s->dump;
}

int live_settings_check(const struct live_settings *s)
{
  if (s->mode == LIVE_MODE_DIAL && !s->server) {
    p2v_error("p2v.mode=dial needs p2v.server=HOST (the converter's address)");
    return -1;
  }
  if (s->net == LIVE_NET_STATIC && !s->ip) {
    p2v_error("p2v.net=static needs p2v.ip=ADDRESS/PREFIX (and usually p2v.gateway= and p2v.dns=)");
    return -1;
  }
  if (s->tls != LIVE_TLS_OFF && !s->tls_psk) {
    p2v_error("p2v.tls=%s needs p2v.tls_psk=USER:HEXKEY", tls_name(s->tls));
    return -1;
  }
  return 0;
}

void live_settings_dump(const struct live_settings *s, FILE *fp)
{
  enum live_mode mode = s->mode == LIVE_MODE_UNSET && s->unattended ? LIVE_MODE_SERVE : s->mode;
  fprintf(fp, "p2v.mode=%s\n", live_mode_name(mode));
  fprintf(fp, "p2v.server=%s\n", s->server ? s->server : "");
  fprintf(fp, "p2v.port=%u\n", s->port);
  fprintf(fp, "p2v.connections=%u\n", s->connections);
  fprintf(fp, "p2v.tls=%s\n", tls_name(s->tls));
  if (s->tls_psk) {
    const char *colon = strchr(s->tls_psk, ':');
    fprintf(fp, "p2v.tls_psk=%.*s:(hidden)\n", (int)(colon - s->tls_psk), s->tls_psk);
  } else {
    fputs("p2v.tls_psk=\n", fp);
  }
  fprintf(fp, "p2v.insecure=%d\n", s->insecure);
  fputs("p2v.disks=", fp);
  for (size_t i = 0; i < s->ndisks; i++)
    fprintf(fp, "%s%s", i ? "," : "", s->disks[i]);
  fputs(s->ndisks ? "\n" : "all\n", fp);
  fprintf(fp, "p2v.auto=%d\n", s->unattended ? 1 : 0);
  fprintf(fp, "p2v.net=%s\n", net_name(s->net));
  fprintf(fp, "p2v.ip=%s\n", s->ip ? s->ip : "");
  fprintf(fp, "p2v.gateway=%s\n", s->gateway ? s->gateway : "");
  fprintf(fp, "p2v.dns=%s\n", s->dns ? s->dns : "");
  fprintf(fp, "p2v.interface=%s\n", s->interface ? s->interface : "");
  fprintf(fp, "p2v.after=%s\n",
          live_settings_after(s) == LIVE_AFTER_POWEROFF ? "poweroff" : "wait");
}
