// fanotify permission-event loop in the daemon's io_context. Each event is answered exactly
// once; anything unexpected in a watched open fails closed in enforce mode.
#include "modelgate/model_gate.hpp"

#include <fcntl.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
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

}  // namespace

bool OpenDecider::decide(pid_t pid, int fd, const std::string& path, GateAlert* alert) {
    std::filesystem::path p(path);
    auto rel = p.lexically_relative(approver_->root()).string();
    // The manifest and its signature are public metadata the server may read.
    if (rel == "manifest.json" || rel == "manifest.json.sig") return true;
    scanner::Decision d;
    struct stat st {};
    bool have_stat = ::fstat(fd, &st) == 0;
    auto id = have_stat ? scanner::FileIdentity::of(st) : scanner::FileIdentity{};
    if (auto hit = have_stat ? cache_.lookup(id) : std::nullopt) {
        d = std::move(*hit);
    } else {
        d = approver_->check_fd(fd, p);
        if (have_stat) cache_.store(id, d);
    }
    if (d.approved) return true;
    bool allow = mode_ == GateMode::monitor;
    if (alert) *alert = GateAlert{pid, path, d.reason, !allow, false};
    return allow;
}

Result<std::unique_ptr<ModelGate>> ModelGate::create(boost::asio::io_context& io, GateConfig cfg,
                                                     std::shared_ptr<const scanner::ModelApprover> approver) {
    if (!approver) return make_error("modelgate: no approver");
    if (!cfg.is_watched) return make_error("modelgate: is_watched callback is required");
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
    : cfg_(std::move(cfg)), fan_(std::move(fan)), sd_(io, dup_fd), decider_(std::move(approver), cfg_.mode) {}

ModelGate::~ModelGate() { stop(); }

void ModelGate::start() {
    stopped_ = false;
    arm();
}

void ModelGate::stop() {
    stopped_ = true;
    boost::system::error_code ec;
    sd_.cancel(ec);
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
            if (md->mask & FAN_OPEN_PERM) {
                bool allow = true;
                GateAlert alert;
                if (md->pid != ::getpid() && cfg_.is_watched(md->pid)) {
                    allow = decider_.decide(md->pid, md->fd, path, &alert);
                    if (!alert.reason.empty()) {
                        spdlog::warn("modelgate: {} open of {} by pid {}: {}", alert.denied ? "denied" : "alerted", path, md->pid, alert.reason);
                        if (cfg_.on_alert) cfg_.on_alert(alert);
                    }
                }
                if (auto r = fan_.respond(md->fd, allow); !r) spdlog::error("{}", r.error().message);
            }
            if (md->mask & FAN_MODIFY) {
                struct stat st {};
                if (::fstat(md->fd, &st) == 0) decider_.cache().forget(st.st_dev, st.st_ino);
                if (cfg_.on_alert) cfg_.on_alert(GateAlert{md->pid, path, "write to a file under a model directory", false, true});
            }
            ::close(md->fd);
        }
    }
}

}  // namespace mw::modelgate
