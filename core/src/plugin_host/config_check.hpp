// `--check-config` for one plugin: the plugin's optional check_config operation, which validates a
// configuration without side effects (storage.h / auth.h). No instance is created, so nothing on
// disk or on the network is touched.
#pragma once

#include <memory>
#include <string>

#include "plugin_host/loaded_plugin.hpp"
#include "plugin_host/plugin_config.hpp"
#include "util/result.hpp"

namespace macp::plugin_host {

// Calls check_config with `config` when the plugin implements it (on the calling thread: no
// instance exists to serialize against). Ok(note) describes what was checked; the error is one
// sentence naming the plugin, with its message. Call only after check_descriptor succeeded.
Result<std::string, std::string> check_plugin_config(const LoadedPlugin& plugin, uint32_t kind,
                                                     const ConfigPairs& config);

}  // namespace macp::plugin_host
