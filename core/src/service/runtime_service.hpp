// macp.v1.MACPRuntimeService over gRPC's synchronous API. Handlers translate between wire
// messages and the kernel and never let an exception escape (DESIGN: exceptions never cross a
// gRPC handler). RPCs not overridden here answer UNIMPLEMENTED (owned by later issues).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kernel/kernel.hpp"
#include "macp/v1/core.grpc.pb.h"
#include "service/blocking_work.hpp"
#include "service/cluster_peers.hpp"
#include "service/call_deadlines.hpp"
#include "service/connection_limits.hpp"
#include "service/service_events.hpp"
#include "service/session_snapshots.hpp"

namespace macp::service {

struct ServiceInfo {
    std::string version;  // RPC-INIT-4
    // The server's send limit: ListSessions fills an answer only up to it (issue #15).
    int64_t max_response_bytes = 1 << 20;
    // MACP_CONCURRENCY_LIMIT_PER_CONNECTION: unary calls in flight per connection (CFG-18).
    int64_t concurrency_limit_per_connection = 64;
    // MACP_REQUEST_TIMEOUT_SECS: a Send not answered by then is answered DEADLINE_EXCEEDED (CFG-19).
    int64_t request_timeout_secs = 30;
    // MACP_CLUSTER=1 (docs/scale-out.md): calls for sessions owned by another process go there;
    // null = a single process.
    ClusterLink* cluster = nullptr;
};

// The five Watch* server streams on the callback API (service/watch_reactor.hpp, issue #13).
using WithCallbackWatches = macp::v1::MACPRuntimeService::WithCallbackMethod_WatchSessions<
    macp::v1::MACPRuntimeService::WithCallbackMethod_WatchSignals<
        macp::v1::MACPRuntimeService::WithCallbackMethod_WatchModeRegistry<
            macp::v1::MACPRuntimeService::WithCallbackMethod_WatchRoots<
                macp::v1::MACPRuntimeService::WithCallbackMethod_WatchPolicies<
                    macp::v1::MACPRuntimeService::Service>>>>>;

// Send and the streaming RPCs use the callback API; the other unary RPCs are synchronous.
class RuntimeService final : public macp::v1::MACPRuntimeService::WithCallbackMethod_Send<
                                 macp::v1::MACPRuntimeService::WithCallbackMethod_StreamSession<WithCallbackWatches>> {
public:
    RuntimeService(kernel::Kernel& kernel, modes::ModeRegistry& modes, policy::PolicyRegistry& policies,
                   ServiceEvents& events, ServiceInfo info)
        : kernel_(kernel), modes_(modes), policies_(policies), events_(events), info_(std::move(info)) {}

    grpc::Status Initialize(grpc::ServerContext*, const macp::v1::InitializeRequest*,
                            macp::v1::InitializeResponse*) override;
    // Callback API: no thread waits while the message is made durable (service/send_call.cpp).
    grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* ctx, const macp::v1::SendRequest* req,
                                   macp::v1::SendResponse* resp) override;
    grpc::Status GetSession(grpc::ServerContext*, const macp::v1::GetSessionRequest*,
                            macp::v1::GetSessionResponse*) override;
    grpc::Status ListSessions(grpc::ServerContext*, const macp::v1::ListSessionsRequest*,
                              macp::v1::ListSessionsResponse*) override;
    grpc::Status CancelSession(grpc::ServerContext*, const macp::v1::CancelSessionRequest*,
                               macp::v1::CancelSessionResponse*) override;
    grpc::Status SuspendSession(grpc::ServerContext*, const macp::v1::SuspendSessionRequest*,
                                macp::v1::SuspendSessionResponse*) override;
    grpc::Status ResumeSession(grpc::ServerContext*, const macp::v1::ResumeSessionRequest*,
                               macp::v1::ResumeSessionResponse*) override;
    grpc::Status GetManifest(grpc::ServerContext*, const macp::v1::GetManifestRequest*,
                             macp::v1::GetManifestResponse*) override;
    grpc::Status ListModes(grpc::ServerContext*, const macp::v1::ListModesRequest*,
                           macp::v1::ListModesResponse*) override;
    grpc::Status ListExtModes(grpc::ServerContext*, const macp::v1::ListExtModesRequest*,
                              macp::v1::ListExtModesResponse*) override;
    grpc::Status ListRoots(grpc::ServerContext*, const macp::v1::ListRootsRequest*,
                           macp::v1::ListRootsResponse*) override;
    grpc::Status RegisterExtMode(grpc::ServerContext*, const macp::v1::RegisterExtModeRequest*,
                                 macp::v1::RegisterExtModeResponse*) override;
    grpc::Status UnregisterExtMode(grpc::ServerContext*, const macp::v1::UnregisterExtModeRequest*,
                                   macp::v1::UnregisterExtModeResponse*) override;
    grpc::Status PromoteMode(grpc::ServerContext*, const macp::v1::PromoteModeRequest*,
                             macp::v1::PromoteModeResponse*) override;
    grpc::ServerBidiReactor<macp::v1::StreamSessionRequest, macp::v1::StreamSessionResponse>* StreamSession(
        grpc::CallbackServerContext* ctx) override;
    // The Watch* streams (service/watch_streams.cpp): callback reactors, no thread per stream.
    grpc::ServerWriteReactor<macp::v1::WatchSessionsResponse>* WatchSessions(
        grpc::CallbackServerContext*, const macp::v1::WatchSessionsRequest*) override;
    grpc::ServerWriteReactor<macp::v1::WatchSignalsResponse>* WatchSignals(
        grpc::CallbackServerContext*, const macp::v1::WatchSignalsRequest*) override;
    grpc::ServerWriteReactor<macp::v1::WatchModeRegistryResponse>* WatchModeRegistry(
        grpc::CallbackServerContext*, const macp::v1::WatchModeRegistryRequest*) override;
    grpc::ServerWriteReactor<macp::v1::WatchRootsResponse>* WatchRoots(grpc::CallbackServerContext*,
                                                                       const macp::v1::WatchRootsRequest*) override;
    grpc::ServerWriteReactor<macp::v1::WatchPoliciesResponse>* WatchPolicies(
        grpc::CallbackServerContext*, const macp::v1::WatchPoliciesRequest*) override;
    grpc::Status RegisterPolicy(grpc::ServerContext*, const macp::v1::RegisterPolicyRequest*,
                                macp::v1::RegisterPolicyResponse*) override;
    grpc::Status UnregisterPolicy(grpc::ServerContext*, const macp::v1::UnregisterPolicyRequest*,
                                  macp::v1::UnregisterPolicyResponse*) override;
    grpc::Status GetPolicy(grpc::ServerContext*, const macp::v1::GetPolicyRequest*,
                           macp::v1::GetPolicyResponse*) override;
    grpc::Status ListPolicies(grpc::ServerContext*, const macp::v1::ListPoliciesRequest*,
                              macp::v1::ListPoliciesResponse*) override;

private:
    // ---- cluster mode (docs/scale-out.md) ----
    struct SendCall;  // service/send_call.cpp
    // Routes one Send (possibly again, after its owner moved) and answers it here or through the
    // owner. Runs on route_work_: a route may wait for the store.
    void dispatch_send(const std::shared_ptr<SendCall>& call);
    void forward_send(const std::shared_ptr<SendCall>& call, const std::string& address);
    void submit_local(const std::shared_ptr<SendCall>& call);
    // Routes the Send again after `delay` (the owner moved or cannot be reached yet).
    void reroute_later(const std::shared_ptr<SendCall>& call, std::chrono::milliseconds delay);
    // A synchronous RPC about one session: `local()` when this process serves it, else
    // `remote(stub, client_context)` at its owner, routing again while the owner moves.
    template <class Local, class Remote>
    grpc::Status routed(grpc::ServerContext* ctx, const std::string& session_id, Local&& local, Remote&& remote);
    template <class Local, class Remote>
    grpc::Status route_and_call(grpc::ServerContext* ctx, const std::string& session_id, Local& local, Remote& remote);

    // MACP_REQUEST_TIMEOUT_SECS for the synchronous RPCs that wait for a session (issue #14).
    [[nodiscard]] std::chrono::milliseconds wait_limit() const {
        return std::chrono::seconds(info_.request_timeout_secs);
    }

    kernel::Kernel& kernel_;
    modes::ModeRegistry& modes_;
    policy::PolicyRegistry& policies_;
    ServiceEvents& events_;
    ServiceInfo info_;
    ConnectionLimits connection_limits_{info_.concurrency_limit_per_connection};
    CallDeadlines send_deadlines_;
    // Workers, declared last so they stop before the rest goes: WatchSessions' initial sync and the
    // StreamSession subscribe's storage reads.
    SessionSnapshots session_snapshots_{kernel_, info_.cluster != nullptr};
    BlockingWork stream_reads_{"macp-history", 2};
    // Cluster mode: Sends whose route needs the store (a first touch, a takeover, an owner that
    // moved) wait here instead of on a gRPC thread.
    BlockingWork route_work_{"macp-route", 16};
};

}  // namespace macp::service
