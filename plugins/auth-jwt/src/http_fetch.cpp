#include "http_fetch.hpp"

#include <algorithm>
#include <memory>

#include <curl/curl.h>

#include "macp/plugin/sdk/common.hpp"

namespace macp::auth_jwt {
namespace {

struct EasyDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};

struct Body {
    std::string data;
    std::size_t max_bytes;
    bool too_big = false;
};

size_t write_body(char* ptr, size_t size, size_t nmemb, void* user) {
    auto* body = static_cast<Body*>(user);
    const size_t n = size * nmemb;
    if (body->data.size() + n > body->max_bytes) {
        body->too_big = true;
        return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
    try {
        body->data.append(ptr, n);
    } catch (...) {
        return 0;
    }
    return n;
}

}  // namespace

CurlGlobal::CurlGlobal() {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        throw macp::sdk::Error(MACP_STATUS_INTERNAL, "auth-jwt: libcurl initialisation failed");
    }
}

CurlGlobal::~CurlGlobal() {
    curl_global_cleanup();
}

std::string http_get(const std::string& url, std::chrono::milliseconds connect, std::chrono::milliseconds total,
                     std::size_t max_bytes, const std::string& ca_path) {
    using macp::sdk::Error;
    std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
    if (!curl) throw Error(MACP_STATUS_INTERNAL, "libcurl: cannot create a handle");
    Body body{{}, max_bytes};
    char error[CURL_ERROR_SIZE] = {0};
    const long total_ms = std::max<long>(1, static_cast<long>(total.count()));
    const long connect_ms = std::min<long>(total_ms, std::max<long>(1, static_cast<long>(connect.count())));
    CURL* h = curl.get();
    bool ok = curl_easy_setopt(h, CURLOPT_URL, url.c_str()) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;  // threads: no SIGALRM
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes)) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &write_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, &body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_USERAGENT, "macp-runtime-auth-jwt") == CURLE_OK;
    // Verification stays on (libcurl's default); only the trust anchors may change.
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (!ca_path.empty()) ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, ca_path.c_str()) == CURLE_OK;
    if (!ok) throw Error(MACP_STATUS_INTERNAL, "libcurl: cannot configure the request");

    const CURLcode rc = curl_easy_perform(h);
    const std::string where = "GET " + url + ": ";
    if (body.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        throw Error(MACP_STATUS_INVALID_ARGUMENT,
                    where + "document larger than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        throw Error(MACP_STATUS_TIMEOUT, where + "timed out (" + std::string(error[0] != 0 ? error : "") + ")");
    }
    if (rc != CURLE_OK) {
        throw Error(MACP_STATUS_UNAVAILABLE, where + (error[0] != 0 ? std::string(error) : curl_easy_strerror(rc)));
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        throw Error(MACP_STATUS_UNAVAILABLE, where + "HTTP status " + std::to_string(status));
    }
    return std::move(body.data);
}

}  // namespace macp::auth_jwt
