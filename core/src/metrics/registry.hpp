// The process's one metrics registry, created by main and passed down to whatever records: the
// kernel (runtime), the gRPC interceptor (grpc), and collectors that read a value only when
// scraped (sessions by state, open streams) because keeping it current on every change would
// cost more than counting it now and then.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/grpc_metrics.hpp"
#include "metrics/runtime_metrics.hpp"

namespace macp::metrics {

class Metrics {
public:
    RuntimeMetrics runtime;
    GrpcMetrics grpc;

    // Runs at every scrape, on the scraping thread; it must not block for long.
    using Collector = std::function<void(Exposition&)>;
    void add_collector(Collector c);

    // The whole exposition page.
    [[nodiscard]] std::string render() const;

private:
    mutable std::mutex collectors_mu_;
    std::vector<Collector> collectors_;
};

}  // namespace macp::metrics
