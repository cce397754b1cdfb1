// Header-only C++17 helpers shared by the storage and auth plugin SDKs.
// A plugin author includes <macp/plugin/sdk/storage.hpp> or <macp/plugin/sdk/auth.hpp>, writes a
// class and ends with one export macro. Exceptions thrown by that class never cross the C
// boundary: the trampolines below turn them into a macp_status plus message.
//
// Every member function the SDK calls may take one extra, last parameter
// `const macp::sdk::CallContext&` to see the call's deadline and fencing token.
#ifndef MACP_PLUGIN_SDK_COMMON_HPP
#define MACP_PLUGIN_SDK_COMMON_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
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

// The runtime's logger (abi.h macp_host_logger). Cheap to copy; valid from the plugin's
// constructor until its destructor has returned; usable from any thread. A default-constructed
// Logger (plugin classes used directly in unit tests) drops every line.
class Logger {
public:
    Logger() = default;
    explicit Logger(const macp_host_logger* logger) : l_(logger) {}
    void log(int32_t level, std::string_view message) const noexcept {
        if (l_ != nullptr && l_->log != nullptr) l_->log(l_->ctx, level, message.data(), message.size());
    }
    void debug(std::string_view m) const noexcept { log(MACP_LOG_DEBUG, m); }
    void info(std::string_view m) const noexcept { log(MACP_LOG_INFO, m); }
    void warn(std::string_view m) const noexcept { log(MACP_LOG_WARN, m); }
    void error(std::string_view m) const noexcept { log(MACP_LOG_ERROR, m); }

private:
    const macp_host_logger* l_ = nullptr;
};

