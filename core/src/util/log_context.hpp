// Fields attached to the log lines a thread writes while a LogContext lives (session_id, sender,
// code, ...): the JSON log format writes them as fields of their own, so a log pipeline can
// filter on them without parsing messages. Contexts nest; an inner field hides an outer one of
// the same name.
//
// THREADING: per thread (spdlog formats on the logging thread; the runtime's loggers are
// synchronous). A context must be destroyed on the thread that created it, in reverse order.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace macp::util {

class LogContext {
public:
    using Field = std::pair<std::string, std::string>;
    LogContext(std::initializer_list<Field> fields);
    ~LogContext();
    LogContext(const LogContext&) = delete;
    LogContext& operator=(const LogContext&) = delete;

    // Calls f(name, value) for every field in effect on this thread, innermost first.
    template <class F>
    static void for_each(F&& f) {
        for (const LogContext* c = current(); c != nullptr; c = c->outer_) {
            for (const auto& [name, value] : c->fields_) f(name, value);
        }
    }

private:
    static const LogContext* current();
    std::vector<Field> fields_;
    const LogContext* outer_;
};

}  // namespace macp::util
