#include "payloads.hpp"

#include <memory>

#include <google/protobuf/util/json_util.h>
#include <rapidjson/document.h>

#include "cli.hpp"
#include "macp/modes/decision/v1/decision.pb.h"
#include "macp/modes/handoff/v1/handoff.pb.h"
#include "macp/modes/multi_round/v1/multi_round.pb.h"
#include "macp/modes/proposal/v1/proposal.pb.h"
#include "macp/modes/quorum/v1/quorum.pb.h"
#include "macp/modes/task/v1/task.pb.h"
#include "macp/v1/core.pb.h"

namespace macpctl {

namespace {

const google::protobuf::Message* find(const std::string& mode, const std::string& type) {
    for (const auto& b : payload_bindings()) {
        if (b.mode == mode && b.message_type == type) return b.prototype;
    }
    return nullptr;
}

}  // namespace

const std::vector<PayloadBinding>& payload_bindings() {
    // Referencing each default instance also links its generated file into the binary, so the
    // generated descriptor pool knows every payload message (prototype_by_name).
    namespace core = macp::v1;
    namespace decision = macp::modes::decision::v1;
    namespace proposal = macp::modes::proposal::v1;
    namespace task = macp::modes::task::v1;
    namespace handoff = macp::modes::handoff::v1;
    namespace quorum = macp::modes::quorum::v1;
    namespace multi_round = macp::modes::multi_round::v1;
    static const std::vector<PayloadBinding> bindings{
        // Every mode (core/src/kernel: admission.cpp, transitions.cpp, session_control.cpp).
        {"", "SessionStart", &core::SessionStartPayload::default_instance()},
        {"", "Commitment", &core::CommitmentPayload::default_instance()},
        {"", "Signal", &core::SignalPayload::default_instance()},
        {"", "Progress", &core::ProgressPayload::default_instance()},
        {"", "SessionCancel", &core::SessionCancelPayload::default_instance()},
        {"", "SessionSuspend", &core::SessionSuspendPayload::default_instance()},
        {"", "SessionResume", &core::SessionResumePayload::default_instance()},
        // core/src/modes/decision.cpp
        {"macp.mode.decision.v1", "Proposal", &decision::ProposalPayload::default_instance()},
        {"macp.mode.decision.v1", "Evaluation", &decision::EvaluationPayload::default_instance()},
        {"macp.mode.decision.v1", "Objection", &decision::ObjectionPayload::default_instance()},
        {"macp.mode.decision.v1", "Vote", &decision::VotePayload::default_instance()},
        // core/src/modes/proposal.cpp
        {"macp.mode.proposal.v1", "Proposal", &proposal::ProposalPayload::default_instance()},
        {"macp.mode.proposal.v1", "CounterProposal", &proposal::CounterProposalPayload::default_instance()},
        {"macp.mode.proposal.v1", "Accept", &proposal::AcceptPayload::default_instance()},
        {"macp.mode.proposal.v1", "Reject", &proposal::RejectPayload::default_instance()},
        {"macp.mode.proposal.v1", "Withdraw", &proposal::WithdrawPayload::default_instance()},
        // core/src/modes/task.cpp
        {"macp.mode.task.v1", "TaskRequest", &task::TaskRequestPayload::default_instance()},
        {"macp.mode.task.v1", "TaskAccept", &task::TaskAcceptPayload::default_instance()},
        {"macp.mode.task.v1", "TaskReject", &task::TaskRejectPayload::default_instance()},
        {"macp.mode.task.v1", "TaskUpdate", &task::TaskUpdatePayload::default_instance()},
        {"macp.mode.task.v1", "TaskComplete", &task::TaskCompletePayload::default_instance()},
        {"macp.mode.task.v1", "TaskFail", &task::TaskFailPayload::default_instance()},
        // core/src/modes/handoff.cpp
        {"macp.mode.handoff.v1", "HandoffOffer", &handoff::HandoffOfferPayload::default_instance()},
        {"macp.mode.handoff.v1", "HandoffContext", &handoff::HandoffContextPayload::default_instance()},
        {"macp.mode.handoff.v1", "HandoffAccept", &handoff::HandoffAcceptPayload::default_instance()},
        {"macp.mode.handoff.v1", "HandoffDecline", &handoff::HandoffDeclinePayload::default_instance()},
        // core/src/modes/quorum.cpp
        {"macp.mode.quorum.v1", "ApprovalRequest", &quorum::ApprovalRequestPayload::default_instance()},
        {"macp.mode.quorum.v1", "Approve", &quorum::ApprovePayload::default_instance()},
        {"macp.mode.quorum.v1", "Reject", &quorum::RejectPayload::default_instance()},
        {"macp.mode.quorum.v1", "Abstain", &quorum::AbstainPayload::default_instance()},
        // core/src/modes/multi_round.cpp (the server also takes {"value": "..."} as JSON bytes)
        {"ext.multi_round.v1", "Contribute", &multi_round::ContributePayload::default_instance()},
    };
    return bindings;
}

const google::protobuf::Message* payload_prototype(const std::string& mode, const std::string& message_type) {
    if (const auto* p = find(mode, message_type)) return p;
    return find("", message_type);
}

const google::protobuf::Message* prototype_by_name(const std::string& full_name) {
    payload_bindings();  // make sure every payload file is linked and registered
    const auto* d = google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
    if (d == nullptr) return nullptr;
    return google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
}

std::string json_to_payload(const google::protobuf::Message& prototype, const std::string& json,
                            const std::string& what) {
    std::unique_ptr<google::protobuf::Message> m(prototype.New());
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = false;  // a misspelt field is an error, not a silently empty payload
    auto st = google::protobuf::util::JsonStringToMessage(json, m.get(), o);
    if (!st.ok()) {
        throw UsageError(what + ": not a valid " + prototype.GetDescriptor()->full_name() +
                         " in JSON: " + std::string(st.message().data(), st.message().size()));
    }
    return m->SerializeAsString();
}

std::optional<std::string> payload_as_json(const std::string& mode, const std::string& message_type,
                                           const std::string& payload) {
    if (payload.empty()) return std::nullopt;
    // A JSON document as it is (what multi_round and most extension modes carry).
    const char first = payload.front();
    if (first == '{' || first == '[') {
        rapidjson::Document d;
        d.Parse(payload.data(), payload.size());
        if (!d.HasParseError()) return payload;
    }
    const auto* prototype = payload_prototype(mode, message_type);
    if (prototype == nullptr) return std::nullopt;
    std::unique_ptr<google::protobuf::Message> m(prototype->New());
    if (!m->ParseFromString(payload)) return std::nullopt;
    if (!m->GetReflection()->GetUnknownFields(*m).empty()) return std::nullopt;  // not really this type
    google::protobuf::util::JsonPrintOptions o;
    o.preserve_proto_field_names = true;
    std::string out;
    if (!google::protobuf::util::MessageToJsonString(*m, &out, o).ok()) return std::nullopt;
    return out;
}

}  // namespace macpctl
