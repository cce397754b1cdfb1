/*
 * macp-runtime storage plugin ABI (kind MACP_PLUGIN_KIND_STORAGE), version 1.2. See abi.h first.
 * 1.1 added the optional `scan_sessions` operation (and `macp_session_scan_sink`).
 * 1.2 added session leases for multi-process deployments: the optional `acquire_lease`,
 *     `release_lease` and `renew_leases` operations, `macp_lease`, and a per-item `fencing_token` in
 *     `macp_log_append`; and events between the processes of one deployment: the optional
 *     `publish_events`, `subscribe_events` and `unsubscribe_events` operations, `macp_event_sink`.
 *
 * A storage plugin is a BYTE STORE. The core owns the record encoding (docs/plugin-abi.md,
 * `json/1`), so every backend stores identical records and data can move between backends. A
 * plugin never parses records; it stores and returns them verbatim and in order.
 *
 * RECORDS: every log record the host passes is non-empty and contains no '\n' byte. A backend
 * may rely on that (one record per line) and must refuse a record that breaks it with
 * MACP_STATUS_INVALID_ARGUMENT, storing nothing. Snapshots and keyed-record blobs are arbitrary
 * bytes (binary-safe).
 *
 * IDENTIFIERS: session ids, namespaces and keys are NUL-terminated UTF-8. Session ids have already
 * been validated by the core ([A-Za-z0-9_-], 22..255 bytes, or a canonical UUID), so a backend may
 * use them as file or key names directly. Namespaces and keys are arbitrary printable strings
 * (e.g. "ext.fraud.v1", "a/../b"): a backend must encode them if its naming cannot hold every
 * character.
 *
 * DURABILITY: when `append_log_entry`, `append_log_batch` (per item), `replace_log`,
 * `save_session`, `put_record` or `delete_record` report MACP_STATUS_OK the change must survive a
 * crash of the process (kill -9) and, as far as the backend can promise, of the machine
 * (fdatasync, synced write batch, AOF fsync...). The core acknowledges a client message only after
 * its append reported OK; whatever a failed call may have written is never acknowledged. A
 * backend whose durability is weaker (e.g. Redis without appendfsync always) says so in `health`.
 *
 * NOT_FOUND is returned by `load_session` only (no snapshot stored). Every other operation treats
 * a missing session, log, namespace or record as empty or already gone and returns OK.
 *
 * THREADING: see abi.h. Calls for one session are never concurrent; calls for different sessions
 * may be concurrent only if the descriptor sets MACP_PLUGIN_FLAG_THREAD_SAFE.
 *
 * FENCING (1.2, backends that implement `acquire_lease`): every session has a FENCING TOKEN, a
 * counter the backend keeps beside the session's data, raised by one each time a new holder
 * acquires the session's lease (0 = never leased). A write for one session (create_session_storage,
 * save_session, delete_session, append_log_entry, replace_log, and each append_log_batch item)
 * may carry a token: the item's `fencing_token`, else `ctx->fencing_token`; 0 = unfenced. The
 * backend compares a non-zero token with the session's current one ATOMICALLY with the write
 * (in the same transaction or script) and, when they differ, stores nothing of that session and
 * answers MACP_STATUS_FENCED. So a process that lost a session's lease (paused, partitioned) can
 * never append after the new holder's first write. Unfenced writes are never refused for fencing.
 */
#ifndef MACP_PLUGIN_STORAGE_H
#define MACP_PLUGIN_STORAGE_H

#include "macp/plugin/abi.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One element of a grouped append, passed as an array of pointers. Since: 1.0
 * OWNERSHIP: BORROWED for the duration of the call. */
typedef struct macp_log_append {
    uint32_t struct_size;
    const char* session_id;
    const uint8_t* record;
    size_t record_len;
    /* Since: 1.2. The item's fencing token (see FENCING); 0 = the call context's. Read it only when
     * struct_size covers it: a 1.0/1.1 host passes shorter items. */
    uint64_t fencing_token;
} macp_log_append;

/* The longest lease holder name, without its NUL. */
#define MACP_LEASE_HOLDER_MAX 255

/* What acquire_lease found. Since: 1.2
 * OWNERSHIP: owned by the host; the plugin fills it during the call. */
