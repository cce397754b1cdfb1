#include "policy/policy_definition.hpp"

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>

#include <rapidjson/document.h>

#include "policy/parsed_rules.hpp"
#include "util/json.hpp"

namespace macp::policy {

const PolicyDefinition& default_policy() {
    static const PolicyDefinition def = [] {
        PolicyDefinition d{
            kDefaultPolicyId, "*",
            "Default policy \u2014 mode built-in rules apply with no additional governance constraints",
            R"({"commitment":{"authority":"initiator_only","designated_roles":[],"require_vote_quorum":false},)"
            R"("evaluation":{"minimum_confidence":0.0,"required_before_voting":false},)"
            R"("objection_handling":{"critical_severity_vetoes":false,"veto_threshold":1},)"
            R"("voting":{"algorithm":"none","quorum":{"type":"count","value":0}}})",
            1};
        d.parsed = parse_rules(d);
        return d;
    }();
    return def;
}

namespace {

// POL-AUTH-1..3 out of the rules text; POL-SCH-8: malformed rules give the defaults.
CommitmentAuthority read_commitment_authority(const std::string& rules) {
    CommitmentAuthority out;
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(rules, doc) || !doc.IsObject()) return out;
    auto c = doc.FindMember("commitment");
    if (c == doc.MemberEnd() || !c->value.IsObject()) return out;
    const auto& group = c->value;
    auto a = group.FindMember("authority");
    auto r = group.FindMember("designated_roles");
    // A malformed group falls back to the defaults as a whole (POL-SCH-8).
    if ((a != group.MemberEnd() && !a->value.IsString()) || (r != group.MemberEnd() && !r->value.IsArray())) {
        return out;
    }
    if (a != group.MemberEnd()) out.authority = a->value.GetString();
    if (r != group.MemberEnd()) {
        for (const auto& role : r->value.GetArray()) {
            if (!role.IsString()) return CommitmentAuthority{};
            out.designated_roles.emplace_back(role.GetString(), role.GetStringLength());
        }
    }
    return out;
}

DecisionRules read_decision(const std::string& rules, bool& ok, std::string& error) {
    DecisionRules out;
    ok = parse_decision_rules(rules, out, error);
    return out;
}

// Every field but `parsed`: two definitions equal here are the same policy.
bool same_policy(const PolicyDefinition& a, const PolicyDefinition& b) {
    return a.schema_version == b.schema_version && a.registered_at_ms == b.registered_at_ms &&
           a.policy_id == b.policy_id && a.mode == b.mode && a.rules == b.rules && a.description == b.description;
}

size_t policy_hash(const PolicyDefinition& d) {
    const std::hash<std::string> h;
    size_t seed = h(d.rules);
    for (size_t v : {h(d.policy_id), h(d.mode), h(d.description), static_cast<size_t>(d.schema_version),
                     static_cast<size_t>(d.registered_at_ms)}) {
        seed ^= v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
    }
    return seed;
}

// The shared copies handed out by share_policy(), weakly held: a policy no session is bound to
// any more is freed, and its entry dropped at the next purge.
class PolicyInterner {
public:
    std::shared_ptr<const PolicyDefinition> share(const PolicyDefinition& def) {
        const size_t h = policy_hash(def);
        std::lock_guard lock(mu_);
        auto [first, last] = shared_.equal_range(h);
        for (auto it = first; it != last; ++it) {
            if (auto p = it->second.lock(); p && same_policy(*p, def)) return p;
        }
        auto copy = std::make_shared<PolicyDefinition>(def);
        // Bound now: parsed once here, whatever the copy came with (issue #13).
        if (!copy->parsed || copy->parsed->source != copy->rules) copy->parsed = parse_rules(*copy);
        if (shared_.size() >= purge_at_) {
            std::erase_if(shared_, [](const auto& e) { return e.second.expired(); });
            purge_at_ = std::max<size_t>(64, 2 * shared_.size());
        }
        shared_.emplace(h, copy);
        return copy;
    }

private:
    std::mutex mu_;
    std::unordered_multimap<size_t, std::weak_ptr<const PolicyDefinition>> shared_;
    size_t purge_at_ = 64;
};

}  // namespace

ParsedRules::ParsedRules(const PolicyDefinition& def)
    : source(def.rules),
      authority(read_commitment_authority(def.rules)),
      decision(read_decision(def.rules, decision_ok, decision_error)),
      proposal(parse_proposal_rules(def.rules)),
      quorum(parse_quorum_rules(def.rules)),
      task(parse_task_rules(def)),
      handoff(parse_handoff_rules(def)) {}

std::shared_ptr<const ParsedRules> parse_rules(const PolicyDefinition& def) {
    return std::make_shared<const ParsedRules>(def);
}

std::shared_ptr<const ParsedRules> rules_of(const PolicyDefinition& def) {
    if (def.parsed && def.parsed->source == def.rules) return def.parsed;
    return parse_rules(def);
}

std::shared_ptr<const PolicyDefinition> share_policy(const PolicyDefinition& def) {
    static auto* interner = new PolicyInterner;  // never destroyed: sessions may outlive statics at exit
    return interner->share(def);
}

CommitmentAuthority commitment_authority(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    return rules_of(*policy)->authority;
}

bool may_commit(const PolicyDefinition* policy, const std::string& sender, const std::string& initiator,
                const std::vector<std::string>& participants) {
    if (policy == nullptr) return sender == initiator;  // POL-AUTH-3: the default authority
    const auto parsed = rules_of(*policy);
    const CommitmentAuthority& auth = parsed->authority;
    if (auth.authority == "any_participant") {  // POL-AUTH-1
        return sender == initiator || std::find(participants.begin(), participants.end(), sender) != participants.end();
    }
    if (auth.authority == "designated_role") {  // POL-AUTH-2: sender ids, initiator not implied
        return std::find(auth.designated_roles.begin(), auth.designated_roles.end(), sender) !=
               auth.designated_roles.end();
    }
    return sender == initiator;  // POL-AUTH-3
}

std::optional<std::string> unsupported_schema_reason(const PolicyDefinition* policy) {
    if (policy == nullptr || policy->schema_version == 1 || policy->schema_version == 2) return std::nullopt;
    return "unsupported policy schema version: " + std::to_string(policy->schema_version) + " (supported: [1, 2])";
}

}  // namespace macp::policy
