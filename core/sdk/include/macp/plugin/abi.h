/*
 * macp-runtime plugin ABI, version 1.2 (C99). Final: from 1.0 on, every change is additive.
 * 1.1: storage `scan_sessions` (storage.h).
 * 1.2: storage session leases and fencing (`acquire_lease`, `release_lease`, per-item tokens; storage.h).
 *
 * This header is the whole contract between the macp-runtime core (the HOST) and a plugin shared
 * object. No C++ type, exception, allocator or protobuf object ever crosses it. storage.h and
 * auth.h add the two plugin kinds; docs/plugin-abi.md is the same contract in prose.
 *
 * VERSIONING
 *   A plugin exports exactly one symbol, `macp_plugin_entry_v1` (the ABI major is part of the
 *   name), returning a pointer to a static `macp_plugin_descriptor`. The descriptor's `abi_minor`
 *   is the lowest 1.x minor the plugin NEEDS (0 when it uses only what 1.0 defines), not the minor
 *   of the header it was compiled with: a plugin built against a newer header that uses nothing
 *   new keeps loading on older hosts. The host loads a plugin when `abi_major == 1` and
 *   `abi_minor <= ` its own minor; otherwise it refuses with one precise message.
 *   A later minor only appends members to structs and optional operations to vtables; nothing is
 *   ever removed, reordered or retyped within major 1. Each type and operation says `Since:`.
 *
 * STRUCT SIZES
 *   Every struct that crosses the boundary starts with `uint32_t struct_size` (= sizeof as the
 *   writer compiled it). A reader uses a member only when `struct_size` covers it and treats a
 *   member beyond it as absent (NULL / 0). No struct that may grow is embedded by value in another
 *   one: they are passed by pointer. Arrays the host passes to a plugin are arrays of POINTERS
 *   (`const T* const* items`), so each element may grow on its own. The one array a plugin passes
 *   to the host, the descriptor's `config_keys`, is read with a stride of `config_keys[0].struct_size`
 *   (every element of that array must have the same struct_size).
 *
 * OWNERSHIP (per function below; the general rule)
 *   Everything the host passes into a call (strings, byte buffers, arrays, sinks, the call
 *   context) is BORROWED for the duration of that call only; the plugin copies what it keeps.
 *   Results travel back only through host callbacks (`macp_emitter`, `macp_error_sink`, identity
 *   setters) which COPY their arguments before returning. No memory allocated on one side is ever
 *   freed on the other. The descriptor, its strings, its config-key table and its vtable are owned
 *   by the plugin and must stay valid until the library is unloaded (static storage is the norm).
 *   Exception: the `macp_host_logger` stays valid from `create` until `destroy` has returned.
 *
 * THREADING
 *   Calls are synchronous and may block (disk, network). The host never issues them on gRPC
 *   threads; it uses a bounded executor of its own. Calls concerning one session are never
 *   concurrent. A plugin that does not set MACP_PLUGIN_FLAG_THREAD_SAFE is fully serialized by the
 *   host (at most one call into the instance at a time). Host callbacks may only be called on the
 *   thread of the call that received them, before it returns, except `macp_host_logger.log`,
 *   which is thread-safe and may be called from any thread of the plugin.
 *
 * ERRORS
 *   Every operation returns a `macp_status`. The plugin may report a human-readable detail through
 *   the call context's error sink (also used for the informational note of `health` on OK).
 *   Plugins must not let exceptions (C++), longjmp or signals escape an entry point; the C++ SDK
 *   catches exceptions and turns them into a status.
 *
 * CONFIGURATION
 *   Plugins never call getenv(). They declare their keys (`macp_config_key`); the host resolves
 *   them from the environment and command line, reports every missing REQUIRED key at once, and
 *   hands the resolved pairs to the kind-specific `create` (and `check_config`) function.
 */
#ifndef MACP_PLUGIN_ABI_H
#define MACP_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. A plugin puts MACP_PLUGIN_ABI_MAJOR in its descriptor, but for
 * abi_minor the minor it needs (see VERSIONING): usually MACP_PLUGIN_ABI_MINOR_BASELINE. */
