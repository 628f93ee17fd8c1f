/* p2v-convert copy SOURCE -o OUTPUT: the command line around the copy
 * engine.  The output is written as OUTPUT.part and renamed to OUTPUT only
 * once the sink's finish succeeded, so a file named OUTPUT is always
 * complete; on failure OUTPUT.part is removed (there is no resume yet).
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "convert.h"
#include "log.h"

struct format {
  const char *name;
  const char *extensions[3];     /* that imply it, for OUTPUT without -O */
  struct p2v_image *(*create)(const char *path, const struct p2v_sink_options *o);
};

static const struct format formats[] = {
  { "qcow2",       { ".qcow2" },        p2v_qcow2_create },
  { "vmdk",        { ".vmdk" },         p2v_vmdk_create },
  { "vmdk-stream", { NULL },            p2v_vmdk_stream_create },
  { "raw",         { ".raw", ".img" },  p2v_raw_create },
};
#define NFORMATS (sizeof formats / sizeof formats[0])

static void print_usage(FILE *out)
{
  fputs("Usage: p2v-convert copy SOURCE -o OUTPUT [OPTIONS]\n"
        "\n"
        "Copy an NBD export (nbd://, nbds://, nbd+unix://) into a disk image,\n"
        "reading only allocated data.\n"
        "\n"
        "  -o, --output FILE        the image to write (written as FILE.part, then renamed)\n"
        "  -O, --format FORMAT      qcow2, vmdk, vmdk-stream or raw (default: from\n"
        "                           FILE's extension: .qcow2, .vmdk, .raw, .img)\n"
        "      --compress           qcow2: compressed clusters\n"
        "      --connections N      NBD connections if the source allows multi-conn (4)\n"
        "      --requests N         chunks (256 KiB) being read per connection (16)\n"
        "      --threads N          threads writing (and compressing) (online CPUs)\n"
        "      --force              replace OUTPUT (and a leftover OUTPUT.part)\n"
        "      --progress=MODE      bar, json or none (default: bar on a terminal)\n"
        "      --progress-fd FD     write progress to FD instead of stderr\n"
        "      --json               print the summary as JSON on stdout\n"
        "      --stall-timeout SEC  give up after SEC seconds without progress (60; 0: never)\n"
        "  -v, --verbose            more messages (twice: debug)\n"
        "\n"
        "Exit codes: 0 done, 1 other error, 2 usage, 3 source unreachable, 4 no such\n"
        "export, 5 TLS failure, 6 output exists, 7 disk full, 8 source read error,\n"
        "9 stalled, 130/143 interrupted (SIGINT/SIGTERM).  See docs/p2v-convert.md.\n", out);
}

/* ---- one error line per failure ---- */

static struct progress *log_progress;   /* the bar to clear before a message */
static bool error_printed;

/* Errors after the first are consequences of it (other threads failing
 * as the copy stops), so only the first is shown unless -v. */
static void log_sink(enum p2v_log_level level, const char *message)
{
  static const char *const prefix[] = { "", "warning: ", "", "debug: " };
  if (level == P2V_LOG_ERROR) {
    if (error_printed && p2v_log_verbosity() < 1)
      return;
    error_printed = true;
  }
  progress_clear_line(log_progress);
  fprintf(stderr, "%s: %s%s\n", p2v_program_name(), prefix[level], message);
}

/* ---- options ---- */

struct copy_args {
  const char *source, *output, *format;
  bool compress, force, json;
  unsigned connections, requests, threads;
  uint32_t chunk_size;
  enum progress_mode progress;
  int progress_fd;
  double stall_timeout;
};

static int parse_unsigned(const char *option, const char *arg, unsigned min, unsigned max,
                          unsigned *out)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (errno || end == arg || *end || v < min || v > max || arg[0] == '-') {
    p2v_error("%s takes a number from %u to %u, not '%s'", option, min, max, arg);
    return -1;
  }
  *out = (unsigned) v;
  return 0;
}

enum {
  OPT_COMPRESS = 256, OPT_CONNECTIONS, OPT_REQUESTS, OPT_THREADS, OPT_FORCE, OPT_PROGRESS,
  OPT_PROGRESS_FD, OPT_JSON, OPT_STALL, OPT_CHUNK,
};

