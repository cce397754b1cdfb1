// Header-only C++17 SDK for storage plugins.
//
// Write a class with these members (required; a static_assert names any that is missing):
//   explicit T(const macp::sdk::Config&);
//   void create_session_storage(const std::string& session_id);
//   void save_session(const std::string& session_id, std::string_view snapshot);
//   std::optional<std::string> load_session(const std::string& session_id);   // nullopt = NOT_FOUND
//   void delete_session(const std::string& session_id);
//   void list_session_ids(const macp::sdk::Emitter& out);
//   void append_log_entry(const std::string& session_id, std::string_view record);
//   void load_log(const std::string& session_id, const macp::sdk::Emitter& out);
//   void put_record(const std::string& ns, const std::string& key, std::string_view blob);
//   void delete_record(const std::string& ns, const std::string& key);
//   void list_records(const std::string& ns, const macp::sdk::Emitter& out);  // key, blob, key...
// and any of these optional members, each listed in `macp_optional_ops` (see ops.hpp):
//   op::append_log_batch  void append_log_batch(const std::vector<macp::sdk::LogAppend>& items,
//                                               std::vector<macp_status>& status);
//   op::replace_log       void replace_log(const std::string& session_id,
//                                          const std::vector<std::string_view>& records);
//   op::flush             void flush();
//   op::health            std::string health();               // returns the durability note
//   op::recover           void recover(const macp::sdk::Emitter& repairs);
//   op::check_config      static void check_config(const macp::sdk::Config&);  // no side effects
//   op::scan_sessions     void scan_sessions(const macp::sdk::ScanSink& out);  // ABI 1.1, see below
//   op::leases            macp::sdk::Lease acquire_lease(const std::string& session_id,
//                                                        const std::string& holder,
//                                                        uint32_t ttl_ms, uint64_t held_token);
//                         void release_lease(const std::string& session_id,
//                                            const std::string& holder, uint64_t token);
//   op::renew_leases      void renew_leases(const std::string& holder, uint32_t ttl_ms,
//                                           const std::vector<macp::sdk::LeaseRef>& leases,
//                                           std::vector<macp_status>& status);  // OK or FENCED each
//                         // ABI 1.2, storage.h "FENCING": a plugin listing op::leases must refuse
//                         // stale tokens on every session write (CallContext::fencing_token(),
//                         // LogAppend::fencing_token) with Error(MACP_STATUS_FENCED, ...).
//   op::events            void publish_events(const std::string& channel,
//                                             const std::vector<std::string_view>& messages);
//                         std::unique_ptr<macp::sdk::EventSubscription> subscribe_events(
//                             const std::string& channel, const macp::sdk::EventSink& sink);
//                         // ABI 1.2: publish_events may run on any host thread, concurrently
//                         // with the other members (serialise it yourself); destroying the
//                         // returned subscription stops it (no sink call after its destructor).
// Every non-static member may take a last `const macp::sdk::CallContext&` parameter (deadline,
// fencing token, logger). Throw macp::sdk::Error(MACP_STATUS_..., "message") to fail a call.
// Then export the class once (KEYS: a static macp_config_key array, or nullptr for none):
//   MACP_STORAGE_PLUGIN(T, "sqlite", "1.0.0", "one line", flags, KEYS)
//
// scan_sessions: for each stored session, `if (out.begin_session(id, snapshot)) { out.log_record(r)
// for each record in order }` (snapshot: std::nullopt when none) — see storage.h.
//
// append_log_batch: `status` arrives with one MACP_STATUS_INTERNAL per item; set an item to
// MACP_STATUS_OK only once it is durable. Returning normally reports the statuses as they are
// (OK if all are OK, MACP_STATUS_PARTIAL otherwise); throwing fails every item of the batch.
#ifndef MACP_PLUGIN_SDK_STORAGE_HPP
#define MACP_PLUGIN_SDK_STORAGE_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "macp/plugin/sdk/common.hpp"
#include "macp/plugin/sdk/ops.hpp"
#include "macp/plugin/storage.h"

