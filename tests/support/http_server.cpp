#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace macp::test {
namespace {

constexpr int kPollMs = 50;
constexpr std::size_t kMaxHead = 64 * 1024;

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 404: return "Not Found";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

HttpServer::HttpServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error(std::string("HttpServer: socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const std::string why = std::strerror(errno);
        ::close(listen_fd_);
        throw std::runtime_error("HttpServer: bind/listen on 127.0.0.1: " + why);
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
    stop();
}

std::string HttpServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpServer::respond(int status, std::string body, std::string content_type) {
    const std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    body_ = std::move(body);
    content_type_ = std::move(content_type);
}

void HttpServer::set_delay(std::chrono::milliseconds delay) {
    const std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
}

void HttpServer::set_hang(bool hang) {
    {
        const std::lock_guard<std::mutex> lock(mu_);
        hang_ = hang;
    }
    cv_.notify_all();
}

void HttpServer::stop() {
    if (stopping_.exchange(true)) return;
    { const std::lock_guard<std::mutex> lock(mu_); }  // a waiter between its check and its wait sees the flag
    cv_.notify_all();
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> connections;
    {
        const std::lock_guard<std::mutex> lock(mu_);
        connections.swap(connections_);
    }
    for (auto& t : connections) t.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
}

void HttpServer::accept_loop() {
    while (!stopping_.load()) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        const std::lock_guard<std::mutex> lock(mu_);
        connections_.emplace_back([this, fd] {
            serve(fd);
            ::close(fd);
        });
    }
    // Refuse later connections at once (the socket stays open until stop() closes it, but
    // nobody accepts: shut it down so connects fail instead of waiting in the backlog).
    ::shutdown(listen_fd_, SHUT_RDWR);
}

void HttpServer::serve(int fd) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
        if (stopping_.load() || head.size() > kMaxHead) return;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        head.append(buf, static_cast<std::size_t>(n));
    }
    ++requests_;
    std::string response;
    {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !hang_ || stopping_.load(); });
        if (delay_.count() > 0) cv_.wait_for(lock, delay_, [&] { return stopping_.load(); });
        if (stopping_.load()) return;
        response = "HTTP/1.1 " + std::to_string(status_) + " " + reason(status_) +
                   "\r\nContent-Type: " + content_type_ + "\r\nContent-Length: " + std::to_string(body_.size()) +
                   "\r\nConnection: close\r\n\r\n" + body_;
    }
    std::size_t sent = 0;
    while (sent < response.size() && !stopping_.load()) {
        const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;  // the client went away (e.g. it refused a huge body)
        sent += static_cast<std::size_t>(n);
    }
}

}  // namespace macp::test
