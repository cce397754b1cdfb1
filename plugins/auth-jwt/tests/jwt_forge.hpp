// Test helpers (header-only): keys made at test time with OpenSSL (RSA 2048, EC P-256, random
// oct), their JWKs, and signed (or deliberately broken) compact JWTs. Used by the plugin's unit
// tests and by tests/integration/it_auth_jwt_test.cpp.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace macp::jwt_forge {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct SigFree {
    void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

inline std::string b64url(std::string_view bytes) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
        }
    }
    if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
    return out;
}

inline std::string bn_bytes(const BIGNUM* bn, int pad = 0) {
    std::string out(static_cast<std::size_t>(pad > 0 ? pad : BN_num_bytes(bn)), '\0');
    if (pad > 0) {
        BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
    } else {
        BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    }
    return out;
}

inline Bn bn_param(EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) throw std::runtime_error("EVP_PKEY_get_bn_param failed");
    return Bn(raw);
}

inline Pkey rsa_key(unsigned bits = 2048) {
    Pkey k(EVP_RSA_gen(bits));
    if (!k) throw std::runtime_error("EVP_RSA_gen failed");
    return k;
}

inline Pkey ec_key() {
    Pkey k(EVP_EC_gen("P-256"));
    if (!k) throw std::runtime_error("EVP_EC_gen failed");
    return k;
}

inline std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    return out;
}

inline std::string kid_member(const std::string& kid) {
    return kid.empty() ? std::string() : ",\"kid\":\"" + kid + "\"";
}

inline std::string rsa_jwk(EVP_PKEY* key, const std::string& kid = "", const std::string& extra = "") {
    return "{\"kty\":\"RSA\"" + kid_member(kid) + ",\"n\":\"" +
           b64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_RSA_N).get())) + "\",\"e\":\"" +
           b64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_RSA_E).get())) + "\"" + extra + "}";
}

inline std::string ec_jwk(EVP_PKEY* key, const std::string& kid = "", const std::string& crv = "P-256") {
    return "{\"kty\":\"EC\",\"crv\":\"" + crv + "\"" + kid_member(kid) + ",\"x\":\"" +
           b64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X).get(), 32)) + "\",\"y\":\"" +
           b64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y).get(), 32)) + "\"}";
}

inline std::string oct_jwk(const std::string& secret, const std::string& kid = "") {
    return "{\"kty\":\"oct\"" + kid_member(kid) + ",\"k\":\"" + b64url(secret) + "\"}";
}

inline std::string jwks(std::initializer_list<std::string> keys) {
    std::string out = "{\"keys\":[";
    bool first = true;
    for (const auto& k : keys) {
        out += (first ? "" : ",") + k;
        first = false;
    }
    return out + "]}";
}

inline std::string public_pem(EVP_PKEY* key) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) throw std::runtime_error("PEM_write_bio_PUBKEY failed");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// Signature with EVP (SHA-256): PKCS#1 v1.5 for RSA, DER ECDSA for EC.
inline std::string evp_sign(EVP_PKEY* key, std::string_view data) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) !=
            1) {
        throw std::runtime_error("EVP_DigestSign failed");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
        throw std::runtime_error("EVP_DigestSign failed");
    }
    sig.resize(len);
    return sig;
}

// DER ECDSA -> JWS R || S (32 bytes each).
inline std::string der_to_raw(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) throw std::runtime_error("d2i_ECDSA_SIG failed");
    return bn_bytes(ECDSA_SIG_get0_r(sig.get()), 32) + bn_bytes(ECDSA_SIG_get0_s(sig.get()), 32);
}

inline std::string hmac_sha256(std::string_view secret, std::string_view data) {
    std::array<unsigned char, 32> mac{};
    std::size_t len = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), mac.size(),
                  &len) == nullptr) {
        throw std::runtime_error("EVP_Q_mac failed");
    }
    return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

inline int64_t now_secs() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// "<b64(header)>.<b64(claims)>" — the JWS signing input.
inline std::string signing_input(const std::string& header, const std::string& claims) {
    return b64url(header) + "." + b64url(claims);
}

inline std::string rs256(EVP_PKEY* key, const std::string& claims, const std::string& kid = "") {
    const std::string header = "{\"alg\":\"RS256\",\"typ\":\"JWT\"" + kid_member(kid) + "}";
    const std::string input = signing_input(header, claims);
    return input + "." + b64url(evp_sign(key, input));
}

inline std::string es256(EVP_PKEY* key, const std::string& claims, const std::string& kid = "", bool der = false) {
    const std::string header = "{\"alg\":\"ES256\",\"typ\":\"JWT\"" + kid_member(kid) + "}";
    const std::string input = signing_input(header, claims);
    const std::string sig = evp_sign(key, input);
    return input + "." + b64url(der ? sig : der_to_raw(sig));
}

inline std::string hs256(const std::string& secret, const std::string& claims, const std::string& kid = "") {
    const std::string header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"" + kid_member(kid) + "}";
    const std::string input = signing_input(header, claims);
    return input + "." + b64url(hmac_sha256(secret, input));
}

// Claims with iss/aud/sub and exp one hour ahead; `extra` is appended inside the object.
inline std::string claims(const std::string& sub, const std::string& iss = "https://issuer.test",
                          const std::string& aud = "\"macp-runtime\"", const std::string& extra = "") {
    return "{\"iss\":\"" + iss + "\",\"aud\":" + aud + ",\"sub\":\"" + sub +
           "\",\"exp\":" + std::to_string(now_secs() + 3600) + extra + "}";
}

}  // namespace macp::jwt_forge
