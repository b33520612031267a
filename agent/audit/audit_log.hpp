// Tamper-evident audit log: append-only JSONL whose records are SHA-256 hash-chained, with
// periodic checkpoints signed by the agent's key, and the verifier behind `modelwarden audit verify`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/signing.hpp"
#include "common/result.hpp"

namespace mw {

// The prev_hash of the first record.
inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
inline constexpr std::string_view kAuditCheckpointAction = "audit.checkpoint";

// Record layout (one JSON object per line, keys sorted):
//   {seq, time, actor, action, object, details, prev_hash, hash}
// hash = SHA-256 hex over the canonical record without "hash" (nlohmann dump, sorted keys,
// no spaces), so prev_hash is covered. seq starts at 1 and has no gaps.
// A checkpoint is a record with action "audit.checkpoint" whose details hold
// {alg, key_id, signed_seq, signed_hash, signature}: the signature (base64) covers
// checkpoint_message(signed_seq, signed_hash), i.e. the chain head before the checkpoint.
std::string audit_canonical(const nlohmann::json& record_without_hash);
std::string checkpoint_message(std::uint64_t signed_seq, std::string_view signed_hash);

struct AuditOptions {
    std::string path;                       // the JSONL file; created 0600 if absent
    std::string key_path;                   // Ed25519/ECDSA P-256 PEM private key; generated if absent
    std::string public_key_path;            // where to write the public key for verifiers ("" = key_path + ".pub")
    std::uint64_t checkpoint_every = 100;   // a signed checkpoint after this many records (0 = only explicit)
};

class AuditLog {
public:
    // Opens (or creates) the log and continues the chain from its last record. Refuses a
    // log whose last line is not a complete, self-consistent record: appending after a
    // damaged tail would bless the damage with a fresh checkpoint.
    static Result<std::unique_ptr<AuditLog>> open(const AuditOptions& options);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    // Appends one record and fsyncs it before returning its seq. Thread-safe.
    Result<std::uint64_t> append(std::string_view actor, std::string_view action, std::string_view object,
                                 nlohmann::json details = nlohmann::json::object());
    // Appends a signed checkpoint over the current chain head now (e.g. from a timer or at stop).
    Result<std::uint64_t> checkpoint();

    // Called after each durable append (checkpoints included) with the record's sequence number
    // and its JSONL line (no newline), under the log's lock: keep it cheap (e.g. copy into the
    // SIEM spool queue), and never call back into this log (last_seq() would deadlock).
    void set_forwarder(std::function<void(std::uint64_t seq, std::string_view line)> forward);

    std::uint64_t last_seq() const;
    std::string last_hash() const;
    const std::string& key_id() const { return key_id_; }

private:
    AuditLog(AuditOptions options, int fd, SigningKey key, std::uint64_t seq, std::string hash);
    Result<std::uint64_t> append_locked(std::string_view actor, std::string_view action, std::string_view object,
                                        nlohmann::json details);
    Result<std::uint64_t> checkpoint_locked();

    AuditOptions options_;
    int fd_ = -1;
    SigningKey key_;
    std::string key_id_;
    mutable std::mutex mu_;
    std::uint64_t seq_ = 0;
    std::string hash_;
    std::uint64_t since_checkpoint_ = 0;
    std::function<void(std::uint64_t, std::string_view)> forward_;
};

struct AuditVerifyReport {
    bool ok = false;
    std::uint64_t records = 0;                   // records read and found valid before any failure
    std::optional<std::uint64_t> first_bad_seq;  // seq the first bad record carries (or should carry, if unreadable)
    std::uint64_t first_bad_line = 0;            // 1-based line number of the first bad record
    std::string reason;
    std::uint64_t checkpoints = 0;               // checkpoints whose signature verified (or seen, without a key)
    bool signatures_checked = false;             // a public key was given
    std::uint64_t last_checkpoint_seq = 0;       // records after it are chained but not yet signed
};

// Verifies the chain and, when `public_key_path` is not empty, every checkpoint signature.
AuditVerifyReport verify_audit_log(const std::string& path, const std::string& public_key_path);

// `modelwarden audit verify`: prints a one-line verdict (and the first bad record), returns
// 0 when intact, 1 when tampered or unreadable, 2 when the key cannot be loaded.
int run_audit_verify(const std::string& path, const std::string& public_key_path, std::ostream& out);

}  // namespace mw
