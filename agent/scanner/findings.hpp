// Vocabulary of the model-artifact scanner: findings, verdicts and the report of one file.
// Kept free of daemon types so CI tools and the runtime gate share it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mw::scanner {

enum class Severity : std::uint8_t { info = 0, suspicious = 1, dangerous = 2 };

// The verdict of a whole file is its worst finding; `error` means the file could not be read.
enum class Verdict : std::uint8_t { clean = 0, suspicious = 1, dangerous = 2, error = 3 };

struct Finding {
    Severity severity = Severity::suspicious;
    std::string kind;     // "global", "call", "build", "malformed", "container", ...
    std::string member;   // path inside the container ("archive/data.pkl"), empty for the file itself
    std::uint64_t offset = 0;  // byte offset of the opcode / header inside `member`
    std::string global;   // "module.name" when the finding is about an imported global
    std::string message;
};

struct ScanReport {
    std::string path;
    std::string format;  // "pickle", "torch-zip", "torch-legacy", "npy", "npz", "safetensors", ...
    std::vector<Finding> findings;
    std::string error;   // non-empty when the file could not be scanned at all

    Verdict verdict() const;
    bool has_global(std::string_view dotted) const;
};

std::string_view to_string(Severity s);
std::string_view to_string(Verdict v);

}  // namespace mw::scanner
