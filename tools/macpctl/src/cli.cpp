#include "cli.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

namespace macpctl {

namespace {

constexpr const char* kDefaultAddr = "127.0.0.1:50051";

// Global options that take a value in the next token (the pre-scan skips that token when looking
// for the command words).
const std::set<std::string> kValueOptions{"-a",     "--addr",   "--token",       "--token-file", "--cacert",
                                          "--cert", "--key",    "--server-name", "-H",           "--header",
                                          "-o",     "--output", "--timeout"};

const std::set<std::string> kGroups{"sessions", "policies"};

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
}

po::options_description global_options() {
    po::options_description g("Global options (anywhere on the line; a flag beats its environment variable)");
    // clang-format off
    g.add_options()
        ("addr,a", po::value<std::string>()->value_name("TARGET"),
         "Server: HOST:PORT, https://HOST:PORT (TLS), http://HOST:PORT (plaintext) or a gRPC target "
         "(dns:///HOST:PORT, unix:/PATH). Env MACP_ADDR; default 127.0.0.1:50051.")
        ("token", po::value<std::string>()->value_name("TOKEN"),
         "Bearer token, sent as 'authorization: Bearer TOKEN'. Env MACP_TOKEN. On a dev-mode server "
         "(MACP_ALLOW_INSECURE=1, no auth plugin) the token is the sender's name.")
        ("token-file", po::value<std::string>()->value_name("FILE"),
         "Read the token from FILE (surrounding whitespace dropped): keeps it out of ps and shell "
         "history. Env MACP_TOKEN_FILE.")
        ("cacert", po::value<std::string>()->value_name("FILE"),
         "PEM CA bundle that verifies the server certificate (default: the system trust store). "
         "Env MACP_CA_FILE.")
        ("cert", po::value<std::string>()->value_name("FILE"),
         "PEM client certificate chain for mTLS; needs --key. Env MACP_CLIENT_CERT.")
        ("key", po::value<std::string>()->value_name("FILE"),
         "PEM private key of --cert (unencrypted). Env MACP_CLIENT_KEY.")
        ("server-name", po::value<std::string>()->value_name("NAME"),
         "Name the server certificate must carry, when it differs from the host in --addr (e.g. "
         "connecting by IP). Env MACP_SERVER_NAME.")
        ("plaintext", po::value<std::string>()->implicit_value("true")->value_name("BOOL"),
         "No TLS: for a server started with MACP_ALLOW_INSECURE=1. Env MACP_PLAINTEXT=1. Without it "
         "macpctl always speaks TLS.")
        ("header,H", po::value<std::vector<std::string>>()->composing()->value_name("'NAME: VALUE'"),
         "Extra request metadata; repeatable.")
        ("output,o", po::value<std::string>()->value_name("FORMAT"),
         "table (for people) or json (proto3 JSON with the .proto field names; streams print one "
         "object per line). Env MACP_OUTPUT; default table.")
        ("timeout", po::value<std::string>()->value_name("DURATION"),
         "Deadline: 500ms, 10s, 1.5m, 1h (a bare number is seconds). Single calls default to 10s; "
         "watch and subscribe run until interrupted unless it is given. Env MACP_TIMEOUT.")
        ("help,h", "Help for macpctl or for the command.")
        ("version", "Print macpctl's version and exit.");
    // clang-format on
    return g;
}

const std::string kEnvironmentText =
    "Environment (used when the flag is absent; empty counts as unset):\n"
    "  MACP_ADDR         --addr          MACP_CA_FILE      --cacert\n"
    "  MACP_TOKEN        --token         MACP_CLIENT_CERT  --cert\n"
    "  MACP_TOKEN_FILE   --token-file    MACP_CLIENT_KEY   --key\n"
    "  MACP_PLAINTEXT    --plaintext     MACP_SERVER_NAME  --server-name\n"
    "  MACP_OUTPUT       --output        MACP_TIMEOUT      --timeout\n";

const std::string kExamplesText =
    "Examples:\n"
    "  export MACP_ADDR=127.0.0.1:50051 MACP_PLAINTEXT=1 MACP_TOKEN=alice   # a dev-mode server\n"
    "  macpctl health\n"
    "  SID=$(macpctl start -m macp.mode.decision.v1 -p alice -p bob -o json | jq -r .session_id)\n"
    "  macpctl send -s \"$SID\" -t Proposal --payload-json '{\"proposal_id\":\"p1\",\"option\":\"ship\"}'\n"
    "  macpctl subscribe \"$SID\" --count 2 -o json\n"
    "  macpctl sessions list --state open\n"
    "  macpctl policies register policy.strict -m macp.mode.decision.v1 --rules @strict.json\n";

std::string command_list() {
    std::ostringstream out;
    out << "Commands:\n";
    for (const auto& c : commands()) {
        std::string name = c.name;
        out << "  " << name << std::string(name.size() < 20 ? 22 - name.size() : 2, ' ') << c.summary << '\n';
    }
    out << "  help [COMMAND]        This text, or the full help of COMMAND (as COMMAND --help)\n";
    return out.str();
}

void print_main_help(std::ostream& out) {
    out << "macpctl " MACPCTL_VERSION " - command-line client of the macp-runtime server (MACP over gRPC)\n\n"
        << "Usage: macpctl [global options] COMMAND [options] [operands]\n\n"
        << command_list() << '\n'
        << global_options() << '\n'
        << kEnvironmentText << '\n'
        << exit_status_text() << '\n'
        << kExamplesText << '\n'
        << "Full reference: man macpctl, and docs/macpctl.md.\n";
}

po::options_description command_options(const CommandSpec& spec) {
    po::options_description own("Options");
    if (spec.options) spec.options(own);
    return own;
}

void print_command_help(const CommandSpec& spec, std::ostream& out) {
    out << "macpctl " << spec.name << " - " << spec.summary << "\n\n"
        << "Usage: macpctl [global options] " << spec.name << (spec.usage.empty() ? "" : " " + spec.usage) << "\n\n"
        << spec.description << '\n';
    auto own = command_options(spec);
    if (!own.options().empty()) out << '\n' << own;
    out << '\n' << global_options() << '\n' << exit_status_text();
    if (!spec.examples.empty()) out << "\nExamples:\n" << spec.examples;
}

const CommandSpec* find_command(const std::string& name) {
    for (const auto& c : commands()) {
        if (c.name == name) return &c;
    }
    return nullptr;
}

std::string subcommands_of(const std::string& group) {
    std::vector<std::string> subs;
    for (const auto& c : commands()) {
        if (c.name.compare(0, group.size() + 1, group + " ") == 0) subs.push_back(c.name.substr(group.size() + 1));
    }
    std::string out;
    for (size_t i = 0; i < subs.size(); ++i) out += (i == 0 ? "" : "|") + subs[i];
    return out;
}

// `macpctl sessions --help`, `macpctl help sessions`: the subcommands of a group.
void print_group_help(const std::string& group, std::ostream& out) {
    out << "macpctl " << group << " " << subcommands_of(group) << "\n\n";
    for (const auto& c : commands()) {
        if (c.name.compare(0, group.size() + 1, group + " ") == 0) {
            out << "  " << c.name << std::string(c.name.size() < 20 ? 22 - c.name.size() : 2, ' ') << c.summary << '\n';
        }
    }
    out << "\nmacpctl " << group << " SUBCOMMAND --help shows the full help of one.\n";
}

std::string canonical_group(const std::string& word) {
    if (word == "session") return "sessions";
    if (word == "policy") return "policies";
    return word;
}

// Global options after flags > environment > defaults.
GlobalOptions resolve_globals(const po::variables_map& vm) {
    GlobalOptions g;
    auto pick = [&](const char* flag, const char* var) -> std::string {
        if (vm.count(flag) != 0) return vm[flag].as<std::string>();
        return env(var);
    };
    g.addr = pick("addr", "MACP_ADDR");
    if (g.addr.empty()) g.addr = kDefaultAddr;
    if (vm.count("token") != 0 && vm.count("token-file") != 0)
        throw UsageError("give --token or --token-file, not both");
    if (vm.count("token") != 0) {
        g.token = vm["token"].as<std::string>();
    } else if (vm.count("token-file") != 0) {
        g.token = read_file(vm["token-file"].as<std::string>(), "--token-file");
    } else if (!env("MACP_TOKEN").empty()) {
        g.token = env("MACP_TOKEN");
    } else if (!env("MACP_TOKEN_FILE").empty()) {
        g.token = read_file(env("MACP_TOKEN_FILE"), "MACP_TOKEN_FILE");
    }
    {  // tokens in files end with a newline
        const auto b = g.token.find_first_not_of(" \t\r\n");
        const auto e = g.token.find_last_not_of(" \t\r\n");
        g.token = b == std::string::npos ? std::string() : g.token.substr(b, e - b + 1);
        if (g.token.find_first_of("\r\n") != std::string::npos) throw UsageError("the token holds a line break");
    }
    g.cacert = pick("cacert", "MACP_CA_FILE");
    g.cert = pick("cert", "MACP_CLIENT_CERT");
    g.key = pick("key", "MACP_CLIENT_KEY");
    g.server_name = pick("server-name", "MACP_SERVER_NAME");
    if (vm.count("plaintext") != 0) {
        g.plaintext = parse_bool(vm["plaintext"].as<std::string>(), "--plaintext");
    } else {
        g.plaintext = parse_bool(env("MACP_PLAINTEXT"), "MACP_PLAINTEXT");
    }
    if (vm.count("header") != 0) {
        for (const auto& h : vm["header"].as<std::vector<std::string>>()) {
            const auto colon = h.find(':');
            if (colon == std::string::npos || colon == 0)
                throw UsageError("--header wants 'NAME: VALUE', got '" + h + "'");
            std::string name = h.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string value = h.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            g.headers.emplace_back(name, value);
        }
    }
    const std::string output = pick("output", "MACP_OUTPUT");
    if (output.empty() || output == "table") {
        g.output = OutputFormat::Table;
    } else if (output == "json") {
        g.output = OutputFormat::Json;
    } else {
        throw UsageError("--output must be table or json, not '" + output + "'");
    }
    const std::string timeout = pick("timeout", "MACP_TIMEOUT");
    if (!timeout.empty()) {
        g.timeout = parse_duration(timeout, "--timeout");
        if (g.timeout->count() <= 0) throw UsageError("--timeout must be positive");
    }
    return g;
}

}  // namespace

