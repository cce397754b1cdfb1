// Helpers shared by the mode unit tests (decision, proposal, task, handoff and quorum).
//
// Every mode test drives messages the way the kernel does and replays the shared conformance
// fixtures; each used to carry its own copy of that plumbing. It lives here once so the five tests
// cannot drift apart. Only mode-independent pieces belong here: payload builders and the per-mode
// fixture payload encoders stay in the tests. Header-only (inline functions and templates) because
// each test is linked into its own executable.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "kernel/session.hpp"
#include "macp/v1/core.pb.h"
#include "modes/mode.hpp"
#include "modes/standard_descriptors.hpp"
#include "policy/policy_definition.hpp"
#include "util/json.hpp"

namespace mode_test {

// ---- Sessions and message driving ----------------------------------------------------------------

// The standard descriptor of `mode_name`; the modes are constructed from it as the registry does.
inline macp::modes::ModeDescriptor standard_descriptor(const std::string& mode_name) {
    for (auto& d : macp::modes::standard_descriptors()) {
        if (d.mode == mode_name) return d;
    }
    FAIL("no standard descriptor for " << mode_name);
    return {};
}

// A session with the fixed id and versions the unit tests expect. Policy binding differs per test
// (some bind policy.default, some leave the policy unset), so the caller does it.
inline macp::kernel::Session base_session(const std::string& mode_name, std::vector<std::string> participants,
                                          std::string initiator) {
    macp::kernel::Session s;
    s.session_id = "s1";
    s.mode = mode_name;
    s.initiator = std::move(initiator);
    s.participants = std::move(participants);
    s.mode_version = "1.0.0";
    s.configuration_version = "cfg-1";
    return s;
}

// POL-BIND-1 as the task and handoff tests bind it: the given policy, or policy.default when none.
inline void bind_policy_or_default(macp::kernel::Session& s, std::optional<macp::policy::PolicyDefinition> pol) {
    if (pol) {
        s.policy_version = pol->policy_id;
        s.policy = pol;  // BoundPolicy shares a copy
    } else {
        s.policy_version = macp::policy::kDefaultPolicyId;
        s.policy = macp::policy::default_policy();
    }
}

// The state must read back exactly as written: decode_state(encode()) encodes to the same bytes
// (what checkpoints and snapshots rely on, STO-CKPT-*).
template <class Mode>
void require_round_trip(const Mode& mode, const macp::kernel::Session& s) {
    const std::string bytes = s.mode_state.encode();
    auto back = mode.decode_state(bytes);
    REQUIRE(back.ok());
    REQUIRE(back.value() != nullptr);
    REQUIRE(back.value()->encode() == bytes);
}

// authorize() then apply() as the kernel does (MODE-GEN-3); an accepted outcome is committed to `s`
// (its commit step run on the state, RESOLVED on a resolution). `apply_reasons`, if given, receives the reasons
// of an apply() error only (POLICY_DENIED carries them; authorization errors leave it untouched).
template <class Mode>
macp::modes::ModeResult<macp::modes::Outcome> step(const Mode& mode, macp::kernel::Session& s,
                                                   const std::string& sender, const std::string& type,
                                                   const std::string& payload, int64_t now,
                                                   std::vector<std::string>* apply_reasons = nullptr) {
    const auto ctx_view = s.view();
    macp::modes::MessageContext ctx{ctx_view, sender, type, payload, now};
    auto authz = mode.authorize(ctx);
    if (!authz) return macp::fail(authz.error());
    auto out = mode.apply(ctx);
    if (!out) {
        if (apply_reasons) *apply_reasons = out.error().reasons;
        return out;
    }
    if (out->commit) out->commit(*s.mode_state.get());
    require_round_trip(mode, s);
    if (out->resolution) {
        s.resolution = out->resolution;
        s.state = macp::kernel::SessionState::Resolved;
    }
    return out;
}

// Drives a session the way the kernel does: on_session_start, then authorize, apply and commit per
// message. The acceptance clock starts at `start_ms` and advances 10 ms per message unless `at`
// overrides it (the handoff tests need explicit clock readings for implicit accept).
template <class Mode>
struct CodeDriver {
    const Mode& mode_;  // trailing _ so derived drivers can still call their free mode()
    macp::kernel::Session s;
    int64_t now;

    CodeDriver(const Mode& m, macp::kernel::Session session, int64_t start_ms)
        : mode_(m), s(std::move(session)), now(start_ms) {
        auto init = mode_.on_session_start(s.view());
        REQUIRE(init.ok());
        s.mode_state = macp::modes::ModeStateBox(std::move(init.value()));
    }