namespace macp::sdk {

// One item of a grouped append (views into the host's buffers, valid during the call).
struct LogAppend {
    std::string_view session_id;
    std::string_view record;
    uint64_t fencing_token = 0;  // ABI 1.2: the item's token, already defaulted to the call's
};

// One lease renew_leases renews: the session and the token its holder has.
struct LeaseRef {
    std::string_view session_id;
    uint64_t token = 0;
};

// What acquire_lease found (storage.h macp_lease). Throw Error(MACP_STATUS_FENCED, ...) from a
// renewal that lost the session only when the lease cannot be described; otherwise return it with
// `fenced` set and the SDK answers MACP_STATUS_FENCED with this description.
struct Lease {
    bool granted = false;
    bool fenced = false;
    uint64_t token = 0;
    int64_t remaining_ms = -1;
    std::string holder;
};

// Where a subscription delivers (storage.h macp_event_sink); copyable, valid until the
// subscription is destroyed. Call it from the subscription's own thread only.
class EventSink {
public:
    explicit EventSink(const macp_event_sink* sink) : sink_(sink) {}
    void deliver(std::string_view message) const {
        sink_->deliver(sink_->ctx, reinterpret_cast<const uint8_t*>(message.data()), message.size());
    }
    // connected: subscribed (again); false: lost, events may be missed until the next true.
    void state(bool connected, const std::string& detail) const {
        if (sink_->state != nullptr) sink_->state(sink_->ctx, connected ? 1 : 0, detail.c_str());
    }

private:
    const macp_event_sink* sink_;
};

// A running subscription of subscribe_events. Its destructor stops it: once the destructor
// returned, the sink is never called again. It must not throw.
class EventSubscription {
public:
    EventSubscription() = default;
    virtual ~EventSubscription() = default;
    EventSubscription(const EventSubscription&) = delete;
    EventSubscription& operator=(const EventSubscription&) = delete;
};

// The record rule of storage.h: a log record is non-empty and holds no '\n' byte. Throws
// Error(MACP_STATUS_INVALID_ARGUMENT) for one that breaks it.
inline void check_record(std::string_view record) {
    if (record.empty()) throw Error(MACP_STATUS_INVALID_ARGUMENT, "empty log record");
    if (record.find('\n') != std::string_view::npos) {
        throw Error(MACP_STATUS_INVALID_ARGUMENT, "log record contains a newline byte");
    }
}

// For append_log_batch: applies check_record to every item. An item that breaks it gets
// INVALID_ARGUMENT in `status`, and so does every later item of the same session (a log never
// has a gap); the first such problem of each session is noted through `call`. Returns, for each
// item, whether it may be written.
inline std::vector<bool> screen_batch(const std::vector<LogAppend>& items, std::vector<macp_status>& status,
                                      const CallContext& call) {
    std::vector<bool> writable(items.size(), false);
    std::vector<std::string_view> broken;  // few: a linear search beats hashing here
    for (size_t i = 0; i < items.size(); ++i) {
        const std::string_view sid = items[i].session_id;
        if (std::find(broken.begin(), broken.end(), sid) != broken.end()) {
            status[i] = MACP_STATUS_INVALID_ARGUMENT;
            continue;
        }
        try {
            check_record(items[i].record);
            writable[i] = true;
        } catch (const Error& e) {
            status[i] = e.status();
            broken.push_back(sid);
            call.note(std::string(e.what()) + " (session " + std::string(sid) + ")");
        }
    }
    return writable;
}

// Where scan_sessions reports the stored sessions (a view of the host's sink; valid during the call).
class ScanSink {
public:
    explicit ScanSink(const macp_session_scan_sink* s) : s_(s) {}
    // Returns true when the host wants this session's log records next.
    bool begin_session(const std::string& session_id, std::optional<std::string_view> snapshot) const {
        static constexpr uint8_t kEmpty = 0;
        const uint8_t* p = nullptr;
        if (snapshot) p = snapshot->empty() ? &kEmpty : reinterpret_cast<const uint8_t*>(snapshot->data());
        return s_->begin_session(s_->ctx, session_id.c_str(), p, snapshot ? snapshot->size() : 0) != 0;
    }
    void log_record(std::string_view record) const {
        s_->log_record(s_->ctx, reinterpret_cast<const uint8_t*>(record.data()), record.size());
    }

private:
    const macp_session_scan_sink* s_;
};

namespace detail {

inline std::string_view view(const uint8_t* p, size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

// Copies a per-item status vector the plugin filled into the host's array (an item the plugin
// left out counts as failed) and answers OK when every item is OK, PARTIAL otherwise.
inline macp_status report_items(const std::vector<macp_status>& status, macp_status* st, size_t n) {
    bool all_ok = status.size() == n;
    for (size_t k = 0; k < n; ++k) {
        st[k] = k < status.size() ? status[k] : MACP_STATUS_INTERNAL;
        all_ok = all_ok && st[k] == MACP_STATUS_OK;
    }
    return all_ok ? MACP_STATUS_OK : MACP_STATUS_PARTIAL;
}

using Str = const std::string&;
using Bytes = std::string_view;
using Out = const Emitter&;

MACP_SDK_OP_TRAITS(create_session_storage, std::declval<Str>())
MACP_SDK_OP_TRAITS(save_session, std::declval<Str>(), std::declval<Bytes>())
MACP_SDK_OP_TRAITS(load_session, std::declval<Str>())
MACP_SDK_OP_TRAITS(delete_session, std::declval<Str>())
MACP_SDK_OP_TRAITS(list_session_ids, std::declval<Out>())
MACP_SDK_OP_TRAITS(append_log_entry, std::declval<Str>(), std::declval<Bytes>())
MACP_SDK_OP_TRAITS(load_log, std::declval<Str>(), std::declval<Out>())
MACP_SDK_OP_TRAITS(put_record, std::declval<Str>(), std::declval<Str>(), std::declval<Bytes>())
MACP_SDK_OP_TRAITS(delete_record, std::declval<Str>(), std::declval<Str>())
MACP_SDK_OP_TRAITS(list_records, std::declval<Str>(), std::declval<Out>())
MACP_SDK_OP_TRAITS(append_log_batch, std::declval<const std::vector<LogAppend>&>(),
                   std::declval<std::vector<macp_status>&>())
MACP_SDK_OP_TRAITS(replace_log, std::declval<Str>(), std::declval<const std::vector<std::string_view>&>())
MACP_SDK_OP_TRAITS(recover, std::declval<Out>())
MACP_SDK_OP_TRAITS(scan_sessions, std::declval<const ScanSink&>())
MACP_SDK_OP_TRAITS(acquire_lease, std::declval<Str>(), std::declval<Str>(), std::declval<uint32_t>(),
                   std::declval<uint64_t>())
MACP_SDK_OP_TRAITS(release_lease, std::declval<Str>(), std::declval<Str>(), std::declval<uint64_t>())
MACP_SDK_OP_TRAITS(renew_leases, std::declval<Str>(), std::declval<uint32_t>(),
                   std::declval<const std::vector<LeaseRef>&>(), std::declval<std::vector<macp_status>&>())
MACP_SDK_OP_TRAITS(publish_events, std::declval<Str>(), std::declval<const std::vector<std::string_view>&>())
MACP_SDK_OP_TRAITS(subscribe_events, std::declval<Str>(), std::declval<const EventSink&>())
MACP_SDK_OP_TRAITS0(flush)

#define MACP_SDK_REQUIRE_OP(NAME, SIGNATURE)                                                 \
    static_assert(NAME##_plain<T>::value || NAME##_ctx<T>::value,                            \
                  "macp storage plugin: the class must have the required member `" SIGNATURE \
                  "` (optionally with a trailing const macp::sdk::CallContext&)")

template <class T>
struct StorageTrampolines {
    static T& self(void* i) { return *static_cast<T*>(i); }

    static macp_status create_session_storage(void* i, const char* sid, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), create_session_storage, cc, std::string(sid));
            return MACP_STATUS_OK;
        });
    }
    static macp_status save_session(void* i, const char* sid, const uint8_t* p, size_t n,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), save_session, cc, std::string(sid), view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status load_session(void* i, const char* sid, const macp_emitter* out,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&]() -> macp_status {
            const CallContext cc(c);
            std::optional<std::string> snap = MACP_SDK_INVOKE(T, self(i), load_session, cc, std::string(sid));
            if (!snap) return MACP_STATUS_NOT_FOUND;
            const Emitter emitter(out);
            emitter(*snap);
            return MACP_STATUS_OK;
        });
    }
    static macp_status delete_session(void* i, const char* sid, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), delete_session, cc, std::string(sid));
            return MACP_STATUS_OK;
        });
    }
    static macp_status list_session_ids(void* i, const macp_emitter* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const Emitter emitter(out);
            MACP_SDK_INVOKE(T, self(i), list_session_ids, cc, emitter);
            return MACP_STATUS_OK;
        });
    }
    static macp_status append_log_entry(void* i, const char* sid, const uint8_t* p, size_t n,
                                        const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), append_log_entry, cc, std::string(sid), view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status load_log(void* i, const char* sid, const macp_emitter* out,
                                const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const Emitter emitter(out);
            MACP_SDK_INVOKE(T, self(i), load_log, cc, std::string(sid), emitter);
            return MACP_STATUS_OK;
        });
    }
    static macp_status put_record(void* i, const char* ns, const char* key, const uint8_t* p, size_t n,
                                  const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), put_record, cc, std::string(ns), std::string(key), view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status delete_record(void* i, const char* ns, const char* key, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), delete_record, cc, std::string(ns), std::string(key));
            return MACP_STATUS_OK;
        });
    }
    static macp_status list_records(void* i, const char* ns, const macp_emitter* out,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const Emitter emitter(out);
            MACP_SDK_INVOKE(T, self(i), list_records, cc, std::string(ns), emitter);
            return MACP_STATUS_OK;
        });
    }
    static macp_status append_log_batch(void* i, const macp_log_append* const* items, size_t n, macp_status* st,
                                        const macp_call_context* c) noexcept {
        // Until the plugin's method has returned normally, every item counts as failed: a throw
        // half-way must not leave an OK behind for the host to trust (storage.h).
        for (size_t k = 0; k < n; ++k) st[k] = MACP_STATUS_INTERNAL;
        return guarded(c, [&]() -> macp_status {
            const CallContext cc(c);
            std::vector<LogAppend> batch;
            batch.reserve(n);
            for (size_t k = 0; k < n; ++k) {
                const macp_log_append* it = items[k];
                // A 1.0/1.1 host passes items without the token: they fall back to the call's.
                const bool has_token = it->struct_size >= offsetof(macp_log_append, fencing_token) + sizeof(uint64_t);
                const uint64_t token = has_token && it->fencing_token != 0 ? it->fencing_token : cc.fencing_token();
                batch.push_back({it->session_id, view(it->record, it->record_len), token});
            }
            std::vector<macp_status> status(n, MACP_STATUS_INTERNAL);
            MACP_SDK_INVOKE(T, self(i), append_log_batch, cc, batch, status);
            return report_items(status, st, n);
        });
    }
    static macp_status replace_log(void* i, const char* sid, const uint8_t* const* recs, const size_t* lens, size_t n,
                                   const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            std::vector<std::string_view> v;
            v.reserve(n);
            for (size_t k = 0; k < n; ++k) v.push_back(view(recs[k], lens[k]));
            MACP_SDK_INVOKE(T, self(i), replace_log, cc, std::string(sid), v);
            return MACP_STATUS_OK;
        });
    }
    static macp_status flush(void* i, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            if constexpr (flush_ctx<T>::value) {
                self(i).flush(cc);
            } else {
                self(i).flush();
            }
            return MACP_STATUS_OK;
        });
    }
    static macp_status health(void* i, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            if constexpr (health_ctx<T>::value) {
                cc.note(std::string(self(i).health(cc)));
            } else {
                cc.note(std::string(self(i).health()));
            }
            return MACP_STATUS_OK;
        });
    }
    static macp_status recover(void* i, const macp_emitter* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const Emitter emitter(out);
            MACP_SDK_INVOKE(T, self(i), recover, cc, emitter);
            return MACP_STATUS_OK;
        });
    }
    static macp_status scan_sessions(void* i, const macp_session_scan_sink* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const ScanSink sink(out);
            MACP_SDK_INVOKE(T, self(i), scan_sessions, cc, sink);
            return MACP_STATUS_OK;
        });
    }
    static macp_status acquire_lease(void* i, const char* sid, const char* holder, uint32_t ttl_ms, uint64_t held,
                                     macp_lease* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const Lease lease =
                MACP_SDK_INVOKE(T, self(i), acquire_lease, cc, std::string(sid), std::string(holder), ttl_ms, held);
            if (out != nullptr && out->struct_size >= sizeof(macp_lease)) {
                out->granted = lease.granted ? 1 : 0;
                out->token = lease.token;
                out->remaining_ms = lease.remaining_ms;
                const size_t n = std::min<size_t>(lease.holder.size(), MACP_LEASE_HOLDER_MAX);
                std::memcpy(out->holder, lease.holder.data(), n);
                out->holder[n] = '\0';
            }
            return lease.fenced ? MACP_STATUS_FENCED : MACP_STATUS_OK;
        });
    }
    static macp_status renew_leases(void* i, const char* holder, uint32_t ttl_ms, const char* const* sids,
                                    const uint64_t* tokens, size_t n, macp_status* st,
                                    const macp_call_context* c) noexcept {
        // As append_log_batch: nothing counts as renewed until the member returned normally.
        for (size_t k = 0; k < n; ++k) st[k] = MACP_STATUS_INTERNAL;
        return guarded(c, [&]() -> macp_status {
            const CallContext cc(c);
            std::vector<LeaseRef> leases;
            leases.reserve(n);
            for (size_t k = 0; k < n; ++k) leases.push_back({sids[k], tokens[k]});
            std::vector<macp_status> status(n, MACP_STATUS_INTERNAL);
            MACP_SDK_INVOKE(T, self(i), renew_leases, cc, std::string(holder), ttl_ms, leases, status);
            return report_items(status, st, n);
        });
    }
    static macp_status publish_events(void* i, const char* channel, const uint8_t* const* messages, const size_t* lens,
                                      size_t n, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            std::vector<std::string_view> views;
            views.reserve(n);
            for (size_t k = 0; k < n; ++k) views.emplace_back(reinterpret_cast<const char*>(messages[k]), lens[k]);
            MACP_SDK_INVOKE(T, self(i), publish_events, cc, std::string(channel), views);
            return MACP_STATUS_OK;
        });
    }
    static macp_status subscribe_events(void* i, const char* channel, const macp_event_sink* sink, void** out,
                                        const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            const EventSink events(sink);
            std::unique_ptr<EventSubscription> sub =
                MACP_SDK_INVOKE(T, self(i), subscribe_events, cc, std::string(channel), events);
            if (!sub) throw Error(MACP_STATUS_INTERNAL, "subscribe_events returned no subscription");
            *out = sub.release();
            return MACP_STATUS_OK;
        });
    }
    static void unsubscribe_events(void* /*instance*/, void* subscription) noexcept {
        delete static_cast<EventSubscription*>(
            subscription);  // NOLINT(cppcoreguidelines-owning-memory): the ABI's handle
    }
    static macp_status release_lease(void* i, const char* sid, const char* holder, uint64_t token,
                                     const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            MACP_SDK_INVOKE(T, self(i), release_lease, cc, std::string(sid), std::string(holder), token);
            return MACP_STATUS_OK;
        });
    }
};

}  // namespace detail

