#include "modes/registry.hpp"

#include <algorithm>
#include <mutex>

#include "modes/decision.hpp"
#include "modes/handoff.hpp"
#include "modes/proposal.hpp"
#include "modes/quorum.hpp"
#include "modes/task.hpp"
#include "modes/multi_round.hpp"
#include "modes/standard_descriptors.hpp"

namespace macp::modes {

namespace {

// A standards-track mode whose rules this build does not implement yet: it is discoverable
// (ListModes, supported_modes) but refuses to start sessions with MODE_NOT_SUPPORTED.
class DescriptorOnlyMode final : public Mode {
public:
    explicit DescriptorOnlyMode(ModeDescriptor d) : d_(std::move(d)) {}
    [[nodiscard]] const ModeDescriptor& descriptor() const override { return d_; }
    [[nodiscard]] bool strict() const override { return true; }
    [[nodiscard]] bool standards_track() const override { return true; }
    [[nodiscard]] ModeResult<std::string> on_session_start(const kernel::Session&) const override {
        return fail(kernel::Error(kernel::ErrorKind::UnknownMode, "mode rules not built into this runtime"));
    }
    [[nodiscard]] ModeResult<bool> authorize(const MessageContext&) const override {
        return fail(kernel::Error(kernel::ErrorKind::UnknownMode));
    }
    [[nodiscard]] ModeResult<Outcome> apply(const MessageContext&) const override {
        return fail(kernel::Error(kernel::ErrorKind::UnknownMode));
    }

private:
    ModeDescriptor d_;
};

}  // namespace

ModeRegistry::ModeRegistry() {
    int order = 0;
    for (auto& d : standard_descriptors()) {
        auto name = d.mode;
        std::shared_ptr<const Mode> mode;
        if (name == "macp.mode.decision.v1") {
            mode = std::make_shared<DecisionMode>(std::move(d));
        } else if (name == "macp.mode.proposal.v1") {
            mode = std::make_shared<ProposalMode>(std::move(d));
        } else if (name == "macp.mode.quorum.v1") {
            mode = std::make_shared<QuorumMode>(std::move(d));
        } else if (name == "macp.mode.task.v1") {
            mode = std::make_shared<TaskMode>(std::move(d));
        } else if (name == "macp.mode.handoff.v1") {
            mode = std::make_shared<HandoffMode>(std::move(d));
        } else {
            mode = std::make_shared<DescriptorOnlyMode>(std::move(d));
        }
        entries_.push_back({name, std::move(mode), true, order++});
    }
    auto mr = std::make_shared<MultiRoundMode>();
    entries_.push_back({mr->descriptor().mode, mr, true, order++});
}

std::shared_ptr<const Mode> ModeRegistry::find(const std::string& name) const {
    std::shared_lock lock(mu_);
    for (const auto& e : entries_) {
        if (e.name == name) return e.mode;
    }
    return nullptr;
}

std::vector<ModeDescriptor> ModeRegistry::standards_track() const {
    std::shared_lock lock(mu_);
    std::vector<const Entry*> picked;
    for (const auto& e : entries_) {
        if (e.mode->standards_track()) picked.push_back(&e);
    }
    std::stable_sort(picked.begin(), picked.end(), [](const Entry* a, const Entry* b) {
        if (a->builtin != b->builtin) return a->builtin;
        if (a->builtin) return a->order < b->order;
        return a->name < b->name;
    });
    std::vector<ModeDescriptor> out;
    for (const auto* e : picked) out.push_back(e->mode->descriptor());
    return out;
}

std::vector<ModeDescriptor> ModeRegistry::extensions() const {
    std::shared_lock lock(mu_);
    std::vector<ModeDescriptor> out;
    for (const auto& e : entries_) {
        if (!e.mode->standards_track()) out.push_back(e.mode->descriptor());
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.mode < b.mode; });
    return out;
}

std::vector<std::string> ModeRegistry::all_names() const {
    std::shared_lock lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace macp::modes
