// append_log_batch: the group commit that lets many sessions share one round of syncs.
#include <sys/types.h>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "file_storage.hpp"
#include "journal_frame.hpp"
#include "layout.hpp"
#include "log_file.hpp"

namespace macp::storage_file {
namespace {

// One session's part of the batch.
struct Chain {
    std::string session_id;
    std::shared_ptr<LogHandle> log;    // null until the first item of the chain is written
    off_t start_size = 0;              // where to roll back to if the shared sync fails
    std::vector<size_t> written;       // items appended and waiting for the sync
    std::vector<off_t> offsets;        // where each of them starts in the log (the journal's frames)
    std::optional<sdk::Error> broken;  // set once an item failed: later items must not leave a gap
};

// Remembers the first failure so the call can report one message with the per-item statuses.
class FailureNote {
public:
    void record(macp_status* status_slot, const sdk::Error& e) {
        *status_slot = e.status();
        if (!first_) first_ = e;
    }
    // Per-item failures are an answer, not an exception: returning normally lets the SDK report
    // MACP_STATUS_PARTIAL, so the items that did become durable are acknowledged (storage.h).
    void report(const sdk::CallContext& cc) const {
        if (first_) cc.note(first_->what());
    }

private:
    std::optional<sdk::Error> first_;
};

}  // namespace

void FileStorage::append_log_batch(const std::vector<sdk::LogAppend>& items, std::vector<macp_status>& item_status,
                                   const sdk::CallContext& cc) {
    const size_t count = items.size();
    item_status.assign(count, MACP_STATUS_INTERNAL);
    std::vector<Chain> chains;
    std::unordered_map<std::string, size_t> chain_of;
    FailureNote failures;

    // A stopped store fails the call as a whole (nothing was attempted).
    disk_.check_writable();

    // Phase 1: write every item, in order, without syncing.
    for (size_t i = 0; i < count; ++i) {
        const std::string session_id(items[i].session_id);
        auto [pos, inserted] = chain_of.try_emplace(session_id, chains.size());
        if (inserted) chains.push_back(Chain{session_id, nullptr, 0, {}, {}, std::nullopt});
        Chain& chain = chains[pos->second];
        if (chain.broken) {
            failures.record(&item_status[i], sdk::Error(chain.broken->status(),
                                                        "not appended: an earlier record of session " + session_id +
                                                            " in this batch failed: " + chain.broken->what()));
            continue;
        }
        try {
            validate_session_id(session_id);
            const std::string line = frame_record(items[i].record);
            if (!chain.log) {
                chain.log = log_handle(session_id);
                chain.start_size = chain.log->size;
            }
            const off_t before = chain.log->size;
            try {
                append_line(disk_, *chain.log, line);
            } catch (...) {
                roll_back(disk_, *chain.log, before);
                logs_.invalidate(session_id);
                throw;
            }
            chain.written.push_back(i);
            chain.offsets.push_back(before);
        } catch (const sdk::Error& e) {
            chain.broken = e;
            failures.record(&item_status[i], e);
        } catch (const std::exception& e) {
            chain.broken = sdk::Error(MACP_STATUS_INTERNAL, e.what());
            failures.record(&item_status[i], *chain.broken);
        }
    }

    // A chain whose sync failed (or never ran because the store stopped): its items fail and are
    // rolled back so they do not reappear while this process still runs.
    auto fail_chain = [&](Chain& chain, const sdk::Error& e) {
        roll_back(disk_, *chain.log, chain.start_size);
        logs_.invalidate(chain.session_id);
        for (const size_t i : chain.written) failures.record(&item_status[i], e);
    };

    size_t dirty = 0;
    for (const Chain& chain : chains) {
        if (!chain.written.empty()) ++dirty;
    }
    if (dirty == 0) {
        failures.report(cc);
        return;
    }

    // Phase 2 with the journal: every written item becomes one frame, in batch order (so each
    // session's frames are in its order), and one write + one fdatasync of the journal makes
    // them all durable. A failure fails every written item: none of their frames can be replayed.
    if (journal_.enabled()) {
        std::vector<Frame> frames;
        std::vector<std::pair<size_t, off_t>> at(count, {chains.size(), 0});  // item -> (chain, offset)
        for (size_t c = 0; c < chains.size(); ++c) {
            for (size_t k = 0; k < chains[c].written.size(); ++k) at[chains[c].written[k]] = {c, chains[c].offsets[k]};
        }
        frames.reserve(count);
        for (size_t i = 0; i < count; ++i) {
            if (at[i].first == chains.size()) continue;
            frames.push_back(Frame{FrameKind::append, items[i].session_id, at[i].second, items[i].record});
        }
        try {
            journal_.commit(frames);
        } catch (const sdk::Error& e) {
            for (Chain& chain : chains) {
                if (!chain.written.empty()) fail_chain(chain, e);
            }
            failures.report(cc);
            return;
        }
        for (const Chain& chain : chains) {
            for (const size_t i : chain.written) item_status[i] = MACP_STATUS_OK;
        }
        failures.report(cc);
        return;
    }

    // Phase 2a: when several sessions' logs were written, one syncfs() makes all of them durable
    // with a single journal commit and cache flush, instead of one fdatasync per file (Linux
    // reports writeback errors through it since 5.8). If it fails, the store stops and every
    // written item fails: falling back to per-file syncs would be exactly the retry that can
    // report success for data the kernel already dropped.
    if (dirty > 1) {
        bool synced = false;
        try {
            synced = disk_.sync_filesystem(root_fd_.get(), "the filesystem of " + layout_.root());
        } catch (const sdk::Error& e) {
            for (Chain& chain : chains) {
                if (!chain.written.empty()) fail_chain(chain, e);
            }
            failures.report(cc);
            return;
        }
        if (synced) {
            for (const Chain& chain : chains) {
                for (const size_t i : chain.written) item_status[i] = MACP_STATUS_OK;
            }
            failures.report(cc);
            return;
        }
        // No syncfs on this system (nothing was flushed yet): per-file syncs below.
    }
    // Phase 2b: one sync per file makes every written item of that session durable at once. After
    // a failure the store has stopped, so the remaining chains fail without syncing.
    for (Chain& chain : chains) {
        if (chain.written.empty()) continue;
        try {
            disk_.sync_data(chain.log->fd.get(), chain.log->path);
            for (const size_t i : chain.written) item_status[i] = MACP_STATUS_OK;
        } catch (const sdk::Error& e) {
            fail_chain(chain, e);
        }
    }
    failures.report(cc);
}

}  // namespace macp::storage_file
