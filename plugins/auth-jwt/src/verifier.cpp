#include "verifier.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "codec.hpp"

namespace macp::auth_jwt {
namespace {

using macp::sdk::Error;

[[noreturn]] void malformed(const std::string& why) {
    throw Error(MACP_STATUS_AUTH_MALFORMED, "JWT malformed: " + why);
}
[[noreturn]] void invalid(const std::string& why) {
    throw Error(MACP_STATUS_AUTH_INVALID_CREDENTIAL, "JWT rejected: " + why);
}

std::string decode_segment(std::string_view segment, const char* what) {
    auto decoded = base64url_decode(segment);
    if (!decoded) malformed(std::string(what) + " is not base64url");
    return std::move(*decoded);
}

void parse_object(const std::string& text, const char* what, rapidjson::Document& doc) {
    std::string why;
    if (!parse_json(text, kMaxClaimsDepth, doc, why)) malformed(std::string(what) + ": " + why);
    if (!doc.IsObject()) malformed(std::string(what) + " is not a JSON object");
    if (has_duplicate_members(doc)) malformed(std::string(what) + " repeats a member name");
}

const rapidjson::Value* member(const rapidjson::Value& obj, std::string_view name) {
    bool duplicate = false;  // already refused by parse_object
    return find_member(obj, name, duplicate);
}

// A NumericDate claim (RFC 7519 §2): any JSON number; nullopt when absent.
std::optional<double> numeric_date(const rapidjson::Value& claims, std::string_view name) {
    const rapidjson::Value* v = member(claims, name);
    if (v == nullptr) return std::nullopt;
    if (!v->IsNumber() || !std::isfinite(v->GetDouble())) malformed("\"" + std::string(name) + "\" is not a number");
    return v->GetDouble();
}

bool valid_sender(const std::string& s) {
    if (s.empty() || s.size() > kMaxSenderBytes) return false;
    // Printable and without spaces, as every sender the core accepts: control characters would
    // forge lines in logs and audit records. (The text is valid UTF-8: parse_json checked it.)
    return std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7F;
    });
}

bool bool_scope(const rapidjson::Value& scopes, const char* name, bool fallback) {
    const rapidjson::Value* v = member(scopes, name);
    if (v == nullptr || v->IsNull()) return fallback;
    if (!v->IsBool()) malformed(std::string("macp_scopes.") + name + " is not true or false");
    return v->GetBool();
}

// `macp_scopes` (AUTH-JWT-5): the same fields as a static token's identity.
void apply_scopes(const rapidjson::Value& claims, macp::sdk::Identity& id) {
    const rapidjson::Value* scopes = member(claims, "macp_scopes");
    if (scopes == nullptr || scopes->IsNull()) return;
    if (!scopes->IsObject()) malformed("macp_scopes is not an object");
    id.can_start_sessions = bool_scope(*scopes, "can_start_sessions", true);
    id.can_manage_mode_registry = bool_scope(*scopes, "can_manage_mode_registry", false);
    id.is_observer = bool_scope(*scopes, "is_observer", false);
    if (const rapidjson::Value* modes = member(*scopes, "allowed_modes"); modes != nullptr && !modes->IsNull()) {
        if (!modes->IsArray()) malformed("macp_scopes.allowed_modes is not an array of strings");
        std::vector<std::string> list;
        for (const auto& m : modes->GetArray()) {
            if (!m.IsString()) malformed("macp_scopes.allowed_modes holds a non-string");
            list.push_back(to_string(m));
        }
        // Present, even empty, restricts to exactly that list (AUTH-JWT-5): [] allows no mode.
        id.allowed_modes = std::move(list);
    }
    if (const rapidjson::Value* max = member(*scopes, "max_open_sessions"); max != nullptr && !max->IsNull()) {
        if (!max->IsInt64() || max->GetInt64() < 0) {
            malformed("macp_scopes.max_open_sessions is not a non-negative integer");
        }
        id.max_open_sessions = max->GetInt64();
    }
}

void check_audience(const rapidjson::Value& claims, const std::string& audience) {
    const rapidjson::Value* aud = member(claims, "aud");
    if (aud == nullptr) invalid("no \"aud\" claim (expected \"" + audience + "\")");
    bool found = false;
    if (aud->IsString()) {
        found = to_string(*aud) == audience;
    } else if (aud->IsArray()) {
        for (const auto& a : aud->GetArray()) {
            if (!a.IsString()) malformed("\"aud\" array holds a non-string");
            found = found || to_string(a) == audience;
        }
    } else {
        malformed("\"aud\" is neither a string nor an array of strings");
    }
    if (!found) invalid("audience does not include \"" + audience + "\"");
}

}  // namespace

