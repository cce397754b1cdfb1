// MACP_POLICIES_DIR loading (DELTA-0.6 CFG-21, CFG-25, POL-REG-12): good and bad directories.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "plugin_host/plugin_host.hpp"
#include "policy/policy_files.hpp"
#include "policy/registry.hpp"
#include "storage/storage_backend.hpp"

using namespace macp;
namespace fs = std::filesystem;

namespace {

class TempDir {
public:
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "macp-policy-files-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }
    [[nodiscard]] std::string str() const { return path_.string(); }
    fs::path write(const std::string& name, const std::string& text) const {
        auto p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

private:
    fs::path path_;
};

std::string policy_json(const std::string& id, const std::string& mode = "macp.mode.decision.v1",
                        const std::string& rules = R"({"voting":{"algorithm":"majority"}})",
                        const std::string& version = "1") {
    return R"({"policy_id":")" + id + R"(","mode":")" + mode + R"(","description":"from a file","rules":)" + rules +
           R"(,"schema_version":)" + version + "}";
}

std::string load_error(const TempDir& dir, policy::PolicyRegistry& reg) {
    auto r = policy::load_policy_dir(dir.str(), reg);
    REQUIRE_FALSE(r.ok());
    return r.error();
}

std::string load_error(const TempDir& dir) {
    policy::PolicyRegistry reg;
    return load_error(dir, reg);
}

std::string prefix(const fs::path& file) {
    return "MACP_POLICIES_DIR: " + file.string() + ": ";
}

}  // namespace

TEST_CASE("POL-REG-12: every *.json file is registered, nothing else", "[policy][files]") {
    TempDir dir;
    dir.write("b.json", policy_json("policy.b", "macp.mode.task.v1", R"({"completion":{"require_output":true}})", "2"));
    dir.write("a.json", policy_json("policy.a"));
    // The gRPC descriptor's form of rules (a JSON string) is accepted too; unknown members are ignored.
    dir.write("c.json", R"({"policy_id":"policy.c","mode":"*","description":"d","rules":"{\"voting\":{}}",)"
                        R"("schema_version":1,"registered_at_unix_ms":5,"extra":true})");
    dir.write("README.md", "not a policy");
    dir.write("notes.json.bak", "{");
    dir.write(".hidden", "{");
    fs::create_directory(dir.path() / "nested");
    dir.write("nested/d.json", policy_json("policy.d"));  // no recursion

    auto storage = plugin_host::PluginHost({}).open_memory_storage();
    REQUIRE(storage.ok());
    policy::PolicyRegistry reg(storage.value().get());
    auto r = policy::load_policy_dir(dir.str(), reg);
    REQUIRE(r.ok());
    CHECK(r.value() == 3);
    std::vector<std::string> ids;
    for (const auto& p : reg.list()) ids.push_back(p.policy_id);
    CHECK(ids == std::vector<std::string>{"policy.a", "policy.b", "policy.c", "policy.default"});
    auto b = reg.find("policy.b");
    REQUIRE(b.has_value());
    CHECK(b->mode == "macp.mode.task.v1");
    CHECK(b->description == "from a file");
    CHECK(b->rules == R"({"completion":{"require_output":true}})");
    CHECK(b->schema_version == 2);
    CHECK(b->registered_at_ms > 0);
    CHECK(reg.find("policy.c")->rules == R"({"voting":{}})");
    // Not persisted: the directory is the source of truth on every start.
    auto records = storage.value()->list_records(policy::kPolicyNamespace);
    REQUIRE(records.ok());
    CHECK(records->empty());
    CHECK_FALSE(reg.read_only());  // the caller (main) makes the registry read-only afterwards
}

TEST_CASE("POL-REG-12: an empty directory loads nothing", "[policy][files]") {
    TempDir dir;
    policy::PolicyRegistry reg;
    auto r = policy::load_policy_dir(dir.str(), reg);
    REQUIRE(r.ok());
    CHECK(r.value() == 0);
    CHECK(reg.list().size() == 1);
}

TEST_CASE("CFG-25: an unreadable directory stops start-up", "[policy][files]") {
    TempDir dir;
    policy::PolicyRegistry reg;
    const auto missing = (dir.path() / "missing").string();
    auto r = policy::load_policy_dir(missing, reg);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == "MACP_POLICIES_DIR: " + missing + ": cannot read directory: No such file or directory");

    const auto file = dir.write("plain", "x").string();
    r = policy::load_policy_dir(file, reg);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == "MACP_POLICIES_DIR: " + file + ": cannot read directory: Not a directory");
}