#define MACP_PLUGIN_ABI_MAJOR 1
#define MACP_PLUGIN_ABI_MINOR 2
#define MACP_PLUGIN_ABI_MINOR_BASELINE 0

/* Name of the single exported entry symbol for ABI major 1. Since: 1.0 */
#define MACP_PLUGIN_ENTRY_SYMBOL "macp_plugin_entry_v1"

#if defined(__GNUC__)
#define MACP_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define MACP_PLUGIN_EXPORT
#endif

/* ---- status codes (Since: 1.0 unless noted) ------------------------------------------------ */
typedef int32_t macp_status;

enum {
    MACP_STATUS_OK = 0,
    MACP_STATUS_NOT_FOUND = 1,        /* the session / record does not exist (load_session only)  */
    MACP_STATUS_UNSUPPORTED = 2,      /* operation not supported by this backend or configuration */
    MACP_STATUS_INVALID_ARGUMENT = 3, /* the host passed something the plugin cannot accept       */
    MACP_STATUS_IO_ERROR = 4,         /* a read/write/sync failed                                 */
    MACP_STATUS_CORRUPT = 5,          /* stored data failed an integrity check                    */
    MACP_STATUS_UNAVAILABLE = 6,      /* a remote service is unreachable                          */
    MACP_STATUS_TIMEOUT = 7,          /* a bounded wait (or the call's deadline) elapsed          */
    MACP_STATUS_INTERNAL = 8,         /* a bug or an unexpected exception inside the plugin       */
    MACP_STATUS_PARTIAL = 9,          /* append_log_batch only: the call completed and item_status
                                         says, item by item, what is durable (see storage.h)      */
    MACP_STATUS_FENCED = 10,          /* a write carried a fencing token older than the newest the
                                         backend has seen: another process owns the data now      */

    /* auth resolvers only */
    MACP_STATUS_AUTH_NOT_MINE = 100,           /* credential not for this resolver: chain goes on */
    MACP_STATUS_AUTH_INVALID_CREDENTIAL = 101, /* rejected: the chain stops, UNAUTHENTICATED     */
    MACP_STATUS_AUTH_EXPIRED = 102,            /* rejected: credential expired                    */
    MACP_STATUS_AUTH_MALFORMED = 103           /* rejected: credential cannot be parsed           */
};

/* ---- plugin kinds and flags (Since: 1.0) ----------------------------------------------------- */
typedef enum macp_plugin_kind { MACP_PLUGIN_KIND_STORAGE = 1, MACP_PLUGIN_KIND_AUTH = 2 } macp_plugin_kind;

/* The instance may be called from several threads at once (host skips its serializing lock). */
#define MACP_PLUGIN_FLAG_THREAD_SAFE 0x1u

/* ---- log levels for macp_host_logger (Since: 1.0) --------------------------------------------- */
enum { MACP_LOG_TRACE = 0, MACP_LOG_DEBUG = 1, MACP_LOG_INFO = 2, MACP_LOG_WARN = 3, MACP_LOG_ERROR = 4 };

/* ---- callbacks supplied by the host ----------------------------------------------------------- */

/* Reports a detail message for the current call. Since: 1.0
 * OWNERSHIP: `message` (need not be NUL-terminated) is copied before set_error returns.
 * THREADING: only on the thread of the call that received it, before the call returns.
 * Calling it more than once keeps the last message. */
typedef struct macp_error_sink {
    uint32_t struct_size;
    void* ctx;
    void (*set_error)(void* ctx, const char* message, size_t len);
} macp_error_sink;

/* The runtime's logger: lines appear in the server's log (text or JSON) under the plugin's name,
 * filtered by the server's log level. Since: 1.0
 * OWNERSHIP: the struct is valid from the start of `create` until `destroy` has returned; a plugin
 * may keep the pointer for that long (in `check_config`, which has no instance, only during the
 * call). `message` is copied before `log` returns.
 * THREADING: `log` is thread-safe and may be called from any thread, including the plugin's own. */
typedef struct macp_host_logger {
    uint32_t struct_size;
    void* ctx;
    /* level: MACP_LOG_*; message need not be NUL-terminated; never fails, never blocks for long. */
    void (*log)(void* ctx, int32_t level, const char* message, size_t len);
} macp_host_logger;

