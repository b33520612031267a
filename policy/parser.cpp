// Strict YAML policy parser: walks only the schema below, so the cost is bounded by the
// schema's size times the document's, whatever aliases the document uses.
#include "policy/parser.hpp"
#include "policy/evaluate.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace mw::policy {

std::string Diagnostic::str() const {
    if (line <= 0) return fmt::format("{}: {}", file, message);
    return fmt::format("{}:{}:{}: {}", file, line, column, message);
}

bool ParseReport::any_unreadable() const {
    return std::any_of(errors.begin(), errors.end(), [](const Diagnostic& d) { return d.unreadable; });
}

namespace {

struct Context {
    const ParseOptions& opts;
    std::vector<std::string> homes;
    std::vector<Diagnostic>& errors;
    bool capped = false;

    void add(const std::string& file, const YAML::Mark& m, std::string msg) {
        if (capped) return;
        if (errors.size() >= opts.max_errors) {
            errors.push_back({file, m.line + 1, m.column + 1, "too many errors, stopping", false});
            capped = true;
            return;
        }
        errors.push_back({file, m.is_null() ? 0 : m.line + 1, m.is_null() ? 0 : m.column + 1, std::move(msg), false});
    }
};

class DocumentParser {
public:
    DocumentParser(Context& ctx, std::string file) : ctx_(ctx), file_(std::move(file)) {}

    // Returns false when the document had errors.
    bool parse(const YAML::Node& doc, WorkloadPolicy& out) {
        std::size_t before = ctx_.errors.size();
        out.origin = fmt::format("{}:{}", file_, doc.Mark().line + 1);
        if (!expect_map(doc, "policy document")) return false;
        check_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, "policy document");
        if (auto v = required_string(doc, "apiVersion", "policy document"); v && *v != "modelwarden/v1")
            err(doc["apiVersion"], fmt::format("apiVersion must be modelwarden/v1, not '{}'", *v));
        if (auto v = required_string(doc, "kind", "policy document"); v && *v != "WorkloadPolicy")
            err(doc["kind"], fmt::format("kind must be WorkloadPolicy, not '{}'", *v));
        if (auto md = required(doc, "metadata", "policy document"))
            parse_metadata(*md, out);
        if (auto spec = required(doc, "spec", "policy document"))
            parse_spec(*spec, out);
        return ctx_.errors.size() == before;
    }

    YAML::Mark name_mark;

private:
    Context& ctx_;
    std::string file_;

    void err(const YAML::Node& n, std::string msg) { ctx_.add(file_, n.Mark(), std::move(msg)); }

    static std::string_view type_name(const YAML::Node& n) {
        switch (n.Type()) {
        case YAML::NodeType::Map: return "a mapping";
        case YAML::NodeType::Sequence: return "a list";
        case YAML::NodeType::Scalar: return "a scalar";
        case YAML::NodeType::Null: return "empty";
        default: return "undefined";
        }
    }

    bool expect_map(const YAML::Node& n, std::string_view what) {
        if (n.IsMap()) return true;
        err(n, fmt::format("{} must be a mapping, found {}", what, type_name(n)));
        return false;
    }

    // Unknown keys are errors: a misspelt `alow:` must never silently mean "no allow list".
    void check_keys(const YAML::Node& map, std::initializer_list<std::string_view> known, std::string_view what) {
        std::map<std::string, int> seen;
        for (auto it = map.begin(); it != map.end(); ++it) {
            const YAML::Node k = it->first;  // a copy: `it->` yields a temporary pair
            if (!k.IsScalar()) {
                err(k, fmt::format("{}: keys must be strings", what));
                continue;
            }
            const std::string& key = k.Scalar();
            if (auto [pos, fresh] = seen.emplace(key, k.Mark().line + 1); !fresh) {
                err(k, fmt::format("{}: duplicate key '{}' (first on line {})", what, key, pos->second));
                continue;
            }
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                std::string list;
                for (auto kn : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", kn);
                err(k, fmt::format("{}: unknown key '{}' (expected one of: {})", what, key, list));
            }
        }
    }

