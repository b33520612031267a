// Policy-bundle signatures: a detached Ed25519 or ECDSA P-256 signature (base64) over the exact
// bundle bytes, checked against the operator-configured trusted public keys before an apply.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "audit/signing.hpp"
#include "common/result.hpp"

namespace mw {

// Loads every *.pem / *.pub file in `dir` as a trusted public key; fails on any unreadable
// or unsupported key rather than silently trusting fewer keys than configured.
Result<std::vector<VerifyKey>> load_trusted_keys(const std::string& dir);

// Returns the key_id of the trusted key that verifies the signature. Errors (code 422) say
// exactly why: no signature, malformed base64, no trusted keys, or no key verifies.
Result<std::string> verify_policy_signature(std::string_view bundle, std::string_view signature_b64,
                                            const std::vector<VerifyKey>& trusted);

}  // namespace mw
