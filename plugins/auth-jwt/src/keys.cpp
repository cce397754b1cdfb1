#include "keys.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include <array>
#include <utility>

#include "codec.hpp"
#include "macp/plugin/sdk/common.hpp"

namespace macp::auth_jwt {
namespace {

struct BnDeleter {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct ParamBldDeleter {
    void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct ParamDeleter {
    void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
struct PkeyCtxDeleter {
    void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct EcdsaSigDeleter {
    void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct OpensslFree {
    void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};
using Bn = std::unique_ptr<BIGNUM, BnDeleter>;

constexpr std::size_t kP256CoordinateBytes = 32;

// A JWK member problem: the key is skipped with this reason.
struct Skip {
    std::string why;
};

const unsigned char* bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

Bn to_bn(std::string_view big_endian) {
    Bn bn(BN_bin2bn(bytes(big_endian), static_cast<int>(big_endian.size()), nullptr));
    if (!bn) throw Skip{"out of memory"};
    return bn;
}

std::string member_string(const rapidjson::Value& jwk, std::string_view name, bool required) {
    bool duplicate = false;
    const rapidjson::Value* v = find_member(jwk, name, duplicate);
    if (duplicate) throw Skip{"duplicate member \"" + std::string(name) + "\""};
    if (v == nullptr) {
        if (required) throw Skip{"missing \"" + std::string(name) + "\""};
        return {};
    }
    if (!v->IsString()) throw Skip{"\"" + std::string(name) + "\" is not a string"};
    return to_string(*v);
}

std::string b64_member(const rapidjson::Value& jwk, std::string_view name) {
    auto decoded = base64url_decode(member_string(jwk, name, true));
    if (!decoded || decoded->empty()) throw Skip{"\"" + std::string(name) + "\" is not base64url"};
    return std::move(*decoded);
}

// Builds a public EVP_PKEY of `type` ("RSA", "EC") from OSSL parameters and checks it.
Pkey from_params(const char* type, OSSL_PARAM_BLD* bld) {
    std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) throw Skip{"OpenSSL cannot build the key"};
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || raw == nullptr) {
        throw Skip{"OpenSSL refuses the key parameters"};
    }
    Pkey key(raw);
    std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) throw Skip{"the public key fails OpenSSL's check"};
    return key;
}

Pkey rsa_key(const rapidjson::Value& jwk) {
    const std::string n = b64_member(jwk, "n");
    const std::string e = b64_member(jwk, "e");
    Bn bn_n = to_bn(n);
    Bn bn_e = to_bn(e);
    if (static_cast<std::size_t>(BN_num_bits(bn_n.get())) < kMinRsaBits) {
        throw Skip{"RSA modulus shorter than " + std::to_string(kMinRsaBits) + " bits"};
    }
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
        throw Skip{"OpenSSL cannot build the key"};
    }
    return from_params("RSA", bld.get());
}

Pkey ec_key(const rapidjson::Value& jwk) {
    const std::string crv = member_string(jwk, "crv", false);
    // The reference assumes P-256 whatever "crv" says; a key that names another curve is not one.
    if (!crv.empty() && crv != "P-256") throw Skip{"curve \"" + crv + "\" (only P-256 is supported)"};
    const std::string x = b64_member(jwk, "x");
    const std::string y = b64_member(jwk, "y");
    if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
        throw Skip{"P-256 coordinates must be 32 bytes each"};
    }
    std::string point = "\x04" + x + y;  // uncompressed SEC1 point
    std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
        throw Skip{"OpenSSL cannot build the key"};
    }
    return from_params("EC", bld.get());
}

std::string oct_secret(const rapidjson::Value& jwk) {
    auto k = base64_any_decode(member_string(jwk, "k", true));
    if (!k) throw Skip{"\"k\" is neither base64url nor base64"};
    if (k->size() < kMinHmacKeyBytes) {
        OPENSSL_cleanse(k->data(), k->size());
        throw Skip{"HMAC key shorter than " + std::to_string(kMinHmacKeyBytes) + " bytes (RFC 7518 §3.2)"};
    }
    return std::move(*k);
}

Jwk parse_key(const rapidjson::Value& jwk) {
    if (!jwk.IsObject()) throw Skip{"not an object"};
    const std::string kty = member_string(jwk, "kty", true);
    const std::string use = member_string(jwk, "use", false);
    if (!use.empty() && use != "sig") throw Skip{"\"use\" is \"" + use + "\", not \"sig\""};
    std::optional<Alg> alg;
    bool duplicate = false;
    if (find_member(jwk, "alg", duplicate) != nullptr || duplicate) {
        const std::string name = member_string(jwk, "alg", true);
        alg = alg_from_name(name);
        if (!alg) throw Skip{"algorithm \"" + name + "\" is not supported"};
    }
    std::optional<std::string> kid;
    if (find_member(jwk, "kid", duplicate) != nullptr || duplicate) kid = member_string(jwk, "kid", true);

    KeyType type{};
    Pkey pkey;
    std::string secret;
    if (kty == "RSA") {
        type = KeyType::Rsa;
        pkey = rsa_key(jwk);
    } else if (kty == "EC") {
        type = KeyType::Ec;
        pkey = ec_key(jwk);
    } else if (kty == "oct") {
        type = KeyType::Oct;
        secret = oct_secret(jwk);
    } else {
        throw Skip{"key type \"" + kty + "\" is not supported"};
    }
    Jwk key(type, std::move(kid), alg, std::move(pkey), std::move(secret));
    if (alg && !key.usable_for(*alg)) throw Skip{"\"alg\" does not match the key type"};
    return key;
}

bool verify_evp(EVP_PKEY* pkey, std::string_view data, const unsigned char* sig, std::size_t sig_len) noexcept {
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md(EVP_MD_CTX_new());
    if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1) return false;
    return EVP_DigestVerify(md.get(), sig, sig_len, bytes(data), data.size()) == 1;
}

