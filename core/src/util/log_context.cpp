#include "util/log_context.hpp"

namespace macp::util {

namespace {
thread_local const LogContext* innermost = nullptr;
}

LogContext::LogContext(std::initializer_list<Field> fields) : fields_(fields), outer_(innermost) {
    innermost = this;
}

LogContext::~LogContext() {
    innermost = outer_;
}

const LogContext* LogContext::current() {
    return innermost;
}

}  // namespace macp::util
