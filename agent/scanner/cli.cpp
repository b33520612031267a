// `scan` and `model` subcommands. Exit codes follow CI conventions: 0 clean, 1 findings, 2 error.
#include "scanner/cli.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "scanner/manifest.hpp"
#include "scanner/openssf_signing.hpp"
#include "scanner/report_format.hpp"
#include "scanner/scanner.hpp"

namespace mw::scanner {
namespace {

int g_exit_code = 0;

struct ScanArgs {
    std::vector<std::string> paths;
    std::string format = "text";
};

void run_scan(const ScanArgs& a) {
    std::vector<ScanReport> reports;
    std::error_code ec;
    auto one = [&](const std::string& p) {
        auto r = scan_and_hash_file(p);
        if (!r) {
            ScanReport e;
            e.path = p;
            e.error = r.error().message;
            reports.push_back(std::move(e));
        } else {
            reports.push_back(std::move(r->report));
        }
    };
    for (const auto& p : a.paths) {
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::string> files;
            std::error_code walk;
            for (auto it = std::filesystem::recursive_directory_iterator(p, walk); !walk && it != std::filesystem::recursive_directory_iterator(); it.increment(walk))
                if (it->is_regular_file(walk)) files.push_back(it->path().string());
            std::sort(files.begin(), files.end());
            for (const auto& f : files) one(f);
            // A directory that cannot be walked to the end must not pass CI as clean.
            if (walk) {
                ScanReport e;
                e.path = p;
                e.error = fmt::format("walk {}: {}", p, walk.message());
                reports.push_back(std::move(e));
            }
        } else {
            one(p);
        }
    }
    if (a.format == "json") std::cout << render_json(reports);
    else if (a.format == "sarif") std::cout << render_sarif(reports);
    else std::cout << render_text(reports);
    int rc = 0;
    for (const auto& r : reports) {
        if (r.verdict() == Verdict::error) rc = 2;
        else if (r.verdict() != Verdict::clean && rc == 0) rc = 1;
    }
    g_exit_code = rc;
}

struct ModelArgs {
    std::string dir, card, out, manifest, key, signature, type = "ecdsa", pub_out;
    std::vector<std::string> keys;
};

void fail(const std::string& msg) {
    std::cerr << "modelwarden: " << msg << "\n";
    g_exit_code = 2;
}

void run_keygen(const ModelArgs& a) {
    auto k = generate_key(a.type == "ed25519" ? KeyType::ed25519 : KeyType::ecdsa_p256);
    if (!k) return fail(k.error().message);
    if (auto r = write_private_pem(*k, a.out); !r) return fail(r.error().message);
    if (auto r = write_public_pem(*k, a.pub_out); !r) return fail(r.error().message);
    std::cout << fmt::format("wrote {} private key {} and public key {}\n", k->algorithm(), a.out, a.pub_out);
    g_exit_code = 0;
}

void run_manifest(const ModelArgs& a) {
    auto out = a.out.empty() ? (std::filesystem::path(a.dir) / "manifest.json").string() : a.out;
    std::vector<std::string> exclude;
    std::error_code ec;
    auto rel = std::filesystem::relative(out, a.dir, ec).string();
    if (!ec) {
        exclude.push_back(rel);
        exclude.push_back(signature_path_for(rel));
    }
    auto m = create_manifest(a.dir, a.card, exclude);
    if (!m) return fail(m.error().message);
    auto card = check_model_card((std::filesystem::path(a.dir) / a.card).string());
    if (!card) return fail(card.error().message);
    std::ofstream(out, std::ios::binary | std::ios::trunc) << serialize_manifest(*m);
    std::cout << fmt::format("wrote {} ({} files)\n", out, m->files.size());
    g_exit_code = 0;
    if (!card->complete()) {
        for (const auto& f : card->missing) std::cout << fmt::format("model card is missing: {}\n", f);
        for (const auto& p : card->problems) std::cout << fmt::format("model card problem: {}\n", p);
        g_exit_code = 1;
    }
}

void run_sign(const ModelArgs& a) {
    auto key = load_private_pem(a.key);
    if (!key) return fail(key.error().message);
    std::ifstream in(a.manifest, std::ios::binary);
    if (!in) return fail(fmt::format("cannot read {}", a.manifest));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto m = parse_manifest(bytes); !m) return fail(fmt::format("{}: {}", a.manifest, m.error().message));
    auto sig = sign(*key, {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
    if (!sig) return fail(sig.error().message);
    auto out = a.signature.empty() ? signature_path_for(a.manifest) : a.signature;
    std::ofstream(out, std::ios::binary | std::ios::trunc) << base64_encode(*sig) << "\n";
    std::cout << fmt::format("signed {} with {} -> {}\n", a.manifest, key->algorithm(), out);
    g_exit_code = 0;
}

void run_verify(const ModelArgs& a) {
    ApprovalConfig cfg{a.manifest, a.signature, a.keys};
    auto approver = ModelApprover::load(cfg);
    if (!approver) {
        std::cout << "not approved: " << approver.error().message << "\n";
        g_exit_code = 1;
        return;
    }
    int rc = 0;
    for (const auto& e : approver->manifest().files) {
        auto d = approver->check_path(approver->root() / e.path);
        std::cout << fmt::format("{}: {}\n", e.path, d.approved ? "approved" : "NOT approved: " + d.reason);
        if (!d.approved) rc = 1;
    }
    std::cout << fmt::format("manifest signed ({}), model card complete: {}\n", approver->signer_algorithm(), rc == 0 ? "approved" : "not approved");
    g_exit_code = rc;
}

void run_verify_openssf(const ModelArgs& a) {
    auto sig = a.signature.empty() ? (std::filesystem::path(a.dir) / "model.sig").string() : a.signature;
    auto r = verify_openssf_model_signature(a.dir, sig, a.keys);
    if (!r) {
        std::cout << "not approved: " << r.error().message << "\n";
        g_exit_code = 1;
        return;
    }
    int rc = 0;
    for (const auto& s : r->scans)
        if (s.verdict() != Verdict::clean) {
            std::cout << fmt::format("{}: scan verdict {}\n", s.path, to_string(s.verdict()));
            rc = 1;
        }
    std::cout << fmt::format("model '{}': OpenSSF signature verified, {} files match{}\n", r->model_name, r->resources.size(),
                             rc ? ", but scans found problems" : "");
    g_exit_code = rc;
}

}  // namespace

int model_commands_exit_code() { return g_exit_code; }

void add_model_commands(CLI::App& app) {
    auto scan_args = std::make_shared<ScanArgs>();
    auto* scan = app.add_subcommand("scan", "Scan model files for code-executing pickles and malformed containers");
    scan->add_option("paths", scan_args->paths, "files or directories")->required();
    scan->add_option("--format", scan_args->format, "output format")->check(CLI::IsMember({"text", "json", "sarif"}));
    scan->callback([scan_args] { run_scan(*scan_args); });
    auto a = std::make_shared<ModelArgs>();
    auto* model = app.add_subcommand("model", "Model manifests, signatures and cards");
    model->require_subcommand(1);
    auto* keygen = model->add_subcommand("keygen", "Generate a signing key pair");
    keygen->add_option("--type", a->type, "ecdsa (P-256) or ed25519")->check(CLI::IsMember({"ecdsa", "ed25519"}));
    keygen->add_option("--key", a->out, "private key PEM to create")->required();
    keygen->add_option("--pub", a->pub_out, "public key PEM to write")->required();
    keygen->callback([a] { run_keygen(*a); });
    auto* manifest = model->add_subcommand("manifest", "Create a manifest (path, size, sha256) for a model directory");
    manifest->add_option("dir", a->dir, "model directory")->required()->check(CLI::ExistingDirectory);
    manifest->add_option("--card", a->card, "model card path relative to the directory")->required();
    manifest->add_option("--out", a->out, "manifest path (default DIR/manifest.json)");
    manifest->callback([a] { run_manifest(*a); });
    auto* sign_cmd = model->add_subcommand("sign", "Sign a manifest (detached signature, base64)");
    sign_cmd->add_option("manifest", a->manifest, "manifest.json")->required();
    sign_cmd->add_option("--key", a->key, "private key PEM (ECDSA P-256 or Ed25519)")->required();
    sign_cmd->add_option("--out", a->signature, "signature path (default MANIFEST.sig)");
    sign_cmd->callback([a] { run_sign(*a); });
    auto* verify_cmd = model->add_subcommand("verify", "Verify signature, card, hashes and scan verdicts of a model directory");
    verify_cmd->add_option("manifest", a->manifest, "manifest.json")->required();
    verify_cmd->add_option("--key", a->keys, "trusted public key PEM (repeatable)")->required();
    verify_cmd->add_option("--signature", a->signature, "signature path (default MANIFEST.sig)");
    verify_cmd->callback([a] { run_verify(*a); });
    auto* openssf = model->add_subcommand("verify-openssf", "Verify an OpenSSF model-signing model.sig (key-based) and scan the files");
    openssf->add_option("dir", a->dir, "model directory")->required()->check(CLI::ExistingDirectory);
    openssf->add_option("--key", a->keys, "trusted public key PEM (repeatable)")->required();
    openssf->add_option("--signature", a->signature, "bundle path (default DIR/model.sig)");
    openssf->callback([a] { run_verify_openssf(*a); });
}

}  // namespace mw::scanner