typedef struct macp_lease {
    uint32_t struct_size;
    /* 1 = the caller holds the lease now (acquired or renewed); 0 = another holder's lease is live. */
    int granted;
    /* The session's current fencing token (the caller's when granted). */
    uint64_t token;
    /* Milliseconds until the lease expires, as the backend's clock sees it (-1: unknown). */
    int64_t remaining_ms;
    /* The current holder (the caller when granted), NUL-terminated, "" when none. */
    char holder[MACP_LEASE_HOLDER_MAX + 1];
} macp_lease;

/* Receives the events of one `subscribe_events` subscription. Since: 1.2
 * OWNERSHIP: BORROWED by the plugin from subscribe_events until unsubscribe_events returns; the
 * callbacks copy their arguments before returning.
 * THREADING: called on a thread of the plugin's own, one call at a time per subscription, never
 * after unsubscribe_events returned. They must not block for long and must not call the plugin. */
typedef struct macp_event_sink {
    uint32_t struct_size;
    void* ctx;
    /* One event published on the subscribed channel (by any process, this one included), in the
     * order its publisher published it. */
    void (*deliver)(void* ctx, const uint8_t* message, size_t message_len);
    /* The subscription's connection changed: `connected` 1 = subscribed (first time or again),
     * 0 = lost (events published until the next 1 are not delivered). `detail` is a
     * NUL-terminated message for logs. */
    void (*state)(void* ctx, int connected, const char* detail);
} macp_event_sink;

/* Receives the stored sessions during `scan_sessions`. Since: 1.1
 * OWNERSHIP: BORROWED for the duration of the call; the callbacks copy their arguments before
 * returning. THREADING: the callbacks may only be called on the thread running scan_sessions. */
typedef struct macp_session_scan_sink {
    uint32_t struct_size;
    void* ctx;
    /* A stored session begins: its id and its snapshot (`snapshot` NULL when it has none; a
     * stored empty snapshot is a non-NULL pointer with length 0). Returns non-zero when the host
     * wants this session's log records next, 0 when the plugin must skip them (the host already
     * knows all it needs, e.g. from a terminal snapshot). */
    int (*begin_session)(void* ctx, const char* session_id, const uint8_t* snapshot, size_t snapshot_len);
    /* One record of the session begun last, in log order; only after a begin_session that
     * returned non-zero, and before the next begin_session. */
    void (*log_record)(void* ctx, const uint8_t* record, size_t record_len);
} macp_session_scan_sink;

/* Every function pointer below: Since: 1.0 unless noted. `instance` is what `create` returned; `ctx` is never
 * NULL (see macp_call_context in abi.h). Unless stated otherwise, the function may block, runs on
 * a host executor thread, and borrows its arguments until it returns. */
