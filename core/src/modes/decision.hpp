// `macp.mode.decision.v1` (RFC-MACP-0007): declared participants propose, evaluate, object and
// vote; an authorized sender commits the outcome (BEHAVIOR.md §4.2 MODE-DEC-*).
#pragma once

#include <memory>
#include <string>

#include "modes/mode.hpp"
#include "modes/mode_state.hpp"
#include "policy/decision_evaluator.hpp"

namespace macp::modes {

using policy::DecisionPhase;
using policy::DecisionState;

// MODE-DEC-11 / MODE-GEN-2: the state as compact JSON, fields in the reference's order
// (proposals, evaluations, objections, votes, phase) and maps key-sorted, so equal states give
// identical bytes.
std::string encode_decision_state(const DecisionState& state);
// Inverse of encode_decision_state; an empty string is the initial state. InvalidModeState when
// the bytes are not a decision state.
Result<DecisionState, protocol::Error> decode_decision_state(const std::string& bytes);

// What a decision session holds in memory between messages.
using DecisionModeState = StateOf<DecisionState, &encode_decision_state>;

class DecisionMode final : public Mode {
public:
    explicit DecisionMode(ModeDescriptor descriptor);
    [[nodiscard]] const ModeDescriptor& descriptor() const override { return descriptor_; }
    [[nodiscard]] bool strict() const override { return true; }
    [[nodiscard]] bool standards_track() const override { return true; }
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> on_session_start(const SessionView& session) const override;
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> decode_state(const std::string& bytes) const override;
    [[nodiscard]] ModeResult<bool> authorize(const MessageContext& ctx) const override;
    [[nodiscard]] ModeResult<Outcome> apply(const MessageContext& ctx) const override;

private:
    ModeDescriptor descriptor_;
};

}  // namespace macp::modes
