// Unit tests for signing, manifests, the model-card gate, approval decisions and the cache.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "scanner/manifest.hpp"
#include "scanner/model_card.hpp"
#include "scanner/signing.hpp"
#include "scanner/verdict_cache.hpp"

using namespace mw::scanner;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/mw-scanner-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path); }
};

void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

const std::string good_card =
    "---\nowner: team-a\nlast_evaluation_date: 2026-01-31\n---\n"
    "# Intended use\nSearch ranking.\n## Training data\nClick logs 2025.\n"
    "## Known failure modes\nCold-start users.\n## What to do when it fails\nPage the owner, roll back.\n";

// A signed model directory with one clean pickle.
struct SignedDir {
    TempDir dir;
    std::string pub;
    SignedDir(KeyType type, const std::string& card = good_card) {
        write(dir.path / "model.pkl", std::string("\x80\x02}q\x00.", 6));
        write(dir.path / "MODEL_CARD.md", card);
        auto m = create_manifest(dir.path, "MODEL_CARD.md");
        REQUIRE(m.ok());
        auto text = serialize_manifest(*m);
        write(dir.path / "manifest.json", text);
        auto key = generate_key(type);
        REQUIRE(key.ok());
        auto sig = sign(*key, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
        REQUIRE(sig.ok());
        write(dir.path / "manifest.json.sig", base64_encode(*sig) + "\n");
        pub = (dir.path / "trusted.pub").string();
        REQUIRE(write_public_pem(*key, pub).ok());
    }
    ApprovalConfig cfg() const { return {(dir.path / "manifest.json").string(), "", {pub}}; }
};

}  // namespace

TEST_CASE("ECDSA P-256 and Ed25519 signatures verify and reject tampering", "[signing]") {
    for (auto type : {KeyType::ecdsa_p256, KeyType::ed25519}) {
        auto k = generate_key(type);
        REQUIRE(k.ok());
        std::string msg = "manifest bytes";
        std::span<const std::uint8_t> m(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size());
        auto sig = sign(*k, m);
        REQUIRE(sig.ok());
        CHECK(verify(*k, m, *sig).ok());
        auto bad = *sig;
        bad[bad.size() / 2] ^= 1;
        CHECK_FALSE(verify(*k, m, bad).ok());
        std::string other = "manifest bytez";
        CHECK_FALSE(verify(*k, {reinterpret_cast<const std::uint8_t*>(other.data()), other.size()}, *sig).ok());
        auto round = base64_decode(base64_encode(*sig));
        REQUIRE(round.ok());
        CHECK(*round == *sig);
    }
}

TEST_CASE("model card: every required field is named when missing", "[card]") {
    auto ok = check_model_card_text(good_card, "MODEL_CARD.md");
    CHECK(ok.complete());
    CHECK(ok.fields.at("failure_response") == "Page the owner, roll back.");

    auto partial = check_model_card_text("# Owner\nteam-b\n# Intended use\n\n# Training data\nlogs\n", "card.md");
    CHECK_FALSE(partial.complete());
    CHECK(partial.missing == std::vector<std::string>{"intended_use", "known_failure_modes", "last_evaluation_date", "failure_response"});

    auto yaml = check_model_card_text("owner: x\nintended_use: y\ntraining_data: z\nknown_failure_modes: [a]\n"
                                      "last_evaluation_date: yesterday\nfailure_response: roll back\n", "card.yaml");
    CHECK(yaml.missing.empty());
    REQUIRE(yaml.problems.size() == 1);
    CHECK(yaml.problems[0] == "last_evaluation_date 'yesterday' is not a YYYY-MM-DD date");

    auto broken = check_model_card_text("owner: [unclosed\n", "card.yml");
    CHECK_FALSE(broken.complete());
    CHECK(broken.missing.size() == 6);
}

TEST_CASE("manifest parsing rejects unsafe or incomplete input", "[manifest]") {
    CHECK_FALSE(parse_manifest("not json").ok());
    CHECK(parse_manifest(R"({"version":1,"model_card":"c.md","files":[{"path":"../x","size":1,"sha256":"00"}]})").error().message ==
          "manifest path '../x' is not a safe relative path");
    std::string h(64, 'a');
    CHECK(parse_manifest(R"({"version":1,"model_card":"c.md","files":[{"path":"m.pt","size":1,"sha256":")" + h + R"("}]})").error().message ==
          "model card 'c.md' is not listed (with its hash) in the manifest");
    auto ok = parse_manifest(R"({"version":1,"model_card":"c.md","files":[{"path":"c.md","size":1,"sha256":")" + h + R"("}]})");
    REQUIRE(ok.ok());
    CHECK(ok->files.size() == 1);
}

TEST_CASE("approval: signed manifest, complete card, matching hash and clean scan", "[approval]") {
    for (auto type : {KeyType::ecdsa_p256, KeyType::ed25519}) {
        SignedDir sd(type);
        auto a = ModelApprover::load(sd.cfg());
        REQUIRE(a.ok());
        auto d = a->check_path(sd.dir.path / "model.pkl");
        CHECK(d.approved);
        CHECK(d.reason == "approved");

        write(sd.dir.path / "model.pkl", std::string("\x80\x02}q\x01.", 6));  // same size, new bytes
        auto t = a->check_path(sd.dir.path / "model.pkl");
        CHECK_FALSE(t.approved);
        CHECK(t.reason.find("does not match the manifest") != std::string::npos);

        write(sd.dir.path / "extra.pkl", "x");
        CHECK(a->check_path(sd.dir.path / "extra.pkl").reason == "extra.pkl is not listed in the manifest");
    }
}

TEST_CASE("approval fails on an untrusted key, a tampered manifest or an incomplete card", "[approval]") {
    SignedDir sd(KeyType::ecdsa_p256);
    auto other = generate_key(KeyType::ed25519);
    auto other_pub = (sd.dir.path / "other.pub").string();
    REQUIRE(write_public_pem(*other, other_pub).ok());
    auto cfg = sd.cfg();
    cfg.trusted_key_paths = {other_pub};
    auto untrusted = ModelApprover::load(cfg);
    REQUIRE_FALSE(untrusted.ok());
    CHECK(untrusted.error().message.find("is not signed by any trusted key") != std::string::npos);

    std::ofstream(sd.dir.path / "manifest.json", std::ios::app) << " ";
    auto tampered = ModelApprover::load(sd.cfg());
    REQUIRE_FALSE(tampered.ok());
    CHECK(tampered.error().message.find("is not signed by any trusted key") != std::string::npos);

    SignedDir nocard(KeyType::ed25519, "# Owner\nme\n");
    auto incomplete = ModelApprover::load(nocard.cfg());
    REQUIRE_FALSE(incomplete.ok());
    CHECK(incomplete.error().message.find("missing intended_use, training_data, known_failure_modes, last_evaluation_date, failure_response") != std::string::npos);
}

TEST_CASE("verdict cache hits only for the same dev/inode/size/mtime/ctime", "[cache]") {
    VerdictCache cache;
    FileIdentity id{1, 2, 3, 4, 5};
    Decision d;
    d.approved = true;
    cache.store(id, d);
    REQUIRE(cache.lookup(id).has_value());
    CHECK(cache.lookup(id)->approved);
    auto newer = id;
    newer.mtime_ns = 9;
    CHECK_FALSE(cache.lookup(newer).has_value());
    auto changed = id;
    changed.ctime_ns = 6;
    CHECK_FALSE(cache.lookup(changed).has_value());
    cache.forget(1, 2);
    CHECK_FALSE(cache.lookup(id).has_value());
    CHECK(cache.size() == 0);
}
