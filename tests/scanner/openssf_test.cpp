// OpenSSF model-signing verification against bundles produced by an independent Python signer
// (tests/scanner/corpus/gen_openssf.py, python3-cryptography).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "scanner/openssf_signing.hpp"
#include "scanner/signing.hpp"

namespace fs = std::filesystem;
using namespace mw::scanner;

namespace {

struct SignedModel {
    fs::path root, dir, pub, priv;
    SignedModel() {
        char tmpl[] = "/tmp/mw-openssf-XXXXXX";
        root = ::mkdtemp(tmpl);
        dir = root / "my-model";
        fs::create_directories(dir / "shards");
        std::ofstream(dir / "shards" / "a.pkl", std::ios::binary) << std::string("\x80\x02}q\x00.", 6);
        std::ofstream(dir / "config.json") << "{\"layers\": 2}";
        std::ofstream(dir / "README.md") << "# model\n";
        priv = root / "k.pem";
        pub = root / "k.pub";
        auto cmd = "/usr/bin/python3 " + std::string(MW_OPENSSF_GEN) + " " + dir.string() + " " + priv.string() + " " + pub.string();
        REQUIRE(std::system(cmd.c_str()) == 0);
    }
    ~SignedModel() { fs::remove_all(root); }
};

}  // namespace

TEST_CASE("dsse PAE matches the DSSE v1 spec", "[openssf]") {
    CHECK(dsse_pae("application/vnd.in-toto+json", "{}") == "DSSEv1 28 application/vnd.in-toto+json 2 {}");
}

TEST_CASE("a key-based OpenSSF model.sig verifies and every file is re-hashed and scanned", "[openssf]") {
    SignedModel m;
    auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {m.pub.string()});
    REQUIRE(r.ok());
    CHECK(r->model_name == "my-model");
    REQUIRE(r->resources.size() == 3);
    CHECK(r->resources[0].name == "README.md");
    CHECK(r->resources[2].name == "shards/a.pkl");
    CHECK(r->scans.size() == 3);
}

TEST_CASE("OpenSSF verification fails on tampering, extra files and untrusted keys", "[openssf]") {
    SignedModel m;
    SECTION("modified file") {
        std::ofstream(m.dir / "config.json") << "{\"layers\": 3}";
        auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {m.pub.string()});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message.starts_with("openssf: 'config.json' sha256 "));
    }
    SECTION("file not covered by the signature") {
        std::ofstream(m.dir / "extra.bin") << "x";
        auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {m.pub.string()});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "openssf: 'extra.bin' is not covered by the signature");
    }
    SECTION("missing file") {
        fs::remove(m.dir / "README.md");
        auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {m.pub.string()});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "openssf: signed file 'README.md' is missing");
    }
    SECTION("untrusted key") {
        auto other = generate_key(KeyType::ecdsa_p256);
        auto other_pub = (m.root / "other.pub").string();
        REQUIRE(write_public_pem(*other, other_pub).ok());
        auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {other_pub});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "openssf: DSSE signature does not verify with any trusted key");
    }
    SECTION("payload edited after signing") {
        std::ifstream in(m.dir / "model.sig");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto pos = text.find("\"payload\": \"") + 12;
        text[pos + 10] = text[pos + 10] == 'A' ? 'B' : 'A';
        std::ofstream(m.dir / "model.sig", std::ios::trunc) << text;
        auto r = verify_openssf_model_signature(m.dir, m.dir / "model.sig", {m.pub.string()});
        REQUIRE_FALSE(r.ok());
    }
}
