#include "modes/task.hpp"

#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "macp/modes/task/v1/task.pb.h"
#include "modes/commitment.hpp"
#include "modes/mode_support.hpp"
#include "util/json_write.hpp"
#include "policy/task_evaluator.hpp"
#include "util/json.hpp"

namespace macp::modes {

using protocol::Error;
using protocol::ErrorKind;

namespace {

namespace pb = macp::modes::task::v1;

// ---- State (MODE-TASK-11) -----------------------------------------------------------------------

struct TaskRecord {
    std::string task_id;
    std::string title;
    std::string instructions;
    std::string requested_assignee;
    std::string input;             // bytes
    int64_t deadline_unix_ms = 0;  // stored, never enforced (MODE-TASK-11)
    std::string requester;
};

struct RejectRecord {
    std::string task_id;
    std::string assignee;
    std::string reason;
};

struct UpdateRecord {
    std::string task_id;
    std::string status;
    double progress = 0.0;
    std::string message;
    std::string partial_output;  // bytes
    std::string sender;
};

struct TerminalReport {
    bool complete = true;  // TaskComplete; false = TaskFail
    std::string task_id;
    std::string assignee;
    std::string output;      // Complete only (bytes)
    std::string summary;     // Complete only
    std::string error_code;  // Fail only
    std::string reason;      // Fail only
    bool retryable = false;  // Fail only
};

struct State {
    std::optional<TaskRecord> task;
    std::optional<std::string> active_assignee;
    std::vector<RejectRecord> rejections;
    std::vector<UpdateRecord> updates;
    std::optional<TerminalReport> terminal_report;
};

using util::json::put;
using util::json::Writer;

// Byte fields are stored as base64 strings (see docs/compatibility.md: MODE-GEN-2).
void put_bytes(Writer& w, const char* key, const std::string& v) {
    put(w, key, util::base64_encode(v));
}

// The state JSON, fields in the MODE-TASK-11 order, absent optionals as null (MODE-GEN-2).
std::string encode(const State& s) {
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    w.Key("task");
    if (s.task) {
        const auto& t = *s.task;
        w.StartObject();
        put(w, "task_id", t.task_id);
        put(w, "title", t.title);
        put(w, "instructions", t.instructions);
        put(w, "requested_assignee", t.requested_assignee);
        put_bytes(w, "input", t.input);
        w.Key("deadline_unix_ms");
        w.Int64(t.deadline_unix_ms);
        put(w, "requester", t.requester);
        w.EndObject();
    } else {
        w.Null();
    }
    w.Key("active_assignee");
    if (s.active_assignee) {
        w.String(s.active_assignee->data(), static_cast<rapidjson::SizeType>(s.active_assignee->size()));
    } else {
        w.Null();
    }
    w.Key("rejections");
    w.StartArray();
    for (const auto& r : s.rejections) {
        w.StartObject();
        put(w, "task_id", r.task_id);
        put(w, "assignee", r.assignee);
        put(w, "reason", r.reason);
        w.EndObject();
    }
    w.EndArray();
    w.Key("updates");
    w.StartArray();
    for (const auto& u : s.updates) {
        w.StartObject();
        put(w, "task_id", u.task_id);
        put(w, "status", u.status);
        w.Key("progress");
        w.Double(u.progress);  // always finite: apply() refuses NaN/Inf
        put(w, "message", u.message);
        put_bytes(w, "partial_output", u.partial_output);
        put(w, "sender", u.sender);
        w.EndObject();
    }
    w.EndArray();
    w.Key("terminal_report");
    if (s.terminal_report) {
        const auto& r = *s.terminal_report;
        w.StartObject();
        w.Key(r.complete ? "Complete" : "Fail");
        w.StartObject();
        put(w, "task_id", r.task_id);
        put(w, "assignee", r.assignee);
        if (r.complete) {
            put_bytes(w, "output", r.output);
            put(w, "summary", r.summary);
        } else {
            put(w, "error_code", r.error_code);
            put(w, "reason", r.reason);
            w.Key("retryable");
            w.Bool(r.retryable);
        }
        w.EndObject();
        w.EndObject();
    } else {
        w.Null();
    }
    w.EndObject();
    return {buf.GetString(), buf.GetSize()};
}

// Readers for the state JSON: an absent member keeps the default, a mistyped one fails.
bool get_str(const rapidjson::Value& o, const char* key, std::string& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsString()) return false;
    out.assign(it->value.GetString(), it->value.GetStringLength());
    return true;
}

bool get_bytes(const rapidjson::Value& o, const char* key, std::string& out) {
    std::string text;
    if (!get_str(o, key, text)) return false;
    return util::base64_decode(text, out);
}

bool get_i64(const rapidjson::Value& o, const char* key, int64_t& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsInt64()) return false;
    out = it->value.GetInt64();
    return true;
}