// The resolved configuration handed to the plugin's constructor (and static check_config).
class Config {
public:
    Config() = default;
    // For unit tests of plugin classes: plain values, no host logger.
    explicit Config(std::map<std::string, std::string> values) : values_(std::move(values)) {}
    Config(const macp_config_pair* const* pairs, size_t count, const macp_host_logger* logger = nullptr)
        : logger_(logger) {
        for (size_t i = 0; i < count; ++i) {
            const macp_config_pair* p = pairs[i];
            if (p != nullptr && p->key != nullptr && p->value != nullptr) values_[p->key] = p->value;
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
    // The host logger; keep a copy for the instance's lifetime.
    [[nodiscard]] Logger logger() const { return logger_; }

private:
    std::map<std::string, std::string> values_;
    Logger logger_;
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

// The current call's context: deadline, fencing token, message channel and logger. Plugins
// normally throw Error instead of calling `note`; `note` is for OK results that still carry
// information (health).
class CallContext {
public:
    explicit CallContext(const macp_call_context* c) : c_(c) {}
    void note(std::string_view message) const noexcept {
        if (c_ != nullptr && c_->error != nullptr && c_->error->set_error != nullptr) {
            c_->error->set_error(c_->error->ctx, message.data(), message.size());
        }
    }
    // 0 = no deadline.
    [[nodiscard]] int64_t deadline_unix_ms() const { return c_ != nullptr ? c_->deadline_unix_ms : 0; }
    // True once the deadline has passed (never without one).
    [[nodiscard]] bool deadline_passed() const {
        const int64_t d = deadline_unix_ms();
        if (d == 0) return false;
        const auto now =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        return now >= d;
    }
    // 0 = none; otherwise a write whose token is not the session's current one is refused
    // (MACP_STATUS_FENCED, storage.h "FENCING").
    [[nodiscard]] uint64_t fencing_token() const { return c_ != nullptr ? c_->fencing_token : 0; }
    [[nodiscard]] Logger logger() const { return Logger(c_ != nullptr ? c_->logger : nullptr); }

private:
    const macp_call_context* c_;
};

namespace detail {

// Runs `fn`, mapping every exception to a status and a message reported through `ctx`.
template <class Fn>
macp_status guarded(const macp_call_context* ctx, Fn&& fn) noexcept {
    const CallContext cc(ctx);
    try {
        return std::forward<Fn>(fn)();
    } catch (const Error& e) {
        cc.note(e.what());
        // OK/PARTIAL from an exception would vouch for writes the plugin never finished.
        return e.status() == MACP_STATUS_OK || e.status() == MACP_STATUS_PARTIAL ? MACP_STATUS_INTERNAL : e.status();
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

// The optional operations a plugin class lists in `static constexpr std::uint32_t
// macp_optional_ops` (0 when the member is absent).
template <class T, class = void>
struct declared_ops : std::integral_constant<std::uint32_t, 0> {};
template <class T>
struct declared_ops<T, std::void_t<decltype(T::macp_optional_ops)>>
    : std::integral_constant<std::uint32_t, static_cast<std::uint32_t>(T::macp_optional_ops)> {};

template <class T>
Config make_config(const macp_config_pair* const* config, size_t count, const macp_call_context* ctx) {
    return Config(config, count, ctx != nullptr ? ctx->logger : nullptr);
}

template <class T>
macp_status create_instance(const macp_config_pair* const* config, size_t count, void** out,
                            const macp_call_context* ctx) noexcept {
    return guarded(ctx, [&]() -> macp_status {
        const Config cfg = make_config<T>(config, count, ctx);
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

// `static void check_config(const macp::sdk::Config&)` (throws Error to refuse).
template <class T, class = void>
struct has_check_config : std::false_type {};
template <class T>
struct has_check_config<T, std::void_t<decltype(T::check_config(std::declval<const Config&>()))>> : std::true_type {};

template <class T>
macp_status check_config(const macp_config_pair* const* config, size_t count, const macp_call_context* ctx) noexcept {
    return guarded(ctx, [&]() -> macp_status {
        T::check_config(make_config<T>(config, count, ctx));
        return MACP_STATUS_OK;
    });
}

// Key tables for the export macros: a static array of macp_config_key, or nullptr for none.
template <size_t N>
constexpr const macp_config_key* keys_data(const macp_config_key (&keys)[N]) {
    return keys;
}
constexpr const macp_config_key* keys_data(std::nullptr_t) {
    return nullptr;
}
template <size_t N>
constexpr size_t keys_count(const macp_config_key (&)[N]) {
    return N;
}
constexpr size_t keys_count(std::nullptr_t) {
    return 0;
}

}  // namespace detail

constexpr macp_config_key config_key(const char* env_name, const char* default_value, const char* help,
                                     uint32_t flags = 0) {
    return macp_config_key{sizeof(macp_config_key), env_name, default_value, help, flags};
}

}  // namespace macp::sdk

// The lowest host minor a plugin needs. Every operation and member the SDK uses is "Since: 1.0",
// so this is 0; a plugin that relies on a later minor's behaviour defines it before including.
#ifndef MACP_PLUGIN_REQUIRED_ABI_MINOR
#define MACP_PLUGIN_REQUIRED_ABI_MINOR MACP_PLUGIN_ABI_MINOR_BASELINE
#endif

// The entry point both export macros expand to: one static vtable and one static descriptor.
#define MACP_SDK_EXPORT_PLUGIN(VTABLE_TYPE, MAKE_VTABLE, KIND, NAME, VERSION, DESCRIPTION, FLAGS, KEYS) \
    extern "C" MACP_PLUGIN_EXPORT const macp_plugin_descriptor* macp_plugin_entry_v1(void) {            \
        static const VTABLE_TYPE vtable = MAKE_VTABLE;                                                  \
        static const macp_plugin_descriptor descriptor = {sizeof(macp_plugin_descriptor),               \
                                                          MACP_PLUGIN_ABI_MAJOR,                        \
                                                          MACP_PLUGIN_REQUIRED_ABI_MINOR,               \
                                                          (KIND),                                       \
                                                          (FLAGS),                                      \
                                                          (NAME),                                       \
                                                          (VERSION),                                    \
                                                          (DESCRIPTION),                                \
                                                          macp::sdk::detail::keys_data(KEYS),           \
                                                          macp::sdk::detail::keys_count(KEYS),          \
                                                          &vtable};                                     \
        return &descriptor;                                                                             \
    }

#endif  // MACP_PLUGIN_SDK_COMMON_HPP
