// health, info, modes: what the server is and whether it serves.
#include <algorithm>
#include <iostream>
#include <thread>

#include "cli.hpp"
#include "connection.hpp"
#include "output.hpp"
#include "payloads.hpp"

namespace macpctl {

namespace {

using namespace std::chrono_literals;
using grpc::health::v1::HealthCheckResponse;

constexpr std::chrono::milliseconds kUnaryDefault = 10s;

std::string serving_name(HealthCheckResponse::ServingStatus s) {
    return HealthCheckResponse::ServingStatus_Name(s);
}

int print_health(const Invocation& inv, const Connection& conn, const std::string& service,
                 HealthCheckResponse::ServingStatus status) {
    if (inv.global.output == OutputFormat::Json) {
        std::cout << JsonObject()
                         .str("server", conn.target())
                         .str("service", service)
                         .str("status", serving_name(status))
                         .dump(true)
                  << '\n';
    } else {
        Fields()
            .add("server", conn.target())
            .add("service", service.empty() ? "(the whole server)" : service)
            .add("status", serving_name(status))
            .print(std::cout);
    }
    return status == HealthCheckResponse::SERVING ? kOk : kNotServing;
}

int run_health(Invocation& inv) {
    inv.expect_operands(0, "");
    Connection conn(inv.global);
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(inv.str("service"));
    if (!inv.has("wait")) {
        grpc::health::v1::HealthCheckResponse resp;
        auto ctx = conn.context(inv.deadline(kUnaryDefault));
        auto st = conn.health().Check(ctx.get(), req, &resp);
        if (!st.ok()) return report_status(inv, conn, st);
        return print_health(inv, conn, req.service(), resp.status());
    }
    // --wait: ask until SERVING (the server may not be listening yet), within --timeout.
    const auto budget = inv.deadline(30s).value();
    const auto end = std::chrono::steady_clock::now() + budget;
    grpc::Status last_error(grpc::StatusCode::DEADLINE_EXCEEDED, "no answer yet");
    std::optional<HealthCheckResponse::ServingStatus> last_status;
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        grpc::health::v1::HealthCheckResponse resp;
        auto ctx = conn.context(std::min<std::chrono::milliseconds>(left, 2s));
        ctx->set_wait_for_ready(true);  // wait for the port to open instead of failing at once
        auto st = conn.health().Check(ctx.get(), req, &resp);
        if (st.ok()) {
            last_status = resp.status();
            if (resp.status() == HealthCheckResponse::SERVING)
                return print_health(inv, conn, req.service(), resp.status());
        } else if (st.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
            last_error = st;
            if (st.error_code() != grpc::StatusCode::UNAVAILABLE) return report_status(inv, conn, st);
        }
        std::this_thread::sleep_for(200ms);
    }
    if (last_status) {
        print_health(inv, conn, req.service(), *last_status);
        return report(inv, kTimeout, "not SERVING within " + std::to_string(budget.count()) + " ms");
    }
    return report(inv, kTimeout,
                  "no answer from " + conn.target() + " within " + std::to_string(budget.count()) + " ms (last: " +
                      status_code_name(last_error.error_code()) + ": " + last_error.error_message() + ")");
}

// "stream list_sessions watch_sessions": the true flags of one capability message.
std::string true_flags(const google::protobuf::Message& m) {
    std::vector<std::string> out;
    const auto* d = m.GetDescriptor();
    const auto* r = m.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const auto* f = d->field(i);
        if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL && r->GetBool(m, f))
            out.push_back(f->name());
    }
    return out.empty() ? "-" : join(out, " ");
}

int run_info(Invocation& inv) {
    inv.expect_operands(0, "");
    Connection conn(inv.global);
    macp::v1::InitializeRequest req;
    req.add_supported_protocol_versions("1.0");
    req.mutable_client_info()->set_name("macpctl");
    req.mutable_client_info()->set_title("macpctl");
    req.mutable_client_info()->set_version(MACPCTL_VERSION);
    macp::v1::InitializeResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().Initialize(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    if (inv.global.output == OutputFormat::Json) {
        print_json(resp);
        return kOk;
    }
    const auto& info = resp.runtime_info();
    Fields f;
    f.add("server", conn.target())
        .add("runtime", info.name() + " " + info.version())
        .add("title", info.title())
        .add("description", info.description())
        .add("protocol", resp.selected_protocol_version())
        .add("modes", join(strings(resp.supported_modes()), " "));
    const auto& caps = resp.capabilities();
    const auto* d = caps.GetDescriptor();
    const auto* r = caps.GetReflection();
    for (int i = 0; i < d->field_count(); ++i) {
        const auto* field = d->field(i);
        if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE ||
            field->name() == "experimental") {
            continue;
        }
        f.add("capability." + field->name(), true_flags(r->GetMessage(caps, field)));
    }
    std::vector<std::string> features;
    for (const auto& [k, v] : caps.experimental().features()) features.push_back(k + "=" + v);
    std::sort(features.begin(), features.end());
    f.add("experimental", join(features, " "));
    f.add("instructions", resp.instructions());
    f.print(std::cout);
    return kOk;
}

struct ModeLists {
    macp::v1::ListModesResponse standard;
    macp::v1::ListExtModesResponse extension;
};

grpc::Status list_modes(const Invocation& inv, Connection& conn, ModeLists& out) {
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().ListModes(ctx.get(), {}, &out.standard);
    if (!st.ok()) return st;
    auto ctx2 = conn.context(inv.deadline(kUnaryDefault));
    return conn.runtime().ListExtModes(ctx2.get(), {}, &out.extension);
}

