// policies list|get|register|unregister: the governance policy registry.
#include <iostream>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cli.hpp"
#include "connection.hpp"
#include "output.hpp"

namespace macpctl {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kUnaryDefault = 10s;

std::string compact(const rapidjson::Value& v) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);
    return {buf.GetString(), buf.GetSize()};
}

int run_list(Invocation& inv) {
    inv.expect_operands(0, "");
    Connection conn(inv.global);
    macp::v1::ListPoliciesRequest req;
    req.set_mode(inv.str("mode"));
    macp::v1::ListPoliciesResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().ListPolicies(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    if (inv.global.output == OutputFormat::Json) {
        print_json(resp);
        return kOk;
    }
    Table t({"POLICY_ID", "MODE", "SCHEMA", "REGISTERED", "DESCRIPTION"});
    for (const auto& p : resp.descriptors()) {
        t.add({p.policy_id(), p.mode(), std::to_string(p.schema_version()), format_time(p.registered_at_unix_ms()),
               p.description()});
    }
    t.print(std::cout);
    return kOk;
}

int run_get(Invocation& inv) {
    inv.expect_operands(1, "POLICY_ID");
    Connection conn(inv.global);
    macp::v1::GetPolicyRequest req;
    req.set_policy_id(inv.operands[0]);
    macp::v1::GetPolicyResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().GetPolicy(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    const auto& p = resp.policy_descriptor();
    if (inv.global.output == OutputFormat::Json) {
        print_json(p);
        return kOk;
    }
    Fields()
        .add("policy_id", p.policy_id())
        .add("mode", p.mode())
        .add("description", p.description())
        .add("schema_version", std::to_string(p.schema_version()))
        .add("registered_at", format_time(p.registered_at_unix_ms()))
        .add("rules", p.rules())
        .print(std::cout);
    return kOk;
}

// A policy file as MACP_POLICIES_DIR reads it: {"policy_id", "mode", "description", "rules" (an
// object, or a string holding one), "schema_version"}; every member optional here (the flags and
// the server fill or judge the rest).
void read_policy_file(const std::string& path, macp::v1::PolicyDescriptor& d) {
    const auto text = read_file(path, "--file");
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError() || !doc.IsObject()) throw UsageError("--file " + path + ": not a JSON object");
    auto string_member = [&](const char* name, auto set) {
        if (!doc.HasMember(name)) return;
        if (!doc[name].IsString()) throw UsageError("--file " + path + ": '" + name + "' must be a string");
        set(std::string(doc[name].GetString(), doc[name].GetStringLength()));
    };
    string_member("policy_id", [&](std::string v) { d.set_policy_id(std::move(v)); });
    string_member("mode", [&](std::string v) { d.set_mode(std::move(v)); });
    string_member("description", [&](std::string v) { d.set_description(std::move(v)); });
    if (doc.HasMember("rules")) {
        const auto& r = doc["rules"];
        d.set_rules(r.IsString() ? std::string(r.GetString(), r.GetStringLength()) : compact(r));
    }
    if (doc.HasMember("schema_version")) {
        const auto& v = doc["schema_version"];
        if (!v.IsUint()) throw UsageError("--file " + path + ": 'schema_version' must be an unsigned 32-bit integer");
        d.set_schema_version(v.GetUint());
    }
}

int run_register(Invocation& inv) {
    if (inv.operands.size() > 1) throw UsageError("unexpected operand '" + inv.operands[1] + "'");
    macp::v1::PolicyDescriptor d;
    d.set_schema_version(1);
    if (inv.has("file")) read_policy_file(inv.str("file"), d);
    if (!inv.operands.empty()) d.set_policy_id(inv.operands[0]);
    if (inv.has("mode")) d.set_mode(inv.str("mode"));
    if (inv.has("description")) d.set_description(inv.str("description"));
    if (inv.has("rules")) d.set_rules(text_or_file(inv.str("rules"), "--rules"));
    if (inv.has("schema-version")) {
        const auto v = parse_count(inv.str("schema-version"), "--schema-version");
        if (v > 0xffffffffULL) throw UsageError("--schema-version is too large");
        d.set_schema_version(static_cast<uint32_t>(v));
    }
    if (d.policy_id().empty()) throw UsageError("missing POLICY_ID (or a policy_id in --file)");
    if (!inv.has("file") && !inv.has("mode")) throw UsageError("--mode is required (a mode name, or '*' for any)");

    Connection conn(inv.global);
    macp::v1::RegisterPolicyRequest req;
    *req.mutable_policy_descriptor() = d;
    macp::v1::RegisterPolicyResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().RegisterPolicy(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    if (inv.global.output == OutputFormat::Json) {
        print_json(resp);
    } else if (resp.ok()) {
        std::cout << "registered " << d.policy_id() << '\n';
    }
    if (resp.ok()) return kOk;
    return report(inv, kRejected, "rejected: " + resp.error());
}

int run_unregister(Invocation& inv) {
    inv.expect_operands(1, "POLICY_ID");
    Connection conn(inv.global);
    macp::v1::UnregisterPolicyRequest req;
    req.set_policy_id(inv.operands[0]);
    macp::v1::UnregisterPolicyResponse resp;
    auto ctx = conn.context(inv.deadline(kUnaryDefault));
    auto st = conn.runtime().UnregisterPolicy(ctx.get(), req, &resp);
    if (!st.ok()) return report_status(inv, conn, st);
    if (inv.global.output == OutputFormat::Json) {
        print_json(resp);
    } else if (resp.ok()) {
        std::cout << "unregistered " << req.policy_id() << '\n';
    }
    if (resp.ok()) return kOk;
    // "policy '<id>' not found" (docs/policies.md) is a missing policy, not a refusal.
    const auto& e = resp.error();
    const std::string suffix = "not found";
    const bool missing = e.size() >= suffix.size() && e.compare(e.size() - suffix.size(), suffix.size(), suffix) == 0;
    return report(inv, missing ? kNotFound : kRejected, missing ? e : "rejected: " + e);
}

}  // namespace

void add_policy_commands(std::vector<CommandSpec>& out) {
    CommandSpec list;
    list.name = "policies list";
    list.usage = "[--mode MODE]";
    list.summary = "List the governance policies";
    list.description =
        "Calls ListPolicies: every policy sorted by id, or with --mode those whose mode is\n"
        "MODE or '*' (so policy.default is always there).\n"
        "\n"
        "JSON: a ListPoliciesResponse.";
    list.examples =
        "  macpctl policies list\n"
        "  macpctl policies list --mode macp.mode.decision.v1 -o json\n";
    list.options = [](po::options_description& o) {
        value_option(o, "mode", "MODE", "Only policies for MODE (and those for any mode, '*').");
    };
    list.run = run_list;
    out.push_back(std::move(list));

    CommandSpec get;
    get.name = "policies get";
    get.usage = "POLICY_ID";
    get.summary = "Show one policy with its rules";
    get.description =
        "Calls GetPolicy. An unknown id is exit 3. The rules are the stored compact JSON (keys\n"
        "sorted), so they may differ in form from what was registered.\n"
        "\n"
        "JSON: the PolicyDescriptor; its rules member is a string holding JSON\n"
        "(jq '.rules | fromjson').";
    get.examples = "  macpctl policies get policy.default\n";
    get.run = run_get;
    out.push_back(std::move(get));

    CommandSpec reg;
    reg.name = "policies register";
    reg.usage = "POLICY_ID --mode MODE [--rules JSON|@FILE] [--description TEXT] [--schema-version N] | --file FILE";
    reg.summary = "Register a governance policy";
    reg.description =
        "Calls RegisterPolicy. The descriptor comes from --file (the format MACP_POLICIES_DIR\n"
        "reads: policy_id, mode, description, rules as an object or a string, schema_version)\n"
        "and/or the options, which win over the file. rules defaults to {} and schema_version\n"
        "to 1. Policies are immutable: a new version is a new id. The caller needs the right\n"
        "to manage the registries (every dev-mode caller has it), else exit 5. A definition\n"
        "the server refuses (INVALID_POLICY_DEFINITION: ..., an id already registered) prints\n"
        "its error and exits 2; a server whose policies come from MACP_POLICIES_DIR is\n"
        "read-only (FAILED_PRECONDITION, exit 2). docs/policies.md describes the rules of\n"
        "each mode.";
    reg.examples =
        "  macpctl policies register policy.majority -m macp.mode.decision.v1 \\\n"
        "      --rules '{\"voting\":{\"algorithm\":\"majority\"}}' --description 'simple majority'\n"
        "  macpctl policies register --file policy.payments.json\n";
    reg.options = [](po::options_description& o) {
        value_option(o, "file,f", "FILE", "Policy definition as JSON (- = stdin).");
        value_option(o, "mode,m", "MODE", "Mode the policy governs, or '*'.");
        value_option(o, "rules", "JSON|@FILE", "Rules object (default {}).");
        value_option(o, "description", "TEXT", "Free text for people.");
        value_option(o, "schema-version", "N", "Rule schema version (default 1).");
    };
    reg.run = run_register;
    out.push_back(std::move(reg));

    CommandSpec unreg;
    unreg.name = "policies unregister";
    unreg.usage = "POLICY_ID";
    unreg.summary = "Remove a registered policy";
    unreg.description =
        "Calls UnregisterPolicy; running sessions that bound the policy keep their copy. An\n"
        "unknown id is exit 3; policy.default cannot be removed (exit 2); a read-only registry\n"
        "(MACP_POLICIES_DIR) is exit 2; no right to manage the registries is exit 5.";
    unreg.examples = "  macpctl policies unregister policy.majority\n";
    unreg.run = run_unregister;
    out.push_back(std::move(unreg));
}

}  // namespace macpctl
