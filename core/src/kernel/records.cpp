#include "kernel/records.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <string_view>
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

// ---------------------------------------------------------------------------------------------
// Fast path of decode_entry (issue #13: recovery replays every record). One pass straight into the
// LogEntry, with no document tree and no copy of the text, for records of the shape encode_entry
// writes: one object of strings and integers plus the flat `bound_policy` object, every key once.
// Anything else (the reference's `raw_payload` arrays and object-valued rules, escapes, a repeated
// key, a null, a type the DOM reader would default, bad base64) makes it give up, and the DOM
// reader decides, so both paths read every record exactly alike.

// Same acceptance as util::base64_decode (padding only in the final quantum, at its last two
// places), with a table built once instead of per call.
bool decode_base64(std::string_view text, std::string& out) {
    static const std::array<int8_t, 256> kMap = [] {
        std::array<int8_t, 256> m{};
        m.fill(-1);
        constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (size_t i = 0; i < kAlphabet.size(); ++i) m[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
        return m;
    }();
    if (text.size() % 4 != 0) return false;
    out.resize(text.size() / 4 * 3);
    size_t n = 0;
    for (size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        int pad = 0;
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = text[i + static_cast<size_t>(k)];
            int d = 0;
            if (c == '=' && last && k >= 2) {
                ++pad;
            } else {
                if (pad > 0) return false;
                d = kMap[static_cast<uint8_t>(c)];
                if (d < 0) return false;
            }
            v = (v << 6) | static_cast<uint32_t>(d);
        }
        out[n++] = static_cast<char>((v >> 16) & 0xff);
        if (pad < 2) out[n++] = static_cast<char>((v >> 8) & 0xff);
        if (pad < 1) out[n++] = static_cast<char>(v & 0xff);
    }
    out.resize(n);
    return true;
}

// A scanner for the plain shape only: strings without escapes or control characters, integers
// without sign trouble, fraction or exponent, compact or spaced. Every "false" means "not plain",
// never "invalid": the caller then asks the DOM reader.
class PlainScanner {
public:
    explicit PlainScanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

    bool consume(char c) {
        skip_ws();
        if (p_ == end_ || *p_ != c) return false;
        ++p_;
        return true;
    }
    [[nodiscard]] bool at(char c) {
        skip_ws();
        return p_ != end_ && *p_ == c;
    }
    bool string(std::string_view& out) {
        if (!consume('"')) return false;
        const char* begin = p_;
        for (; p_ != end_; ++p_) {
            const auto c = static_cast<unsigned char>(*p_);
            if (c == '"') {
                out = std::string_view(begin, static_cast<size_t>(p_ - begin));
                ++p_;
                return true;
            }
            if (c == '\\' || c < 0x20) return false;  // escapes and raw control characters: DOM
        }
        return false;
    }
    bool integer(int64_t& out) {
        skip_ws();
        const bool minus = p_ != end_ && *p_ == '-';
        if (minus) ++p_;
        if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
        // "-0..." and leading zeros: DOM (rapidjson refuses "01"; keep "-0" out of the question).
        if (*p_ == '0' && (minus || (p_ + 1 != end_ && p_[1] >= '0' && p_[1] <= '9'))) return false;
        uint64_t v = 0;
        for (; p_ != end_ && *p_ >= '0' && *p_ <= '9'; ++p_) {
            const auto d = static_cast<uint64_t>(*p_ - '0');
            if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - d) / 10) return false;
            v = v * 10 + d;
        }
        if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
        out = minus ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
        return true;
    }
    // True when only whitespace is left.
    bool at_end() {
        skip_ws();
        return p_ == end_;
    }

private:
    void skip_ws() {
        while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
    }
    const char* p_;
    const char* end_;
};

// Reads one value that is either a string or an integer, for a key this reader ignores.
bool skip_scalar(PlainScanner& in) {
    std::string_view s;
    int64_t i = 0;
    if (in.at('"')) return in.string(s);
    return in.integer(i);
}

bool read_plain_policy(PlainScanner& in, policy::PolicyDefinition& p) {
    if (!in.consume('{')) return false;
    unsigned seen = 0;
    bool first = true;
    while (!in.consume('}')) {
        if (!first && !in.consume(',')) return false;
        first = false;
        std::string_view key;
        if (!in.string(key) || !in.consume(':')) return false;
        static constexpr std::array<std::string_view, 5> kKeys{"policy_id", "mode", "description", "rules",
                                                               "schema_version"};
        const auto k = static_cast<unsigned>(std::find(kKeys.begin(), kKeys.end(), key) - kKeys.begin());
        if (k == kKeys.size()) {
            if (!skip_scalar(in)) return false;
            continue;
        }
        if ((seen & (1u << k)) != 0) return false;  // a repeated key: the DOM reader takes the first
        seen |= 1u << k;
        if (k == 4) {
            int64_t v = 0;
            if (!in.integer(v)) return false;
            p.schema_version = static_cast<uint32_t>(v);
            continue;
        }
        std::string_view v;
        if (!in.string(v)) return false;  // rules as an object (the reference's): DOM
        (k == 0 ? p.policy_id : k == 1 ? p.mode : k == 2 ? p.description : p.rules).assign(v);
    }
    return true;
}