/* Passed as the last argument of every operation. Since: 1.0
 * OWNERSHIP: BORROWED for the duration of the call (except `logger`, see above).
 * `error`            where to report a detail message; never NULL.
 * `deadline_unix_ms` wall-clock time (ms since the Unix epoch) by which the host wants an answer;
 *                    0 = none. A backend that waits on something (a lock, the network) should give
 *                    up at the deadline with MACP_STATUS_TIMEOUT; an append that gives up must not
 *                    have stored the record.
 * `fencing_token`    0 = none. When non-zero, a backend that supports fencing must refuse a write
 *                    whose token is not the session's current one (an older holder's), with
 *                    MACP_STATUS_FENCED (the lease protocol, storage.h "FENCING").
 * `logger`           the host logger; never NULL (see macp_host_logger). */
typedef struct macp_call_context {
    uint32_t struct_size;
    const macp_error_sink* error;
    int64_t deadline_unix_ms;
    uint64_t fencing_token;
    const macp_host_logger* logger;
} macp_call_context;

/* Receives one item of a multi-item result (a log record, a session id, a record key...).
 * Since: 1.0. OWNERSHIP: bytes are copied before returning. THREADING: as macp_error_sink. */
typedef void (*macp_emit_fn)(void* ctx, const uint8_t* data, size_t len);

typedef struct macp_emitter {
    uint32_t struct_size;
    void* ctx;
    macp_emit_fn emit;
} macp_emitter;

/* ---- configuration (Since: 1.0) ---------------------------------------------------------------- */
#define MACP_CONFIG_REQUIRED 0x1u /* start-up fails if the key has no value and no default      */
#define MACP_CONFIG_SECRET 0x2u   /* value is masked in --print-config and logs                  */
#define MACP_CONFIG_PATH 0x4u     /* value is a filesystem path (shown as such in --list-plugins) */

/* One declared configuration key. Since: 1.0
 * `env_name` is the environment variable: "MACP_" followed by upper-case letters, digits and '_'
 * (e.g. "MACP_SQLITE_PATH"); the host derives the command-line flag from it (--sqlite-path).
 * `default_value` and `help` may be NULL. OWNERSHIP: owned by the plugin, static. */
typedef struct macp_config_key {
    uint32_t struct_size;
    const char* env_name;
    const char* default_value;
    const char* help;
    uint32_t flags; /* MACP_CONFIG_* */
} macp_config_key;

/* A resolved key/value pair handed to `create` and `check_config`, as an array of pointers.
 * Keys without a value and without a default are not passed. Since: 1.0
 * OWNERSHIP: BORROWED for the duration of the call. */
typedef struct macp_config_pair {
    uint32_t struct_size;
    const char* key;   /* the env_name of a declared key */
    const char* value; /* NUL-terminated, possibly empty */
} macp_config_pair;

/* ---- descriptor (Since: 1.0) ---------------------------------------------------------------- */
typedef struct macp_plugin_descriptor {
    uint32_t struct_size;
    uint16_t abi_major;                 /* MACP_PLUGIN_ABI_MAJOR                                          */
    uint16_t abi_minor;                 /* the lowest host minor this plugin needs (see VERSIONING)       */
    uint32_t kind;                      /* macp_plugin_kind                                               */
    uint32_t flags;                     /* MACP_PLUGIN_FLAG_*                                             */
    const char* name;                   /* [a-z0-9][a-z0-9_-]*, at most 64 bytes: the file is <kind>-<name>.so */
    const char* version;                /* the plugin's own version, e.g. "1.2.0"                          */
    const char* description;            /* one line for --list-plugins                                    */
    const macp_config_key* config_keys; /* may be NULL when config_key_count is 0                */
    size_t config_key_count;
    const void* vtable; /* const macp_storage_vtable* or const macp_auth_vtable*, by `kind`    */
} macp_plugin_descriptor;

/* The entry point every plugin exports (ABI major 1). Since: 1.0
 * Must not fail, allocate or have side effects; the host may call it any number of times, from
 * any thread, to list plugins without ever creating an instance. */
typedef const macp_plugin_descriptor* (*macp_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_ABI_H */
