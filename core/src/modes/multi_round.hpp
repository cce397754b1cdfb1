// `ext.multi_round.v1`: participants contribute values until all agree, then the initiator
// commits (BEHAVIOR.md §4.7 MODE-MR-*).
#pragma once

#include "modes/mode.hpp"

namespace macp::modes {

class MultiRoundMode final : public Mode {
public:
    MultiRoundMode();
    [[nodiscard]] const ModeDescriptor& descriptor() const override { return descriptor_; }
    [[nodiscard]] bool strict() const override { return true; }
    [[nodiscard]] bool standards_track() const override { return false; }
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> on_session_start(const SessionView& session) const override;
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> decode_state(const std::string& bytes) const override;
    [[nodiscard]] ModeResult<bool> authorize(const MessageContext& ctx) const override;
    [[nodiscard]] ModeResult<Outcome> apply(const MessageContext& ctx) const override;

private:
    ModeDescriptor descriptor_;
};

}  // namespace macp::modes
