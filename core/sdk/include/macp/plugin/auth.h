/*
 * macp-runtime authentication resolver ABI (kind MACP_PLUGIN_KIND_AUTH), version 1.0. See abi.h.
 *
 * The core keeps an ordered chain of resolvers (docs/plugin-abi.md: MACP_AUTH_PLUGINS). For every
 * authenticated RPC it calls `resolve` on each resolver with the call's metadata until one
 * answers:
 *   MACP_STATUS_OK                     -> the identity set through `out` is the caller;
 *   MACP_STATUS_AUTH_NOT_MINE          -> not this resolver's credential, the next one is asked;
 *   MACP_STATUS_AUTH_INVALID_CREDENTIAL, _EXPIRED, _MALFORMED
 *                                      -> rejected: the chain stops and the caller is
 *                                         UNAUTHENTICATED (the detail is logged, never sent);
 *   any other status                   -> resolver failure: UNAUTHENTICATED, logged as an error.
 * If no resolver claims the credential the caller is UNAUTHENTICATED.
 */
#ifndef MACP_PLUGIN_AUTH_H
#define MACP_PLUGIN_AUTH_H

#include "macp/plugin/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One gRPC metadata entry, passed as an array of pointers. Keys are lower-case; values are not
 * NUL-terminated. Since: 1.0
 * OWNERSHIP: BORROWED for the duration of `resolve`. */
typedef struct macp_metadata_entry {
    uint32_t struct_size;
    const char* key;
    size_t key_len;
    const char* value;
    size_t value_len;
} macp_metadata_entry;

/* Capability flags of an identity. Since: 1.0 */
#define MACP_IDENTITY_CAN_START_SESSIONS 0x1u
#define MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY 0x2u
#define MACP_IDENTITY_IS_OBSERVER 0x4u

/* Filled by a resolver that returns OK. Before the call the identity is empty with flags =
 * MACP_IDENTITY_CAN_START_SESSIONS, no mode restriction and no open-session limit. Since: 1.0
 * OWNERSHIP: every setter copies its arguments before returning.
 * THREADING: only on the thread of the `resolve` call that received the sink, before it returns.
 * A setter called on a resolver that then returns anything but OK has no effect. */
typedef struct macp_identity_sink {
    uint32_t struct_size;
    void* ctx;
    /* Required for OK: the authenticated sender id (non-empty). */
    void (*set_sender)(void* ctx, const char* sender, size_t len);
    /* Replaces the capability flags (MACP_IDENTITY_*). */
    void (*set_flags)(void* ctx, uint32_t flags);
    /* Restricts the identity to the modes added with add_allowed_mode. Calling `restrict_modes`
     * and then never `add_allowed_mode` forbids every mode. */
    void (*restrict_modes)(void* ctx);
    void (*add_allowed_mode)(void* ctx, const char* mode, size_t len);
    /* Limits concurrently OPEN sessions initiated by this sender; negative = unlimited. */
    void (*set_max_open_sessions)(void* ctx, int64_t limit);
} macp_identity_sink;

/* Every function pointer below: Since: 1.0. `ctx` is never NULL. */
typedef struct macp_auth_vtable {
    uint32_t struct_size;
    /* required */

    /* As storage's create: builds an instance from the resolved configuration (key material,
     * token tables...). THREADING: never concurrent with any other call of this plugin. */
    macp_status (*create)(const macp_config_pair* const* config, size_t config_count, void** out_instance,
                          const macp_call_context* ctx);
    /* Releases the instance, once, after every other call on it has returned. Must not fail. */
    void (*destroy)(void* instance);
    /* Resolves the caller from `metadata_count` metadata entries (see the chain rules above).
     * Called for every authenticated RPC: keep it fast; it may block only briefly (e.g. a
     * cached key fetch), bounded by ctx->deadline_unix_ms. */
    macp_status (*resolve)(void* instance, const macp_metadata_entry* const* metadata, size_t metadata_count,
                           const macp_identity_sink* out, const macp_call_context* ctx);

    /* optional (NULL = not implemented) */

    /* OK when the resolver is usable (e.g. key material loaded); the message explains. */
    macp_status (*health)(void* instance, const macp_call_context* ctx);
    /* Validates a configuration without side effects (no files written, no connections), as
     * storage's check_config; used by `macp-runtime --check-config`. */
    macp_status (*check_config)(const macp_config_pair* const* config, size_t config_count,
                                const macp_call_context* ctx);
} macp_auth_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_AUTH_H */
