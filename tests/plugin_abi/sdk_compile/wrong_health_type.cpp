// Lists op::health but health() returns an int: must not compile.
#include "base.hpp"

class Store : public BaseStore {
public:
    using BaseStore::BaseStore;
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health;
    int health() { return 1; }
};

MACP_STORAGE_PLUGIN(Store, "wronghealth", "0.0.1", "compile check", 0, nullptr)