std::string Invocation::str(const std::string& option, const std::string& fallback) const {
    if (vm.count(option) == 0) return fallback;
    return vm[option].as<std::string>();
}

std::vector<std::string> Invocation::list(const std::string& option) const {
    if (vm.count(option) == 0) return {};
    return vm[option].as<std::vector<std::string>>();
}

std::optional<uint64_t> Invocation::count() const {
    if (vm.count("count") == 0) return std::nullopt;
    const auto n = parse_count(vm["count"].as<std::string>(), "--count");
    if (n == 0) throw UsageError("--count must be at least 1");
    return n;
}

void Invocation::expect_operands(size_t n, const std::string& what) const {
    if (operands.size() < n) throw UsageError("missing " + what);
    if (operands.size() > n) throw UsageError("unexpected operand '" + operands[n] + "'");
}

const std::vector<CommandSpec>& commands() {
    static const std::vector<CommandSpec> all = [] {
        std::vector<CommandSpec> out;
        add_server_commands(out);
        add_session_commands(out);
        add_message_commands(out);
        add_policy_commands(out);
        return out;
    }();
    return all;
}

std::string exit_status_text() {
    return "Exit status:\n"
           "  0  success\n"
           "  1  usage error: bad command line, unreadable file, malformed JSON input\n"
           "  2  rejected by the server: a MACP error code (printed), ok=false, INVALID_ARGUMENT,\n"
           "     FAILED_PRECONDITION, ALREADY_EXISTS, RESOURCE_EXHAUSTED\n"
           "  3  not found: session (NOT_FOUND, SESSION_NOT_FOUND), policy, health service\n"
           "  4  unavailable: no connection (refused, DNS, TLS handshake), server shutting down\n"
           "  5  unauthenticated or forbidden (UNAUTHENTICATED, FORBIDDEN, PERMISSION_DENIED)\n"
           "  6  timed out (--timeout), or a stream ended before --count envelopes/events\n"
           "  7  health: the server answered NOT_SERVING\n"
           "  8  server error: INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS, MACP INTERNAL_ERROR\n";
}

