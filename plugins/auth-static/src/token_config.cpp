#include "token_config.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <rapidjson/document.h>
#include "bounded_json.hpp"
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace macp::auth_static {
namespace {

using macp::sdk::Error;

[[noreturn]] void fail(const std::string& message) {
    throw Error(MACP_STATUS_INVALID_ARGUMENT, "auth-static: " + message);
}

// ---- bounded parsing ---------------------------------------------------------------------------

void parse_json(const std::string& text, const std::string& source, rapidjson::Document& doc) {
    if (text.size() > kMaxConfigBytes) {
        fail(source + " is larger than the limit of " + std::to_string(kMaxConfigBytes) + " bytes");
    }
    // RapidJSON streams treat NUL as end of input, so anything after a NUL byte would be ignored
    // silently. A raw NUL is never valid JSON anyway.
    if (auto nul = text.find('\0'); nul != std::string::npos) {
        fail("invalid JSON in " + source + " at offset " + std::to_string(nul) + ": NUL byte");
    }
    macp::plugin_json::BoundedParse parse{text, kMaxNestingDepth};
    doc.Populate(parse);
    if (parse.result.IsError()) {
        const std::string why = parse.too_deep ? "nesting deeper than " + std::to_string(kMaxNestingDepth) + " levels"
                                               : std::string(rapidjson::GetParseError_En(parse.result.Code()));
        fail("invalid JSON in " + source + " at offset " + std::to_string(parse.result.Offset()) + ": " + why);
    }
}

// ---- schema ------------------------------------------------------------------------------------

std::string to_string(const rapidjson::Value& s) {
    return std::string(s.GetString(), s.GetStringLength());
}

// The member `name` of `obj`, or nullptr. A repeated key is refused rather than silently taking
// one of them (serde, which the reference uses, refuses it too).
const rapidjson::Value* member(const rapidjson::Value& obj, const char* name, const std::string& where) {
    const rapidjson::Value* found = nullptr;
    const std::string_view wanted(name);
    for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) != wanted) continue;
        if (found != nullptr) fail(where + "duplicate field \"" + name + "\"");
        found = &it->value;
    }
    return found;
}

std::string required_string(const rapidjson::Value& obj, const char* name, const std::string& where) {
    const rapidjson::Value* v = member(obj, name, where);
    if (v == nullptr) fail(where + "missing required field \"" + std::string(name) + "\"");
    if (!v->IsString() || v->GetStringLength() == 0) {
        fail(where + "\"" + name + "\" must be a non-empty string");
    }
    return to_string(*v);
}

bool optional_bool(const rapidjson::Value& obj, const char* name, bool fallback, const std::string& where) {
    const rapidjson::Value* v = member(obj, name, where);
    if (v == nullptr) return fallback;
    if (!v->IsBool()) fail(where + "\"" + name + "\" must be true or false");
    return v->GetBool();
}

TokenEntry parse_entry(const rapidjson::Value& item, const std::string& where) {
    if (!item.IsObject()) fail(where + "must be an object");
    TokenEntry entry;
    entry.token = required_string(item, "token", where);
    macp::sdk::Identity& id = entry.identity;
    id.sender = required_string(item, "sender", where);
    id.can_start_sessions = optional_bool(item, "can_start_sessions", true, where);
    id.can_manage_mode_registry = optional_bool(item, "can_manage_mode_registry", false, where);
    id.is_observer = optional_bool(item, "is_observer", false, where);

    if (const rapidjson::Value* modes = member(item, "allowed_modes", where)) {
        if (!modes->IsArray()) fail(where + "\"allowed_modes\" must be an array of strings");
        std::vector<std::string> list;
        list.reserve(modes->Size());
        for (rapidjson::SizeType i = 0; i < modes->Size(); ++i) {
            const rapidjson::Value& m = (*modes)[i];
            if (!m.IsString()) {
                fail(where + "\"allowed_modes\"[" + std::to_string(i) + "] must be a string");
            }
            list.push_back(to_string(m));
        }
        // An empty list means "unrestricted" for static tokens (AUTH-STATIC-3, unlike JWT scopes),
        // and the SDK's Identity spells "unrestricted" as nullopt.
        if (!list.empty()) id.allowed_modes = std::move(list);
    }

    if (const rapidjson::Value* max = member(item, "max_open_sessions", where)) {
        if (max->IsInt64() && max->GetInt64() >= 0) {
            id.max_open_sessions = max->GetInt64();
        } else if (!max->IsNull()) {  // null is "absent", as for the reference's Option<usize>
            fail(where + "\"max_open_sessions\" must be a non-negative integer (at most 2^63-1)");
        }
    }
    return entry;
}

}  // namespace

