// `scan` and `model` subcommands. Exit codes follow CI conventions: 0 clean, 1 findings, 2 error.
#include "scanner/cli.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

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
            for (auto it = std::filesystem::recursive_directory_iterator(p, ec); !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
                if (it->is_regular_file(ec)) files.push_back(it->path().string());
            std::sort(files.begin(), files.end());
            for (const auto& f : files) one(f);
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

}  // namespace

int model_commands_exit_code() { return g_exit_code; }

void add_model_commands(CLI::App& app) {
    auto scan_args = std::make_shared<ScanArgs>();
    auto* scan = app.add_subcommand("scan", "Scan model files for code-executing pickles and malformed containers");
    scan->add_option("paths", scan_args->paths, "files or directories")->required();
    scan->add_option("--format", scan_args->format, "output format")->check(CLI::IsMember({"text", "json", "sarif"}));
    scan->callback([scan_args] { run_scan(*scan_args); });
    // model subcommands: see add_model_subcommands (pending)
}

}  // namespace mw::scanner
