// Black-box tests of auth-static.so: everything goes through the C ABI exactly as the host uses it
// (dlopen + macp_plugin_entry_v1 + vtable), with real error and identity sinks that record what
// the plugin reports. The module path comes from MACP_AUTH_STATIC_PLUGIN (set by ctest).
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "macp/plugin/auth.h"

namespace {

using Catch::Matchers::Contains;
using Pairs = std::vector<std::pair<std::string, std::string>>;

// ---- loading ---------------------------------------------------------------------------------

// The module is opened once for the whole run. It is closed only at exit, after every test (and
// so every instance it created) is gone.
class Plugin {
public:
    static const Plugin& get() {
        static const Plugin plugin;
        return plugin;
    }
    Plugin(const Plugin&) = delete;
    Plugin& operator=(const Plugin&) = delete;
    ~Plugin() {
        if (handle_ != nullptr) dlclose(handle_);
    }

    [[nodiscard]] macp_plugin_entry_fn entry() const { return entry_; }
    [[nodiscard]] const macp_plugin_descriptor* descriptor() const { return entry_(); }
    [[nodiscard]] const macp_auth_vtable* vtable() const {
        return static_cast<const macp_auth_vtable*>(descriptor()->vtable);
    }

private:
    Plugin() {
        const char* path = std::getenv("MACP_AUTH_STATIC_PLUGIN");
        if (path == nullptr || *path == '\0') {
            throw std::runtime_error("MACP_AUTH_STATIC_PLUGIN is not set; run the test through ctest");
        }
        handle_ = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr) throw std::runtime_error(std::string("dlopen failed: ") + dlerror());
        void* symbol = dlsym(handle_, MACP_PLUGIN_ENTRY_SYMBOL);
        if (symbol == nullptr) throw std::runtime_error(std::string("dlsym failed: ") + dlerror());
        entry_ = reinterpret_cast<macp_plugin_entry_fn>(symbol);
    }

    void* handle_ = nullptr;
    macp_plugin_entry_fn entry_ = nullptr;
};

// ---- host-side sinks ---------------------------------------------------------------------------

// A macp_call_context whose error sink records the last message. Not copyable: the C struct
// points back at this object.
class CallContext {
public:
    CallContext() {
        sink_.struct_size = sizeof sink_;
        sink_.ctx = this;
        sink_.set_error = &CallContext::set_error;
        ctx_.struct_size = sizeof ctx_;
        ctx_.error = &sink_;
    }
    CallContext(const CallContext&) = delete;
    CallContext& operator=(const CallContext&) = delete;

    [[nodiscard]] const macp_call_context* get() const { return &ctx_; }
    [[nodiscard]] const std::string& message() const { return message_; }

private:
    static void set_error(void* self, const char* message, size_t len) {
        static_cast<CallContext*>(self)->message_.assign(message, len);
    }
    macp_error_sink sink_{};
    macp_call_context ctx_{};
    std::string message_;
};

// What a resolver reported through the identity sink. Starts in the state auth.h promises.
struct RecordedIdentity {
    std::optional<std::string> sender;
    uint32_t flags = MACP_IDENTITY_CAN_START_SESSIONS;
    bool restricted = false;
    std::vector<std::string> modes;
    int64_t max_open_sessions = -1;
    bool mode_without_restrict = false;  // add_allowed_mode before restrict_modes: a plugin bug
};

class IdentitySink {
public:
    IdentitySink() {
        sink_.struct_size = sizeof sink_;
        sink_.ctx = this;
        sink_.set_sender = [](void* s, const char* v, size_t n) { self(s).rec_.sender = std::string(v, n); };
        sink_.set_flags = [](void* s, uint32_t f) { self(s).rec_.flags = f; };
        sink_.restrict_modes = [](void* s) {
            self(s).rec_.restricted = true;
            self(s).rec_.modes.clear();
        };
        sink_.add_allowed_mode = [](void* s, const char* v, size_t n) {
            auto& r = self(s).rec_;
            if (!r.restricted) r.mode_without_restrict = true;
            r.modes.emplace_back(v, n);
        };
        sink_.set_max_open_sessions = [](void* s, int64_t limit) { self(s).rec_.max_open_sessions = limit; };
    }
    IdentitySink(const IdentitySink&) = delete;
    IdentitySink& operator=(const IdentitySink&) = delete;