int show_mode(const Invocation& inv, const macp::v1::ModeDescriptor& m, const std::string& kind) {
    if (inv.global.output == OutputFormat::Json) {
        JsonObject payloads;
        for (const auto& t : m.message_types()) {
            if (const auto* p = payload_prototype(m.mode(), t)) payloads.str(t, p->GetDescriptor()->full_name());
        }
        std::cout
            << JsonObject(to_json(m, false)).str("kind", kind).raw("payload_types", payloads.dump(false)).dump(true)
            << '\n';
        return kOk;
    }
    Fields f;
    f.add("mode", m.mode())
        .add("version", m.mode_version())
        .add("kind", kind)
        .add("title", m.title())
        .add("description", m.description())
        .add("determinism", m.determinism_class())
        .add("participants", m.participant_model())
        .add("terminal_types", join(strings(m.terminal_message_types()), " "));
    for (const auto& t : m.message_types()) {
        const auto* p = payload_prototype(m.mode(), t);
        f.add("message_type",
              t + (p != nullptr ? "  (payload " + p->GetDescriptor()->full_name() + ")" : "  (opaque payload)"));
    }
    for (const auto& [k, v] : m.schema_uris()) f.add("schema." + k, v);
    f.print(std::cout);
    return kOk;
}

int run_modes(Invocation& inv) {
    if (inv.operands.size() > 1) throw UsageError("unexpected operand '" + inv.operands[1] + "'");
    Connection conn(inv.global);
    ModeLists lists;
    auto st = list_modes(inv, conn, lists);
    if (!st.ok()) return report_status(inv, conn, st);
    if (!inv.operands.empty()) {
        const auto& want = inv.operands.front();
        for (const auto& m : lists.standard.modes()) {
            if (m.mode() == want) return show_mode(inv, m, "standard");
        }
        for (const auto& m : lists.extension.modes()) {
            if (m.mode() == want) return show_mode(inv, m, "extension");
        }
        return report(inv, kNotFound, "mode '" + want + "' is not registered");
    }
    if (inv.global.output == OutputFormat::Json) {
        std::vector<std::string> standard, extension;
        for (const auto& m : lists.standard.modes()) standard.push_back(to_json(m, false));
        for (const auto& m : lists.extension.modes()) extension.push_back(to_json(m, false));
        std::cout << JsonObject().raw_array("modes", standard).raw_array("extension_modes", extension).dump(true)
                  << '\n';
        return kOk;
    }
    Table t({"MODE", "VERSION", "KIND", "PARTICIPANTS", "DETERMINISM", "TITLE"});
    for (const auto& m : lists.standard.modes()) {
        t.add({m.mode(), m.mode_version(), "standard", m.participant_model(), m.determinism_class(), m.title()});
    }
    for (const auto& m : lists.extension.modes()) {
        t.add({m.mode(), m.mode_version(), "extension", m.participant_model(), m.determinism_class(), m.title()});
    }
    t.print(std::cout);
    return kOk;
}

}  // namespace

void add_server_commands(std::vector<CommandSpec>& out) {
    CommandSpec health;
    health.name = "health";
    health.usage = "[--service NAME] [--wait]";
    health.summary = "Is the server SERVING? (gRPC health check)";
    health.description =
        "Calls grpc.health.v1.Health/Check, which needs no credentials. The server reports\n"
        "NOT_SERVING while it drains on shutdown and while its storage cannot write;\n"
        "the exit status is 0 for SERVING and 7 for NOT_SERVING, so the command fits a\n"
        "container HEALTHCHECK or a systemd ExecStartPost. An unknown --service is exit 3.\n"
        "\n"
        "With --wait it asks again (every 200 ms, waiting for the port to open) until the\n"
        "answer is SERVING or --timeout (default 30s here) runs out: exit 6.";
    health.examples =
        "  macpctl health\n"
        "  macpctl health --service macp.v1.MACPRuntimeService -o json\n"
        "  macpctl health --wait --timeout 1m && echo up\n";
    health.options = [](po::options_description& o) {
        value_option(o, "service", "NAME",
                     "Health of this service (macp.v1.MACPRuntimeService) instead of the whole server.");
        flag_option(o, "wait", "Retry until SERVING or --timeout (default 30s).");
    };
    health.run = run_health;
    out.push_back(std::move(health));

    CommandSpec info;
    info.name = "info";
    info.summary = "Runtime name, version, protocol, modes, capabilities";
    info.description =
        "Calls Initialize (protocol version 1.0, client name macpctl): the runtime's name and\n"
        "version, the negotiated protocol version, the modes it serves, its capabilities\n"
        "(sessions, cancellation, progress, manifest, mode and policy registries, roots,\n"
        "experimental features) and its instructions for clients. Needs no credentials.";
    info.examples =
        "  macpctl info\n"
        "  macpctl info -o json | jq -r .runtime_info.version\n";
    info.run = run_info;
    out.push_back(std::move(info));

    CommandSpec modes;
    modes.name = "modes";
    modes.usage = "[MODE]";
    modes.summary = "List the modes, or show one with its payload types";
    modes.description =
        "Calls ListModes (standards-track modes) and ListExtModes (extension modes). Without\n"
        "MODE: one row per mode. With MODE: its descriptor, and for each message type the\n"
        "protobuf payload message that send --payload-json builds (an extension mode's\n"
        "payloads are opaque bytes). An unknown MODE is exit 3.\n"
        "\n"
        "JSON: {\"modes\": [ModeDescriptor...], \"extension_modes\": [...]}; with MODE the\n"
        "descriptor plus \"kind\" and \"payload_types\" (message type -> message name).";
    modes.examples =
        "  macpctl modes\n"
        "  macpctl modes macp.mode.decision.v1\n";
    modes.run = run_modes;
    out.push_back(std::move(modes));
}

}  // namespace macpctl
