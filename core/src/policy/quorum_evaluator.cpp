#include "policy/quorum_evaluator.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
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

// Rust's Display for f64: shortest round-trip digits, never an exponent ("2", "2.5", "60").
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
std::string check_f64(const Value& v) {
    return v.IsNumber() ? std::string() : invalid_type(v, "f64");
}

// POL-SCH-3: the commitment group is part of every mode's rule struct, so a type error in it
// fails the whole quorum rules object too.
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

// Rust's saturating `f64 as u64`: NaN and negatives give 0, too-large values give the maximum.
uint64_t saturating_u64(double x) {
    if (!(x > 0.0)) return 0;
    if (x >= 18446744073709551616.0) return std::numeric_limits<uint64_t>::max();
    return static_cast<uint64_t>(x);
}

}  // namespace

// POL-SCH-7: threshold{type="n_of_m", value=0.0}, abstention{counts_toward_quorum=false,
// interpretation="neutral"}, commitment{...}.
Result<QuorumPolicyRules, std::string> parse_quorum_rules(std::string_view rules_json) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(rules_json, doc)) return fail(std::string("rules are not valid JSON"));
    if (!doc.IsObject()) return fail(invalid_type(doc, "struct QuorumPolicyRules"));
    QuorumPolicyRules out;
    for (const auto& [key, group] : members_of(doc)) {
        if (key == "commitment") {
            auto err = check_commitment_group(*group);
            if (!err.empty()) return fail(err);
            continue;
        }
        const char* type_name = key == "threshold"    ? "struct QuorumThreshold"
                                : key == "abstention" ? "struct AbstentionRules"
                                                      : nullptr;
        if (type_name == nullptr) continue;  // unknown keys are ignored
        if (!group->IsObject()) return fail(invalid_type(*group, type_name));
        for (const auto& [field, val] : members_of(*group)) {
            std::string err;
            if (key == "threshold" && field == "type") {
                err = check_string(*val);
                if (err.empty()) out.threshold_type.assign(val->GetString(), val->GetStringLength());
            } else if (key == "threshold" && field == "value") {
                err = check_f64(*val);
                if (err.empty()) out.threshold_value = val->GetDouble();
            } else if (key == "abstention" && field == "counts_toward_quorum") {
                err = check_bool(*val);
                if (err.empty()) out.abstention_counts_toward_quorum = val->GetBool();
            } else if (key == "abstention" && field == "interpretation") {
                err = check_string(*val);
                if (err.empty()) out.abstention_interpretation.assign(val->GetString(), val->GetStringLength());
            }
            if (!err.empty()) return fail(err);
        }
    }
    return out;
}

QuorumPolicyRules quorum_rules_or_default(const PolicyDefinition* policy) {
    if (policy == nullptr) return {};
    auto parsed = parse_quorum_rules(policy->rules);
    if (!parsed) return {};  // POL-SCH-8: mode-side reads fall back to the defaults
    return std::move(parsed.value());
}

std::optional<uint64_t> quorum_policy_required_approvals(const QuorumPolicyRules& rules, size_t participant_count) {
    if (!(rules.threshold_value > 0.0)) return std::nullopt;  // MODE-QUO-5 / POL-QUO-1: only value > 0
    if (rules.threshold_type == "percentage") {
        // POL-SCH-9: 0–100 scale; POL-QUO-1 (0.6): zero participants can never meet it.
        if (participant_count == 0) return std::numeric_limits<uint64_t>::max();
        return saturating_u64(std::ceil(rules.threshold_value / 100.0 * static_cast<double>(participant_count)));
    }
    // "n_of_m", "count" and unknown types: ceil(value). Q-47: the reference mode truncates here while
    // its evaluator rounds up; we round up in both places so readiness and the gate agree.
    return saturating_u64(std::ceil(rules.threshold_value));
}

std::vector<std::string> evaluate_quorum_commitment(const PolicyDefinition* policy, const QuorumTally& tally,
                                                    const std::vector<std::string>& participants,
                                                    bool outcome_positive) {
    if (policy == nullptr) return {};  // no bound policy: the reference does not evaluate
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};  // POL-EVAL-1
    auto parsed = parse_quorum_rules(policy->rules);
    if (!parsed) {  // POL-SCH-8 (0.6): an evaluation-time parse failure denies
        return {"policy '" + policy->policy_id + "' rules failed to parse at evaluation time: " + parsed.error()};
    }
    const auto& rules = parsed.value();
    std::vector<std::string> deny;
    // POL-QUO-1 (0.6): `threshold` is an approval-count bar for positive commitments only; a decline
    // is never gated by it (POL-EVAL-3), and abstention.counts_toward_quorum no longer matters.
    if (auto required = quorum_policy_required_approvals(rules, participants.size())) {
        if (outcome_positive && tally.approve < *required) {
            deny.push_back("approval threshold not met: " + std::to_string(tally.approve) + " of " +
                           std::to_string(*required) + " required approvals (" + rust_f64(rules.threshold_value) + " " +
                           rules.threshold_type + ")");
        }
    }
    // POL-QUO-2: abstention.interpretation ("implicit_reject" included) only ever adds an
    // informational allow reason in the reference; it never gates, so nothing to do here.
    return deny;
}

}  // namespace macp::policy
