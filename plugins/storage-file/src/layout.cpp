#include "layout.hpp"

#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {

void validate_session_id(const std::string& session_id) {
    const char* problem = nullptr;
    if (session_id.empty()) {
        problem = "empty";
    } else if (session_id.size() > 255) {
        problem = "longer than 255 bytes";
    } else if (session_id.front() == '.') {
        problem = "starts with '.'";
    } else if (session_id.find('/') != std::string::npos) {
        problem = "contains '/'";
    }
    if (problem != nullptr) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, "invalid session id '" + session_id + "': " + problem);
    }
}

}  // namespace macp::storage_file
