// Writer and verifier of the hash-chained audit log (see audit_log.hpp for the record layout).
#include "audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

namespace mw {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string now_rfc3339() {
    auto now = std::chrono::system_clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(us % 1000000));
    return out;
}

bool is_hex64(const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Checks shape and self-consistency of one record; returns the reason it is bad, or "".
std::string check_record_shape(const nlohmann::json& r) {
    if (!r.is_object()) return "not a JSON object";
    static const char* kStrings[] = {"time", "actor", "action", "object", "prev_hash", "hash"};
    if (!r.contains("seq") || !r["seq"].is_number_unsigned()) return "field seq missing or not an unsigned integer";
    for (const char* f : kStrings)
        if (!r.contains(f) || !r[f].is_string()) return std::string("field ") + f + " missing or not a string";
    if (!r.contains("details") || !r["details"].is_object()) return "field details missing or not an object";
    if (r.size() != 8) return "unexpected fields in record";
    if (!is_hex64(r["prev_hash"].get<std::string>()) || !is_hex64(r["hash"].get<std::string>()))
        return "prev_hash or hash is not 64 lower-case hex digits";
    return "";
}

std::string record_hash(const nlohmann::json& r) {
    nlohmann::json body = r;
    body.erase("hash");
    return sha256_hex(audit_canonical(body));
}

// Reads the last line of the file (without its newline). Sets `complete` to whether the file
// ends with a newline; an empty file gives "" and complete = true.
Result<std::string> read_last_line(const std::string& path, bool& complete) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return make_error("cannot open " + path + ": " + errno_text(errno), errno);
    std::streamoff size = in.tellg();
    complete = true;
    if (size == 0) return std::string();
    std::string tail;
    std::streamoff pos = size;
    const std::streamoff chunk = 4096;
    // Walk back in chunks until the newline that precedes the last line is in view.
    while (pos > 0) {
        std::streamoff start = pos > chunk ? pos - chunk : 0;
        std::string buf(static_cast<size_t>(pos - start), '\0');
        in.seekg(start);
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        tail.insert(0, buf);
        pos = start;
        std::string_view body(tail);
        if (body.ends_with('\n')) body.remove_suffix(1);
        if (body.find('\n') != std::string_view::npos) break;
    }
    complete = tail.ends_with('\n');
    if (complete) tail.pop_back();
    auto nl = tail.rfind('\n');
    return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

}  // namespace

