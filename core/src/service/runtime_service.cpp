#include "service/runtime_service.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <thread>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "kernel/session_id.hpp"
#include "service/convert.hpp"
#include "util/echo.hpp"
#include "util/json.hpp"

namespace macp::service {

namespace {

const grpc::Status kUnauthenticated(grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated");  // RPC-GEN-6

// Runs a handler body, turning any escaped exception into INTERNAL instead of crashing.
template <class Fn>
grpc::Status catching(const char* rpc, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::exception& e) {
        spdlog::error("{} failed: {}", rpc, e.what());
    } catch (...) {
        spdlog::error("{} failed with an unknown exception", rpc);
    }
    return {grpc::StatusCode::INTERNAL, "internal error"};
}

// A synchronous unary handler's body, run while it holds one of its connection's in-flight
// slots (MACP_CONCURRENCY_LIMIT_PER_CONNECTION); without one it answers RESOURCE_EXHAUSTED.
template <class Fn>
grpc::Status guarded(ConnectionLimits& limits, grpc::ServerContext* ctx, const char* rpc, Fn&& fn) noexcept {
    return catching(rpc, [&] {
        auto permit = limits.acquire(ctx->peer());
        if (!permit) return permit.error();
        return fn();
    });
}

grpc::Status to_status(const kernel::RpcError& e) {
    switch (e.code) {
        case kernel::RpcError::NotFound: return {grpc::StatusCode::NOT_FOUND, util::bounded_message(e.message)};
        case kernel::RpcError::PermissionDenied:
            return {grpc::StatusCode::PERMISSION_DENIED, util::bounded_message(e.message)};
        case kernel::RpcError::Unauthenticated: return kUnauthenticated;
        case kernel::RpcError::DeadlineExceeded:
            return {grpc::StatusCode::DEADLINE_EXCEEDED, util::bounded_message(e.message)};
    }
    return {grpc::StatusCode::INTERNAL, util::bounded_message(e.message)};
}

constexpr int32_t kMaxPageSize = 1000;

}  // namespace

// Cluster mode (docs/scale-out.md): the synchronous RPCs about one session run where it is served.
// A caller's call is routed, and routed again while the owner moves or cannot be reached, until
// MACP_REQUEST_TIMEOUT_SECS; a peer's forward is answered here or UNAVAILABLE (its origin retries).
template <class Local, class Remote>
grpc::Status RuntimeService::routed(grpc::ServerContext* ctx, const std::string& session_id, Local&& local,
                                    Remote&& remote) {
    // A malformed id names no session anywhere: answered here as by one process, without a lease.
    if (info_.cluster == nullptr || !kernel::valid_session_id(session_id) ||
        info_.cluster->ownership.owns(session_id)) {
        return local();
    }
    return catching("routing", [&] { return route_and_call(ctx, session_id, local, remote); });
}

template <class Local, class Remote>
grpc::Status RuntimeService::route_and_call(grpc::ServerContext* ctx, const std::string& session_id, Local& local,
                                            Remote& remote) {
    // Unauthenticated callers are answered without touching any lease.
    if (!kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()))) return kUnauthenticated;
    const bool from_peer = is_forwarded(*ctx);
    const auto md = from_peer ? std::vector<std::pair<std::string, std::string>>{} : forwardable_metadata(*ctx);
    const auto expires = std::chrono::system_clock::now() + std::chrono::seconds(info_.request_timeout_secs);
    std::string why;
    while (std::chrono::system_clock::now() < expires && !ctx->IsCancelled()) {
        auto route = info_.cluster->ownership.route(session_id);
        if (route.kind == cluster::Route::Local) return local();
        if (route.kind == cluster::Route::Remote) {
            if (from_peer) return {grpc::StatusCode::UNAVAILABLE, "session is served by " + route.owner};
            auto client = forwarding_context(md, info_.cluster->ownership.options().node_id, expires);
            info_.cluster->forwarded_unary.fetch_add(1, std::memory_order_relaxed);
            auto status = remote(info_.cluster->peers.stub(route.address), client.get());
            if (!reroute_after(status)) return status;
            info_.cluster->ownership.forget_remote(session_id);
            why = status.error_message();
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            continue;
        }
        if (from_peer || route.store_failed) {
            return {grpc::StatusCode::UNAVAILABLE, util::bounded_message(route.detail)};
        }
        why = route.detail;
        std::this_thread::sleep_for(
            std::clamp(route.retry_after, std::chrono::milliseconds(50), std::chrono::milliseconds(500)));
    }
    return {grpc::StatusCode::UNAVAILABLE, util::bounded_message("no process of the cluster could answer: " + why)};
}

