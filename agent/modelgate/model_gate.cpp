// fanotify permission events: read and answered from the cache on the daemon's io_context,
// verified (read, hash, scan) on a bounded verifier pool. Each event is answered exactly once;
// anything unexpected in a watched open fails closed in enforce mode.
#include "modelgate/model_gate.hpp"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mw::modelgate {
namespace {

std::string fd_path(int fd) {
    std::array<char, 4096> buf{};
    auto link = fmt::format("/proc/self/fd/{}", fd);
    auto n = ::readlink(link.c_str(), buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string{};
}

std::optional<scanner::FileIdentity> identity_of(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::nullopt;
    return scanner::FileIdentity::of(st);
}

scanner::Decision refused(std::string reason) {
    scanner::Decision d;
    d.reason = std::move(reason);
    return d;
}

}  // namespace

std::optional<scanner::Decision> OpenDecider::quick(const std::string& path,
                                                    const std::optional<scanner::FileIdentity>& id,
                                                    bool* from_cache) const {
    auto rel = std::filesystem::path(path).lexically_normal().lexically_relative(approver_->root()).string();
    // The manifest and its signature are public metadata the server may read.
    if (rel == "manifest.json" || rel == "manifest.json.sig") {
        scanner::Decision d;
        d.approved = true;
        d.reason = "manifest metadata";
        return d;
    }
    // Decided by name alone: no need to read a file the manifest cannot approve.
    if (rel.empty() || rel.starts_with(".."))
        return refused(fmt::format("{} is outside the model directory {}", path, approver_->root().string()));
    if (!approver_->manifest().find(rel)) return refused(fmt::format("{} is not listed in the manifest", rel));
    if (!id) return refused(fmt::format("{}: cannot stat the opened file", rel));
    auto cached = cache_.lookup(*id);
    if (from_cache) *from_cache = cached.has_value();
    return cached;
}

scanner::Decision OpenDecider::verify(int fd, const std::string& path, const std::atomic<bool>* cancel) const {
    return approver_->check_fd(fd, std::filesystem::path(path), cancel);
}

bool OpenDecider::conclude(const scanner::Decision& d, pid_t pid, const std::string& path, GateAlert* alert) const {
    if (d.approved) return true;
    bool allow = mode_ == GateMode::monitor;
    if (alert) *alert = GateAlert{pid, path, d.reason, !allow, false};
    return allow;
}

bool OpenDecider::decide(pid_t pid, int fd, const std::string& path, GateAlert* alert) {
    auto id = identity_of(fd);
    auto d = quick(path, id);
    if (!d) {
        d = verify(fd, path);
        if (id) cache_.store(*id, *d);
    }
    return conclude(*d, pid, path, alert);
}

Result<std::unique_ptr<ModelGate>> ModelGate::create(boost::asio::io_context& io, GateConfig cfg,
                                                     std::shared_ptr<const scanner::ModelApprover> approver) {
    if (!approver) return make_error("modelgate: no approver");
    if (!cfg.is_watched) return make_error("modelgate: is_watched callback is required");
    if (cfg.verify_threads == 0) cfg.verify_threads = 1;
    if (cfg.max_pending == 0) cfg.max_pending = 1;
    auto fan = FanotifyFd::create(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (!fan) return fan.error();
    const std::uint64_t mask = FAN_OPEN_PERM | FAN_MODIFY | FAN_EVENT_ON_CHILD;
    for (const auto& dir : cfg.model_dirs) {
        if (auto r = fan->mark_directory(dir, mask); !r) return r.error();
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
            if (it->is_directory(ec))
                if (auto r = fan->mark_directory(it->path().string(), mask); !r) return r.error();
        if (ec) return make_error(fmt::format("modelgate: walk {}: {}", dir, ec.message()), ec.value());
    }
    int dup_fd = ::fcntl(fan->get(), F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return make_error(fmt::format("modelgate: dup fanotify fd: {}", std::strerror(errno)), errno);
    return std::unique_ptr<ModelGate>(new ModelGate(io, std::move(cfg), std::move(fan.value()), dup_fd, std::move(approver)));
}

ModelGate::ModelGate(boost::asio::io_context& io, GateConfig cfg, FanotifyFd fan, int dup_fd,
                     std::shared_ptr<const scanner::ModelApprover> approver)
    : io_(io), cfg_(std::move(cfg)), fan_(std::move(fan)), sd_(io, dup_fd), decider_(std::move(approver), cfg_.mode) {}

ModelGate::~ModelGate() { stop(); }

void ModelGate::start() {
    {
        std::lock_guard l(mu_);
        if (!workers_.empty()) return;
        stopping_ = false;
        cancel_ = false;
    }
    stopped_ = false;
    for (unsigned i = 0; i < cfg_.verify_threads; ++i) workers_.emplace_back([this] { work(); });
    arm();
}

void ModelGate::stop() {
    stopped_ = true;
    boost::system::error_code ec;
    sd_.cancel(ec);
    std::vector<Waiter> orphans;
    {
        std::lock_guard l(mu_);
        stopping_ = true;
        cancel_ = true;
        for (auto& job : queue_) {
            for (auto& w : job->waiters) orphans.push_back(std::move(w));
            ::close(job->read_fd);
        }
        queue_.clear();
        // Running jobs keep their read fd (the worker still uses it) but lose their waiters.
        for (auto& job : running_) {
            for (auto& w : job->waiters) orphans.push_back(std::move(w));
            job->waiters.clear();
        }
        pending_ = 0;
        stats_.pending.store(0, std::memory_order_relaxed);
    }
    cv_.notify_all();
    // Closing the fanotify group would allow every pending open; answer them first instead.
    const bool allow = cfg_.mode == GateMode::monitor;
    for (const auto& w : orphans) {
        spdlog::warn("modelgate: stopping: {} pending open of {} by pid {} before its verification finished{}",
                     allow ? "allowed" : "denied", w.path, w.pid, allow ? " (monitor mode)" : " (fail closed)");
        answer(w, allow);
        stats_.answered_at_stop.fetch_add(1, std::memory_order_relaxed);
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
}

void ModelGate::arm() {
    sd_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec || stopped_) return;
        drain();
        arm();
    });
}

void ModelGate::drain() {
    alignas(struct fanotify_event_metadata) std::array<char, 8192> buf;
    while (true) {
        auto n = ::read(fan_.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) spdlog::warn("modelgate: read fanotify events: {}", std::strerror(errno));
            return;
        }
        if (n == 0) return;
        auto* md = reinterpret_cast<struct fanotify_event_metadata*>(buf.data());
        auto len = static_cast<std::size_t>(n);
        for (; FAN_EVENT_OK(md, len); md = FAN_EVENT_NEXT(md, len)) {
            if (md->vers != FANOTIFY_METADATA_VERSION) {
                spdlog::error("modelgate: fanotify metadata version {} is not {}", md->vers, FANOTIFY_METADATA_VERSION);
                return;
            }
            if (md->fd < 0) continue;  // queue overflow
            auto path = fd_path(md->fd);
            if (md->mask & FAN_MODIFY) {
                if (auto id = identity_of(md->fd)) decider_.cache().forget(id->dev, id->ino);
                if (cfg_.on_alert) cfg_.on_alert(GateAlert{md->pid, path, "write to a file under a model directory", false, true});
            }
            if ((md->mask & FAN_OPEN_PERM) && md->pid != ::getpid() && cfg_.is_watched(md->pid)) {
                on_open_perm(md->pid, md->fd, path);  // owns the fd from here on
                continue;
            }
            if (md->mask & FAN_OPEN_PERM) answer(Waiter{md->pid, md->fd, path}, true);
            else ::close(md->fd);
        }
    }
}

