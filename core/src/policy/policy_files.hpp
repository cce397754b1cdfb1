// Governance policies loaded from a directory of JSON files at start-up (MACP_POLICIES_DIR:
// DELTA-0.6 CFG-21, CFG-25, POL-REG-12).
#pragma once

#include <cstddef>
#include <string>

#include "policy/registry.hpp"
#include "util/result.hpp"

namespace macp::policy {

// Registers every `*.json` file directly in `dir` (no recursion; other files are ignored), in
// file-name order, each holding one full PolicyDefinition object:
//   {"policy_id": "...", "mode": "...", "description": "...", "rules": {...}, "schema_version": 1}
// All five members are required; `rules` is a JSON object (or, as in the gRPC descriptor, a string
// holding one); unknown members are ignored. Each goes through the same validation as
// RegisterPolicy (POL-REG-3..8, reserved `policy.default`, duplicate ids across files) and is not
// persisted (PolicyRegistry::register_file_policy).
//
// Returns the number of policies loaded, or the first problem as
// "MACP_POLICIES_DIR: <file>: <detail>" (an unreadable directory names the directory): the caller
// refuses to start (CFG-25). Registrations made before a failure stay in `registry`.
Result<size_t, std::string> load_policy_dir(const std::string& dir, PolicyRegistry& registry);

}  // namespace macp::policy
