// Audit log tests: the chain detects an edited, deleted or reordered record and names it;
// signed checkpoints verify with the right key and fail with another.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "audit/audit_log.hpp"

namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/mw-audit-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

std::vector<std::string> read_lines(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

void write_lines(const fs::path& p, const std::vector<std::string>& lines) {
    std::ofstream out(p, std::ios::trunc);
    for (const auto& l : lines) out << l << "\n";
}

// Ten policy records, checkpoint after every 4: seqs 1-4, cp 5, 6-9, cp 10, 11-12.
mw::AuditOptions make_log(const TempDir& dir) {
    mw::AuditOptions opt;
    opt.path = (dir.path / "audit.jsonl").string();
    opt.key_path = (dir.path / "audit.key").string();
    opt.checkpoint_every = 4;
    auto log = mw::AuditLog::open(opt);
    REQUIRE(log.ok());
    for (int i = 0; i < 10; ++i) {
        auto seq = (*log)->append("uid:0", "policy.apply", "policy/gen-" + std::to_string(i), {{"generation", i}});
        REQUIRE(seq.ok());
    }
    REQUIRE((*log)->last_seq() == 12);
    return opt;
}

}  // namespace

TEST_CASE("audit: intact log verifies with its checkpoints", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    struct stat st {};
    REQUIRE(::stat(opt.key_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    REQUIRE(::stat(opt.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    auto r = mw::verify_audit_log(opt.path, opt.key_path + ".pub");
    CHECK(r.ok);
    CHECK(r.records == 12);
    CHECK(r.checkpoints == 2);
    CHECK(r.last_checkpoint_seq == 10);
    CHECK(r.signatures_checked);
    CHECK_FALSE(r.first_bad_seq.has_value());

    std::ostringstream out;
    CHECK(mw::run_audit_verify(opt.path, opt.key_path + ".pub", out) == 0);
    CHECK(out.str() ==
          "audit verify: OK " + opt.path +
              ": 12 records, 2 checkpoints with verified signatures; 2 records after the last checkpoint are not yet "
              "signed\n");

    auto lines = read_lines(opt.path);
    REQUIRE(lines.size() == 12);
    auto cp = nlohmann::json::parse(lines[4]);
    CHECK(cp["action"] == "audit.checkpoint");
    CHECK(cp["details"]["signed_seq"] == 4);
    CHECK(cp["details"]["alg"] == "ed25519");
}

TEST_CASE("audit: reopening continues the chain", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto log = mw::AuditLog::open(opt);
    REQUIRE(log.ok());
    CHECK((*log)->last_seq() == 12);
    std::vector<std::string> forwarded;
    std::vector<std::uint64_t> forwarded_seq;
    (*log)->set_forwarder([&](std::uint64_t seq, std::string_view l) {
        forwarded_seq.push_back(seq);
        forwarded.emplace_back(l);
    });
    REQUIRE((*log)->append("modelwarden", "agent.start", "agent", {}).ok());
    auto cp = (*log)->checkpoint();
    REQUIRE(cp.ok());
    CHECK(*cp == 14);
    REQUIRE(forwarded.size() == 2);
    CHECK(forwarded_seq == std::vector<std::uint64_t>{13, 14});
    CHECK(nlohmann::json::parse(forwarded[0])["action"] == "agent.start");
    CHECK(nlohmann::json::parse(forwarded[1])["action"] == "audit.checkpoint");
    auto r = mw::verify_audit_log(opt.path, opt.key_path + ".pub");
    CHECK(r.ok);
    CHECK(r.records == 14);
    CHECK(r.last_checkpoint_seq == 14);
}

TEST_CASE("audit: a second writer is refused", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto first = mw::AuditLog::open(opt);
    REQUIRE(first.ok());
    auto second = mw::AuditLog::open(opt);
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("locked by another writer") != std::string::npos);
}

TEST_CASE("audit: an edited record is named", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto lines = read_lines(opt.path);
    auto rec = nlohmann::json::parse(lines[6]);  // seq 7
    rec["object"] = "policy/forged";
    lines[6] = rec.dump();
    write_lines(opt.path, lines);
    auto r = mw::verify_audit_log(opt.path, "");
    CHECK_FALSE(r.ok);
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == 7);
    CHECK(r.first_bad_line == 7);
    CHECK(r.records == 6);
    CHECK(r.reason == "hash does not match the record's content");

    std::ostringstream out;
    CHECK(mw::run_audit_verify(opt.path, "", out) == 1);
    CHECK(out.str() == "audit verify: FAILED " + opt.path +
                           ": first bad record seq 7 (line 7): hash does not match the record's content\n"
                           "audit verify: 6 records before it are intact\n");
}

TEST_CASE("audit: an edited record with a recomputed hash breaks the next link", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto lines = read_lines(opt.path);
    auto rec = nlohmann::json::parse(lines[1]);  // seq 2
    rec["actor"] = "uid:1000";
    rec.erase("hash");
    rec["hash"] = mw::sha256_hex(mw::audit_canonical(rec));
    lines[1] = rec.dump();
    write_lines(opt.path, lines);
    auto r = mw::verify_audit_log(opt.path, "");
    CHECK_FALSE(r.ok);
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == 3);
    CHECK(r.reason == "prev_hash does not match the hash of record 2");
}

TEST_CASE("audit: a deleted record is named", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto lines = read_lines(opt.path);
    lines.erase(lines.begin() + 2);  // seq 3
    write_lines(opt.path, lines);
    auto r = mw::verify_audit_log(opt.path, "");
    CHECK_FALSE(r.ok);
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == 4);
    CHECK(r.first_bad_line == 3);
    CHECK(r.reason == "expected seq 3, found 4 (a record was deleted, inserted or moved)");
}

