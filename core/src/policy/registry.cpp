#include "policy/registry.hpp"

#include <mutex>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "policy/decision_evaluator.hpp"
#include "policy/handoff_evaluator.hpp"
#include "policy/parsed_rules.hpp"
#include "policy/proposal_evaluator.hpp"
#include "policy/quorum_evaluator.hpp"
#include "policy/task_evaluator.hpp"
#include "util/json.hpp"

namespace macp::policy {

namespace {

bool blank(const std::string& s) {
    return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

bool decision_like(const std::string& mode) {
    return mode == "*" || mode == "macp.mode.decision.v1";
}

// POL-REG-5: the rules read with the parser the mode's evaluator uses. Decision and "*" read the
// Decision structure; the other four standard modes read their own; any other mode string
// (extensions, "") accepts any JSON object. Only type mismatches fail: unknown keys and unknown
// enum strings pass (except critical_objection_action, a closed enum: POL-SCH-2).
std::optional<std::string> schema_error(const PolicyDefinition& def) {
    const auto& mode = def.mode;
    if (decision_like(mode)) {
        DecisionRules parsed;
        std::string error;
        if (!parse_decision_rules(def.rules, parsed, error)) return error;
        return std::nullopt;
    }
    if (mode == "macp.mode.proposal.v1") {
        auto r = parse_proposal_rules(def.rules);
        return r ? std::nullopt : std::optional<std::string>(r.error());
    }
    if (mode == "macp.mode.task.v1") {
        auto r = parse_task_rules(def);
        return r ? std::nullopt : std::optional<std::string>(r.error());
    }
    if (mode == "macp.mode.handoff.v1") {
        auto r = parse_handoff_rules(def);
        return r ? std::nullopt : std::optional<std::string>(r.error());
    }
    if (mode == "macp.mode.quorum.v1") {
        auto r = parse_quorum_rules(def.rules);
        return r ? std::nullopt : std::optional<std::string>(r.error());
    }
    return std::nullopt;
}

// POL-REG-6..8, in the reference's order. Checked on the values as the evaluator reads them; a
// group that does not deserialize is skipped here (for the standard modes it already failed above).
std::optional<std::string> constraint_error(const PolicyDefinition& def, const rapidjson::Document& rules) {
    if (decision_like(def.mode)) {
        DecisionRules parsed;
        std::string error;
        if (parse_decision_rules(def.rules, parsed, error)) {
            if (parsed.voting.algorithm == "weighted" && parsed.voting.weights.empty()) {  // POL-REG-6
                return "voting.algorithm 'weighted' requires non-empty voting.weights";
            }
            if (parsed.voting.algorithm == "supermajority" && parsed.voting.threshold <= 0.5) {  // POL-REG-7
                return "voting.algorithm 'supermajority' requires voting.threshold > 0.5";
            }
        }
    }
    // POL-REG-8, every mode: the `commitment` group read on its own as the shared CommitmentRules.
    auto c = rules.FindMember("commitment");
    if (c != rules.MemberEnd()) {
        DecisionRules only_commitment;
        std::string error;
        if (parse_decision_rules("{\"commitment\":" + util::to_json(c->value) + "}", only_commitment, error) &&
            only_commitment.commitment.authority == "designated_role" &&
            only_commitment.commitment.designated_roles.empty()) {
            return "commitment.authority 'designated_role' requires non-empty commitment.designated_roles";
        }
    }
    return std::nullopt;
}

// POL-REG-3: the reference's checks and texts, in its order (without the prefix).
std::optional<std::string> validation_error(const PolicyDefinition& def) {
    if (blank(def.policy_id)) return "policy_id must not be empty";
    if (def.policy_id == kDefaultPolicyId) return "cannot register with reserved policy_id 'policy.default'";
    if (def.schema_version == 0) return "schema_version must be > 0";  // POL-REG-4: any other version passes
    rapidjson::Document rules;
    if (!util::parse_json_untrusted(def.rules, rules) || !rules.IsObject()) return "rules must be a JSON object";
    if (auto e = schema_error(def)) return "rules do not match schema for mode '" + def.mode + "': " + *e;
    return constraint_error(def, rules);
}

}  // namespace

std::optional<std::string> validate_policy(const PolicyDefinition& def) {
    auto e = validation_error(def);
    if (!e) return std::nullopt;
    return kInvalidPolicyPrefix + *e;
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
    publish(Map{{kDefaultPolicyId, share_policy(default_policy())}});  // POL-REG-2
}

Result<size_t, std::string> PolicyRegistry::load() {
    return load_stored(false);
}

Result<size_t, std::string> PolicyRegistry::reload() {
    return load_stored(true);
}

Result<size_t, std::string> PolicyRegistry::load_stored(bool fresh) {
    if (storage_ == nullptr) return size_t{0};
    auto records = storage_->list_records(kPolicyNamespace);
    if (!records) return fail("cannot load registered policies: " + records.error().message);
    std::lock_guard lock(write_mu_);
    Map next = fresh ? Map{{kDefaultPolicyId, share_policy(default_policy())}} : *snapshot();
    size_t n = 0;
    for (const auto& [key, blob] : *records) {
        auto p = decode_policy(blob);
        if (!p) return fail("stored policy '" + key + "' is corrupt");
        auto id = p->policy_id;
        next[id] = share_policy(*p);  // rules parsed now, once (issue #13)
        ++n;
    }
    publish(std::move(next));
    return n;
}

std::shared_ptr<const PolicyDefinition> PolicyRegistry::find_shared(const std::string& policy_id) const {
    const auto map = snapshot();
    auto it = map->find(policy_id);
    return it == map->end() ? nullptr : it->second;
}

std::optional<PolicyDefinition> PolicyRegistry::find(const std::string& policy_id) const {
    auto p = find_shared(policy_id);
    if (!p) return std::nullopt;
    return *p;  // the copy carries the parsed rules, so binding it parses nothing again
}

std::vector<PolicyDefinition> PolicyRegistry::list(const std::string& mode) const {
    const auto map = snapshot();
    std::vector<PolicyDefinition> out;
    for (const auto& [id, p] : *map) {
        if (mode.empty() || p->mode == mode || p->mode == "*") out.push_back(*p);
    }
    return out;
}

Result<void, std::string> PolicyRegistry::register_policy(PolicyDefinition def) {
    if (read_only()) return fail(std::string(kReadOnlyMessage));  // RPC-POLRO-1
    return add(std::move(def), true);
}

Result<void, std::string> PolicyRegistry::register_file_policy(PolicyDefinition def) {
    return add(std::move(def), false);  // POL-REG-12: the directory is re-read on every start
}

Result<void, std::string> PolicyRegistry::add(PolicyDefinition def, bool persist) {
    if (def.rules.empty()) def.rules = "{}";  // RPC-REGP-2: an empty rules string means no rules
    if (auto e = validate_policy(def)) return fail(*e);
    rapidjson::Document rules;
    util::parse_json_untrusted(def.rules, rules);  // validated above
    def.rules = util::to_canonical_json(rules);    // RPC-POLDESC-1: compact, keys sorted
    def.parsed = parse_rules(def);                 // once, at registration (issue #13)
    {
        // Writers one at a time, so that two registrations of one id cannot both be written;
        // readers keep using the published map meanwhile.
        std::lock_guard lock(write_mu_);
        if (snapshot()->count(def.policy_id) != 0)
            return fail("policy '" + def.policy_id + "' is already registered");  // POL-REG-11
        // Durable before it is visible: a session may bind it the moment it is listed.
        if (persist && storage_ != nullptr) {
            if (auto st = storage_->put_record(kPolicyNamespace, def.policy_id, encode_policy(def)); !st) {
                return fail("cannot persist policy: " + st.error().message);
            }
        }
        if (!persist) unpersisted_.insert(def.policy_id);
        Map next = *snapshot();
        auto id = def.policy_id;
        next.emplace(std::move(id), share_policy(def));
        publish(std::move(next));
    }
    if (listener_) listener_();  // POL-REG-10
    return {};
}

Result<void, std::string> PolicyRegistry::unregister_policy(const std::string& policy_id) {
    if (read_only()) return fail(std::string(kReadOnlyMessage));  // RPC-POLRO-1
    {
        std::lock_guard lock(write_mu_);
        if (policy_id == kDefaultPolicyId) return fail(std::string("cannot unregister the built-in default policy"));
        if (snapshot()->count(policy_id) == 0) return fail("policy '" + policy_id + "' not found");
        if (storage_ != nullptr && unpersisted_.count(policy_id) == 0) {
            if (auto st = storage_->delete_record(kPolicyNamespace, policy_id); !st) {
                return fail("cannot delete policy: " + st.error().message);
            }
        }
        unpersisted_.erase(policy_id);
        Map next = *snapshot();
        next.erase(policy_id);  // bound sessions keep their copy (POL-BIND-2)
        publish(std::move(next));
    }
    if (listener_) listener_();
    return {};
}

}  // namespace macp::policy
