// Header-only C++17 SDK for authentication resolver plugins.
//
// Write a class with:
//   explicit T(const macp::sdk::Config&);
//   std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata& md);
//       nullopt                      -> MACP_STATUS_AUTH_NOT_MINE (next resolver is asked)
//       an Identity                  -> authenticated
//       throw macp::sdk::Error(MACP_STATUS_AUTH_INVALID_CREDENTIAL, "why") -> rejected
// and any of these optional members, each listed in `macp_optional_ops` (see ops.hpp):
//   op::health        std::string health();                                // readiness note
//   op::check_config  static void check_config(const macp::sdk::Config&); // no side effects
// `resolve` and `health` may take a last `const macp::sdk::CallContext&` parameter.
// Then export it once (KEYS: a static macp_config_key array, or nullptr for none):
//   MACP_AUTH_PLUGIN(T, "hmac", "1.0.0", "one line", MACP_PLUGIN_FLAG_THREAD_SAFE, KEYS)
#ifndef MACP_PLUGIN_SDK_AUTH_HPP
#define MACP_PLUGIN_SDK_AUTH_HPP

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "macp/plugin/auth.h"
#include "macp/plugin/sdk/common.hpp"
#include "macp/plugin/sdk/ops.hpp"

namespace macp::sdk {

struct Identity {
    std::string sender;
    bool can_start_sessions = true;
    bool can_manage_mode_registry = false;
    bool is_observer = false;
    std::optional<std::vector<std::string>> allowed_modes;  // nullopt = every mode
    std::optional<int64_t> max_open_sessions;               // nullopt = unlimited
};

// Read-only view of the call's metadata (keys are lower-case).
class Metadata {
public:
    Metadata(const macp_metadata_entry* const* entries, size_t count) : e_(entries), n_(count) {}
    // First value for `key`, if any.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view key) const {
        for (size_t i = 0; i < n_; ++i) {
            const macp_metadata_entry* e = e_[i];
            if (e != nullptr && std::string_view(e->key, e->key_len) == key) {
                return std::string_view(e->value, e->value_len);
            }
        }
        return std::nullopt;
    }
    // The token of `authorization: Bearer <token>` (exact prefix, capital B, one space).
    [[nodiscard]] std::optional<std::string_view> bearer() const {
        constexpr std::string_view prefix = "Bearer ";
        auto v = get("authorization");
        if (!v || v->substr(0, prefix.size()) != prefix) return std::nullopt;
        return v->substr(prefix.size());
    }

private:
    const macp_metadata_entry* const* e_;
    size_t n_;
};

namespace detail {

MACP_SDK_OP_TRAITS(resolve, std::declval<const Metadata&>())

template <class T>
struct AuthTrampolines {
    static macp_status resolve(void* inst, const macp_metadata_entry* const* md, size_t n,
                               const macp_identity_sink* out, const macp_call_context* c) noexcept {
        return guarded(c, [&]() -> macp_status {
            const CallContext cc(c);
            const Metadata metadata(md, n);
            std::optional<Identity> id = MACP_SDK_INVOKE(T, *static_cast<T*>(inst), resolve, cc, metadata);
            if (!id) return MACP_STATUS_AUTH_NOT_MINE;
            if (id->sender.empty()) {
                throw Error(MACP_STATUS_INTERNAL, "resolver produced an identity without sender");
            }
            out->set_sender(out->ctx, id->sender.data(), id->sender.size());
            uint32_t flags = 0;
            if (id->can_start_sessions) flags |= MACP_IDENTITY_CAN_START_SESSIONS;
            if (id->can_manage_mode_registry) flags |= MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY;
            if (id->is_observer) flags |= MACP_IDENTITY_IS_OBSERVER;
            out->set_flags(out->ctx, flags);
            if (id->allowed_modes) {
                out->restrict_modes(out->ctx);
                for (const auto& m : *id->allowed_modes) out->add_allowed_mode(out->ctx, m.data(), m.size());
            }
            out->set_max_open_sessions(out->ctx, id->max_open_sessions ? *id->max_open_sessions : -1);
            return MACP_STATUS_OK;
        });
    }
    static macp_status health(void* inst, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            const CallContext cc(c);
            if constexpr (health_ctx<T>::value) {
                cc.note(std::string(static_cast<T*>(inst)->health(cc)));
            } else {
                cc.note(std::string(static_cast<T*>(inst)->health()));
            }
            return MACP_STATUS_OK;
        });
    }
};

}  // namespace detail

template <class T>
constexpr macp_auth_vtable make_auth_vtable() {
    using namespace detail;  // NOLINT(google-build-using-namespace): the trait names read as a table
    static_assert(std::is_constructible_v<T, const Config&>,
                  "macp auth plugin: the class must be constructible from `const macp::sdk::Config&`");
    static_assert(resolve_plain<T>::value || resolve_ctx<T>::value,
                  "macp auth plugin: the class must have the required member "
                  "`std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata&)` (optionally with a "
                  "trailing const macp::sdk::CallContext&)");
    static_assert((declared_ops<T>::value & ~(op::health | op::check_config)) == 0,
                  "macp auth plugin: macp_optional_ops lists an operation auth plugins do not have "
                  "(only op::health and op::check_config)");
    MACP_SDK_CHECK_OPTIONAL(health, "std::string health()");
    static_assert(!declares<T>(op::health) || health_returns_string<T>::value,
                  "macp plugin: health() must return std::string (the readiness note)");
    MACP_SDK_CHECK_CHECK_CONFIG();

    macp_auth_vtable v{};
    v.struct_size = sizeof(macp_auth_vtable);
    v.create = &create_instance<T>;
    v.destroy = &destroy_instance<T>;
    v.resolve = &AuthTrampolines<T>::resolve;
    if constexpr (declares<T>(op::health)) v.health = &AuthTrampolines<T>::health;
    if constexpr (declares<T>(op::check_config)) v.check_config = &check_config<T>;
    return v;
}

}  // namespace macp::sdk

// Exports `macp_plugin_entry_v1` for auth plugin class T (KEYS: array or nullptr).
#define MACP_AUTH_PLUGIN(T, NAME, VERSION, DESCRIPTION, FLAGS, KEYS)                                                 \
    MACP_SDK_EXPORT_PLUGIN(macp_auth_vtable, macp::sdk::make_auth_vtable<T>(), MACP_PLUGIN_KIND_AUTH, NAME, VERSION, \
                           DESCRIPTION, FLAGS, KEYS)

#endif  // MACP_PLUGIN_SDK_AUTH_HPP
