// Kernel feature probe for start-up decisions and `modelwarden doctor`: each optional
// hook is tried for real (tiny program loaded/attached) and reported with the reason.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

namespace mw::sensors {

struct FeatureStatus {
    std::string name;       // "btf", "ringbuf", "tp_btf", "raw_tp", "syscall_tracepoints",
                            // "cgroup_sock_addr", "bpf_send_signal", "fentry", "bpf_lsm",
                            // "kprobes", "fanotify_perm", "tracefs", "bpffs", "lockdown"
    bool available = false;
    std::string detail;     // why (errno text), or the value (lockdown mode)
};

struct KernelFeatures {
    std::vector<FeatureStatus> items;
    const FeatureStatus* find(const std::string& name) const;
    bool has(const std::string& name) const;
    // Which hook family serves exec/file/network observation on this kernel.
    std::vector<std::string> active_paths() const;
    // Which mechanism serves each enforcement action on this kernel (doctor, status).
    std::vector<std::string> enforcement_mechanisms() const;
};

// Needs root (CAP_BPF/CAP_SYS_ADMIN) for the load probes; never fails as a whole.
KernelFeatures probe();

}  // namespace mw::sensors

template <>
struct fmt::formatter<mw::sensors::KernelFeatures> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const mw::sensors::KernelFeatures& f, Ctx& ctx) const
    {
        auto out = ctx.out();
        for (const auto& i : f.items)
            out = fmt::format_to(out, "  {:<22} {:<4} {}\n", i.name, i.available ? "yes" : "no", i.detail);
        out = fmt::format_to(out, "active:\n");
        for (const auto& a : f.active_paths()) out = fmt::format_to(out, "  {}\n", a);
        out = fmt::format_to(out, "enforcement:\n");
        for (const auto& m : f.enforcement_mechanisms()) out = fmt::format_to(out, "  {}\n", m);
        return out;
    }
};
