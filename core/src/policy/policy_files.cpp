#include "policy/policy_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "util/json.hpp"

namespace macp::policy {

namespace {

namespace fs = std::filesystem;

std::string dir_error(const std::string& where, const std::string& detail) {
    return "MACP_POLICIES_DIR: " + where + ": " + detail;
}

// The whole file, or an error detail (errno text, a directory, too large).
Result<std::string, std::string> read_whole_file(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot read file: " + std::string(std::strerror(errno)));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail("cannot read file: " + std::string(std::strerror(errno)));
    if (S_ISDIR(st.st_mode)) return fail(std::string("cannot read file: ") + std::strerror(EISDIR));
    std::string out;
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot read file: " + std::string(std::strerror(errno)));
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > util::kMaxJsonBytes) {
            return fail("file is larger than " + std::to_string(util::kMaxJsonBytes / (1024 * 1024)) + " MiB");
        }
    }
    return out;
}

// Why parse_json_untrusted refused `text` (its size was already checked).
std::string json_error(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
    if (!doc.HasParseError()) {
        return "not valid JSON: nested deeper than " + std::to_string(util::kMaxJsonDepth) + " levels";
    }
    return std::string("not valid JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) + " (at byte " +
           std::to_string(doc.GetErrorOffset()) + ")";
}

const char* json_type(const rapidjson::Value& v) {
    if (v.IsNull()) return "null";
    if (v.IsBool()) return "a boolean";
    if (v.IsNumber()) return "a number";
    if (v.IsString()) return "a string";
    if (v.IsArray()) return "an array";
    return "an object";
}

// A required string member.
std::optional<std::string> read_string(const rapidjson::Value& obj, const char* key, std::string& out) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd()) return std::string("missing field '") + key + "'";
    if (!it->value.IsString()) {
        return std::string("field '") + key + "' must be a string, found " + json_type(it->value);
    }
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return std::nullopt;
}

// POL-REG-12: a full PolicyDefinition object; the five members are required.
Result<PolicyDefinition, std::string> parse_definition(const rapidjson::Value& doc) {
    if (!doc.IsObject()) {
        return fail(std::string("not a policy definition: expected a JSON object, found ") + json_type(doc));
    }
    PolicyDefinition def;
    if (auto e = read_string(doc, "policy_id", def.policy_id)) return fail(*e);
    if (auto e = read_string(doc, "mode", def.mode)) return fail(*e);
    if (auto e = read_string(doc, "description", def.description)) return fail(*e);
    auto rules = doc.FindMember("rules");
    if (rules == doc.MemberEnd()) return fail(std::string("missing field 'rules'"));
    // An object (the file form) or a string holding one (the gRPC descriptor form). Any other value is
    // handed to validation, which refuses it ("rules must be a JSON object").
    def.rules = rules->value.IsString() ? std::string(rules->value.GetString(), rules->value.GetStringLength())
                                        : util::to_json(rules->value);
    auto version = doc.FindMember("schema_version");
    if (version == doc.MemberEnd()) return fail(std::string("missing field 'schema_version'"));
    if (!version->value.IsUint64() || version->value.GetUint64() > std::numeric_limits<uint32_t>::max()) {
        return fail(std::string("field 'schema_version' must be an unsigned 32-bit integer"));
    }
    def.schema_version = static_cast<uint32_t>(version->value.GetUint64());
    def.registered_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return def;
}

}  // namespace

Result<size_t, std::string> load_policy_dir(const std::string& dir, PolicyRegistry& registry) {
    std::vector<fs::path> files;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return fail(dir_error(dir, "cannot read directory: " + ec.message()));
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) break;
        // Only `*.json`; a sub-directory called `x.json` is kept so that reading it fails (POL-REG-12).
        if (it->path().extension() == ".json") files.push_back(it->path());
    }
    if (ec) return fail(dir_error(dir, "cannot read directory: " + ec.message()));
    std::sort(files.begin(), files.end());

    size_t loaded = 0;
    for (const auto& path : files) {
        const std::string name = path.string();
        auto text = read_whole_file(path);
        if (!text) return fail(dir_error(name, text.error()));
        rapidjson::Document doc;
        if (!util::parse_json_untrusted(*text, doc)) return fail(dir_error(name, json_error(*text)));
        auto def = parse_definition(doc);
        if (!def) return fail(dir_error(name, def.error()));
        if (auto r = registry.register_file_policy(std::move(*def)); !r) return fail(dir_error(name, r.error()));
        ++loaded;
    }
    return loaded;
}

}  // namespace macp::policy
