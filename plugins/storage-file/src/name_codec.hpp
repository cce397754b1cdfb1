// Maps arbitrary registry namespaces and keys ("ext.a/b c", "../x", "") to safe file names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace macp::storage_file {

// Percent-encodes every byte outside [A-Za-z0-9._-] and a leading '.', so the result can never
// be ".", "..", a hidden file, or contain '/'. Injective, so distinct keys never share a file.
std::string encode_name(std::string_view raw);

// Inverse of encode_name. Returns nullopt for anything encode_name would not have produced
// (foreign files dropped into the directory), so listing never reports a key that does not
// map back to the same file.
std::optional<std::string> decode_name(std::string_view encoded);

}  // namespace macp::storage_file
