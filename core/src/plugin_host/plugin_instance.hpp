// One live plugin instance: the host callbacks a call needs (error sink, emitter), the executor
// every call runs on, and the lifetime rule "destroy the instance before the library".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "macp/plugin/abi.h"
#include "plugin_host/executor.hpp"
#include "plugin_host/loaded_plugin.hpp"
#include "plugin_host/plugin_config.hpp"
#include "util/result.hpp"

namespace macp::plugin_host {

// "OK", "IO_ERROR", "AUTH_NOT_MINE", ... or "status N" for codes this host does not know.
std::string status_name(int32_t status);

// The runtime's logger as a plugin sees it (abi.h macp_host_logger): lines go to spdlog, tagged
// with the plugin's name. Lives in the PluginInstance, so it outlives the plugin instance.
class HostLogger {
public:
    explicit HostLogger(std::string plugin_name);
    HostLogger(const HostLogger&) = delete;
    HostLogger& operator=(const HostLogger&) = delete;
    [[nodiscard]] const macp_host_logger* get() const { return &logger_; }

private:
    static void log(void* ctx, int32_t level, const char* message, std::size_t len) noexcept;

    std::string name_;
    macp_host_logger logger_{};
};

// The macp_call_context passed to one plugin call. Its error sink copies the plugin's message
// (abi.h OWNERSHIP) and never lets an exception escape into plugin code. Not movable: the C
// struct points back at this object.
class HostCallContext {
public:
    explicit HostCallContext(const macp_host_logger* logger);
    HostCallContext(const HostCallContext&) = delete;
    HostCallContext& operator=(const HostCallContext&) = delete;

    [[nodiscard]] const macp_call_context* get() const { return &ctx_; }
    // The token of the session this call writes (storage.h FENCING); 0 = unfenced.
    void set_fencing_token(uint64_t token) { ctx_.fencing_token = token; }
    // The last message the plugin reported (empty if none).
    [[nodiscard]] const std::string& message() const { return message_; }

private:
    static void set_error(void* ctx, const char* message, std::size_t len) noexcept;

    macp_error_sink sink_{};
    macp_call_context ctx_{};
    std::string message_;
};

// A macp_emitter that copies every emitted item. Copy failures (out of memory) are recorded
// instead of thrown, because the callback runs inside plugin code.
class Collector {
public:
    Collector();
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    [[nodiscard]] const macp_emitter* get() const { return &emitter_; }
    [[nodiscard]] std::vector<std::string>& items() { return items_; }
    [[nodiscard]] bool failed() const { return failed_; }

private:
    static void emit(void* ctx, const uint8_t* data, std::size_t len) noexcept;

    macp_emitter emitter_{};
    std::vector<std::string> items_;
    bool failed_ = false;
};

struct ExecutorOptions {
    // 0: calls run on the caller's thread. Only for the built-in memory backend, whose calls
    // never block; a plugin from outside always gets threads (abi.h: calls may block).
    std::size_t threads = 4;
    std::size_t queue_capacity = 256;
};

class PluginInstance {
    struct Key {
        explicit Key() = default;
    };  // passkey: construction only through create()

public:
    using CreateFn = macp_status (*)(const macp_config_pair* const*, std::size_t, void**, const macp_call_context*);
    using DestroyFn = void (*)(void*);

    // Starts the executor and runs the plugin's create() on it. On failure the message names
    // the plugin and carries the plugin's own error text.
    static Result<std::unique_ptr<PluginInstance>, std::string> create(std::shared_ptr<LoadedPlugin> plugin,
                                                                       CreateFn create_fn, DestroyFn destroy_fn,
                                                                       const ConfigPairs& config,
                                                                       ExecutorOptions options);

    PluginInstance(Key, std::shared_ptr<LoadedPlugin> plugin, DestroyFn destroy_fn, ExecutorOptions options);
    // destroy() runs on the executor after every other call has returned; then the threads stop;
    // only then is our reference to the library dropped (member order below).
    ~PluginInstance();
    PluginInstance(const PluginInstance&) = delete;
    PluginInstance& operator=(const PluginInstance&) = delete;

    // Runs fn(instance) on the executor, holding the serializing lock when the plugin is not
    // flagged thread-safe. Exceptions thrown by fn (host-side, e.g. bad_alloc) reach the caller.
    template <class F>
    std::invoke_result_t<F&, void*> call(F&& fn) {
        return executor_.run([this, &fn]() {
            std::unique_lock<std::mutex> lock(serialize_mutex_, std::defer_lock);
            if (serialize_) lock.lock();
            return fn(instance_);
        });
    }

    // Runs host code on the executor without the serializing lock: its own plugin calls (made
    // through call(), inline on that thread) then cost no further thread hand-off each.
    template <class F>
    std::invoke_result_t<F&> on_executor(F&& fn) {
        return executor_.run(fn);
    }

    // Runs fn(instance) on the calling thread, outside the executor and the serializing lock: only
    // for operations the ABI lets the host call from any thread (publish_events).
    template <class F>
    std::invoke_result_t<F&, void*> call_here(F&& fn) {
        return fn(instance_);
    }

    [[nodiscard]] const LoadedPlugin& plugin() const { return *plugin_; }
    [[nodiscard]] bool runs_inline() const { return executor_.thread_count() == 0; }
    // Valid until this object is destroyed, i.e. after the plugin's destroy() has returned.
    [[nodiscard]] const macp_host_logger* logger() const { return logger_.get(); }

private:
    std::shared_ptr<LoadedPlugin> plugin_;  // declared first so it is released last
    HostLogger logger_;                     // outlives the plugin instance (destroyed after it)
    DestroyFn destroy_;
    bool serialize_;
    std::mutex serialize_mutex_;
    BoundedExecutor executor_;
    void* instance_ = nullptr;  // owned by the plugin; released through destroy_
};

}  // namespace macp::plugin_host
