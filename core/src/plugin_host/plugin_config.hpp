// Resolving a plugin's declared configuration keys from the runtime's settings.
// Plugins never read the environment themselves (abi.h CONFIGURATION); the host does it here.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "plugin_host/loaded_plugin.hpp"
#include "util/result.hpp"

namespace macp::plugin_host {

// (env name, value) pairs handed to the plugin's create(), in declaration order.
using ConfigPairs = std::vector<std::pair<std::string, std::string>>;

// The C view of ConfigPairs that create() and check_config() take: an array of pointers to
// macp_config_pair (abi.h STRUCT SIZES). Borrows `pairs`, which must outlive it.
class ConfigView {
public:
    explicit ConfigView(const ConfigPairs& pairs);
    ConfigView(const ConfigView&) = delete;
    ConfigView& operator=(const ConfigView&) = delete;
    [[nodiscard]] const macp_config_pair* const* data() const { return pointers_.data(); }
    [[nodiscard]] std::size_t size() const { return pointers_.size(); }

private:
    std::vector<macp_config_pair> pairs_;
    std::vector<const macp_config_pair*> pointers_;
};

// For each declared key: the value in `settings` (env name -> value) if present, else the
// key's default; keys with neither are not passed. Every REQUIRED key left without a non-empty
// value is reported in one message. Call only after check_descriptor succeeded.
Result<ConfigPairs, std::string> resolve_config(const LoadedPlugin& plugin,
                                                const std::map<std::string, std::string>& settings);

}  // namespace macp::plugin_host
