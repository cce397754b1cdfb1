#include "output.hpp"

#include <algorithm>
#include <ctime>
#include <iostream>

#include <google/protobuf/util/json_util.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/v1/envelope.pb.h"

namespace macpctl {

namespace {

// One line per cell: control characters (a newline in a reason, say) become spaces.
std::string cell(const std::string& s) {
    if (s.empty()) return "-";
    std::string out = s;
    for (auto& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    return out;
}

}  // namespace

std::string to_json(const google::protobuf::Message& m, bool pretty) {
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = pretty;
    o.always_print_primitive_fields = true;
    o.preserve_proto_field_names = true;
    std::string out;
    auto st = google::protobuf::util::MessageToJsonString(m, &out, o);
    if (!st.ok()) return "{}";  // only on invalid UTF-8 in a string field; never for our messages
    if (pretty && !out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

namespace {
constexpr unsigned kParseFlags = rapidjson::kParseFullPrecisionFlag;

std::string write(const rapidjson::Value& v, bool pretty) {
    rapidjson::StringBuffer buf;
    if (pretty) {
        rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
        w.SetIndent(' ', 2);
        v.Accept(w);
    } else {
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        v.Accept(w);
    }
    return {buf.GetString(), buf.GetSize()};
}
}  // namespace

void print_json(const google::protobuf::Message& m) {
    print_json_text(to_json(m, false), true);
}

void print_json_text(const std::string& json, bool pretty) {
    rapidjson::Document d;
    d.Parse<kParseFlags>(json.data(), json.size());
    std::cout << (d.HasParseError() ? json : write(d, pretty)) << '\n';
}

JsonObject::JsonObject() {
    doc_.SetObject();
}

JsonObject::JsonObject(const std::string& json) {
    doc_.Parse<kParseFlags>(json.data(), json.size());
    if (doc_.HasParseError() || !doc_.IsObject()) doc_.SetObject();
}

rapidjson::Value JsonObject::parse(const std::string& json) {
    rapidjson::Document sub;
    sub.Parse<kParseFlags>(json.data(), json.size());
    if (sub.HasParseError())
        return rapidjson::Value(json.data(), static_cast<rapidjson::SizeType>(json.size()), doc_.GetAllocator());
    return rapidjson::Value(sub, doc_.GetAllocator());
}

JsonObject& JsonObject::str(const std::string& key, const std::string& value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key.c_str(), a).Move(),
                   rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), a).Move(), a);
    return *this;
}

JsonObject& JsonObject::num(const std::string& key, uint64_t value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key.c_str(), a).Move(), rapidjson::Value(value).Move(), a);
    return *this;
}

JsonObject& JsonObject::boolean(const std::string& key, bool value) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key.c_str(), a).Move(), rapidjson::Value(value).Move(), a);
    return *this;
}

JsonObject& JsonObject::raw(const std::string& key, const std::string& json) {
    auto& a = doc_.GetAllocator();
    doc_.AddMember(rapidjson::Value(key.c_str(), a).Move(), parse(json).Move(), a);
    return *this;
}

JsonObject& JsonObject::raw_array(const std::string& key, const std::vector<std::string>& jsons) {
    auto& a = doc_.GetAllocator();
    rapidjson::Value arr(rapidjson::kArrayType);
    for (const auto& j : jsons) arr.PushBack(parse(j).Move(), a);
    doc_.AddMember(rapidjson::Value(key.c_str(), a).Move(), arr.Move(), a);
    return *this;
}

std::string JsonObject::dump(bool pretty) const {
    return write(doc_, pretty);
}

void print_json_line(const std::string& json) {
    std::cout << json << '\n' << std::flush;
}

void Table::print(std::ostream& out) const {
    std::vector<size_t> width(headers_.size(), 0);
    for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
    std::vector<std::vector<std::string>> cells;
    for (const auto& row : rows_) {
        std::vector<std::string> r;
        for (size_t i = 0; i < headers_.size(); ++i) {
            r.push_back(cell(i < row.size() ? row[i] : std::string()));
            width[i] = std::max(width[i], r.back().size());
        }
        cells.push_back(std::move(r));
    }
    auto line = [&](const std::vector<std::string>& r) {
        std::string s;
        for (size_t i = 0; i < r.size(); ++i) {
            s += r[i];
            if (i + 1 < r.size()) s += std::string(width[i] - r[i].size() + 2, ' ');
        }
        out << s << '\n';
    };
    line(headers_);
    for (const auto& r : cells) line(r);
}

void Fields::print(std::ostream& out) const {
    size_t width = 0;
    for (const auto& [k, v] : fields_) width = std::max(width, k.size());
    for (const auto& [k, v] : fields_) out << k << std::string(width - k.size() + 2, ' ') << cell(v) << '\n';
}

std::string format_time(int64_t unix_ms) {
    if (unix_ms == 0) return "-";
    std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
    int64_t ms = unix_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        --secs;
    }
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[80];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
    return out;
}

std::string state_name(int state) {
    const std::string full = macp::v1::SessionState_Name(static_cast<macp::v1::SessionState>(state));
    const std::string prefix = "SESSION_STATE_";
    if (full.empty()) return std::to_string(state);
    return full.compare(0, prefix.size(), prefix) == 0 ? full.substr(prefix.size()) : full;
}

std::string event_name(int event_type) {
    const std::string full = macp::v1::SessionLifecycleEvent::EventType_Name(
        static_cast<macp::v1::SessionLifecycleEvent::EventType>(event_type));
    const std::string prefix = "EVENT_TYPE_";
    if (full.empty()) return std::to_string(event_type);
    return full.compare(0, prefix.size(), prefix) == 0 ? full.substr(prefix.size()) : full;
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out += sep;
        out += items[i];
    }
    return out;
}

std::string padded(const std::string& s, size_t width) {
    return s.size() >= width ? s + "  " : s + std::string(width - s.size() + 2, ' ');
}

void print_ack_fields(const macp::v1::Ack& ack) {
    Fields f;
    f.add("ok", ack.ok() ? "true" : "false");
    if (ack.duplicate()) f.add("duplicate", "true");
    f.add("session_id", ack.session_id());
    f.add("message_id", ack.message_id());
    f.add("state", ack.session_state() == 0 ? std::string() : state_name(ack.session_state()));
    f.add("accepted_at", format_time(ack.accepted_at_unix_ms()));
    if (ack.has_error()) {
        f.add("error", ack.error().code() + (ack.error().message().empty() ? "" : " (" + ack.error().message() + ")"));
    }
    f.print(std::cout);
}

}  // namespace macpctl