    [[nodiscard]] const macp_identity_sink* get() const { return &sink_; }
    [[nodiscard]] const RecordedIdentity& recorded() const { return rec_; }

private:
    static IdentitySink& self(void* s) { return *static_cast<IdentitySink*>(s); }
    macp_identity_sink sink_{};
    RecordedIdentity rec_;
};

// ---- instances ---------------------------------------------------------------------------------

struct Resolved {
    macp_status status;
    std::string message;
    RecordedIdentity identity;
};

// The entries borrow from `md`, which must outlive them.
std::vector<macp_metadata_entry> to_entries(const Pairs& md) {
    std::vector<macp_metadata_entry> entries;
    for (const auto& [k, v] : md) {
        entries.push_back({sizeof(macp_metadata_entry), k.data(), k.size(), v.data(), v.size()});
    }
    return entries;
}

// Owns one plugin instance; destroy() is called exactly once.
class Instance {
public:
    Instance() = default;
    explicit Instance(void* p) : p_(p) {}
    Instance(Instance&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Instance& operator=(Instance&& o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~Instance() {
        if (p_ != nullptr) Plugin::get().vtable()->destroy(p_);
    }
    [[nodiscard]] bool valid() const { return p_ != nullptr; }
    [[nodiscard]] void* raw() const { return p_; }

    [[nodiscard]] Resolved resolve_entries(const std::vector<macp_metadata_entry>& entries) const {
        CallContext ctx;
        IdentitySink sink;
        std::vector<const macp_metadata_entry*> pointers;
        for (const auto& e : entries) pointers.push_back(&e);
        const macp_status st =
            Plugin::get().vtable()->resolve(p_, pointers.data(), pointers.size(), sink.get(), ctx.get());
        return {st, ctx.message(), sink.recorded()};
    }
    [[nodiscard]] Resolved resolve(const Pairs& md) const { return resolve_entries(to_entries(md)); }

    [[nodiscard]] std::pair<macp_status, std::string> health() const {
        CallContext ctx;
        const macp_status st = Plugin::get().vtable()->health(p_, ctx.get());
        return {st, ctx.message()};
    }

private:
    void* p_ = nullptr;
};

struct Created {
    macp_status status;
    std::string message;
    Instance instance;
};

Created create(const Pairs& config) {
    std::vector<macp_config_pair> pairs;
    for (const auto& [k, v] : config) pairs.push_back({sizeof(macp_config_pair), k.c_str(), v.c_str()});
    std::vector<const macp_config_pair*> pointers;
    for (const auto& p : pairs) pointers.push_back(&p);
    CallContext ctx;
    void* out = nullptr;
    const macp_status st = Plugin::get().vtable()->create(pointers.data(), pointers.size(), &out, ctx.get());
    if (st != MACP_STATUS_OK) REQUIRE(out == nullptr);  // nothing to destroy on failure
    return {st, ctx.message(), Instance(out)};
}

Instance create_ok(const std::string& json) {
    Created c = create({{"MACP_AUTH_TOKENS_JSON", json}});
    INFO(c.message);
    REQUIRE(c.status == MACP_STATUS_OK);
    REQUIRE(c.instance.valid());
    return std::move(c.instance);
}

// Creation must fail; returns the message.
std::string create_error(const Pairs& config, macp_status expected = MACP_STATUS_INVALID_ARGUMENT) {
    Created c = create(config);
    INFO(c.message);
    REQUIRE(c.status == expected);
    REQUIRE_FALSE(c.message.empty());
    return c.message;
}
std::string json_error(const std::string& json) {
    return create_error({{"MACP_AUTH_TOKENS_JSON", json}});
}

Pairs bearer(const std::string& token) {
    return {{"authorization", "Bearer " + token}};
}

// A file removed when the test ends.
class TempFile {
public:
    explicit TempFile(const std::string& content) {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("auth-static-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".json");
        std::ofstream out(path_, std::ios::binary);
        out << content;
        if (!out) throw std::runtime_error("cannot write " + path_.string());
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }
    [[nodiscard]] std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

const std::string kTwo = R"([
  {"token": "tok-alice", "sender": "agent://alice"},
  {"token": "tok-bob", "sender": "agent://bob", "can_start_sessions": false}
])";

}  // namespace

// ---- descriptor --------------------------------------------------------------------------------

TEST_CASE("descriptor declares an auth plugin named static with two optional keys", "[auth-static]") {
    const macp_plugin_descriptor* d = Plugin::get().descriptor();
    REQUIRE(d != nullptr);
    CHECK(Plugin::get().entry()() == d);  // static, stable
    CHECK(d->struct_size == sizeof(macp_plugin_descriptor));
    CHECK(d->abi_major == MACP_PLUGIN_ABI_MAJOR);
    CHECK(d->abi_minor <= MACP_PLUGIN_ABI_MINOR);
    CHECK(d->kind == MACP_PLUGIN_KIND_AUTH);
    CHECK(std::string(d->name) == "static");
    CHECK((d->flags & MACP_PLUGIN_FLAG_THREAD_SAFE) != 0);
    REQUIRE(d->version != nullptr);
    CHECK(std::string(d->version) == "1.0.0");
    REQUIRE(d->description != nullptr);
    CHECK_FALSE(std::string(d->description).empty());

    REQUIRE(d->config_key_count == 2);
    const macp_config_key& json = d->config_keys[0];
    const macp_config_key& file = d->config_keys[1];
    CHECK(json.struct_size == sizeof(macp_config_key));
    CHECK(std::string(json.env_name) == "MACP_AUTH_TOKENS_JSON");
    CHECK(json.flags == MACP_CONFIG_SECRET);  // masked, not REQUIRED
    CHECK(json.default_value == nullptr);
    CHECK_FALSE(std::string(json.help).empty());
    CHECK(file.struct_size == sizeof(macp_config_key));
    CHECK(std::string(file.env_name) == "MACP_AUTH_TOKENS_FILE");
    CHECK(file.flags == MACP_CONFIG_PATH);
    CHECK(file.default_value == nullptr);
    CHECK_FALSE(std::string(file.help).empty());

    const macp_auth_vtable* v = Plugin::get().vtable();
    REQUIRE(v != nullptr);
    CHECK(v->struct_size == sizeof(macp_auth_vtable));
    CHECK(v->create != nullptr);
    CHECK(v->destroy != nullptr);
    CHECK(v->resolve != nullptr);
    CHECK(v->health != nullptr);
}

// ---- configuration sources and shapes ----------------------------------------------------------

TEST_CASE("inline JSON array shape", "[auth-static]") {
    Instance inst = create_ok(kTwo);
    Resolved r = inst.resolve(bearer("tok-alice"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "agent://alice");
    r = inst.resolve(bearer("tok-bob"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "agent://bob");
}

TEST_CASE("inline JSON object shape {\"tokens\": [...]}", "[auth-static]") {
    Instance inst = create_ok(R"({"tokens": [{"token": "t1", "sender": "s1"}], "comment": "ignored"})");
    Resolved r = inst.resolve(bearer("t1"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "s1");
}

TEST_CASE("token file, both shapes", "[auth-static]") {
    TempFile list(R"([{"token": "file-tok", "sender": "from-file"}])");
    TempFile wrapped(R"({"tokens": [{"token": "file-tok2", "sender": "from-file2"}]})");

    Created a = create({{"MACP_AUTH_TOKENS_FILE", list.path()}});
    INFO(a.message);
    REQUIRE(a.status == MACP_STATUS_OK);
    Resolved r = a.instance.resolve(bearer("file-tok"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "from-file");

    Created b = create({{"MACP_AUTH_TOKENS_FILE", wrapped.path()}});
    INFO(b.message);
    REQUIRE(b.status == MACP_STATUS_OK);
    r = b.instance.resolve(bearer("file-tok2"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "from-file2");
}

TEST_CASE("inline JSON wins over the file", "[auth-static]") {
    TempFile file(R"([{"token": "file-tok", "sender": "from-file"}])");
    Created c = create({{"MACP_AUTH_TOKENS_FILE", file.path()},
                        {"MACP_AUTH_TOKENS_JSON", R"([{"token": "inline-tok", "sender": "inline"}])"}});
    REQUIRE(c.status == MACP_STATUS_OK);
    CHECK(c.instance.resolve(bearer("inline-tok")).identity.sender == "inline");
    CHECK(c.instance.resolve(bearer("file-tok")).status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);

    // The file is not even read when inline JSON is given.
    Created d = create({{"MACP_AUTH_TOKENS_FILE", "/nonexistent/tokens.json"},
                        {"MACP_AUTH_TOKENS_JSON", R"([{"token": "x", "sender": "y"}])"}});
    CHECK(d.status == MACP_STATUS_OK);
}

// ---- identity fields -----------------------------------------------------------------------------

TEST_CASE("identity defaults", "[auth-static]") {
    Instance inst = create_ok(R"([{"token": "t", "sender": "s"}])");
    Resolved r = inst.resolve(bearer("t"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.message.empty());
    CHECK(r.identity.sender == "s");
    CHECK(r.identity.flags == MACP_IDENTITY_CAN_START_SESSIONS);  // start yes, registry no, observer no
    CHECK_FALSE(r.identity.restricted);                           // every mode
    CHECK(r.identity.max_open_sessions == -1);                    // unlimited
}

TEST_CASE("every identity field", "[auth-static]") {
    Instance inst = create_ok(R"([{
        "token": "t", "sender": "s",
        "allowed_modes": ["macp.mode.decision.v1", "macp.mode.task.v1"],
        "can_start_sessions": false,
        "max_open_sessions": 3,
        "can_manage_mode_registry": true,
        "is_observer": true,
        "unknown_field": {"nested": [1, 2, 3]}
    }])");
    Resolved r = inst.resolve(bearer("t"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "s");
    CHECK(r.identity.flags == (MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY | MACP_IDENTITY_IS_OBSERVER));
    CHECK(r.identity.restricted);
    CHECK_FALSE(r.identity.mode_without_restrict);
    CHECK(r.identity.modes == std::vector<std::string>{"macp.mode.decision.v1", "macp.mode.task.v1"});
    CHECK(r.identity.max_open_sessions == 3);
}

TEST_CASE("flags one at a time", "[auth-static]") {
    Instance inst = create_ok(R"([
        {"token": "start-no", "sender": "a", "can_start_sessions": false},
        {"token": "start-yes", "sender": "b", "can_start_sessions": true},
        {"token": "admin", "sender": "c", "can_manage_mode_registry": true},
        {"token": "observer", "sender": "d", "is_observer": true},
        {"token": "zero", "sender": "e", "max_open_sessions": 0},
        {"token": "null-max", "sender": "f", "max_open_sessions": null},
        {"token": "big", "sender": "g", "max_open_sessions": 9223372036854775807}
    ])");
    CHECK(inst.resolve(bearer("start-no")).identity.flags == 0);
    CHECK(inst.resolve(bearer("start-yes")).identity.flags == MACP_IDENTITY_CAN_START_SESSIONS);
    CHECK(inst.resolve(bearer("admin")).identity.flags ==
          (MACP_IDENTITY_CAN_START_SESSIONS | MACP_IDENTITY_CAN_MANAGE_MODE_REGISTRY));
    CHECK(inst.resolve(bearer("observer")).identity.flags ==
          (MACP_IDENTITY_CAN_START_SESSIONS | MACP_IDENTITY_IS_OBSERVER));
    CHECK(inst.resolve(bearer("zero")).identity.max_open_sessions == 0);
    CHECK(inst.resolve(bearer("null-max")).identity.max_open_sessions == -1);
    CHECK(inst.resolve(bearer("big")).identity.max_open_sessions == INT64_MAX);
}

TEST_CASE("allowed_modes [] means unrestricted (AUTH-STATIC-3)", "[auth-static]") {
    Instance inst = create_ok(R"([{"token": "t", "sender": "s", "allowed_modes": []}])");
    Resolved r = inst.resolve(bearer("t"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK_FALSE(r.identity.restricted);
}

TEST_CASE("duplicate tokens: the last entry wins", "[auth-static]") {
    Instance inst = create_ok(R"([
        {"token": "dup", "sender": "first"},
        {"token": "other", "sender": "o"},
        {"token": "dup", "sender": "last", "is_observer": true}
    ])");
    Resolved r = inst.resolve(bearer("dup"));
    REQUIRE(r.status == MACP_STATUS_OK);
    CHECK(r.identity.sender == "last");
    CHECK(r.identity.flags == (MACP_IDENTITY_CAN_START_SESSIONS | MACP_IDENTITY_IS_OBSERVER));
    CHECK(inst.resolve(bearer("other")).identity.sender == "o");

    auto [st, msg] = inst.health();
    CHECK(st == MACP_STATUS_OK);
    CHECK(msg == "static tokens: 2 identities");
}

// ---- headers -----------------------------------------------------------------------------------

TEST_CASE("header extraction and precedence (AUTH-HDR-1..4)", "[auth-static]") {
    Instance inst = create_ok(kTwo);

    SECTION("x-macp-token alone") {
        Resolved r = inst.resolve({{"x-macp-token", "tok-bob"}});
        REQUIRE(r.status == MACP_STATUS_OK);
        CHECK(r.identity.sender == "agent://bob");
    }
    SECTION("authorization Bearer wins over x-macp-token") {
        Resolved r = inst.resolve({{"x-macp-token", "tok-bob"}, {"authorization", "Bearer tok-alice"}});
        REQUIRE(r.status == MACP_STATUS_OK);
        CHECK(r.identity.sender == "agent://alice");
    }
    SECTION("a known Bearer wins even over an unknown x-macp-token, and the reverse") {
        CHECK(inst.resolve({{"authorization", "Bearer tok-alice"}, {"x-macp-token", "nope"}}).status == MACP_STATUS_OK);
        CHECK(inst.resolve({{"authorization", "Bearer nope"}, {"x-macp-token", "tok-alice"}}).status ==
              MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("lower-case 'bearer ' is not a bearer: falls to x-macp-token") {
        Resolved r = inst.resolve({{"authorization", "bearer tok-alice"}, {"x-macp-token", "tok-bob"}});
        REQUIRE(r.status == MACP_STATUS_OK);
        CHECK(r.identity.sender == "agent://bob");
        // ...and with no x-macp-token there is no credential at all.
        CHECK(inst.resolve({{"authorization", "bearer tok-alice"}}).status == MACP_STATUS_AUTH_NOT_MINE);
    }
    SECTION("other schemes and near misses are not bearers") {
        CHECK(inst.resolve({{"authorization", "Basic dG9rLWFsaWNl"}}).status == MACP_STATUS_AUTH_NOT_MINE);
        CHECK(inst.resolve({{"authorization", "Bearer"}}).status == MACP_STATUS_AUTH_NOT_MINE);
        CHECK(inst.resolve({{"authorization", "Bearertok-alice"}}).status == MACP_STATUS_AUTH_NOT_MINE);
        // Exactly one space: the second space belongs to the token.
        CHECK(inst.resolve({{"authorization", "Bearer  tok-alice"}}).status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("'Bearer ' with an empty token is a (wrong) credential, as in the reference") {
        CHECK(inst.resolve({{"authorization", "Bearer "}, {"x-macp-token", "tok-alice"}}).status ==
              MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    }
    SECTION("no credential headers: not mine") {
        CHECK(inst.resolve({}).status == MACP_STATUS_AUTH_NOT_MINE);
        CHECK(inst.resolve({{"user-agent", "grpc-python"}}).status == MACP_STATUS_AUTH_NOT_MINE);
    }
    SECTION("x-macp-agent-id is ignored") {
        CHECK(inst.resolve({{"x-macp-agent-id", "agent://alice"}}).status == MACP_STATUS_AUTH_NOT_MINE);
        Resolved r = inst.resolve({{"x-macp-agent-id", "agent://alice"}, {"x-macp-token", "tok-bob"}});
        REQUIRE(r.status == MACP_STATUS_OK);
        CHECK(r.identity.sender == "agent://bob");
    }
    SECTION("metadata values are not NUL-terminated") {
        const std::string key = "authorizationXYZ";
        const std::string value = "Bearer tok-alicetrailing";
        std::vector<macp_metadata_entry> md{{sizeof(macp_metadata_entry), key.data(), 13, value.data(), 16}};
        Resolved r = inst.resolve_entries(md);
        REQUIRE(r.status == MACP_STATUS_OK);
        CHECK(r.identity.sender == "agent://alice");
    }
}

// ---- outcomes ------------------------------------------------------------------------------------

TEST_CASE("tokens containing '.' are left to a JWT resolver (AUTH-STATIC-4)", "[auth-static]") {
    Instance inst = create_ok(R"([{"token": "tok-alice", "sender": "a"}, {"token": "a.b", "sender": "dotted"}])");
    CHECK(inst.resolve(bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig")).status == MACP_STATUS_AUTH_NOT_MINE);
    CHECK(inst.resolve({{"x-macp-token", "x.y"}}).status == MACP_STATUS_AUTH_NOT_MINE);
    // A configured token with a '.' can never authenticate (reference quirk Q-21).
    CHECK(inst.resolve(bearer("a.b")).status == MACP_STATUS_AUTH_NOT_MINE);
}

TEST_CASE("unknown tokens are rejected and stop the chain", "[auth-static]") {
    Instance inst = create_ok(kTwo);
    for (const char* t : {"nope", "tok-alic", "tok-alicee", "TOK-ALICE", "tok-bob ", "t", "tok-alice-and-more"}) {
        INFO(t);
        Resolved r = inst.resolve(bearer(t));
        CHECK(r.status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
        CHECK(r.message == "unknown static token");
        CHECK_FALSE(r.identity.sender.has_value());
    }
    Resolved r = inst.resolve({{"x-macp-token", "nope"}});
    CHECK(r.status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
}

TEST_CASE("tokens are compared as bytes, including embedded NUL", "[auth-static]") {
    Instance inst = create_ok(R"([{"token": "a\u0000b", "sender": "nul"}, {"token": "a", "sender": "plain"}])");
    CHECK(inst.resolve({{"x-macp-token", std::string("a\0b", 3)}}).identity.sender == "nul");
    CHECK(inst.resolve({{"x-macp-token", "a"}}).identity.sender == "plain");
    CHECK(inst.resolve({{"x-macp-token", std::string("a\0c", 3)}}).status == MACP_STATUS_AUTH_INVALID_CREDENTIAL);
}

TEST_CASE("create, resolve and health work without a call context", "[auth-static]") {
    Instance inst = create_ok(kTwo);
    const macp_auth_vtable* v = Plugin::get().vtable();
    const Pairs ok_md = bearer("tok-alice");
    const Pairs bad_md = bearer("nope");
    const auto ok = to_entries(ok_md);  // entries borrow from the Pairs above
    const auto bad = to_entries(bad_md);
    const std::vector<const macp_metadata_entry*> ok_ptrs{&ok[0]};
    const std::vector<const macp_metadata_entry*> bad_ptrs{&bad[0]};
    IdentitySink sink;
    CHECK(v->resolve(inst.raw(), ok_ptrs.data(), ok_ptrs.size(), sink.get(), nullptr) == MACP_STATUS_OK);
    CHECK(sink.recorded().sender == "agent://alice");
    IdentitySink ignored;
    CHECK(v->resolve(inst.raw(), bad_ptrs.data(), bad_ptrs.size(), ignored.get(), nullptr) ==
          MACP_STATUS_AUTH_INVALID_CREDENTIAL);
    CHECK(v->health(inst.raw(), nullptr) == MACP_STATUS_OK);
    void* out = nullptr;
    CHECK(v->create(nullptr, 0, &out, nullptr) == MACP_STATUS_INVALID_ARGUMENT);
    CHECK(out == nullptr);
}

TEST_CASE("health reports the number of identities", "[auth-static]") {
    auto [st, msg] = create_ok(kTwo).health();
    CHECK(st == MACP_STATUS_OK);
    CHECK(msg == "static tokens: 2 identities");
    auto [st1, msg1] = create_ok(R"([{"token": "t", "sender": "s"}])").health();
    CHECK(st1 == MACP_STATUS_OK);
    CHECK(msg1 == "static tokens: 1 identity");
}

TEST_CASE("concurrent resolves on one instance (MACP_PLUGIN_FLAG_THREAD_SAFE)", "[auth-static]") {
    Instance inst = create_ok(kTwo);
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&inst, &wrong, t] {
            for (int i = 0; i < 2000; ++i) {
                const bool alice = ((i + t) % 2) == 0;
                Resolved r = inst.resolve(bearer(alice ? "tok-alice" : "tok-bob"));
                if (r.status != MACP_STATUS_OK || r.identity.sender != (alice ? "agent://alice" : "agent://bob")) {
                    ++wrong;
                }
                if (inst.resolve(bearer("bad")).status != MACP_STATUS_AUTH_INVALID_CREDENTIAL) ++wrong;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(wrong == 0);
}

// ---- configuration errors ------------------------------------------------------------------------

TEST_CASE("no configuration at all", "[auth-static]") {
    CHECK(create_error({}) == "auth-static: set MACP_AUTH_TOKENS_JSON or MACP_AUTH_TOKENS_FILE");
    // Unrelated keys do not count.
    CHECK_THAT(create_error({{"MACP_DATA_DIR", "/tmp"}}),
               Contains("set MACP_AUTH_TOKENS_JSON or MACP_AUTH_TOKENS_FILE"));
}

TEST_CASE("unreadable token file", "[auth-static]") {
    const std::string missing = "/nonexistent-dir/tokens.json";
    std::string msg = create_error({{"MACP_AUTH_TOKENS_FILE", missing}}, MACP_STATUS_IO_ERROR);
    CHECK_THAT(msg, Contains("cannot open MACP_AUTH_TOKENS_FILE '" + missing + "'"));
    CHECK_THAT(msg, Contains("No such file or directory"));

    const std::string dir = std::filesystem::temp_directory_path().string();
    msg = create_error({{"MACP_AUTH_TOKENS_FILE", dir}}, MACP_STATUS_IO_ERROR);
    CHECK_THAT(msg, Contains("cannot read MACP_AUTH_TOKENS_FILE '" + dir + "'"));
    CHECK_THAT(msg, Contains("Is a directory"));
}

TEST_CASE("invalid JSON names the source, the offset and the reason", "[auth-static]") {
    std::string msg = json_error(R"([{"token": "t", "sender": "s"},])");
    CHECK_THAT(msg, Contains("auth-static: invalid JSON in MACP_AUTH_TOKENS_JSON at offset 31: Invalid value."));

    CHECK_THAT(json_error(""), Contains("at offset 0: The document is empty."));
    CHECK_THAT(json_error("[] []"), Contains("The document root must not be followed by other values."));
    CHECK_THAT(json_error("[{'token': 't'}]"), Contains("MACP_AUTH_TOKENS_JSON at offset 2"));

    TempFile file("{\"tokens\": [ }");
    msg = create_error({{"MACP_AUTH_TOKENS_FILE", file.path()}});
    CHECK_THAT(msg, Contains("invalid JSON in MACP_AUTH_TOKENS_FILE '" + file.path() + "' at offset 13"));

    TempFile nul(std::string("[]\0{\"garbage\"", 13));
    msg = create_error({{"MACP_AUTH_TOKENS_FILE", nul.path()}});
    CHECK_THAT(msg, Contains("at offset 2: NUL byte"));

    TempFile bad_utf8("[{\"token\": \"t\xff\", \"sender\": \"s\"}]");
    msg = create_error({{"MACP_AUTH_TOKENS_FILE", bad_utf8.path()}});
    CHECK_THAT(msg, Contains("Invalid encoding in string."));
}

TEST_CASE("deeply nested JSON is refused without recursion", "[auth-static]") {
    std::string msg = json_error(std::string(100000, '['));
    CHECK_THAT(msg, Contains("MACP_AUTH_TOKENS_JSON at offset 64: nesting deeper than 64 levels"));

    std::string objects;
    for (int i = 0; i < 1000; ++i) objects += R"({"a":)";
    msg = json_error(objects);
    CHECK_THAT(msg, Contains("nesting deeper than 64 levels"));

    TempFile deep(std::string(1000000, '['));
    msg = create_error({{"MACP_AUTH_TOKENS_FILE", deep.path()}});
    CHECK_THAT(msg, Contains("nesting deeper than 64 levels"));

    // Exactly 64 levels parse; the result just has the wrong shape.
    msg = json_error(std::string(64, '[') + std::string(64, ']'));
    CHECK_THAT(msg, Contains("MACP_AUTH_TOKENS_JSON: entry 0: must be an object"));
    msg = json_error(std::string(65, '[') + std::string(65, ']'));
    CHECK_THAT(msg, Contains("nesting deeper than 64 levels"));
}

TEST_CASE("oversized input is refused before parsing", "[auth-static]") {
    const std::size_t limit = std::size_t{16} * 1024 * 1024;
    std::string big = "[" + std::string(limit, ' ') + "]";
    CHECK_THAT(json_error(big), Contains("MACP_AUTH_TOKENS_JSON is larger than the limit of 16777216 bytes"));

    TempFile file(big);
    CHECK_THAT(create_error({{"MACP_AUTH_TOKENS_FILE", file.path()}}),
               Contains("MACP_AUTH_TOKENS_FILE '" + file.path() + "' is larger than the limit of 16777216 bytes"));

    // Exactly at the limit is fine.
    std::string at_limit = R"([{"token": "t", "sender": "s"}])";
    at_limit += std::string(limit - at_limit.size(), ' ');
    Instance inst = create_ok(at_limit);
    CHECK(inst.resolve(bearer("t")).status == MACP_STATUS_OK);
}

TEST_CASE("wrong top-level shapes", "[auth-static]") {
    const std::string shape = "expected a JSON array of identities or an object {\"tokens\": [...]}";
    CHECK_THAT(json_error("42"), Contains(shape));
    CHECK_THAT(json_error("\"tok\""), Contains(shape));
    CHECK_THAT(json_error("null"), Contains(shape));
    CHECK_THAT(json_error("{}"), Contains("the object form needs a \"tokens\" array"));
    CHECK_THAT(json_error(R"({"tokens": {"token": "t"}})"), Contains("the object form needs a \"tokens\" array"));
    CHECK_THAT(json_error(R"({"tokens": [], "tokens": []})"), Contains("duplicate field \"tokens\""));
}

TEST_CASE("an empty token list is an error for this plugin", "[auth-static]") {
    CHECK_THAT(json_error("[]"), Contains("auth-static: the token list is empty"));
    CHECK_THAT(json_error(R"({"tokens": []})"), Contains("auth-static: the token list is empty"));
}

TEST_CASE("wrong field types name the entry index and the field", "[auth-static]") {
    struct Case {
        const char* entry;
        const char* expected;
    };
    const Case cases[] = {
        {R"("just a string")", "entry 1: must be an object"},
        {R"({"sender": "s"})", "entry 1: missing required field \"token\""},
        {R"({"token": "t"})", "entry 1: missing required field \"sender\""},
        {R"({"token": "", "sender": "s"})", "entry 1: \"token\" must be a non-empty string"},
        {R"({"token": 7, "sender": "s"})", "entry 1: \"token\" must be a non-empty string"},
        {R"({"token": "t", "sender": ""})", "entry 1: \"sender\" must be a non-empty string"},
        {R"({"token": "t", "sender": null})", "entry 1: \"sender\" must be a non-empty string"},
        {R"({"token": "t", "sender": "s", "allowed_modes": "macp.mode.decision.v1"})",
         "entry 1: \"allowed_modes\" must be an array of strings"},
        {R"({"token": "t", "sender": "s", "allowed_modes": ["a", 2]})",
         "entry 1: \"allowed_modes\"[1] must be a string"},
        {R"({"token": "t", "sender": "s", "can_start_sessions": "yes"})",
         "entry 1: \"can_start_sessions\" must be true or false"},
        {R"({"token": "t", "sender": "s", "can_start_sessions": null})",
         "entry 1: \"can_start_sessions\" must be true or false"},
        {R"({"token": "t", "sender": "s", "can_manage_mode_registry": 1})",
         "entry 1: \"can_manage_mode_registry\" must be true or false"},
        {R"({"token": "t", "sender": "s", "is_observer": "false"})", "entry 1: \"is_observer\" must be true or false"},
        {R"({"token": "t", "sender": "s", "max_open_sessions": -1})",
         "entry 1: \"max_open_sessions\" must be a non-negative integer"},
        {R"({"token": "t", "sender": "s", "max_open_sessions": 2.5})",
         "entry 1: \"max_open_sessions\" must be a non-negative integer"},
        {R"({"token": "t", "sender": "s", "max_open_sessions": "3"})",
         "entry 1: \"max_open_sessions\" must be a non-negative integer"},
        {R"({"token": "t", "sender": "s", "max_open_sessions": 18446744073709551615})",
         "entry 1: \"max_open_sessions\" must be a non-negative integer"},
        {R"({"token": "t", "token": "u", "sender": "s"})", "entry 1: duplicate field \"token\""},
    };
    for (const Case& c : cases) {
        INFO(c.entry);
        const std::string json = std::string(R"([{"token": "ok", "sender": "ok"}, )") + c.entry + "]";
        const std::string msg = json_error(json);
        CHECK_THAT(msg, Contains(std::string("auth-static: MACP_AUTH_TOKENS_JSON: ") + c.expected));
    }
    // Same checks in the object shape, from a file.
    TempFile file(R"({"tokens": [{"token": "t", "sender": "s", "is_observer": 1}]})");
    CHECK_THAT(create_error({{"MACP_AUTH_TOKENS_FILE", file.path()}}),
               Contains("MACP_AUTH_TOKENS_FILE '" + file.path() + "': entry 0: \"is_observer\" must be true or false"));
}