template <class T>
constexpr macp_storage_vtable make_storage_vtable() {
    using namespace detail;  // NOLINT(google-build-using-namespace): the trait names read as a table
    static_assert(std::is_constructible_v<T, const Config&>,
                  "macp storage plugin: the class must be constructible from `const macp::sdk::Config&`");
    MACP_SDK_REQUIRE_OP(create_session_storage, "void create_session_storage(const std::string&)");
    MACP_SDK_REQUIRE_OP(save_session, "void save_session(const std::string&, std::string_view)");
    MACP_SDK_REQUIRE_OP(load_session, "std::optional<std::string> load_session(const std::string&)");
    MACP_SDK_REQUIRE_OP(delete_session, "void delete_session(const std::string&)");
    MACP_SDK_REQUIRE_OP(list_session_ids, "void list_session_ids(const macp::sdk::Emitter&)");
    MACP_SDK_REQUIRE_OP(append_log_entry, "void append_log_entry(const std::string&, std::string_view)");
    MACP_SDK_REQUIRE_OP(load_log, "void load_log(const std::string&, const macp::sdk::Emitter&)");
    MACP_SDK_REQUIRE_OP(put_record, "void put_record(const std::string&, const std::string&, std::string_view)");
    MACP_SDK_REQUIRE_OP(delete_record, "void delete_record(const std::string&, const std::string&)");
    MACP_SDK_REQUIRE_OP(list_records, "void list_records(const std::string&, const macp::sdk::Emitter&)");
    MACP_SDK_CHECK_OPTIONAL(append_log_batch,
                            "void append_log_batch(const std::vector<macp::sdk::LogAppend>&, "
                            "std::vector<macp_status>&)");
    MACP_SDK_CHECK_OPTIONAL(replace_log, "void replace_log(const std::string&, const std::vector<std::string_view>&)");
    MACP_SDK_CHECK_OPTIONAL(flush, "void flush()");
    MACP_SDK_CHECK_OPTIONAL(health, "std::string health()");
    static_assert(!declares<T>(op::health) || health_returns_string<T>::value,
                  "macp plugin: health() must return std::string (the readiness and durability note)");
    MACP_SDK_CHECK_OPTIONAL(recover, "void recover(const macp::sdk::Emitter&)");
    MACP_SDK_CHECK_OPTIONAL(scan_sessions, "void scan_sessions(const macp::sdk::ScanSink&)");
    static_assert(!declares<T>(op::leases) || ((acquire_lease_plain<T>::value || acquire_lease_ctx<T>::value) &&
                                               (release_lease_plain<T>::value || release_lease_ctx<T>::value)),
                  "macp storage plugin: op::leases needs `macp::sdk::Lease acquire_lease(const std::string&, "
                  "const std::string&, uint32_t, uint64_t)` and `void release_lease(const std::string&, "
                  "const std::string&, uint64_t)`");
    MACP_SDK_CHECK_OPTIONAL(renew_leases,
                            "void renew_leases(const std::string&, uint32_t, const std::vector<macp::sdk::LeaseRef>&, "
                            "std::vector<macp_status>&)");
    static_assert(!declares<T>(op::renew_leases) || declares<T>(op::leases),
                  "macp storage plugin: op::renew_leases needs op::leases (acquire_lease and release_lease)");
    static_assert(declares<T>(op::leases) || (!acquire_lease_named<T>::value && !release_lease_named<T>::value),
                  "macp storage plugin: acquire_lease/release_lease are defined but op::leases is not listed in "
                  "macp_optional_ops");
    static_assert(!declares<T>(op::events) || ((publish_events_plain<T>::value || publish_events_ctx<T>::value) &&
                                               (subscribe_events_plain<T>::value || subscribe_events_ctx<T>::value)),
                  "macp storage plugin: op::events needs `void publish_events(const std::string&, "
                  "const std::vector<std::string_view>&)` and `std::unique_ptr<macp::sdk::EventSubscription> "
                  "subscribe_events(const std::string&, const macp::sdk::EventSink&)`");
    static_assert(declares<T>(op::events) || (!publish_events_named<T>::value && !subscribe_events_named<T>::value),
                  "macp storage plugin: publish_events/subscribe_events are defined but op::events is not listed in "
                  "macp_optional_ops");
    MACP_SDK_CHECK_CHECK_CONFIG();

    using Tr = StorageTrampolines<T>;
    macp_storage_vtable v{};
    v.struct_size = sizeof(macp_storage_vtable);
    v.create = &create_instance<T>;
    v.destroy = &destroy_instance<T>;
    v.create_session_storage = &Tr::create_session_storage;
    v.save_session = &Tr::save_session;
    v.load_session = &Tr::load_session;
    v.delete_session = &Tr::delete_session;
    v.list_session_ids = &Tr::list_session_ids;
    v.append_log_entry = &Tr::append_log_entry;
    v.load_log = &Tr::load_log;
    v.put_record = &Tr::put_record;
    v.delete_record = &Tr::delete_record;
    v.list_records = &Tr::list_records;
    if constexpr (declares<T>(op::append_log_batch)) v.append_log_batch = &Tr::append_log_batch;
    if constexpr (declares<T>(op::replace_log)) v.replace_log = &Tr::replace_log;
    if constexpr (declares<T>(op::flush)) v.flush = &Tr::flush;
    if constexpr (declares<T>(op::health)) v.health = &Tr::health;
    if constexpr (declares<T>(op::recover)) v.recover = &Tr::recover;
    if constexpr (declares<T>(op::check_config)) v.check_config = &check_config<T>;
    if constexpr (declares<T>(op::scan_sessions)) v.scan_sessions = &Tr::scan_sessions;
    if constexpr (declares<T>(op::leases)) {
        v.acquire_lease = &Tr::acquire_lease;
        v.release_lease = &Tr::release_lease;
    }
    if constexpr (declares<T>(op::renew_leases)) v.renew_leases = &Tr::renew_leases;
    if constexpr (declares<T>(op::events)) {
        v.publish_events = &Tr::publish_events;
        v.subscribe_events = &Tr::subscribe_events;
        v.unsubscribe_events = &Tr::unsubscribe_events;
    }
    return v;
}

}  // namespace macp::sdk

// Exports `macp_plugin_entry_v1` for storage plugin class T. KEYS is a static array of
// macp_config_key (use macp::sdk::config_key) or nullptr; FLAGS is MACP_PLUGIN_FLAG_* or 0.
#define MACP_STORAGE_PLUGIN(T, NAME, VERSION, DESCRIPTION, FLAGS, KEYS)                                              \
    MACP_SDK_EXPORT_PLUGIN(macp_storage_vtable, macp::sdk::make_storage_vtable<T>(), MACP_PLUGIN_KIND_STORAGE, NAME, \
                           VERSION, DESCRIPTION, FLAGS, KEYS)

#endif  // MACP_PLUGIN_SDK_STORAGE_HPP
