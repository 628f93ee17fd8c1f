/* Asking for settings on the console: one question per line, the default
 * in brackets, Enter takes it.  Answers are read a line at a time, so a
 * test can pipe them in.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "log.h"

#define MAX_TRIES 5

/* Read one answer into buf (trimmed); false at the end of input. */
static bool read_answer(FILE *in, char *buf, size_t size)
{
  if (!fgets(buf, (int)size, in))
    return false;
  size_t n = strlen(buf);
  if (n && buf[n - 1] != '\n' && !feof(in)) {   /* too long: drop the rest */
    int c;
    while ((c = fgetc(in)) != EOF && c != '\n')
      ;
  }
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  size_t skip = strspn(buf, " \t");
  memmove(buf, buf + skip, n - skip + 1);
  return true;
}

/* Ask for key until live_settings_set accepts the answer.  An empty answer
 * takes def (NULL: an answer is needed; "": optional, left unset). */
static int ask(struct live_settings *s, FILE *in, FILE *out, const char *key,
               const char *question, const char *def)
{
  char answer[512];
  for (int tries = 0; tries < MAX_TRIES; tries++) {
    fprintf(out, "%s [%s]: ", question, def ? def : "");
    fflush(out);
    if (!read_answer(in, answer, sizeof answer)) {
      fputc('\n', out);
      if (def && !def[0])
        return 0;              /* optional, left unset */
      if (def)
        return live_settings_set(s, key, def) < 0 ? -1 : 0;
      p2v_error("no answer for p2v.%s (the console input ended)", key);
      return -1;
    }
    if (!answer[0] && def && !def[0])
      return 0;
    const char *value = answer[0] ? answer : def;
    if (!value) {
      fprintf(out, "  an answer is needed\n");
      continue;
    }
    if (live_settings_set(s, key, value) == 0)
      return 0;
  }
  p2v_error("no usable answer for p2v.%s after %d tries", key, MAX_TRIES);
  return -1;
}

int live_settings_ask(struct live_settings *s, FILE *in, FILE *out)
{
  char port[16], connections[16];
  fprintf(out, "\np2v live image settings (Enter takes the value in brackets)\n");
  if (ask(s, in, out, "mode", "Mode: serve (the converter connects here), dial (connect to\n"
          "  the converter), shell", s->mode ? live_mode_name(s->mode) : "serve") < 0)
    return -1;
  if (s->mode == LIVE_MODE_SHELL)
    return 0;
  if (s->mode == LIVE_MODE_DIAL) {
    if (ask(s, in, out, "server", "Converter host", s->server) < 0)
      return -1;
    snprintf(connections, sizeof connections, "%u", s->connections);
    if (ask(s, in, out, "connections", "Connections", connections) < 0)
      return -1;
  }
  snprintf(port, sizeof port, "%u", s->port);
  if (ask(s, in, out, "port", "Port", port) < 0)
    return -1;
  static const char *const tls[] = { "off", "on", "require" };
  if (ask(s, in, out, "tls", "TLS (off, on, require)", tls[s->tls]) < 0)
    return -1;
  if (s->tls != LIVE_TLS_OFF && ask(s, in, out, "tls_psk", "Pre-shared key USER:HEXKEY",
                                    s->tls_psk) < 0)
    return -1;
  /* Asked, not assumed: p2v-live stops rather than send disks in clear text. */
  if (s->tls != LIVE_TLS_REQUIRE &&
      ask(s, in, out, "insecure", "Without TLS required, disks cross the network in clear\n"
          "  text: allow that (a trusted network only)? 1 or 0", s->insecure ? "1" : "0") < 0)
    return -1;
  static const char *const nets[] = { "dhcp", "static", "none" };
  if (ask(s, in, out, "net", "Network (dhcp, static, none)", nets[s->net]) < 0)
    return -1;
  if (s->net == LIVE_NET_STATIC) {
    if (ask(s, in, out, "ip", "Address/prefix", s->ip) < 0)
      return -1;
    if (ask(s, in, out, "gateway", "Gateway (empty: none)", s->gateway ? s->gateway : "") < 0 ||
        ask(s, in, out, "dns", "DNS server (empty: none)", s->dns ? s->dns : "") < 0)
      return -1;
  }
  return live_settings_check(s);
}
