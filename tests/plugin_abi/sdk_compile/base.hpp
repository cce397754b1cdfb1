// A complete, valid storage plugin class for the SDK compile checks; each check derives from it
// and breaks one rule, or adds an optional member.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "macp/plugin/sdk/storage.hpp"

class BaseStore {
public:
    explicit BaseStore(const macp::sdk::Config&) {}
    void create_session_storage(const std::string&) {}
    void save_session(const std::string&, std::string_view) {}
    std::optional<std::string> load_session(const std::string&) { return std::nullopt; }
    void delete_session(const std::string&) {}
    void list_session_ids(const macp::sdk::Emitter&) {}
    void append_log_entry(const std::string&, std::string_view) {}
    void load_log(const std::string&, const macp::sdk::Emitter&) {}
    void put_record(const std::string&, const std::string&, std::string_view) {}
    void delete_record(const std::string&, const std::string&) {}
    void list_records(const std::string&, const macp::sdk::Emitter&) {}
};
