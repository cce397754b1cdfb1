#include "modes/registry.hpp"

#include <algorithm>
#include <array>
#include <mutex>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "modes/decision.hpp"
#include "modes/handoff.hpp"
#include "modes/multi_round.hpp"
#include "modes/passthrough.hpp"
#include "modes/proposal.hpp"
#include "modes/quorum.hpp"
#include "modes/standard_descriptors.hpp"
#include "modes/task.hpp"
#include "util/json.hpp"
#include "util/json_write.hpp"

namespace macp::modes {

namespace {

constexpr std::string_view kReservedPrefix = "macp.mode.";
// Records of promoted built-in modes are keyed by this prefix plus the built-in's original name.
constexpr std::string_view kBuiltinKey = "builtin:";

bool blank(const std::string& s) {
    return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}
bool reserved_name(const std::string& s) {
    return s.compare(0, kReservedPrefix.size(), kReservedPrefix) == 0;
}

// A promoted built-in is stored under "builtin:<name>" and an extension under its own name: an
// extension named "builtin:..." would come back from storage as a promotion of a built-in (and
// vanish, or rename one). Found by fuzz target ext_mode_descriptor (issue #15).
bool storage_key_name(const std::string& s) {
    return s.compare(0, kBuiltinKey.size(), kBuiltinKey) == 0;
}

// Types only the runtime may write (RFC-MACP-0001 §7.3): an extension must not declare them, or
// a client could forge a cancel or an expiry through Send.
bool runtime_reserved_type(const std::string& t) {
    static constexpr std::array<std::string_view, 7> kReserved{
        "SessionCancel", "SessionSuspend", "SessionResume", "TtlExpired", "Checkpoint", "Signal", "Progress"};
    return std::find(kReserved.begin(), kReserved.end(), t) != kReserved.end();
}

std::shared_ptr<const Mode> make_builtin(ModeDescriptor d) {
    const auto& n = d.mode;
    if (n == "macp.mode.decision.v1") return std::make_shared<DecisionMode>(std::move(d));
    if (n == "macp.mode.proposal.v1") return std::make_shared<ProposalMode>(std::move(d));
    if (n == "macp.mode.task.v1") return std::make_shared<TaskMode>(std::move(d));
    if (n == "macp.mode.handoff.v1") return std::make_shared<HandoffMode>(std::move(d));
    return std::make_shared<QuorumMode>(std::move(d));
}

std::vector<std::string> read_strings(const rapidjson::Value& obj, const char* key) {
    std::vector<std::string> out;
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsArray()) return out;
    for (const auto& s : it->value.GetArray()) {
        if (s.IsString()) out.emplace_back(s.GetString(), s.GetStringLength());
    }
    return out;
}

}  // namespace

