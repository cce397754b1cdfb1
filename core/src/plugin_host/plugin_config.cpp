#include "plugin_host/plugin_config.hpp"

namespace macp::plugin_host {

ConfigView::ConfigView(const ConfigPairs& pairs) {
    pairs_.reserve(pairs.size());
    pointers_.reserve(pairs.size());
    for (const auto& [key, value] : pairs) {
        pairs_.push_back(macp_config_pair{sizeof(macp_config_pair), key.c_str(), value.c_str()});
    }
    for (const auto& p : pairs_) pointers_.push_back(&p);
}

Result<ConfigPairs, std::string> resolve_config(const LoadedPlugin& plugin,
                                                const std::map<std::string, std::string>& settings) {
    const macp_plugin_descriptor& d = plugin.descriptor();
    ConfigPairs pairs;
    std::vector<std::string> missing;
    for (std::size_t i = 0; i < d.config_key_count; ++i) {
        const macp_config_key& key = config_key_at(d, i);
        const std::string env_name = key.env_name;
        const bool required = (key.flags & MACP_CONFIG_REQUIRED) != 0;
        std::optional<std::string> value;
        if (auto it = settings.find(env_name); it != settings.end()) {
            value = it->second;
        } else if (key.default_value != nullptr) {
            value = key.default_value;
        }
        // An empty value for a REQUIRED key is almost always an unset variable in a unit file
        // (MACP_X=), so it counts as missing rather than reaching the plugin.
        if (required && (!value || value->empty())) {
            std::string entry = env_name;
            if (key.help != nullptr && *key.help != '\0') entry += " (" + std::string(key.help) + ")";
            missing.push_back(std::move(entry));
            continue;
        }
        if (value) pairs.emplace_back(env_name, std::move(*value));
    }
    if (!missing.empty()) {
        std::string message = plugin.label() + " is missing required configuration: ";
        for (std::size_t i = 0; i < missing.size(); ++i) {
            if (i != 0) message += ", ";
            message += missing[i];
        }
        message += missing.size() == 1 ? "; set it in the environment or on the command line"
                                       : "; set them in the environment or on the command line";
        return fail(std::move(message));
    }
    return pairs;
}

}  // namespace macp::plugin_host