// The fast path: false when the record is not of the plain shape (see above), `e` then partly
// written. Writes into `e`'s existing strings, so a caller decoding many records into one entry
// allocates almost nothing.
bool decode_plain_entry(const std::string& record, LogEntry& e) {
    enum Key : unsigned {
        kMessageId,
        kReceivedAt,
        kSender,
        kMessageType,
        kPayload,
        kEntryKind,
        kSessionId,
        kMode,
        kMacpVersion,
        kTimestamp,
        kBoundModeVersion,
        kBoundMaxSuspend,
        kSemanticsRev,
        kBoundTtlExpiry,
        kBoundPolicy,
        kBoundDefinition,
        kRawPayload,
        kKeyCount
    };
    static constexpr std::array<std::string_view, kKeyCount> kKeys{
        "message_id",         "received_at_ms",       "sender",        "message_type",        "payload_b64",
        "entry_kind",         "session_id",           "mode",          "macp_version",        "timestamp_unix_ms",
        "bound_mode_version", "bound_max_suspend_ms", "semantics_rev", "bound_ttl_expiry_ms", "bound_policy",
        "bound_definition",   "raw_payload"};
    PlainScanner in(record);
    e.message_id.clear();
    e.received_at_ms = 0;
    e.sender.clear();
    e.message_type.clear();
    e.payload.clear();
    e.kind = EntryKind::Incoming;
    e.session_id.clear();
    e.mode.clear();
    e.macp_version.clear();
    e.timestamp_unix_ms = 0;
    e.bound_mode_version.reset();
    e.bound_max_suspend_ms.reset();
    e.semantics_rev.reset();
    e.bound_policy.reset();
    e.bound_ttl_expiry_ms.reset();
    e.bound_definition.reset();
    if (!in.consume('{')) return false;
    uint32_t seen = 0;
    bool first = true;
    while (!in.consume('}')) {
        if (!first && !in.consume(',')) return false;
        first = false;
        std::string_view key;
        if (!in.string(key) || !in.consume(':')) return false;
        const auto k = static_cast<unsigned>(std::find(kKeys.begin(), kKeys.end(), key) - kKeys.begin());
        if (k == kKeyCount) {
            if (!skip_scalar(in)) return false;
            continue;
        }
        if ((seen & (1u << k)) != 0 || k == kRawPayload) return false;  // repeated, or byte arrays: DOM
        seen |= 1u << k;
        if (k == kBoundPolicy) {
            if (!read_plain_policy(in, e.bound_policy.emplace())) return false;
            continue;
        }
        if (k == kReceivedAt || k == kTimestamp || k == kBoundMaxSuspend || k == kSemanticsRev ||
            k == kBoundTtlExpiry) {
            int64_t v = 0;
            if (!in.integer(v)) return false;  // another type: the DOM reader's default applies
            if (k == kReceivedAt) e.received_at_ms = v;
            if (k == kTimestamp) e.timestamp_unix_ms = v;
            if (k == kBoundMaxSuspend) e.bound_max_suspend_ms = v;
            if (k == kSemanticsRev) e.semantics_rev = static_cast<int>(v);
            if (k == kBoundTtlExpiry) e.bound_ttl_expiry_ms = v;
            continue;
        }
        std::string_view v;
        if (!in.string(v)) return false;
        switch (k) {
            case kMessageId: e.message_id.assign(v); break;
            case kSender: e.sender.assign(v); break;
            case kMessageType: e.message_type.assign(v); break;
            case kPayload:
                if (!decode_base64(v, e.payload)) return false;  // the DOM reader words the error
                break;
            case kEntryKind:
                if (v == "Incoming") {
                    e.kind = EntryKind::Incoming;
                } else if (v == "Internal") {
                    e.kind = EntryKind::Internal;
                } else if (v == "Checkpoint") {
                    e.kind = EntryKind::Checkpoint;
                } else {
                    return false;  // the DOM reader words the error
                }
                break;
            case kSessionId: e.session_id.assign(v); break;
            case kMode: e.mode.assign(v); break;
            case kMacpVersion: e.macp_version.assign(v); break;
            case kBoundModeVersion: e.bound_mode_version.emplace(v); break;
            case kBoundDefinition: e.bound_definition.emplace(v); break;
            default: return false;
        }
    }
    return in.at_end();
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

Result<void, std::string> decode_entry_into(const std::string& record, LogEntry& out) {
    if (decode_plain_entry(record, out)) return {};
    auto e = decode_entry(record, false);
    if (!e) return fail(std::move(e.error()));
    out = std::move(e.value());
    return {};
}

Result<LogEntry, std::string> decode_entry(const std::string& record) {
    return decode_entry(record, true);
}

Result<LogEntry, std::string> decode_entry(const std::string& record, bool try_plain) {
    if (try_plain) {
        LogEntry plain;
        if (decode_plain_entry(record, plain)) return plain;
    }
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
        s.seen_message_ids.for_each([&](const std::string& id) { ids.push_back(&id); });
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
