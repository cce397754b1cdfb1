// What a mode may read of its session: a read-only view the kernel fills for each call. Modes
// depend on this, never on the kernel's Session, so the dependency runs one way (kernel → modes)
// and a mode cannot reach the kernel's bookkeeping (dedup set, activity, lifecycle) at all.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "modes/mode_state.hpp"
#include "policy/policy_definition.hpp"

namespace macp::modes {

// OWNERSHIP: borrows every member from the session it was made from; valid while that session is
// neither changed nor destroyed (the kernel holds the session's lock for the whole call).
struct SessionView {
    const std::string& session_id;
    const std::string& initiator;
    const std::vector<std::string>& participants;
    const std::string& mode_version;
    const std::string& configuration_version;
    const std::string& policy_version;
    const policy::PolicyDefinition* policy;  // the bound policy (POL-BIND-*), null when none
    const ModeStateBox& mode_state;          // empty during on_session_start

    [[nodiscard]] bool is_participant(const std::string& sender) const {
        return std::find(participants.begin(), participants.end(), sender) != participants.end();
    }
    [[nodiscard]] const policy::PolicyDefinition* bound_policy() const { return policy; }
};

}  // namespace macp::modes