bool is_jwt_shaped(std::string_view token) {
    return std::count(token.begin(), token.end(), '.') == 2;
}

macp::sdk::Identity verify_token(std::string_view token, const Settings& settings, const KeyLookup& lookup,
                                 double now_unix) {
    if (token.size() > kMaxTokenBytes) {
        malformed("token of " + std::to_string(token.size()) + " bytes exceeds the limit of " +
                  std::to_string(kMaxTokenBytes));
    }
    const std::size_t dot1 = token.find('.');
    const std::size_t dot2 = token.find('.', dot1 + 1);
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty() || payload_b64.empty()) malformed("empty header or claims segment");
    if (signature_b64.empty()) invalid("no signature");
    const std::string header_json = decode_segment(header_b64, "header");
    const std::string payload_json = decode_segment(payload_b64, "claims segment");
    const std::string signature = decode_segment(signature_b64, "signature");

    // ---- header ----
    rapidjson::Document header;
    parse_object(header_json, "header", header);
    const rapidjson::Value* alg_v = member(header, "alg");
    if (alg_v == nullptr || !alg_v->IsString()) malformed("header has no \"alg\" string");
    const std::string alg_text = to_string(*alg_v);
    const std::optional<Alg> alg = alg_from_name(alg_text);
    if (!alg) invalid("algorithm \"" + alg_text + "\" is not supported (\"none\" never is)");
    if (!settings.allows(*alg)) invalid(alg_text + " is not in the configured allowlist (MACP_AUTH_JWT_ALGS)");
    if (member(header, "crit") != nullptr) invalid("header lists critical extensions (\"crit\"), none is supported");
    std::optional<std::string> kid;
    if (const rapidjson::Value* kid_v = member(header, "kid")) {
        if (!kid_v->IsString()) malformed("header \"kid\" is not a string");
        kid = to_string(*kid_v);
    }
    // jku, x5u, jwk and x5c are never followed: keys come only from the configured JWKS.

    // ---- signature, before any claim is looked at ----
    const std::shared_ptr<const KeySet> set = lookup(kid);
    std::vector<const Jwk*> candidates;
    for (const auto& k : set->keys) {
        if (k.usable_for(*alg) && kid && k.kid() == kid) candidates.push_back(&k);
    }
    if (kid && candidates.empty()) {
        // A key without "kid" serves any token of its algorithm (one unnamed key, a token with a kid).
        for (const auto& k : set->keys) {
            if (k.usable_for(*alg) && !k.kid()) candidates.push_back(&k);
        }
        if (candidates.empty()) invalid("no " + alg_text + " key with kid \"" + *kid + "\" in the JWKS");
    }
    if (!kid) {
        for (const auto& k : set->keys) {
            if (k.usable_for(*alg)) candidates.push_back(&k);
        }
        if (candidates.empty()) invalid("the JWKS has no key for " + alg_text);
    }
    const std::string_view signing_input = token.substr(0, dot2);
    const bool verified = std::any_of(candidates.begin(), candidates.end(),
                                      [&](const Jwk* k) { return k->verify(*alg, signing_input, signature); });
    if (!verified) invalid("signature does not verify (" + alg_text + ")");

    // ---- claims ----
    rapidjson::Document claims;
    parse_object(payload_json, "claims", claims);
    const std::optional<double> exp = numeric_date(claims, "exp");
    const std::optional<double> nbf = numeric_date(claims, "nbf");
    const rapidjson::Value* iss = member(claims, "iss");
    const rapidjson::Value* sub = member(claims, "sub");
    if (iss != nullptr && !iss->IsString()) malformed("\"iss\" is not a string");
    if (sub != nullptr && !sub->IsString()) malformed("\"sub\" is not a string");

    macp::sdk::Identity id;
    apply_scopes(claims, id);  // type errors first: a token of the wrong shape is malformed

    if (!exp) invalid("no \"exp\" claim");
    if (*exp + static_cast<double>(kLeewaySecs) < now_unix) {
        throw Error(MACP_STATUS_AUTH_EXPIRED, "JWT expired");
    }
    if (nbf && *nbf - static_cast<double>(kLeewaySecs) > now_unix) invalid("not valid yet (\"nbf\" in the future)");
    if (iss == nullptr) invalid("no \"iss\" claim");
    if (to_string(*iss) != settings.issuer) invalid("issuer is not \"" + settings.issuer + "\"");
    check_audience(claims, settings.audience);
    if (sub == nullptr) invalid("no \"sub\" claim");
    id.sender = to_string(*sub);
    if (!valid_sender(id.sender)) {
        invalid("\"sub\" is not a valid sender (empty, spaces, control characters or over " +
                std::to_string(kMaxSenderBytes) + " bytes)");
    }
    return id;
}

}  // namespace macp::auth_jwt