    std::optional<YAML::Node> optional_child(const YAML::Node& map, const char* key) {
        if (!map.IsMap()) return std::nullopt;
        YAML::Node c = map[key];
        if (!c.IsDefined()) return std::nullopt;
        return c;
    }

    std::optional<YAML::Node> required(const YAML::Node& map, const char* key, std::string_view what) {
        auto c = optional_child(map, key);
        if (!c) err(map, fmt::format("{}: missing required key '{}'", what, key));
        return c;
    }

    std::optional<std::string> string_value(const YAML::Node& n, std::string_view what) {
        if (!n.IsScalar()) {
            err(n, fmt::format("{} must be a string, found {}", what, type_name(n)));
            return std::nullopt;
        }
        if (n.Scalar().find('\0') != std::string::npos) {
            err(n, fmt::format("{} contains a NUL byte", what));
            return std::nullopt;
        }
        return n.Scalar();
    }

    std::optional<std::string> required_string(const YAML::Node& map, const char* key, std::string_view what) {
        auto c = required(map, key, what);
        if (!c) return std::nullopt;
        return string_value(*c, fmt::format("{}.{}", what, key));
    }

    // A list of strings; each element is handed to `each` with its node for messages.
    template <class F>
    void string_list(const YAML::Node& n, std::string_view what, F&& each) {
        if (!n.IsSequence()) {
            err(n, fmt::format("{} must be a list, found {}", what, type_name(n)));
            return;
        }
        for (const auto& e : n) {
            if (auto s = string_value(e, fmt::format("{} entry", what))) each(*s, e);
        }
    }

    std::optional<Action> action_value(const YAML::Node& n, RuleSlot slot) {
        auto s = string_value(n, fmt::format("{}.action", to_string(slot)));
        if (!s) return std::nullopt;
        auto a = parse_action(*s);
        if (!a) {
            err(n, fmt::format("{}.action: unknown action '{}' (alert, deny, kill, freeze, isolate)", to_string(slot), *s));
            return std::nullopt;
        }
        if (!action_allowed(slot, *a)) {
            err(n, fmt::format("{}.action: '{}' does not apply to this rule (use alert, deny or kill)", to_string(slot), *s));
            return std::nullopt;
        }
        return a;
    }

    // A rule's own `fallback:`. Only `deny` can be out of a host's reach, so `kill` on a rule
    // with another action is a mistake worth reporting rather than ignoring.
    void fallback_value(const YAML::Node& n, RuleSlot slot, Action action, Fallback& out) {
        auto s = string_value(n, fmt::format("{}.fallback", to_string(slot)));
        if (!s) return;
        auto f = parse_fallback(*s);
        if (!f) {
            err(n, fmt::format("{}.fallback: '{}' is not kill or none", to_string(slot), *s));
            return;
        }
        if (*f == Fallback::kill && action != Action::deny) {
            err(n, fmt::format("{}.fallback: kill applies only to action deny (this rule's action is {})", to_string(slot),
                               to_string(action)));
            return;
        }
        out = *f;
    }

    // A path glob as written: absolute or ~/, expanded to one Glob per home.
    void add_path_glob(const std::string& text, const YAML::Node& n, std::string_view what, std::vector<Glob>& out) {
        if (text.empty() || (text.front() != '/' && text.front() != '~')) {
            err(n, fmt::format("{}: '{}' must be an absolute path or start with ~/", what, text));
            return;
        }
        auto expanded = expand_home(text, ctx_.homes);
        if (!expanded) {
            err(n, fmt::format("{}: {}", what, expanded.error().message));
            return;
        }
        for (const auto& p : *expanded) {
            auto g = Glob::compile(p);
            if (!g) {
                err(n, fmt::format("{}: {}", what, g.error().message));
                return;
            }
            out.push_back(std::move(*g));
        }
    }

