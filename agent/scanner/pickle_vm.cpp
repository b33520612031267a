// Static pickle VM: mirrors CPython's Unpickler stack/memo/mark semantics closely enough to know
// which globals a stream imports and calls, while never executing or resolving anything.
#include "scanner/pickle_vm.hpp"

#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

namespace mw::scanner {
namespace {

enum class Kind : std::uint8_t { none, boolean, integer, floating, string, bytes, global, call, tuple, list, dict, set, object, other };

// Values live in one arena and refer to each other by index, so hostile nesting can never
// cause deep recursive destruction or reference cycles.
struct Value {
    Kind kind = Kind::other;
    std::string text;  // string contents, "module.name" for globals, callee for calls
    std::int64_t number = 0;
    bool number_valid = false;
    std::vector<std::uint32_t> items;
};

constexpr std::size_t max_text = 4096;  // names and keys are short; big strings are data

struct Stop {};

class Machine {
public:
    Machine(std::span<const std::uint8_t> data, std::uint64_t base, int depth = 0) : data_(data), base_(base), depth_(depth) {}

    PickleAnalysis run();

private:
    std::span<const std::uint8_t> data_;
    std::uint64_t base_;
    int depth_;
    std::size_t pos_ = 0;
    std::size_t op_start_ = 0;
    std::optional<std::size_t> frame_end_;
    std::vector<Value> arena_;
    std::vector<std::uint32_t> stack_;
    std::vector<std::vector<std::uint32_t>> metastack_;
    std::unordered_map<std::uint64_t, std::uint32_t> memo_;
    PickleAnalysis out_;

    [[noreturn]] void fail(std::string message) {
        out_.anomalies.push_back({base_ + op_start_, std::move(message)});
        throw Stop{};
    }
    void note(std::string message) { out_.anomalies.push_back({base_ + op_start_, std::move(message)}); }

