// Kernel values -> wire messages.
#pragma once

#include "kernel/kernel.hpp"
#include <map>

#include <grpcpp/support/string_ref.h>

#include "macp/v1/core.pb.h"
#include "modes/mode.hpp"

namespace macp::service {

void to_proto(const kernel::Ack& ack, macp::v1::Ack* out);
void to_proto(const kernel::Session& s, macp::v1::SessionMetadata* out);  // RPC-GET-4
void to_proto(const modes::ModeDescriptor& d, macp::v1::ModeDescriptor* out);
auth::Metadata metadata_of(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata);

}  // namespace macp::service
