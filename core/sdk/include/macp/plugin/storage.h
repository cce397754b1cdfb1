/*
 * macp-runtime storage plugin ABI (kind MACP_PLUGIN_KIND_STORAGE), version 1.0.
 *
 * A storage plugin is a BYTE STORE. The core owns the record encoding (see docs/plugin-abi.md:
 * `json/1`, one record per line, never a newline inside a record), so every backend stores
 * identical records and a data directory can move between backends. A plugin never parses
 * records; it stores and returns them verbatim and in order.
 *
 * Identifiers: session ids, namespaces and keys are NUL-terminated UTF-8. Session ids have
 * already been validated by the core ([A-Za-z0-9_-], 22..255 bytes, or a canonical UUID), so a
 * backend may use them as file or key names directly. Namespaces and keys are arbitrary
 * printable strings (e.g. "ext.fraud.v1"): a backend must encode them if its naming scheme
 * cannot hold every character.
 *
 * DURABILITY: when `append_log_entry` / `append_log_batch` / `save_session` / `put_record`
 * return MACP_STATUS_OK the data must survive a crash of the process (kill -9) and, as far as the
 * backend can promise, of the machine (fdatasync, synced write batch, AOF fsync...). The core
 * acknowledges a client message only after this returns OK. A backend whose durability is weaker
 * (e.g. Redis without appendfsync always) must say so through `health`.
 *
 * THREADING: see abi.h. Calls for one session are never concurrent; calls for different sessions
 * may be concurrent only if the descriptor sets MACP_PLUGIN_FLAG_THREAD_SAFE.
 */
#ifndef MACP_PLUGIN_STORAGE_H
#define MACP_PLUGIN_STORAGE_H

#include "macp/plugin/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One element of a grouped append. BORROWED for the duration of the call. */
typedef struct macp_log_append {
    const char* session_id;
    const uint8_t* record;
    size_t record_len;
} macp_log_append;

typedef struct macp_storage_vtable {
    uint32_t struct_size;

    /* ---- lifecycle (required) ---- */

    /* Creates an instance from the resolved configuration. On failure returns non-OK, reports a
     * message through ctx->error and leaves *out_instance untouched. */
    macp_status (*create)(const macp_config_pair* config, size_t config_count, void** out_instance,
                          const macp_call_context* ctx);
    /* Releases the instance. Called once, after every other call on it has returned. */
    void (*destroy)(void* instance);

    /* ---- sessions (required) ---- */

    /* Prepares storage for a new session (directory, key...). Idempotent. */
    macp_status (*create_session_storage)(void* instance, const char* session_id, const macp_call_context* ctx);
    /* Atomically replaces the session's snapshot (one record). */
    macp_status (*save_session)(void* instance, const char* session_id, const uint8_t* snapshot, size_t snapshot_len,
                                const macp_call_context* ctx);
    /* Emits the snapshot once, or returns MACP_STATUS_NOT_FOUND. */
    macp_status (*load_session)(void* instance, const char* session_id, const macp_emitter* out,
                                const macp_call_context* ctx);
    /* Removes snapshot and log. Deleting an unknown session is OK. */
    macp_status (*delete_session)(void* instance, const char* session_id, const macp_call_context* ctx);
    /* Emits every stored session id once, in any order. */
    macp_status (*list_session_ids)(void* instance, const macp_emitter* out, const macp_call_context* ctx);

    /* ---- append-only log (required) ---- */

    /* Appends one record durably (see DURABILITY) after the session's existing records. */
    macp_status (*append_log_entry)(void* instance, const char* session_id, const uint8_t* record, size_t record_len,
                                    const macp_call_context* ctx);
    /* Emits the session's records in append order. A missing log emits nothing and returns OK.
     * A torn final record (crash during append) must not be emitted and must not corrupt the
     * next append. */
    macp_status (*load_log)(void* instance, const char* session_id, const macp_emitter* out,
                            const macp_call_context* ctx);

    /* ---- keyed records for the runtime's own registries (required) ---- */

    macp_status (*put_record)(void* instance, const char* ns, const char* key, const uint8_t* blob, size_t blob_len,
                              const macp_call_context* ctx);
    /* Deleting a missing record is OK. */
    macp_status (*delete_record)(void* instance, const char* ns, const char* key, const macp_call_context* ctx);
    /* Emits, for every record of `ns`, first the key bytes and then the blob bytes (two emits per
     * record, in that order). */
    macp_status (*list_records)(void* instance, const char* ns, const macp_emitter* out, const macp_call_context* ctx);

    /* ---- optional (NULL = not implemented) ---- */

    /* Group commit: appends every item (several sessions, at most one pending item chain per
     * session, in the given order) and makes all of them durable, sharing syncs where the backend
     * can. Writes one status per item into `item_status` (count entries). Returns OK only if
     * every item is OK. The host falls back to append_log_entry when this is NULL. */
    macp_status (*append_log_batch)(void* instance, const macp_log_append* items, size_t count,
                                    macp_status* item_status, const macp_call_context* ctx);
    /* Atomically replaces the whole log with `count` records (compaction). */
    macp_status (*replace_log)(void* instance, const char* session_id, const uint8_t* const* records,
                               const size_t* record_lens, size_t count, const macp_call_context* ctx);
    /* Makes every acknowledged write durable (called at shutdown). */
    macp_status (*flush)(void* instance, const macp_call_context* ctx);
    /* Reports readiness. OK = healthy; a message (also on OK) describes the durability level,
     * e.g. "appendfsync everysec: up to 1 s of acknowledged writes may be lost on power failure". */
    macp_status (*health)(void* instance, const macp_call_context* ctx);
    /* Start-up maintenance before recovery: remove leftovers of interrupted writes (tmp files),
     * repair torn log tails. Emits one human-readable line per repair performed. */
    macp_status (*recover)(void* instance, const macp_emitter* repairs, const macp_call_context* ctx);
} macp_storage_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_STORAGE_H */
