// Signed model manifests: which files a model directory may contain (path, size, sha256) and
// where its model card is; plus the approval check the runtime gate and `model verify` share.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "scanner/findings.hpp"
#include "scanner/model_card.hpp"
#include "scanner/signing.hpp"

namespace mw::scanner {

struct ManifestEntry {
    std::string path;  // relative to the manifest's directory, no "..", no leading '/'
    std::uint64_t size = 0;
    std::string sha256;  // lower-case hex
};

struct Manifest {
    int version = 1;
    std::string model_card;  // relative path; must also be listed in `files`
    std::vector<ManifestEntry> files;

    const ManifestEntry* find(std::string_view rel) const;
};

Result<Manifest> parse_manifest(std::string_view json);
std::string serialize_manifest(const Manifest& m);  // stable: entries sorted by path

// Hashes every regular file under `dir` (skipping `exclude`, e.g. the manifest and signature).
Result<Manifest> create_manifest(const std::filesystem::path& dir, const std::string& card_rel,
                                 const std::vector<std::string>& exclude = {});

// Signature file next to a manifest: base64 of the raw signature, one line.
std::string signature_path_for(const std::string& manifest_path);

struct Decision {
    bool approved = false;
    std::string reason;  // why not, or "approved"
    Verdict verdict = Verdict::error;
    std::string sha256;
    ScanReport report;
};

struct ApprovalConfig {
    std::string manifest_path;
    std::string signature_path;  // empty: signature_path_for(manifest_path)
    std::vector<std::string> trusted_key_paths;
};

// Loads and verifies a manifest once (signature over the exact bytes then parsed, card present
// and complete, card hash matches); then decides per opened file.
class ModelApprover {
public:
    static Result<ModelApprover> load(const ApprovalConfig& cfg);

    // Reads the open file once; hashes and scans the same bytes. `path` is absolute. Safe to
    // call from several threads at once; `cancel` (optional) aborts a long read, not approving.
    Decision check_fd(int fd, const std::filesystem::path& path, const std::atomic<bool>* cancel = nullptr) const;
    Decision check_path(const std::filesystem::path& path) const;

    const Manifest& manifest() const { return manifest_; }
    const std::filesystem::path& root() const { return root_; }
    const CardCheck& card() const { return card_; }
    const std::string& signer_algorithm() const { return signer_; }

private:
    Manifest manifest_;
    std::filesystem::path root_;
    CardCheck card_;
    std::string signer_;
};

}  // namespace mw::scanner
