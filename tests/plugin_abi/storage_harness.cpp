#include "storage_harness.hpp"

#include <dlfcn.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "storage/memory_storage.hpp"

namespace macp::contract {
namespace {

// What the plugin logs through the host logger goes to stderr, so a failing check shows it.
const macp_host_logger* host_logger() {
    static const macp_host_logger logger{
        sizeof(macp_host_logger), nullptr, [](void*, int32_t level, const char* message, size_t len) {
            std::fprintf(stderr, "[plugin log %d] %.*s\n", static_cast<int>(level), static_cast<int>(len), message);
        }};
    return &logger;
}

// Owns the callbacks of one call: the error sink and the emitter write into this object, which
// therefore must not move while the call runs.
class Call {
public:
    explicit Call(uint64_t fencing_token = 0) {
        sink_ = macp_error_sink{sizeof(macp_error_sink), this, &Call::on_error};
        ctx_.struct_size = sizeof(ctx_);
        ctx_.fencing_token = fencing_token;
        ctx_.error = &sink_;
        ctx_.logger = host_logger();
        emitter_ = macp_emitter{sizeof(macp_emitter), this, &Call::on_emit};
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    [[nodiscard]] const macp_call_context* ctx() const { return &ctx_; }
    [[nodiscard]] const macp_emitter* out() const { return &emitter_; }
    Result finish(macp_status status) { return Result{status, std::move(message_), std::move(items_)}; }

private:
    static void on_error(void* self, const char* message, size_t len) {
        static_cast<Call*>(self)->message_.assign(message, len);
    }
    static void on_emit(void* self, const uint8_t* data, size_t len) {
        static_cast<Call*>(self)->items_.emplace_back(reinterpret_cast<const char*>(data), len);
    }

    macp_error_sink sink_{};
    macp_call_context ctx_{};
    macp_emitter emitter_{};
    std::string message_;
    std::vector<std::string> items_;
};

const uint8_t* bytes(std::string_view s) {
    return reinterpret_cast<const uint8_t*>(s.data());
}

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : fallback;
}

ConfigPairs parse_pairs(const std::string& spec) {
    ConfigPairs out;
    std::istringstream in(spec);
    std::string item;
    while (std::getline(in, item, ';')) {
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
    return out;
}

macp_plugin_entry_fn load_entry(const std::string& path) {
    // Never dlclose'd: instances of the plugin live until the process ends, and unloading a
    // library while its objects exist is exactly what the host must never do either.
    void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) throw std::runtime_error(std::string("dlopen failed: ") + ::dlerror());
    void* sym = ::dlsym(lib, MACP_PLUGIN_ENTRY_SYMBOL);
    if (sym == nullptr) {
        throw std::runtime_error(path + ": no " MACP_PLUGIN_ENTRY_SYMBOL " symbol");
    }
    return reinterpret_cast<macp_plugin_entry_fn>(sym);
}

Target load_target() {
    Target t;
    const std::string plugin = env_or("MACP_CONTRACT_PLUGIN", "memory");
    t.entry = plugin == "memory" ? &macp::storage::memory_plugin_descriptor : load_entry(plugin);
    t.descriptor = t.entry();
    if (t.descriptor == nullptr) throw std::runtime_error(plugin + ": entry returned NULL");
    t.label = plugin;
    t.persistent = env_or("MACP_CONTRACT_PERSISTENT", "0") == "1";
    t.file_layout = env_or("MACP_CONTRACT_LAYOUT", "") == "file";
    t.extra_config = parse_pairs(env_or("MACP_CONTRACT_CONFIG", ""));
    return t;
}

// The target's extra pairs, "@DATA_DIR@" in a value replaced with `data_dir` (so a remote
// backend gets a key space of its own per store, e.g. MACP_REDIS_KEY_PREFIX=@DATA_DIR@:), plus
// MACP_DATA_DIR itself.
ConfigPairs config_for(const std::string& data_dir) {
    static const std::string kPlaceholder = "@DATA_DIR@";
    ConfigPairs pairs = target().extra_config;
    for (auto& [key, value] : pairs) {
        for (auto pos = value.find(kPlaceholder); pos != std::string::npos; pos = value.find(kPlaceholder, pos)) {
            value.replace(pos, kPlaceholder.size(), data_dir);
            pos += data_dir.size();
        }
    }
    pairs.emplace_back("MACP_DATA_DIR", data_dir);
    return pairs;
}

}  // namespace

std::string Result::describe() const {
    std::ostringstream s;
    s << "status " << status << " message '" << message << "' items " << items.size();
    return s.str();
}

const Target& target() {
    static const Target t = load_target();
    return t;
}

TempDir::TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "macp-contract-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
    }
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

Result try_create(const std::string& data_dir, void** out) {
    ConfigPairs pairs = config_for(data_dir);
    std::vector<macp_config_pair> c;
    std::vector<const macp_config_pair*> pointers;
    c.reserve(pairs.size());
    for (const auto& [k, v] : pairs) c.push_back(macp_config_pair{sizeof(macp_config_pair), k.c_str(), v.c_str()});
    for (const auto& p : c) pointers.push_back(&p);
    Call call;
    return call.finish(target().vtable().create(pointers.data(), pointers.size(), out, call.ctx()));
}

Result check_config(const std::string& data_dir) {
    ConfigPairs pairs = config_for(data_dir);
    std::vector<macp_config_pair> c;
    std::vector<const macp_config_pair*> pointers;
    c.reserve(pairs.size());
    for (const auto& [k, v] : pairs) c.push_back(macp_config_pair{sizeof(macp_config_pair), k.c_str(), v.c_str()});
    for (const auto& p : c) pointers.push_back(&p);
    Call call;
    return call.finish(target().vtable().check_config(pointers.data(), pointers.size(), call.ctx()));
}

