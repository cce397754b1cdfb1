#include "policy/decision_evaluator.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "policy/parsed_rules.hpp"
#include "util/json.hpp"

namespace macp::policy {

const char* phase_name(DecisionPhase p) {
    switch (p) {
        case DecisionPhase::Proposal: return "Proposal";
        case DecisionPhase::Evaluation: return "Evaluation";
        case DecisionPhase::Voting: return "Voting";
        case DecisionPhase::Committed: return "Committed";
    }
    return "Proposal";
}

namespace {

using rapidjson::Value;

// ---------------------------------------------------------------------------------------------
// Number formatting as the reference's Rust format strings produce it.

// Rust `{}` for f64: the shortest round-trip digits written out in plain decimal notation
// (padded with zeros, never an exponent), no trailing ".0".
std::string rust_display(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);  // "-d.ddde+XX"
    if (r.ec != std::errc()) return "?";
    std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
    std::string sign;
    if (!s.empty() && s.front() == '-') {
        sign = "-";
        s.remove_prefix(1);
    }
    auto e = s.find('e');
    std::string digits;
    for (char c : s.substr(0, e)) {
        if (c != '.') digits += c;
    }
    int exponent = 0;
    auto exp_text = s.substr(e + 1);
    if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
    std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
    const long point = static_cast<long>(exponent) + 1;  // digits before the decimal point
    const auto n = static_cast<long>(digits.size());
    if (point <= 0) return sign + "0." + std::string(static_cast<size_t>(-point), '0') + digits;
    if (point >= n) return sign + digits + std::string(static_cast<size_t>(point - n), '0');
    return sign + digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
}

// Rust `{:.N}` for f64 (exact value, ties to even) == printf "%.Nf" under the default rounding mode.
std::string rust_fixed(double v, int decimals) {
    int n = std::snprintf(nullptr, 0, "%.*f", decimals, v);
    if (n <= 0) return "?";
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), "%.*f", decimals, v);
    out.resize(static_cast<size_t>(n));
    return out;
}

// ---------------------------------------------------------------------------------------------
// A reader that mirrors serde's derive(Deserialize) over a serde_json::Value (POL-SCH-*).

// serde's `Unexpected` wording for a JSON value.
std::string unexpected(const Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return v.GetBool() ? "boolean `true`" : "boolean `false`";
    if (v.IsUint64()) return "integer `" + std::to_string(v.GetUint64()) + "`";
    if (v.IsInt64()) return "integer `" + std::to_string(v.GetInt64()) + "`";
    if (v.IsNumber()) {
        auto s = rust_display(v.GetDouble());
        if (s.find('.') == std::string::npos) s += ".0";
        return "floating point `" + s + "`";
    }
    if (v.IsString()) {
        std::string s = "string \"";
        for (rapidjson::SizeType i = 0; i < v.GetStringLength(); ++i) {
            char c = v.GetString()[i];
            if (c == '"' || c == '\\') s += '\\';
            s += c;
        }
        return s + "\"";
    }
    if (v.IsArray()) return "sequence";
    return "map";
}

std::string invalid_type(const Value& v, const std::string& expected) {
    return "invalid type: " + unexpected(v) + ", expected " + expected;
}

// A struct arrives as a JSON object (fields by name) or, as serde also allows, as an array
// (fields by position; a missing trailing field takes its default, extra elements fail).
class StructIn {
public:
    StructIn(const Value& v, size_t field_count) : v_(v), count_(field_count) {}

    static bool is_struct(const Value& v) { return v.IsObject() || v.IsArray(); }

    // The value of field number `idx` called `name`, or null when absent (=> default).
    [[nodiscard]] const Value* field(size_t idx, const char* name) const {
        if (v_.IsArray()) return idx < v_.Size() ? &v_[static_cast<rapidjson::SizeType>(idx)] : nullptr;
        const Value* found = nullptr;
        for (const auto& m : v_.GetObject()) {  // serde_json's map keeps the last duplicate
            if (std::string_view(m.name.GetString(), m.name.GetStringLength()) == name) found = &m.value;
        }
        return found;
    }

