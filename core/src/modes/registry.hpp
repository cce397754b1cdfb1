// The set of modes a runtime can run (BEHAVIOR.md §9 DISC-*). Thread-safe; readers get shared
// pointers so a mode stays alive for the message that is using it even if it is unregistered.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "modes/mode.hpp"

namespace macp::modes {

class ModeRegistry {
public:
    // Registers the built-in modes: the five standards-track descriptors and ext.multi_round.v1.
    ModeRegistry();

    [[nodiscard]] std::shared_ptr<const Mode> find(const std::string& name) const;
    // RPC-LM-1: standards-track, built-ins in their fixed order first, then promoted by name.
    [[nodiscard]] std::vector<ModeDescriptor> standards_track() const;
    // RPC-LEM-1: every other mode, sorted by name.
    [[nodiscard]] std::vector<ModeDescriptor> extensions() const;
    // RPC-INIT-6: every mode name, sorted by byte order.
    [[nodiscard]] std::vector<std::string> all_names() const;

private:
    struct Entry {
        std::string name;
        std::shared_ptr<const Mode> mode;
        bool builtin = true;
        int order = 0;  // fixed order of the built-in standards-track modes
    };
    mutable std::shared_mutex mu_;
    std::vector<Entry> entries_;
};

}  // namespace macp::modes
