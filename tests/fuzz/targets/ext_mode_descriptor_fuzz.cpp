// Fuzz target (issue #15): extension-mode descriptors, as RegisterExtMode hands them to the mode
// registry (RPC-REGX-1, DISC-8) and as the registry stores and reloads them.
// Input: a serialized macp.v1.RegisterExtModeRequest; the same bytes are also offered to the
// stored-record decoder.
// Properties: nothing crashes; a registered descriptor is listed with the fields it was given
// (RPC-LEM-1), reloads from storage into a fresh registry unchanged (what is accepted reads back),
// and its session definition record rebuilds the same mode; a decoded stored record survives
// encode/decode; a registered mode can be unregistered again (RPC-UNREGX-1).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include "macp/v1/core.pb.h"
#include "modes/registry.hpp"
#include "plugin_host/plugin_host.hpp"
#include "service/convert.hpp"

namespace {

namespace md = macp::modes;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "ext_mode_descriptor_fuzz: %s\n", what.c_str());
    std::abort();
}

bool same(const md::ModeDescriptor& a, const md::ModeDescriptor& b) {
    return a.mode == b.mode && a.mode_version == b.mode_version && a.title == b.title &&
           a.description == b.description && a.determinism_class == b.determinism_class &&
           a.participant_model == b.participant_model && a.message_types == b.message_types &&
           a.terminal_message_types == b.terminal_message_types && a.schema_uris == b.schema_uris;
}

const md::ModeDescriptor* listed(const std::vector<md::ModeDescriptor>& all, const std::string& name) {
    for (const auto& d : all) {
        if (d.mode == name) return &d;
    }
    return nullptr;
}

void check_stored_record(const std::string& bytes) {
    const auto decoded = md::decode_descriptor(bytes);
    if (!decoded) return;
    const auto again = md::decode_descriptor(md::encode_descriptor(decoded->first, decoded->second));
    if (!again || !same(decoded->first, again->first) || decoded->second != again->second) {
        finding("a decoded descriptor record does not survive encode/decode");
    }
}

struct Host {
    Host() : host({}) {
        spdlog::set_level(spdlog::level::off);
        google::protobuf::SetLogHandler(nullptr);
    }
    macp::plugin_host::PluginHost host;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Host host;
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    check_stored_record(bytes);

    macp::v1::RegisterExtModeRequest req;
    if (!req.ParseFromString(bytes) || !req.has_mode_descriptor()) return 0;
    const md::ModeDescriptor d = macp::service::from_proto(req.mode_descriptor());

    auto storage = host.host.open_memory_storage();
    if (!storage.ok()) finding("cannot open the memory backend: " + storage.error());
    md::ModeRegistry registry(storage.value().get());
    if (auto r = registry.load(); !r.ok()) finding("load of an empty store failed: " + r.error());
    if (!registry.register_extension(d).ok()) return 0;

    const auto extensions = registry.extensions();
    const md::ModeDescriptor* mine = listed(extensions, d.mode);
    if (mine == nullptr) finding("registered mode " + d.mode + " is not listed");
    const auto mode = registry.find(d.mode);
    if (!mode) finding("registered mode " + d.mode + " is not found");
    std::string error;
    const auto rebuilt = registry.from_definition_record(md::ModeRegistry::definition_record(*mode), error);
    if (!rebuilt) finding("the definition record of " + d.mode + " does not rebuild: " + error);

    md::ModeRegistry reloaded(storage.value().get());
    if (auto r = reloaded.load(); !r.ok()) finding("reloading a registered descriptor failed: " + r.error());
    const auto again = reloaded.extensions();
    const md::ModeDescriptor* back = listed(again, d.mode);
    if (back == nullptr || !same(*mine, *back)) finding("registered mode " + d.mode + " does not reload unchanged");

    if (!registry.unregister_extension(d.mode).ok()) finding("registered mode " + d.mode + " cannot be unregistered");
    return 0;
}
