/* libFuzzer harness: the session announcement a dial-in converter reads
 * from a source's export descriptions (p2v_nbd_session_parse,
 * docs/dial-in.md).  Input: one description (NUL-terminated here, as
 * libnbd hands it over); what parses must be the strict format.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbd-server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char token[P2V_SESSION_HEX + 1];
  unsigned connections;
  if (p2v_nbd_session_parse(text, token, &connections) == 0) {
    if (strlen(token) != P2V_SESSION_HEX || connections > P2V_SESSION_CONNECTIONS_MAX ||
        strncmp(text, P2V_SESSION_KEY, strlen(P2V_SESSION_KEY)) != 0 ||
        memcmp(text + strlen(P2V_SESSION_KEY), token, P2V_SESSION_HEX) != 0)
      abort();
  }
  free(text);
  return 0;
}
