// Bounded JSON parsing for the in-tree plugins (header-only, RapidJSON): the iterative reader, UTF-8
// validation and a nesting limit. The iterative reader alone never overflows the call stack, but
// an input of 16 MiB of '[' would still build a 16M-level DOM stack; the limiter stops early.
//
//   macp::plugin_json::BoundedParse parse{text, max_depth};
//   document.Populate(parse);   // then parse.result / parse.too_deep
#ifndef MACP_PLUGINS_COMMON_BOUNDED_JSON_HPP
#define MACP_PLUGINS_COMMON_BOUNDED_JSON_HPP

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace macp::plugin_json {

// SAX filter between the reader and a handler (usually a Document) that refuses nesting deeper
// than `max_depth`: the reader then stops with kParseErrorTermination.
template <class Handler>
class DepthLimiter {
public:
    DepthLimiter(Handler& inner, std::size_t max_depth) : inner_(inner), max_(max_depth) {}
    [[nodiscard]] bool exceeded() const { return exceeded_; }

    bool Null() { return inner_.Null(); }
    bool Bool(bool b) { return inner_.Bool(b); }
    bool Int(int i) { return inner_.Int(i); }
    bool Uint(unsigned u) { return inner_.Uint(u); }
    bool Int64(int64_t i) { return inner_.Int64(i); }
    bool Uint64(uint64_t u) { return inner_.Uint64(u); }
    bool Double(double d) { return inner_.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return inner_.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return inner_.String(s, n, copy); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return inner_.Key(s, n, copy); }
    bool StartObject() { return enter() && inner_.StartObject(); }
    bool EndObject(rapidjson::SizeType n) {
        --depth_;
        return inner_.EndObject(n);
    }
    bool StartArray() { return enter() && inner_.StartArray(); }
    bool EndArray(rapidjson::SizeType n) {
        --depth_;
        return inner_.EndArray(n);
    }

private:
    bool enter() {
        if (++depth_ > max_) {
            exceeded_ = true;
            return false;
        }
        return true;
    }
    Handler& inner_;
    std::size_t max_;
    std::size_t depth_ = 0;
    bool exceeded_ = false;
};

// Generator for Document::Populate (Document::Parse cannot take a custom handler): parses `text`
// (its exact bytes; a NUL inside is an error, not an end) iteratively, validating UTF-8.
struct BoundedParse {
    std::string_view text;
    std::size_t max_depth;
    rapidjson::ParseResult result{};
    bool too_deep = false;

    bool operator()(rapidjson::Document& doc) {
        constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
        rapidjson::MemoryStream stream(text.data(), text.size());
        rapidjson::Reader reader;
        DepthLimiter<rapidjson::Document> limiter(doc, max_depth);
        result = reader.Parse<kFlags>(stream, limiter);
        too_deep = limiter.exceeded();
        return !result.IsError();
    }
};

}  // namespace macp::plugin_json

#endif  // MACP_PLUGINS_COMMON_BOUNDED_JSON_HPP
