/*
 * macp-runtime plugin ABI, version 1 (C99).
 *
 * This header is the whole contract between the macp-runtime core and a plugin shared object.
 * No C++ type, exception, allocator or protobuf object ever crosses it.
 *
 * VERSIONING
 *   A plugin exports exactly one symbol, `macp_plugin_entry_v1` (the ABI major is part of the
 *   name), returning a pointer to a static `macp_plugin_descriptor`. The host loads a plugin when
 *   `abi_major == MACP_PLUGIN_ABI_MAJOR` and `abi_minor <= MACP_PLUGIN_ABI_MINOR`; otherwise it
 *   refuses with one precise message. Every struct starts with `struct_size` and only grows at its
 *   end: the host reads a member only when `struct_size` covers it. A NULL function pointer means
 *   "optional, not implemented"; a NULL *required* member makes the load fail.
 *
 * OWNERSHIP
 *   Everything the host passes into a plugin call (strings, byte buffers, arrays, sinks) is
 *   BORROWED for the duration of that call only; the plugin copies what it keeps. Results travel
 *   back only through host callbacks (`macp_emit_fn`, `macp_error_sink`, identity setters) which
 *   COPY their arguments before returning, so the plugin may free or reuse its buffers right after
 *   the callback returns. No memory allocated on one side is ever freed on the other.
 *   The descriptor, its strings, its config-key table and its vtable are owned by the plugin and
 *   must stay valid until the library is unloaded (static storage is the norm).
 *
 * THREADING
 *   Calls are synchronous and may block (disk, network). The host never issues them on gRPC
 *   threads; it uses a bounded executor. Calls concerning one session are never concurrent.
 *   A plugin that does not set MACP_PLUGIN_FLAG_THREAD_SAFE is fully serialized by the host
 *   (at most one call into the instance at a time).
 *
 * ERRORS
 *   Every operation returns a `macp_status`. On a non-OK status the plugin may report a
 *   human-readable detail through the `macp_error_sink` passed to the call. Plugins must not let
 *   exceptions (C++), longjmp or signals escape an entry point; the C++ SDK catches exceptions and
 *   turns them into MACP_STATUS_INTERNAL.
 *
 * CONFIGURATION
 *   Plugins never call getenv(). They declare their keys (`macp_config_key`); the host resolves
 *   them from the environment and command line, reports every missing REQUIRED key at once, and
 *   hands the resolved pairs to the kind-specific `create` function.
 */
#ifndef MACP_PLUGIN_ABI_H
#define MACP_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MACP_PLUGIN_ABI_MAJOR 1
#define MACP_PLUGIN_ABI_MINOR 0

/* Name of the single exported entry symbol for ABI major 1. */
#define MACP_PLUGIN_ENTRY_SYMBOL "macp_plugin_entry_v1"

#if defined(__GNUC__)
#define MACP_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define MACP_PLUGIN_EXPORT
#endif

/* ---- status codes ------------------------------------------------------------------------- */
typedef int32_t macp_status;

enum {
    MACP_STATUS_OK = 0,
    MACP_STATUS_NOT_FOUND = 1,        /* the session / record does not exist                    */
    MACP_STATUS_UNSUPPORTED = 2,      /* operation not supported by this backend                */
    MACP_STATUS_INVALID_ARGUMENT = 3, /* the host passed something the plugin cannot accept     */
    MACP_STATUS_IO_ERROR = 4,         /* a read/write/sync failed                               */
    MACP_STATUS_CORRUPT = 5,          /* stored data failed an integrity check                  */
    MACP_STATUS_UNAVAILABLE = 6,      /* a remote service is unreachable                        */
    MACP_STATUS_TIMEOUT = 7,          /* a bounded wait elapsed                                 */
    MACP_STATUS_INTERNAL = 8,         /* a bug or an unexpected exception inside the plugin     */