TEST_CASE("CFG-25: a bad file stops loading and is named", "[policy][files]") {
    TempDir dir;
    const std::string bad = "z.json";  // sorts after the good file
    dir.write("a.json", policy_json("policy.a"));
    struct Case {
        const char* name;
        std::string text;
        std::string detail;
    };
    const std::vector<Case> cases = {
        {"invalid JSON", "{\"policy_id\":", "not valid JSON: Invalid value. (at byte 13)"},
        {"trailing garbage", policy_json("policy.z") + " x",
         "not valid JSON: The document root must not be followed by other values."},
        {"empty file", "", "not valid JSON: The document is empty. (at byte 0)"},
        {"too deep", std::string(200, '[') + std::string(200, ']'), "not valid JSON: nested deeper than 128 levels"},
        {"not an object", "[1]", "not a policy definition: expected a JSON object, found an array"},
        {"missing policy_id", R"({"mode":"*","description":"d","rules":{},"schema_version":1})",
         "missing field 'policy_id'"},
        {"missing mode", R"({"policy_id":"p","description":"d","rules":{},"schema_version":1})",
         "missing field 'mode'"},
        {"missing description", R"({"policy_id":"p","mode":"*","rules":{},"schema_version":1})",
         "missing field 'description'"},
        {"missing rules", R"({"policy_id":"p","mode":"*","description":"d","schema_version":1})",
         "missing field 'rules'"},
        {"missing schema_version", R"({"policy_id":"p","mode":"*","description":"d","rules":{}})",
         "missing field 'schema_version'"},
        {"policy_id type", R"({"policy_id":5,"mode":"*","description":"d","rules":{},"schema_version":1})",
         "field 'policy_id' must be a string, found a number"},
        {"mode null", R"({"policy_id":"p","mode":null,"description":"d","rules":{},"schema_version":1})",
         "field 'mode' must be a string, found null"},
        {"schema_version string", policy_json("policy.z", "*", "{}", "\"1\""),
         "field 'schema_version' must be an unsigned 32-bit integer"},
        {"schema_version negative", policy_json("policy.z", "*", "{}", "-1"),
         "field 'schema_version' must be an unsigned 32-bit integer"},
        {"schema_version fractional", policy_json("policy.z", "*", "{}", "1.5"),
         "field 'schema_version' must be an unsigned 32-bit integer"},
        {"schema_version too large", policy_json("policy.z", "*", "{}", "4294967296"),
         "field 'schema_version' must be an unsigned 32-bit integer"},
        // Registration rejections carry the registry's text (POL-REG-3..8, POL-REG-11).
        {"schema_version 0", policy_json("policy.z", "*", "{}", "0"),
         "INVALID_POLICY_DEFINITION: schema_version must be > 0"},
        {"rules an array", policy_json("policy.z", "*", "[]"),
         "INVALID_POLICY_DEFINITION: rules must be a JSON object"},
        {"rules a string that is not JSON", policy_json("policy.z", "*", R"("{oops")"),
         "INVALID_POLICY_DEFINITION: rules must be a JSON object"},
        {"rules type error", policy_json("policy.z", "macp.mode.quorum.v1", R"({"threshold":{"value":"2"}})"),
         "INVALID_POLICY_DEFINITION: rules do not match schema for mode 'macp.mode.quorum.v1': invalid type: "
         "string \"2\", expected f64"},
        {"constraint", policy_json("policy.z", "*", R"({"voting":{"algorithm":"weighted"}})"),
         "INVALID_POLICY_DEFINITION: voting.algorithm 'weighted' requires non-empty voting.weights"},
        {"reserved id", policy_json("policy.default", "*", "{}"),
         "INVALID_POLICY_DEFINITION: cannot register with reserved policy_id 'policy.default'"},
        {"blank id", policy_json(" ", "*", "{}"), "INVALID_POLICY_DEFINITION: policy_id must not be empty"},
        {"duplicate id across files", policy_json("policy.a"), "policy 'policy.a' is already registered"},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto path = dir.write(bad, c.text);
        policy::PolicyRegistry reg;
        auto e = load_error(dir, reg);
        if (std::string(c.name) == "trailing garbage") {
            CHECK(e.rfind(prefix(path) + c.detail, 0) == 0);
        } else {
            CHECK(e == prefix(path) + c.detail);
        }
        CHECK(reg.find("policy.a").has_value());  // files are loaded in name order
    }
}

TEST_CASE("CFG-25: a sub-directory named *.json is an unreadable file", "[policy][files]") {
    TempDir dir;
    fs::create_directory(dir.path() / "sub.json");
    CHECK(load_error(dir) == prefix(dir.path() / "sub.json") + "cannot read file: Is a directory");
}

TEST_CASE("CFG-25: an unreadable file", "[policy][files]") {
    {
        TempDir dir;  // a dangling symlink cannot be opened, even by root
        fs::create_symlink(dir.path() / "gone", dir.path() / "dangling.json");
        CHECK(load_error(dir) == prefix(dir.path() / "dangling.json") + "cannot read file: No such file or directory");
    }
    if (::geteuid() == 0) {
        WARN("running as root: permission bits are not enforced, skipped");
        return;
    }
    TempDir dir;
    auto p = dir.write("locked.json", policy_json("policy.locked"));
    fs::permissions(p, fs::perms::none);
    CHECK(load_error(dir) == prefix(p) + "cannot read file: Permission denied");
}

TEST_CASE("CFG-21: loaded, then read-only: the RPC paths are refused, reads work", "[policy][files]") {
    TempDir dir;
    dir.write("p.json", policy_json("policy.p"));
    policy::PolicyRegistry reg;
    REQUIRE(policy::load_policy_dir(dir.str(), reg).value() == 1);
    reg.set_read_only(true);
    CHECK(reg.register_policy({"policy.q", "*", "", "{}", 1, 0}).error() == policy::kReadOnlyMessage);
    CHECK(reg.unregister_policy("policy.p").error() == policy::kReadOnlyMessage);
    CHECK(reg.find("policy.p").has_value());
    CHECK(reg.list("macp.mode.decision.v1").size() == 2);
}