    // "" on success, else the error code; `reasons` receives POLICY_DENIED reasons.
    std::string send(const std::string& sender, const std::string& type, const std::string& payload,
                     std::vector<std::string>* reasons = nullptr, std::optional<int64_t> at = {}) {
        now = at ? *at : now + 10;
        auto out = step(mode_, s, sender, type, payload, now, reasons);
        return out ? "" : out.error().code();
    }
};

// The session's mode state as a JSON object (REQUIREs that it parses and is an object).
inline rapidjson::Document state_json(const macp::kernel::Session& s) {
    rapidjson::Document d;
    REQUIRE(macp::util::parse_json_stored(s.mode_state.encode(), d));
    REQUIRE(d.IsObject());
    return d;
}

// ---- Conformance fixtures ------------------------------------------------------------------------
// Read in place from the shared conformance checkout; never copied into the repository.

inline const char* const kConformanceRoot = "/work/shared/conformance";

// Fixture field accessors: a missing or mistyped field reads as the empty / fallback value, so the
// payload encoders can mirror proto3 defaults.
inline std::string str_member(const rapidjson::Value& o, const char* key) {
    return macp::util::get_string(o, key);
}

inline int64_t int_member(const rapidjson::Value& o, const char* key, int64_t fallback = 0) {
    auto it = o.FindMember(key);
    return it != o.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : fallback;
}

// A fixture `bytes` field is a JSON array of byte values.
inline std::string bytes_member(const rapidjson::Value& o, const char* key) {
    std::string out;
    auto it = o.FindMember(key);
    if (it != o.MemberEnd() && it->value.IsArray()) {
        for (const auto& b : it->value.GetArray()) out.push_back(static_cast<char>(b.GetUint()));
    }
    return out;
}

// The Commitment payload every mode shares. CONF-7: a missing outcome_positive means
// `default_positive` (true in the spec fixtures; the decision driver reads it as a plain bool).
inline std::string fixture_commitment(const rapidjson::Value& p, bool default_positive = true) {
    macp::v1::CommitmentPayload c;
    c.set_commitment_id(str_member(p, "commitment_id"));
    c.set_action(str_member(p, "action"));
    c.set_authority_scope(str_member(p, "authority_scope"));
    c.set_reason(str_member(p, "reason"));
    c.set_mode_version(str_member(p, "mode_version"));
    c.set_policy_version(str_member(p, "policy_version"));
    c.set_configuration_version(str_member(p, "configuration_version"));
    c.set_outcome_positive(macp::util::get_bool(p, "outcome_positive", default_positive));
    return c.SerializeAsString();
}

// CONF-4: a fixture's inline policy object. The fallback schema version differs between drivers.
inline macp::policy::PolicyDefinition fixture_policy(const rapidjson::Value& p, uint32_t default_schema_version) {
    return macp::policy::PolicyDefinition{
        str_member(p, "policy_id"), str_member(p, "mode"), str_member(p, "description"),
        macp::util::to_json(p["rules"]),
        static_cast<uint32_t>(int_member(p, "schema_version", default_schema_version))};
}

// Reads and parses one fixture file (REQUIREs valid JSON).
inline void load_fixture(const std::filesystem::path& path, rapidjson::Document& out) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    REQUIRE(macp::util::parse_json_untrusted(text.str(), out));
}

enum class ArrayMatch { Prefix, Exact };

// CONF-15: objects are matched key by key (recursively), scalars by equality, and arrays element-wise
// either as a prefix (the spec rule) or, for the decision driver, with equal length.
inline bool subset_match(const rapidjson::Value& expected, const rapidjson::Value& actual,
                         ArrayMatch arrays = ArrayMatch::Prefix) {
    if (expected.IsObject()) {
        if (!actual.IsObject()) return false;
        for (const auto& m : expected.GetObject()) {
            auto it = actual.FindMember(m.name);
            if (it == actual.MemberEnd() || !subset_match(m.value, it->value, arrays)) return false;
        }
        return true;
    }
    if (expected.IsArray()) {
        if (!actual.IsArray()) return false;
        if (arrays == ArrayMatch::Exact ? actual.Size() != expected.Size() : actual.Size() < expected.Size())
            return false;
        for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
            if (!subset_match(expected[i], actual[i], arrays)) return false;
        }
        return true;
    }
    return expected == actual;
}

// CONF-14: every field of the fixture's expected_resolution matches the stored commitment.
inline void check_expected_resolution(const rapidjson::Value& fx, const std::optional<std::string>& resolution) {
    if (!fx.HasMember("expected_resolution")) return;
    REQUIRE(resolution.has_value());
    macp::v1::CommitmentPayload c;
    REQUIRE(c.ParseFromString(*resolution));
    for (const auto& m : fx["expected_resolution"].GetObject()) {
        std::string key = m.name.GetString();
        if (key == "outcome_positive") {
            CHECK(c.outcome_positive() == m.value.GetBool());
        } else {
            const auto* f = c.GetDescriptor()->FindFieldByName(key);
            REQUIRE(f != nullptr);
            CHECK(c.GetReflection()->GetString(c, f) == m.value.GetString());
        }
    }
}

// The fixtures named `<prefix>*.json` in the spec and runtime-0.6.1 sets, sorted within each set
// so runs are reproducible.
inline std::vector<std::filesystem::path> conformance_fixtures(const std::string& prefix) {
    std::vector<std::filesystem::path> all;
    for (const char* set : {"spec", "runtime-0.6.1"}) {
        auto dir = std::filesystem::path(kConformanceRoot) / set;
        if (!std::filesystem::is_directory(dir)) continue;
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            auto name = e.path().filename().string();
            if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".json") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        all.insert(all.end(), files.begin(), files.end());
    }
    return all;
}

}  // namespace mode_test
