#include "policy/policy_definition.hpp"

#include <algorithm>

#include <rapidjson/document.h>

#include "util/json.hpp"

namespace macp::policy {

const PolicyDefinition& default_policy() {
    static const PolicyDefinition def{
        kDefaultPolicyId, "*",
        "Default policy \u2014 mode built-in rules apply with no additional governance constraints",
        R"({"commitment":{"authority":"initiator_only","designated_roles":[],"require_vote_quorum":false},)"
        R"("evaluation":{"minimum_confidence":0.0,"required_before_voting":false},)"
        R"("objection_handling":{"critical_severity_vetoes":false,"veto_threshold":1},)"
        R"("voting":{"algorithm":"none","quorum":{"type":"count","value":0}}})",
        1};
    return def;
}

CommitmentAuthority commitment_authority(const PolicyDefinition* policy) {
    CommitmentAuthority out;
    if (policy == nullptr) return out;
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy->rules, doc) || !doc.IsObject()) return out;
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

bool may_commit(const PolicyDefinition* policy, const std::string& sender, const std::string& initiator,
                const std::vector<std::string>& participants) {
    auto auth = commitment_authority(policy);
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
