// The gRPC side of a cluster (docs/scale-out.md): channels to the other processes and the
// forwarding of a call to a session's owner. A forwarded call carries the caller's own metadata
// (its credentials: the owner authenticates it again, with the same configuration) plus
// kForwardedHeader, which tells the owner not to forward it any further.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cluster/ownership.hpp"
#include "macp/v1/core.grpc.pb.h"

namespace macp::service {

inline constexpr const char* kForwardedHeader = "x-macp-forwarded-by";

struct PeerOptions {
    bool tls = false;      // the processes serve TLS: peers are reached over TLS too
    std::string ca_pem;    // roots that verify the peers' certificates ("" = the system's)
    std::string cert_pem;  // presented to peers that require client certificates ("" = none)
    std::string key_pem;
    int max_message_bytes = 0;  // the payload limit plus envelope room (CFG-23); 0 = gRPC's default
};

// Channels to peers by address, made on first use and kept. THREADING: any thread.
class PeerChannels {
public:
    explicit PeerChannels(PeerOptions options) : options_(std::move(options)) {}
    macp::v1::MACPRuntimeService::Stub& stub(const std::string& address);

private:
    PeerOptions options_;
    std::mutex mu_;
    std::map<std::string,
             std::pair<std::shared_ptr<grpc::Channel>, std::unique_ptr<macp::v1::MACPRuntimeService::Stub>>>
        stubs_;
};

// What a cluster-aware service needs: who owns what, and how to reach the owners.
struct ClusterLink {
    ClusterLink(cluster::Ownership& o, PeerOptions p) : ownership(o), peers(std::move(p)) {}
    cluster::Ownership& ownership;
    PeerChannels peers;
    // Calls passed on to another process (metrics: macp_cluster_forwarded_total).
    std::atomic<uint64_t> forwarded_sends{0};
    std::atomic<uint64_t> forwarded_unary{0};  // GetSession, Cancel/Suspend/ResumeSession
    std::atomic<uint64_t> relayed_streams{0};  // StreamSession
};

// True when the call came from another process of the cluster (it must not be forwarded again).
bool is_forwarded(const grpc::ServerContextBase& ctx);
// The caller's metadata to replay on a forwarded call (credentials and custom headers; not
// HTTP/2 or gRPC transport headers).
std::vector<std::pair<std::string, std::string>> forwardable_metadata(const grpc::ServerContextBase& ctx);
// A client context for forwarding: the caller's metadata, the forwarded mark and `deadline`.
std::unique_ptr<grpc::ClientContext> forwarding_context(const std::vector<std::pair<std::string, std::string>>& md,
                                                        const std::string& node_id,
                                                        std::chrono::system_clock::time_point deadline);
// Whether a failed forward should be routed again (the owner is gone or moved), rather than
// answered to the caller as it is.
bool reroute_after(const grpc::Status& status);

}  // namespace macp::service
