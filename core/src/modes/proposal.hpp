// `macp.mode.proposal.v1` (RFC-MACP-0008): peers exchange proposals and counter-proposals until one
// is accepted or terminally rejected (BEHAVIOR.md §4.3 MODE-PROP-*).
#pragma once

#include <memory>
#include <string>

#include "modes/mode.hpp"

namespace macp::modes {

class ProposalMode final : public Mode {
public:
    explicit ProposalMode(ModeDescriptor descriptor);
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
