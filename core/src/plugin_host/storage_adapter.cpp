#include "plugin_host/storage_adapter.hpp"

#include <exception>
#include <mutex>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

namespace macp::plugin_host {
namespace {

static_assert(storage::kStatusUnsupported == MACP_STATUS_UNSUPPORTED);
static_assert(storage::kStatusFenced == MACP_STATUS_FENCED);

const uint8_t* bytes(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

}  // namespace

Result<std::unique_ptr<StorageAdapter>, std::string> StorageAdapter::create(std::shared_ptr<LoadedPlugin> plugin,
                                                                            const ConfigPairs& config,
                                                                            ExecutorOptions options) {
    const auto vt = copy_vtable<macp_storage_vtable>(plugin->descriptor().vtable);
    auto instance = PluginInstance::create(std::move(plugin), vt.create, vt.destroy, config, options);
    if (!instance) return fail(std::move(instance.error()));
    return std::make_unique<StorageAdapter>(Key{}, vt, std::move(instance.value()));
}

StorageAdapter::StorageAdapter(Key, const macp_storage_vtable& vtable, std::unique_ptr<PluginInstance> instance)
    : vt_(vtable), instance_(std::move(instance)) {}

std::string StorageAdapter::name() const {
    return instance_->plugin().name();
}

storage::StorageError StorageAdapter::error(const char* op, macp_status status, const std::string& message) const {
    std::string text = "storage backend " + name() + ": " + op + " failed (" + status_name(status) + ")";
    if (!message.empty()) text += ": " + message;
    return storage::StorageError{status, std::move(text)};
}

template <class F>
storage::Status StorageAdapter::simple_call(const char* op, F&& fn) {
    // Everything that can throw on the host side (allocation, the executor) stays inside this
    // try: the kernel only ever sees Result values.
    try {
        HostCallContext cc(instance_->logger());
        const macp_status status = instance_->call([&](void* inst) { return fn(inst, cc.get()); });
        if (status == MACP_STATUS_OK) return {};
        return fail(error(op, status, cc.message()));
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

template <class F>
storage::StorageResult<std::vector<std::string>> StorageAdapter::collecting_call(const char* op, F&& fn) {
    try {
        HostCallContext cc(instance_->logger());
        Collector out;
        const macp_status status = instance_->call([&](void* inst) { return fn(inst, out.get(), cc.get()); });
        if (status != MACP_STATUS_OK) return fail(error(op, status, cc.message()));
        if (out.failed()) {
            return fail(error(op, MACP_STATUS_INTERNAL, "out of memory while copying the plugin's results"));
        }
        return std::move(out.items());
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

template <class F>
storage::Status StorageAdapter::fenced_call(const char* op, const std::string& session_id, F&& fn) {
    const auto token = fence_of(session_id);
    if (!token) {
        return fail(error(op, MACP_STATUS_FENCED, "this process holds no lease for session " + session_id));
    }
    try {
        HostCallContext cc(instance_->logger());
        cc.set_fencing_token(*token);
        const macp_status status = instance_->call([&](void* inst) { return fn(inst, cc.get()); });
        if (status == MACP_STATUS_OK) return {};
        if (status == MACP_STATUS_FENCED) report_fenced(session_id);
        return fail(error(op, status, cc.message()));
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

std::optional<uint64_t> StorageAdapter::fence_of(const std::string& session_id) const {
    if (!fencing_.load(std::memory_order_acquire)) return uint64_t{0};
    std::shared_lock lock(fences_mu_);
    const auto found = fences_.find(session_id);
    if (found != fences_.end()) return found->second;
    if (fences_required_) return std::nullopt;
    return uint64_t{0};
}

std::optional<uint64_t> StorageAdapter::fence_of(const storage::LogAppend& item) const {
    if (item.fencing_token != 0) return item.fencing_token;
    return fence_of(item.session_id);
}

uint64_t StorageAdapter::fence_token(const std::string& session_id) const {
    if (!fencing_.load(std::memory_order_acquire)) return 0;
    std::shared_lock lock(fences_mu_);
    const auto found = fences_.find(session_id);
    return found == fences_.end() ? 0 : found->second;
}

void StorageAdapter::report_fenced(const std::string& session_id, uint64_t token) const {
    if (token != 0 && token != fence_token(session_id)) return;
    report_fenced(session_id);
}

void StorageAdapter::report_fenced(const std::string& session_id) const {
    std::function<void(const std::string&)> listener;
    {
        std::shared_lock lock(fences_mu_);  // set and cleared by the cluster's owner while serving
        listener = fenced_listener_;
    }
    if (!listener) return;
    try {
        listener(session_id);
    } catch (const std::exception& e) {
        spdlog::error("session {}: the lost-lease handler failed: {}", session_id, e.what());
    }
}

void StorageAdapter::set_fence(const std::string& session_id, uint64_t token) {
    std::unique_lock lock(fences_mu_);
    if (token == 0) {
        fences_.erase(session_id);
    } else {
        fences_[session_id] = token;
    }
    fencing_.store(true, std::memory_order_release);
}

void StorageAdapter::require_fences(bool on) {
    std::unique_lock lock(fences_mu_);
    fences_required_ = on;
    fencing_.store(true, std::memory_order_release);
}

void StorageAdapter::on_fenced(const std::function<void(const std::string&)>& fn) {
    std::unique_lock lock(fences_mu_);
    fenced_listener_ = fn;
}

bool StorageAdapter::supports_events() const {
    return vt_.publish_events != nullptr && vt_.subscribe_events != nullptr && vt_.unsubscribe_events != nullptr;
}

storage::Status StorageAdapter::publish_events(const std::string& channel, const std::vector<std::string>& messages) {
    constexpr const char* op = "publish_events";
    if (!supports_events()) return fail(error(op, MACP_STATUS_UNSUPPORTED, "this backend has no events"));
    if (messages.empty()) return {};
    try {
        std::vector<const uint8_t*> pointers;
        std::vector<size_t> lengths;
        pointers.reserve(messages.size());
        lengths.reserve(messages.size());
        for (const auto& m : messages) {
            pointers.push_back(bytes(m));
            lengths.push_back(m.size());
        }
        HostCallContext cc(instance_->logger());
        // storage.h: publish_events may run on any host thread (not behind the log's writes).
        const macp_status status = instance_->call_here([&](void* inst) {
            return vt_.publish_events(inst, channel.c_str(), pointers.data(), lengths.data(), messages.size(),
                                      cc.get());
        });
        if (status == MACP_STATUS_OK) return {};
        return fail(error(op, status, cc.message()));
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

namespace {

// One subscription of subscribe_events: owns the C sink the plugin borrows, and ends the plugin's
// subscription before the sink and the handlers go.
class PluginEventSubscription final : public storage::StorageBackend::EventSubscription {
public:
    PluginEventSubscription(storage::StorageBackend::EventHandlers handlers, void (*unsubscribe)(void*, void*),
                            void* instance)
        : handlers_(std::move(handlers)), unsubscribe_(unsubscribe), instance_(instance) {
        sink_.struct_size = sizeof(macp_event_sink);
        sink_.ctx = this;
        sink_.deliver = &PluginEventSubscription::deliver;
        sink_.state = &PluginEventSubscription::state;
    }
    ~PluginEventSubscription() override {
        if (handle_ != nullptr) unsubscribe_(instance_, handle_);
    }
    PluginEventSubscription(const PluginEventSubscription&) = delete;
    PluginEventSubscription& operator=(const PluginEventSubscription&) = delete;

    [[nodiscard]] const macp_event_sink* sink() const { return &sink_; }
    void set_handle(void* handle) { handle_ = handle; }

private:
    static void deliver(void* ctx, const uint8_t* message, size_t len) noexcept {
        auto& self = *static_cast<PluginEventSubscription*>(ctx);
        try {
            if (self.handlers_.deliver)
                self.handlers_.deliver(std::string_view(reinterpret_cast<const char*>(message), len));
        } catch (const std::exception& e) {
            spdlog::error("event handler failed: {}", e.what());
        }
    }
    static void state(void* ctx, int connected, const char* detail) noexcept {
        auto& self = *static_cast<PluginEventSubscription*>(ctx);
        try {
            if (self.handlers_.state) self.handlers_.state(connected != 0, detail != nullptr ? detail : "");
        } catch (const std::exception& e) {
            spdlog::error("event state handler failed: {}", e.what());
        }
    }

    storage::StorageBackend::EventHandlers handlers_;
    void (*unsubscribe_)(void*, void*);
    void* instance_;
    macp_event_sink sink_{};
    void* handle_ = nullptr;
};

}  // namespace

storage::StorageResult<std::unique_ptr<storage::StorageBackend::EventSubscription>> StorageAdapter::subscribe_events(
    const std::string& channel, const EventHandlers& handlers) {
    constexpr const char* op = "subscribe_events";
    if (!supports_events()) return fail(error(op, MACP_STATUS_UNSUPPORTED, "this backend has no events"));
    try {
        void* instance = instance_->call_here([](void* inst) { return inst; });
        auto sub = std::make_unique<PluginEventSubscription>(handlers, vt_.unsubscribe_events, instance);
        HostCallContext cc(instance_->logger());
        void* handle = nullptr;
        const macp_status status = instance_->call(
            [&](void* inst) { return vt_.subscribe_events(inst, channel.c_str(), sub->sink(), &handle, cc.get()); });
        if (status != MACP_STATUS_OK) return fail(error(op, status, cc.message()));
        sub->set_handle(handle);
        return std::unique_ptr<EventSubscription>(std::move(sub));
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

bool StorageAdapter::supports_leases() const {
    return vt_.acquire_lease != nullptr && vt_.release_lease != nullptr;
}

storage::StorageResult<storage::Lease> StorageAdapter::acquire_lease(const std::string& session_id,
                                                                     const std::string& holder, uint32_t ttl_ms,
                                                                     uint64_t held_token) {
    constexpr const char* op = "acquire_lease";
    if (!supports_leases()) return fail(error(op, MACP_STATUS_UNSUPPORTED, "this backend has no session leases"));
    try {
        HostCallContext cc(instance_->logger());
        macp_lease raw{};
        raw.struct_size = sizeof(macp_lease);
        const macp_status status = instance_->call([&](void* inst) {
            return vt_.acquire_lease(inst, session_id.c_str(), holder.c_str(), ttl_ms, held_token, &raw, cc.get());
        });
        if (status != MACP_STATUS_OK) return fail(error(op, status, cc.message()));
        raw.holder[MACP_LEASE_HOLDER_MAX] = '\0';
        return storage::Lease{raw.granted != 0, raw.token, raw.remaining_ms, std::string(raw.holder)};
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

storage::Status StorageAdapter::release_lease(const std::string& session_id, const std::string& holder,
                                              uint64_t token) {
    if (!supports_leases()) {
        return fail(error("release_lease", MACP_STATUS_UNSUPPORTED, "this backend has no session leases"));
    }
    return simple_call("release_lease", [&](void* inst, const macp_call_context* c) {
        return vt_.release_lease(inst, session_id.c_str(), holder.c_str(), token, c);
    });
}

storage::StorageResult<std::vector<bool>> StorageAdapter::renew_leases(
    const std::string& holder, uint32_t ttl_ms, const std::vector<std::pair<std::string, uint64_t>>& held) {
    constexpr const char* op = "renew_leases";
    std::vector<bool> renewed;
    if (held.empty()) return renewed;
    if (!supports_leases()) return fail(error(op, MACP_STATUS_UNSUPPORTED, "this backend has no session leases"));
    try {
        renewed.reserve(held.size());
        if (vt_.renew_leases == nullptr) {  // storage.h: then one acquire_lease per session
            for (const auto& [id, token] : held) {
                auto one = acquire_lease(id, holder, ttl_ms, token);
                if (!one && one.error().status != MACP_STATUS_FENCED) return fail(std::move(one.error()));
                renewed.push_back(one && one->granted && one->token == token);
            }
            return renewed;
        }
        std::vector<const char*> ids;
        std::vector<uint64_t> tokens;
        ids.reserve(held.size());
        tokens.reserve(held.size());
        for (const auto& [id, token] : held) {
            ids.push_back(id.c_str());
            tokens.push_back(token);
        }
        std::vector<macp_status> item_status(held.size(), MACP_STATUS_INTERNAL);
        HostCallContext cc(instance_->logger());
        const macp_status status = instance_->call([&](void* inst) {
            return vt_.renew_leases(inst, holder.c_str(), ttl_ms, ids.data(), tokens.data(), ids.size(),
                                    item_status.data(), cc.get());
        });
        if (status != MACP_STATUS_OK && status != MACP_STATUS_PARTIAL) return fail(error(op, status, cc.message()));
        for (const macp_status s : item_status) renewed.push_back(s == MACP_STATUS_OK);
        return renewed;
    } catch (const std::exception& e) {
        return fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

storage::Status StorageAdapter::create_session_storage(const std::string& session_id) {
    return fenced_call("create_session_storage", session_id, [&](void* inst, const macp_call_context* c) {
        return vt_.create_session_storage(inst, session_id.c_str(), c);
    });
}

storage::Status StorageAdapter::save_session(const std::string& session_id, std::string_view snapshot) {
    return fenced_call("save_session", session_id, [&](void* inst, const macp_call_context* c) {
        return vt_.save_session(inst, session_id.c_str(), bytes(snapshot), snapshot.size(), c);
    });
}

storage::StorageResult<std::optional<std::string>> StorageAdapter::load_session(const std::string& session_id) {
    auto items = collecting_call("load_session", [&](void* inst, const macp_emitter* out, const macp_call_context* c) {
        return vt_.load_session(inst, session_id.c_str(), out, c);
    });
    if (!items) {
        if (items.error().status == MACP_STATUS_NOT_FOUND) return std::optional<std::string>();
        return fail(std::move(items.error()));
    }
    // The ABI says "emits the snapshot once": anything else is a plugin bug, and guessing which
    // emitted buffer is the snapshot could silently restore the wrong state.
    if (items->size() != 1) {
        return fail(error("load_session", MACP_STATUS_INTERNAL,
                          "the plugin returned OK but emitted " + std::to_string(items->size()) +
                              " snapshots instead of exactly one"));
    }
    return std::optional<std::string>(std::move(items->front()));
}

storage::Status StorageAdapter::delete_session(const std::string& session_id) {
    return fenced_call("delete_session", session_id, [&](void* inst, const macp_call_context* c) {
        return vt_.delete_session(inst, session_id.c_str(), c);
    });
}

storage::StorageResult<std::vector<std::string>> StorageAdapter::list_session_ids() {
    return collecting_call("list_session_ids", [&](void* inst, const macp_emitter* out, const macp_call_context* c) {
        return vt_.list_session_ids(inst, out, c);
    });
}

storage::Status StorageAdapter::append_log_entry(const std::string& session_id, std::string_view record) {
    return fenced_call("append_log_entry", session_id, [&](void* inst, const macp_call_context* c) {
        return vt_.append_log_entry(inst, session_id.c_str(), bytes(record), record.size(), c);
    });
}

bool StorageAdapter::completes_inline() const {
    return instance_->runs_inline();
}

void StorageAdapter::run_on_storage_thread(const std::function<void()>& fn) {
    instance_->on_executor([&fn] { fn(); });
}

std::vector<storage::Status> StorageAdapter::append_log_batch(const std::vector<storage::LogAppend>& items) {
    std::vector<storage::Status> result;
    if (items.empty()) return result;
    const char* op = vt_.append_log_batch != nullptr ? "append_log_batch" : "append_log_entry";
    try {
        result.reserve(items.size());
        if (vt_.append_log_batch == nullptr) {
            // Fallback: one append per item, all inside a single executor job. Once an item of a
            // session fails, that session's later items are not attempted: appending them would
            // leave a gap in its log.
            instance_->call([&](void* inst) {
                std::set<std::string> failed_sessions;
                for (const auto& item : items) {
                    if (failed_sessions.count(item.session_id) != 0) {
                        result.push_back(
                            fail(error(op, MACP_STATUS_INTERNAL,
                                       "not attempted: an earlier record of session " + item.session_id + " failed")));
                        continue;
                    }
                    const auto token = fence_of(item);
                    if (!token) {
                        failed_sessions.insert(item.session_id);
                        result.push_back(fail(error(op, MACP_STATUS_FENCED,
                                                    "this process holds no lease for session " + item.session_id)));
                        continue;
                    }
                    HostCallContext cc(instance_->logger());
                    cc.set_fencing_token(*token);
                    const macp_status status = vt_.append_log_entry(inst, item.session_id.c_str(), bytes(item.record),
                                                                    item.record.size(), cc.get());
                    if (status == MACP_STATUS_OK) {
                        result.emplace_back();
                    } else {
                        if (status == MACP_STATUS_FENCED) report_fenced(item.session_id, *token);
                        failed_sessions.insert(item.session_id);
                        result.push_back(fail(error(op, status, cc.message())));
                    }
                }
            });
            return result;
        }

        std::vector<macp_log_append> raw;
        std::vector<const macp_log_append*> pointers;
        raw.reserve(items.size());
        pointers.reserve(items.size());
        // Items of a session this process holds no lease for (fences required) never reach the
        // plugin; `unsent[i]` marks them.
        std::vector<bool> unsent(items.size(), false);
        for (std::size_t i = 0; i < items.size(); ++i) {
            const auto& item = items[i];
            const auto token = fence_of(item);
            if (!token) {
                unsent[i] = true;
                continue;
            }
            raw.push_back(
                {sizeof(macp_log_append), item.session_id.c_str(), bytes(item.record), item.record.size(), *token});
        }
        for (const auto& r : raw) pointers.push_back(&r);
        // storage.h: every item starts as failed; only the plugin can turn one into OK.
        std::vector<macp_status> item_status(raw.size(), MACP_STATUS_INTERNAL);
        HostCallContext cc(instance_->logger());
        const macp_status overall = raw.empty() ? MACP_STATUS_OK : instance_->call([&](void* inst) {
            return vt_.append_log_batch(inst, pointers.data(), pointers.size(), item_status.data(), cc.get());
        });
        auto sent = batch_outcome(overall, item_status, cc.message());
        std::size_t next = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (unsent[i]) {
                result.push_back(fail(
                    error(op, MACP_STATUS_FENCED, "this process holds no lease for session " + items[i].session_id)));
                continue;
            }
            if (!sent[next] && sent[next].error().status == MACP_STATUS_FENCED) {
                report_fenced(items[i].session_id, raw[next].fencing_token);
            }
            result.push_back(std::move(sent[next++]));
        }
        return result;
    } catch (const std::exception& e) {
        // A host-side failure part-way: report every item as failed. Items the plugin may already
        // have stored are re-sent by nobody: the kernel never acknowledged them.
        result.clear();
        for (std::size_t i = 0; i < items.size(); ++i) {
            result.push_back(fail(error(op, MACP_STATUS_INTERNAL, std::string("host error: ") + e.what())));
        }
        return result;
    }
}

// Acknowledged must mean stored (storage.h append_log_batch): an item counts as durable only when
// the call returned OK or PARTIAL *and* the item's own status is OK. A failed call fails every
// item whatever the plugin wrote into item_status (a plugin may mark items and then fail or
// throw), and an OK call with a non-OK item is a plugin bug that fails that item.
std::vector<storage::Status> StorageAdapter::batch_outcome(macp_status overall,
                                                           const std::vector<macp_status>& item_status,
                                                           const std::string& message) const {
    constexpr const char* op = "append_log_batch";
    std::vector<storage::Status> result;
    result.reserve(item_status.size());
    const bool completed = overall == MACP_STATUS_OK || overall == MACP_STATUS_PARTIAL;
    for (const macp_status s : item_status) {
        if (completed && s == MACP_STATUS_OK) {
            result.emplace_back();
        } else if (!completed) {
            std::string why = message.empty() ? "the call failed" : message;
            why +=
                s == MACP_STATUS_OK ? " (the plugin had marked this item OK before failing the call; not trusted)" : "";
            result.push_back(fail(error(op, overall, why)));
        } else if (overall == MACP_STATUS_OK) {
            result.push_back(fail(error(op, MACP_STATUS_INTERNAL,
                                        "the plugin returned OK but reported " + status_name(s) +
                                            " for this item (storage.h: OK means every item is OK)")));
        } else {
            result.push_back(fail(error(op, s, message)));
        }
    }
    return result;
}

storage::StorageResult<std::vector<std::string>> StorageAdapter::load_log(const std::string& session_id) {
    return collecting_call("load_log", [&](void* inst, const macp_emitter* out, const macp_call_context* c) {
        return vt_.load_log(inst, session_id.c_str(), out, c);
    });
}

// One executor hop per batch: the per-id calls below then run inline on that pool thread.
std::vector<storage::StorageResult<std::optional<std::string>>> StorageAdapter::load_sessions(
    const std::vector<std::string>& ids) {
    return instance_->on_executor([&] { return StorageBackend::load_sessions(ids); });
}

std::vector<storage::StorageResult<std::vector<std::string>>> StorageAdapter::load_logs(
    const std::vector<std::string>& ids) {
    return instance_->on_executor([&] { return StorageBackend::load_logs(ids); });
}

storage::Status StorageAdapter::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    return simple_call("put_record", [&](void* inst, const macp_call_context* c) {
        return vt_.put_record(inst, ns.c_str(), key.c_str(), bytes(blob), blob.size(), c);
    });
}

storage::Status StorageAdapter::delete_record(const std::string& ns, const std::string& key) {
    return simple_call("delete_record", [&](void* inst, const macp_call_context* c) {
        return vt_.delete_record(inst, ns.c_str(), key.c_str(), c);
    });
}

storage::StorageResult<std::vector<std::pair<std::string, std::string>>> StorageAdapter::list_records(
    const std::string& ns) {
    auto items = collecting_call("list_records", [&](void* inst, const macp_emitter* out, const macp_call_context* c) {
        return vt_.list_records(inst, ns.c_str(), out, c);
    });
    if (!items) return fail(std::move(items.error()));
    // Two emits per record: key, then blob.
    if (items->size() % 2 != 0) {
        return fail(error("list_records", MACP_STATUS_INTERNAL,
                          "the plugin emitted a key without its blob (" + std::to_string(items->size()) + " items)"));
    }
    std::vector<std::pair<std::string, std::string>> records;
    records.reserve(items->size() / 2);
    for (std::size_t i = 0; i < items->size(); i += 2) {
        records.emplace_back(std::move((*items)[i]), std::move((*items)[i + 1]));
    }
    return records;
}

bool StorageAdapter::supports_scan() const {
    return vt_.scan_sessions != nullptr;
}

namespace {

// The host side of macp_session_scan_sink: turns the plugin's begin/record calls into the
// visitor's begin/record/end, and remembers whether the plugin broke the sink's rules.
class ScanBridge {
public:
    explicit ScanBridge(storage::SessionScanVisitor& visitor) : visitor_(visitor) {
        sink_.struct_size = sizeof(macp_session_scan_sink);
        sink_.ctx = this;
        sink_.begin_session = &ScanBridge::begin;
        sink_.log_record = &ScanBridge::record;
    }
    [[nodiscard]] const macp_session_scan_sink* get() const { return &sink_; }
    // Closes the last session; call once the plugin returned OK.
    void finish() {
        if (receiving_) visitor_.end_session();
        receiving_ = false;
    }
    [[nodiscard]] const std::string& problem() const { return problem_; }

private:
    static int begin(void* ctx, const char* session_id, const uint8_t* snapshot, size_t len) noexcept {
        auto& self = *static_cast<ScanBridge*>(ctx);
        try {
            self.finish();
            if (session_id == nullptr) {
                self.fault("a session without an id");
                return 0;
            }
            std::string id(session_id);
            if (!self.seen_.insert(id).second) {
                self.fault("session " + id + " twice");
                return 0;
            }
            std::optional<std::string> snap;
            if (snapshot != nullptr) snap.emplace(reinterpret_cast<const char*>(snapshot), len);
            self.receiving_ = self.problem_.empty() && self.visitor_.begin_session(id, std::move(snap));
            return self.receiving_ ? 1 : 0;
        } catch (const std::exception& e) {
            self.fault(std::string("host error: ") + e.what());
            return 0;
        }
    }
    static void record(void* ctx, const uint8_t* data, size_t len) noexcept {
        auto& self = *static_cast<ScanBridge*>(ctx);
        if (!self.receiving_) {
            // A record for a session the host skipped (or none begun) would otherwise be
            // attributed to the wrong session.
            if (self.problem_.empty()) self.fault("a log record outside a requested session");
            return;
        }
        try {
            self.visitor_.log_record(std::string(reinterpret_cast<const char*>(data), len));
        } catch (const std::exception& e) {
            self.fault(std::string("host error: ") + e.what());
        }
    }
    void fault(std::string what) {
        if (problem_.empty()) problem_ = std::move(what);
        receiving_ = false;
    }

    storage::SessionScanVisitor& visitor_;
    macp_session_scan_sink sink_{};
    std::set<std::string> seen_;
    bool receiving_ = false;
    std::string problem_;
};

}  // namespace

storage::Status StorageAdapter::scan_sessions(storage::SessionScanVisitor& visitor) {
    if (vt_.scan_sessions == nullptr) {
        return fail(error("scan_sessions", MACP_STATUS_UNSUPPORTED, "this backend does not implement scan_sessions"));
    }
    try {
        ScanBridge bridge(visitor);
        HostCallContext cc(instance_->logger());
        const macp_status status =
            instance_->call([&](void* inst) { return vt_.scan_sessions(inst, bridge.get(), cc.get()); });
        if (status != MACP_STATUS_OK) return fail(error("scan_sessions", status, cc.message()));
        if (!bridge.problem().empty()) {
            return fail(error("scan_sessions", MACP_STATUS_INTERNAL,
                              "the plugin returned OK but reported " + bridge.problem()));
        }
        bridge.finish();
        return {};
    } catch (const std::exception& e) {
        return fail(error("scan_sessions", MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

bool StorageAdapter::supports_replace_log() const {
    return vt_.replace_log != nullptr;
}

storage::Status StorageAdapter::replace_log(const std::string& session_id, const std::vector<std::string>& records) {
    if (vt_.replace_log == nullptr) {
        return fail(error("replace_log", MACP_STATUS_UNSUPPORTED, "this backend does not implement log compaction"));
    }
    std::vector<const uint8_t*> pointers;
    std::vector<size_t> lengths;
    try {
        pointers.reserve(records.size());
        lengths.reserve(records.size());
        for (const auto& r : records) {
            pointers.push_back(bytes(r));
            lengths.push_back(r.size());
        }
    } catch (const std::exception& e) {
        return fail(error("replace_log", MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
    return fenced_call("replace_log", session_id, [&](void* inst, const macp_call_context* c) {
        return vt_.replace_log(inst, session_id.c_str(), pointers.data(), lengths.data(), records.size(), c);
    });
}

storage::Status StorageAdapter::flush() {
    if (vt_.flush == nullptr) return {};  // nothing buffered beyond what each call made durable
    return simple_call("flush", [&](void* inst, const macp_call_context* c) { return vt_.flush(inst, c); });
}

storage::StorageResult<std::string> StorageAdapter::health() {
    if (vt_.health == nullptr) return std::string("health not reported");
    try {
        HostCallContext cc(instance_->logger());
        const macp_status status = instance_->call([&](void* inst) { return vt_.health(inst, cc.get()); });
        if (status != MACP_STATUS_OK) return fail(error("health", status, cc.message()));
        // On OK the message is the durability note (storage.h); it may be empty.
        return cc.message().empty() ? std::string("healthy") : cc.message();
    } catch (const std::exception& e) {
        return fail(error("health", MACP_STATUS_INTERNAL, std::string("host error: ") + e.what()));
    }
}

storage::StorageResult<std::vector<std::string>> StorageAdapter::recover() {
    if (vt_.recover == nullptr) return std::vector<std::string>();
    return collecting_call("recover", [&](void* inst, const macp_emitter* out, const macp_call_context* c) {
        return vt_.recover(inst, out, c);
    });
}

}  // namespace macp::plugin_host