    // Array form only: more elements than fields is an error (serde_json's visit_array).
    [[nodiscard]] bool check_length(std::string& error) const {
        if (v_.IsArray() && v_.Size() > count_) {
            error = "invalid length " + std::to_string(v_.Size()) + ", expected fewer elements in array";
            return false;
        }
        return true;
    }

private:
    const Value& v_;
    size_t count_;
};

bool read_f64(const Value* v, double& out, std::string& error) {
    if (v == nullptr) return true;
    if (!v->IsNumber()) {
        error = invalid_type(*v, "f64");
        return false;
    }
    out = v->GetDouble();
    return true;
}

bool read_bool(const Value* v, bool& out, std::string& error) {
    if (v == nullptr) return true;
    if (!v->IsBool()) {
        error = invalid_type(*v, "a boolean");
        return false;
    }
    out = v->GetBool();
    return true;
}

bool read_string(const Value* v, std::string& out, std::string& error) {
    if (v == nullptr) return true;
    if (!v->IsString()) {
        error = invalid_type(*v, "a string");
        return false;
    }
    out.assign(v->GetString(), v->GetStringLength());
    return true;
}

bool read_u32(const Value* v, uint32_t& out, std::string& error) {
    if (v == nullptr) return true;
    if (v->IsUint64()) {
        if (v->GetUint64() > std::numeric_limits<uint32_t>::max()) {
            error = "invalid value: " + unexpected(*v) + ", expected u32";
            return false;
        }
        out = static_cast<uint32_t>(v->GetUint64());
        return true;
    }
    if (v->IsInt64()) {
        error = "invalid value: " + unexpected(*v) + ", expected u32";
        return false;
    }
    error = invalid_type(*v, "u32");
    return false;
}

bool read_string_vec(const Value* v, std::vector<std::string>& out, std::string& error) {
    if (v == nullptr) return true;
    if (!v->IsArray()) {
        error = invalid_type(*v, "a sequence");
        return false;
    }
    std::vector<std::string> items;
    for (const auto& e : v->GetArray()) {
        std::string s;
        if (!read_string(&e, s, error)) return false;
        items.push_back(std::move(s));
    }
    out = std::move(items);
    return true;
}

bool read_weights(const Value* v, std::map<std::string, double>& out, std::string& error) {
    if (v == nullptr) return true;
    if (!v->IsObject()) {
        error = invalid_type(*v, "a map");
        return false;
    }
    std::map<std::string, double> items;
    for (const auto& m : v->GetObject()) {
        double w = 0.0;
        if (!read_f64(&m.value, w, error)) return false;
        items[std::string(m.name.GetString(), m.name.GetStringLength())] = w;  // last duplicate wins
    }
    out = std::move(items);
    return true;
}

// POL-SCH-2: snake_case unit variants; "x" or {"x": null}; anything else fails.
bool read_action(const Value* v, CriticalObjectionAction& out, std::string& error) {
    if (v == nullptr) return true;
    std::string_view name;
    if (v->IsString()) {
        name = {v->GetString(), v->GetStringLength()};
    } else if (v->IsObject()) {
        if (v->MemberCount() != 1) {
            error = "invalid value: map, expected map with a single key";
            return false;
        }
        const auto& m = *v->MemberBegin();
        name = {m.name.GetString(), m.name.GetStringLength()};
        if (name == "deny" || name == "finalize_decline" || name == "hold") {
            if (!m.value.IsNull()) {
                error = invalid_type(m.value, "unit variant");
                return false;
            }
        }
    } else {
        error = invalid_type(*v, "string or map");
        return false;
    }
    if (name == "deny") {
        out = CriticalObjectionAction::Deny;
    } else if (name == "finalize_decline") {
        out = CriticalObjectionAction::FinalizeDecline;
    } else if (name == "hold") {
        out = CriticalObjectionAction::Hold;
    } else {
        error = "unknown variant `" + std::string(name) + "`, expected one of `deny`, `finalize_decline`, `hold`";
        return false;
    }
    return true;
}

