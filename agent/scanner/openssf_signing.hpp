// Verification of OpenSSF model signing (sigstore/model-transparency `model.sig`) in its
// key-based mode: Sigstore bundle -> DSSE envelope -> in-toto Statement v1 with predicate
// https://model_signing/signature/v1.0 listing {name, algorithm, digest} per file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "scanner/findings.hpp"

namespace mw::scanner {

struct OpenSsfResource {
    std::string name;    // path relative to the model directory, '/'-separated
    std::string digest;  // sha256 hex
};

struct OpenSsfVerification {
    std::string model_name;
    std::vector<OpenSsfResource> resources;
    std::vector<ScanReport> scans;  // scan of each file, from the same bytes that were re-hashed
};

// Builds the DSSE pre-authentication encoding: "DSSEv1 <len> <type> <len> <body>".
std::string dsse_pae(std::string_view payload_type, std::string_view payload);

// Verifies `bundle_path` (usually DIR/model.sig) with any of the trusted PEM public keys, checks
// the subject digest against the resources, re-hashes `model_dir` (honouring the signed
// ignore_paths and skipping the signature itself) and requires an exact match of names and
// digests. Every file is scanned from the bytes that were hashed.
Result<OpenSsfVerification> verify_openssf_model_signature(const std::filesystem::path& model_dir,
                                                           const std::filesystem::path& bundle_path,
                                                           const std::vector<std::string>& trusted_key_paths);

}  // namespace mw::scanner
