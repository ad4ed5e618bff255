/*
 * A test double for libkrun.so.1 (the 1.x C ABI in libkrun.h).
 *
 * libkrun needs KVM or HVF, which test machines often lack. This library exports the
 * same symbols, records every call, can fail chosen calls, and makes krun_start_enter
 * boot the configured guest under QEMU (TCG), so a runner can be tested end to end:
 * the same kernel, disks, console file and agent socket, only a different VMM.
 *
 * Environment:
 *   KRUN_DOUBLE_DIR        directory for the record file calls-<pid>.log (unset: stderr)
 *   KRUN_DOUBLE_FAIL       comma list of name:errno, e.g. krun_set_kernel:22; that call
 *                          returns -errno and changes nothing
 *   KRUN_DOUBLE_NO_BLK     1: krun_has_feature(KRUN_FEATURE_BLK) answers 0
 *   KRUN_DOUBLE_MAX_VCPUS  what krun_get_max_vcpus answers (default 8)
 *   KRUN_DOUBLE_QEMU       VMM binary (default qemu-system-x86_64 / qemu-system-aarch64)
 *   KRUN_DOUBLE_PORT_NAME  virtio-serial port name standing in for listen-mode vsock
 *                          ports (default kelpie.agent)
 *
 * Record format, one line per call: name(arg, arg, ...) = rc
 *   strings "..." with \" \\ and \xNN for bytes < 0x20 or >= 0x7f, NULL for a NULL
 *   pointer; string arrays ["a", "b"] or NULL; bool true/false; unsigned types in
 *   unsigned decimal, int/int32_t in signed decimal. Lines starting with "# " are notes
 *   from the double itself (the QEMU command line, exec failures).
 *
 * Build variants:
 *   -DKRUN_DOUBLE_WITHOUT_OPTIONAL    drop the symbols a runner must treat as optional
 *                                     (krun_init_log, krun_has_feature, krun_add_disk2,
 *                                     krun_set_console_output, krun_set_rlimits,
 *                                     krun_disable_implicit_vsock, krun_add_vsock,
 *                                     krun_get_max_vcpus)
 *   -DKRUN_DOUBLE_WITHOUT_VSOCK_PORT2 drop krun_add_vsock_port2
 */
#include "libkrun.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define DEFAULT_QEMU "qemu-system-x86_64"
#elif defined(__aarch64__)
#define DEFAULT_QEMU "qemu-system-aarch64"
#else
#error "the libkrun double only knows QEMU settings for x86_64 and aarch64"
#endif

#define EXPORT __attribute__((visibility("default")))

#define MAX_CTX 32
#define MAX_DISKS 8
#define MAX_VSOCK 4
/* libkrun reads string arrays up to MAX_ARGS entries. */
#define MAX_ARRAY 4096
#define MAX_FAILS 64

/* ------------------------------------------------------------------------- */
/* A growable string, so a record line can be written with a single write(2). */

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

