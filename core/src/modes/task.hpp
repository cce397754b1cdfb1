// `macp.mode.task.v1`: an orchestrator requests one task, one eligible assignee accepts it, reports
// progress and completes or fails it; an authorized sender then commits (BEHAVIOR.md §4.4 MODE-TASK-*,
// RFC-MACP-0009; DELTA-0.6 MODE-TASK-1, POL-TASK-1).
#pragma once

#include <memory>
#include <string>

#include "modes/mode.hpp"

namespace macp::modes {

class TaskMode final : public Mode {
public:
    explicit TaskMode(ModeDescriptor descriptor);
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