grpc::Status RuntimeService::Initialize(grpc::ServerContext* ctx, const macp::v1::InitializeRequest* req,
                                        macp::v1::InitializeResponse* resp) {
    return guarded(connection_limits_, ctx, "Initialize", [&] {
        if (req->supported_protocol_versions().empty()) {  // RPC-INIT-1
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                "INVALID_REQUEST: supported_protocol_versions must not be empty");
        }
        const auto& v = req->supported_protocol_versions();
        if (std::find(v.begin(), v.end(), "1.0") == v.end()) {  // RPC-INIT-2
            return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "UNSUPPORTED_PROTOCOL_VERSION: no mutually supported protocol version");
        }
        resp->set_selected_protocol_version("1.0");  // RPC-INIT-3
        auto* info = resp->mutable_runtime_info();   // RPC-INIT-4
        info->set_name("macp-runtime");
        info->set_title("MACP Runtime (C++)");
        info->set_version(info_.version);
        info->set_description("Production runtime for the Multi-Agent Coordination Protocol");
        auto* caps = resp->mutable_capabilities();  // RPC-INIT-5 as of 0.6
        caps->mutable_sessions()->set_stream(true);
        caps->mutable_sessions()->set_list_sessions(true);
        caps->mutable_sessions()->set_watch_sessions(true);
        caps->mutable_cancellation()->set_cancel_session(true);
        caps->mutable_progress()->set_progress(true);
        caps->mutable_manifest()->set_get_manifest(true);
        caps->mutable_mode_registry()->set_list_modes(true);
        caps->mutable_mode_registry()->set_list_changed(true);
        caps->mutable_roots()->set_list_roots(true);
        caps->mutable_roots()->set_list_changed(false);
        caps->mutable_policy_registry()->set_register_policy(!policies_.read_only());  // RPC-INIT-5 (0.6)
        caps->mutable_policy_registry()->set_list_policies(true);
        caps->mutable_policy_registry()->set_list_changed(true);
        (*caps->mutable_experimental()->mutable_features())["ext_mode_lifecycle"] = "true";
        for (const auto& m : kernel_.modes().all_names()) resp->add_supported_modes(m);  // RPC-INIT-6
        // RPC-INIT-7 / Q-22: unlike the reference we do not advertise an x-macp-agent-id header.
        resp->set_instructions(
            "Authenticate every call with 'Authorization: Bearer <token>' (or 'x-macp-token: <token>'). "
            "Send envelopes with the unary Send RPC; the sender is derived from the credential.");
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::GetSession(grpc::ServerContext* ctx, const macp::v1::GetSessionRequest* req,
                                        macp::v1::GetSessionResponse* resp) {
    return guarded(connection_limits_, ctx, "GetSession", [&] {
        return routed(
            ctx, req->session_id(),
            [&] {
                auto id = kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()));
                if (!id) return kUnauthenticated;
                auto s = kernel_.get_session(*id, req->session_id(), wait_limit());
                if (!s) return to_status(s.error());
                to_proto(*s, resp->mutable_metadata());
                return grpc::Status::OK;
            },
            [&](macp::v1::MACPRuntimeService::Stub& owner, grpc::ClientContext* c) {
                return owner.GetSession(c, *req, resp);
            });
    });
}

