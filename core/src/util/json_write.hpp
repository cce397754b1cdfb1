// Small helpers for writing JSON with RapidJSON's Writer, shared by the record codec, the mode
// state codecs and the registries. Strings are written with their length, so embedded NULs survive.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace macp::util::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void put_value(Writer& w, const std::string& v) {
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}

inline void put_key(Writer& w, const std::string& k) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}

inline void put(Writer& w, const char* key, const std::string& v) {
    w.Key(key);
    put_value(w, v);
}

inline void put(Writer& w, const char* key, int64_t v) {
    w.Key(key);
    w.Int64(v);
}

inline void put_strings(Writer& w, const std::vector<std::string>& v) {
    w.StartArray();
    for (const auto& s : v) put_value(w, s);
    w.EndArray();
}

}  // namespace macp::util::json
