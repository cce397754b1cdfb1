// Header-only C++17 SDK for authentication resolver plugins.
//
// Write a class with:
//   explicit T(const macp::sdk::Config&);
//   std::optional<macp::sdk::Identity> resolve(const macp::sdk::Metadata& md);
//       nullopt                      -> MACP_STATUS_AUTH_NOT_MINE (next resolver is asked)
//       an Identity                  -> authenticated
//       throw macp::sdk::Error(MACP_STATUS_AUTH_INVALID_CREDENTIAL, "why") -> rejected
// optionally:
//   std::string health();            // returns a readiness note
// then export it once:
//   MACP_AUTH_PLUGIN(T, "static", "1.0.0", "one line", MACP_PLUGIN_FLAG_THREAD_SAFE, keys_array)
#ifndef MACP_PLUGIN_SDK_AUTH_HPP
#define MACP_PLUGIN_SDK_AUTH_HPP

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "macp/plugin/auth.h"
#include "macp/plugin/sdk/common.hpp"

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
    Metadata(const macp_metadata_entry* entries, size_t count) : e_(entries), n_(count) {}
    // First value for `key`, if any.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view key) const {
        for (size_t i = 0; i < n_; ++i) {
            if (std::string_view(e_[i].key, e_[i].key_len) == key) {
                return std::string_view(e_[i].value, e_[i].value_len);
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
    const macp_metadata_entry* e_;
    size_t n_;
};

namespace detail {

template <class T, class = void>
struct has_auth_health : std::false_type {};
template <class T>
struct has_auth_health<T, std::void_t<decltype(std::string(std::declval<T&>().health()))>> : std::true_type {};

template <class T>
struct AuthTrampolines {
    static macp_status resolve(void* inst, const macp_metadata_entry* md, size_t n, const macp_identity_sink* out,
                               const macp_call_context* c) noexcept {
        return guarded(c, [&]() -> macp_status {
            auto id = static_cast<T*>(inst)->resolve(Metadata(md, n));
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
            CallContext(c).note(static_cast<T*>(inst)->health());
            return MACP_STATUS_OK;
        });
    }
};

}  // namespace detail

template <class T>
constexpr macp_auth_vtable make_auth_vtable() {
    macp_auth_vtable v{};
    v.struct_size = sizeof(macp_auth_vtable);
    v.create = &detail::create_instance<T>;
    v.destroy = &detail::destroy_instance<T>;
    v.resolve = &detail::AuthTrampolines<T>::resolve;
    if constexpr (detail::has_auth_health<T>::value) v.health = &detail::AuthTrampolines<T>::health;
    return v;
}

}  // namespace macp::sdk

#define MACP_AUTH_PLUGIN(T, NAME, VERSION, DESCRIPTION, FLAGS, KEYS)                         \
    extern "C" MACP_PLUGIN_EXPORT const macp_plugin_descriptor* macp_plugin_entry_v1(void) { \
        static const macp_auth_vtable vtable = macp::sdk::make_auth_vtable<T>();             \
        static const macp_plugin_descriptor descriptor = {sizeof(macp_plugin_descriptor),    \
                                                          MACP_PLUGIN_ABI_MAJOR,             \
                                                          MACP_PLUGIN_ABI_MINOR,             \
                                                          MACP_PLUGIN_KIND_AUTH,             \
                                                          (FLAGS),                           \
                                                          (NAME),                            \
                                                          (VERSION),                         \
                                                          (DESCRIPTION),                     \
                                                          (KEYS),                            \
                                                          sizeof(KEYS) / sizeof((KEYS)[0]),  \
                                                          &vtable};                          \
        return &descriptor;                                                                  \
    }

#endif  // MACP_PLUGIN_SDK_AUTH_HPP