TEST_CASE("audit: reordered records are named", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto lines = read_lines(opt.path);
    std::swap(lines[7], lines[8]);  // seq 8 and 9
    write_lines(opt.path, lines);
    auto r = mw::verify_audit_log(opt.path, "");
    CHECK_FALSE(r.ok);
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == 9);
    CHECK(r.first_bad_line == 8);
    CHECK(r.reason == "expected seq 8, found 9 (a record was deleted, inserted or moved)");
}

TEST_CASE("audit: a truncated or garbage line is named", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto lines = read_lines(opt.path);
    lines[3] = lines[3].substr(0, 20);
    write_lines(opt.path, lines);
    auto r = mw::verify_audit_log(opt.path, "");
    CHECK_FALSE(r.ok);
    CHECK(*r.first_bad_seq == 4);
    CHECK(r.reason == "line 4 is not valid JSON");
    {
        auto reopen = mw::AuditLog::open(opt);
        CHECK(reopen.ok());  // the damaged line is not the tail: open only checks the tail
    }
    std::ofstream(opt.path, std::ios::app) << "{\"seq\":";
    auto damaged = mw::AuditLog::open(opt);
    REQUIRE_FALSE(damaged.ok());
    CHECK(damaged.error().message.find("incomplete record") != std::string::npos);
}

TEST_CASE("audit: a re-forged chain fails checkpoint verification with the real key", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    // An attacker rewrites record 2 and re-hashes the whole chain, but cannot sign.
    auto lines = read_lines(opt.path);
    std::string prev(mw::kAuditGenesisHash);
    for (size_t i = 0; i < lines.size(); ++i) {
        auto rec = nlohmann::json::parse(lines[i]);
        if (i == 1) rec["object"] = "policy/forged";
        rec["prev_hash"] = prev;
        if (rec["action"] == "audit.checkpoint") rec["details"]["signed_hash"] = prev;
        rec.erase("hash");
        prev = mw::sha256_hex(mw::audit_canonical(rec));
        rec["hash"] = prev;
        lines[i] = rec.dump();
    }
    write_lines(opt.path, lines);
    auto unsigned_check = mw::verify_audit_log(opt.path, "");
    CHECK(unsigned_check.ok);  // the chain alone cannot tell
    auto r = mw::verify_audit_log(opt.path, opt.key_path + ".pub");
    CHECK_FALSE(r.ok);
    REQUIRE(r.first_bad_seq.has_value());
    CHECK(*r.first_bad_seq == 5);
    CHECK(r.reason.rfind("checkpoint signature does not verify with key ", 0) == 0);
}

TEST_CASE("audit: checkpoints do not verify with another key", "[audit]") {
    TempDir dir;
    auto opt = make_log(dir);
    auto other = mw::SigningKey::generate_ed25519();
    REQUIRE(other.ok());
    auto other_pub = dir.path / "other.pub";
    std::ofstream(other_pub) << other->public_pem();
    auto r = mw::verify_audit_log(opt.path, other_pub.string());
    CHECK_FALSE(r.ok);
    CHECK(*r.first_bad_seq == 5);
    std::ostringstream out;
    CHECK(mw::run_audit_verify(opt.path, (dir.path / "missing.pub").string(), out) == 2);
}

TEST_CASE("audit: a world-readable key is refused", "[audit]") {
    TempDir dir;
    auto key = dir.path / "audit.key";
    REQUIRE(mw::SigningKey::load_or_create(key.string()).ok());
    ::chmod(key.c_str(), 0644);
    auto again = mw::SigningKey::load_or_create(key.string());
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().message.find("expected 0600") != std::string::npos);
}

TEST_CASE("signing: ECDSA P-256 keys from the openssl CLI sign and verify", "[signing]") {
    TempDir dir;
    auto key = dir.path / "ec.key";
    auto pub = dir.path / "ec.pub";
    auto cmd = "openssl ecparam -name prime256v1 -genkey -noout -out " + key.string() +
               " 2>/dev/null && openssl ec -in " + key.string() + " -pubout -out " + pub.string() + " 2>/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
    auto sk = mw::SigningKey::load(key.string());
    REQUIRE(sk.ok());
    CHECK(sk->algorithm() == "ecdsa-p256-sha256");
    auto vk = mw::VerifyKey::load(pub.string());
    REQUIRE(vk.ok());
    CHECK(vk->key_id() == sk->key_id());
    auto sig = sk->sign_base64("bundle bytes");
    REQUIRE(sig.ok());
    CHECK(vk->verify_base64("bundle bytes", *sig));
    CHECK_FALSE(vk->verify_base64("bundle bytez", *sig));
    CHECK_FALSE(vk->verify_base64("bundle bytes", "not base64!"));
}

TEST_CASE("signing: base64 round trip", "[signing]") {
    for (std::string s : {std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
                          std::string("\0\xff\x10", 3)}) {
        auto d = mw::base64_decode(mw::base64_encode(s));
        REQUIRE(d.ok());
        CHECK(*d == s);
    }
    CHECK(mw::base64_encode("abc") == "YWJj");
    CHECK(mw::base64_decode("YW\nJj").value() == "abc");
    CHECK_FALSE(mw::base64_decode("YWJ").ok());
}
