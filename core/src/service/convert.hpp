// Kernel values -> wire messages.
#pragma once

#include "kernel/kernel.hpp"
#include <map>

#include <grpcpp/server_context.h>
#include <grpcpp/support/string_ref.h>

#include "macp/v1/core.pb.h"
#include "modes/mode.hpp"

namespace macp::service {

void to_proto(const kernel::Ack& ack, macp::v1::Ack* out);
void to_proto(const kernel::Session& s, macp::v1::SessionMetadata* out);  // RPC-GET-4
void to_proto(const modes::ModeDescriptor& d, macp::v1::ModeDescriptor* out);
// RegisterExtMode's descriptor as the registry takes it (RPC-REGX-1).
modes::ModeDescriptor from_proto(const macp::v1::ModeDescriptor& d);
auth::Metadata metadata_of(const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata);
// The call's metadata plus, when the connection presented a verified TLS client certificate, its
// identity under auth::kPeerCertificateIdentityKey (see auth/certificate_resolver.hpp).
// With `peer_identity`, the TLS peer's certificate identity is added under
// auth::kPeerCertificateIdentityKey (only when a resolver reads it: Kernel::needs_peer_identity).
auth::Metadata metadata_of(const grpc::ServerContextBase& ctx, bool peer_identity);

}  // namespace macp::service
