// macp-with-redis: runs one command next to a fresh redis-server (RedisServer: free 127.0.0.1
// port, temporary directory, appendonly yes + appendfsync always), then stops redis by PID.
//
//   macp-with-redis [--appendfsync always|everysec|no] [--no-appendonly] [--env NAME=VALUE ...]
//                   -- <command> [args...]
//
// In the command's arguments and in every environment variable (including those set with --env,
// whose values may contain ';'), "@REDIS_URL@" is replaced with the server's URL
// (redis://127.0.0.1:<port>); MACP_TEST_REDIS_URL is set to it as well.
// Exit status: the command's (128 + signal if it was killed), 77 when redis-server is not
// installed (ctest SKIP_RETURN_CODE), 2 on a usage error, 1 if redis-server could not start.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "redis_server.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

constexpr int kSkip = 77;
constexpr const char* kPlaceholder = "@REDIS_URL@";

std::string substitute(std::string s, const std::string& url) {
    for (std::size_t pos = s.find(kPlaceholder); pos != std::string::npos; pos = s.find(kPlaceholder, pos)) {
        s.replace(pos, std::strlen(kPlaceholder), url);
        pos += url.size();
    }
    return s;
}

int usage() {
    std::cerr << "usage: macp-with-redis [--appendfsync always|everysec|no] [--no-appendonly] [--env NAME=VALUE ...] "
                 "-- <command> [args...]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    macp::test::RedisServer::Options options;
    std::vector<std::string> extra_env;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "--appendfsync" && i + 1 < argc) {
            options.appendfsync = argv[++i];
        } else if (a == "--env" && i + 1 < argc && std::strchr(argv[i + 1], '=') != nullptr) {
            extra_env.emplace_back(argv[++i]);
        } else if (a == "--no-appendonly") {
            options.appendonly = false;
        } else {
            return usage();
        }
    }
    if (i >= argc) return usage();
    if (!macp::test::redis_server_available()) {
        std::cerr << "macp-with-redis: redis-server is not installed (scripts/install-deps.sh): skipped\n";
        return kSkip;
    }
    try {
        macp::test::RedisServer redis(options);
        const std::string url = redis.url();
        std::cerr << "macp-with-redis: redis-server pid " << redis.pid() << " at " << url << "\n";

        std::vector<std::string> args;
        for (int k = i; k < argc; ++k) args.push_back(substitute(argv[k], url));
        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry = *e;
            const std::string name = entry.substr(0, entry.find('='));
            bool overridden = false;
            for (const auto& x : extra_env) overridden = overridden || x.substr(0, x.find('=')) == name;
            if (!overridden) env.push_back(substitute(entry, url));
        }
        for (const auto& x : extra_env) env.push_back(substitute(x, url));
        env.push_back("MACP_TEST_REDIS_URL=" + url);

        const pid_t parent = ::getpid();
        const pid_t child = ::fork();
        if (child < 0) {
            std::perror("fork");
            return 1;
        }
        if (child == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            std::vector<char*> cargs;
            for (auto& a : args) cargs.push_back(a.data());
            cargs.push_back(nullptr);
            std::vector<char*> cenv;
            for (auto& e : env) cenv.push_back(e.data());
            cenv.push_back(nullptr);
            ::execvpe(cargs[0], cargs.data(), cenv.data());
            std::fprintf(stderr, "macp-with-redis: cannot run %s: %s\n", cargs[0], std::strerror(errno));
            ::_exit(127);
        }
        int status = 0;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
    } catch (const std::exception& e) {
        std::cerr << "macp-with-redis: " << e.what() << "\n";
        return 1;
    }
}
