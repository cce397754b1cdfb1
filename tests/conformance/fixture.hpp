// Shared helpers of the conformance tests: locating and reading the fixtures of ../shared/conformance
// (BEHAVIOR.md §12 CONF-*), encoding their JSON payloads, building the policy registration and the
// SessionStart they describe, and matching expected against actual JSON.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "macp/v1/core.pb.h"

namespace macp::conformance {

// Makes the generated descriptors of every payload message known to the pool, so they can be
// found by name. Call once before encode_payload.
void link_descriptors();

std::string slurp(const std::filesystem::path& p);
std::string to_json(const rapidjson::Value& v);
// obj[key] if it is a string, else "".
std::string str(const rapidjson::Value& obj, const char* key);

// Both spellings of payload_type (README of the fixtures): "decision.Proposal" / "Commitment"
// and "macp.modes.decision.v1.ProposalPayload" / "macp.v1.CommitmentPayload".
std::string full_type_name(const std::string& payload_type);

// Encodes a fixture payload. The spec set's multi_round Contribute is the JSON form (CONF-12);
// bytes fields given as JSON strings carry their UTF-8 bytes (CONF-11); a Commitment without
// outcome_positive defaults to true (CONF-7). Rewrites `payload` in place (bytes fields become
// base64, outcome_positive is added), so encode each payload once. FAILs the test on an unknown
// type or a payload that does not map onto it.
std::string encode_payload(const std::string& payload_type, rapidjson::Value& payload,
                           rapidjson::Document::AllocatorType& alloc);

// CONF-15: objects match key by key recursively, arrays by prefix, scalars by equality. On a
// mismatch `where` names the first differing key path.
bool subset_match(const rapidjson::Value& expected, const rapidjson::Value& actual, std::string& where);

std::string b64decode(const std::string& in);

// Every fixture of both sets (spec, runtime-0.6.1) under $MACP_CONFORMANCE_DIR, sorted; empty
// when the folder is absent.
std::vector<std::filesystem::path> fixtures();
// "<set>/<file>", e.g. "spec/decision_happy_path.json".
std::string fixture_name(const std::filesystem::path& file);

// "Open", "Resolved", ... (expected_final_state) to the wire enum; throws std::out_of_range on others.
macp::v1::SessionState state_from_name(const std::string& name);

// The fixture's inline policy (CONF-4) as a RegisterPolicy request; only when fx has "policy".
macp::v1::RegisterPolicyRequest policy_request(const rapidjson::Value& fx);

// The fixture's SessionStart payload (CONF-5).
macp::v1::SessionStartPayload session_start(const rapidjson::Value& fx);

// The server environment of the conformance runs: dev-mode bearer, generous rate limits, short
// drain, and a checkpoint after every accepted message (MACP_CHECKPOINT_INTERVAL=1), so that the
// session's latest encoded state is on disk (see final_snapshot).
std::map<std::string, std::string> server_env();

// The session's latest snapshot as the server encoded it, read from <data>/sessions/<sid>: the
// final snapshot of a terminal session (written when it ended), else the last Checkpoint record of
// its log, else the snapshot written at SessionStart. Shutdown writes no snapshot (issue #8.6).
std::string final_snapshot(const std::filesystem::path& data, const std::string& sid);

}  // namespace macp::conformance