typedef struct macp_storage_vtable {
    uint32_t struct_size;

    /* ---- lifecycle (required) ---- */

    /* Creates an instance from the resolved configuration (`config`: `config_count` pointers).
     * Opens or creates what the backend needs (directories, databases, connections). On failure
     * returns non-OK, reports a message through ctx->error and leaves *out_instance untouched.
     * THREADING: never concurrent with any other call of this plugin. */
    macp_status (*create)(const macp_config_pair* const* config, size_t config_count, void** out_instance,
                          const macp_call_context* ctx);
    /* Releases the instance. Called exactly once, after every other call on it has returned and
     * after which the host never uses `instance` again. Must not fail. */
    void (*destroy)(void* instance);

    /* ---- sessions (required) ---- */

    /* Prepares storage for a new session (directory, key...). Idempotent: OK if it exists. */
    macp_status (*create_session_storage)(void* instance, const char* session_id, const macp_call_context* ctx);
    /* Atomically replaces the session's snapshot (arbitrary bytes): a crash leaves the old or the
     * new snapshot, never a mix. Creates the session's storage if needed. */
    macp_status (*save_session)(void* instance, const char* session_id, const uint8_t* snapshot, size_t snapshot_len,
                                const macp_call_context* ctx);
    /* Emits the snapshot exactly once and returns OK, or emits nothing and returns NOT_FOUND. */
    macp_status (*load_session)(void* instance, const char* session_id, const macp_emitter* out,
                                const macp_call_context* ctx);
    /* Removes snapshot and log. Deleting an unknown session is OK. */
    macp_status (*delete_session)(void* instance, const char* session_id, const macp_call_context* ctx);
    /* Emits every stored session id exactly once, in any order: every session whose storage was
     * created (create_session_storage) or that has a log or a snapshot, until delete_session. */
    macp_status (*list_session_ids)(void* instance, const macp_emitter* out, const macp_call_context* ctx);

    /* ---- append-only log (required) ---- */

    /* Appends one record durably (see DURABILITY) after the session's existing records. On any
     * non-OK status the record must not be readable afterwards (no partial record). */
    macp_status (*append_log_entry)(void* instance, const char* session_id, const uint8_t* record, size_t record_len,
                                    const macp_call_context* ctx);
    /* Emits the session's records in append order, each exactly as appended. A missing log emits
     * nothing and returns OK. A torn final record (crash during append) must not be emitted and
     * must not corrupt the next append. */
    macp_status (*load_log)(void* instance, const char* session_id, const macp_emitter* out,
                            const macp_call_context* ctx);

    /* ---- keyed records for the runtime's own registries (required) ---- */

    /* Stores `blob` under (ns, key), replacing any previous value, durably and atomically. */
    macp_status (*put_record)(void* instance, const char* ns, const char* key, const uint8_t* blob, size_t blob_len,
                              const macp_call_context* ctx);
    /* Deleting a missing record is OK. */
    macp_status (*delete_record)(void* instance, const char* ns, const char* key, const macp_call_context* ctx);
    /* Emits, for every record of `ns`, first the key bytes and then the blob bytes (two emits per
     * record, in that order, records in any order). An unknown namespace emits nothing. */
    macp_status (*list_records)(void* instance, const char* ns, const macp_emitter* out, const macp_call_context* ctx);

    /* ---- optional (NULL = not implemented) ---- */

    /* Group commit: appends `count` items (`items`: pointers; several sessions, a session's items
     * in the given order) and makes them durable, sharing syncs where the backend can.
     * `item_status` has `count` entries, all MACP_STATUS_INTERNAL on entry; the plugin writes one
     * status per item. The RETURN value decides what the host believes:
     *   MACP_STATUS_OK       every item is durable; every item_status must be OK.
     *   MACP_STATUS_PARTIAL  the call ran to completion; item_status[i] == OK means item i is
     *                        durable, anything else means item i was not stored. Once an item of
     *                        a session fails, that session's later items in the batch must fail
     *                        too (a log never has a gap).
     *   anything else        the call as a whole failed: the host treats EVERY item as failed,
     *                        whatever item_status says. Use this when the outcome is unknown.
     * The host acknowledges an item only if the return is OK or PARTIAL and its status is OK.
     * When NULL, the host calls append_log_entry once per item instead. */
    macp_status (*append_log_batch)(void* instance, const macp_log_append* const* items, size_t count,
                                    macp_status* item_status, const macp_call_context* ctx);
    /* Atomically replaces the whole log with `count` records (compaction): a crash leaves the old
     * or the new log, never a mix. */
    macp_status (*replace_log)(void* instance, const char* session_id, const uint8_t* const* records,
                               const size_t* record_lens, size_t count, const macp_call_context* ctx);
    /* Makes every write that returned OK durable, if the backend buffers (called at shutdown). */
    macp_status (*flush)(void* instance, const macp_call_context* ctx);
    /* Reports readiness; called periodically. OK = healthy; a message (also on OK) describes the
     * durability level, e.g. "appendfsync everysec: up to 1 s of acknowledged writes may be lost
     * on power failure". Should answer quickly and leave no trace in the stored data. */
    macp_status (*health)(void* instance, const macp_call_context* ctx);
    /* Start-up maintenance, called once before recovery: removes leftovers of interrupted writes
     * (tmp files), repairs torn log tails. Emits one human-readable line per repair performed. */
    macp_status (*recover)(void* instance, const macp_emitter* repairs, const macp_call_context* ctx);
    /* Validates a configuration without side effects: creates no file, directory, database or
     * connection (used by `macp-runtime --check-config`). OK = `create` would accept it, as far
     * as can be told without side effects; otherwise a status and a message through ctx->error.
     * THREADING: may be called without any instance, never concurrently with create. */
    macp_status (*check_config)(const macp_config_pair* const* config, size_t config_count,
                                const macp_call_context* ctx);
    /* Since: 1.1. Start-up recovery in one pass: reports every session `list_session_ids` would
     * report, each exactly once, through `out`: begin_session with its snapshot (as load_session
     * would return it), then, if asked for, its whole log in order (as load_log would return it).
     * A session's records always follow its own begin_session, so a backend whose layout keeps
     * sessions in key order serves this with one ordered scan instead of one lookup per session
     * and per log. Session order is the backend's choice. The host calls it once, before serving
     * and with no concurrent writes; on a non-OK return it discards everything reported and
     * fails the start-up with the message. When NULL (or beyond struct_size), the host uses
     * list_session_ids + load_session + load_log. A plugin providing it still loads on 1.0 hosts
     * (they ignore it), so it does not need abi_minor 1. */
    macp_status (*scan_sessions)(void* instance, const macp_session_scan_sink* out, const macp_call_context* ctx);

    /* ---- session leases (Since: 1.2; both or neither) ----
     * A lease names the one process that may write a session (`holder`: printable ASCII, 1 to
     * MACP_LEASE_HOLDER_MAX bytes, unique per process incarnation) for `ttl_ms` (1..3600000) on
     * the BACKEND's clock, so holders need no synchronized clocks. A backend that implements them
     * implements FENCING (above) for every session write. Neither call changes the session's data.
     *
     * acquire_lease with held_token == 0 (acquire): when no lease is live, raises the session's
     * token by one and grants the lease to `holder`; when `holder` already holds it, renews it
     * (token unchanged); when another holder's lease is live, grants nothing.
     * acquire_lease with held_token != 0 (renew): renews the lease when the session's token is
     * still held_token and no other holder's lease is live (an expired lease nobody took over is
     * renewed under the same token); otherwise answers MACP_STATUS_FENCED: the caller lost the
     * session and must stop serving it.
     * In every OK or FENCED answer `out` describes the lease as it is afterwards. */
    macp_status (*acquire_lease)(void* instance, const char* session_id, const char* holder, uint32_t ttl_ms,
                                 uint64_t held_token, macp_lease* out, const macp_call_context* ctx);
    /* Ends `holder`'s lease early when the session's token is still `token` (clean shutdown, hand
     * over); OK also when the lease is already gone or held by another (nothing to release). */
    macp_status (*release_lease)(void* instance, const char* session_id, const char* holder, uint64_t token,
                                 const macp_call_context* ctx);
    /* Since: 1.2, optional even with leases (only together with them). Renews `count` leases of
     * `holder` in one call: a process renews every session it serves once per interval, and one
     * round trip per session would not scale. For each i, exactly what acquire_lease(session_ids[i],
     * holder, ttl_ms, tokens[i]) does (tokens[i] != 0), without describing the lease:
     * item_status[i] (INTERNAL on entry) becomes OK (renewed) or FENCED (lost). Returns OK when
     * every item is OK, PARTIAL when the call completed with some FENCED, anything else when the
     * call failed as a whole (the host then treats no lease as renewed). When NULL the host calls
     * acquire_lease per session. */
    macp_status (*renew_leases)(void* instance, const char* holder, uint32_t ttl_ms, const char* const* session_ids,
                                const uint64_t* tokens, size_t count, macp_status* item_status,
                                const macp_call_context* ctx);

    /* ---- events between processes (Since: 1.2; all three or none) ----
     * The processes of one deployment tell each other what they committed (session lifecycle,
     * ambient signals, registry changes) through the backend: publish/subscribe, at most once,
     * in publication order per publisher, to every process subscribed at the time. The backend
     * scopes channels to its own key space (two deployments sharing a server never see each
     * other's events). Nothing here is durable: a subscriber that was disconnected misses what
     * was published meanwhile (sink->state says when) and catches up from storage. */

    /* Publishes `count` messages (message i: `messages[i]`, `lens[i]` bytes, arbitrary) on
     * `channel`, in order. OK once the backend took them (not a delivery promise).
     * THREADING: unlike the other operations, the host may call it on any of its threads,
     * concurrently with any other call except create/destroy: the plugin serialises it itself (a
     * publisher must not wait behind the log's writes). */
    macp_status (*publish_events)(void* instance, const char* channel, const uint8_t* const* messages,
                                  const size_t* lens, size_t count, const macp_call_context* ctx);
    /* Starts delivering the messages published on `channel` to `sink`, from a thread of the
     * plugin's own, until unsubscribe_events. Returns once the subscription is set up: OK with
     * *out_subscription set (the connection may still be lost and regained later, see
     * sink->state), or non-OK with nothing started. */
    macp_status (*subscribe_events)(void* instance, const char* channel, const macp_event_sink* sink,
                                    void** out_subscription, const macp_call_context* ctx);
    /* Stops a subscription and releases it; no sink callback runs once this returns. Must not
     * fail. THREADING: any host thread, never from a sink callback. */
    void (*unsubscribe_events)(void* instance, void* subscription);
} macp_storage_vtable;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MACP_PLUGIN_STORAGE_H */