std::string encode_descriptor(const ModeDescriptor& d, bool promoted) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    auto str = [&](const char* k, const std::string& v) {
        w.Key(k);
        w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    w.StartObject();
    str("mode", d.mode);
    str("mode_version", d.mode_version);
    str("title", d.title);
    str("description", d.description);
    str("determinism_class", d.determinism_class);
    str("participant_model", d.participant_model);
    w.Key("message_types");
    util::json::put_strings(w, d.message_types);
    w.Key("terminal_message_types");
    util::json::put_strings(w, d.terminal_message_types);
    w.Key("schema_uris");
    w.StartObject();
    for (const auto& [k, v] : d.schema_uris) {
        util::json::put_key(w, k);  // with its length: map keys may hold NUL
        util::json::put_value(w, v);
    }
    w.EndObject();
    w.Key("promoted");
    w.Bool(promoted);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

std::optional<std::pair<ModeDescriptor, bool>> decode_descriptor(const std::string& json) {
    rapidjson::Document doc;
    if (!util::parse_json_untrusted(json, doc) || !doc.IsObject()) return std::nullopt;
    ModeDescriptor d;
    d.mode = util::get_string(doc, "mode");
    d.mode_version = util::get_string(doc, "mode_version");
    d.title = util::get_string(doc, "title");
    d.description = util::get_string(doc, "description");
    d.determinism_class = util::get_string(doc, "determinism_class");
    d.participant_model = util::get_string(doc, "participant_model");
    d.message_types = read_strings(doc, "message_types");
    d.terminal_message_types = read_strings(doc, "terminal_message_types");
    if (doc.HasMember("schema_uris") && doc["schema_uris"].IsObject()) {
        for (const auto& m : doc["schema_uris"].GetObject()) {
            if (m.value.IsString()) {
                d.schema_uris[std::string(m.name.GetString(), m.name.GetStringLength())] =
                    std::string(m.value.GetString(), m.value.GetStringLength());
            }
        }
    }
    if (d.mode.empty()) return std::nullopt;
    return std::make_pair(std::move(d), util::get_bool(doc, "promoted"));
}

ModeRegistry::Entries ModeRegistry::builtins() {
    Entries entries;
    int order = 0;
    for (auto& d : standard_descriptors()) {
        auto name = d.mode;
        entries.push_back({name, make_builtin(std::move(d)), true, true, order++});
    }
    auto mr = std::make_shared<MultiRoundMode>();
    entries.push_back({mr->descriptor().mode, mr, true, false, order++});
    return entries;
}

ModeRegistry::ModeRegistry(storage::StorageBackend* storage) : storage_(storage) {
    publish(builtins());
}

Result<size_t, std::string> ModeRegistry::reload() {
    return load_stored(true);
}

Result<size_t, std::string> ModeRegistry::load() {
    return load_stored(false);
}

ModeRegistry::Entry* ModeRegistry::find_entry(Entries& entries, const std::string& name) {
    for (auto& e : entries) {
        if (e.name == name) return &e;
    }
    return nullptr;
}

ModeDescriptor ModeRegistry::descriptor_of(const Entry& e) const {
    auto d = e.mode->descriptor();
    d.mode = e.name;  // DISC-9: the key wins (a renamed promotion keeps its descriptor otherwise)
    return d;
}

Result<size_t, std::string> ModeRegistry::load_stored(bool fresh) {
    if (storage_ == nullptr) return size_t{0};
    auto records = storage_->list_records(kModeNamespace);
    if (!records) return fail("cannot load registered modes: " + records.error().message);
    std::lock_guard lock(write_mu_);
    Entries next = fresh ? builtins() : *snapshot();
    size_t n = 0;
    for (const auto& [key, blob] : *records) {
        auto decoded = decode_descriptor(blob);
        if (!decoded) return fail("stored mode '" + key + "' is corrupt");
        auto& [d, promoted] = *decoded;
        if (key.compare(0, kBuiltinKey.size(), kBuiltinKey) == 0) {
            // A promoted built-in: the record holds its final name.
            if (auto* e = find_entry(next, key.substr(kBuiltinKey.size()))) {
                e->name = d.mode;
                e->standards = true;
            }
        } else {
            auto name = d.mode;
            next.push_back({name, std::make_shared<PassthroughMode>(std::move(d), promoted), false, promoted, 0});
        }
        ++n;
    }
    publish(std::move(next));
    return n;
}

std::shared_ptr<const Mode> ModeRegistry::find(const std::string& name) const {
    const auto entries = snapshot();
    for (const auto& e : *entries) {
        if (e.name == name) return e.mode;
    }
    return nullptr;
}

std::vector<ModeDescriptor> ModeRegistry::standards_track() const {
    const auto entries = snapshot();
    std::vector<const Entry*> picked;
    for (const auto& e : *entries) {
        if (e.standards) picked.push_back(&e);
    }
    std::stable_sort(picked.begin(), picked.end(), [](const Entry* a, const Entry* b) {
        const bool fixed_a = a->builtin && a->order < 5;
        const bool fixed_b = b->builtin && b->order < 5;
        if (fixed_a != fixed_b) return fixed_a;
        if (fixed_a) return a->order < b->order;
        return a->name < b->name;
    });
    std::vector<ModeDescriptor> out;
    out.reserve(picked.size());
    for (const auto* e : picked) out.push_back(descriptor_of(*e));
    return out;
}

std::vector<ModeDescriptor> ModeRegistry::extensions() const {
    const auto entries = snapshot();
    std::vector<ModeDescriptor> out;
    for (const auto& e : *entries) {
        if (!e.standards) out.push_back(descriptor_of(e));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.mode < b.mode; });
    return out;
}

std::vector<std::string> ModeRegistry::all_names() const {
    const auto entries = snapshot();
    std::vector<std::string> out;
    for (const auto& e : *entries) out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
}

storage::Status ModeRegistry::persist(const Entry& e) {
    if (storage_ == nullptr) return {};
    if (e.builtin) {
        auto d = descriptor_of(e);
        return storage_->put_record(kModeNamespace, std::string(kBuiltinKey) + e.mode->descriptor().mode,
                                    encode_descriptor(d, true));
    }
    return storage_->put_record(kModeNamespace, e.name, encode_descriptor(descriptor_of(e), e.standards));
}

