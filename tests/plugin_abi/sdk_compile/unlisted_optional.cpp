// Has flush() with a wrong signature and does not list it: must not compile (otherwise the op
// would silently be missing).
#include "base.hpp"

class Store : public BaseStore {
public:
    using BaseStore::BaseStore;
    void flush(bool everything) { (void)everything; }
};

MACP_STORAGE_PLUGIN(Store, "unlisted", "0.0.1", "compile check", 0, nullptr)
