// Helpers shared by the storage-file tests: open a FileStorage on any Fs and call it without the
// C vtable in between.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "file_storage.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file::testing {

// The data directory and two sessions the fault and journal tests use.
inline const std::string kData = "/data";
inline const std::string kA = "session-aaaaaaaaaaaaaaaaaaaaaa";
inline const std::string kB = "session-bbbbbbbbbbbbbbbbbbbbbb";

inline std::string log_path(const std::string& sid) {
    return kData + "/sessions/" + sid + "/log.jsonl";
}

// Everything an operation emits, as strings.
template <class Fn>
std::vector<std::string> collect(Fn&& fn) {
    std::vector<std::string> out;
    const macp_emitter raw{sizeof(macp_emitter), &out, [](void* ctx, const uint8_t* data, size_t len) {
                               static_cast<std::vector<std::string>*>(ctx)->emplace_back(
                                   reinterpret_cast<const char*>(data), len);
                           }};
    fn(sdk::Emitter(&raw));
    return out;
}

// The journal as the plugin runs it (MACP_FILE_JOURNAL=on, background checkpoints) unless
// `journal` says otherwise.
inline std::unique_ptr<FileStorage> open_store(std::shared_ptr<Fs> fs, const std::string& data_dir,
                                               std::optional<JournalOptions> journal = std::nullopt) {
    return std::make_unique<FileStorage>(sdk::Config({{FileStorage::kDataDirKey, data_dir}}), std::move(fs), journal);
}

// The store without its journal: every commit syncs the logs themselves.
inline JournalOptions no_journal() {
    JournalOptions o;
    o.enabled = false;
    return o;
}

// A journal of tiny segments whose checkpoints run inline, so that a workload's syscalls, and
// with them its crash points, are the same on every run.
inline JournalOptions inline_journal(size_t segment_bytes) {
    JournalOptions o;
    o.segment_bytes = segment_bytes;
    o.background = false;
    return o;
}

inline std::vector<std::string> load_log(FileStorage& s, const std::string& session_id) {
    return collect([&](const sdk::Emitter& out) { s.load_log(session_id, out); });
}

inline std::vector<std::string> session_ids(FileStorage& s) {
    return collect([&](const sdk::Emitter& out) { s.list_session_ids(out); });
}

inline std::map<std::string, std::string> list_records(FileStorage& s, const std::string& ns) {
    const auto items = collect([&](const sdk::Emitter& out) { s.list_records(ns, out); });
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < items.size(); i += 2) out[items[i]] = items[i + 1];
    return out;
}

inline std::vector<std::string> recover(FileStorage& s) {
    return collect([&](const sdk::Emitter& out) { s.recover(out); });
}

// Status and message of one call, for assertions on failures.
struct Outcome {
    macp_status status = MACP_STATUS_OK;
    std::string message;
    [[nodiscard]] bool ok() const { return status == MACP_STATUS_OK; }
};

template <class Fn>
Outcome attempt(Fn&& fn) {
    try {
        fn();
        return {};
    } catch (const sdk::Error& e) {
        return {e.status(), e.what()};
    }
}

// append_log_batch with (session, record) pairs, as the SDK drives it; returns the per-item
// statuses. `call` gets what the SDK would return: the exception's status, else OK when every
// item is OK and PARTIAL otherwise, with the message noted through the call context.
inline std::vector<macp_status> append_batch(FileStorage& s,
                                             const std::vector<std::pair<std::string, std::string>>& items,
                                             Outcome* call = nullptr) {
    std::vector<sdk::LogAppend> batch;
    batch.reserve(items.size());
    for (const auto& [sid, rec] : items) batch.push_back({sid, rec});
    std::string noted;
    macp_error_sink sink{sizeof(macp_error_sink), &noted,
                         [](void* ctx, const char* m, size_t n) { static_cast<std::string*>(ctx)->assign(m, n); }};
    macp_call_context ctx{sizeof(macp_call_context), &sink, 0, 0, nullptr};
    std::vector<macp_status> status(items.size(), MACP_STATUS_INTERNAL);
    Outcome o = attempt([&] { s.append_log_batch(batch, status, sdk::CallContext(&ctx)); });
    if (o.ok()) {
        for (const macp_status st : status) {
            if (st != MACP_STATUS_OK) o.status = MACP_STATUS_PARTIAL;
        }
        o.message = noted;
    } else {
        status.assign(items.size(), o.status);  // a throw fails every item (SDK rule)
    }
    if (call != nullptr) *call = o;
    return status;
}

}  // namespace macp::storage_file::testing
