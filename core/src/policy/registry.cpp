#include "policy/registry.hpp"

#include <mutex>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "policy/decision_evaluator.hpp"
#include "util/json.hpp"

namespace macp::policy {

namespace {

bool blank(const std::string& s) {
    return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
    if (!obj.IsObject()) return nullptr;
    auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
}

// POL-REG-5: type checks of the known groups; unknown keys and enum strings are accepted.
std::optional<std::string> type_error(const rapidjson::Value& rules) {
    struct Field {
        const char* group;
        const char* key;
        enum Kind { String, Number, Bool, Array, Object } kind;
    };
    static const Field fields[] = {
        {"voting", "algorithm", Field::String},
        {"voting", "threshold", Field::Number},
        {"voting", "quorum", Field::Object},
        {"voting", "weights", Field::Object},
        {"objection_handling", "critical_severity_vetoes", Field::Bool},
        {"objection_handling", "veto_threshold", Field::Number},
        {"objection_handling", "critical_objection_action", Field::String},
        {"evaluation", "required_before_voting", Field::Bool},
        {"evaluation", "minimum_confidence", Field::Number},
        {"commitment", "authority", Field::String},
        {"commitment", "designated_roles", Field::Array},
        {"commitment", "require_vote_quorum", Field::Bool},
        {"commitment", "allow_decline_over_approval", Field::Bool},
        {"acceptance", "criterion", Field::String},
        {"acceptance", "implicit_accept_timeout_ms", Field::Number},
        {"counter_proposal", "max_rounds", Field::Number},
        {"rejection", "terminal_on_any_reject", Field::Bool},
        {"assignment", "allow_reassignment_on_reject", Field::Bool},
        {"completion", "require_output", Field::Bool},
        {"threshold", "type", Field::String},
        {"threshold", "value", Field::Number},
        {"abstention", "counts_toward_quorum", Field::Bool},
        {"abstention", "interpretation", Field::String},
    };
    for (const auto& f : fields) {
        const auto* g = member(rules, f.group);
        if (g == nullptr || g->IsNull()) continue;
        if (!g->IsObject()) return std::string("'") + f.group + "' must be an object";
        const auto* v = member(*g, f.key);
        if (v == nullptr || v->IsNull()) continue;
        bool ok = (f.kind == Field::String && v->IsString()) || (f.kind == Field::Number && v->IsNumber()) ||
                  (f.kind == Field::Bool && v->IsBool()) || (f.kind == Field::Array && v->IsArray()) ||
                  (f.kind == Field::Object && v->IsObject());
        if (!ok) return std::string("invalid type for ") + f.group + "." + f.key;
    }
    if (const auto* o = member(rules, "objection_handling")) {  // POL-SCH-2
        if (const auto* a = member(*o, "critical_objection_action"); a != nullptr && a->IsString()) {
            std::string s = a->GetString();
            if (s != "deny" && s != "finalize_decline" && s != "hold") {
                return "unknown variant `" + s + "`, expected one of `deny`, `finalize_decline`, `hold`";
            }
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> validate_policy(const PolicyDefinition& def) {
    if (blank(def.policy_id)) return "policy_id must not be empty";  // POL-REG-3
    if (def.policy_id == kDefaultPolicyId) return "cannot register with reserved policy_id 'policy.default'";
    if (def.schema_version == 0) return "schema_version must be > 0";
    rapidjson::Document rules;
    if (!util::parse_json_untrusted(def.rules, rules) || !rules.IsObject()) return "rules must be a JSON object";
    if (auto e = type_error(rules)) return "rules do not match schema for mode '" + def.mode + "': " + *e;
    const bool decision_like = def.mode == "*" || def.mode == "macp.mode.decision.v1";
    if (decision_like) {
        // POL-REG-5: the rules must deserialize exactly as the evaluator will read them.
        DecisionRules parsed;
        std::string error;
        if (!parse_decision_rules(def.rules, parsed, error)) {
            return "rules do not match schema for mode '" + def.mode + "': " + error;
        }
        const auto* voting = member(rules, "voting");
        std::string algorithm = voting != nullptr ? util::get_string(*voting, "algorithm", "none") : "none";
        if (algorithm == "weighted") {  // POL-REG-6
            const auto* w = voting != nullptr ? member(*voting, "weights") : nullptr;
            if (w == nullptr || !w->IsObject() || w->MemberCount() == 0) {
                return "voting.algorithm 'weighted' requires non-empty voting.weights";
            }
        }
        if (algorithm == "supermajority") {  // POL-REG-7
            const auto* t = voting != nullptr ? member(*voting, "threshold") : nullptr;
            double threshold = (t != nullptr && t->IsNumber()) ? t->GetDouble() : 0.5;
            if (threshold <= 0.5) return "voting.algorithm 'supermajority' requires voting.threshold > 0.5";
        }
    }
    if (const auto* c = member(rules, "commitment")) {  // POL-REG-8
        if (util::get_string(*c, "authority") == "designated_role") {
            const auto* roles = member(*c, "designated_roles");
            if (roles == nullptr || !roles->IsArray() || roles->Empty()) {
                return "commitment.authority 'designated_role' requires non-empty commitment.designated_roles";
            }
        }
    }
    return std::nullopt;
}

std::string encode_policy(const PolicyDefinition& def) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("policy_id");
    w.String(def.policy_id.c_str(), static_cast<rapidjson::SizeType>(def.policy_id.size()));
    w.Key("mode");
    w.String(def.mode.c_str(), static_cast<rapidjson::SizeType>(def.mode.size()));
    w.Key("description");
    w.String(def.description.c_str(), static_cast<rapidjson::SizeType>(def.description.size()));
    w.Key("rules");
    w.String(def.rules.c_str(), static_cast<rapidjson::SizeType>(def.rules.size()));
    w.Key("schema_version");
    w.Uint(def.schema_version);
    w.Key("registered_at_ms");
    w.Int64(def.registered_at_ms);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

std::optional<PolicyDefinition> decode_policy(const std::string& json) {
    rapidjson::Document d;
    if (!util::parse_json_untrusted(json, d) || !d.IsObject()) return std::nullopt;
    PolicyDefinition p;
    p.policy_id = util::get_string(d, "policy_id");
    p.mode = util::get_string(d, "mode");
    p.description = util::get_string(d, "description");
    p.rules = util::get_string(d, "rules", "{}");
    p.schema_version = static_cast<uint32_t>(util::get_int(d, "schema_version", 1));
    p.registered_at_ms = util::get_int(d, "registered_at_ms");
    if (p.policy_id.empty()) return std::nullopt;
    return p;
}

PolicyRegistry::PolicyRegistry(storage::StorageBackend* storage) : storage_(storage) {
    policies_.emplace(kDefaultPolicyId, default_policy());  // POL-REG-2
}

Result<size_t, std::string> PolicyRegistry::load() {
    if (storage_ == nullptr) return size_t{0};
    auto records = storage_->list_records(kPolicyNamespace);
    if (!records) return fail("cannot load registered policies: " + records.error().message);
    std::unique_lock lock(mu_);
    size_t n = 0;
    for (const auto& [key, blob] : *records) {
        auto p = decode_policy(blob);
        if (!p) return fail("stored policy '" + key + "' is corrupt");
        policies_[p->policy_id] = std::move(*p);
        ++n;
    }
    return n;
}

std::optional<PolicyDefinition> PolicyRegistry::find(const std::string& policy_id) const {
    std::shared_lock lock(mu_);
    auto it = policies_.find(policy_id);
    if (it == policies_.end()) return std::nullopt;
    return it->second;
}

std::vector<PolicyDefinition> PolicyRegistry::list(const std::string& mode) const {
    std::shared_lock lock(mu_);
    std::vector<PolicyDefinition> out;
    for (const auto& [id, p] : policies_) {
        if (mode.empty() || p.mode == mode || p.mode == "*") out.push_back(p);
    }
    return out;
}

Result<void, std::string> PolicyRegistry::register_policy(PolicyDefinition def) {
    if (def.rules.empty()) def.rules = "{}";  // RPC-REGP-2: an empty rules string means no rules
    if (auto e = validate_policy(def)) return fail(*e);
    rapidjson::Document rules;
    util::parse_json_untrusted(def.rules, rules);  // validated above
    def.rules = util::to_canonical_json(rules);    // RPC-POLDESC-1: compact, keys sorted
    {
        std::unique_lock lock(mu_);
        if (policies_.count(def.policy_id) != 0)
            return fail("policy '" + def.policy_id + "' is already registered");  // POL-REG-11
        // Durable before it is visible: a session may bind it the moment it is listed.
        if (storage_ != nullptr) {
            if (auto st = storage_->put_record(kPolicyNamespace, def.policy_id, encode_policy(def)); !st) {
                return fail("cannot persist policy: " + st.error().message);
            }
        }
        policies_.emplace(def.policy_id, std::move(def));
    }
    if (listener_) listener_();  // POL-REG-10
    return {};
}

Result<void, std::string> PolicyRegistry::unregister_policy(const std::string& policy_id) {
    {
        std::unique_lock lock(mu_);
        if (policy_id == kDefaultPolicyId) return fail(std::string("cannot unregister the built-in default policy"));
        if (policies_.count(policy_id) == 0) return fail("policy '" + policy_id + "' not found");
        if (storage_ != nullptr) {
            if (auto st = storage_->delete_record(kPolicyNamespace, policy_id); !st) {
                return fail("cannot delete policy: " + st.error().message);
            }
        }
        policies_.erase(policy_id);  // bound sessions keep their copy (POL-BIND-2)
    }
    if (listener_) listener_();
    return {};
}

}  // namespace macp::policy
