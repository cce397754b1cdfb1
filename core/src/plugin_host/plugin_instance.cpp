#include "plugin_host/plugin_instance.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <string_view>
#include <utility>

namespace macp::plugin_host {

std::string status_name(int32_t status) {
    switch (status) {
        case MACP_STATUS_OK: return "OK";
        case MACP_STATUS_NOT_FOUND: return "NOT_FOUND";
        case MACP_STATUS_UNSUPPORTED: return "UNSUPPORTED";
        case MACP_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
        case MACP_STATUS_IO_ERROR: return "IO_ERROR";
        case MACP_STATUS_CORRUPT: return "CORRUPT";
        case MACP_STATUS_UNAVAILABLE: return "UNAVAILABLE";
        case MACP_STATUS_TIMEOUT: return "TIMEOUT";
        case MACP_STATUS_INTERNAL: return "INTERNAL";
        case MACP_STATUS_PARTIAL: return "PARTIAL";
        case MACP_STATUS_FENCED: return "FENCED";
        case MACP_STATUS_AUTH_NOT_MINE: return "AUTH_NOT_MINE";
        case MACP_STATUS_AUTH_INVALID_CREDENTIAL: return "AUTH_INVALID_CREDENTIAL";
        case MACP_STATUS_AUTH_EXPIRED: return "AUTH_EXPIRED";
        case MACP_STATUS_AUTH_MALFORMED: return "AUTH_MALFORMED";
        default: return "status " + std::to_string(status);
    }
}

HostLogger::HostLogger(std::string plugin_name) : name_(std::move(plugin_name)) {
    logger_.struct_size = sizeof(macp_host_logger);
    logger_.ctx = this;
    logger_.log = &HostLogger::log;
}

void HostLogger::log(void* ctx, int32_t level, const char* message, std::size_t len) noexcept {
    const auto* self = static_cast<const HostLogger*>(ctx);
    spdlog::level::level_enum lvl = spdlog::level::err;
    switch (level) {
        case MACP_LOG_TRACE: lvl = spdlog::level::trace; break;
        case MACP_LOG_DEBUG: lvl = spdlog::level::debug; break;
        case MACP_LOG_INFO: lvl = spdlog::level::info; break;
        case MACP_LOG_WARN: lvl = spdlog::level::warn; break;
        default: lvl = spdlog::level::err; break;  // MACP_LOG_ERROR and unknown levels
    }
    try {
        if (!spdlog::should_log(lvl)) return;
        const std::string_view text(message != nullptr ? message : "", message != nullptr ? len : 0);
        spdlog::log(lvl, "plugin {}: {}", self->name_, text);
    } catch (...) {
        // Logging must never fail a plugin call (abi.h: log never fails).
    }
}

HostCallContext::HostCallContext(const macp_host_logger* logger) {
    sink_.struct_size = sizeof(macp_error_sink);
    sink_.ctx = this;
    sink_.set_error = &HostCallContext::set_error;
    ctx_.struct_size = sizeof(macp_call_context);
    ctx_.error = &sink_;
    ctx_.deadline_unix_ms = 0;  // no deadline yet: the kernel has none to pass down
    ctx_.fencing_token = 0;     // set by the multi-process lease protocol (scale-out)
    ctx_.logger = logger;
}

void HostCallContext::set_error(void* ctx, const char* message, std::size_t len) noexcept {
    auto* self = static_cast<HostCallContext*>(ctx);
    try {
        self->message_.assign(message != nullptr ? message : "", message != nullptr ? len : 0);
    } catch (...) {
        // Out of memory while copying a diagnostic: keep the status, lose the text.
        self->message_.clear();
    }
}

Collector::Collector() {
    emitter_.struct_size = sizeof(macp_emitter);
    emitter_.ctx = this;
    emitter_.emit = &Collector::emit;
}

void Collector::emit(void* ctx, const uint8_t* data, std::size_t len) noexcept {
    auto* self = static_cast<Collector*>(ctx);
    if (self->failed_) return;
    try {
        if (data == nullptr || len == 0) {
            self->items_.emplace_back();
        } else {
            self->items_.emplace_back(reinterpret_cast<const char*>(data), len);
        }
    } catch (...) {
        // Cannot throw through the plugin's C frames; the adapter turns this into INTERNAL.
        self->failed_ = true;
    }
}

PluginInstance::PluginInstance(Key, std::shared_ptr<LoadedPlugin> plugin, DestroyFn destroy_fn, ExecutorOptions options)
    : plugin_(std::move(plugin)),
      logger_(plugin_->name()),
      destroy_(destroy_fn),
      serialize_(!plugin_->thread_safe()),
      executor_("macp-" + plugin_->name(), options.threads, options.queue_capacity) {}

PluginInstance::~PluginInstance() {
    if (instance_ == nullptr) return;
    void* instance = instance_;
    try {
        executor_.run([this, instance] {
            std::lock_guard lock(serialize_mutex_);
            destroy_(instance);
        });
    } catch (...) {
        // The executor could not take the job (e.g. out of memory). Destroying here, off the
        // executor, is still better than leaking the instance and its files or connections.
        std::lock_guard lock(serialize_mutex_);
        destroy_(instance);
    }
}

Result<std::unique_ptr<PluginInstance>, std::string> PluginInstance::create(std::shared_ptr<LoadedPlugin> plugin,
                                                                            CreateFn create_fn, DestroyFn destroy_fn,
                                                                            const ConfigPairs& config,
                                                                            ExecutorOptions options) {
    const std::string label = plugin->label();
    try {
        auto self = std::make_unique<PluginInstance>(Key{}, std::move(plugin), destroy_fn, options);
        // Borrowed views into `config`, valid for the duration of create() (abi.h OWNERSHIP).
        const ConfigView raw(config);
        HostCallContext cc(self->logger());
        void* out = nullptr;
        const macp_status status = self->call([&](void*) { return create_fn(raw.data(), raw.size(), &out, cc.get()); });
        if (status != MACP_STATUS_OK) {
            std::string message = label + " failed to start: ";
            message += cc.message().empty() ? "create() returned " + status_name(status)
                                            : cc.message() + " (" + status_name(status) + ")";
            return fail(std::move(message));
        }
        if (out == nullptr) {
            return fail(label + " failed to start: create() returned OK but no instance");
        }
        self->instance_ = out;
        return self;
    } catch (const std::exception& e) {
        return fail(label + " failed to start: " + std::string(e.what()));
    }
}

}  // namespace macp::plugin_host
