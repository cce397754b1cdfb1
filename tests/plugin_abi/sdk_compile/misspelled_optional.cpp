// Lists op::health but spells the member "helth": must not compile.
#include "base.hpp"

class Store : public BaseStore {
public:
    using BaseStore::BaseStore;
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health;
    std::string helth() { return "ok"; }
};

MACP_STORAGE_PLUGIN(Store, "misspelled", "0.0.1", "compile check", 0, nullptr)
