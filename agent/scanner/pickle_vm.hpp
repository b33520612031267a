// Static pickle virtual machine: walks protocol 0-5 opcodes without executing anything and
// records every imported global and every invoked callable, with byte offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mw::scanner {

struct PickleGlobal {
    std::string module;  // as written in the stream (before CPython's name mapping)
    std::string name;
    std::uint64_t offset = 0;  // offset of the GLOBAL / STACK_GLOBAL / INST opcode
    char opcode = 0;
    bool dynamic = false;  // STACK_GLOBAL operand was not a literal string (obfuscation)
};

struct PickleCall {
    std::string callee;  // "module.name" of the called global, or "<result of X>"
    std::uint64_t offset = 0;
    char opcode = 0;     // REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX
    bool callee_is_global = false;
};

struct PickleAnomaly {
    std::uint64_t offset = 0;
    std::string message;
};

// Persistent ids as torch writes them: ('storage', <storage type global>, key, location, numel).
struct PersistentRef {
    std::string type_global;
    std::string key;
    std::int64_t numel = -1;
};

struct PickleAnalysis {
    std::vector<PickleGlobal> globals;
    std::vector<PickleCall> calls;
    std::vector<PickleAnomaly> anomalies;  // malformed input, truncation, frame mismatch, EXT
    std::vector<PersistentRef> persistent_refs;
    std::vector<std::string> top_strings;  // items of a top-level list of str (torch legacy keys)
    std::size_t end = 0;   // offset just past STOP (or where analysis stopped)
    bool stopped = false;  // a STOP opcode was reached
    int protocol = 0;
    // When the pickled value is an int: its decimal text (INT/LONG) or little-endian bytes
    // (LONG1/LONG4). Identifies the torch legacy magic number whatever the protocol.
    std::string result_int;
};

// Analyses the pickle starting at data[0]; offsets are reported relative to `base_offset`.
// Never throws, never allocates more than a small multiple of the input.
PickleAnalysis analyse_pickle(std::span<const std::uint8_t> data, std::uint64_t base_offset = 0);

// Whether the bytes plausibly start a pickle (PROTO opcode, or a protocol-0/1 opcode that
// CPython would accept as the first one). Used to find pickles hidden in other members.
bool looks_like_pickle(std::span<const std::uint8_t> data);

}  // namespace mw::scanner
