// A small HTTP/1.1 server on 127.0.0.1 for tests (issue #12: the JWKS endpoint of auth-jwt).
// One thread accepts, one thread per connection answers, all joined by stop()/the destructor.
// It answers every request with the configured status and body and counts requests; it can
// delay or withhold its answers (a hanging endpoint) and be stopped (connection refused).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace macp::test {

class HttpServer {
public:
    HttpServer();   // listening on a free 127.0.0.1 port; throws std::runtime_error on failure
    ~HttpServer();  // stop()
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url(const std::string& path = "/jwks.json") const;

    // The answer to every later request (default: 200 with "{}").
    void respond(int status, std::string body, std::string content_type = "application/json");
    // Waits this long before answering (0 = answer at once).
    void set_delay(std::chrono::milliseconds delay);
    // true: requests are read and counted but never answered until set_hang(false) or stop().
    void set_hang(bool hang);
    // Requests received so far (counted once the request head has been read).
    [[nodiscard]] int requests() const { return requests_.load(); }
    // Closes the listening socket (later connections are refused) and ends every connection.
    void stop();

private:
    void accept_loop();
    void serve(int fd);

    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> requests_{0};
    std::mutex mu_;  // guards everything below
    std::condition_variable cv_;
    int status_ = 200;
    std::string body_ = "{}";
    std::string content_type_ = "application/json";
    std::chrono::milliseconds delay_{0};
    bool hang_ = false;
    std::vector<std::thread> connections_;
    std::thread acceptor_;
};

}  // namespace macp::test