std::string ModeRegistry::definition_record(const Mode& mode) {
    if (const auto* pt = dynamic_cast<const PassthroughMode*>(&mode)) {
        return encode_descriptor(pt->descriptor(), pt->strict());
    }
    rapidjson::StringBuffer buf;
    util::json::Writer w(buf);
    w.StartObject();
    util::json::put(w, "builtin", mode.descriptor().mode);
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

std::shared_ptr<const Mode> ModeRegistry::from_definition_record(const std::string& record, std::string& error) const {
    rapidjson::Document doc;
    if (!util::parse_json_stored(record, doc) || !doc.IsObject()) {
        error = "the recorded mode definition is not a JSON object";
        return nullptr;
    }
    if (doc.HasMember("builtin")) {
        const auto original = util::get_string(doc, "builtin");
        const auto entries = snapshot();
        for (const auto& e : *entries) {
            // Promotion may have renamed the entry; the implementation keeps its original name.
            if (e.builtin && e.mode->descriptor().mode == original) return e.mode;
        }
        error = "built-in mode '" + original + "' is not part of this runtime";
        return nullptr;
    }
    auto decoded = decode_descriptor(record);
    if (!decoded) {
        error = "the recorded extension descriptor is corrupt";
        return nullptr;
    }
    return std::make_shared<PassthroughMode>(std::move(decoded->first), decoded->second);
}

void ModeRegistry::notify() {
    if (listener_) listener_();  // DISC-13: one notification per successful change
}

Result<void, std::string> ModeRegistry::register_extension(ModeDescriptor d) {
    // DISC-8 (0.6 order).
    if (blank(d.mode)) return fail(std::string("mode name must not be empty"));
    if (reserved_name(d.mode))
        return fail(std::string("cannot register extension with reserved macp.mode.* namespace"));
    if (storage_key_name(d.mode)) return fail(std::string("mode names starting with 'builtin:' are reserved"));
    if (d.message_types.empty())
        return fail(std::string("extension descriptor must declare at least one message type"));
    if (blank(d.mode_version)) return fail(std::string("extension descriptor must bind mode_version"));
    if (d.terminal_message_types.empty()) {
        return fail(std::string("extension descriptor must declare at least one terminal message type"));
    }
    for (const auto& t : d.terminal_message_types) {
        if (t != "Commitment") {
            return fail("dynamically registered modes resolve only on 'Commitment'; terminal message type '" + t +
                        "' would never terminate a session");
        }
        if (std::find(d.message_types.begin(), d.message_types.end(), t) == d.message_types.end()) {
            return fail("terminal message type '" + t + "' must also appear in message_types");
        }
    }
    for (const auto& t : d.message_types) {
        if (runtime_reserved_type(t)) return fail("message type '" + t + "' is reserved for the runtime");
    }
    {
        // Writers one at a time (no two registrations of one name); readers keep using the
        // published snapshot while the record is written.
        std::lock_guard lock(write_mu_);
        Entries next = *snapshot();
        if (find_entry(next, d.mode) != nullptr) return fail("mode '" + d.mode + "' is already registered");
        auto name = d.mode;
        Entry e{name, std::make_shared<PassthroughMode>(std::move(d), false), false, false, 0};
        // Durable before visible: a session may start in it the moment it is listed.
        if (auto st = persist(e); !st) return fail("cannot persist mode: " + st.error().message);
        next.push_back(std::move(e));
        publish(std::move(next));
    }
    notify();
    return {};
}

Result<void, std::string> ModeRegistry::unregister_extension(const std::string& name) {
    {
        std::lock_guard lock(write_mu_);
        Entries next = *snapshot();
        auto it = std::find_if(next.begin(), next.end(), [&](const Entry& e) { return e.name == name; });
        if (it == next.end()) return fail("mode '" + name + "' not found");  // DISC-10
        if (it->builtin) return fail("cannot unregister built-in mode '" + name + "'");
        if (it->standards) return fail("cannot unregister standards-track mode '" + name + "'");
        if (storage_ != nullptr) {
            if (auto st = storage_->delete_record(kModeNamespace, name); !st) {
                return fail("cannot delete mode: " + st.error().message);
            }
        }
        next.erase(it);
        publish(std::move(next));
    }
    notify();
    return {};
}

Result<std::string, std::string> ModeRegistry::promote(const std::string& name, const std::string& new_name) {
    std::string target;
    {
        std::lock_guard lock(write_mu_);
        Entries next = *snapshot();
        auto* e = find_entry(next, name);
        if (e == nullptr) return fail("mode '" + name + "' not found");  // DISC-11
        if (e->standards) return fail("mode '" + name + "' is already standards-track");
        if (!new_name.empty() && blank(new_name)) return fail(std::string("promotion target name must not be empty"));
        target = new_name.empty() ? name : new_name;  // RPC-PROMO-1
        if (reserved_name(target)) return fail("cannot promote '" + name + "' into the reserved macp.mode.* namespace");
        if (storage_key_name(target)) return fail(std::string("mode names starting with 'builtin:' are reserved"));
        if (target != name && find_entry(next, target) != nullptr) {
            return fail("cannot promote: target name '" + target + "' already exists");
        }
        Entry promoted = *e;
        promoted.name = target;
        promoted.standards = true;
        if (!promoted.builtin) {  // DISC-12: promoted modes get strict SessionStart
            auto d = e->mode->descriptor();
            d.mode = target;
            promoted.mode = std::make_shared<PassthroughMode>(std::move(d), true);
        }
        if (auto st = persist(promoted); !st) return fail("cannot persist promotion: " + st.error().message);
        if (!promoted.builtin && target != name && storage_ != nullptr) {
            if (auto st = storage_->delete_record(kModeNamespace, name); !st) {
                return fail("cannot persist promotion: " + st.error().message);
            }
        }
        *e = std::move(promoted);
        publish(std::move(next));
    }
    notify();
    return target;
}

}  // namespace macp::modes