void ModelGate::on_open_perm(pid_t pid, int fd, const std::string& path) {
    auto id = identity_of(fd);
    bool from_cache = false;
    if (auto d = decider_.quick(path, id, &from_cache)) {
        stats_.answered_at_once.fetch_add(1, std::memory_order_relaxed);
        if (from_cache) stats_.cache_hits.fetch_add(1, std::memory_order_relaxed);
        GateAlert alert;
        bool allow = conclude_counted(*d, pid, path, &alert);
        if (!alert.reason.empty()) {
            spdlog::warn("modelgate: {} open of {} by pid {}: {}", alert.denied ? "denied" : "alerted", path, pid, alert.reason);
            post_alert(std::move(alert));
        }
        answer(Waiter{pid, fd, path}, allow);
        return;
    }
    enqueue(pid, fd, path, id);
}

void ModelGate::enqueue(pid_t pid, int fd, const std::string& path, std::optional<scanner::FileIdentity> id) {
    std::string refuse;
    {
        std::lock_guard l(mu_);
        if (stopping_) {
            refuse = "the gate is stopping";
        } else if (pending_ >= cfg_.max_pending) {
            stats_.queue_full.fetch_add(1, std::memory_order_relaxed);
            refuse = fmt::format("{} opens already wait for verification", pending_);
        } else {
            // A second open of a file already being verified waits for the same verdict.
            auto same = [&](const std::shared_ptr<Job>& j) { return j->id && id && *j->id == *id; };
            auto r = std::find_if(running_.begin(), running_.end(), same);
            std::shared_ptr<Job> joined = r != running_.end() ? *r : nullptr;
            if (!joined)
                if (auto q = std::find_if(queue_.begin(), queue_.end(), same); q != queue_.end()) joined = *q;
            if (joined) {
                joined->waiters.push_back({pid, fd, path});
                stats_.pending.store(++pending_, std::memory_order_relaxed);
                stats_.coalesced.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            int read_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (read_fd < 0) {
                refuse = fmt::format("dup of the event fd: {}", std::strerror(errno));
            } else {
                auto job = std::make_shared<Job>();
                job->id = id;
                job->path = path;
                job->read_fd = read_fd;
                job->waiters.push_back({pid, fd, path});
                queue_.push_back(std::move(job));
                stats_.pending.store(++pending_, std::memory_order_relaxed);
                cv_.notify_one();
                return;
            }
        }
    }
    spdlog::warn("modelgate: cannot verify open of {} by pid {}: {}", path, pid, refuse);
    GateAlert alert;
    bool allow = conclude_counted(refused(fmt::format("not verified: {}", refuse)), pid, path, &alert);
    post_alert(std::move(alert));
    answer(Waiter{pid, fd, path}, allow);
}

void ModelGate::work() {
    while (true) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock l(mu_);
            cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
            running_.push_back(job);
        }
        if (cfg_.on_verify_start) cfg_.on_verify_start(job->path);
        stats_.verifications.fetch_add(1, std::memory_order_relaxed);
        const auto t0 = std::chrono::steady_clock::now();
        auto d = decider_.verify(job->read_fd, job->path, &cancel_);
        stats_.observe_latency(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count()));
        // The verdict holds for the bytes that were read: a write meanwhile changes ctime.
        auto after = identity_of(job->read_fd);
        bool unchanged = job->id && after && *after == *job->id;
        if (!unchanged && d.approved) {
            d.approved = false;
            d.reason = fmt::format("{} changed while it was being verified", job->path);
        }
        // A read error says nothing lasting about the file; only real verdicts are cached.
        bool cacheable = unchanged && !d.sha256.empty() && !cancel_.load();
        finish(job, d, cacheable);
    }
}

