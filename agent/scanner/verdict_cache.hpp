// Cache of approval decisions keyed by the file's identity and version, so re-opening an
// approved model costs a stat and a hash-map lookup instead of a re-hash.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "scanner/manifest.hpp"

namespace mw::scanner {

struct FileIdentity {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0;
    // ctime too: mtime can be set back with utimensat() after tampering; ctime cannot.
    std::int64_t ctime_ns = 0;

    static FileIdentity of(const struct stat& st);
    bool operator==(const FileIdentity&) const = default;
};

class VerdictCache {
public:
    explicit VerdictCache(std::size_t max_entries = 4096) : max_(max_entries) {}

    std::optional<Decision> lookup(const FileIdentity& id) const;
    void store(const FileIdentity& id, Decision d);
    void forget(std::uint64_t dev, std::uint64_t ino);  // on a write to the file
    void clear();
    std::size_t size() const;

private:
    struct Key {
        std::uint64_t dev, ino;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const { return std::hash<std::uint64_t>{}(k.dev * 0x9E3779B97F4A7C15ull ^ k.ino); }
    };
    struct Entry {
        FileIdentity id;
        Decision decision;
    };
    mutable std::mutex mu_;
    std::unordered_map<Key, Entry, KeyHash> map_;
    std::size_t max_;
};

}  // namespace mw::scanner
