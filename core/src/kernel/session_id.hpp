// Session id acceptance rules, checked only at SessionStart (SID-1..5, 0.6 SID-2).
#pragma once

#include <string>

namespace macp::kernel {

bool valid_session_id(const std::string& id);

}  // namespace macp::kernel