    void parse_metadata(const YAML::Node& md, WorkloadPolicy& out) {
        if (!expect_map(md, "metadata")) return;
        check_keys(md, {"name", "owner", "description"}, "metadata");
        if (auto name = required_string(md, "name", "metadata")) {
            name_mark = md["name"].Mark();
            bool valid = !name->empty() && name->size() <= 63 &&
                         std::all_of(name->begin(), name->end(), [](char c) {
                             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                         }) &&
                         std::isalnum(static_cast<unsigned char>(name->front()));
            if (!valid)
                err(md["name"], fmt::format("metadata.name '{}': use 1-63 of a-z 0-9 - _ . starting with a letter or digit", *name));
            out.name = *name;
        }
        if (auto o = optional_child(md, "owner"))
            if (auto s = string_value(*o, "metadata.owner")) out.owner = *s;
        if (auto d = optional_child(md, "description")) (void)string_value(*d, "metadata.description");
    }

    void parse_spec(const YAML::Node& spec, WorkloadPolicy& out) {
        if (!expect_map(spec, "spec")) return;
        check_keys(spec, {"mode", "risk", "audit_all", "fallback", "selector", "process", "files", "network", "models"},
                   "spec");

        if (auto r = optional_child(spec, "risk")) parse_risk(*r, out);
        out.mode = default_mode(out.risk);
        if (auto m = optional_child(spec, "mode")) {
            if (auto s = string_value(*m, "spec.mode")) {
                if (auto mode = parse_mode(*s)) out.mode = *mode;
                else err(*m, fmt::format("spec.mode: '{}' is not monitor or enforce", *s));
            }
        }
        if (auto a = optional_child(spec, "audit_all")) {
            if (auto s = string_value(*a, "spec.audit_all")) {
                if (*s == "true") out.audit_all = true;
                else if (*s == "false") out.audit_all = false;
                else err(*a, fmt::format("spec.audit_all: '{}' is not true or false", *s));
            }
        }
        for (RuleSlot slot : {RuleSlot::exec, RuleSlot::read, RuleSlot::write})
            slot_rules(out, slot).action = default_action(out.risk, slot);
        out.sensitive.action = default_action(out.risk, RuleSlot::sensitive);
        if (auto f = optional_child(spec, "fallback")) {
            if (auto s = string_value(*f, "spec.fallback")) {
                if (auto fb = parse_fallback(*s)) {
                    // the workload's default for its file and exec rules; a rule may override it
                    for (RuleSlot slot : {RuleSlot::exec, RuleSlot::read, RuleSlot::write})
                        slot_rules(out, slot).fallback = *fb;
                    out.sensitive.fallback = *fb;
                } else {
                    err(*f, fmt::format("spec.fallback: '{}' is not kill or none", *s));
                }
            }
        }
        out.egress.action = default_action(out.risk, RuleSlot::egress);
        out.listen.action = default_action(out.risk, RuleSlot::listen);

        if (auto sel = required(spec, "selector", "spec")) parse_selector(*sel, out.selector);
        if (auto p = optional_child(spec, "process")) {
            if (expect_map(*p, "spec.process")) {
                check_keys(*p, {"exec"}, "spec.process");
                if (auto e = optional_child(*p, "exec")) parse_path_rules(*e, RuleSlot::exec, out.exec);
            }
        }
        if (auto f = optional_child(spec, "files")) {
            if (expect_map(*f, "spec.files")) {
                check_keys(*f, {"read", "write", "sensitive"}, "spec.files");
                if (auto r = optional_child(*f, "read")) parse_path_rules(*r, RuleSlot::read, out.read);
                if (auto w = optional_child(*f, "write")) parse_path_rules(*w, RuleSlot::write, out.write);
                if (auto s = optional_child(*f, "sensitive")) parse_sensitive(*s, out.sensitive);
            }
        }
        // The built-in sensitive paths are always there, whatever the policy lists.
        for (auto d : default_sensitive_paths()) {
            auto expanded = expand_home(d, ctx_.homes);
            if (!expanded) continue;  // cannot happen: the defaults are well-formed
            for (const auto& p : *expanded) {
                bool dup = std::any_of(out.sensitive.paths.begin(), out.sensitive.paths.end(),
                                       [&](const Glob& g) { return g.pattern() == p; });
                if (auto g = Glob::compile(p); g && !dup) out.sensitive.paths.push_back(std::move(*g));
            }
        }
        if (auto n = optional_child(spec, "network")) {
            if (expect_map(*n, "spec.network")) {
                check_keys(*n, {"egress", "listen"}, "spec.network");
                if (auto e = optional_child(*n, "egress")) parse_egress(*e, out.egress);
                if (auto l = optional_child(*n, "listen")) parse_listen(*l, out.listen);
            }
        }
        if (auto m = optional_child(spec, "models")) parse_models(*m, out.models);
    }