// JWS ES256 signatures are R || S, 32 bytes each (RFC 7518 §3.4); EVP wants DER. Anything but
// exactly 64 bytes (a DER signature, a truncated one) is refused before OpenSSL sees it.
bool verify_es256(EVP_PKEY* pkey, std::string_view data, std::string_view sig) noexcept {
    if (sig.size() != 2 * kP256CoordinateBytes) return false;
    std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> ecdsa(ECDSA_SIG_new());
    if (!ecdsa) return false;
    BIGNUM* r = BN_bin2bn(bytes(sig), kP256CoordinateBytes, nullptr);
    BIGNUM* s = BN_bin2bn(bytes(sig) + kP256CoordinateBytes, kP256CoordinateBytes, nullptr);
    if (r == nullptr || s == nullptr || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
        BN_free(r);  // set0 takes ownership only on success
        BN_free(s);
        return false;
    }
    unsigned char* der_raw = nullptr;
    const int der_len = i2d_ECDSA_SIG(ecdsa.get(), &der_raw);
    std::unique_ptr<unsigned char, OpensslFree> der(der_raw);
    if (der_len <= 0) return false;
    return verify_evp(pkey, data, der.get(), static_cast<std::size_t>(der_len));
}

bool verify_hs256(const std::string& secret, std::string_view data, std::string_view sig) noexcept {
    std::array<unsigned char, 32> mac{};
    std::size_t mac_len = 0;
    if (sig.size() != mac.size()) return false;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(), bytes(data), data.size(),
                  mac.data(), mac.size(), &mac_len) == nullptr ||
        mac_len != mac.size()) {
        return false;
    }
    return CRYPTO_memcmp(mac.data(), sig.data(), mac.size()) == 0;
}

}  // namespace

std::optional<Alg> alg_from_name(std::string_view name) {
    if (name == "RS256") return Alg::RS256;
    if (name == "ES256") return Alg::ES256;
    if (name == "HS256") return Alg::HS256;
    return std::nullopt;
}