std::chrono::milliseconds parse_duration(const std::string& text, const std::string& what) {
    if (text.empty()) throw UsageError(what + ": empty duration");
    size_t pos = 0;
    double value = 0;
    try {
        value = std::stod(text, &pos);
    } catch (const std::exception&) {
        throw UsageError(what + ": '" + text + "' is not a duration (500ms, 10s, 2m, 1h)");
    }
    const std::string unit = text.substr(pos);
    double ms = 0;
    if (unit.empty() || unit == "s") {
        ms = value * 1000;
    } else if (unit == "ms") {
        ms = value;
    } else if (unit == "m") {
        ms = value * 60'000;
    } else if (unit == "h") {
        ms = value * 3'600'000;
    } else {
        throw UsageError(what + ": unknown unit '" + unit + "' in '" + text + "' (ms, s, m, h)");
    }
    if (!std::isfinite(ms) || ms < 0 || ms > 9.0e15) throw UsageError(what + ": '" + text + "' is out of range");
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

uint64_t parse_count(const std::string& text, const std::string& what) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        throw UsageError(what + ": '" + text + "' is not a non-negative integer");
    }
    errno = 0;
    const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE) throw UsageError(what + ": '" + text + "' is too large");
    return v;
}

bool parse_bool(const std::string& text, const std::string& what) {
    std::string t;
    for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t.empty() || t == "0" || t == "false" || t == "no" || t == "off") return false;
    if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
    throw UsageError(what + ": '" + text + "' is not a boolean (1/0, true/false, yes/no, on/off)");
}