    static PathRules& slot_rules(WorkloadPolicy& w, RuleSlot slot) {
        switch (slot) {
        case RuleSlot::exec: return w.exec;
        case RuleSlot::read: return w.read;
        default: return w.write;
        }
    }

    void parse_risk(const YAML::Node& r, WorkloadPolicy& out) {
        if (!expect_map(r, "spec.risk")) return;
        check_keys(r, {"harm", "reversibility"}, "spec.risk");
        Risk risk;
        bool ok = true;
        for (auto [key, field] : {std::pair{"harm", &risk.harm}, std::pair{"reversibility", &risk.reversibility}}) {
            auto s = required_string(r, key, "spec.risk");
            if (!s) {
                ok = false;
                continue;
            }
            auto l = parse_level(*s);
            if (!l) {
                err(r[key], fmt::format("spec.risk.{}: '{}' is not low, medium or high", key, *s));
                ok = false;
                continue;
            }
            *field = *l;
        }
        if (ok) out.risk = risk;
    }

    void parse_selector(const YAML::Node& s, Selector& sel) {
        if (!expect_map(s, "spec.selector")) return;
        check_keys(s, {"executable", "cmdline_contains", "cgroup"}, "spec.selector");
        if (auto e = optional_child(s, "executable")) {
            string_list(*e, "spec.selector.executable", [&](const std::string& v, const YAML::Node& n) {
                if (v.empty() || v.front() != '/') {
                    err(n, fmt::format("spec.selector.executable: '{}' must be an absolute path glob", v));
                    return;
                }
                auto g = Glob::compile(v);
                if (!g) err(n, fmt::format("spec.selector.executable: {}", g.error().message));
                else sel.executables.push_back(std::move(*g));
            });
        }
        if (auto c = optional_child(s, "cmdline_contains")) {
            string_list(*c, "spec.selector.cmdline_contains", [&](const std::string& v, const YAML::Node& n) {
                if (v.empty()) err(n, "spec.selector.cmdline_contains: an empty string would match every process");
                else sel.cmdline_contains.push_back(v);
            });
        }
        if (auto c = optional_child(s, "cgroup")) {
            string_list(*c, "spec.selector.cgroup", [&](std::string v, const YAML::Node& n) {
                if (v.empty() || v.front() != '/') {
                    err(n, fmt::format("spec.selector.cgroup: '{}' must be a cgroup v2 path starting with /", v));
                    return;
                }
                while (v.size() > 1 && v.back() == '/') v.pop_back();
                sel.cgroups.push_back(std::move(v));
            });
        }
        if (sel.executables.empty() && sel.cgroups.empty()) {
            bool had_errors = false;
            for (const char* k : {"executable", "cgroup"})
                if (auto c = optional_child(s, k); c && !(c->IsSequence() && c->size() == 0)) had_errors = true;
            if (!had_errors)
                err(s, "spec.selector selects nothing: give at least one executable glob or cgroup "
                       "(cmdline_contains only narrows them)");
        }
    }

    void parse_path_rules(const YAML::Node& n, RuleSlot slot, PathRules& rules) {
        std::string what(to_string(slot));
        if (!expect_map(n, what)) return;
        check_keys(n, {"allow", "action", "fallback"}, what);
        if (auto a = optional_child(n, "allow")) {
            string_list(*a, what + ".allow", [&](const std::string& v, const YAML::Node& e) {
                add_path_glob(v, e, what + ".allow", rules.allow);
            });
        }
        if (auto act = optional_child(n, "action"))
            if (auto x = action_value(*act, slot)) rules.action = *x;
        if (auto f = optional_child(n, "fallback")) fallback_value(*f, slot, rules.action, rules.fallback);
    }