const char* alg_name(Alg alg) {
    switch (alg) {
        case Alg::RS256: return "RS256";
        case Alg::ES256: return "ES256";
        case Alg::HS256: return "HS256";
    }
    return "?";
}

Jwk::Jwk(KeyType type, std::optional<std::string> kid, std::optional<Alg> alg, Pkey pkey, std::string secret)
    : type_(type), kid_(std::move(kid)), alg_(alg), pkey_(std::move(pkey)), secret_(std::move(secret)) {}

Jwk::~Jwk() {
    if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

bool Jwk::usable_for(Alg alg) const {
    if (alg_ && *alg_ != alg) return false;
    switch (alg) {
        case Alg::RS256: return type_ == KeyType::Rsa;
        case Alg::ES256: return type_ == KeyType::Ec;
        case Alg::HS256: return type_ == KeyType::Oct;  // never an RSA/EC key as an HMAC secret
    }
    return false;
}

bool Jwk::verify(Alg alg, std::string_view signing_input, std::string_view signature) const noexcept {
    if (!usable_for(alg)) return false;
    switch (alg) {
        case Alg::RS256:
            // PKCS#1 v1.5 signatures are exactly the modulus size.
            if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get()))) return false;
            return verify_evp(pkey_.get(), signing_input, bytes(signature), signature.size());
        case Alg::ES256: return verify_es256(pkey_.get(), signing_input, signature);
        case Alg::HS256: return verify_hs256(secret_, signing_input, signature);
    }
    return false;
}

std::size_t KeySet::count(KeyType t) const {
    std::size_t n = 0;
    for (const auto& k : keys) n += k.type() == t ? 1 : 0;
    return n;
}

bool KeySet::has_kid(std::string_view kid) const {
    for (const auto& k : keys) {
        if (k.kid() && *k.kid() == kid) return true;
    }
    return false;
}

std::string KeySet::summary() const {
    const std::size_t n = keys.size();
    return std::to_string(n) + (n == 1 ? " key" : " keys") + " (RSA " + std::to_string(count(KeyType::Rsa)) + ", EC " +
           std::to_string(count(KeyType::Ec)) + ", oct " + std::to_string(count(KeyType::Oct)) + ")";
}

KeySet parse_jwks(std::string_view json) {
    const auto fail = [](const std::string& why) { return macp::sdk::Error(MACP_STATUS_INVALID_ARGUMENT, why); };
    if (json.size() > kMaxJwksBytes) {
        throw fail("JWKS document larger than " + std::to_string(kMaxJwksBytes) + " bytes");
    }
    rapidjson::Document doc;
    std::string why;
    if (!parse_json(json, 8, doc, why)) throw fail("JWKS is not JSON: " + why);
    if (!doc.IsObject()) throw fail("JWKS is not a JSON object with a \"keys\" array");
    bool duplicate = false;
    const rapidjson::Value* list = find_member(doc, "keys", duplicate);
    if (duplicate) throw fail("JWKS has two \"keys\" members");
    if (list == nullptr || !list->IsArray()) throw fail("JWKS has no \"keys\" array");
    if (list->Size() > kMaxJwksKeys) throw fail("JWKS has more than " + std::to_string(kMaxJwksKeys) + " keys");
    KeySet set;
    for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
        try {
            set.keys.push_back(parse_key((*list)[i]));
        } catch (const Skip& skip) {
            set.skipped.push_back("JWKS key " + std::to_string(i) + " ignored: " + skip.why);
        }
    }
    if (set.keys.empty()) {
        std::string detail;
        for (const auto& s : set.skipped) detail += "; " + s;
        throw fail("JWKS has no usable key (RSA >= 2048 bits, EC P-256 or oct >= 32 bytes, for signatures)" + detail);
    }
    return set;
}

}  // namespace macp::auth_jwt
