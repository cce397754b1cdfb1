#include "modes/standard_descriptors.hpp"

namespace macp::modes {

namespace {
ModeDescriptor make(const char* mode, const char* title, const char* description, const char* determinism,
                    const char* participants, std::vector<std::string> types) {
    return ModeDescriptor{mode,
                          "1.0.0",
                          title,
                          description,
                          determinism,
                          participants,
                          std::move(types),
                          {"Commitment"},
                          {{"protobuf", "buf.build/multiagentcoordinationprotocol/macp"}}};
}
}  // namespace

std::vector<ModeDescriptor> standard_descriptors() {
    return {
        make("macp.mode.decision.v1", "Decision Mode",
             "Declared participants propose, evaluate, object and vote; an authorized sender commits the outcome.",
             "semantic-deterministic", "declared",
             {"SessionStart", "Proposal", "Evaluation", "Objection", "Vote", "Commitment"}),
        make("macp.mode.proposal.v1", "Proposal Mode",
             "Peers exchange proposals and counter-proposals until one is accepted or terminally rejected.",
             "semantic-deterministic", "peer",
             {"SessionStart", "Proposal", "CounterProposal", "Accept", "Reject", "Withdraw", "Commitment"}),
        make("macp.mode.task.v1", "Task Mode",
             "An orchestrator requests a task, one assignee accepts, reports progress and completes or fails it.",
             "structural-only", "orchestrated",
             {"SessionStart", "TaskRequest", "TaskAccept", "TaskReject", "TaskUpdate", "TaskComplete", "TaskFail",
              "Commitment"}),
        make("macp.mode.handoff.v1", "Handoff Mode",
             "The current owner offers responsibility to a target, which accepts or declines, with context.",
             "context-frozen", "delegated",
             {"SessionStart", "HandoffOffer", "HandoffContext", "HandoffAccept", "HandoffDecline", "Commitment"}),
        make("macp.mode.quorum.v1", "Quorum Mode",
             "Participants approve, reject or abstain on one request until a threshold is reached or unreachable.",
             "semantic-deterministic", "quorum",
             {"SessionStart", "ApprovalRequest", "Approve", "Reject", "Abstain", "Commitment"}),
    };
}

}  // namespace macp::modes
