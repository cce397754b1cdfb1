/*
 * macp-runtime authentication resolver ABI (kind MACP_PLUGIN_KIND_AUTH), version 1.0.
 *
 * The core keeps an ordered chain of resolvers. For every authenticated RPC it calls `resolve`
 * on each resolver with the call's metadata until one answers:
 *   MACP_STATUS_OK                     -> the identity set through `out` is the caller;
 *   MACP_STATUS_AUTH_NOT_MINE          -> not this resolver's credential, the next one is asked;
 *   MACP_STATUS_AUTH_INVALID_CREDENTIAL, _EXPIRED, _MALFORMED
 *                                      -> rejected: the chain stops and the caller is
 *                                         UNAUTHENTICATED (the detail is logged, never sent);
 *   any other status                   -> resolver failure: UNAUTHENTICATED, logged as an error.
 * If no resolver claims the credential the caller is UNAUTHENTICATED.
 *
 * OWNERSHIP: metadata entries are BORROWED for the call. Identity setters copy their arguments.
 * THREADING: `resolve` runs on the host's executor, possibly concurrently if the descriptor sets
 * MACP_PLUGIN_FLAG_THREAD_SAFE; otherwise calls are serialized.
 */
#ifndef MACP_PLUGIN_AUTH_H
#define MACP_PLUGIN_AUTH_H

#include "macp/plugin/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One gRPC metadata entry (key lower-case). Values are not NUL-terminated. */
typedef struct macp_metadata_entry {
    const char* key;
    size_t key_len;
    const char* value;
    size_t value_len;
} macp_metadata_entry;

/* Capability flags of an identity (see docs: can_start_sessions, ...). */
#define MACP_IDENTITY_CAN_START_SESSIONS 0x1u
#define MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY 0x2u
#define MACP_IDENTITY_IS_OBSERVER 0x4u

/* Filled by a resolver that returns OK. Before the call the identity is empty with flags =
 * MACP_IDENTITY_CAN_START_SESSIONS, no mode restriction and no open-session limit. */
typedef struct macp_identity_sink {
    uint32_t struct_size;
    void* ctx;
    /* Required for OK: the authenticated sender id (non-empty). */
    void (*set_sender)(void* ctx, const char* sender, size_t len);
    /* Replaces the capability flags. */
    void (*set_flags)(void* ctx, uint32_t flags);
    /* Restricts the identity to the listed modes; call once per mode. Calling
     * `restrict_modes` and then never `add_allowed_mode` forbids every mode. */
    void (*restrict_modes)(void* ctx);
    void (*add_allowed_mode)(void* ctx, const char* mode, size_t len);
    /* Limits concurrently OPEN sessions initiated by this sender; negative = unlimited. */
    void (*set_max_open_sessions)(void* ctx, int64_t limit);
} macp_identity_sink;

typedef struct macp_auth_vtable {
    uint32_t struct_size;
    /* required */
    macp_status (*create)(const macp_config_pair* config, size_t config_count, void** out_instance,
                          const macp_call_context* ctx);
    void (*destroy)(void* instance);
    macp_status (*resolve)(void* instance, const macp_metadata_entry* metadata, size_t metadata_count,
                           const macp_identity_sink* out, const macp_call_context* ctx);
    /* optional: OK when the resolver is usable (e.g. key material loaded); message explains. */
    macp_status (*health)(void* instance, const macp_call_context* ctx);
} macp_auth_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_AUTH_H */
