// Lists op::append_log_batch but takes the items by the wrong type: must not compile.
#include "base.hpp"

class Store : public BaseStore {
public:
    using BaseStore::BaseStore;
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::append_log_batch;
    void append_log_batch(const std::vector<std::string>& items, std::vector<macp_status>& status) {
        (void)items;
        (void)status;
    }
};

MACP_STORAGE_PLUGIN(Store, "mistyped", "0.0.1", "compile check", 0, nullptr)