std::string read_file(const std::string& path, const std::string& what) {
    if (path == "-") {
        return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError(what + ": cannot read '" + path + "': " + std::strerror(errno));
    std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) throw UsageError(what + ": cannot read '" + path + "'");
    return data;
}

std::string text_or_file(const std::string& value, const std::string& what) {
    if (!value.empty() && value.front() == '@') return read_file(value.substr(1), what);
    return value;
}

std::string new_uuid() {
    static std::mt19937_64 rng{std::random_device{}()};
    const uint64_t a = rng();
    const uint64_t b = rng();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

int run_cli(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);

    // Find the command words: the first operand (and, for a group, the next one). Options of the
    // command itself come after it; global options may be anywhere.
    std::vector<std::string> words;
    std::vector<std::string> rest;
    bool options_ended = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (!options_ended && a == "--") {
            options_ended = true;
            rest.push_back(a);
            continue;
        }
        if (!options_ended && a.size() > 1 && a[0] == '-') {
            rest.push_back(a);
            if (kValueOptions.count(a) != 0 && i + 1 < args.size()) rest.push_back(args[++i]);
            continue;
        }
        if (words.empty()) {
            words.push_back(a == "help" ? a : canonical_group(a));
        } else if (words.front() == "help") {
            words.push_back(words.size() == 1 ? canonical_group(a) : a);
        } else if (words.size() == 1 && kGroups.count(words.front()) != 0) {
            words.push_back(a);
        } else {
            rest.push_back(a);
        }
    }

    Invocation inv;
    try {
        if (words.empty() || words.front() == "help") {
            // macpctl [--help|--version] | macpctl help [COMMAND...]
            if (words.size() > 1) {
                std::string name = words[1];
                for (size_t i = 2; i < words.size(); ++i) name += " " + words[i];
                if (const auto* spec = find_command(name)) {
                    print_command_help(*spec, std::cout);
                    return kOk;
                }
                if (kGroups.count(name) != 0) {
                    print_group_help(name, std::cout);
                    return kOk;
                }
                throw UsageError("unknown command '" + name + "' (macpctl --help lists them)");
            }
            po::variables_map vm;
            po::store(po::command_line_parser(rest).options(global_options()).run(), vm);
            if (vm.count("version") != 0) {
                std::cout << "macpctl " MACPCTL_VERSION "\n";
                return kOk;
            }
            if (vm.count("help") != 0 || !words.empty()) {
                print_main_help(std::cout);
                return kOk;
            }
            std::cerr << "macpctl: no command given\n\n" << command_list() << "\nTry 'macpctl --help'.\n";
            return kUsage;
        }

        std::string name = words.front();
        if (kGroups.count(name) != 0) {
            if (words.size() < 2) {
                bool help = false;
                for (const auto& a : rest) help = help || a == "--help" || a == "-h";
                if (help) {
                    print_group_help(name, std::cout);
                    return kOk;
                }
                throw UsageError(name + " needs a subcommand: " + subcommands_of(name));
            }
            name += " " + words[1];
        }
        inv.command = find_command(name);
        if (inv.command == nullptr) {
            throw UsageError("unknown command '" + name + "' (macpctl --help lists them)");
        }

        po::options_description all;
        all.add(command_options(*inv.command)).add(global_options());
        po::options_description hidden;
        hidden.add_options()("operand", po::value<std::vector<std::string>>());
        all.add(hidden);
        po::positional_options_description positional;
        positional.add("operand", -1);
        po::store(po::command_line_parser(rest).options(all).positional(positional).run(), inv.vm);
        if (inv.vm.count("help") != 0) {
            print_command_help(*inv.command, std::cout);
            return kOk;
        }
        if (inv.vm.count("version") != 0) {
            std::cout << "macpctl " MACPCTL_VERSION "\n";
            return kOk;
        }
        po::notify(inv.vm);
        if (inv.vm.count("operand") != 0) inv.operands = inv.vm["operand"].as<std::vector<std::string>>();
        inv.global = resolve_globals(inv.vm);
        return inv.command->run(inv);
    } catch (const po::error& e) {
        std::cerr << "macpctl: " << (inv.command != nullptr ? inv.command->name + ": " : "") << e.what() << '\n'
                  << "Try 'macpctl " << (inv.command != nullptr ? inv.command->name + " " : "") << "--help'.\n";
        return kUsage;
    } catch (const UsageError& e) {
        std::cout.flush();
        std::cerr << "macpctl: " << (inv.command != nullptr ? inv.command->name + ": " : "") << e.what() << '\n'
                  << "Try 'macpctl " << (inv.command != nullptr ? inv.command->name + " " : "") << "--help'.\n";
        return kUsage;
    }
}

}  // namespace macpctl
