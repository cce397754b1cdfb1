// Header-only C++17 SDK for storage plugins.
//
// Write a class with these members (required; the compiler tells you what is missing):
//   explicit T(const macp::sdk::Config&);
//   void create_session_storage(const std::string& session_id);
//   void save_session(const std::string& session_id, std::string_view snapshot);
//   std::optional<std::string> load_session(const std::string& session_id);
//   void delete_session(const std::string& session_id);
//   void list_session_ids(const macp::sdk::Emitter& out);
//   void append_log_entry(const std::string& session_id, std::string_view record);
//   void load_log(const std::string& session_id, const macp::sdk::Emitter& out);
//   void put_record(const std::string& ns, const std::string& key, std::string_view blob);
//   void delete_record(const std::string& ns, const std::string& key);
//   void list_records(const std::string& ns, const macp::sdk::Emitter& out);  // key, blob, key...
// and any of these optional members (detected at compile time; absent = NULL in the vtable):
//   void append_log_batch(const macp_log_append* items, size_t n, macp_status* item_status);
//   void replace_log(const std::string& session_id, const std::vector<std::string_view>& records);
//   void flush();
//   std::string health();                        // returns the durability note
//   void recover(const macp::sdk::Emitter& repairs);
// then export it once:
//   MACP_STORAGE_PLUGIN(T, "file", "1.0.0", "one line", flags, keys_array)
// Throw macp::sdk::Error(MACP_STATUS_..., "message") to fail a call.
#ifndef MACP_PLUGIN_SDK_STORAGE_HPP
#define MACP_PLUGIN_SDK_STORAGE_HPP

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "macp/plugin/sdk/common.hpp"
#include "macp/plugin/storage.h"

namespace macp::sdk {
namespace detail {

template <class T, class = void>
struct has_append_log_batch : std::false_type {};
template <class T>
struct has_append_log_batch<
    T, std::void_t<decltype(std::declval<T&>().append_log_batch(static_cast<const macp_log_append*>(nullptr), size_t{},
                                                                static_cast<macp_status*>(nullptr)))>>
    : std::true_type {};
template <class T, class = void>
struct has_replace_log : std::false_type {};
template <class T>
struct has_replace_log<
    T, std::void_t<decltype(std::declval<T&>().replace_log(std::string{}, std::vector<std::string_view>{}))>>
    : std::true_type {};
template <class T, class = void>
struct has_flush : std::false_type {};
template <class T>
struct has_flush<T, std::void_t<decltype(std::declval<T&>().flush())>> : std::true_type {};
template <class T, class = void>
struct has_health : std::false_type {};
template <class T>
struct has_health<T, std::void_t<decltype(std::string(std::declval<T&>().health()))>> : std::true_type {};
template <class T, class = void>
struct has_recover : std::false_type {};
template <class T>
struct has_recover<T, std::void_t<decltype(std::declval<T&>().recover(std::declval<const Emitter&>()))>>
    : std::true_type {};

inline std::string_view view(const uint8_t* p, size_t n) {
    return {reinterpret_cast<const char*>(p), n};
}

template <class T>
struct StorageTrampolines {
    static T& self(void* i) { return *static_cast<T*>(i); }

