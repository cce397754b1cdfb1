// The keyed record store for the runtime's own registries: one file per record,
// <registry>/<encoded ns>/<encoded key>.rec, each replaced atomically.
#pragma once

#include <mutex>
#include <string>
#include <string_view>

#include "disk.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {

class RegistryStore {
public:
    RegistryStore(Disk& disk, std::string registry_dir) : disk_(disk), dir_(std::move(registry_dir)) {}

    void put(const std::string& ns, const std::string& key, std::string_view blob);
    void remove(const std::string& ns, const std::string& key);
    void list(const std::string& ns, const sdk::Emitter& out) const;

private:
    [[nodiscard]] std::string ns_dir(const std::string& ns) const;

    // Two concurrent puts of one key would share <key>.rec.tmp; registry writes are rare, so
    // serialising them is cheaper than unique temp names.
    std::mutex put_mu_;
    Disk& disk_;
    std::string dir_;
};

}  // namespace macp::storage_file
