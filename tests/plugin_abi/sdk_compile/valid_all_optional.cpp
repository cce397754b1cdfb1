// Every optional op listed and present, some taking the call context, no config keys: must
// compile cleanly (the positive control for the checks above).
#include "base.hpp"

class Store : public BaseStore {
public:
    using BaseStore::BaseStore;
    static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::append_log_batch | macp::sdk::op::replace_log |
                                                       macp::sdk::op::flush | macp::sdk::op::health |
                                                       macp::sdk::op::recover | macp::sdk::op::check_config;
    void append_log_batch(const std::vector<macp::sdk::LogAppend>&, std::vector<macp_status>& status,
                          const macp::sdk::CallContext& cc) {
        for (auto& s : status) s = cc.deadline_passed() ? MACP_STATUS_TIMEOUT : MACP_STATUS_OK;
    }
    void replace_log(const std::string&, const std::vector<std::string_view>&) {}
    void flush() {}
    std::string health(const macp::sdk::CallContext& cc) {
        cc.logger().info("health asked");
        return "ok";
    }
    void recover(const macp::sdk::Emitter&) {}
    static void check_config(const macp::sdk::Config&) {}
};

MACP_STORAGE_PLUGIN(Store, "valid", "0.0.1", "compile check", 0, nullptr)
