// macp.v1.MACPRuntimeService over gRPC's synchronous API. Handlers translate between wire
// messages and the kernel and never let an exception escape (DESIGN: exceptions never cross a
// gRPC handler). RPCs not overridden here answer UNIMPLEMENTED (owned by later issues).
#pragma once

#include <string>

#include "kernel/kernel.hpp"
#include "macp/v1/core.grpc.pb.h"
#include "service/service_events.hpp"

namespace macp::service {

struct ServiceInfo {
    std::string version;  // RPC-INIT-4
};

// StreamSession uses the callback API (service/session_stream.hpp); every other RPC is synchronous.
class RuntimeService final
    : public macp::v1::MACPRuntimeService::WithCallbackMethod_StreamSession<macp::v1::MACPRuntimeService::Service> {
public:
    RuntimeService(kernel::Kernel& kernel, modes::ModeRegistry& modes, policy::PolicyRegistry& policies,
                   ServiceEvents& events, ServiceInfo info)
        : kernel_(kernel), modes_(modes), policies_(policies), events_(events), info_(std::move(info)) {}

    grpc::Status Initialize(grpc::ServerContext*, const macp::v1::InitializeRequest*,
                            macp::v1::InitializeResponse*) override;
    grpc::Status Send(grpc::ServerContext*, const macp::v1::SendRequest*, macp::v1::SendResponse*) override;
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
    grpc::Status WatchSessions(grpc::ServerContext*, const macp::v1::WatchSessionsRequest*,
                               grpc::ServerWriter<macp::v1::WatchSessionsResponse>*) override;
    grpc::Status WatchSignals(grpc::ServerContext*, const macp::v1::WatchSignalsRequest*,
                              grpc::ServerWriter<macp::v1::WatchSignalsResponse>*) override;
    grpc::Status WatchModeRegistry(grpc::ServerContext*, const macp::v1::WatchModeRegistryRequest*,
                                   grpc::ServerWriter<macp::v1::WatchModeRegistryResponse>*) override;
    grpc::Status WatchRoots(grpc::ServerContext*, const macp::v1::WatchRootsRequest*,
                            grpc::ServerWriter<macp::v1::WatchRootsResponse>*) override;
    grpc::Status WatchPolicies(grpc::ServerContext*, const macp::v1::WatchPoliciesRequest*,
                               grpc::ServerWriter<macp::v1::WatchPoliciesResponse>*) override;
    grpc::Status RegisterPolicy(grpc::ServerContext*, const macp::v1::RegisterPolicyRequest*,
                                macp::v1::RegisterPolicyResponse*) override;
    grpc::Status UnregisterPolicy(grpc::ServerContext*, const macp::v1::UnregisterPolicyRequest*,
                                  macp::v1::UnregisterPolicyResponse*) override;
    grpc::Status GetPolicy(grpc::ServerContext*, const macp::v1::GetPolicyRequest*,
                           macp::v1::GetPolicyResponse*) override;
    grpc::Status ListPolicies(grpc::ServerContext*, const macp::v1::ListPoliciesRequest*,
                              macp::v1::ListPoliciesResponse*) override;

private:
    kernel::Kernel& kernel_;
    modes::ModeRegistry& modes_;
    policy::PolicyRegistry& policies_;
    ServiceEvents& events_;
    ServiceInfo info_;
};

}  // namespace macp::service