    void parse_sensitive(const YAML::Node& n, SensitiveRules& rules) {
        if (!expect_map(n, "files.sensitive")) return;
        check_keys(n, {"paths", "action", "fallback"}, "files.sensitive");
        if (auto p = optional_child(n, "paths")) {
            string_list(*p, "files.sensitive.paths", [&](const std::string& v, const YAML::Node& e) {
                add_path_glob(v, e, "files.sensitive.paths", rules.paths);
            });
        }
        if (auto act = optional_child(n, "action"))
            if (auto x = action_value(*act, RuleSlot::sensitive)) rules.action = *x;
        if (auto f = optional_child(n, "fallback")) fallback_value(*f, RuleSlot::sensitive, rules.action, rules.fallback);
    }

    void parse_egress(const YAML::Node& n, EgressRules& rules) {
        if (!expect_map(n, "network.egress")) return;
        check_keys(n, {"allow", "action"}, "network.egress");
        if (auto a = optional_child(n, "allow")) {
            string_list(*a, "network.egress.allow", [&](const std::string& v, const YAML::Node& e) {
                auto ep = parse_net_endpoint(v);
                if (!ep) err(e, fmt::format("network.egress.allow: {}", ep.error().message));
                else rules.allow.push_back(std::move(*ep));
            });
        }
        if (auto act = optional_child(n, "action"))
            if (auto x = action_value(*act, RuleSlot::egress)) rules.action = *x;
    }

    void parse_listen(const YAML::Node& n, ListenRules& rules) {
        if (!expect_map(n, "network.listen")) return;
        check_keys(n, {"allow", "action"}, "network.listen");
        if (auto a = optional_child(n, "allow")) {
            string_list(*a, "network.listen.allow", [&](const std::string& v, const YAML::Node& e) {
                auto p = parse_port(v);
                if (!p) err(e, fmt::format("network.listen.allow: {}", p.error().message));
                else rules.allow.push_back(*p);
            });
            std::sort(rules.allow.begin(), rules.allow.end());
            rules.allow.erase(std::unique(rules.allow.begin(), rules.allow.end()), rules.allow.end());
        }
        if (auto act = optional_child(n, "action"))
            if (auto x = action_value(*act, RuleSlot::listen)) rules.action = *x;
    }

    void parse_models(const YAML::Node& n, ModelsSpec& m) {
        if (!expect_map(n, "spec.models")) return;
        check_keys(n, {"dirs", "manifest", "trusted_keys"}, "spec.models");
        auto absolute = [&](const std::string& v, const YAML::Node& e, std::string_view what) {
            if (v.empty() || v.front() != '/') {
                err(e, fmt::format("{}: '{}' must be an absolute path", what, v));
                return false;
            }
            return true;
        };
        if (auto d = optional_child(n, "dirs"))
            string_list(*d, "spec.models.dirs", [&](const std::string& v, const YAML::Node& e) {
                if (absolute(v, e, "spec.models.dirs")) m.dirs.push_back(v);
            });
        if (auto f = optional_child(n, "manifest"))
            if (auto s = string_value(*f, "spec.models.manifest"); s && absolute(*s, *f, "spec.models.manifest"))
                m.manifest = *s;
        if (auto k = optional_child(n, "trusted_keys"))
            string_list(*k, "spec.models.trusted_keys", [&](const std::string& v, const YAML::Node& e) {
                if (absolute(v, e, "spec.models.trusted_keys")) m.trusted_keys.push_back(v);
            });
    }
};