static void buf_reserve(struct buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        abort();
    }
    b->data = data;
    b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s) {
    buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        abort();
    }
    buf_reserve(b, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

/* Control bytes would split a record line; escape them wherever user text is written. */
static void buf_add_escaped(struct buf *b, const char *s, int quote) {
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (*p < 0x20 || (quote && *p >= 0x7f)) {
            buf_printf(b, "\\x%02x", *p);
        } else if (quote && (*p == '"' || *p == '\\')) {
            char esc[2] = {'\\', (char) *p};
            buf_add(b, esc, 2);
        } else {
            buf_add(b, (const char *) p, 1);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Recording. */

/* Opened and written per line: the runner leaves through _exit, so nothing may sit in a
   buffer, and O_APPEND keeps lines whole when several threads record at once. */
static int record_open(void) {
    const char *dir = getenv("KRUN_DOUBLE_DIR");
    if (dir == NULL || *dir == '\0') {
        return STDERR_FILENO;
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/calls-%ld.log", dir, (long) getpid());
    if (n < 0 || (size_t) n >= sizeof path) {
        return STDERR_FILENO;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd < 0 ? STDERR_FILENO : fd;
}

static void record_close(int fd) {
    if (fd != STDERR_FILENO) {
        close(fd);
    }
}

static void record_write(int fd, const struct buf *b) {
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        off += (size_t) n;
    }
}

static void record_line(const struct buf *b) {
    int saved = errno;
    int fd = record_open();
    record_write(fd, b);
    record_close(fd);
    errno = saved;
}

struct call {
    struct buf line;
    int nargs;
};

static void call_begin(struct call *c, const char *name) {
    memset(c, 0, sizeof *c);
    buf_puts(&c->line, name);
    buf_puts(&c->line, "(");
}

static void arg_sep(struct call *c) {
    if (c->nargs++ > 0) {
        buf_puts(&c->line, ", ");
    }
}

static void arg_u64(struct call *c, uint64_t v) {
    arg_sep(c);
    buf_printf(&c->line, "%" PRIu64, v);
}

/* Only krun_init_log has a signed argument, and it is left out of one build variant. */
static __attribute__((unused)) void arg_i64(struct call *c, int64_t v) {
    arg_sep(c);
    buf_printf(&c->line, "%" PRId64, v);
}

static void arg_bool(struct call *c, bool v) {
    arg_sep(c);
    buf_puts(&c->line, v ? "true" : "false");
}

static void add_quoted(struct buf *b, const char *s) {
    if (s == NULL) {
        buf_puts(b, "NULL");
        return;
    }
    buf_puts(b, "\"");
    buf_add_escaped(b, s, 1);
    buf_puts(b, "\"");
}

static void arg_str(struct call *c, const char *s) {
    arg_sep(c);
    add_quoted(&c->line, s);
}

static void arg_strv(struct call *c, const char *const v[]) {
    arg_sep(c);
    if (v == NULL) {
        buf_puts(&c->line, "NULL");
        return;
    }
    buf_puts(&c->line, "[");
    for (size_t i = 0; i < MAX_ARRAY && v[i] != NULL; i++) {
        if (i > 0) {
            buf_puts(&c->line, ", ");
        }
        add_quoted(&c->line, v[i]);
    }
    buf_puts(&c->line, "]");
}

static int32_t call_end(struct call *c, int32_t rc) {
    buf_printf(&c->line, ") = %" PRId32 "\n", rc);
    record_line(&c->line);
    free(c->line.data);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Failure injection (KRUN_DOUBLE_FAIL). */

struct fail {
    char name[64];
    int err;
};

static struct fail fails[MAX_FAILS];
static int nfails;
static pthread_once_t fails_once = PTHREAD_ONCE_INIT;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...) {
    struct buf b = {0};
    buf_puts(&b, "# ");
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) >= 0) {
        buf_add_escaped(&b, text, 0);
        free(text);
    }
    va_end(ap);
    buf_puts(&b, "\n");
    record_line(&b);
    free(b.data);
}

static void parse_fails(void) {
    const char *spec = getenv("KRUN_DOUBLE_FAIL");
    if (spec == NULL) {
        return;
    }
    char *copy = strdup(spec);
    if (copy == NULL) {
        return;
    }
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(item, ':');
        char *end = NULL;
        long err = colon ? strtol(colon + 1, &end, 10) : 0;
        size_t name_len = colon ? (size_t) (colon - item) : 0;
        /* A silently ignored typo would make a failure test pass for the wrong reason. */
        if (colon == NULL || end == colon + 1 || *end != '\0' || err <= 0 || err > 4095 || name_len == 0
                || name_len >= sizeof fails[0].name || nfails == MAX_FAILS) {
            note("ignoring KRUN_DOUBLE_FAIL entry \"%s\"", item);
            continue;
        }
        memcpy(fails[nfails].name, item, name_len);
        fails[nfails].name[name_len] = '\0';
        fails[nfails].err = (int) err;
        nfails++;
    }
    free(copy);
}

static int32_t injected(const char *name) {
    pthread_once(&fails_once, parse_fails);
    for (int i = 0; i < nfails; i++) {
        if (strcmp(fails[i].name, name) == 0) {
            return -fails[i].err;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Context state. Like libkrun: process-wide, ids from a counter that is never reused. */

enum ctx_state { CTX_UNUSED = 0, CTX_LIVE, CTX_GONE };

struct disk {
    char *block_id;
    char *path;
    uint32_t format;
    bool read_only;
};

struct vsock_port {
    uint32_t port;
    char *path;
    bool listen;
};

struct ctx {
    enum ctx_state state;
    uint8_t vcpus;
    uint32_t ram_mib;
    char *kernel;
    uint32_t kernel_format;
    char *initramfs;
    char *cmdline;
    struct disk disks[MAX_DISKS];
    int ndisks;
    struct vsock_port ports[MAX_VSOCK];
    int nports;
    char *console_output;
    bool port_map_set;
    bool implicit_vsock_disabled;
    bool tsi_vsock_added;
    uint32_t tsi_features;
};

static struct ctx ctxs[MAX_CTX];
static uint32_t next_ctx;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static char *dup_or_null(const char *s) {
    if (s == NULL) {
        return NULL;
    }
    char *d = strdup(s);
    if (d == NULL) {
        abort();
    }
    return d;
}

/* Call with the lock held. */
static struct ctx *live_ctx(uint32_t id) {
    if (id >= MAX_CTX || ctxs[id].state != CTX_LIVE) {
        return NULL;
    }
    return &ctxs[id];
}

static void ctx_release(struct ctx *c) {
    free(c->kernel);
    free(c->initramfs);
    free(c->cmdline);
    for (int i = 0; i < c->ndisks; i++) {
        free(c->disks[i].block_id);
        free(c->disks[i].path);
    }
    for (int i = 0; i < c->nports; i++) {
        free(c->ports[i].path);
    }
    free(c->console_output);
    memset(c, 0, sizeof *c);
    c->state = CTX_GONE;
}

/* ------------------------------------------------------------------------- */
/* Logging and probing. */

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_init_log(int target_fd, uint32_t level, uint32_t style, uint32_t options) {
    struct call c;
    call_begin(&c, "krun_init_log");
    arg_i64(&c, target_fd);
    arg_u64(&c, level);
    arg_u64(&c, style);
    arg_u64(&c, options);
    return call_end(&c, injected("krun_init_log"));
}
#endif

EXPORT int32_t krun_set_log_level(uint32_t level) {
    struct call c;
    call_begin(&c, "krun_set_log_level");
    arg_u64(&c, level);
    return call_end(&c, injected("krun_set_log_level"));
}

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_has_feature(uint64_t feature) {
    struct call c;
    call_begin(&c, "krun_has_feature");
    arg_u64(&c, feature);
    int32_t rc = injected("krun_has_feature");
    if (rc == 0) {
        if (feature > KRUN_FEATURE_INIT_BLOB) {
            rc = -EINVAL;
        } else if (feature == KRUN_FEATURE_BLK) {
            const char *no_blk = getenv("KRUN_DOUBLE_NO_BLK");
            rc = no_blk != NULL && strcmp(no_blk, "1") == 0 ? 0 : 1;
        }
    }
    return call_end(&c, rc);
}
#endif

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_get_max_vcpus(void) {
    struct call c;
    call_begin(&c, "krun_get_max_vcpus");
    int32_t rc = injected("krun_get_max_vcpus");
    const char *max = getenv("KRUN_DOUBLE_MAX_VCPUS");
    return call_end(&c, rc ? rc : max != NULL ? atoi(max) : 8);
}
#endif

/* ------------------------------------------------------------------------- */
/* Context lifecycle and configuration. */

EXPORT int32_t krun_create_ctx(void) {
    struct call c;
    call_begin(&c, "krun_create_ctx");
    int32_t rc = injected("krun_create_ctx");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        if (next_ctx >= MAX_CTX) {
            /* libkrun panics when its id space runs out; the double's space is just smaller. */
            rc = -ENOMEM;
        } else {
            ctxs[next_ctx].state = CTX_LIVE;
            ctxs[next_ctx].vcpus = 1;
            ctxs[next_ctx].ram_mib = 128;
            rc = (int32_t) next_ctx++;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

EXPORT int32_t krun_free_ctx(uint32_t ctx_id) {
    struct call c;
    call_begin(&c, "krun_free_ctx");
    arg_u64(&c, ctx_id);
    int32_t rc = injected("krun_free_ctx");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else {
            ctx_release(ctx);
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

EXPORT int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib) {
    struct call c;
    call_begin(&c, "krun_set_vm_config");
    arg_u64(&c, ctx_id);
    arg_u64(&c, num_vcpus);
    arg_u64(&c, ram_mib);
    int32_t rc = injected("krun_set_vm_config");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else if (num_vcpus == 0 || ram_mib == 0) {
            rc = -EINVAL;
        } else {
            ctx->vcpus = num_vcpus;
            ctx->ram_mib = ram_mib;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

EXPORT int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format, const char *initramfs, const char *cmdline) {
    struct call c;
    call_begin(&c, "krun_set_kernel");
    arg_u64(&c, ctx_id);
    arg_str(&c, kernel_path);
    arg_u64(&c, kernel_format);
    arg_str(&c, initramfs);
    arg_str(&c, cmdline);
    int32_t rc = injected("krun_set_kernel");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else if (kernel_path == NULL || kernel_format > KRUN_KERNEL_FORMAT_IMAGE_ZSTD) {
            rc = -EINVAL;
        } else {
            free(ctx->kernel);
            free(ctx->initramfs);
            free(ctx->cmdline);
            ctx->kernel = dup_or_null(kernel_path);
            ctx->kernel_format = kernel_format;
            ctx->initramfs = dup_or_null(initramfs);
            ctx->cmdline = dup_or_null(cmdline);
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

static int32_t add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only) {
    int32_t rc = 0;
    pthread_mutex_lock(&lock);
    struct ctx *ctx = live_ctx(ctx_id);
    if (ctx == NULL) {
        rc = -ENOENT;
    } else if (block_id == NULL || disk_path == NULL || disk_format > KRUN_DISK_FORMAT_VMDK) {
        rc = -EINVAL;
    } else if (ctx->ndisks == MAX_DISKS) {
        /* The double's own limit; libkrun has none this low. */
        rc = -ENOSPC;
    } else {
        struct disk *d = &ctx->disks[ctx->ndisks++];
        d->block_id = dup_or_null(block_id);
        d->path = dup_or_null(disk_path);
        d->format = disk_format;
        d->read_only = read_only;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

EXPORT int32_t krun_add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path, bool read_only) {
    struct call c;
    call_begin(&c, "krun_add_disk");
    arg_u64(&c, ctx_id);
    arg_str(&c, block_id);
    arg_str(&c, disk_path);
    arg_bool(&c, read_only);
    int32_t rc = injected("krun_add_disk");
    if (rc == 0) {
        rc = add_disk(ctx_id, block_id, disk_path, KRUN_DISK_FORMAT_RAW, read_only);
    }
    return call_end(&c, rc);
}

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_add_disk2(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only) {
    struct call c;
    call_begin(&c, "krun_add_disk2");
    arg_u64(&c, ctx_id);
    arg_str(&c, block_id);
    arg_str(&c, disk_path);
    arg_u64(&c, disk_format);
    arg_bool(&c, read_only);
    int32_t rc = injected("krun_add_disk2");
    if (rc == 0) {
        rc = add_disk(ctx_id, block_id, disk_path, disk_format, read_only);
    }
    return call_end(&c, rc);
}
#endif

#ifndef KRUN_DOUBLE_WITHOUT_VSOCK_PORT2
EXPORT int32_t krun_add_vsock_port2(uint32_t ctx_id, uint32_t port, const char *c_filepath, bool listen) {
    struct call c;
    call_begin(&c, "krun_add_vsock_port2");
    arg_u64(&c, ctx_id);
    arg_u64(&c, port);
    arg_str(&c, c_filepath);
    arg_bool(&c, listen);
    int32_t rc = injected("krun_add_vsock_port2");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        struct stat st;
        if (ctx == NULL) {
            rc = -ENOENT;
        } else if (c_filepath == NULL) {
            rc = -EINVAL;
        } else if (listen && lstat(c_filepath, &st) == 0) {
            /* libkrun creates the listener itself and refuses to replace a stale file. */
            rc = -EEXIST;
        } else if (ctx->nports == MAX_VSOCK) {
            rc = -ENOSPC;
        } else {
            struct vsock_port *p = &ctx->ports[ctx->nports++];
            p->port = port;
            p->path = dup_or_null(c_filepath);
            p->listen = listen;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}
#endif

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_disable_implicit_vsock(uint32_t ctx_id) {
    struct call c;
    call_begin(&c, "krun_disable_implicit_vsock");
    arg_u64(&c, ctx_id);
    int32_t rc = injected("krun_disable_implicit_vsock");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else {
            ctx->implicit_vsock_disabled = true;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

EXPORT int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features) {
    struct call c;
    call_begin(&c, "krun_add_vsock");
    arg_u64(&c, ctx_id);
    arg_u64(&c, tsi_features);
    int32_t rc = injected("krun_add_vsock");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else if (!ctx->implicit_vsock_disabled || ctx->tsi_vsock_added) {
            /* As libkrun: the implicit device (or an explicit one) is already there. */
            rc = -EEXIST;
        } else if (tsi_features > 3) {
            rc = -EINVAL;
        } else {
            ctx->tsi_vsock_added = true;
            ctx->tsi_features = tsi_features;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}
#endif

EXPORT int32_t krun_set_port_map(uint32_t ctx_id, const char *const port_map[]) {
    struct call c;
    call_begin(&c, "krun_set_port_map");
    arg_u64(&c, ctx_id);
    arg_strv(&c, port_map);
    int32_t rc = injected("krun_set_port_map");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else {
            ctx->port_map_set = true;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

#ifndef KRUN_DOUBLE_WITHOUT_OPTIONAL
EXPORT int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath) {
    struct call c;
    call_begin(&c, "krun_set_console_output");
    arg_u64(&c, ctx_id);
    arg_str(&c, c_filepath);
    int32_t rc = injected("krun_set_console_output");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        struct ctx *ctx = live_ctx(ctx_id);
        if (ctx == NULL) {
            rc = -ENOENT;
        } else if (c_filepath == NULL || ctx->console_output != NULL) {
            rc = -EINVAL;
        } else {
            ctx->console_output = dup_or_null(c_filepath);
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

EXPORT int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[]) {
    struct call c;
    call_begin(&c, "krun_set_rlimits");
    arg_u64(&c, ctx_id);
    arg_strv(&c, rlimits);
    int32_t rc = injected("krun_set_rlimits");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        if (live_ctx(ctx_id) == NULL) {
            rc = -ENOENT;
        } else if (rlimits == NULL) {
            rc = -EINVAL;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}
#endif

EXPORT int32_t krun_set_env(uint32_t ctx_id, const char *const envp[]) {
    struct call c;
    call_begin(&c, "krun_set_env");
    arg_u64(&c, ctx_id);
    arg_strv(&c, envp);
    int32_t rc = injected("krun_set_env");
    if (rc == 0) {
        pthread_mutex_lock(&lock);
        if (live_ctx(ctx_id) == NULL) {
            rc = -ENOENT;
        }
        pthread_mutex_unlock(&lock);
    }
    return call_end(&c, rc);
}

/* ------------------------------------------------------------------------- */
/* krun_start_enter: run the configuration under QEMU and exit with its status. */

struct argv {
    char **v;
    size_t n;
    size_t cap;
};

static void argv_add(struct argv *a, char *owned) {
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (a->v == NULL) {
            abort();
        }
    }
    a->v[a->n++] = owned;
    a->v[a->n] = NULL;
}

static void argv_addf(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void argv_addf(struct argv *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    argv_add(a, s);
}

/* QEMU option values treat ',' as a separator; ",," is a literal comma. */
static char *qemu_escape(const char *s) {
    struct buf b = {0};
    buf_puts(&b, "");
    for (const char *p = s; *p; p++) {
        buf_add(&b, p, 1);
        if (*p == ',') {
            buf_add(&b, p, 1);
        }
    }
    return b.data;
}

static const char *disk_format_name(uint32_t format) {
    switch (format) {
    case KRUN_DISK_FORMAT_QCOW2:
        return "qcow2";
    case KRUN_DISK_FORMAT_VMDK:
        return "vmdk";
    default:
        return "raw";
    }
}

static void build_argv(const struct ctx *ctx, struct argv *a) {
    const char *qemu = getenv("KRUN_DOUBLE_QEMU");
    argv_add(a, dup_or_null(qemu != NULL && *qemu != '\0' ? qemu : DEFAULT_QEMU));

    const char *cmdline = ctx->cmdline != NULL ? ctx->cmdline : "";
#if defined(__x86_64__)
    argv_addf(a, "-M");
    argv_addf(a, "microvm,rtc=on,acpi=off");
    argv_addf(a, "-accel");
    argv_addf(a, "tcg");
    argv_addf(a, "-cpu");
    argv_addf(a, "max");
    /* Under TCG microvm the guest hangs probing ACPI and can only reset by triple fault;
       a libkrun guest needs neither, so this stays out of the caller's command line. */
    char *append = NULL;
    if (asprintf(&append, "%s%sacpi=off reboot=t", cmdline, *cmdline ? " " : "") < 0) {
        abort();
    }
#else
    argv_addf(a, "-M");
    argv_addf(a, "virt");
    argv_addf(a, "-accel");
    argv_addf(a, "tcg");
    argv_addf(a, "-cpu");
    argv_addf(a, "cortex-a57");
    char *append = dup_or_null(cmdline);
#endif
    argv_addf(a, "-smp");
    argv_addf(a, "%u", (unsigned) ctx->vcpus);
    argv_addf(a, "-m");
    argv_addf(a, "%" PRIu32, ctx->ram_mib);
    argv_addf(a, "-nodefaults");
    argv_addf(a, "-no-user-config");
    argv_addf(a, "-display");
    argv_addf(a, "none");
    argv_addf(a, "-no-reboot");
    argv_addf(a, "-kernel");
    argv_add(a, dup_or_null(ctx->kernel));
    if (ctx->initramfs != NULL) {
        argv_addf(a, "-initrd");
        argv_add(a, dup_or_null(ctx->initramfs));
    }
    argv_addf(a, "-append");
    argv_add(a, append);

    /* virtio-mmio devices, like libkrun's, so disks appear as vda, vdb, ... in this order. */
    for (int i = 0; i < ctx->ndisks; i++) {
        const struct disk *d = &ctx->disks[i];
        char *id = qemu_escape(d->block_id);
        char *file = qemu_escape(d->path);
        argv_addf(a, "-drive");
        argv_addf(a, "id=%s,file=%s,format=%s,if=none%s", id, file, disk_format_name(d->format),
                d->read_only ? ",readonly=on" : "");
        argv_addf(a, "-device");
        argv_addf(a, "virtio-blk-device,drive=%s", id);
        free(id);
        free(file);
    }
    argv_addf(a, "-device");
    argv_addf(a, "virtio-rng-device");
    argv_addf(a, "-device");
    argv_addf(a, "virtio-serial-device");

    /* libkrun's implicit console is a virtio console, hvc0 in the guest. */
    argv_addf(a, "-chardev");
    if (ctx->console_output != NULL) {
        char *path = qemu_escape(ctx->console_output);
        argv_addf(a, "file,id=console,path=%s", path);
        free(path);
    } else {
        argv_addf(a, "stdio,id=console,signal=off");
    }
    argv_addf(a, "-device");
    argv_addf(a, "virtconsole,chardev=console");

    /* TCG has no vhost-vsock, so each vsock mapping becomes a named virtio-serial port on
       the same host socket; the guest agent listens on both kinds of channel. */
    const char *name = getenv("KRUN_DOUBLE_PORT_NAME");
    if (name == NULL || *name == '\0') {
        name = "kelpie.agent";
    }
    for (int i = 0; i < ctx->nports; i++) {
        const struct vsock_port *p = &ctx->ports[i];
        char *path = qemu_escape(p->path);
        argv_addf(a, "-chardev");
        argv_addf(a, "socket,id=vsock%" PRIu32 ",path=%s,%s", p->port, path,
                p->listen ? "server=on,wait=off" : "server=off");
        argv_addf(a, "-device");
        /* Port names must be unique; only the first mapping gets the plain name. */
        if (i == 0) {
            argv_addf(a, "virtserialport,chardev=vsock%" PRIu32 ",name=%s", p->port, name);
        } else {
            argv_addf(a, "virtserialport,chardev=vsock%" PRIu32 ",name=%s.%" PRIu32, p->port, name, p->port);
        }
        free(path);
    }
}

static void write_full(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t) n;
    }
}

static _Noreturn void run_vmm(char **argv) {
    struct buf line = {0};
    buf_puts(&line, "# exec");
    for (char **p = argv; *p != NULL; p++) {
        buf_puts(&line, " ");
        buf_add_escaped(&line, *p, 0);
    }
    buf_puts(&line, "\n");
    record_line(&line);
    free(line.data);

    /* The child reports an exec failure through this pipe: between fork and exec in a
       multi-threaded process (a JVM) only async-signal-safe calls are allowed, so the
       parent does the formatting. */
    int status_pipe[2];
    if (pipe2(status_pipe, O_CLOEXEC) != 0) {
        note("exec failed: %s", strerror(errno));
        _exit(127);
    }
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        note("exec failed: fork: %s", strerror(errno));
        _exit(127);
    }
    if (child == 0) {
        /* libkrun runs the VM inside this process, so killing the process must kill the VM.
           PDEATHSIG fires when the forking thread dies, which is why this thread waits. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(1);
        }
        close(status_pipe[0]);
        execvp(argv[0], argv);
        int err = errno;
        write_full(status_pipe[1], &err, sizeof err);
        _exit(127);
    }
    close(status_pipe[1]);
    int err = 0;
    ssize_t n;
    do {
        n = read(status_pipe[0], &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    close(status_pipe[0]);
    if (n == (ssize_t) sizeof err) {
        note("exec failed: %s", strerror(err));
    }

    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            _exit(127);
        }
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

EXPORT int32_t krun_start_enter(uint32_t ctx_id) {
    struct call c;
    call_begin(&c, "krun_start_enter");
    arg_u64(&c, ctx_id);
    int32_t rc = injected("krun_start_enter");
    if (rc != 0) {
        return call_end(&c, rc);
    }
    struct argv argv = {0};
    pthread_mutex_lock(&lock);
    struct ctx *ctx = live_ctx(ctx_id);
    if (ctx == NULL) {
        rc = -ENOENT;
    } else {
        /* libkrun consumes the context even when building the VM fails. */
        if (ctx->kernel == NULL) {
            rc = -EINVAL;
        } else {
            build_argv(ctx, &argv);
        }
        ctx_release(ctx);
    }
    pthread_mutex_unlock(&lock);
    call_end(&c, rc);
    if (rc != 0) {
        return rc;
    }
    run_vmm(argv.v);
}