std::string audit_canonical(const nlohmann::json& record_without_hash) {
    // nlohmann::json objects are std::map-backed: dump() emits keys sorted, compact, UTF-8.
    return record_without_hash.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string checkpoint_message(std::uint64_t signed_seq, std::string_view signed_hash) {
    return "modelwarden-audit-checkpoint-v1\n" + std::to_string(signed_seq) + "\n" + std::string(signed_hash);
}

AuditLog::AuditLog(AuditOptions options, int fd, SigningKey key, std::uint64_t seq, std::string hash)
    : options_(std::move(options)), fd_(fd), key_(std::move(key)), key_id_(key_.key_id()), seq_(seq),
      hash_(std::move(hash)) {}

AuditLog::~AuditLog() {
    if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const AuditOptions& options) {
    if (options.path.empty() || options.key_path.empty()) return make_error("audit: log path and key path are required");
    auto key = SigningKey::load_or_create(options.key_path);
    if (!key) return make_error("audit: " + key.error().message, key.error().code);

    std::string pub_path = options.public_key_path.empty() ? options.key_path + ".pub" : options.public_key_path;
    {
        std::string pem = key->public_pem();
        std::ifstream existing(pub_path);
        std::string current((std::istreambuf_iterator<char>(existing)), std::istreambuf_iterator<char>());
        if (current != pem) {
            std::ofstream out(pub_path, std::ios::trunc);
            out << pem;
            if (!out) return make_error("audit: cannot write public key " + pub_path + ": " + errno_text(errno), errno);
        }
    }

    int fd = ::open(options.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return make_error("audit: cannot open " + options.path + ": " + errno_text(errno), errno);
    // Two writers would fork the chain: the second agent must not start appending.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(fd);
        return make_error("audit: " + options.path + " is locked by another writer: " + errno_text(err), err);
    }

    bool complete = true;
    auto last = read_last_line(options.path, complete);
    if (!last) {
        ::close(fd);
        return make_error("audit: " + last.error().message, last.error().code);
    }
    std::uint64_t seq = 0;
    std::string hash(kAuditGenesisHash);
    if (!complete) {
        ::close(fd);
        return make_error("audit: " + options.path + " ends with an incomplete record; run `modelwarden audit verify`");
    }
    if (!last->empty()) {
        auto rec = nlohmann::json::parse(*last, nullptr, false);
        std::string bad = rec.is_discarded() ? "not valid JSON" : check_record_shape(rec);
        if (bad.empty() && record_hash(rec) != rec["hash"].get<std::string>()) bad = "hash does not match its content";
        if (!bad.empty()) {
            ::close(fd);
            return make_error("audit: last record of " + options.path + " is damaged (" + bad +
                              "); run `modelwarden audit verify`");
        }
        seq = rec["seq"].get<std::uint64_t>();
        hash = rec["hash"].get<std::string>();
    }
    return std::unique_ptr<AuditLog>(new AuditLog(options, fd, std::move(*key), seq, std::move(hash)));
}

void AuditLog::set_forwarder(std::function<void(std::uint64_t, std::string_view)> forward) {
    std::lock_guard lock(mu_);
    forward_ = std::move(forward);
}

std::uint64_t AuditLog::last_seq() const {
    std::lock_guard lock(mu_);
    return seq_;
}

std::string AuditLog::last_hash() const {
    std::lock_guard lock(mu_);
    return hash_;
}

Result<std::uint64_t> AuditLog::append(std::string_view actor, std::string_view action, std::string_view object,
                                       nlohmann::json details) {
    std::lock_guard lock(mu_);
    if (action == kAuditCheckpointAction) return make_error("audit: action audit.checkpoint is reserved");
    auto seq = append_locked(actor, action, object, std::move(details));
    if (!seq) return seq;
    if (options_.checkpoint_every != 0 && ++since_checkpoint_ >= options_.checkpoint_every) {
        if (auto cp = checkpoint_locked(); !cp) spdlog::error("audit: checkpoint failed: {}", cp.error().message);
    }
    return seq;
}

Result<std::uint64_t> AuditLog::checkpoint() {
    std::lock_guard lock(mu_);
    return checkpoint_locked();
}

Result<std::uint64_t> AuditLog::checkpoint_locked() {
    auto sig = key_.sign_base64(checkpoint_message(seq_, hash_));
    if (!sig) return make_error("audit: " + sig.error().message);
    nlohmann::json details = {{"alg", key_.algorithm()},
                              {"key_id", key_id_},
                              {"signed_seq", seq_},
                              {"signed_hash", hash_},
                              {"signature", *sig}};
    auto seq = append_locked("modelwarden", kAuditCheckpointAction, options_.path, std::move(details));
    if (seq) since_checkpoint_ = 0;
    return seq;
}

Result<std::uint64_t> AuditLog::append_locked(std::string_view actor, std::string_view action,
                                              std::string_view object, nlohmann::json details) {
    if (details.is_null()) details = nlohmann::json::object();  // `{}` at a call site is null, not an object
    if (!details.is_object()) return make_error("audit: details must be a JSON object");
    nlohmann::json rec = {{"seq", seq_ + 1},
                          {"time", now_rfc3339()},
                          {"actor", std::string(actor)},
                          {"action", std::string(action)},
                          {"object", std::string(object)},
                          {"details", std::move(details)},
                          {"prev_hash", hash_}};
    std::string hash = sha256_hex(audit_canonical(rec));
    rec["hash"] = hash;
    std::string line = audit_canonical(rec);
    line.push_back('\n');

    struct stat st {};
    if (::fstat(fd_, &st) != 0) return make_error("audit: fstat " + options_.path + ": " + errno_text(errno), errno);
    size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            // Cut a partial record off so the next append does not chain onto garbage.
            if (::ftruncate(fd_, st.st_size) != 0)
                spdlog::error("audit: cannot truncate partial record in {}: {}", options_.path, errno_text(errno));
            return make_error("audit: write " + options_.path + ": " + errno_text(err), err);
        }
        done += static_cast<size_t>(n);
    }
    if (::fdatasync(fd_) != 0) {
        int err = errno;
        return make_error("audit: fdatasync " + options_.path + ": " + errno_text(err), err);
    }
    seq_ += 1;
    hash_ = std::move(hash);
    if (forward_) {
        line.pop_back();
        forward_(seq_, line);
    }
    return seq_;
}

