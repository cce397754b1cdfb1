#include "registry_store.hpp"

#include <climits>

#include "fs_ops.hpp"
#include "layout.hpp"
#include "name_codec.hpp"

namespace macp::storage_file {
namespace {

// NAME_MAX is 255 on every Linux filesystem we target; a record also needs room for ".rec.tmp".
constexpr size_t kMaxName = NAME_MAX;

std::string encoded_or_throw(const char* what, const std::string& raw, size_t reserve) {
    if (raw.empty()) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT, std::string("empty record ") + what);
    }
    std::string enc = encode_name(raw);
    if (enc.size() + reserve > kMaxName) {
        throw sdk::Error(MACP_STATUS_INVALID_ARGUMENT,
                         std::string("record ") + what + " too long: " + std::to_string(enc.size()) +
                             " bytes once encoded as a file name, at most " + std::to_string(kMaxName - reserve));
    }
    return enc;
}

std::string record_file_name(const std::string& key) {
    static const size_t reserve =
        std::char_traits<char>::length(kRecordSuffix) + std::char_traits<char>::length(kTmpSuffix);
    return encoded_or_throw("key", key, reserve) + kRecordSuffix;
}

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string RegistryStore::ns_dir(const std::string& ns) const {
    return join(dir_, encoded_or_throw("namespace", ns, 0));
}

void RegistryStore::put(const std::string& ns, const std::string& key, std::string_view blob) {
    const std::string dir = ns_dir(ns);
    const std::string name = record_file_name(key);
    std::lock_guard<std::mutex> lock(put_mu_);
    make_dir_durable(disk_, dir_);  // created by the first record (see open_data_dir)
    make_dir_durable(disk_, dir);
    atomic_write(disk_, dir, name, blob);
}

void RegistryStore::remove(const std::string& ns, const std::string& key) {
    const std::string dir = ns_dir(ns);
    const std::string name = record_file_name(key);
    if (!exists(disk_, dir)) return;  // no namespace, no record
    remove_file(disk_, join(dir, name));
    // Synced even if the file was already gone: a retry after a failed sync must not report the
    // delete done before it is durable.
    sync_dir(disk_, dir);
}

void RegistryStore::list(const std::string& ns, const sdk::Emitter& out) const {
    const std::string dir = ns_dir(ns);
    const auto entries = list_dir(disk_, dir);
    if (!entries) return;
    const std::string_view suffix = kRecordSuffix;
    for (const DirEntry& e : *entries) {
        if (!e.is_file || !ends_with(e.name, suffix)) continue;
        const auto key = decode_name(std::string_view(e.name).substr(0, e.name.size() - suffix.size()));
        if (!key) continue;  // not a name we wrote
        // A concurrent delete may win between readdir and open; the record is simply gone.
        const auto blob = disk_.read_whole_file(join(dir, e.name));
        if (!blob) continue;
        out(*key);
        out(*blob);
    }
}

}  // namespace macp::storage_file
