#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to the unix socket
// named by NOTIFY_SOCKET. Under Type=notify the unit counts as started only after READY=1, so a
// dependent unit or `systemctl start` waits for the listening socket and finished recovery.
#include <string_view>

namespace macp::util {

// Sends `state` (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET. Returns true if it was sent,
// false when NOTIFY_SOCKET is unset (not started by systemd: nothing to do) or sending failed;
// readiness is advisory, so callers never fail because of it.
bool sd_notify(std::string_view state);

}  // namespace macp::util
