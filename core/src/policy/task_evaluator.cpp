#include "policy/task_evaluator.hpp"

#include <charconv>
#include <cstdio>
#include <map>
#include <string_view>

#include <rapidjson/document.h>

#include "util/json.hpp"

namespace macp::policy {

namespace {

using rapidjson::Value;

// The reference reads rules from a serde_json::Value whose map is key-sorted: members are visited in
// key order and a repeated key keeps its last value. The first type error in that order is reported.
std::map<std::string, const Value*> members_of(const Value& obj) {
    std::map<std::string, const Value*> out;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        out[std::string(it->name.GetString(), it->name.GetStringLength())] = &it->value;
    }
    return out;
}

// serde's description of an unexpected JSON value ("string \"x\"", "integer `5`", ...).
std::string describe(const Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return v.GetBool() ? "boolean `true`" : "boolean `false`";
    if (v.IsUint64()) return "integer `" + std::to_string(v.GetUint64()) + "`";
    if (v.IsInt64()) return "integer `" + std::to_string(v.GetInt64()) + "`";
    if (v.IsNumber()) {
        char buf[400];
        auto r = std::to_chars(buf, buf + sizeof(buf), v.GetDouble(), std::chars_format::fixed);
        std::string digits = r.ec == std::errc() ? std::string(buf, r.ptr) : std::string("NaN");
        if (digits.find('.') == std::string::npos) digits += ".0";
        return "floating point `" + digits + "`";
    }
    if (v.IsString()) {
        std::string out = "string \"";
        for (unsigned char c : std::string_view(v.GetString(), v.GetStringLength())) {
            if (c == '"' || c == '\\') {
                out += '\\';
                out += static_cast<char>(c);
            } else if (c == '\n') {
                out += "\\n";
            } else if (c == '\r') {
                out += "\\r";
            } else if (c == '\t') {
                out += "\\t";
            } else if (c < 0x20 || c == 0x7f) {
                char esc[12];
                std::snprintf(esc, sizeof(esc), "\\u{%x}", static_cast<unsigned>(c));
                out += esc;
            } else {
                out += static_cast<char>(c);
            }
        }
        return out + "\"";
    }
    if (v.IsArray()) return "sequence";
    return "map";
}

std::string invalid_type(const Value& v, const char* expected) {
    return "invalid type: " + describe(v) + ", expected " + expected;
}

// POL-SCH-3: the shared `commitment` group is part of every mode's rule struct, so a mistyped field
// there makes the whole rule object fail. Empty = fine.
std::string commitment_group_error(const Value& g) {
    if (!g.IsObject()) return invalid_type(g, "struct CommitmentRules");
    for (const auto& [key, v] : members_of(g)) {
        if (key == "authority" && !v->IsString()) return invalid_type(*v, "a string");
        if ((key == "require_vote_quorum" || key == "allow_decline_over_approval") && !v->IsBool()) {
            return invalid_type(*v, "a boolean");
        }
        if (key == "designated_roles") {
            if (!v->IsArray()) return invalid_type(*v, "a sequence");
            for (const auto& role : v->GetArray()) {
                if (!role.IsString()) return invalid_type(role, "a string");
            }
        }
    }
    return {};
}

}  // namespace

Result<TaskRules, std::string> parse_task_rules(const PolicyDefinition& policy) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(policy.rules, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct TaskPolicyRules"));
    TaskRules out;  // POL-SCH-5 defaults; unknown keys are ignored
    for (const auto& [group, g] : members_of(doc)) {
        if (group == "commitment") {
            if (auto e = commitment_group_error(*g); !e.empty()) return fail(std::move(e));
            continue;
        }
        const char* field = nullptr;
        bool* target = nullptr;
        const char* type_name = nullptr;
        if (group == "assignment") {
            field = "allow_reassignment_on_reject";
            target = &out.allow_reassignment_on_reject;
            type_name = "struct TaskAssignmentRules";
        } else if (group == "completion") {
            field = "require_output";
            target = &out.require_output;
            type_name = "struct TaskCompletionRules";
        } else {
            continue;
        }
        if (!g->IsObject()) return fail(invalid_type(*g, type_name));
        for (const auto& [key, v] : members_of(*g)) {
            if (key != field) continue;
            if (!v->IsBool()) return fail(invalid_type(*v, "a boolean"));
            *target = v->GetBool();
        }
    }
    return out;
}

TaskRules task_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    auto rules = parse_task_rules(*policy);
    return rules ? rules.value() : TaskRules{};  // POL-SCH-8: mode-side reads fall back to defaults
}

std::vector<std::string> evaluate_task_commitment(const PolicyDefinition* policy, bool has_output,
                                                  bool outcome_positive) {
    if (policy == nullptr) return {};                                       // no bound policy: nothing to enforce
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    auto rules = parse_task_rules(*policy);
    if (!rules) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + rules.error()};
    }
    std::vector<std::string> deny;
    // POL-TASK-1 (0.6, Q-30 partly fixed): require_output gates positive commitments only; a negative
    // commitment (e.g. after TaskFail) legitimately has no output.
    if (rules->require_output && !has_output && outcome_positive) {
        deny.emplace_back("policy requires task output before commitment");
    }
    return deny;
}

}  // namespace macp::policy
