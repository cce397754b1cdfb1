// The built-in memory storage backend (MACP_MEMORY_ONLY=1): a storage "plugin" compiled into the
// server, reached through the same C vtable as real plugins so the core has one storage path.
#ifndef MACP_STORAGE_MEMORY_STORAGE_HPP
#define MACP_STORAGE_MEMORY_STORAGE_HPP

#include "macp/plugin/abi.h"

namespace macp::storage {

// Static descriptor (kind storage, name "memory", thread-safe, no config keys). Not exported
// as macp_plugin_entry_v1: the server binary must not look like a plugin.
const macp_plugin_descriptor* memory_plugin_descriptor();

}  // namespace macp::storage

#endif  // MACP_STORAGE_MEMORY_STORAGE_HPP