bool get_double(const rapidjson::Value& o, const char* key, double& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsNumber()) return false;
    out = it->value.GetDouble();
    return true;
}

bool get_bool(const rapidjson::Value& o, const char* key, bool& out) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return true;
    if (!it->value.IsBool()) return false;
    out = it->value.GetBool();
    return true;
}

// Null or absent -> nullptr; an object -> it; anything else -> `bad` is set.
const rapidjson::Value* optional_object(const rapidjson::Value& o, const char* key, bool& bad) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd() || it->value.IsNull()) return nullptr;
    if (!it->value.IsObject()) {
        bad = true;
        return nullptr;
    }
    return &it->value;
}

const rapidjson::Value* optional_array(const rapidjson::Value& o, const char* key, bool& bad) {
    auto it = o.FindMember(key);
    if (it == o.MemberEnd()) return nullptr;
    if (!it->value.IsArray()) {
        bad = true;
        return nullptr;
    }
    return &it->value;
}

// Reads what encode() wrote. parse_json_stored, not the untrusted parser: a state grown past that
// parser's size cap by accepted messages must still read back (issue #8 cases 1, 4).
Result<State, Error> decode(const std::string& bytes) {
    State s;
    if (bytes.empty()) return s;  // a session without state yet starts from the initial state
    rapidjson::Document d;
    if (!util::parse_json_stored(bytes, d) || !d.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
    bool bad = false;
    if (const auto* t = optional_object(d, "task", bad)) {
        TaskRecord r;
        bad |= !get_str(*t, "task_id", r.task_id) || !get_str(*t, "title", r.title) ||
               !get_str(*t, "instructions", r.instructions) ||
               !get_str(*t, "requested_assignee", r.requested_assignee) || !get_bytes(*t, "input", r.input) ||
               !get_i64(*t, "deadline_unix_ms", r.deadline_unix_ms) || !get_str(*t, "requester", r.requester);
        s.task = std::move(r);
    }
    auto a = d.FindMember("active_assignee");
    if (a != d.MemberEnd() && !a->value.IsNull()) {
        if (a->value.IsString()) {
            s.active_assignee = std::string(a->value.GetString(), a->value.GetStringLength());
        } else {
            bad = true;
        }
    }
    if (const auto* arr = optional_array(d, "rejections", bad)) {
        for (const auto& v : arr->GetArray()) {
            if (!v.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
            RejectRecord r;
            bad |= !get_str(v, "task_id", r.task_id) || !get_str(v, "assignee", r.assignee) ||
                   !get_str(v, "reason", r.reason);
            s.rejections.push_back(std::move(r));
        }
    }
    if (const auto* arr = optional_array(d, "updates", bad)) {
        for (const auto& v : arr->GetArray()) {
            if (!v.IsObject()) return fail(Error(ErrorKind::InvalidModeState));
            UpdateRecord u;
            bad |= !get_str(v, "task_id", u.task_id) || !get_str(v, "status", u.status) ||
                   !get_double(v, "progress", u.progress) || !get_str(v, "message", u.message) ||
                   !get_bytes(v, "partial_output", u.partial_output) || !get_str(v, "sender", u.sender);
            s.updates.push_back(std::move(u));
        }
    }
    if (const auto* t = optional_object(d, "terminal_report", bad)) {
        TerminalReport r;
        auto c = t->FindMember("Complete");
        auto f = t->FindMember("Fail");
        if (c != t->MemberEnd() && c->value.IsObject() && f == t->MemberEnd()) {
            r.complete = true;
            bad |= !get_str(c->value, "task_id", r.task_id) || !get_str(c->value, "assignee", r.assignee) ||
                   !get_bytes(c->value, "output", r.output) || !get_str(c->value, "summary", r.summary);
        } else if (f != t->MemberEnd() && f->value.IsObject() && c == t->MemberEnd()) {
            r.complete = false;
            bad |= !get_str(f->value, "task_id", r.task_id) || !get_str(f->value, "assignee", r.assignee) ||
                   !get_str(f->value, "error_code", r.error_code) || !get_str(f->value, "reason", r.reason) ||
                   !get_bool(f->value, "retryable", r.retryable);
        } else {
            bad = true;
        }
        s.terminal_report = std::move(r);
    }
    if (bad) return fail(Error(ErrorKind::InvalidModeState));
    return s;
}

using TaskState = StateOf<State, &encode>;
using Commit = std::function<void(ModeState&)>;

// Wraps a change to the typed state as the Outcome's commit step. The kernel hands the step the
// very object apply() validated against, which state_of() already found to be a TaskState.
template <class F>
Commit commit_with(F change) {
    return [change = std::move(change)](ModeState& m) mutable { change(static_cast<TaskState&>(m).value); };
}

// ---- Rules ------------------------------------------------------------------------------------

// MODE-TASK-4: a TaskRequest must exist and the payload's task_id must equal its task_id.
Result<const TaskRecord*, Error> require_task(const State& s, const std::string& task_id) {
    if (!s.task) return fail(invalid("no TaskRequest yet"));
    if (task_id.empty() || task_id != s.task->task_id) return fail(invalid("task_id does not match the request"));
    return &*s.task;
}

// MODE-TASK-5: the requested assignee if one was named, else any declared participant other than
// the initiator.
bool can_respond(const SessionView& session, const TaskRecord& task, const std::string& sender) {
    if (!task.requested_assignee.empty()) return sender == task.requested_assignee;
    return session.is_participant(sender) && sender != session.initiator;
}

bool allow_reassignment(const SessionView& session) {
    // MODE-TASK-6/7: the mode-side read falls back to the defaults on malformed rules (POL-SCH-8).
    return policy::task_rules_or_default(session.bound_policy()).allow_reassignment_on_reject;
}

Result<Commit, Error> on_request(const MessageContext& ctx, const State& s) {
    // MODE-TASK-2: authorize() already refused non-initiators; repeated here so apply() is safe alone.
    if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
    auto p = decode_payload<pb::TaskRequestPayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    // MODE-TASK-3: one request per session, non-empty task_id, requested assignee must be declared.
    if (s.task) return fail(invalid("a TaskRequest was already accepted"));
    if (p->task_id().empty()) return fail(invalid("task_id is empty"));
    if (!p->requested_assignee().empty() && !ctx.session.is_participant(p->requested_assignee())) {
        return fail(invalid("requested_assignee is not a declared participant"));
    }
    TaskRecord task{p->task_id(),          p->title(), p->instructions(), p->requested_assignee(), p->input(),
                    p->deadline_unix_ms(), ctx.sender};
    return commit_with([task = std::move(task)](State& st) mutable { st.task = std::move(task); });
}

Result<Commit, Error> on_accept(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::TaskAcceptPayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    // MODE-TASK-6, in the reference's check order.
    auto task = require_task(s, p->task_id());
    if (!task) return fail(task.error());
    if (s.active_assignee) return fail(invalid("an assignee is already active"));
    // Q-30 (kept, unchanged in 0.6.1): any recorded rejection blocks later accepts unless the policy
    // allows reassignment.
    if (!s.rejections.empty() && !allow_reassignment(ctx.session)) {
        return fail(Error::denied({"reassignment after rejection not allowed by policy"}));
    }
    if (!p->assignee().empty() && p->assignee() != ctx.sender) return fail(invalid("assignee differs from sender"));
    if (!can_respond(ctx.session, **task, ctx.sender)) return fail(Error(ErrorKind::Forbidden));
    return commit_with([sender = ctx.sender](State& st) mutable { st.active_assignee = std::move(sender); });
}

Result<Commit, Error> on_reject(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::TaskRejectPayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    auto task = require_task(s, p->task_id());  // MODE-TASK-4
    if (!task) return fail(task.error());
    if (s.active_assignee) {
        // MODE-TASK-7: only the active assignee may reject, and only under allow_reassignment_on_reject
        // (RFC-MACP-0009 §5.3b/c).
        if (*s.active_assignee != ctx.sender) return fail(invalid("only the active assignee may reject now"));
        if (!allow_reassignment(ctx.session)) {
            return fail(Error::denied({"active assignee cannot reject without allow_reassignment_on_reject policy"}));
        }
    }
    // MODE-TASK-8
    if (!p->assignee().empty() && p->assignee() != ctx.sender) return fail(invalid("assignee differs from sender"));
    if (!s.active_assignee && !can_respond(ctx.session, **task, ctx.sender)) return fail(Error(ErrorKind::Forbidden));
    for (const auto& r : s.rejections) {
        if (r.assignee == ctx.sender) return fail(invalid("sender already rejected this task"));
    }
    return commit_with([r = RejectRecord{p->task_id(), ctx.sender, p->reason()}](State& st) mutable {
        st.active_assignee.reset();  // MODE-TASK-7: back to the pre-assignment state
        st.rejections.push_back(std::move(r));
    });
}

// MODE-TASK-9: progress messages come only from the active assignee, before any terminal report.
bool may_report(const State& s, const std::string& sender) {
    return !s.terminal_report && s.active_assignee && *s.active_assignee == sender;
}

Result<Commit, Error> on_update(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::TaskUpdatePayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    auto task = require_task(s, p->task_id());  // MODE-TASK-4
    if (!task) return fail(task.error());
    if (!may_report(s, ctx.sender)) return fail(Error(ErrorKind::Forbidden));  // MODE-TASK-9
    // MODE-TASK-9 leaves progress unvalidated; we still refuse NaN/Inf, which cannot be stored in
    // JSON (the reference writes null and then fails to decode its own state).
    if (!std::isfinite(p->progress())) return fail(invalid("progress must be a finite number"));
    UpdateRecord u{p->task_id(), p->status(), p->progress(), p->message(), p->partial_output(), ctx.sender};
    return commit_with([u = std::move(u)](State& st) mutable { st.updates.push_back(std::move(u)); });
}

Result<Commit, Error> on_complete(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::TaskCompletePayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    auto task = require_task(s, p->task_id());  // MODE-TASK-4
    if (!task) return fail(task.error());
    if (!may_report(s, ctx.sender)) return fail(Error(ErrorKind::Forbidden));  // MODE-TASK-9
    if (!p->assignee().empty() && p->assignee() != ctx.sender) return fail(invalid("assignee differs from sender"));
    TerminalReport r;
    r.complete = true;
    r.task_id = p->task_id();
    r.assignee = ctx.sender;
    r.output = p->output();
    r.summary = p->summary();
    return commit_with([r = std::move(r)](State& st) mutable { st.terminal_report = std::move(r); });
}

Result<Commit, Error> on_fail(const MessageContext& ctx, const State& s) {
    auto p = decode_payload<pb::TaskFailPayload>(ctx.payload, "task payload does not decode");
    if (!p) return fail(p.error());
    auto task = require_task(s, p->task_id());  // MODE-TASK-4
    if (!task) return fail(task.error());
    if (!may_report(s, ctx.sender)) return fail(Error(ErrorKind::Forbidden));  // MODE-TASK-9
    if (!p->assignee().empty() && p->assignee() != ctx.sender) return fail(invalid("assignee differs from sender"));
    TerminalReport r;
    r.complete = false;
    r.task_id = p->task_id();
    r.assignee = ctx.sender;
    r.error_code = p->error_code();
    r.reason = p->reason();
    r.retryable = p->retryable();
    return commit_with([r = std::move(r)](State& st) mutable { st.terminal_report = std::move(r); });
}

}  // namespace

TaskMode::TaskMode(ModeDescriptor descriptor) : descriptor_(std::move(descriptor)) {}

ModeResult<std::unique_ptr<ModeState>> TaskMode::on_session_start(const SessionView& session) const {
    // MODE-TASK-1 (0.6): at least one participant other than the initiator; the initiator need not
    // be listed (its TaskRequest authority is by role).
    for (const auto& p : session.participants) {
        if (p != session.initiator) return std::unique_ptr<ModeState>(std::make_unique<TaskState>());
    }
    return fail(Error(ErrorKind::InvalidPayload, "task mode needs a participant other than the initiator"));
}

ModeResult<std::unique_ptr<ModeState>> TaskMode::decode_state(const std::string& bytes) const {
    auto s = decode(bytes);
    if (!s) return fail(s.error());
    return std::unique_ptr<ModeState>(std::make_unique<TaskState>(std::move(s.value())));
}

ModeResult<bool> TaskMode::authorize(const MessageContext& ctx) const {
    // MODE-TASK-2
    if (ctx.message_type == "TaskRequest") {
        if (ctx.sender != ctx.session.initiator) return fail(Error(ErrorKind::Forbidden));
        return true;
    }
    if (ctx.message_type == "Commitment") {  // POL-AUTH-1..3
        return authorize_commitment(ctx);
    }
    if (!ctx.session.is_participant(ctx.sender)) return fail(Error(ErrorKind::Forbidden));
    return true;
}

ModeResult<Outcome> TaskMode::apply(const MessageContext& ctx) const {
    auto held = state_of<TaskState>(ctx);
    if (!held) return fail(held.error());
    const State& s = held.value()->value;
    const auto& type = ctx.message_type;
    if (type == "Commitment") {
        // MODE-TASK-10: shared validation, then a terminal report must exist, then the policy.
        auto c = validate_commitment(ctx.session, ctx.payload);
        if (!c) return fail(c.error());
        if (!s.terminal_report) return fail(invalid("no TaskComplete or TaskFail yet"));
        bool has_output = s.terminal_report->complete && !s.terminal_report->output.empty();
        auto deny = policy::evaluate_task_commitment(ctx.session.bound_policy(), has_output, c->outcome_positive());
        if (!deny.empty()) return fail(Error::denied(std::move(deny)));  // POL-EVAL-2
        // No commit step: the state stays as it is; resolution = the raw commitment bytes (LIFE-4).
        return Outcome{{}, ctx.payload};
    }
    Result<Commit, Error> r = fail(invalid("unknown task message type"));
    if (type == "TaskRequest") {
        r = on_request(ctx, s);
    } else if (type == "TaskAccept") {
        r = on_accept(ctx, s);
    } else if (type == "TaskReject") {
        r = on_reject(ctx, s);
    } else if (type == "TaskUpdate") {
        r = on_update(ctx, s);
    } else if (type == "TaskComplete") {
        r = on_complete(ctx, s);
    } else if (type == "TaskFail") {
        r = on_fail(ctx, s);
    }
    if (!r) return fail(r.error());
    return Outcome{std::move(r.value()), std::nullopt};  // MODE-GEN-5: only a Commitment resolves
}

}  // namespace macp::modes
