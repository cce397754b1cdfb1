// Fuzz target (issue #15): policy definitions and rules as RegisterPolicy and MACP_POLICIES_DIR
// hand them to the runtime. The first byte picks the mode, the second the schema version, the
// rest is the rules text. Properties: validation and the evaluators' parsers never crash; a
// definition that validates also registers (one parser decides both, POL-REG-5); a registered
// definition's stored encoding decodes to the same definition (what is accepted reads back). The
// whole input is also offered to the stored-record decoder, whose successes must re-encode
// identically.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/parsed_rules.hpp"
#include "policy/registry.hpp"

namespace {

namespace pol = macp::policy;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "policy_rules_fuzz: %s\n", what.c_str());
    std::abort();
}

constexpr const char* kModes[] = {"macp.mode.decision.v1", "macp.mode.proposal.v1", "macp.mode.task.v1",
                                  "macp.mode.handoff.v1",  "macp.mode.quorum.v1",   "*",
                                  "ext.multi_round.v1",    "ext.unknown.v1"};

bool same(const pol::PolicyDefinition& a, const pol::PolicyDefinition& b) {
    return a.policy_id == b.policy_id && a.mode == b.mode && a.description == b.description && a.rules == b.rules &&
           a.schema_version == b.schema_version;
}

void check_stored_record(const std::string& bytes) {
    auto def = pol::decode_policy(bytes);
    if (!def) return;
    const std::string again = pol::encode_policy(*def);
    auto back = pol::decode_policy(again);
    if (!back || !same(*def, *back)) finding("a decoded policy record does not survive encode/decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    check_stored_record(bytes);
    if (size < 2) return 0;

    pol::PolicyDefinition def;
    def.policy_id = "policy.fuzz";
    def.mode = kModes[data[0] % (sizeof kModes / sizeof kModes[0])];
    def.description = "fuzz";
    def.schema_version = data[1] % 4;  // 0..3: the valid 1 and 2 and two invalid ones
    def.rules = bytes.substr(2);

    // RPC-REGP-2: registration reads empty rules as "{}" before validating.
    pol::PolicyDefinition checked = def;
    if (checked.rules.empty()) checked.rules = "{}";
    const auto invalid = pol::validate_policy(checked);
    auto parsed = pol::parse_rules(def);  // what a session binds; must never crash on any text
    (void)parsed;
    pol::PolicyRegistry registry;  // no storage: nothing persisted
    auto registered = registry.register_policy(def);
    if (!invalid && !registered) finding("validated but not registered: " + registered.error());
    if (invalid && registered) finding("registered but validation said: " + *invalid);
    if (registered) {
        auto stored = registry.find(def.policy_id);
        if (!stored) finding("registered but not found");
        auto back = pol::decode_policy(pol::encode_policy(*stored));
        if (!back || !same(*stored, *back)) finding("a registered policy does not read back from its stored form");
    }
    return 0;
}