Store::Store(const std::string& data_dir) {
    const Result r = try_create(data_dir, &instance_);
    if (!r.ok() || instance_ == nullptr) {
        throw std::runtime_error("create failed: " + r.describe());
    }
}

Store::~Store() {
    vt().destroy(instance_);
}

Result Store::create_session_storage(const std::string& session_id) {
    Call c(fence_);
    return c.finish(vt().create_session_storage(instance_, session_id.c_str(), c.ctx()));
}

Result Store::save_session(const std::string& session_id, std::string_view snapshot) {
    Call c(fence_);
    return c.finish(vt().save_session(instance_, session_id.c_str(), bytes(snapshot), snapshot.size(), c.ctx()));
}

Result Store::load_session(const std::string& session_id) {
    Call c(fence_);
    return c.finish(vt().load_session(instance_, session_id.c_str(), c.out(), c.ctx()));
}

Result Store::delete_session(const std::string& session_id) {
    Call c(fence_);
    return c.finish(vt().delete_session(instance_, session_id.c_str(), c.ctx()));
}

Result Store::list_session_ids() {
    Call c(fence_);
    return c.finish(vt().list_session_ids(instance_, c.out(), c.ctx()));
}

Result Store::append(const std::string& session_id, std::string_view record) {
    Call c(fence_);
    return c.finish(vt().append_log_entry(instance_, session_id.c_str(), bytes(record), record.size(), c.ctx()));
}

Result Store::load_log(const std::string& session_id) {
    Call c(fence_);
    return c.finish(vt().load_log(instance_, session_id.c_str(), c.out(), c.ctx()));
}

Result Store::put_record(const std::string& ns, const std::string& key, std::string_view blob) {
    Call c(fence_);
    return c.finish(vt().put_record(instance_, ns.c_str(), key.c_str(), bytes(blob), blob.size(), c.ctx()));
}

Result Store::delete_record(const std::string& ns, const std::string& key) {
    Call c(fence_);
    return c.finish(vt().delete_record(instance_, ns.c_str(), key.c_str(), c.ctx()));
}

Result Store::list_records(const std::string& ns) {
    Call c(fence_);
    return c.finish(vt().list_records(instance_, ns.c_str(), c.out(), c.ctx()));
}

Result Store::append_batch(const std::vector<std::pair<std::string, std::string>>& items,
                           std::vector<macp_status>& item_status) {
    std::vector<macp_log_append> c_items;
    std::vector<const macp_log_append*> pointers;
    c_items.reserve(items.size());
    for (const auto& [session_id, record] : items) {
        c_items.push_back(
            macp_log_append{sizeof(macp_log_append), session_id.c_str(), bytes(record), record.size(), 0});
    }
    for (const auto& item : c_items) pointers.push_back(&item);
    // As the runtime does (storage.h): every item starts as failed.
    item_status.assign(items.size(), MACP_STATUS_INTERNAL);
    Call c(fence_);
    return c.finish(vt().append_log_batch(instance_, pointers.data(), pointers.size(), item_status.data(), c.ctx()));
}

Result Store::append_batch_fenced(const std::vector<FencedItem>& items, std::vector<macp_status>& item_status) {
    std::vector<macp_log_append> c_items;
    std::vector<const macp_log_append*> pointers;
    c_items.reserve(items.size());
    for (const auto& item : items) {
        c_items.push_back(macp_log_append{sizeof(macp_log_append), item.session_id.c_str(), bytes(item.record),
                                          item.record.size(), item.fencing_token});
    }
    for (const auto& item : c_items) pointers.push_back(&item);
    item_status.assign(items.size(), MACP_STATUS_INTERNAL);
    Call c(fence_);
    return c.finish(vt().append_log_batch(instance_, pointers.data(), pointers.size(), item_status.data(), c.ctx()));
}

Result Store::acquire_lease(const std::string& session_id, const std::string& holder, uint32_t ttl_ms,
                            uint64_t held_token, macp_lease& out) {
    out = macp_lease{};
    out.struct_size = sizeof(macp_lease);
    Call c(fence_);
    return c.finish(
        vt().acquire_lease(instance_, session_id.c_str(), holder.c_str(), ttl_ms, held_token, &out, c.ctx()));
}

Result Store::release_lease(const std::string& session_id, const std::string& holder, uint64_t token) {
    Call c(fence_);
    return c.finish(vt().release_lease(instance_, session_id.c_str(), holder.c_str(), token, c.ctx()));
}

Result Store::replace_log(const std::string& session_id, const std::vector<std::string>& records) {
    std::vector<const uint8_t*> ptrs;
    std::vector<size_t> lens;
    for (const auto& r : records) {
        ptrs.push_back(bytes(r));
        lens.push_back(r.size());
    }
    Call c(fence_);
    return c.finish(vt().replace_log(instance_, session_id.c_str(), ptrs.data(), lens.data(), records.size(), c.ctx()));
}

Result Store::flush() {
    Call c(fence_);
    return c.finish(vt().flush(instance_, c.ctx()));
}

Result Store::health() {
    Call c(fence_);
    return c.finish(vt().health(instance_, c.ctx()));
}

Result Store::recover() {
    Call c(fence_);
    return c.finish(vt().recover(instance_, c.out(), c.ctx()));
}

}  // namespace macp::contract