bool open_struct(const Value* v, const char* struct_name, std::string& error) {
    if (StructIn::is_struct(*v)) return true;
    error = invalid_type(*v, std::string("struct ") + struct_name);
    return false;
}

// POL-SCH-1: voting{algorithm="none", threshold=0.5, quorum{type="count", value=0}, weights{}}.
bool read_voting(const Value* v, DecisionRules::Voting& out, std::string& error) {
    if (v == nullptr) return true;
    if (!open_struct(v, "VotingRules", error)) return false;
    StructIn s(*v, 4);
    if (!read_string(s.field(0, "algorithm"), out.algorithm, error)) return false;
    if (!read_f64(s.field(1, "threshold"), out.threshold, error)) return false;
    if (const Value* q = s.field(2, "quorum")) {
        if (!open_struct(q, "QuorumRules", error)) return false;
        StructIn qs(*q, 2);
        if (!read_string(qs.field(0, "type"), out.quorum_type, error)) return false;
        if (!read_f64(qs.field(1, "value"), out.quorum_value, error)) return false;
        if (!qs.check_length(error)) return false;
    }
    if (!read_weights(s.field(3, "weights"), out.weights, error)) return false;
    return s.check_length(error);
}

// POL-SCH-1/2: objection_handling{critical_severity_vetoes=false, veto_threshold=1,
// critical_objection_action="deny"}.
bool read_objection_handling(const Value* v, DecisionRules::ObjectionHandling& out, std::string& error) {
    if (v == nullptr) return true;
    if (!open_struct(v, "ObjectionHandlingRules", error)) return false;
    StructIn s(*v, 3);
    if (!read_bool(s.field(0, "critical_severity_vetoes"), out.critical_severity_vetoes, error)) return false;
    if (!read_u32(s.field(1, "veto_threshold"), out.veto_threshold, error)) return false;
    if (!read_action(s.field(2, "critical_objection_action"), out.critical_objection_action, error)) return false;
    return s.check_length(error);
}

// POL-SCH-1: evaluation{required_before_voting=false, minimum_confidence=0.0}.
bool read_evaluation(const Value* v, DecisionRules::Evaluation& out, std::string& error) {
    if (v == nullptr) return true;
    if (!open_struct(v, "EvaluationRules", error)) return false;
    StructIn s(*v, 2);
    if (!read_bool(s.field(0, "required_before_voting"), out.required_before_voting, error)) return false;
    if (!read_f64(s.field(1, "minimum_confidence"), out.minimum_confidence, error)) return false;
    return s.check_length(error);
}

// POL-SCH-3: commitment{authority="initiator_only", designated_roles=[], require_vote_quorum=false,
// allow_decline_over_approval=false}.
bool read_commitment(const Value* v, DecisionRules::Commitment& out, std::string& error) {
    if (v == nullptr) return true;
    if (!open_struct(v, "CommitmentRules", error)) return false;
    StructIn s(*v, 4);
    if (!read_string(s.field(0, "authority"), out.authority, error)) return false;
    if (!read_string_vec(s.field(1, "designated_roles"), out.designated_roles, error)) return false;
    if (!read_bool(s.field(2, "require_vote_quorum"), out.require_vote_quorum, error)) return false;
    if (!read_bool(s.field(3, "allow_decline_over_approval"), out.allow_decline_over_approval, error)) return false;
    return s.check_length(error);
}

// ---------------------------------------------------------------------------------------------
// POL-DEC-3..10

struct Tally {
    size_t approve = 0;
    size_t reject = 0;
    size_t abstain = 0;
    [[nodiscard]] size_t non_abstain() const { return approve + reject; }
};