grpc::Status RuntimeService::ListSessions(grpc::ServerContext* ctx, const macp::v1::ListSessionsRequest* req,
                                          macp::v1::ListSessionsResponse* resp) {
    return guarded(connection_limits_, ctx, "ListSessions", [&] {
        auto id = kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()));
        if (!id) return kUnauthenticated;  // RPC-GEN-4
        auto sessions = kernel_.list_sessions();
        if (info_.cluster != nullptr) {
            // The other processes' sessions as of their last snapshot (docs/scale-out.md).
            std::unordered_set<std::string> here;
            for (const auto& s : sessions) here.insert(s.session_id);
            auto others = kernel_.stored_sessions_except(here);
            sessions.insert(sessions.end(), std::make_move_iterator(others.begin()),
                            std::make_move_iterator(others.end()));
        }
        // Stable order so that page tokens (proto 0.1.6) resume exactly where the last page ended.
        std::sort(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) {
            return a.started_at_ms != b.started_at_ms ? a.started_at_ms < b.started_at_ms : a.session_id < b.session_id;
        });
        if (req->page_size() < 0) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must be >= 0");
        size_t start = 0;
        if (!req->page_token().empty()) {
            std::string token;
            auto colon = std::string::npos;
            if (util::base64_decode(req->page_token(), token)) colon = token.find(':');
            if (colon == std::string::npos)
                return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed page_token");
            int64_t at = 0;
            try {
                at = std::stoll(token.substr(0, colon));
            } catch (const std::exception&) {
                return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "malformed page_token");
            }
            const std::string last_id = token.substr(colon + 1);
            while (start < sessions.size() &&
                   (sessions[start].started_at_ms < at ||
                    (sessions[start].started_at_ms == at && sessions[start].session_id <= last_id))) {
                ++start;
            }
        }
        // page_size 0 keeps the pre-0.1.6 behaviour (everything in one response) as far as one
        // response can carry: a page also ends before it would pass the server's send limit, with
        // a next_page_token like any page, so the call never fails for size (issue #15).
        size_t limit = req->page_size() == 0 ? sessions.size() : std::min<size_t>(req->page_size(), kMaxPageSize);
        size_t end = std::min(sessions.size(), start + limit);
        constexpr int64_t kRoom = 4096;  // the page token and the field framing
        const int64_t budget = std::max<int64_t>(info_.max_response_bytes - kRoom, 1);
        int64_t used = 0;
        for (size_t i = start; i < end; ++i) {
            macp::v1::SessionMetadata m;
            to_proto(sessions[i], &m);
            const auto bytes = static_cast<int64_t>(m.ByteSizeLong()) + 16;
            if (i > start && used + bytes > budget) {
                end = i;
                break;
            }
            used += bytes;
            *resp->add_sessions() = std::move(m);
        }
        if (end < sessions.size() && end > start) {
            const auto& last = sessions[end - 1];
            resp->set_next_page_token(util::base64_encode(std::to_string(last.started_at_ms) + ":" + last.session_id));
        }
        return grpc::Status::OK;
    });
}

namespace {
template <class Resp, class Fn>
grpc::Status control_rpc(const char* name, ConnectionLimits& limits, kernel::Kernel& k, grpc::ServerContext* ctx,
                         Resp* resp, Fn&& fn) {
    return guarded(limits, ctx, name, [&] {
        auto id = k.authenticate(metadata_of(*ctx, k.needs_peer_identity()));
        if (!id) return kUnauthenticated;
        auto ack = fn(*id);
        if (!ack) return to_status(ack.error());
        to_proto(*ack, resp->mutable_ack());
        return grpc::Status::OK;
    });
}
}  // namespace

grpc::Status RuntimeService::CancelSession(grpc::ServerContext* ctx, const macp::v1::CancelSessionRequest* req,
                                           macp::v1::CancelSessionResponse* resp) {
    return routed(
        ctx, req->session_id(),
        [&] {
            return control_rpc("CancelSession", connection_limits_, kernel_, ctx, resp, [&](const auth::Identity& id) {
                return kernel_.cancel(id, req->session_id(), req->reason(), wait_limit());
            });
        },
        [&](macp::v1::MACPRuntimeService::Stub& owner, grpc::ClientContext* c) {
            return owner.CancelSession(c, *req, resp);
        });
}

