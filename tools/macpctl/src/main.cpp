// macpctl: the command-line client of macp-runtime. cli.cpp parses the command line, the cmd_*.cpp
// files run the commands, docs/macpctl.md and docs/macpctl.1 describe them.
#include <cstdlib>
#include <exception>
#include <iostream>

#include <grpc/support/log.h>

#include "cli.hpp"
#include "connection.hpp"

int main(int argc, char** argv) {
    macpctl::interrupts::install();  // before gRPC starts any thread
    // gRPC's own log lines ("E1202 ... Handshake failed ...") would repeat, less clearly, what the
    // command reports; GRPC_VERBOSITY or GRPC_TRACE in the environment bring them back.
    if (std::getenv("GRPC_VERBOSITY") == nullptr && std::getenv("GRPC_TRACE") == nullptr) {
        gpr_set_log_function([](gpr_log_func_args*) {});
    }
    try {
        return macpctl::run_cli(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "macpctl: " << e.what() << '\n';
        return macpctl::kServerError;
    }
}
