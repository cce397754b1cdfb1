// The Prometheus scrape endpoint (MACP_METRICS_ADDR, issue #14): plain HTTP/1.1 on its own
// thread, separate from the gRPC port, built on Boost.Beast. GET (or HEAD) /metrics answers the
// exposition page; any other path 404, any other method 405. Connections may be kept alive; a
// connection idle or slow for 10 s is closed, and requests are bounded (8 KiB of headers, 4 KiB
// of body), so a misbehaving client can hold nothing for long.
//
// THREADING: one thread runs every connection; `render` is called on it, once per scrape.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "util/result.hpp"

namespace macp::service {

class MetricsEndpoint {
public:
    using Render = std::function<std::string()>;

    // Listens on `host_port` ("127.0.0.1:9464", "[::1]:9464", "localhost:9464"; the first address
    // the name resolves to). Fails with one sentence when it cannot listen.
    static Result<std::unique_ptr<MetricsEndpoint>, std::string> start(const std::string& host_port, Render render);
    // Stops listening, drops open connections and joins the thread.
    ~MetricsEndpoint();
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

    // The address actually bound ("127.0.0.1:9464").
    [[nodiscard]] const std::string& address() const { return address_; }

private:
    struct State;
    explicit MetricsEndpoint(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
    std::string address_;
};

}  // namespace macp::service
