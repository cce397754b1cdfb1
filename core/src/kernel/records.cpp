#include "kernel/records.hpp"

#include <algorithm>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "util/json.hpp"
#include "util/json_write.hpp"

namespace macp::kernel {

namespace {

using util::json::put;
using util::json::Writer;

void put_bytes(Writer& w, const char* k, const std::string& v) {
    put(w, k, util::base64_encode(v));
}

const char* kind_name(EntryKind k) {
    switch (k) {
        case EntryKind::Incoming: return "Incoming";
        case EntryKind::Internal: return "Internal";
        case EntryKind::Checkpoint: return "Checkpoint";
    }
    return "Incoming";
}

void write_policy(Writer& w, const policy::PolicyDefinition& p) {
    w.StartObject();
    put(w, "policy_id", p.policy_id);
    put(w, "mode", p.mode);
    put(w, "description", p.description);
    put(w, "rules", p.rules);
    put(w, "schema_version", static_cast<int64_t>(p.schema_version));
    w.EndObject();
}

std::optional<policy::PolicyDefinition> read_policy(const rapidjson::Value& v) {
    if (!v.IsObject()) return std::nullopt;
    policy::PolicyDefinition p;
    p.policy_id = util::get_string(v, "policy_id");
    p.mode = util::get_string(v, "mode");
    p.description = util::get_string(v, "description");
    auto r = v.FindMember("rules");
    if (r != v.MemberEnd()) {
        // Reference snapshots carry rules as a JSON object; ours as a compact JSON string.
        p.rules = r->value.IsString() ? std::string(r->value.GetString(), r->value.GetStringLength())
                                      : util::to_json(r->value);
    }
    p.schema_version = static_cast<uint32_t>(util::get_int(v, "schema_version", 1));
    return p;
}

// Bytes are base64 strings in our records; the reference wrote arrays of byte values.
bool read_bytes(const rapidjson::Value& obj, const char* b64_key, const char* array_key, std::string& out) {
    out.clear();
    auto b = obj.FindMember(b64_key);
    if (b != obj.MemberEnd()) {
        return b->value.IsString() && util::base64_decode({b->value.GetString(), b->value.GetStringLength()}, out);
    }
    auto a = obj.FindMember(array_key);
    if (a == obj.MemberEnd() || a->value.IsNull()) return true;
    if (!a->value.IsArray()) return false;
    out.reserve(a->value.Size());
    for (const auto& x : a->value.GetArray()) {
        if (!x.IsUint() || x.GetUint() > 255) return false;
        out.push_back(static_cast<char>(x.GetUint()));
    }
    return true;
}

}  // namespace

std::string encode_entry(const LogEntry& e) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    put(w, "message_id", e.message_id);
    put(w, "received_at_ms", e.received_at_ms);
    put(w, "sender", e.sender);
    put(w, "message_type", e.message_type);
    put_bytes(w, "payload_b64", e.payload);
    w.Key("entry_kind");
    w.String(kind_name(e.kind));
    put(w, "session_id", e.session_id);
    put(w, "mode", e.mode);
    put(w, "macp_version", e.macp_version);
    put(w, "timestamp_unix_ms", e.timestamp_unix_ms);
    if (e.bound_mode_version) put(w, "bound_mode_version", *e.bound_mode_version);
    if (e.bound_max_suspend_ms) put(w, "bound_max_suspend_ms", *e.bound_max_suspend_ms);
    if (e.semantics_rev) put(w, "semantics_rev", static_cast<int64_t>(*e.semantics_rev));
    if (e.bound_ttl_expiry_ms) put(w, "bound_ttl_expiry_ms", *e.bound_ttl_expiry_ms);
    if (e.bound_policy) {
        w.Key("bound_policy");
        write_policy(w, *e.bound_policy);
    }
    if (e.bound_definition) put(w, "bound_definition", *e.bound_definition);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

Result<LogEntry, std::string> decode_entry(const std::string& record) {
    rapidjson::Document d;
    if (!util::parse_json_stored(record, d) || !d.IsObject()) return fail(std::string("not a JSON object"));
    LogEntry e;
    e.message_id = util::get_string(d, "message_id");
    e.received_at_ms = util::get_int(d, "received_at_ms");
    e.sender = util::get_string(d, "sender");
    e.message_type = util::get_string(d, "message_type");
    if (!read_bytes(d, "payload_b64", "raw_payload", e.payload)) return fail(std::string("bad payload bytes"));
    auto kind = util::get_string(d, "entry_kind", "Incoming");
    if (kind == "Incoming") {
        e.kind = EntryKind::Incoming;
    } else if (kind == "Internal") {
        e.kind = EntryKind::Internal;
    } else if (kind == "Checkpoint") {
        e.kind = EntryKind::Checkpoint;
    } else {
        return fail("unknown entry_kind '" + kind + "'");
    }
    e.session_id = util::get_string(d, "session_id");
    e.mode = util::get_string(d, "mode");
    e.macp_version = util::get_string(d, "macp_version");
    e.timestamp_unix_ms = util::get_int(d, "timestamp_unix_ms");
    if (d.HasMember("bound_mode_version")) e.bound_mode_version = util::get_string(d, "bound_mode_version");
    if (d.HasMember("bound_max_suspend_ms")) e.bound_max_suspend_ms = util::get_int(d, "bound_max_suspend_ms");
    if (d.HasMember("semantics_rev")) e.semantics_rev = static_cast<int>(util::get_int(d, "semantics_rev"));
    if (d.HasMember("bound_ttl_expiry_ms")) e.bound_ttl_expiry_ms = util::get_int(d, "bound_ttl_expiry_ms");
    if (d.HasMember("bound_policy")) e.bound_policy = read_policy(d["bound_policy"]);
    if (d.HasMember("bound_definition")) e.bound_definition = util::get_string(d, "bound_definition");
    return e;
}

std::string encode_snapshot(const Session& s, const std::string& definition) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    put(w, "format", std::string("macp-snapshot/1"));
    put(w, "session_id", s.session_id);
    w.Key("state");
    w.String(state_name(s.state));
    put(w, "ttl_expiry", s.ttl_expiry_ms);
    put(w, "ttl_ms", s.ttl_ms);
    put(w, "started_at_unix_ms", s.started_at_ms);
    w.Key("resolution_b64");
    if (s.resolution) {
        auto r = util::base64_encode(*s.resolution);
        w.String(r.data(), static_cast<rapidjson::SizeType>(r.size()));
    } else {
        w.Null();
    }
    put(w, "mode", s.mode);
    put_bytes(w, "mode_state_b64", s.mode_state.encode());
    w.Key("participants");
    w.StartArray();
    for (const auto& p : s.participants) w.String(p.data(), static_cast<rapidjson::SizeType>(p.size()));
    w.EndArray();
    w.Key("seen_message_ids");
    w.StartArray();
    {
        // Sorted: a hash set's order depends on its insertion history, and a session rebuilt from a
        // checkpoint must encode to the same bytes as the live one.
        std::vector<const std::string*> ids;
        ids.reserve(s.seen_message_ids.size());
        for (const auto& id : s.seen_message_ids) ids.push_back(&id);
        std::sort(ids.begin(), ids.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
        for (const auto* id : ids) w.String(id->data(), static_cast<rapidjson::SizeType>(id->size()));
    }
    w.EndArray();
    put(w, "intent", s.intent);
    put(w, "mode_version", s.mode_version);
    put(w, "configuration_version", s.configuration_version);
    put(w, "policy_version", s.policy_version);
    put(w, "context_id", s.context_id);
    w.Key("extensions_b64");
    w.StartObject();
    for (const auto& [k, v] : s.extensions) {
        util::json::put_key(w, k);  // with its length: a key may hold NUL (map<string, bytes>)
        util::json::put_value(w, util::base64_encode(v));
    }
    w.EndObject();
    w.Key("roots");
    w.StartArray();
    for (const auto& r : s.roots) {
        w.StartObject();
        put(w, "uri", r.uri);
        put(w, "name", r.name);
        w.EndObject();
    }
    w.EndArray();
    put(w, "initiator_sender", s.initiator);
    w.Key("policy_definition");
    if (s.policy) {
        write_policy(w, *s.policy);
    } else {
        w.Null();
    }
    w.Key("suspended_at_ms");
    if (s.suspended_at_ms) {
        w.Int64(*s.suspended_at_ms);
    } else {
        w.Null();
    }
    put(w, "accumulated_suspended_ms", s.accumulated_suspended_ms);
    put(w, "max_suspend_ms", s.max_suspend_ms);
    put(w, "semantics_rev", static_cast<int64_t>(s.semantics_rev));
    w.Key("participant_activity");
    w.StartObject();
    for (const auto& [sender, a] : s.activity) {
        w.Key(sender.c_str(), static_cast<rapidjson::SizeType>(sender.size()));
        w.StartArray();
        w.Uint(a.message_count);
        w.Int64(a.last_message_at_ms);
        w.EndArray();
    }
    w.EndObject();
    put(w, "log_entries", static_cast<int64_t>(s.log_entries));
    put(w, "envelope_seq", static_cast<int64_t>(s.envelope_seq));
    put(w, "state_bytes", static_cast<int64_t>(s.state_bytes));
    if (!definition.empty()) put(w, "definition", definition);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

Result<DecodedSnapshot, std::string> decode_snapshot(const std::string& record, bool with_mode_state) {
    rapidjson::Document d;
    if (!util::parse_json_stored(record, d) || !d.IsObject()) return fail(std::string("not a JSON object"));
    if (util::get_string(d, "format") != "macp-snapshot/1") return fail(std::string("unknown snapshot format"));
    DecodedSnapshot out;
    Session& s = out.session;
    s.session_id = util::get_string(d, "session_id");
    auto st = parse_state_name(util::get_string(d, "state"));
    if (!st) return fail(std::string("bad state"));
    s.state = *st;
    s.ttl_expiry_ms = util::get_int(d, "ttl_expiry");
    s.ttl_ms = util::get_int(d, "ttl_ms");
    s.started_at_ms = util::get_int(d, "started_at_unix_ms");
    if (d.HasMember("resolution_b64") && d["resolution_b64"].IsString()) {
        std::string r;
        if (!read_bytes(d, "resolution_b64", "", r)) return fail(std::string("bad resolution"));
        s.resolution = std::move(r);
    }
    s.mode = util::get_string(d, "mode");
    if (with_mode_state && !read_bytes(d, "mode_state_b64", "mode_state", out.mode_state)) {
        return fail(std::string("bad mode_state"));
    }
    if (d.HasMember("participants") && d["participants"].IsArray()) {
        for (const auto& p : d["participants"].GetArray()) {
            if (p.IsString()) s.participants.emplace_back(p.GetString(), p.GetStringLength());
        }
    }
    if (d.HasMember("seen_message_ids") && d["seen_message_ids"].IsArray()) {
        for (const auto& p : d["seen_message_ids"].GetArray()) {
            if (p.IsString()) s.seen_message_ids.emplace(p.GetString(), p.GetStringLength());
        }
    }
    s.intent = util::get_string(d, "intent");
    s.mode_version = util::get_string(d, "mode_version");
    s.configuration_version = util::get_string(d, "configuration_version");
    s.policy_version = util::get_string(d, "policy_version");
    s.context_id = util::get_string(d, "context_id");
    if (d.HasMember("extensions_b64") && d["extensions_b64"].IsObject()) {
        for (const auto& m : d["extensions_b64"].GetObject()) {
            std::string v;
            if (!m.value.IsString() || !util::base64_decode({m.value.GetString(), m.value.GetStringLength()}, v)) {
                return fail(std::string("bad extension bytes"));
            }
            s.extensions.emplace(std::string(m.name.GetString(), m.name.GetStringLength()), std::move(v));
        }
    }
    if (d.HasMember("roots") && d["roots"].IsArray()) {
        for (const auto& r : d["roots"].GetArray())
            s.roots.push_back({util::get_string(r, "uri"), util::get_string(r, "name")});
    }
    s.initiator = util::get_string(d, "initiator_sender");
    if (d.HasMember("policy_definition")) s.policy = read_policy(d["policy_definition"]);
    if (d.HasMember("suspended_at_ms") && d["suspended_at_ms"].IsInt64())
        s.suspended_at_ms = d["suspended_at_ms"].GetInt64();
    s.accumulated_suspended_ms = util::get_int(d, "accumulated_suspended_ms");
    s.max_suspend_ms = util::get_int(d, "max_suspend_ms", kDefaultMaxSuspendMs);
    s.semantics_rev = static_cast<int>(util::get_int(d, "semantics_rev", 0));
    if (d.HasMember("participant_activity") && d["participant_activity"].IsObject()) {
        for (const auto& m : d["participant_activity"].GetObject()) {
            if (!m.value.IsArray() || m.value.Size() != 2 || !m.value[0].IsUint() || !m.value[1].IsInt64()) continue;
            Activity a{m.value[0].GetUint(), m.value[1].GetInt64()};
            s.activity.emplace(std::string(m.name.GetString(), m.name.GetStringLength()), a);
        }
    }
    s.log_entries = static_cast<uint64_t>(util::get_int(d, "log_entries"));
    s.envelope_seq = static_cast<uint64_t>(util::get_int(d, "envelope_seq"));
    s.state_bytes = static_cast<uint64_t>(util::get_int(d, "state_bytes"));
    if (d.HasMember("definition")) out.definition = util::get_string(d, "definition");
    return out;
}

}  // namespace macp::kernel