static const struct option long_options[] = {
  { "output",        required_argument, NULL, 'o' },
  { "format",        required_argument, NULL, 'O' },
  { "compress",      no_argument,       NULL, OPT_COMPRESS },
  { "connections",   required_argument, NULL, OPT_CONNECTIONS },
  { "requests",      required_argument, NULL, OPT_REQUESTS },
  { "threads",       required_argument, NULL, OPT_THREADS },
  { "force",         no_argument,       NULL, OPT_FORCE },
  { "progress",      required_argument, NULL, OPT_PROGRESS },
  { "progress-fd",   required_argument, NULL, OPT_PROGRESS_FD },
  { "json",          no_argument,       NULL, OPT_JSON },
  { "stall-timeout", required_argument, NULL, OPT_STALL },
  { "chunk-size",    required_argument, NULL, OPT_CHUNK },   /* for bench/ */
  { "verbose",       no_argument,       NULL, 'v' },
  { "help",          no_argument,       NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* 0 go on, 1 done (--help), -1 usage error reported. */
static int parse_args(int argc, char **argv, struct copy_args *a)
{
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  *a = (struct copy_args) {
    .connections = 4, .requests = 16, .threads = cpus > 0 ? (unsigned) cpus : 1,
    .progress = PROGRESS_AUTO, .progress_fd = STDERR_FILENO, .stall_timeout = 60,
  };
  if (a->threads > 16)
    a->threads = 16;
  int c;
  unsigned n;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "o:O:vh", long_options, NULL)) != -1) {
    switch (c) {
    case 'o': a->output = optarg; break;
    case 'O': a->format = optarg; break;
    case OPT_COMPRESS: a->compress = true; break;
    case OPT_FORCE: a->force = true; break;
    case OPT_JSON: a->json = true; break;
    case 'v': p2v_log_set_verbosity(p2v_log_verbosity() + 1); break;
    case 'h': print_usage(stdout); return 1;
    case OPT_CONNECTIONS:
      if (parse_unsigned("--connections", optarg, 1, 64, &a->connections) == -1) return -1;
      break;
    case OPT_REQUESTS:
      if (parse_unsigned("--requests", optarg, 1, 256, &a->requests) == -1) return -1;
      break;
    case OPT_THREADS:
      if (parse_unsigned("--threads", optarg, 1, 64, &a->threads) == -1) return -1;
      break;
    case OPT_PROGRESS_FD:
      if (parse_unsigned("--progress-fd", optarg, 0, INT_MAX, &n) == -1) return -1;
      a->progress_fd = (int) n;
      if (fcntl(a->progress_fd, F_GETFD) == -1) {
        p2v_error("--progress-fd %d: %m", a->progress_fd);
        return -1;
      }
      break;
    case OPT_CHUNK:
      if (parse_unsigned("--chunk-size", optarg, 4096, 64 << 20, &n) == -1) return -1;
      a->chunk_size = n;
      break;
    case OPT_STALL:
      if (parse_unsigned("--stall-timeout", optarg, 0, 7 * 24 * 3600, &n) == -1) return -1;
      a->stall_timeout = n;
      break;
    case OPT_PROGRESS:
      if (!strcmp(optarg, "bar")) a->progress = PROGRESS_BAR;
      else if (!strcmp(optarg, "json")) a->progress = PROGRESS_JSON;
      else if (!strcmp(optarg, "none")) a->progress = PROGRESS_NONE;
      else {
        p2v_error("--progress takes bar, json or none, not '%s'", optarg);
        return -1;
      }
      break;
    case ':':
      p2v_error("option %s needs a value", argv[optind - 1]);
      return -1;
    default:
      p2v_error("unknown option '%s'; see 'p2v-convert copy --help'", argv[optind - 1]);
      return -1;
    }
  }
  if (optind >= argc) {
    p2v_error("no source given; usage: p2v-convert copy nbd://HOST[:PORT]/EXPORT -o OUTPUT");
    return -1;
  }
  a->source = argv[optind++];
  if (optind < argc) {
    p2v_error("unexpected argument '%s' after the source (one source per copy)", argv[optind]);
    return -1;
  }
  if (!a->output) {
    p2v_error("no output given; add -o OUTPUT");
    return -1;
  }
  return 0;
}

/* The format asked for, or implied by the output's extension. */
static const struct format *pick_format(const struct copy_args *a)
{
  if (a->format) {
    for (size_t i = 0; i < NFORMATS; i++)
      if (!strcmp(formats[i].name, a->format))
        return &formats[i];
    p2v_error("unknown format '%s'; -O takes qcow2, vmdk, vmdk-stream or raw", a->format);
    return NULL;
  }
  const char *dot = strrchr(a->output, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < NFORMATS; i++)
      for (size_t j = 0; j < 3 && formats[i].extensions[j]; j++)
        if (!strcasecmp(dot, formats[i].extensions[j]))
          return &formats[i];
  p2v_error("cannot tell the format from the name %s; add -O qcow2, vmdk, vmdk-stream or raw",
            a->output);
  return NULL;
}

/* ---- the output file ---- */

/* Refuse to overwrite without --force; with it, only a leftover .part is
 * removed now (OUTPUT itself is replaced by the final rename).  0, or the
 * exit code with the error reported. */
