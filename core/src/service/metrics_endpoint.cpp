#include "service/metrics_endpoint.hpp"

#include <chrono>
#include <optional>
#include <string_view>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "metrics/exposition.hpp"

namespace macp::service {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::seconds kIdleTimeout{10};
constexpr uint32_t kHeaderLimit = 8 * 1024;
constexpr uint64_t kBodyLimit = 4 * 1024;

// One client connection: read a request, answer it, repeat while the client keeps it alive.
class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket socket, const MetricsEndpoint::Render& render)
        : stream_(std::move(socket)), render_(render) {}

    void read() {
        parser_.emplace();
        parser_->header_limit(kHeaderLimit);
        parser_->body_limit(kBodyLimit);
        stream_.expires_after(kIdleTimeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

private:
    void on_read(beast::error_code ec) {
        if (ec) {  // end of stream, timeout, oversized or malformed request: just close
            close();
            return;
        }
        const auto& req = parser_->get();
        response_.emplace(answer(req));
        stream_.expires_after(kIdleTimeout);
        http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code wec, size_t) {
            if (wec || !self->response_->keep_alive()) {
                self->close();
                return;
            }
            self->read();
        });
    }

    http::response<http::string_body> answer(const http::request<http::string_body>& req) {
        std::string_view target(req.target().data(), req.target().size());
        target = target.substr(0, target.find('?'));  // a scraper may add parameters; none change the page
        http::response<http::string_body> res;
        res.version(req.version());
        res.keep_alive(req.keep_alive());
        res.set(http::field::server, "macp-runtime");
        if (target != "/metrics") {
            res.result(http::status::not_found);
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "not found; metrics are at /metrics\n";
        } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
            res.result(http::status::method_not_allowed);
            res.set(http::field::allow, "GET, HEAD");
            res.set(http::field::content_type, "text/plain; charset=utf-8");
            res.body() = "method not allowed\n";
        } else {
            res.result(http::status::ok);
            res.set(http::field::content_type, metrics::Exposition::kContentType);
            try {
                res.body() = render_();
            } catch (const std::exception& e) {
                spdlog::error("metrics: rendering failed: {}", e.what());
                res.result(http::status::internal_server_error);
                res.body() = "internal error\n";
            }
        }
        res.prepare_payload();
        if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays the GET's
        return res;
    }

    void close() {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

    beast::tcp_stream stream_;
    const MetricsEndpoint::Render& render_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
};

struct HostPort {
    std::string host;
    std::string port;
};

std::optional<HostPort> split(const std::string& text) {
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        return HostPort{text.substr(1, close - 1), text.substr(close + 2)};
    }
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    return HostPort{text.substr(0, colon), text.substr(colon + 1)};
}

}  // namespace

struct MetricsEndpoint::State {
    explicit State(Render r) : render(std::move(r)) {}
    Render render;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    std::thread thread;

    void accept() {
        acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;  // stopping
            if (!ec) {
                std::make_shared<Connection>(std::move(socket), render)->read();
            } else {
                spdlog::warn("metrics: accept failed: {}", ec.message());
            }
            accept();
        });
    }
};

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<State> state) : state_(std::move(state)) {}

MetricsEndpoint::~MetricsEndpoint() {
    state_->io.stop();
    if (state_->thread.joinable()) state_->thread.join();
}

Result<std::unique_ptr<MetricsEndpoint>, std::string> MetricsEndpoint::start(const std::string& host_port,
                                                                             Render render) {
    const auto cannot = [&](const std::string& why) {
        return fail("cannot listen for metrics on " + host_port + " (MACP_METRICS_ADDR): " + why);
    };
    const auto parts = split(host_port);
    if (!parts) return cannot("not host:port");
    auto state = std::make_unique<State>(std::move(render));
    beast::error_code ec;
    tcp::resolver resolver(state->io);
    const auto resolved = resolver.resolve(parts->host, parts->port, tcp::resolver::numeric_service, ec);
    if (ec || resolved.empty()) return cannot(ec ? ec.message() : "the name resolves to no address");
    const tcp::endpoint endpoint = resolved.begin()->endpoint();
    auto& acceptor = state->acceptor;
    if (acceptor.open(endpoint.protocol(), ec); ec) return cannot(ec.message());
    if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) return cannot(ec.message());
    if (acceptor.bind(endpoint, ec); ec) return cannot(ec.message());
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return cannot(ec.message());
    const auto bound = acceptor.local_endpoint(ec);
    if (ec) return cannot(ec.message());
    std::unique_ptr<MetricsEndpoint> out(new MetricsEndpoint(std::move(state)));
    const auto ip = bound.address();
    out->address_ = (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" + std::to_string(bound.port());
    auto* s = out->state_.get();
    s->accept();
    s->thread = std::thread([s] {
        pthread_setname_np(pthread_self(), "macp-metrics");
        for (;;) {
            try {
                s->io.run();
                return;  // stopped
            } catch (const std::exception& e) {
                spdlog::error("metrics endpoint: {}", e.what());  // keep serving
            }
        }
    });
    return out;
}

}  // namespace macp::service
