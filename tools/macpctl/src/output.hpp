// Output: --output table (aligned columns or key/value lines for people) and --output json
// (proto3 JSON with the .proto field names, for scripts; streams print one object per line).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>
#include <rapidjson/document.h>

#include "macp/v1/core.pb.h"

namespace macpctl {

// Proto3 JSON of `m`: .proto field names, every field printed (zero values too), enums by name.
std::string to_json(const google::protobuf::Message& m, bool pretty);
// Pretty JSON of `m` on stdout (single results), indented by two.
void print_json(const google::protobuf::Message& m);
// `json` re-indented by two (or compact), on stdout with a newline.
void print_json_text(const std::string& json, bool pretty = true);
// One compact JSON line on stdout, flushed (streams).
void print_json_line(const std::string& json);

// A JSON object assembled from plain values and JSON fragments (proto JSON of messages), for the
// outputs that are not one proto message (modes, health, stream lines with extra members).
class JsonObject {
public:
    JsonObject();
    // Starts from the object `json` (a proto's JSON, say); members added later go after its own.
    explicit JsonObject(const std::string& json);
    JsonObject& str(const std::string& key, const std::string& value);
    JsonObject& num(const std::string& key, uint64_t value);
    JsonObject& boolean(const std::string& key, bool value);
    JsonObject& raw(const std::string& key, const std::string& json);  // invalid JSON is stored as a string
    JsonObject& raw_array(const std::string& key, const std::vector<std::string>& jsons);
    [[nodiscard]] std::string dump(bool pretty) const;

private:
    rapidjson::Value parse(const std::string& json);
    rapidjson::Document doc_;
};

// Rows under upper-case headers, columns aligned with two spaces; "-" for empty cells.
class Table {
public:
    explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    void print(std::ostream& out) const;
    [[nodiscard]] bool empty() const { return rows_.empty(); }

private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

// "key  value" lines, keys aligned; empty values print "-".
class Fields {
public:
    Fields& add(std::string key, std::string value) {
        fields_.emplace_back(std::move(key), std::move(value));
        return *this;
    }
    void print(std::ostream& out) const;

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

// 2024-05-01T12:00:00.123Z (UTC); "-" for 0.
std::string format_time(int64_t unix_ms);
// OPEN, RESOLVED, ... (the enum name without SESSION_STATE_).
std::string state_name(int state);
// CREATED, RESOLVED, ... (the event type without EVENT_TYPE_).
std::string event_name(int event_type);
std::string join(const std::vector<std::string>& items, const std::string& sep);
// `s` and at least two spaces, `width` + 2 columns in all (the fixed columns of stream lines).
std::string padded(const std::string& s, size_t width);
template <class Repeated>
std::vector<std::string> strings(const Repeated& r) {
    return {r.begin(), r.end()};
}

// An Ack as key/value lines (table output of send, start, cancel, suspend, resume).
void print_ack_fields(const macp::v1::Ack& ack);

}  // namespace macpctl