// POL-DEC-4: every stored vote across all proposals; anything but APPROVE/REJECT is an abstain.
Tally aggregate_votes(const DecisionState& state) {
    Tally t;
    for (const auto& [pid, by_sender] : state.votes) {
        for (const auto& [sender, v] : by_sender) {
            if (v.vote == "APPROVE") {
                ++t.approve;
            } else if (v.vote == "REJECT") {
                ++t.reject;
            } else {
                ++t.abstain;
            }
        }
    }
    return t;
}

// POL-DEC-3: distinct senders that voted on any proposal.
size_t count_unique_voters(const DecisionState& state) {
    std::set<std::string> voters;
    for (const auto& [pid, by_sender] : state.votes) {
        for (const auto& [sender, v] : by_sender) voters.insert(sender);
    }
    return voters.size();
}

// POL-DEC-3: count/n_of_m (and unknown types) compare voters with the value; percentage is on a
// 0-100 scale (POL-SCH-9) and is met with 0 participants iff value <= 0.
bool check_quorum(const std::string& type, double value, size_t voters, size_t participants) {
    if (type == "percentage") {
        if (participants == 0) return value <= 0.0;
        double pct = (static_cast<double>(voters) / static_cast<double>(participants)) * 100.0;
        return pct >= value;
    }
    return static_cast<double>(voters) >= value;
}

enum class VotingOutcome { Passed, Failed, NoVotes };

struct VotingResult {
    VotingOutcome outcome;
    std::string reason;
};

VotingResult ratio_result(const char* name, const char* noun, double ratio, double threshold) {
    // POL-DEC-5/6/8: Passed iff ratio >= threshold (exactly at the threshold passes, Q-13).
    if (ratio >= threshold) {
        return {VotingOutcome::Passed, std::string(name) + " vote passed: " + rust_fixed(ratio * 100.0, 1) + "% " +
                                           noun + " (threshold: " + rust_fixed(threshold * 100.0, 1) + "%)"};
    }
    return {VotingOutcome::Failed, std::string(name) + " vote failed: " + rust_fixed(ratio * 100.0, 1) + "% " + noun +
                                       ", need >= " + rust_fixed(threshold * 100.0, 1) + "%"};
}

VotingResult check_voting_algorithm(const DecisionRules::Voting& voting, const DecisionState& state,
                                    const std::vector<std::string>& participants) {
    const Tally t = aggregate_votes(state);
    if (t.non_abstain() == 0) return {VotingOutcome::NoVotes, {}};  // POL-DEC-4
    const auto& algo = voting.algorithm;
    const double ratio = static_cast<double>(t.approve) / static_cast<double>(t.non_abstain());
    // POL-DEC-5
    if (algo == "majority") return ratio_result("majority", "approve", ratio, voting.threshold);
    // POL-DEC-6
    if (algo == "supermajority") {
        double effective = voting.threshold > 0.5 ? voting.threshold : 2.0 / 3.0;
        return ratio_result("supermajority", "approve", ratio, effective);
    }
    if (algo == "unanimous") {  // POL-DEC-7: every declared participant approved something, no REJECT at all
        bool all_approved = true;
        for (const auto& p : participants) {
            bool approved = false;
            for (const auto& [pid, by_sender] : state.votes) {
                auto it = by_sender.find(p);
                if (it != by_sender.end() && it->second.vote == "APPROVE") {
                    approved = true;
                    break;
                }
            }
            if (!approved) {
                all_approved = false;
                break;
            }
        }
        if (all_approved && t.reject == 0) {
            return {VotingOutcome::Passed, "unanimous vote passed: all participants approved"};
        }
        return {VotingOutcome::Failed, "unanimous vote failed: " + std::to_string(t.approve) + " approve, " +
                                           std::to_string(t.reject) + " reject out of " +
                                           std::to_string(participants.size()) + " participants"};
    }
    if (algo == "weighted") {  // POL-DEC-8: missing weight 1.0, abstains skipped
        double approve = 0.0;
        double total = 0.0;
        for (const auto& [pid, by_sender] : state.votes) {
            for (const auto& [sender, v] : by_sender) {
                if (v.vote != "APPROVE" && v.vote != "REJECT") continue;
                auto w = voting.weights.find(sender);
                double weight = w == voting.weights.end() ? 1.0 : w->second;
                total += weight;
                if (v.vote == "APPROVE") approve += weight;
            }
        }
        if (total == 0.0) return {VotingOutcome::NoVotes, {}};
        return ratio_result("weighted", "weighted approve", approve / total, voting.threshold);
    }
    if (algo == "plurality") {  // POL-DEC-9: total approve vs total reject
        auto counts = std::to_string(t.approve) + " approve vs " + std::to_string(t.reject) + " reject";
        if (t.approve > t.reject) return {VotingOutcome::Passed, "plurality vote passed: " + counts};
        if (t.approve == t.reject) return {VotingOutcome::Failed, "plurality vote tied: " + counts};
        return {VotingOutcome::Failed, "plurality vote failed: " + counts};
    }
    // POL-DEC-10: an unknown or misspelled algorithm never passes.
    return {VotingOutcome::Failed, "unknown voting algorithm '" + algo +
                                       "'; supported: majority, supermajority, unanimous, weighted, plurality, none"};
}

}  // namespace