grpc::Status RuntimeService::SuspendSession(grpc::ServerContext* ctx, const macp::v1::SuspendSessionRequest* req,
                                            macp::v1::SuspendSessionResponse* resp) {
    return routed(
        ctx, req->session_id(),
        [&] {
            return control_rpc("SuspendSession", connection_limits_, kernel_, ctx, resp, [&](const auth::Identity& id) {
                return kernel_.suspend(id, req->session_id(), req->reason(), wait_limit());
            });
        },
        [&](macp::v1::MACPRuntimeService::Stub& owner, grpc::ClientContext* c) {
            return owner.SuspendSession(c, *req, resp);
        });
}

grpc::Status RuntimeService::ResumeSession(grpc::ServerContext* ctx, const macp::v1::ResumeSessionRequest* req,
                                           macp::v1::ResumeSessionResponse* resp) {
    return routed(
        ctx, req->session_id(),
        [&] {
            return control_rpc("ResumeSession", connection_limits_, kernel_, ctx, resp, [&](const auth::Identity& id) {
                return kernel_.resume(id, req->session_id(), req->reason(), wait_limit());
            });
        },
        [&](macp::v1::MACPRuntimeService::Stub& owner, grpc::ClientContext* c) {
            return owner.ResumeSession(c, *req, resp);
        });
}

