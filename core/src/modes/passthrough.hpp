// Dynamically registered extension modes (BEHAVIOR.md §4.8 MODE-PT-*): the runtime enforces the
// envelope, participants and the commitment contract, and otherwise passes payloads through.
#pragma once

#include <memory>
#include <string>

#include "modes/mode.hpp"

namespace macp::modes {

class PassthroughMode final : public Mode {
public:
    // `promoted`: promoted modes become standards-track with strict SessionStart (DISC-12).
    PassthroughMode(ModeDescriptor descriptor, bool promoted);
    [[nodiscard]] const ModeDescriptor& descriptor() const override { return descriptor_; }
    [[nodiscard]] bool strict() const override { return promoted_; }
    [[nodiscard]] bool standards_track() const override { return promoted_; }
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> on_session_start(const SessionView& session) const override;
    // Any bytes: the state is whatever payload came last (MODE-PT-5).
    [[nodiscard]] ModeResult<std::unique_ptr<ModeState>> decode_state(const std::string& bytes) const override;
    [[nodiscard]] ModeResult<bool> authorize(const MessageContext& ctx) const override;
    [[nodiscard]] ModeResult<Outcome> apply(const MessageContext& ctx) const override;

private:
    ModeDescriptor descriptor_;
    bool promoted_;
};

}  // namespace macp::modes
