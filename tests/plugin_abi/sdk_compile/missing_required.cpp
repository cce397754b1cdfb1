// Lacks the required load_log: must not compile, with a message naming it.
#include <optional>
#include <string>
#include <string_view>

#include "macp/plugin/sdk/storage.hpp"

class Store {
public:
    explicit Store(const macp::sdk::Config&) {}
    void create_session_storage(const std::string&) {}
    void save_session(const std::string&, std::string_view) {}
    std::optional<std::string> load_session(const std::string&) { return std::nullopt; }
    void delete_session(const std::string&) {}
    void list_session_ids(const macp::sdk::Emitter&) {}
    void append_log_entry(const std::string&, std::string_view) {}
    void put_record(const std::string&, const std::string&, std::string_view) {}
    void delete_record(const std::string&, const std::string&) {}
    void list_records(const std::string&, const macp::sdk::Emitter&) {}
};

MACP_STORAGE_PLUGIN(Store, "missing", "0.0.1", "compile check", 0, nullptr)
