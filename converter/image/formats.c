/* The output formats and their writers: -O FORMAT, or the extension of
 * OUTPUT, to the constructor.
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>
#include <strings.h>

#include "image/image.h"
#include "log.h"

static const struct p2v_format formats[] = {
  { "qcow2",       { ".qcow2" },        ".qcow2", p2v_qcow2_create },
  { "vmdk",        { ".vmdk" },         ".vmdk",  p2v_vmdk_create },
  { "vmdk-stream", { NULL },            ".vmdk",  p2v_vmdk_stream_create },
  { "raw",         { ".raw", ".img" },  ".raw",   p2v_raw_create },
};
#define NFORMATS (sizeof formats / sizeof formats[0])

const struct p2v_format *p2v_format_find(const char *name)
{
  for (size_t i = 0; i < NFORMATS; i++)
    if (!strcmp(formats[i].name, name))
      return &formats[i];
  return NULL;
}

const struct p2v_format *p2v_format_for_path(const char *path)
{
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < NFORMATS; i++)
      for (size_t j = 0; j < 3 && formats[i].extensions[j]; j++)
        if (!strcasecmp(dot, formats[i].extensions[j]))
          return &formats[i];
  return NULL;
}

struct p2v_image *p2v_sink_create(const char *format, const char *path,
                                  const struct p2v_sink_options *o)
{
  const struct p2v_format *f = p2v_format_find(format);
  if (f)
    return f->create(path, o);
  p2v_error("unknown output format '%s'; use qcow2, vmdk, vmdk-stream or raw", format);
  return NULL;
}
