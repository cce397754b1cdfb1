#include "policy/proposal_evaluator.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include <rapidjson/document.h>

#include "util/json.hpp"

namespace macp::policy {

namespace {

using rapidjson::Value;

// The reference deserializes rules from a serde_json::Value whose Map is a BTreeMap (no
// preserve_order): members are visited in key order and a duplicated key keeps its last value.
std::map<std::string, const Value*> members_of(const Value& obj) {
    std::map<std::string, const Value*> out;
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        out[std::string(it->name.GetString(), it->name.GetStringLength())] = &it->value;
    }
    return out;
}

// Rust's Display for f64: shortest round-trip digits, never an exponent.
std::string rust_f64(double v) {
    if (std::isnan(v)) return "NaN";
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
    if (r.ec != std::errc()) return "NaN";
    return {buf, r.ptr};
}

// Rust's Debug for str (approximate: quotes, escapes, control characters as \u{..}).
std::string rust_debug_str(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\0': out += "\\0"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char esc[12];
                    std::snprintf(esc, sizeof(esc), "\\u{%x}", static_cast<unsigned>(c));
                    out += esc;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

// serde's `Unexpected` wording for a JSON value.
std::string unexpected(const Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return std::string("boolean `") + (v.GetBool() ? "true" : "false") + "`";
    if (v.IsUint64()) return "integer `" + std::to_string(v.GetUint64()) + "`";
    if (v.IsInt64()) return "integer `" + std::to_string(v.GetInt64()) + "`";
    if (v.IsNumber()) {
        auto s = rust_f64(v.GetDouble());
        if (s.find('.') == std::string::npos) s += ".0";
        return "floating point `" + s + "`";
    }
    if (v.IsString()) return "string " + rust_debug_str({v.GetString(), v.GetStringLength()});
    if (v.IsArray()) return "sequence";
    return "map";
}

std::string invalid_type(const Value& v, const char* expected) {
    return "invalid type: " + unexpected(v) + ", expected " + expected;
}

// Empty string = ok; otherwise the serde error text.
std::string check_string(const Value& v) {
    return v.IsString() ? std::string() : invalid_type(v, "a string");
}
std::string check_bool(const Value& v) {
    return v.IsBool() ? std::string() : invalid_type(v, "a boolean");
}
std::string check_usize(const Value& v) {
    if (v.IsUint64()) return {};
    if (v.IsInt64()) return "invalid value: " + unexpected(v) + ", expected usize";
    return invalid_type(v, "usize");
}

// POL-SCH-3: the commitment group is part of every mode's rule struct, so a type error in it
// fails the whole proposal rules object too.
std::string check_commitment_group(const Value& v) {
    if (!v.IsObject()) return invalid_type(v, "struct CommitmentRules");
    for (const auto& [key, val] : members_of(v)) {
        std::string err;
        if (key == "allow_decline_over_approval" || key == "require_vote_quorum") {
            err = check_bool(*val);
        } else if (key == "authority") {
            err = check_string(*val);
        } else if (key == "designated_roles") {
            if (!val->IsArray()) return invalid_type(*val, "a sequence");
            for (const auto& role : val->GetArray()) {
                err = check_string(role);
                if (!err.empty()) return err;
            }
        }
        if (!err.empty()) return err;
    }
    return {};
}

}  // namespace

// POL-SCH-4: acceptance{criterion="all_parties"}, counter_proposal{max_rounds=0},
// rejection{terminal_on_any_reject=false}, commitment{...}.
Result<ProposalPolicyRules, std::string> parse_proposal_rules(std::string_view rules_json) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(rules_json, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct ProposalPolicyRules"));
    ProposalPolicyRules out;
    for (const auto& [key, group] : members_of(doc)) {
        if (key == "commitment") {
            auto err = check_commitment_group(*group);
            if (!err.empty()) return fail(err);
            continue;
        }
        const char* type_name = key == "acceptance"         ? "struct ProposalAcceptanceRules"
                                : key == "counter_proposal" ? "struct CounterProposalRules"
                                : key == "rejection"        ? "struct RejectionRules"
                                                            : nullptr;
        if (type_name == nullptr) continue;  // unknown keys are ignored
        if (!group->IsObject()) return fail(invalid_type(*group, type_name));
        for (const auto& [field, val] : members_of(*group)) {
            if (key == "acceptance" && field == "criterion") {
                auto err = check_string(*val);
                if (!err.empty()) return fail(err);
                out.acceptance_criterion.assign(val->GetString(), val->GetStringLength());
            } else if (key == "counter_proposal" && field == "max_rounds") {
                auto err = check_usize(*val);
                if (!err.empty()) return fail(err);
                out.counter_proposal_max_rounds = val->GetUint64();
            } else if (key == "rejection" && field == "terminal_on_any_reject") {
                auto err = check_bool(*val);
                if (!err.empty()) return fail(err);
                out.rejection_terminal_on_any_reject = val->GetBool();
            }
        }
    }
    return out;
}

ProposalPolicyRules proposal_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    auto parsed = parse_proposal_rules(policy->rules);
    if (!parsed) return {};  // POL-SCH-8: mode-side reads fall back to the defaults
    return std::move(parsed.value());
}

std::vector<std::string> evaluate_proposal_commitment(const PolicyDefinition* policy, uint64_t counter_proposal_count,
                                                      bool outcome_positive) {
    if (policy == nullptr) return {};  // no bound policy: the reference does not evaluate
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    auto parsed = parse_proposal_rules(policy->rules);
    if (!parsed) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + parsed.error()};
    }
    const auto& rules = parsed.value();
    std::vector<std::string> deny;
    // POL-PROP-1 (0.6): the round limit gates positive commitments only; a decline is the legitimate
    // exit from an over-long negotiation (POL-EVAL-3).
    if (rules.counter_proposal_max_rounds > 0 && counter_proposal_count > rules.counter_proposal_max_rounds &&
        outcome_positive) {
        deny.push_back("counter-proposal limit exceeded: " + std::to_string(counter_proposal_count) + " of " +
                       std::to_string(rules.counter_proposal_max_rounds) + " allowed");
    }
    return deny;
}

}  // namespace macp::policy
