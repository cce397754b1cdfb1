// Discovery descriptors of the five standards-track modes (DISC-1..7).
#pragma once

#include <vector>

#include "modes/mode.hpp"

namespace macp::modes {

// In the fixed ListModes order: decision, proposal, task, handoff, quorum.
std::vector<ModeDescriptor> standard_descriptors();

}  // namespace macp::modes