void parse_text_into(Context& ctx, std::string_view text, const std::string& origin, PolicySet& set,
                     std::map<std::string, std::string>& names) {
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
        ctx.add(origin, e.mark, fmt::format("YAML syntax error: {}", e.msg));
        return;
    }
    std::size_t found = 0;
    for (const auto& doc : docs) {
        if (doc.IsNull()) continue;  // an empty document (e.g. a trailing ---) says nothing
        ++found;
        WorkloadPolicy wp;
        DocumentParser p(ctx, origin);
        bool ok = false;
        try {
            ok = p.parse(doc, wp);
        } catch (const YAML::Exception& e) {
            ctx.add(origin, e.mark, fmt::format("invalid policy: {}", e.msg));
        }
        if (!ok) continue;
        auto where = fmt::format("{}:{}:{}", origin, p.name_mark.line + 1, p.name_mark.column + 1);
        if (auto [it, fresh] = names.emplace(wp.name, where); !fresh) {
            ctx.add(origin, p.name_mark, fmt::format("duplicate policy name '{}' (first defined at {})", wp.name, it->second));
            continue;
        }
        precompile_paths(wp);
        set.workloads.push_back(std::move(wp));
    }
    if (found == 0) ctx.add(origin, YAML::Mark::null_mark(), "no policy documents");
}

std::optional<std::string> read_file(Context& ctx, const std::filesystem::path& path) {
    std::error_code ec;
    auto st = std::filesystem::status(path, ec);
    auto unreadable = [&](std::string msg) {
        ctx.errors.push_back({path.string(), 0, 0, std::move(msg), true});
        return std::nullopt;
    };
    if (ec) return unreadable(fmt::format("cannot read: {}", ec.message()));
    if (!std::filesystem::is_regular_file(st)) return unreadable("cannot read: not a regular file");
    auto size = std::filesystem::file_size(path, ec);
    if (ec) return unreadable(fmt::format("cannot read: {}", ec.message()));
    if (size > ctx.opts.max_file_bytes) {
        ctx.errors.push_back({path.string(), 0, 0,
                              fmt::format("file is {} bytes, more than the {} a policy may have", size, ctx.opts.max_file_bytes),
                              false});
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return unreadable(fmt::format("cannot read: {}", std::strerror(errno)));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return unreadable("cannot read: I/O error");
    return std::move(ss).str();
}

}  // namespace

ParseReport parse_policy_text(std::string_view text, const std::string& origin, const ParseOptions& opts) {
    ParseReport report;
    Context ctx{opts, home_directories(opts.passwd_path), report.errors};
    std::map<std::string, std::string> names;
    if (text.size() > opts.max_file_bytes) {
        report.errors.push_back({origin, 0, 0,
                                 fmt::format("policy is {} bytes, more than the {} a policy may have", text.size(),
                                             opts.max_file_bytes),
                                 false});
        return report;
    }
    parse_text_into(ctx, text, origin, report.policies, names);
    if (!report.errors.empty()) report.policies.workloads.clear();
    return report;
}

ParseReport parse_policy_paths(const std::vector<std::string>& paths, const ParseOptions& opts) {
    ParseReport report;
    Context ctx{opts, home_directories(opts.passwd_path), report.errors};
    std::map<std::string, std::string> names;
    auto one_file = [&](const std::filesystem::path& f) {
        if (auto text = read_file(ctx, f)) parse_text_into(ctx, *text, f.string(), report.policies, names);
    };
    for (const auto& p : paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            std::vector<std::filesystem::path> files;
            for (std::filesystem::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
                auto ext = it->path().extension();
                if (ext == ".yaml" || ext == ".yml") files.push_back(it->path());
            }
            if (ec) {
                report.errors.push_back({p, 0, 0, fmt::format("cannot read directory: {}", ec.message()), true});
                continue;
            }
            std::sort(files.begin(), files.end());
            if (files.empty()) report.errors.push_back({p, 0, 0, "directory has no *.yaml policy files", false});
            for (const auto& f : files) one_file(f);
        } else {
            one_file(p);
        }
    }
    if (!report.errors.empty()) report.policies.workloads.clear();
    return report;
}

Result<PolicySet> load_policy_set(const std::vector<std::string>& paths, const ParseOptions& opts) {
    auto report = parse_policy_paths(paths, opts);
    if (!report.ok()) {
        std::string msg;
        for (const auto& d : report.errors) msg += (msg.empty() ? "" : "\n") + d.str();
        return make_error(std::move(msg));
    }
    if (report.policies.workloads.empty()) return make_error("policy: no workload policies given");
    return std::move(report.policies);
}

}  // namespace mw::policy
