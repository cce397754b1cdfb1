// A Prometheus scrape as a test sees it (the metrics endpoint, issue #14): one plain-socket HTTP
// request, so a test reads exactly the bytes a scraper would, and the page parsed into samples.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace macp::test {

struct HttpReply {
    int status = 0;
    std::string headers;  // lower-cased header block
    std::string body;
};

// One request on a fresh connection to 127.0.0.1:port; status 0 when the connection failed.
inline HttpReply http_request(int port, const std::string& method, const std::string& path) {
    HttpReply reply;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return reply;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return reply;
    }
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return reply;
    }
    std::string raw;
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
    ::close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return reply;
    reply.status = std::stoi(raw.substr(9, 3));
    reply.headers = raw.substr(0, head_end);
    for (auto& c : reply.headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.body = raw.substr(head_end + 4);
    return reply;
}

// A parsed exposition page: sample series ("name{labels}") -> value, and family -> TYPE.
struct Page {
    std::map<std::string, double> samples;
    std::map<std::string, std::string> types;
    std::vector<std::string> bad_lines;

    [[nodiscard]] double value(const std::string& series) const {
        const auto it = samples.find(series);
        return it == samples.end() ? -1 : it->second;
    }
};

inline Page parse(const std::string& text) {
    static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
    static const std::regex kType(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)");
    Page page;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, kType)) {
            page.types[m[1]] = m[2];
        } else if (line.rfind("# HELP ", 0) == 0) {
            continue;
        } else if (std::regex_match(line, m, kSample)) {
            const std::string v = m[3];
            page.samples[m[1]] = v == "+Inf" ? 1e308 : std::stod(v);
        } else {
            page.bad_lines.push_back(line);
        }
    }
    return page;
}

}  // namespace macp::test
