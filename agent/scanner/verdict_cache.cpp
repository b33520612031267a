// Verdict cache: an entry is only valid while every part of the file identity is unchanged.
#include "scanner/verdict_cache.hpp"

namespace mw::scanner {

FileIdentity FileIdentity::of(const struct stat& st) {
    FileIdentity id;
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    id.size = static_cast<std::uint64_t>(st.st_size);
    id.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    id.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return id;
}

std::optional<Decision> VerdictCache::lookup(const FileIdentity& id) const {
    std::lock_guard lock(mu_);
    auto it = map_.find({id.dev, id.ino});
    if (it == map_.end() || !(it->second.id == id)) return std::nullopt;
    return it->second.decision;
}

void VerdictCache::store(const FileIdentity& id, Decision d) {
    std::lock_guard lock(mu_);
    if (map_.size() >= max_ && !map_.count({id.dev, id.ino})) map_.clear();  // simple bound; re-verification is safe
    d.report.findings.shrink_to_fit();
    map_[{id.dev, id.ino}] = Entry{id, std::move(d)};
}

void VerdictCache::forget(std::uint64_t dev, std::uint64_t ino) {
    std::lock_guard lock(mu_);
    map_.erase({dev, ino});
}

void VerdictCache::clear() {
    std::lock_guard lock(mu_);
    map_.clear();
}

std::size_t VerdictCache::size() const {
    std::lock_guard lock(mu_);
    return map_.size();
}

}  // namespace mw::scanner
