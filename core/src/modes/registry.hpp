// The set of modes a runtime can run (BEHAVIOR.md §9 DISC-*): the built-in modes plus extension
// modes registered at run time, which are persisted through the storage backend so that they and
// their sessions survive a restart (the reference loses them: DISC-13, STO-REC-9).
// Thread-safe; readers get shared pointers, so a mode stays alive for the message using it even
// if it is unregistered meanwhile. Readers take an immutable snapshot of the entries without
// locking; a change is made durable, then published as a new snapshot (issue #13).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "modes/mode.hpp"
#include "storage/storage_backend.hpp"
#include "util/result.hpp"

namespace macp::modes {

inline constexpr const char* kModeNamespace = "modes";

class ModeRegistry {
public:
    // Registers the built-in modes: the five standards-track modes and ext.multi_round.v1.
    // `storage` may be null (tests): registrations are then not persisted.
    explicit ModeRegistry(storage::StorageBackend* storage = nullptr);

    // Loads persisted registrations and promotions; call once at start-up, before recovery.
    Result<size_t, std::string> load();
    // Replaces every registration with what storage holds now (the built-ins plus the stored
    // ones): another process of a cluster changed the registry (docs/scale-out.md). Does not
    // call the on_change listener.
    Result<size_t, std::string> reload();

    [[nodiscard]] std::shared_ptr<const Mode> find(const std::string& name) const;
    // RPC-LM-1: standards-track, built-ins in their fixed order first, then promoted by name.
    [[nodiscard]] std::vector<ModeDescriptor> standards_track() const;
    // RPC-LEM-1: every other mode, sorted by name.
    [[nodiscard]] std::vector<ModeDescriptor> extensions() const;
    // RPC-INIT-6: every mode name, sorted by byte order.
    [[nodiscard]] std::vector<std::string> all_names() const;

    // RPC-REGX-1 / DISC-8: the error is the reference's free text.
    Result<void, std::string> register_extension(ModeDescriptor descriptor);
    // RPC-UNREGX-1 / DISC-10.
    Result<void, std::string> unregister_extension(const std::string& name);
    // RPC-PROMO-1 / DISC-11, DISC-12: returns the final name.
    Result<std::string, std::string> promote(const std::string& name, const std::string& new_name);

    // What a SessionStart records so that its session replays against the definition it started
    // under, whatever the registry holds later (issue #8.3): a built-in by its original name, an
    // extension by its whole descriptor and strictness.
    [[nodiscard]] static std::string definition_record(const Mode& mode);
    // The mode a definition record names; nullptr (with `error` set) if it cannot be rebuilt.
    [[nodiscard]] std::shared_ptr<const Mode> from_definition_record(const std::string& record,
                                                                     std::string& error) const;

    // Called after every successful change (WatchModeRegistry).
    void on_change(std::function<void()> listener) { listener_ = std::move(listener); }

private:
    Result<size_t, std::string> load_stored(bool fresh);
    struct Entry {
        std::string name;
        std::shared_ptr<const Mode> mode;
        bool builtin = true;
        bool standards = false;
        int order = 0;  // fixed order of the built-in standards-track modes
    };
    using Entries = std::vector<Entry>;
    static Entries builtins();
    [[nodiscard]] static Entry* find_entry(Entries& entries, const std::string& name);
    [[nodiscard]] ModeDescriptor descriptor_of(const Entry& e) const;
    [[nodiscard]] std::shared_ptr<const Entries> snapshot() const { return entries_.load(std::memory_order_acquire); }
    void publish(Entries next) {
        entries_.store(std::make_shared<const Entries>(std::move(next)), std::memory_order_release);
    }
    storage::Status persist(const Entry& e);
    void notify();

    storage::StorageBackend* storage_;
    std::atomic<std::shared_ptr<const Entries>> entries_;
    // Serializes writers only (check, durable write, publish); readers never take it.
    std::mutex write_mu_;
    std::function<void()> listener_;
};

std::string encode_descriptor(const ModeDescriptor& d, bool promoted);
std::optional<std::pair<ModeDescriptor, bool>> decode_descriptor(const std::string& json);

}  // namespace macp::modes