    /* auth resolvers only */
    MACP_STATUS_AUTH_NOT_MINE = 100,           /* credential not for this resolver: chain goes on */
    MACP_STATUS_AUTH_INVALID_CREDENTIAL = 101, /* rejected: the chain stops, UNAUTHENTICATED     */
    MACP_STATUS_AUTH_EXPIRED = 102,            /* rejected: credential expired                    */
    MACP_STATUS_AUTH_MALFORMED = 103           /* rejected: credential cannot be parsed           */
};

/* ---- plugin kinds and flags ----------------------------------------------------------------- */
typedef enum macp_plugin_kind { MACP_PLUGIN_KIND_STORAGE = 1, MACP_PLUGIN_KIND_AUTH = 2 } macp_plugin_kind;

/* The instance may be called from several threads at once (host skips its serializing lock). */
#define MACP_PLUGIN_FLAG_THREAD_SAFE 0x1u

/* ---- callbacks supplied by the host ----------------------------------------------------------- */

/* Reports a detail message for a failing call. OWNERSHIP: `message` is copied before returning.
 * Calling it more than once keeps the last message. `message` need not be NUL-terminated. */
typedef struct macp_error_sink {
    uint32_t struct_size;
    void* ctx;
    void (*set_error)(void* ctx, const char* message, size_t len);
} macp_error_sink;

/* Passed as the last argument of every operation. BORROWED for the duration of the call.
 * `deadline_unix_ms` (0 = none) is the wall-clock time by which the host would like an answer;
 * `fencing_token` (0 = none) is reserved for the multi-process lease protocol: a backend that
 * supports fencing must refuse writes carrying a token older than the newest it has seen. */
typedef struct macp_call_context {
    uint32_t struct_size;
    macp_error_sink error;
    int64_t deadline_unix_ms;
    uint64_t fencing_token;
} macp_call_context;

/* Receives one item of a multi-item result (a log record, a session id, a record key...).
 * OWNERSHIP: bytes are copied before returning. */
typedef void (*macp_emit_fn)(void* ctx, const uint8_t* data, size_t len);

typedef struct macp_emitter {
    uint32_t struct_size;
    void* ctx;
    macp_emit_fn emit;
} macp_emitter;

/* ---- configuration ------------------------------------------------------------------------- */
#define MACP_CONFIG_REQUIRED 0x1u /* start-up fails if the key has no value and no default      */
#define MACP_CONFIG_SECRET 0x2u   /* value is masked in --print-config and logs                  */
#define MACP_CONFIG_PATH 0x4u     /* value is a filesystem path (shown as such in --list-plugins) */

/* One declared configuration key. `env_name` is the environment variable (e.g. "MACP_DATA_DIR");
 * the matching command-line flag is derived by the host (--data-dir). `default_value` may be NULL. */
typedef struct macp_config_key {
    uint32_t struct_size;
    const char* env_name;
    const char* default_value;
    const char* help;
    uint32_t flags;
} macp_config_key;

/* A resolved key/value pair handed to `create`. Keys absent from the environment and without a
 * default are not passed. BORROWED for the duration of `create`. */
typedef struct macp_config_pair {
    const char* key;
    const char* value;
} macp_config_pair;

/* ---- descriptor ---------------------------------------------------------------------------- */
typedef struct macp_plugin_descriptor {
    uint32_t struct_size;
    uint16_t abi_major;      /* must equal MACP_PLUGIN_ABI_MAJOR                          */
    uint16_t abi_minor;      /* must be <= the host's MACP_PLUGIN_ABI_MINOR               */
    uint32_t kind;           /* macp_plugin_kind                                         */
    uint32_t flags;          /* MACP_PLUGIN_FLAG_*                                        */
    const char* name;        /* "file", "static": the .so is <kind>-<name>.so             */
    const char* version;     /* plugin's own semantic version                             */
    const char* description; /* one line for --list-plugins                               */
    const macp_config_key* config_keys;
    size_t config_key_count;
    const void* vtable; /* macp_storage_vtable* or macp_auth_vtable*, by `kind`      */
} macp_plugin_descriptor;

/* The entry point every plugin exports (ABI major 1). Must not fail, allocate or have side
 * effects; the host may call it to list plugins without ever creating an instance. */
typedef const macp_plugin_descriptor* (*macp_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_ABI_H */
