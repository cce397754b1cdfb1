#include "metrics/registry.hpp"

namespace macp::metrics {

void Metrics::add_collector(Collector c) {
    std::lock_guard lock(collectors_mu_);
    collectors_.push_back(std::move(c));
}

std::string Metrics::render() const {
    Exposition out;
    runtime.render(out);
    {
        std::lock_guard lock(collectors_mu_);
        for (const auto& c : collectors_) c(out);
    }
    grpc.render(out);
    return out.take();
}

}  // namespace macp::metrics
