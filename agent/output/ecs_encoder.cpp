// ECS JSON encoding. The hot path appends into the caller's buffer only: no temporaries.
#include "output/ecs_encoder.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <charconv>

#include "output/json_text.hpp"

namespace mw {
namespace {

// Processes whose fragments stay cached: a model server host has a few hundred active ones.
constexpr unsigned kCacheBits = 9;
constexpr std::size_t kCacheSlots = std::size_t{1} << kCacheBits;

std::uint64_t realtime_now() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string_view basename_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view dirname_of(std::string_view path) {
    auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return {};
    return slash == 0 ? path.substr(0, 1) : path.substr(0, slash);
}

void comma_list(json::Writer& w, std::string_view key, std::string_view values) {
    w.begin_array(key);
    while (!values.empty()) {
        auto comma = values.find(',');
        std::string_view v = values.substr(0, comma);
        if (!v.empty()) w.element(v);
        if (comma == std::string_view::npos) break;
        values.remove_prefix(comma + 1);
    }
    w.end_array();
}

// Space-joined argv, quoted for JSON in one pass (no joined temporary).
void command_line(json::JsonLine& out, const std::vector<std::string>& args) {
    out.put('"');
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (i) out.put(' ');
        json::append_escaped(out, args[i]);
    }
    out.put('"');
}

void process_core(json::Writer& w, const Process& p, const HostInfo& host, bool with_args) {
    w.uint("pid", p.pid);
    w.string_if("entity_id", p.entity_id);
    w.string_if("executable", p.executable);
    w.string_if("name", p.name);
    if (with_args && !p.args.empty()) {
        w.begin_array("args");
        for (const auto& a : p.args) w.element(a);
        w.end_array();
        w.uint("args_count", p.args.size());
        w.raw("command_line", {});
        command_line(w.out(), p.args);
    }
    if (p.start_time_ns != 0)
        w.timestamp("start", static_cast<std::uint64_t>(static_cast<std::int64_t>(p.start_time_ns) + host.boot_to_realtime_ns));
}

std::uint64_t exit_status(std::int32_t raw) {
    // Raw wait status: signal in the low 7 bits, exit code in the next byte; signals as 128+n.
    const std::uint32_t status = static_cast<std::uint32_t>(raw);
    return (status & 0x7f) != 0 ? 128u + (status & 0x7f) : (status >> 8) & 0xff;
}

void endpoint(json::Writer& w, std::string_view key, const Endpoint& ep) {
    char ip[INET6_ADDRSTRLEN] = {};
    w.begin_object(key);
    if (ep.family == AF_INET || ep.family == AF_INET6) {
        std::string_view text;
        if (ep.family == AF_INET) {
            // Dotted quad by hand: glibc's inet_ntop for IPv4 goes through sprintf.
            char* p = ip;
            for (int i = 0; i < 4; ++i) {
                if (i) *p++ = '.';
                p = std::to_chars(p, ip + sizeof ip, ep.addr[static_cast<std::size_t>(i)]).ptr;
            }
            text = std::string_view(ip, static_cast<std::size_t>(p - ip));
        } else if (::inet_ntop(AF_INET6, ep.addr.data(), ip, sizeof ip) != nullptr) {
            text = ip;
        }
        if (!text.empty()) {
            w.string("address", text);
            w.string("ip", text);
        }
        w.uint("port", ep.port);
    } else if (ep.family == AF_UNIX) {
        w.string_if("address", ep.unix_path);
    }
    w.end_object();
}

bool is_hex64_at(std::string_view s, std::size_t i) {
    if (i + 64 > s.size()) return false;
    for (std::size_t k = i; k < i + 64; ++k) {
        char c = s[k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return i + 64 == s.size() || s[i + 64] == '.' || s[i + 64] == '/';
}

// Docker, containerd, CRI-O and podman name the container's cgroup after its 64-hex id.
std::string_view container_id(std::string_view cgroup_path) {
    std::string_view leaf = basename_of(cgroup_path);
    for (std::size_t i = 0; i + 64 <= leaf.size(); ++i) {
        if ((i == 0 || leaf[i - 1] == '-') && is_hex64_at(leaf, i)) return leaf.substr(i, 64);
    }
    return {};
}

std::string_view network_direction(std::string_view action) {
    if (action == "connect" || action == "send") return "egress";
    if (action == "accept" || action == "listen" || action == "bind") return "ingress";
    return {};
}

}  // namespace

EcsEncoder::EcsEncoder(HostInfo host, AgentInfo agent, EcsEncoderOptions options)
    : host_(std::move(host)), agent_(std::move(agent)), options_(options) {
    if (options_.clock == nullptr) options_.clock = realtime_now;
    json::JsonLine fragment(4096);
    json::Writer w(fragment);
    w.begin_object("host");
    w.string_if("hostname", host_.hostname);
    w.string_if("name", host_.name);
    w.string_if("id", host_.id);
    w.string_if("architecture", host_.architecture);
    if (!host_.boot_id.empty()) {
        w.begin_object("boot");
        w.string("id", host_.boot_id);
        w.end_object();
    }
    w.begin_object("os");
    w.string_if("type", host_.os_type);
    w.string_if("family", host_.os_family);
    w.string_if("name", host_.os_name);
    w.string_if("version", host_.os_version);
    w.string_if("full", host_.os_full);
    w.string_if("platform", host_.os_platform);
    w.string_if("kernel", host_.os_kernel);
    w.end_object();
    w.end_object();
    w.begin_object("agent");
    w.string_if("type", agent_.type);
    w.string_if("version", agent_.version);
    w.string_if("id", agent_.id);
    w.string_if("name", agent_.name);
    w.end_object();
    host_agent_json_ = fragment.view();  // "host":{...},"agent":{...}: spliced into every event
    event_id_prefix_ = agent_.id.empty() ? "modelwarden-" : agent_.id + "-";
    cache_.resize(kCacheSlots);
}

void EcsEncoder::render(const Process& p, ProcessFragments& f) const {
    json::JsonLine& s = fragment_scratch_;
    s.clear();
    {
        json::Writer w(s);
        process_core(w, p, host_, true);
        f.core_end = s.size();
    }
    {
        json::Writer w(s);
        w.string_if("working_directory", p.cwd);
        if (p.exited) {
            w.uint("exit_code", exit_status(p.exit_code));
            if (p.exit_time_ns != 0)
                w.timestamp("end", static_cast<std::uint64_t>(static_cast<std::int64_t>(p.exit_time_ns) + host_.boot_to_realtime_ns));
        }
        f.own_end = s.size();
    }
    {
        json::Writer w(s);
        w.begin_object("user");
        w.raw("id", {});
        s.put('"');
        json::append_uint(s, p.uid);
        s.put('"');
        w.end_object();
        w.begin_object("group");
        w.raw("id", {});
        s.put('"');
        json::append_uint(s, p.gid);
        s.put('"');
        w.end_object();
        f.users_end = s.size();
    }
    {
        json::Writer w(s);
        w.uint("pid", p.pid);
        w.string_if("entity_id", p.entity_id);
        w.string_if("executable", p.executable);
        f.ident_end = s.size();
    }
    s.put('[');
    for (std::size_t i = 0; i < p.args.size(); ++i) {
        if (i) s.put(',');
        json::append_string(s, p.args[i]);
    }
    s.put(']');
    f.args_end = s.size();
    {
        json::Writer w(s);
        if (auto cid = container_id(p.cgroup_path); !cid.empty()) {
            w.begin_object("container");
            w.string("id", cid);
            w.end_object();
        }
        f.container_end = s.size();
    }
    {
        json::Writer w(s);
        w.begin_object("process");
        w.boolean("args_truncated", p.args_truncated);
        if (p.cgroup_id != 0 || !p.cgroup_path.empty()) {
            w.begin_object("cgroup");
            w.uint("id", p.cgroup_id);
            w.string_if("path", p.cgroup_path);
            w.end_object();
        }
        if (p.exited && (static_cast<std::uint32_t>(p.exit_code) & 0x7f) != 0)
            w.uint("exit_signal", static_cast<std::uint32_t>(p.exit_code) & 0x7f);
        w.end_object();
    }
    f.text.assign(s.view());  // allocates only while the slot's capacity grows
}

const EcsEncoder::ProcessFragments& EcsEncoder::fragments(const Process& p) const {
    // Revisions are unique per process state, so a hit can only be this very state. Processes
    // not from a ProcessTable (revision 0) are rendered every time: nothing tells when they change.
    const bool cacheable = options_.cache_fragments && p.revision != 0;
    ProcessFragments& f = cache_[cacheable ? (p.revision * 0x9E3779B97F4A7C15ull) >> (64 - kCacheBits) : 0];
    if (cacheable && f.revision == p.revision && f.process == &p) return f;
    render(p, f);
    f.process = &p;
    f.revision = cacheable ? p.revision : 0;
    return f;
}

void EcsEncoder::format_event_id(std::uint64_t sequence, std::string& out) const {
    out.assign(event_id_prefix_);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, sequence);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void EcsEncoder::encode(const SecurityEvent& ev, std::string& out) const {
    encode(ev, scratch_);
    out.assign(scratch_.view());
}

void EcsEncoder::encode(const SecurityEvent& ev, json::JsonLine& out) const {
    out.clear();
    json::Writer w(out);
    const Process* proc = ev.process;
    const bool alert = ev.kind == EventKind::Alert;
    w.begin_object();

    w.timestamp("@timestamp", ev.timestamp_ns);
    w.raw("ecs", "{\"version\":\"9.4.0\"}");

    w.begin_object("event");
    w.raw("id", {});
    out.put('"');
    out.append(event_id_prefix_);  // agent id: hex and '-' only, no escaping needed
    json::append_uint(out, ev.sequence);
    out.put('"');
    w.uint("sequence", ev.sequence);
    w.string("kind", alert ? "alert" : ev.kind == EventKind::PipelineError ? "pipeline_error" : "event");
    if (!ev.category.empty()) comma_list(w, "category", ev.category);
    if (!ev.type.empty()) comma_list(w, "type", ev.type);
    w.string_if("action", ev.action);
    w.string("outcome", ev.outcome == Outcome::Success ? "success"
                        : ev.outcome == Outcome::Failure ? "failure" : "unknown");
    if (ev.rule != nullptr) w.uint("severity", ev.rule->severity_score);
    w.string("module", "modelwarden");
    w.string("dataset", alert ? "modelwarden.alert" : ev.kind == EventKind::PipelineError ? "modelwarden.pipeline" : "modelwarden.event");
    w.timestamp("created", options_.clock());
    w.end_object();

    if (!ev.message.empty()) w.string("message", ev.message);
    else if (ev.rule != nullptr && !ev.rule->name.empty()) w.string("message", ev.rule->name);

    const Process* parent = nullptr;
    if (!ev.ancestors.empty() && ev.ancestors[0] != nullptr && proc != nullptr && ev.ancestors[0]->pid == proc->ppid)
        parent = ev.ancestors[0];

    if (proc != nullptr) {
        w.begin_object("process");
        w.splice(fragments(*proc).core());
        w.splice(fragments(*proc).own());
        w.splice(fragments(*proc).users());
        if (parent != nullptr) {
            w.begin_object("parent");
            w.splice(fragments(*parent).core());
            w.end_object();
        } else if (proc->ppid != 0) {
            w.begin_object("parent");
            w.uint("pid", proc->ppid);
            w.end_object();
        }
        w.end_object();
        w.splice(fragments(*proc).users());
    }

    if (!ev.file_path.empty()) {
        w.begin_object("file");
        w.string("path", ev.file_path);
        w.string_if("name", basename_of(ev.file_path));
        w.string_if("directory", dirname_of(ev.file_path));
        if (ev.file_mode != 0) {
            // ECS file.mode is the octal string ("0640"): special bits, then user/group/other.
            char mode[4];
            for (int i = 0; i < 4; ++i) mode[i] = static_cast<char>('0' + ((ev.file_mode >> (9 - 3 * i)) & 7));
            w.string("mode", std::string_view(mode, 4));
        }
        w.end_object();
    }

    // An API caller has no process: its user is the certificate's, not a process owner's.
    if (proc == nullptr && !ev.user_name.empty()) {
        w.begin_object("user");
        w.string("name", ev.user_name);
        w.end_object();
    }
    if (!ev.url_path.empty()) {
        w.begin_object("url");
        w.string("path", ev.url_path);
        w.end_object();
    }

    const bool net = ev.source.present() || ev.destination.present();
    if (ev.source.present()) endpoint(w, "source", ev.source);
    if (ev.destination.present()) endpoint(w, "destination", ev.destination);
    if (net) {
        const Endpoint& ep = ev.destination.present() ? ev.destination : ev.source;
        std::string_view direction = network_direction(ev.action);
        const bool inet = ep.family == AF_INET || ep.family == AF_INET6;
        if (inet || !direction.empty()) {
            w.begin_object("network");
            if (inet) {
                if (ev.socket_type == SOCK_STREAM) w.string("transport", "tcp");
                else if (ev.socket_type == SOCK_DGRAM) w.string("transport", "udp");
                w.string("type", ep.family == AF_INET ? "ipv4" : "ipv6");
            }
            w.string_if("direction", direction);
            w.end_object();
        }
    }

    if (ev.rule != nullptr) {
        const RuleMatch& r = *ev.rule;
        w.begin_object("rule");
        w.string_if("id", r.id);
        w.string_if("name", r.name);
        w.string_if("description", r.description);
        w.string("ruleset", ev.workload_name.empty() ? std::string_view("modelwarden") : ev.workload_name);
        w.string_if("category", r.tactic_name);
        w.end_object();
        if (!r.technique_id.empty()) {
            w.begin_object("threat");
            w.string("framework", "MITRE ATT&CK");
            w.begin_object("technique");
            w.begin_array("id");
            w.element(r.technique_id);
            w.end_array();
            if (!r.technique_name.empty()) {
                w.begin_array("name");
                w.element(r.technique_name);
                w.end_array();
            }
            w.end_object();
            if (!r.tactic_name.empty()) {
                w.begin_object("tactic");
                w.begin_array("name");
                w.element(r.tactic_name);
                w.end_array();
                w.end_object();
            }
            w.end_object();
        }
    }

    out.put(',');
    out.append(host_agent_json_);

    if (proc != nullptr) w.splice(fragments(*proc).container());

    w.begin_object("modelwarden");
    if (ev.record_type != 0) {
        w.uint("record_type", ev.record_type);
        w.int64("result", ev.result);
    }
    if (ev.rule != nullptr) w.string_if("severity", ev.rule->severity);
    if (ev.kind == EventKind::PipelineError) w.uint("lost_events", ev.lost_events);
    if (proc != nullptr) w.splice(fragments(*proc).modelwarden_process());
    if (!ev.ancestors.empty()) {
        w.begin_array("ancestors");
        const std::size_t n = std::min(ev.ancestors.size(), options_.max_ancestors);
        for (std::size_t i = 0; i < n; ++i) {
            const Process* a = ev.ancestors[i];
            if (a == nullptr) continue;
            const ProcessFragments& f = fragments(*a);
            w.begin_object();
            w.splice(f.ident());
            w.raw("args", f.args());
            w.end_object();
        }
        w.end_array();
    }
    if (!ev.workload_name.empty() || ev.workload_root != nullptr || (proc && proc->workload_id != 0)) {
        w.begin_object("workload");
        w.string_if("name", ev.workload_name);
        if (proc != nullptr && proc->workload_id != 0) w.uint("id", proc->workload_id);
        if (ev.workload_root != nullptr) {
            w.begin_object("root");
            w.splice(fragments(*ev.workload_root).ident());
            w.end_object();
        }
        w.end_object();
    }
    if (!ev.enforcement.action.empty()) {
        w.begin_object("enforcement");
        w.string("action", ev.enforcement.action);
        w.boolean("applied", ev.enforcement.applied);
        w.boolean("succeeded", ev.enforcement.succeeded);
        w.string_if("detail", ev.enforcement.detail);
        w.end_object();
    }
    if (!ev.syscall_name.empty() || ev.syscall_nr != 0) {
        w.begin_object("syscall");
        w.string_if("name", ev.syscall_name);
        w.uint("nr", ev.syscall_nr);
        w.begin_array("args");
        for (std::uint64_t a : ev.syscall_args) w.element(a);
        w.end_array();
        w.end_object();
    }
    if (ev.target_pid != 0) {
        w.begin_object("target");
        w.uint("pid", ev.target_pid);
        w.end_object();
    }
    if (ev.action == "open") w.uint("open_flags", ev.open_flags);
    if (!ev.file_target_path.empty()) {
        w.begin_object("file");
        w.string("target_path", ev.file_target_path);
        w.end_object();
    }
    if (ev.socket_type != 0 || ev.source.family == AF_UNIX || ev.destination.family == AF_UNIX) {
        w.begin_object("network");
        const std::uint16_t fam = ev.destination.present() ? ev.destination.family : ev.source.family;
        w.string("family", fam == AF_INET ? "ipv4" : fam == AF_INET6 ? "ipv6" : fam == AF_UNIX ? "unix" : "unknown");
        if (ev.socket_type != 0) w.uint("socket_type", ev.socket_type);
        w.end_object();
    }
    w.end_object();

    w.end_object();
}

}  // namespace mw
