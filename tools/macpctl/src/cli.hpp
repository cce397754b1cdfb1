// macpctl's command line: global options (with their environment defaults), the command table,
// help texts, exit codes and the small parsers every command shares (durations, counts, @file).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace macpctl {

namespace po = boost::program_options;

// Exit statuses scripts can rely on (docs/macpctl.md "Exit status"; keep the three in step:
// this enum, exit_status_text() and docs/macpctl.1).
enum ExitCode : int {
    kOk = 0,
    kUsage = 1,        // bad command line, unreadable or malformed local input (file, JSON)
    kRejected = 2,     // the server refused the request: a MACP error code, ok=false, INVALID_ARGUMENT...
    kNotFound = 3,     // session / policy / health service not found
    kUnavailable = 4,  // no connection (refused, DNS, TLS handshake), server UNAVAILABLE or shutting down
    kAuth = 5,         // UNAUTHENTICATED / FORBIDDEN / PERMISSION_DENIED
    kTimeout = 6,      // --timeout reached (DEADLINE_EXCEEDED), or a stream ended before --count
    kNotServing = 7,   // health: the server answered NOT_SERVING
    kServerError = 8,  // INTERNAL / UNKNOWN / UNIMPLEMENTED / DATA_LOSS, MACP INTERNAL_ERROR
};

// A command-line or local-input problem: printed with a hint to --help, exit status 1.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class OutputFormat { Table, Json };

// Options every command takes, after flags > environment > built-in default.
struct GlobalOptions {
    std::string addr;         // --addr, MACP_ADDR, 127.0.0.1:50051
    std::string token;        // --token, MACP_TOKEN (or read from --token-file, MACP_TOKEN_FILE)
    std::string cacert;       // --cacert, MACP_CA_FILE
    std::string cert;         // --cert, MACP_CLIENT_CERT
    std::string key;          // --key, MACP_CLIENT_KEY
    std::string server_name;  // --server-name, MACP_SERVER_NAME
    bool plaintext = false;   // --plaintext, MACP_PLAINTEXT
    std::vector<std::pair<std::string, std::string>> headers;  // --header
    OutputFormat output = OutputFormat::Table;                 // --output, MACP_OUTPUT
    std::optional<std::chrono::milliseconds> timeout;          // --timeout, MACP_TIMEOUT
};

struct CommandSpec;

// One parsed invocation of a command.
struct Invocation {
    const CommandSpec* command = nullptr;
    GlobalOptions global;
    po::variables_map vm;
    std::vector<std::string> operands;

    [[nodiscard]] bool has(const std::string& option) const { return vm.count(option) != 0 && !vm[option].defaulted(); }
    [[nodiscard]] std::string str(const std::string& option, const std::string& fallback = {}) const;
    [[nodiscard]] std::vector<std::string> list(const std::string& option) const;
    // Exactly `n` operands, else a UsageError naming `what`.
    void expect_operands(size_t n, const std::string& what) const;
    // --count of the streams: nullopt when absent; UsageError unless at least 1.
    [[nodiscard]] std::optional<uint64_t> count() const;
    // --timeout, or `fallback` for commands that have one (unary calls); nullopt = no deadline.
    [[nodiscard]] std::optional<std::chrono::milliseconds> deadline(
        std::optional<std::chrono::milliseconds> fallback) const {
        return global.timeout ? global.timeout : fallback;
    }
};

struct CommandSpec {
    std::string name;                                       // "sessions list"
    std::string usage;                                      // operands and options after the name, as in the synopsis
    std::string summary;                                    // one line, for the command list
    std::string description;                                // paragraphs, blank-line separated
    std::string examples;                                   // lines
    std::function<void(po::options_description&)> options;  // the command's own options (may be empty)
    std::function<int(Invocation&)> run;
};

// Declaring a command's options: one taking a value (VALUE_NAME in the help), one that may be
// repeated (values collected in order), one without a value.
inline void value_option(po::options_description& o, const char* name, const char* value_name, const char* help) {
    o.add_options()(name, po::value<std::string>()->value_name(value_name), help);
}
inline void list_option(po::options_description& o, const char* name, const char* value_name, const char* help) {
    o.add_options()(name, po::value<std::vector<std::string>>()->composing()->value_name(value_name), help);
}
inline void flag_option(po::options_description& o, const char* name, const char* help) {
    o.add_options()(name, help);
}

// The command table, in help order (each cmd_*.cpp adds its group).
const std::vector<CommandSpec>& commands();
void add_server_commands(std::vector<CommandSpec>& out);
void add_session_commands(std::vector<CommandSpec>& out);
void add_message_commands(std::vector<CommandSpec>& out);
void add_policy_commands(std::vector<CommandSpec>& out);

// Parses argv and runs the command; returns the process exit status.
int run_cli(int argc, char** argv);

// Shared parsers; each throws UsageError naming `what` on bad input.
// "500ms", "10s", "1.5s", "2m", "1h", or a bare number of seconds.
std::chrono::milliseconds parse_duration(const std::string& text, const std::string& what);
uint64_t parse_count(const std::string& text, const std::string& what);
// "@path" (or "@-" for stdin): the file's bytes; anything else: the text itself.
std::string text_or_file(const std::string& value, const std::string& what);
// The whole file ("-": stdin), bytes as they are.
std::string read_file(const std::string& path, const std::string& what);
// "1/true/yes/on" or "0/false/no/off/empty".
bool parse_bool(const std::string& text, const std::string& what);

// A fresh lower-case UUID v4 (the default session and message ids).
std::string new_uuid();

// The exit-status table as help text.
std::string exit_status_text();

}  // namespace macpctl
