// Start-up repair of what interrupted writes leave behind (storage.h `recover`).
#pragma once

#include "disk.hpp"
#include "layout.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::storage_file {

// Removes leftover *.tmp files (an atomic write that never reached its rename) in the data
// directory, every session directory and every registry namespace, and truncates every log
// whose final line is torn. Emits one line per repair, with paths relative to the data dir.
void recover_data_dir(Disk& disk, const Layout& layout, const sdk::Emitter& repairs);

}  // namespace macp::storage_file