    static macp_status create_session_storage(void* i, const char* sid, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).create_session_storage(sid);
            return MACP_STATUS_OK;
        });
    }
    static macp_status save_session(void* i, const char* sid, const uint8_t* p, size_t n,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).save_session(sid, view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status load_session(void* i, const char* sid, const macp_emitter* out,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&]() -> macp_status {
            auto snap = self(i).load_session(sid);
            if (!snap) return MACP_STATUS_NOT_FOUND;
            const Emitter emitter(out);
            emitter(*snap);
            return MACP_STATUS_OK;
        });
    }
    static macp_status delete_session(void* i, const char* sid, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).delete_session(sid);
            return MACP_STATUS_OK;
        });
    }
    static macp_status list_session_ids(void* i, const macp_emitter* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).list_session_ids(Emitter(out));
            return MACP_STATUS_OK;
        });
    }
    static macp_status append_log_entry(void* i, const char* sid, const uint8_t* p, size_t n,
                                        const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).append_log_entry(sid, view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status load_log(void* i, const char* sid, const macp_emitter* out,
                                const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).load_log(sid, Emitter(out));
            return MACP_STATUS_OK;
        });
    }
    static macp_status put_record(void* i, const char* ns, const char* key, const uint8_t* p, size_t n,
                                  const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).put_record(ns, key, view(p, n));
            return MACP_STATUS_OK;
        });
    }
    static macp_status delete_record(void* i, const char* ns, const char* key, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).delete_record(ns, key);
            return MACP_STATUS_OK;
        });
    }
    static macp_status list_records(void* i, const char* ns, const macp_emitter* out,
                                    const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).list_records(ns, Emitter(out));
            return MACP_STATUS_OK;
        });
    }
    static macp_status append_log_batch(void* i, const macp_log_append* items, size_t n, macp_status* st,
                                        const macp_call_context* c) noexcept {
        return guarded(c, [&]() -> macp_status {
            self(i).append_log_batch(items, n, st);
            for (size_t k = 0; k < n; ++k) {
                if (st[k] != MACP_STATUS_OK) return st[k];
            }
            return MACP_STATUS_OK;
        });
    }
    static macp_status replace_log(void* i, const char* sid, const uint8_t* const* recs, const size_t* lens, size_t n,
                                   const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            std::vector<std::string_view> v;
            v.reserve(n);
            for (size_t k = 0; k < n; ++k) v.push_back(view(recs[k], lens[k]));
            self(i).replace_log(sid, v);
            return MACP_STATUS_OK;
        });
    }
    static macp_status flush(void* i, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).flush();
            return MACP_STATUS_OK;
        });
    }
    static macp_status health(void* i, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            CallContext(c).note(self(i).health());
            return MACP_STATUS_OK;
        });
    }
    static macp_status recover(void* i, const macp_emitter* out, const macp_call_context* c) noexcept {
        return guarded(c, [&] {
            self(i).recover(Emitter(out));
            return MACP_STATUS_OK;
        });
    }
};

}  // namespace detail

template <class T>
constexpr macp_storage_vtable make_storage_vtable() {
    using Tr = detail::StorageTrampolines<T>;
    macp_storage_vtable v{};
    v.struct_size = sizeof(macp_storage_vtable);
    v.create = &detail::create_instance<T>;
    v.destroy = &detail::destroy_instance<T>;
    v.create_session_storage = &Tr::create_session_storage;
    v.save_session = &Tr::save_session;
    v.load_session = &Tr::load_session;
    v.delete_session = &Tr::delete_session;
    v.list_session_ids = &Tr::list_session_ids;
    v.append_log_entry = &Tr::append_log_entry;
    v.load_log = &Tr::load_log;
    v.put_record = &Tr::put_record;
    v.delete_record = &Tr::delete_record;
    v.list_records = &Tr::list_records;
    if constexpr (detail::has_append_log_batch<T>::value) v.append_log_batch = &Tr::append_log_batch;
    if constexpr (detail::has_replace_log<T>::value) v.replace_log = &Tr::replace_log;
    if constexpr (detail::has_flush<T>::value) v.flush = &Tr::flush;
    if constexpr (detail::has_health<T>::value) v.health = &Tr::health;
    if constexpr (detail::has_recover<T>::value) v.recover = &Tr::recover;
    return v;
}

}  // namespace macp::sdk

// Exports `macp_plugin_entry_v1` for storage plugin class T. KEYS is a static array of
// macp_config_key (use macp::sdk::config_key); FLAGS is MACP_PLUGIN_FLAG_* or 0.
#define MACP_STORAGE_PLUGIN(T, NAME, VERSION, DESCRIPTION, FLAGS, KEYS)                      \
    extern "C" MACP_PLUGIN_EXPORT const macp_plugin_descriptor* macp_plugin_entry_v1(void) { \
        static const macp_storage_vtable vtable = macp::sdk::make_storage_vtable<T>();       \
        static const macp_plugin_descriptor descriptor = {sizeof(macp_plugin_descriptor),    \
                                                          MACP_PLUGIN_ABI_MAJOR,             \
                                                          MACP_PLUGIN_ABI_MINOR,             \
                                                          MACP_PLUGIN_KIND_STORAGE,          \
                                                          (FLAGS),                           \
                                                          (NAME),                            \
                                                          (VERSION),                         \
                                                          (DESCRIPTION),                     \
                                                          (KEYS),                            \
                                                          sizeof(KEYS) / sizeof((KEYS)[0]),  \
                                                          &vtable};                          \
        return &descriptor;                                                                  \
    }

#endif  // MACP_PLUGIN_SDK_STORAGE_HPP