bool parse_decision_rules(std::string_view rules_json, DecisionRules& out, std::string& error) {
    rapidjson::Document doc;
    // Size and depth limits first; then full precision so that thresholds read exactly.
    if (!util::parse_json_untrusted(rules_json, doc)) {
        error = "rules are not a valid JSON document";
        return false;
    }
    const rapidjson::ParseResult parsed = util::parse_numbers_exactly(rules_json, doc);
    if (parsed.IsError()) {
        error = std::string("rules are not valid JSON: ") + rapidjson::GetParseError_En(parsed.Code());
        return false;
    }
    DecisionRules rules;
    if (!open_struct(&doc, "DecisionPolicyRules", error)) return false;
    StructIn s(doc, 4);
    if (!read_voting(s.field(0, "voting"), rules.voting, error)) return false;
    if (!read_objection_handling(s.field(1, "objection_handling"), rules.objection_handling, error)) return false;
    if (!read_evaluation(s.field(2, "evaluation"), rules.evaluation, error)) return false;
    if (!read_commitment(s.field(3, "commitment"), rules.commitment, error)) return false;
    if (!s.check_length(error)) return false;
    out = std::move(rules);
    return true;
}

std::vector<std::string> evaluate_decision_commitment(const PolicyDefinition* policy, const DecisionState& state,
                                                      const std::vector<std::string>& participants,
                                                      bool outcome_positive) {
    // No bound definition: the reference skips evaluation entirely.
    if (policy == nullptr) return {};
    // POL-EVAL-1
    if (auto reason = unsupported_schema_reason(policy)) return {*reason};
    // POL-SCH-8 (0.6): rules that do not deserialize deny instead of evaluating defaults.
    const auto parsed = rules_of(*policy);  // read when the policy was bound (issue #13)
    if (!parsed->decision_ok) {
        return {"policy '" + policy->policy_id +
                "' rules failed to parse at evaluation time: " + parsed->decision_error};
    }
    const DecisionRules& rules = parsed->decision;

    std::vector<std::string> deny;  // POL-EVAL-2: every failing check contributes a reason

    // POL-DEC-1: REVIEW evaluations never count; minimum_confidence only acts together with
    // required_before_voting. Outcome-agnostic.
    std::vector<const DecisionEvaluation*> qualifying;
    for (const auto& e : state.evaluations) {
        if (e.recommendation != "REVIEW") qualifying.push_back(&e);
    }
    if (rules.evaluation.required_before_voting && rules.evaluation.minimum_confidence > 0.0) {
        bool meets = false;
        for (const auto* e : qualifying) {
            if (e->confidence >= rules.evaluation.minimum_confidence) meets = true;
        }
        if (!meets) {
            deny.push_back("no qualifying evaluation meets minimum confidence threshold: " +
                           rust_fixed(rules.evaluation.minimum_confidence, 2));
        }
    } else if (rules.evaluation.required_before_voting && qualifying.empty()) {
        deny.emplace_back(
            "evaluations required before voting but none provided (REVIEW evaluations are informational only)");
    }

    // POL-DEC-2: critical-objection veto, resolved per critical_objection_action (POL-SCH-2).
    if (rules.objection_handling.critical_severity_vetoes) {
        std::vector<const std::string*> blocking;
        for (const auto& o : state.objections) {
            if (o.severity == "critical") blocking.push_back(&o.sender);
        }
        if (blocking.size() >= rules.objection_handling.veto_threshold) {
            std::string from;
            for (size_t i = 0; i < blocking.size(); ++i) {
                if (i > 0) from += ", ";
                from += *blocking[i];
            }
            std::string detail = std::to_string(blocking.size()) + " blocking objection(s) (veto threshold: " +
                                 std::to_string(rules.objection_handling.veto_threshold) + "), from: " + from;
            switch (rules.objection_handling.critical_objection_action) {
                case CriticalObjectionAction::Deny: deny.push_back("blocked by " + detail); break;
                case CriticalObjectionAction::Hold:
                    deny.push_back("held for escalation by " + detail + " (critical_objection_action=hold)");
                    break;
                case CriticalObjectionAction::FinalizeDecline:
                    // A negative commitment gets an allow reason; the other checks still apply.
                    if (outcome_positive) {
                        deny.push_back("veto blocks a positive commitment: " + detail +
                                       " (critical_objection_action=finalize_decline)");
                    }
                    break;
            }
        }
    }

    // POL-DEC-3: vote quorum, only when commitment.require_vote_quorum; outcome-agnostic.
    const size_t voters = count_unique_voters(state);
    const Tally tally = aggregate_votes(state);
    if (rules.commitment.require_vote_quorum &&
        !check_quorum(rules.voting.quorum_type, rules.voting.quorum_value, voters, participants.size())) {
        deny.push_back(
            "vote quorum not met: " + std::to_string(voters) + " voters of " + std::to_string(participants.size()) +
            " participants (quorum: " + rust_display(rules.voting.quorum_value) + " " + rules.voting.quorum_type + ")");
    }

    // POL-DEC-11/12: map the voting result to the requested outcome.
    if (rules.voting.algorithm != "none") {
        auto result = check_voting_algorithm(rules.voting, state, participants);
        switch (result.outcome) {
            case VotingOutcome::Passed:
                if (!outcome_positive && !rules.commitment.allow_decline_over_approval) {
                    deny.push_back(
                        "vote passed the approval threshold but a decline was requested; set "
                        "commitment.allow_decline_over_approval to permit an executive override (" +
                        result.reason + ")");
                }
                break;
            case VotingOutcome::Failed:
                if (outcome_positive) {
                    deny.push_back(result.reason);
                } else if (tally.reject == 0) {
                    // The decline guard: a non-vote never authorizes an adverse decline.
                    deny.push_back(
                        "approval threshold not met but no explicit reject to justify a decline (incomplete "
                        "participation is not a rejection): " +
                        result.reason);
                }
                break;
            case VotingOutcome::NoVotes:
                if (outcome_positive) {
                    if (rules.commitment.require_vote_quorum) deny.emplace_back("no votes cast");
                } else {
                    deny.emplace_back("no votes cast; a decline requires at least one explicit reject vote");
                }
                break;
        }
    }
    // "none" (POL-DEC-12): outcome_positive taken at face value.
    return deny;
}

}  // namespace macp::policy
