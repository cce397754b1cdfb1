#include "plugin_host/config_check.hpp"

#include <exception>

#include "macp/plugin/auth.h"
#include "macp/plugin/storage.h"
#include "plugin_host/plugin_instance.hpp"

namespace macp::plugin_host {

Result<std::string, std::string> check_plugin_config(const LoadedPlugin& plugin, uint32_t kind,
                                                     const ConfigPairs& config) {
    try {
        using CheckFn = macp_status (*)(const macp_config_pair* const*, std::size_t, const macp_call_context*);
        CheckFn check = nullptr;
        if (kind == MACP_PLUGIN_KIND_STORAGE) {
            check = copy_vtable<macp_storage_vtable>(plugin.descriptor().vtable).check_config;
        } else {
            check = copy_vtable<macp_auth_vtable>(plugin.descriptor().vtable).check_config;
        }
        if (check == nullptr) {
            return std::string("ABI and keys checked; the plugin does not validate its configuration itself");
        }
        const ConfigView view(config);
        const HostLogger logger(plugin.name());
        HostCallContext cc(logger.get());
        const macp_status status = check(view.data(), view.size(), cc.get());
        if (status != MACP_STATUS_OK) {
            std::string message = plugin.label() + " rejects its configuration: ";
            message += cc.message().empty() ? status_name(status) : cc.message() + " (" + status_name(status) + ")";
            return fail(std::move(message));
        }
        return std::string("configuration validated by the plugin");
    } catch (const std::exception& e) {
        return fail(plugin.label() + ": cannot check its configuration: " + e.what());
    }
}

}  // namespace macp::plugin_host
