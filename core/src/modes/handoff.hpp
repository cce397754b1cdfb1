// `macp.mode.handoff.v1`: the current owner (the initiator) offers responsibility to one target at a
// time, attaches context, the target accepts or declines, and an authorized sender commits
// (BEHAVIOR.md §4.5 MODE-HOFF-*, RFC-MACP-0010; DELTA-0.6 MODE-HOFF-4/9; proto 0.1.6
// HandoffAcceptPayload.implicit).
#pragma once

#include "modes/mode.hpp"

namespace macp::modes {

class HandoffMode final : public Mode {
public:
    explicit HandoffMode(ModeDescriptor descriptor);
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
