// auth::Resolver implemented over an auth plugin's C vtable.
#pragma once

#include <memory>
#include <string>

#include "auth/identity.hpp"
#include "macp/plugin/auth.h"
#include "plugin_host/plugin_instance.hpp"

namespace macp::plugin_host {

class AuthAdapter final : public auth::Resolver {
    struct Key {
        explicit Key() = default;
    };

public:
    // `plugin` must have passed check_descriptor for MACP_PLUGIN_KIND_AUTH.
    static Result<std::unique_ptr<AuthAdapter>, std::string> create(std::shared_ptr<LoadedPlugin> plugin,
                                                                    const ConfigPairs& config,
                                                                    ExecutorOptions options = {});

    AuthAdapter(Key, const macp_auth_vtable& vtable, std::unique_ptr<PluginInstance> instance);

    [[nodiscard]] std::string name() const override;
    // Plugin errors, misbehaving plugins and host-side failures all become a Rejected resolution
    // with a detail for the log; nothing is thrown for them.
    auth::Resolution resolve(const auth::Metadata& metadata) override;

private:
    macp_auth_vtable vt_;  // host copy; members beyond the plugin's struct_size are NULL
    std::unique_ptr<PluginInstance> instance_;
};

}  // namespace macp::plugin_host
