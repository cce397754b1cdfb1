// Header-only C++17 helpers shared by the storage and auth plugin SDKs.
// A plugin author includes <macp/plugin/sdk/storage.hpp> or <macp/plugin/sdk/auth.hpp>, writes a
// class and ends with one export macro. Exceptions thrown by that class never cross the C
// boundary: the trampolines below turn them into a macp_status plus message.
#ifndef MACP_PLUGIN_SDK_COMMON_HPP
#define MACP_PLUGIN_SDK_COMMON_HPP

#include <cstdint>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "macp/plugin/abi.h"

namespace macp::sdk {

// Throw from plugin code to fail the current call with a specific status and message.
class Error : public std::exception {
public:
    Error(macp_status status, std::string message) : status_(status), message_(std::move(message)) {}
    [[nodiscard]] macp_status status() const noexcept { return status_; }
    [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

private:
    macp_status status_;
    std::string message_;
};

// The resolved configuration handed to the plugin's constructor.
class Config {
public:
    Config() = default;
    Config(const macp_config_pair* pairs, size_t count) {
        for (size_t i = 0; i < count; ++i) {
            if (pairs[i].key != nullptr && pairs[i].value != nullptr) {
                values_[pairs[i].key] = pairs[i].value;
            }
        }
    }
    [[nodiscard]] std::optional<std::string> get(const std::string& key) const {
        auto it = values_.find(key);
        if (it == values_.end()) return std::nullopt;
        return it->second;
    }
    [[nodiscard]] std::string get_or(const std::string& key, std::string fallback) const {
        auto v = get(key);
        return v ? *v : std::move(fallback);
    }
    [[nodiscard]] bool has(const std::string& key) const { return values_.count(key) != 0; }

private:
    std::map<std::string, std::string> values_;
};

// Receives multi-item results; copies on every call (see abi.h OWNERSHIP).
class Emitter {
public:
    explicit Emitter(const macp_emitter* e) : e_(e) {}
    void operator()(std::string_view bytes) const {
        e_->emit(e_->ctx, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }

private:
    const macp_emitter* e_;
};

// Message channel for the current call. Plugins normally throw Error instead; `note` is for
// OK results that still carry information (health).
class CallContext {
public:
    explicit CallContext(const macp_call_context* c) : c_(c) {}
    void note(std::string_view message) const {
        if (c_ != nullptr && c_->error.set_error != nullptr) {
            c_->error.set_error(c_->error.ctx, message.data(), message.size());
        }
    }
    [[nodiscard]] int64_t deadline_unix_ms() const { return c_ != nullptr ? c_->deadline_unix_ms : 0; }
    [[nodiscard]] uint64_t fencing_token() const { return c_ != nullptr ? c_->fencing_token : 0; }

private:
    const macp_call_context* c_;
};

namespace detail {

// Runs `fn`, mapping every exception to a status and a message reported through `ctx`.
template <class Fn>
macp_status guarded(const macp_call_context* ctx, Fn&& fn) noexcept {
    CallContext cc(ctx);
    try {
        return std::forward<Fn>(fn)();
    } catch (const Error& e) {
        cc.note(e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        cc.note("out of memory");
        return MACP_STATUS_INTERNAL;
    } catch (const std::exception& e) {
        cc.note(e.what());
        return MACP_STATUS_INTERNAL;
    } catch (...) {
        cc.note("unknown exception in plugin");
        return MACP_STATUS_INTERNAL;
    }
}

template <class T>
macp_status create_instance(const macp_config_pair* config, size_t count, void** out,
                            const macp_call_context* ctx) noexcept {
    return guarded(ctx, [&]() -> macp_status {
        Config cfg(config, count);
        // The instance is owned by the host from here until it calls destroy().
        // bad_alloc is caught by guarded() above and reported as an error.
        *out = static_cast<void*>(
            new T(cfg));  // NOLINT(cppcoreguidelines-owning-memory,bugprone-unhandled-exception-at-new)
        return MACP_STATUS_OK;
    });
}

template <class T>
void destroy_instance(void* instance) noexcept {
    delete static_cast<T*>(instance);  // NOLINT(cppcoreguidelines-owning-memory)
}

}  // namespace detail

constexpr macp_config_key config_key(const char* env_name, const char* default_value, const char* help,
                                     uint32_t flags = 0) {
    return macp_config_key{sizeof(macp_config_key), env_name, default_value, help, flags};
}

}  // namespace macp::sdk

#endif  // MACP_PLUGIN_SDK_COMMON_HPP