grpc::Status RuntimeService::GetManifest(grpc::ServerContext* ctx, const macp::v1::GetManifestRequest* req,
                                         macp::v1::GetManifestResponse* resp) {
    return guarded(connection_limits_, ctx, "GetManifest", [&] {
        if (!req->agent_id().empty() && req->agent_id() != "macp-runtime") {  // RPC-MAN-1
            return grpc::Status(grpc::StatusCode::NOT_FOUND, "Agent '" + util::echo(req->agent_id()) + "' not found");
        }
        auto* m = resp->mutable_manifest();  // RPC-MAN-2
        m->set_agent_id("macp-runtime");
        m->set_title("MACP Runtime (C++)");
        m->set_description("Production runtime for the Multi-Agent Coordination Protocol");
        for (const auto& n : kernel_.modes().all_names()) m->add_supported_modes(n);
        m->add_input_content_types("application/macp-envelope+proto");
        m->add_output_content_types("application/macp-envelope+proto");
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::ListModes(grpc::ServerContext* ctx, const macp::v1::ListModesRequest*,
                                       macp::v1::ListModesResponse* resp) {
    return guarded(connection_limits_, ctx, "ListModes", [&] {
        for (const auto& d : kernel_.modes().standards_track()) to_proto(d, resp->add_modes());  // RPC-LM-1
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::ListExtModes(grpc::ServerContext* ctx, const macp::v1::ListExtModesRequest*,
                                          macp::v1::ListExtModesResponse* resp) {
    return guarded(connection_limits_, ctx, "ListExtModes", [&] {
        for (const auto& d : kernel_.modes().extensions()) to_proto(d, resp->add_modes());  // RPC-LEM-1
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::ListRoots(grpc::ServerContext*, const macp::v1::ListRootsRequest*,
                                       macp::v1::ListRootsResponse*) {
    return grpc::Status::OK;  // RPC-LR-1: always empty
}

namespace {
void to_proto(const policy::PolicyDefinition& p, macp::v1::PolicyDescriptor* out) {
    out->set_policy_id(p.policy_id);
    out->set_mode(p.mode);
    out->set_description(p.description);
    out->set_rules(p.rules);
    out->set_schema_version(p.schema_version);
    out->set_registered_at_unix_ms(p.registered_at_ms);
}

// RPC-GEN-5: the registry mutators need can_manage_mode_registry.
std::optional<grpc::Status> require_manager(kernel::Kernel& k, grpc::ServerContext* ctx) {
    auto id = k.authenticate(metadata_of(*ctx, k.needs_peer_identity()));
    if (!id) return kUnauthenticated;
    if (!id->can_manage_mode_registry) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "Forbidden");
    return std::nullopt;
}
}  // namespace

grpc::Status RuntimeService::RegisterExtMode(grpc::ServerContext* ctx, const macp::v1::RegisterExtModeRequest* req,
                                             macp::v1::RegisterExtModeResponse* resp) {
    return guarded(connection_limits_, ctx, "RegisterExtMode", [&] {
        if (auto denied = require_manager(kernel_, ctx)) return *denied;  // RPC-GEN-5
        if (!req->has_mode_descriptor()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "descriptor required");
        auto r = modes_.register_extension(from_proto(req->mode_descriptor()));  // RPC-REGX-1
        resp->set_ok(r.ok());
        if (!r) resp->set_error(r.error());
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::UnregisterExtMode(grpc::ServerContext* ctx, const macp::v1::UnregisterExtModeRequest* req,
                                               macp::v1::UnregisterExtModeResponse* resp) {
    return guarded(connection_limits_, ctx, "UnregisterExtMode", [&] {
        if (auto denied = require_manager(kernel_, ctx)) return *denied;
        auto r = modes_.unregister_extension(req->mode());  // RPC-UNREGX-1
        resp->set_ok(r.ok());
        if (!r) resp->set_error(r.error());
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::PromoteMode(grpc::ServerContext* ctx, const macp::v1::PromoteModeRequest* req,
                                         macp::v1::PromoteModeResponse* resp) {
    return guarded(connection_limits_, ctx, "PromoteMode", [&] {
        if (auto denied = require_manager(kernel_, ctx)) return *denied;
        auto r = modes_.promote(req->mode(), req->promoted_mode_name());  // RPC-PROMO-1
        resp->set_ok(r.ok());
        if (r) {
            resp->set_mode(r.value());
        } else {
            resp->set_error(r.error());
        }
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::RegisterPolicy(grpc::ServerContext* ctx, const macp::v1::RegisterPolicyRequest* req,
                                            macp::v1::RegisterPolicyResponse* resp) {
    return guarded(connection_limits_, ctx, "RegisterPolicy", [&] {
        // RPC-POLRO-1: a file-loaded registry refuses changes before authentication.
        if (policies_.read_only()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, policy::kReadOnlyMessage);
        if (auto denied = require_manager(kernel_, ctx)) return *denied;
        if (!req->has_policy_descriptor())
            return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "descriptor required");
        const auto& d = req->policy_descriptor();
        policy::PolicyDefinition def{
            d.policy_id(), d.mode(),           d.description(),
            d.rules(),     d.schema_version(), kernel::now_ms()};  // RPC-REGP-2: the request's timestamp is ignored
        auto r = policies_.register_policy(std::move(def));
        resp->set_ok(r.ok());
        if (!r) resp->set_error(r.error());
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::UnregisterPolicy(grpc::ServerContext* ctx, const macp::v1::UnregisterPolicyRequest* req,
                                              macp::v1::UnregisterPolicyResponse* resp) {
    return guarded(connection_limits_, ctx, "UnregisterPolicy", [&] {
        if (policies_.read_only()) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, policy::kReadOnlyMessage);
        if (auto denied = require_manager(kernel_, ctx)) return *denied;
        auto r = policies_.unregister_policy(req->policy_id());  // RPC-UNREGP-1
        resp->set_ok(r.ok());
        if (!r) resp->set_error(r.error());
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::GetPolicy(grpc::ServerContext* ctx, const macp::v1::GetPolicyRequest* req,
                                       macp::v1::GetPolicyResponse* resp) {
    return guarded(connection_limits_, ctx, "GetPolicy", [&] {
        if (!kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity())))
            return kUnauthenticated;  // RPC-GEN-4
        auto p = policies_.find(req->policy_id());
        if (!p)
            return grpc::Status(grpc::StatusCode::NOT_FOUND,
                                "Policy '" + util::echo(req->policy_id()) + "' not found");  // RPC-GETP-1
        to_proto(*p, resp->mutable_policy_descriptor());
        return grpc::Status::OK;
    });
}

grpc::Status RuntimeService::ListPolicies(grpc::ServerContext* ctx, const macp::v1::ListPoliciesRequest* req,
                                          macp::v1::ListPoliciesResponse* resp) {
    return guarded(connection_limits_, ctx, "ListPolicies", [&] {
        if (!kernel_.authenticate(metadata_of(*ctx, kernel_.needs_peer_identity()))) return kUnauthenticated;
        for (const auto& p : policies_.list(req->mode())) to_proto(p, resp->add_descriptors());  // RPC-LISTP-1
        return grpc::Status::OK;
    });
}

}  // namespace macp::service