void ModelGate::finish(const std::shared_ptr<Job>& job, const scanner::Decision& d, bool cacheable) {
    if (cacheable) decider_.cache().store(*job->id, d);
    std::vector<Waiter> waiters;
    {
        std::lock_guard l(mu_);
        waiters.swap(job->waiters);  // empty when stop() already answered them
        pending_ -= std::min(pending_, waiters.size());
        stats_.pending.store(pending_, std::memory_order_relaxed);
        running_.erase(std::remove(running_.begin(), running_.end(), job), running_.end());
    }
    ::close(job->read_fd);
    job->read_fd = -1;
    for (const auto& w : waiters) {
        GateAlert alert;
        bool allow = conclude_counted(d, w.pid, w.path, &alert);
        if (!alert.reason.empty()) {
            spdlog::warn("modelgate: {} open of {} by pid {}: {}", alert.denied ? "denied" : "alerted", w.path, w.pid, alert.reason);
            post_alert(std::move(alert));
        }
        answer(w, allow);
    }
}

void ModelGate::answer(const Waiter& w, bool allow) {
    // Answered straight from whichever thread has the verdict: the opener's wait never depends
    // on how busy the io_context is, and a write(2) to the group fd is safe from any thread.
    if (auto r = fan_.respond(w.fd, allow); !r) spdlog::error("{}", r.error().message);
    ::close(w.fd);
    stats_.answered.fetch_add(1, std::memory_order_relaxed);
    if (!allow) stats_.denied.fetch_add(1, std::memory_order_relaxed);
}

bool ModelGate::conclude_counted(const scanner::Decision& d, pid_t pid, const std::string& path, GateAlert* alert) {
    (d.approved ? stats_.approved : stats_.not_approved).fetch_add(1, std::memory_order_relaxed);
    return decider_.conclude(d, pid, path, alert);
}

void ModelGate::post_alert(GateAlert alert) {
    if (!cfg_.on_alert) return;
    // The pipeline behind on_alert is single-threaded: alerts always run on the io_context.
    boost::asio::post(io_, [this, alive = std::weak_ptr<int>(alive_), alert = std::move(alert)] {
        if (alive.lock()) cfg_.on_alert(alert);
    });
}

}  // namespace mw::modelgate