    std::span<const std::uint8_t> take(std::uint64_t n, const char* what) {
        if (n > data_.size() - pos_) fail(fmt::format("truncated pickle: {} needs {} bytes, {} left", what, n, data_.size() - pos_));
        auto s = data_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::uint64_t le(std::size_t n, const char* what) {
        auto s = take(n, what);
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{s[i]} << (8 * i);
        return v;
    }
    std::string_view line(const char* what) {
        const auto* begin = data_.data() + pos_;
        const void* nl = std::memchr(begin, '\n', data_.size() - pos_);
        if (nl == nullptr) fail(fmt::format("truncated pickle: {} has no newline", what));
        std::size_t len = static_cast<const std::uint8_t*>(nl) - begin;
        pos_ += len + 1;
        return {reinterpret_cast<const char*>(begin), len};
    }

    std::uint32_t make(Kind k, std::string text = {}) {
        Value v;
        v.kind = k;
        v.text = std::move(text);
        arena_.push_back(std::move(v));
        return static_cast<std::uint32_t>(arena_.size() - 1);
    }
    std::uint32_t make_int(std::int64_t n, bool valid = true) {
        auto i = make(Kind::integer);
        arena_[i].number = n;
        arena_[i].number_valid = valid;
        return i;
    }
    void push(std::uint32_t v) { stack_.push_back(v); }
    std::uint32_t pop() {
        if (stack_.empty()) fail("stack underflow");
        auto v = stack_.back();
        stack_.pop_back();
        return v;
    }
    std::uint32_t top() {
        if (stack_.empty()) fail("stack underflow");
        return stack_.back();
    }
    std::vector<std::uint32_t> pop_mark() {
        if (metastack_.empty()) fail("MARK not found");
        auto items = std::move(stack_);
        stack_ = std::move(metastack_.back());
        metastack_.pop_back();
        return items;
    }
    std::uint32_t container(Kind k, std::vector<std::uint32_t> items) {
        auto i = make(k);
        arena_[i].items = std::move(items);
        return i;
    }

    std::string describe(std::uint32_t v) const {
        const auto& val = arena_[v];
        switch (val.kind) {
            case Kind::global: return val.text;
            case Kind::call: return fmt::format("<result of {}>", val.text);
            case Kind::object: return fmt::format("<instance of {}>", val.text);
            case Kind::string: return "<str>";
            default: return "<value>";
        }
    }
    void record_call(std::uint32_t callee, char op) {
        const auto& val = arena_[callee];
        out_.calls.push_back({describe(callee), base_ + op_start_, op, val.kind == Kind::global});
    }
    std::uint32_t record_global(std::string module, std::string name, char op, bool dynamic = false) {
        auto dotted = fmt::format("{}.{}", module, name);
        out_.globals.push_back({std::move(module), std::move(name), base_ + op_start_, op, dynamic});
        return make(Kind::global, std::move(dotted));
    }

    static std::string clip(std::string_view s) { return std::string(s.substr(0, max_text)); }
    std::uint32_t push_text(Kind k, std::span<const std::uint8_t> s) {
        auto v = make(k, clip({reinterpret_cast<const char*>(s.data()), s.size()}));
        push(v);
        return v;
    }
    static std::string decode_raw_unicode_escape(std::string_view in);
    static std::optional<std::int64_t> parse_int(std::string_view s);

    void step(std::uint8_t op);
    void joblib_array(std::uint32_t state);
    std::optional<std::uint32_t> dict_get(std::uint32_t dict, std::string_view key) const {
        const auto& d = arena_[dict];
        if (d.kind != Kind::dict) return std::nullopt;
        for (std::size_t i = 0; i + 1 < d.items.size(); i += 2)
            if (arena_[d.items[i]].kind == Kind::string && arena_[d.items[i]].text == key) return d.items[i + 1];
        return std::nullopt;
    }
};

// joblib writes numpy array bytes straight into the pickle stream after the BUILD of a
// NumpyArrayWrapper (an alignment pad, then the raw data or, for object arrays, a nested pickle).
void Machine::joblib_array(std::uint32_t state) {
    auto shape = dict_get(state, "shape");
    auto dtype = dict_get(state, "dtype");
    if (!shape || !dtype || arena_[*shape].kind != Kind::tuple || arena_[*dtype].kind != Kind::call ||
        arena_[*dtype].items.empty() || arena_[arena_[*dtype].items[0]].kind != Kind::tuple ||
        arena_[arena_[*dtype].items[0]].items.empty())
        fail("joblib NumpyArrayWrapper without a readable shape and dtype");
    const auto& spec_val = arena_[arena_[arena_[*dtype].items[0]].items[0]];
    if (spec_val.kind != Kind::string) fail("joblib NumpyArrayWrapper dtype is not a type string");
    const std::string spec = spec_val.text;
    if (frame_end_ && pos_ == *frame_end_) frame_end_.reset();
    if (spec.find('O') != std::string::npos) {
        if (depth_ >= 8) fail("joblib object arrays nested too deeply");
        Machine inner(data_.subspan(pos_), base_ + pos_, depth_ + 1);
        auto a = inner.run();
        for (auto& g : a.globals) out_.globals.push_back(std::move(g));
        for (auto& c : a.calls) out_.calls.push_back(std::move(c));
        for (auto& an : a.anomalies) out_.anomalies.push_back(std::move(an));
        pos_ += a.end;
        if (!a.stopped) throw Stop{};
        return;
    }
    if (dict_get(state, "numpy_array_alignment_bytes")) {
        auto pad = le(1, "joblib alignment padding");
        take(pad, "joblib alignment padding");
    }
    std::uint64_t count = 1;
    for (auto d : arena_[*shape].items) {
        if (arena_[d].kind != Kind::integer || !arena_[d].number_valid || arena_[d].number < 0 ||
            __builtin_mul_overflow(count, static_cast<std::uint64_t>(arena_[d].number), &count))
            fail("joblib array shape is not a tuple of small non-negative ints");
    }
    std::uint64_t item = 0;
    std::size_t i = 0;
    while (i < spec.size() && !(spec[i] >= '0' && spec[i] <= '9')) ++i;
    while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9' && item < (1u << 20)) item = item * 10 + static_cast<std::uint64_t>(spec[i++] - '0');
    if (spec.find('U') != std::string::npos) item *= 4;
    if (spec == "?" || spec == "|b1" || spec == "b1") item = 1;
    std::uint64_t bytes = 0;
    if (item == 0 || __builtin_mul_overflow(count, item, &bytes)) fail(fmt::format("joblib array dtype '{}' is not understood", spec));
    take(bytes, "joblib array data");
}

std::optional<std::int64_t> Machine::parse_int(std::string_view s) {
    while (!s.empty() && (s.back() == 'L' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || p != s.data() + s.size()) {
        // Big decimal numbers are legal; only the digits matter for validity.
        bool digits = !s.empty();
        for (std::size_t i = (s.size() > 0 && s[0] == '-') ? 1 : 0; i < s.size(); ++i)
            digits = digits && s[i] >= '0' && s[i] <= '9';
        if (digits && ec == std::errc::result_out_of_range) return 0;
        return std::nullopt;
    }
    return v;
}

std::string Machine::decode_raw_unicode_escape(std::string_view in) {
    // raw-unicode-escape only understands \uXXXX and \UXXXXXXXX; attackers use them to hide names.
    std::string out;
    auto put = [&out](std::uint32_t cp) {
        if (cp < 0x80) out += static_cast<char>(cp);
        else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
        else if (cp < 0x10000) { out += static_cast<char>(0xE0 | (cp >> 12)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
        else { out += static_cast<char>(0xF0 | (cp >> 18)); out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
    };
    for (std::size_t i = 0; i < in.size(); ++i) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c == '\\' && i + 1 < in.size() && (in[i + 1] == 'u' || in[i + 1] == 'U')) {
            std::size_t n = in[i + 1] == 'u' ? 4 : 8;
            std::uint32_t cp = 0;
            if (i + 2 + n <= in.size() &&
                std::from_chars(in.data() + i + 2, in.data() + i + 2 + n, cp, 16).ptr == in.data() + i + 2 + n) {
                put(cp);
                i += 1 + n;
                continue;
            }
        }
        put(c);  // latin-1 byte
    }
    return out;
}

PickleAnalysis Machine::run() {
    arena_.reserve(64);
    try {
        while (true) {
            op_start_ = pos_;
            if (frame_end_) {
                if (pos_ > *frame_end_) {
                    note(fmt::format("opcode crosses the end of a frame at offset {}", base_ + *frame_end_));
                    frame_end_.reset();
                } else if (pos_ == *frame_end_) {
                    frame_end_.reset();
                }
            }
            if (pos_ >= data_.size()) fail("truncated pickle: no STOP opcode");
            auto op = data_[pos_++];
            if (op == '.') {
                auto v = pop();
                out_.stopped = true;
                if (arena_[v].kind == Kind::integer) out_.result_int = arena_[v].text;
                if (arena_[v].kind == Kind::list)
                    for (auto item : arena_[v].items)
                        if (arena_[item].kind == Kind::string) out_.top_strings.push_back(arena_[item].text);
                break;
            }
            step(op);
        }
    } catch (const Stop&) {
    }
    out_.end = pos_;
    return std::move(out_);
}

void Machine::step(std::uint8_t op) {
    switch (op) {
        case 0x80: {  // PROTO
            auto p = le(1, "PROTO");
            if (p > 5) fail(fmt::format("unsupported pickle protocol {}", p));
            out_.protocol = static_cast<int>(p);
            break;
        }
        case 0x95: {  // FRAME
            auto n = le(8, "FRAME");
            if (frame_end_ && pos_ < *frame_end_) note("FRAME opcode inside an unfinished frame");
            if (n > data_.size() - pos_) note(fmt::format("FRAME declares {} bytes but only {} remain", n, data_.size() - pos_));
            frame_end_ = pos_ + static_cast<std::size_t>(std::min<std::uint64_t>(n, data_.size() - pos_));
            break;
        }
        case '(': metastack_.push_back(std::move(stack_)); stack_ = {}; break;  // MARK
        case '0': if (stack_.empty()) pop_mark(); else stack_.pop_back(); break;  // POP
        case '1': pop_mark(); break;  // POP_MARK
        case '2': push(top()); break;  // DUP
        case 'F': line("FLOAT"); push(make(Kind::floating)); break;
        case 'G': take(8, "BINFLOAT"); push(make(Kind::floating)); break;
        case 'I': {
            auto l = line("INT");
            if (l == "00" || l == "01") { push(make(Kind::boolean)); break; }
            auto v = parse_int(l);
            if (!v) fail("INT argument is not a number");
            push(make_int(*v));
            break;
        }
        case 'L': {
            auto l = line("LONG");
            auto v = parse_int(l);
            if (!v) fail("LONG argument is not a number");
            push(make_int(*v));
            arena_[stack_.back()].text = clip(l.substr(0, l.find('L')));
            break;
        }
        case 'J': push(make_int(static_cast<std::int32_t>(le(4, "BININT")))); break;
        case 'K': push(make_int(static_cast<std::int64_t>(le(1, "BININT1")))); break;
        case 'M': push(make_int(static_cast<std::int64_t>(le(2, "BININT2")))); break;
        case 0x8a: case 0x8b: {  // LONG1, LONG4
            std::uint64_t n = op == 0x8a ? le(1, "LONG1") : le(4, "LONG4");
            if (op == 0x8b && static_cast<std::int32_t>(n) < 0) fail("LONG4 with negative byte count");
            auto bytes = take(n, "LONG");
            std::int64_t v = 0;
            if (n <= 8 && n > 0) {
                std::uint64_t u = 0;
                for (std::size_t i = 0; i < n; ++i) u |= std::uint64_t{bytes[i]} << (8 * i);
                if (n < 8 && (bytes[n - 1] & 0x80)) u |= ~std::uint64_t{0} << (8 * n);
                v = static_cast<std::int64_t>(u);
            }
            push(make_int(v, n <= 8));
            arena_[stack_.back()].text = clip({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
            break;
        }
        case 'N': push(make(Kind::none)); break;
        case 0x88: case 0x89: push(make(Kind::boolean)); break;  // NEWTRUE, NEWFALSE
        case 'P': push(make(Kind::object, clip(line("PERSID")))); break;
        case 'Q': {  // BINPERSID
            auto pid = pop();
            const auto& t = arena_[pid];
            if (t.kind == Kind::tuple && t.items.size() >= 3) {
                PersistentRef ref;
                ref.type_global = arena_[t.items[1]].kind == Kind::global ? arena_[t.items[1]].text : std::string{};
                ref.key = arena_[t.items[2]].text;
                if (t.items.size() >= 5 && arena_[t.items[4]].number_valid) ref.numel = arena_[t.items[4]].number;
                out_.persistent_refs.push_back(std::move(ref));
            }
            push(make(Kind::object, "persistent_load"));
            break;
        }
        case 'R': {  // REDUCE
            auto args = pop();
            auto callable = pop();
            (void)args;
            record_call(callable, 'R');
            auto call = make(Kind::call, describe(callable));
            arena_[call].items.push_back(args);
            push(call);
            break;
        }
        case 'S': {
            auto l = line("STRING");
            if (l.size() >= 2 && (l.front() == '\'' || l.front() == '"') && l.back() == l.front()) l = l.substr(1, l.size() - 2);
            else fail("STRING argument is not quoted");
            push(make(Kind::string, clip(l)));
            break;
        }
        case 'T': {
            auto n = le(4, "BINSTRING");
            if (static_cast<std::int32_t>(n) < 0) fail("BINSTRING with negative length");
            push_text(Kind::string, take(n, "BINSTRING"));
            break;
        }
        case 'U': push_text(Kind::string, take(le(1, "SHORT_BINSTRING"), "SHORT_BINSTRING")); break;
        case 'V': push(make(Kind::string, clip(decode_raw_unicode_escape(line("UNICODE"))))); break;
        case 'X': push_text(Kind::string, take(le(4, "BINUNICODE"), "BINUNICODE")); break;
        case 0x8c: push_text(Kind::string, take(le(1, "SHORT_BINUNICODE"), "SHORT_BINUNICODE")); break;
        case 0x8d: push_text(Kind::string, take(le(8, "BINUNICODE8"), "BINUNICODE8")); break;
        case 'B': push_text(Kind::bytes, take(le(4, "BINBYTES"), "BINBYTES")); break;
        case 'C': push_text(Kind::bytes, take(le(1, "SHORT_BINBYTES"), "SHORT_BINBYTES")); break;
        case 0x8e: push_text(Kind::bytes, take(le(8, "BINBYTES8"), "BINBYTES8")); break;
        case 0x96: push_text(Kind::bytes, take(le(8, "BYTEARRAY8"), "BYTEARRAY8")); break;
        case 0x97: push(make(Kind::other)); break;  // NEXT_BUFFER
        case 0x98: top(); break;                    // READONLY_BUFFER
        case 'a': {  // APPEND
            auto v = pop();
            auto& list = arena_[top()];
            if (list.kind == Kind::list) list.items.push_back(v);
            break;
        }
        case 'e': {  // APPENDS
            auto items = pop_mark();
            auto& list = arena_[top()];
            if (list.kind == Kind::list) list.items.insert(list.items.end(), items.begin(), items.end());
            break;
        }
        case 'l': push(container(Kind::list, pop_mark())); break;
        case ']': push(make(Kind::list)); break;
        case 'd': {
            auto items = pop_mark();
            if (items.size() % 2) fail("DICT with an odd number of items");
            push(container(Kind::dict, std::move(items)));
            break;
        }
        case '}': push(make(Kind::dict)); break;
        case 's': { auto v = pop(); auto k = pop(); auto& d = arena_[top()]; d.items.push_back(k); d.items.push_back(v); break; }
        case 'u': {
            auto items = pop_mark();
            if (items.size() % 2) fail("SETITEMS with an odd number of items");
            auto& d = arena_[top()];
            d.items.insert(d.items.end(), items.begin(), items.end());
            break;
        }
        case 't': push(container(Kind::tuple, pop_mark())); break;
        case ')': push(make(Kind::tuple)); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
            std::size_t n = op - 0x84u;
            if (stack_.size() < n) fail("stack underflow");
            std::vector<std::uint32_t> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
            stack_.resize(stack_.size() - n);
            push(container(Kind::tuple, std::move(items)));
            break;
        }
        case 0x8f: push(make(Kind::set)); break;
        case 0x90: { auto items = pop_mark(); top(); break; }  // ADDITEMS
        case 0x91: push(container(Kind::set, pop_mark())); break;  // FROZENSET
        case 'c': {  // GLOBAL
            std::string module(line("GLOBAL module"));
            std::string name(line("GLOBAL name"));
            push(record_global(std::move(module), std::move(name), 'c'));
            break;
        }
        case 0x93: {  // STACK_GLOBAL
            auto name = pop();
            auto module = pop();
            if (arena_[name].kind == Kind::string && arena_[module].kind == Kind::string) {
                push(record_global(arena_[module].text, arena_[name].text, static_cast<char>(op)));
            } else {
                // CPython rejects non-str operands; anything else here means the scanner lost
                // track of a value, which must never turn into a silent pass.
                push(record_global(describe(module), describe(name), static_cast<char>(op), true));
            }
            break;
        }
        case 'i': {  // INST
            std::string module(line("INST module"));
            std::string name(line("INST name"));
            pop_mark();
            auto g = record_global(std::move(module), std::move(name), 'i');
            record_call(g, 'i');
            push(make(Kind::object, arena_[g].text));
            break;
        }
        case 'o': {  // OBJ
            auto items = pop_mark();
            if (items.empty()) fail("OBJ without a class");
            record_call(items[0], 'o');
            push(make(Kind::object, describe(items[0])));
            break;
        }
        case 0x81: {  // NEWOBJ
            pop();
            auto cls = pop();
            record_call(cls, static_cast<char>(op));
            push(make(Kind::object, describe(cls)));
            break;
        }
        case 0x92: {  // NEWOBJ_EX
            pop();
            pop();
            auto cls = pop();
            record_call(cls, static_cast<char>(op));
            push(make(Kind::object, describe(cls)));
            break;
        }
        case 'b': {  // BUILD
            auto state = pop();
            auto inst = top();
            record_call(inst, 'b');
            if (arena_[inst].kind == Kind::object && arena_[inst].text == "joblib.numpy_pickle.NumpyArrayWrapper") joblib_array(state);
            break;
        }
        case 'g': {
            auto k = parse_int(line("GET"));
            if (!k) fail("GET argument is not a number");
            auto it = memo_.find(static_cast<std::uint64_t>(*k));
            if (it == memo_.end()) fail(fmt::format("memo key {} not found", *k));
            push(it->second);
            break;
        }
        case 'h': case 'j': {
            auto k = op == 'h' ? le(1, "BINGET") : le(4, "LONG_BINGET");
            auto it = memo_.find(k);
            if (it == memo_.end()) fail(fmt::format("memo key {} not found", k));
            push(it->second);
            break;
        }
        case 'p': {
            auto k = parse_int(line("PUT"));
            if (!k || *k < 0) fail("PUT argument is not a non-negative number");
            memo_[static_cast<std::uint64_t>(*k)] = top();
            break;
        }
        case 'q': { auto k = le(1, "BINPUT"); memo_[k] = top(); break; }
        case 'r': { auto k = le(4, "LONG_BINPUT"); memo_[k] = top(); break; }
        case 0x94: { auto v = top(); memo_[memo_.size()] = v; break; }  // MEMOIZE
        case 0x82: case 0x83: case 0x84: {  // EXT1, EXT2, EXT4
            std::size_t n = op == 0x82 ? 1 : op == 0x83 ? 2 : 4;
            auto code = le(n, "EXT");
            push(record_global("<copyreg extension>", std::to_string(code), static_cast<char>(op), true));
            break;
        }
        default:
            fail(fmt::format("unknown opcode 0x{:02x}", op));
    }
}

}  // namespace

PickleAnalysis analyse_pickle(std::span<const std::uint8_t> data, std::uint64_t base_offset) {
    return Machine(data, base_offset).run();
}

bool looks_like_pickle(std::span<const std::uint8_t> data) {
    if (data.size() < 2) return false;
    if (data[0] == 0x80) return data[1] <= 5;
    // Protocol 0/1 streams may start with any opcode, and text often parses for a while, so
    // require a complete stream that ends in STOP.
    return analyse_pickle(data).stopped;
}

}  // namespace mw::scanner