static int check_output(const struct copy_args *a, const char *part)
{
  struct stat st;
  if (lstat(a->output, &st) == 0) {
    if (!a->force) {
      p2v_error("output %s exists; use --force to replace it", a->output);
      return EXIT_OUTPUT_EXISTS;
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      p2v_error("output %s exists and is not a regular file; not replacing it", a->output);
      return EXIT_OUTPUT_EXISTS;
    }
  }
  if (lstat(part, &st) == 0) {
    if (!a->force) {
      p2v_error("%s exists (another copy running, or one that was stopped); "
                "remove it or use --force", part);
      return EXIT_OUTPUT_EXISTS;
    }
    if (unlink(part) == -1) {
      p2v_error("cannot remove %s: %m", part);
      return EXIT_FAILURE_OTHER;
    }
  }
  return 0;
}

/* Rename OUTPUT.part to OUTPUT and make the rename durable. */
static int commit_output(const char *part, const char *output)
{
  if (rename(part, output) == -1) {
    p2v_error("cannot rename %s to %s: %m", part, output);
    return -1;
  }
  CLEANUP_FREE char *copy = strdup(output);
  if (copy) {
    CLEANUP_CLOSE int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0)
      fsync(dir);
  }
  return 0;
}

static int exit_code(enum copy_result r, int signo)
{
  switch (r) {
  case COPY_OK: return EXIT_OK;
  case COPY_READ_ERROR: return EXIT_READ_ERROR;
  case COPY_DISK_FULL: return EXIT_DISK_FULL;
  case COPY_STALLED: return EXIT_STALLED;
  case COPY_INTERRUPTED: return 128 + (signo ? signo : SIGINT);
  case COPY_WRITE_ERROR:
  case COPY_FAILED: break;
  }
  return EXIT_FAILURE_OTHER;
}

static int open_exit_code(enum p2v_open_failure why)
{
  switch (why) {
  case P2V_OPEN_UNREACHABLE: return EXIT_UNREACHABLE;
  case P2V_OPEN_NO_EXPORT: return EXIT_NO_EXPORT;
  case P2V_OPEN_TLS: return EXIT_TLS;
  case P2V_OPEN_FAILED: break;
  }
  return EXIT_FAILURE_OTHER;
}

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int convert_copy(int argc, char **argv)
{
  struct copy_args a;
  int r = parse_args(argc, argv, &a);
  if (r != 0)
    return r > 0 ? EXIT_OK : EXIT_USAGE;
  const struct format *format = pick_format(&a);
  if (!format)
    return EXIT_USAGE;
  if (a.compress && strcmp(format->name, "qcow2") != 0) {
    p2v_error("--compress is for qcow2 (vmdk-stream always compresses)");
    return EXIT_USAGE;
  }

  signal(SIGPIPE, SIG_IGN);

  CLEANUP_FREE char *part = NULL;
  if (asprintf(&part, "%s.part", a.output) == -1) {
    p2v_error("out of memory");
    return EXIT_FAILURE_OTHER;
  }
  if ((r = check_output(&a, part)) != 0)
    return r;

  double start = now();
  enum p2v_open_failure why;
  struct p2v_image *source = p2v_nbd_open(a.source, &why);
  if (!source)
    return open_exit_code(why);

  /* From here on there is a file to clean up: the engine waits for the
   * stop signals itself (a signal that comes earlier stays pending until
   * it does), and every thread it starts inherits the mask.  Before, the
   * default action is right: a Ctrl-C during a slow connect just ends. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

  struct p2v_sink_options sink_options = { .size = source->size, .compress = a.compress,
                                           .final_path = a.output };
  struct p2v_image *sink = format->create(part, &sink_options);
  if (!sink) {
    source->ops->close(source);
    return errno == ENOSPC || errno == EDQUOT ? EXIT_DISK_FULL
         : errno == EEXIST ? EXIT_OUTPUT_EXISTS : EXIT_FAILURE_OTHER;
  }

  struct progress *progress = progress_new(a.progress, a.progress_fd);
  log_progress = progress;
  p2v_log_set_sink(log_sink);

  struct copy_options options = {
    .connections = a.connections, .requests = a.requests, .writers = a.threads,
    .chunk_size = a.chunk_size, .stall_timeout = a.stall_timeout, .progress = progress,
  };
  struct copy_stats stats;
  int signo = 0;
  enum copy_result result = copy_image(source, sink, &options, &stats, &signo);
  source->ops->close(source);

  if (result == COPY_OK && sink->ops->finish(sink) == -1)
    result = errno == ENOSPC || errno == EDQUOT ? COPY_DISK_FULL : COPY_WRITE_ERROR;
  sink->ops->close(sink);
  if (result == COPY_OK && commit_output(part, a.output) == -1)
    result = COPY_WRITE_ERROR;
  stats.seconds = now() - start;

  if (result != COPY_OK) {
    progress_clear_line(progress);
    unlink(part);
  } else
    progress_end(progress, stats.size, stats.size);
  log_progress = NULL;
  progress_free(progress);

  if (result == COPY_OK) {
    struct summary s = { a.source, a.output, format->name, &stats };
    if (a.json ? summary_print_json(&s) == -1 : (summary_print_text(&s), false))
      return EXIT_FAILURE_OTHER;
  }
  return exit_code(result, signo);
}