std::vector<TokenEntry> parse_token_config(const std::string& json, const std::string& source) {
    rapidjson::Document doc;
    parse_json(json, source, doc);

    const rapidjson::Value* list = nullptr;
    if (doc.IsArray()) {
        list = &doc;
    } else if (doc.IsObject()) {
        list = member(doc, "tokens", source + ": ");
        if (list == nullptr || !list->IsArray()) {
            fail(source + ": the object form needs a \"tokens\" array: {\"tokens\": [...]}");
        }
    } else {
        fail(source + ": expected a JSON array of identities or an object {\"tokens\": [...]}");
    }

    std::vector<TokenEntry> entries;
    std::unordered_map<std::string, std::size_t> index_of;  // token -> position in `entries`
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
        TokenEntry entry = parse_entry((*list)[i], source + ": entry " + std::to_string(i) + ": ");
        auto [it, inserted] = index_of.emplace(entry.token, entries.size());
        if (inserted) {
            entries.push_back(std::move(entry));
        } else {
            entries[it->second] = std::move(entry);  // duplicate token: last wins (AUTH-STATIC-3)
        }
    }
    // The reference treats an empty list as "no static resolver" and may fall back to dev mode
    // (AUTH-STATIC-5). Loading this plugin states that static tokens are wanted, so an empty list
    // is an operator error, not a silent way to lose authentication.
    if (entries.empty()) fail("the token list is empty (" + source + ")");
    return entries;
}

std::string read_config_file(const std::string& path) {
    const std::string what = std::string(kTokensFileKey) + " '" + path + "'";
    auto io_error = [&](const char* verb, int err) {
        return Error(MACP_STATUS_IO_ERROR, std::string("auth-static: cannot ") + verb + " " + what + ": " +
                                               std::generic_category().message(err));
    };

    struct Closer {
        // Read-only stream: a failing fclose loses nothing, so its result is not checked.
        void operator()(std::FILE* f) const noexcept { static_cast<void>(std::fclose(f)); }
    };
    errno = 0;
    std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
    if (!file) throw io_error("open", errno);

    // Read with a cap instead of trusting the size from stat(): the path may be a FIFO or a
    // /proc-like file whose size is not known in advance.
    std::string data;
    char buffer[64 * 1024];
    for (;;) {
        errno = 0;
        const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
        if (n == 0) {
            if (std::ferror(file.get())) throw io_error("read", errno != 0 ? errno : EIO);
            break;
        }
        if (data.size() + n > kMaxConfigBytes) {
            fail(what + " is larger than the limit of " + std::to_string(kMaxConfigBytes) + " bytes");
        }
        data.append(buffer, n);
    }
    return data;
}

std::vector<TokenEntry> load_token_config(const macp::sdk::Config& config) {
    if (auto inline_json = config.get(kTokensJsonKey)) {
        return parse_token_config(*inline_json, kTokensJsonKey);
    }
    if (auto path = config.get(kTokensFileKey)) {
        return parse_token_config(read_config_file(*path), std::string(kTokensFileKey) + " '" + *path + "'");
    }
    fail("set MACP_AUTH_TOKENS_JSON or MACP_AUTH_TOKENS_FILE");
}

}  // namespace macp::auth_static