AuditVerifyReport verify_audit_log(const std::string& path, const std::string& public_key_path) {
    AuditVerifyReport report;
    std::optional<VerifyKey> key;
    if (!public_key_path.empty()) {
        auto k = VerifyKey::load(public_key_path);
        if (!k) {
            report.reason = k.error().message;
            return report;
        }
        key = std::move(*k);
        report.signatures_checked = true;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        report.reason = "cannot open " + path + ": " + errno_text(errno);
        return report;
    }
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    std::uint64_t expected_seq = 1;
    std::string prev_hash(kAuditGenesisHash);
    std::uint64_t line_no = 0;
    size_t pos = 0;
    auto fail = [&](std::optional<std::uint64_t> seq, std::string why) {
        report.ok = false;
        report.first_bad_seq = seq;
        report.first_bad_line = line_no;
        report.reason = std::move(why);
        return report;
    };
    while (pos < content.size()) {
        ++line_no;
        size_t nl = content.find('\n', pos);
        if (nl == std::string::npos)
            return fail(expected_seq, "line " + std::to_string(line_no) + " is an incomplete record (no newline)");
        std::string_view line(content.data() + pos, nl - pos);
        pos = nl + 1;
        auto rec = nlohmann::json::parse(line, nullptr, false);
        if (rec.is_discarded()) return fail(expected_seq, "line " + std::to_string(line_no) + " is not valid JSON");
        if (std::string bad = check_record_shape(rec); !bad.empty())
            return fail(expected_seq, "line " + std::to_string(line_no) + ": " + bad);
        std::uint64_t seq = rec["seq"].get<std::uint64_t>();
        if (seq != expected_seq)
            return fail(seq, "expected seq " + std::to_string(expected_seq) + ", found " + std::to_string(seq) +
                                 " (a record was deleted, inserted or moved)");
        if (rec["prev_hash"].get<std::string>() != prev_hash)
            return fail(seq, "prev_hash does not match the hash of record " + std::to_string(seq - 1));
        std::string hash = record_hash(rec);
        if (hash != rec["hash"].get<std::string>()) return fail(seq, "hash does not match the record's content");
        if (rec["action"].get<std::string>() == kAuditCheckpointAction) {
            const auto& d = rec["details"];
            if (!d.contains("signed_seq") || !d["signed_seq"].is_number_unsigned() || !d.contains("signed_hash") ||
                !d["signed_hash"].is_string() || !d.contains("signature") || !d["signature"].is_string())
                return fail(seq, "checkpoint lacks signed_seq, signed_hash or signature");
            if (d["signed_seq"].get<std::uint64_t>() != seq - 1 || d["signed_hash"].get<std::string>() != prev_hash)
                return fail(seq, "checkpoint does not sign the record before it");
            if (key && !key->verify_base64(checkpoint_message(seq - 1, prev_hash), d["signature"].get<std::string>()))
                return fail(seq, "checkpoint signature does not verify with key " + key->key_id());
            report.checkpoints += 1;
            report.last_checkpoint_seq = seq;
        }
        prev_hash = std::move(hash);
        expected_seq = seq + 1;
        report.records += 1;
    }
    report.ok = true;
    return report;
}

int run_audit_verify(const std::string& path, const std::string& public_key_path, std::ostream& out) {
    if (!public_key_path.empty()) {
        if (auto k = VerifyKey::load(public_key_path); !k) {
            out << "audit verify: " << k.error().message << "\n";
            return 2;
        }
    }
    AuditVerifyReport r = verify_audit_log(path, public_key_path);
    if (!r.ok) {
        out << "audit verify: FAILED " << path << ": ";
        if (r.first_bad_seq) out << "first bad record seq " << *r.first_bad_seq << " (line " << r.first_bad_line << "): ";
        out << r.reason << "\n";
        out << "audit verify: " << r.records << " records before it are intact\n";
        return 1;
    }
    out << "audit verify: OK " << path << ": " << r.records << " records, " << r.checkpoints << " checkpoints "
        << (r.signatures_checked ? "with verified signatures" : "(signatures NOT checked: no public key given)");
    if (r.records > r.last_checkpoint_seq)
        out << "; " << (r.records - r.last_checkpoint_seq) << " records after the last checkpoint are not yet signed";
    out << "\n";
    return 0;
}

}  // namespace mw
