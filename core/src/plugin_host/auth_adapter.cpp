#include "plugin_host/auth_adapter.hpp"

#include <exception>
#include <utility>
#include <vector>

namespace macp::plugin_host {
namespace {

// Receives the identity through the macp_identity_sink callbacks. The callbacks run inside
// plugin code, so they catch everything and only record that copying failed.
struct IdentitySink {
    auth::Identity identity;
    bool sender_set = false;
    bool failed = false;

    macp_identity_sink sink() {
        macp_identity_sink s{};
        s.struct_size = sizeof(macp_identity_sink);
        s.ctx = this;
        s.set_sender = &set_sender;
        s.set_flags = &set_flags;
        s.restrict_modes = &restrict_modes;
        s.add_allowed_mode = &add_allowed_mode;
        s.set_max_open_sessions = &set_max_open_sessions;
        return s;
    }

    static IdentitySink& self(void* ctx) { return *static_cast<IdentitySink*>(ctx); }

    static void set_sender(void* ctx, const char* sender, size_t len) noexcept {
        auto& s = self(ctx);
        try {
            s.identity.sender.assign(sender != nullptr ? sender : "", sender != nullptr ? len : 0);
            s.sender_set = true;
        } catch (...) {
            s.failed = true;
        }
    }
    static void set_flags(void* ctx, uint32_t flags) noexcept {
        auto& id = self(ctx).identity;
        id.can_start_sessions = (flags & MACP_IDENTITY_CAN_START_SESSIONS) != 0;
        id.can_manage_mode_registry = (flags & MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY) != 0;
        id.is_observer = (flags & MACP_IDENTITY_IS_OBSERVER) != 0;
    }
    static void restrict_modes(void* ctx) noexcept {
        auto& s = self(ctx);
        try {
            s.identity.allowed_modes.emplace();  // restricted, nothing allowed yet
        } catch (...) {
            s.failed = true;
        }
    }
    static void add_allowed_mode(void* ctx, const char* mode, size_t len) noexcept {
        auto& s = self(ctx);
        if (mode == nullptr) return;
        try {
            // Adding a mode without restrict_modes() first still means "only these modes": the
            // safe reading of a restriction the plugin clearly intended.
            if (!s.identity.allowed_modes) s.identity.allowed_modes.emplace();
            s.identity.allowed_modes->emplace(mode, len);
        } catch (...) {
            s.failed = true;
        }
    }
    static void set_max_open_sessions(void* ctx, int64_t limit) noexcept {
        auto& id = self(ctx).identity;
        if (limit < 0) {
            id.max_open_sessions.reset();
        } else {
            id.max_open_sessions = limit;
        }
    }
};

auth::Resolution rejected(std::string detail) {
    auth::Resolution r;
    r.outcome = auth::ResolveOutcome::Rejected;
    r.detail = std::move(detail);
    return r;
}

}  // namespace

Result<std::unique_ptr<AuthAdapter>, std::string> AuthAdapter::create(std::shared_ptr<LoadedPlugin> plugin,
                                                                      const ConfigPairs& config,
                                                                      ExecutorOptions options) {
    const auto vt = copy_vtable<macp_auth_vtable>(plugin->descriptor().vtable);
    auto instance = PluginInstance::create(std::move(plugin), vt.create, vt.destroy, config, options);
    if (!instance) return fail(std::move(instance.error()));
    return std::make_unique<AuthAdapter>(Key{}, vt, std::move(instance.value()));
}

AuthAdapter::AuthAdapter(Key, const macp_auth_vtable& vtable, std::unique_ptr<PluginInstance> instance)
    : vt_(vtable), instance_(std::move(instance)) {}

std::string AuthAdapter::name() const {
    return instance_->plugin().name();
}

auth::Resolution AuthAdapter::resolve(const auth::Metadata& metadata) {
    const std::string who = "auth resolver " + name();
    try {
        // Borrowed views into `metadata`, valid until the call returns (we block on it).
        std::vector<macp_metadata_entry> entries;
        std::vector<const macp_metadata_entry*> pointers;
        entries.reserve(metadata.size());
        pointers.reserve(metadata.size());
        for (const auto& [key, value] : metadata) {
            entries.push_back({sizeof(macp_metadata_entry), key.data(), key.size(), value.data(), value.size()});
        }
        for (const auto& e : entries) pointers.push_back(&e);
        IdentitySink sink;
        const macp_identity_sink raw_sink = sink.sink();
        HostCallContext cc(instance_->logger());
        const macp_status status = instance_->call(
            [&](void* inst) { return vt_.resolve(inst, pointers.data(), pointers.size(), &raw_sink, cc.get()); });
        const auto with_message = [&](const std::string& fallback) {
            return cc.message().empty() ? fallback : cc.message();
        };

        switch (status) {
            case MACP_STATUS_OK: {
                if (sink.failed) return rejected(who + ": out of memory while copying the identity");
                if (!sink.sender_set || sink.identity.sender.empty()) {
                    return rejected(who + " returned OK without a sender; treating the credential as rejected");
                }
                auth::Resolution r;
                r.outcome = auth::ResolveOutcome::Authenticated;
                r.identity = std::move(sink.identity);
                return r;
            }
            case MACP_STATUS_AUTH_NOT_MINE: return auth::Resolution{};  // default outcome is NotMine
            case MACP_STATUS_AUTH_INVALID_CREDENTIAL: return rejected(who + ": " + with_message("invalid credential"));
            case MACP_STATUS_AUTH_EXPIRED: return rejected(who + ": " + with_message("credential expired"));
            case MACP_STATUS_AUTH_MALFORMED: return rejected(who + ": " + with_message("malformed credential"));
            default:
                if (cc.message().empty()) {
                    return rejected(who + ": resolver failure: the plugin returned " + status_name(status));
                }
                return rejected(who + ": resolver failure: " + cc.message() + " (" + status_name(status) + ")");
        }
    } catch (const std::exception& e) {
        return rejected(who + ": resolver failure: host error: " + e.what());
    } catch (...) {
        return rejected(who + ": resolver failure: unknown host error");
    }
}

}  // namespace macp::plugin_host
