// Optional-operation bits and the compile-time checks that make a misspelled or mis-typed
// optional member a compile error instead of a silently missing operation.
//
// A plugin class lists the optional operations it implements:
//   static constexpr std::uint32_t macp_optional_ops = macp::sdk::op::health | macp::sdk::op::flush;
// and the SDK then requires, at compile time, that
//   - every listed operation has a member with the documented signature, and
//   - every member named like an optional operation is listed (so `health` with a wrong
//     signature, or `helth` listed as health, cannot slip through unnoticed).
#ifndef MACP_PLUGIN_SDK_OPS_HPP
#define MACP_PLUGIN_SDK_OPS_HPP

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "macp/plugin/sdk/common.hpp"

namespace macp::sdk {

namespace op {
inline constexpr std::uint32_t append_log_batch = 1u << 0;  // storage
inline constexpr std::uint32_t replace_log = 1u << 1;       // storage
inline constexpr std::uint32_t flush = 1u << 2;             // storage
inline constexpr std::uint32_t health = 1u << 3;            // storage, auth
inline constexpr std::uint32_t recover = 1u << 4;           // storage
inline constexpr std::uint32_t check_config = 1u << 5;      // storage, auth (static member)
inline constexpr std::uint32_t scan_sessions = 1u << 6;     // storage (ABI 1.1)
inline constexpr std::uint32_t leases = 1u << 7;            // storage (ABI 1.2): acquire_lease + release_lease
inline constexpr std::uint32_t renew_leases = 1u << 8;      // storage (ABI 1.2), only with leases
inline constexpr std::uint32_t events = 1u << 9;            // storage (ABI 1.2): publish/subscribe_events
}  // namespace op

namespace detail {

// NAME_named<T>: T has a non-overloaded member called NAME (whatever its signature).
#define MACP_SDK_NAMED_TRAIT(NAME)            \
    template <class T, class = void>          \
    struct NAME##_named : std::false_type {}; \
    template <class T>                        \
    struct NAME##_named<T, std::void_t<decltype(&T::NAME)>> : std::true_type {};

// For member NAME: NAME_named<T> (a non-overloaded member of that name exists), NAME_plain<T>
// (callable with the documented arguments) and NAME_ctx<T> (callable with them plus the context).
#define MACP_SDK_OP_TRAITS(NAME, ...)                                                                                  \
    MACP_SDK_NAMED_TRAIT(NAME)                                                                                         \
    template <class T, class = void>                                                                                   \
    struct NAME##_plain : std::false_type {};                                                                          \
    template <class T>                                                                                                 \
    struct NAME##_plain<T, std::void_t<decltype(std::declval<T&>().NAME(__VA_ARGS__))>> : std::true_type {};           \
    template <class T, class = void>                                                                                   \
    struct NAME##_ctx : std::false_type {};                                                                            \
    template <class T>                                                                                                 \
    struct NAME##_ctx<T,                                                                                               \
                      std::void_t<decltype(std::declval<T&>().NAME(__VA_ARGS__, std::declval<const CallContext&>()))>> \
        : std::true_type {};

// The same for members without arguments (flush, health).
#define MACP_SDK_OP_TRAITS0(NAME)                                                                            \
    MACP_SDK_NAMED_TRAIT(NAME)                                                                               \
    template <class T, class = void>                                                                         \
    struct NAME##_plain : std::false_type {};                                                                \
    template <class T>                                                                                       \
    struct NAME##_plain<T, std::void_t<decltype(std::declval<T&>().NAME())>> : std::true_type {};            \
    template <class T, class = void>                                                                         \
    struct NAME##_ctx : std::false_type {};                                                                  \
    template <class T>                                                                                       \
    struct NAME##_ctx<T, std::void_t<decltype(std::declval<T&>().NAME(std::declval<const CallContext&>()))>> \
        : std::true_type {};

// Calls obj.NAME(args..., cc) when that form exists, else obj.NAME(args...) (at least one argument).
#define MACP_SDK_INVOKE(T, obj, NAME, cc, ...)                     \
    [&]() -> decltype(auto) {                                      \
        if constexpr (::macp::sdk::detail::NAME##_ctx<T>::value) { \
            return (obj).NAME(__VA_ARGS__, cc);                    \
        } else {                                                   \
            return (obj).NAME(__VA_ARGS__);                        \
        }                                                          \
    }()

template <class T>
inline constexpr bool declares(std::uint32_t bit) {
    return (declared_ops<T>::value & bit) != 0;
}

// Optional members both plugin kinds may have.
MACP_SDK_OP_TRAITS0(health)

template <class T, class = void>
struct health_returns_string : std::false_type {};
template <class T>
struct health_returns_string<T, std::enable_if_t<health_plain<T>::value>>
    : std::is_convertible<decltype(std::declval<T&>().health()), std::string> {};
template <class T>
struct health_returns_string<T, std::enable_if_t<!health_plain<T>::value && health_ctx<T>::value>>
    : std::is_convertible<decltype(std::declval<T&>().health(std::declval<const CallContext&>())), std::string> {};

MACP_SDK_NAMED_TRAIT(check_config)

// Inside make_*_vtable<T>: a listed optional operation must exist with the documented signature,
// and a member named like one must be listed.
#define MACP_SDK_CHECK_OPTIONAL(NAME, SIGNATURE)                                                                       \
    static_assert(!declares<T>(op::NAME) || NAME##_plain<T>::value || NAME##_ctx<T>::value,                            \
                  "macp plugin: macp_optional_ops lists op::" #NAME " but the class has no member `" SIGNATURE         \
                  "` (optionally with a trailing const macp::sdk::CallContext&)");                                     \
    static_assert(declares<T>(op::NAME) || !NAME##_named<T>::value,                                                    \
                  "macp plugin: the class has a member named " #NAME " but macp_optional_ops does not list op::" #NAME \
                  "; list it (and match `" SIGNATURE "`) or rename the member")

#define MACP_SDK_CHECK_CHECK_CONFIG()                                                                      \
    static_assert(!declares<T>(op::check_config) || has_check_config<T>::value,                            \
                  "macp plugin: macp_optional_ops lists op::check_config but the class has no member "     \
                  "`static void check_config(const macp::sdk::Config&)`");                                 \
    static_assert(declares<T>(op::check_config) || !check_config_named<T>::value,                          \
                  "macp plugin: the class has a member named check_config but macp_optional_ops does not " \
                  "list op::check_config; list it (and match `static void check_config(const "             \
                  "macp::sdk::Config&)`) or rename the member")

}  // namespace detail
}  // namespace macp::sdk

#endif  // MACP_PLUGIN_SDK_OPS_HPP
