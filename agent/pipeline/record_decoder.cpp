// Record validation for the ring-buffer ABI (see record_decoder.hpp).
#include "pipeline/record_decoder.hpp"

#include <initializer_list>

namespace mw {

std::string_view to_string(DecodeError error) {
    switch (error) {
    case DecodeError::None: return "ok";
    case DecodeError::TooShort: return "record shorter than its header";
    case DecodeError::SizeMismatch: return "header size disagrees with record length";
    case DecodeError::UnknownType: return "unknown record type";
    case DecodeError::BodyTooShort: return "record shorter than its type's fixed part";
    case DecodeError::StringOverflow: return "string runs past the end of the record";
    }
    return "unknown decode error";
}

namespace {

constexpr int kNoArgs = -1;

// Reads the strings that follow a fixed part of `fixed` bytes, in order, each of lengths[i] bytes.
DecodeError take_strings(DecodedRecord& out, std::size_t fixed, std::initializer_list<std::uint16_t> lengths,
                         int args_index = kNoArgs) {
    if (out.size < fixed) return DecodeError::BodyTooShort;
    std::size_t offset = fixed;
    int i = 0;
    for (std::uint16_t len : lengths) {
        if (offset + len > out.size) return DecodeError::StringOverflow;
        std::string_view raw(reinterpret_cast<const char*>(out.bytes) + offset, len);
        if (i == args_index) {
            out.args_blob = raw;
        } else {
            // The kernel stores the terminating NUL; nothing after the first NUL belongs to the string.
            out.text[i] = raw.substr(0, raw.find('\0'));
        }
        offset += len;
        ++i;
    }
    return DecodeError::None;
}

template <class T>
DecodeError need(const DecodedRecord& out) {
    return out.size < sizeof(T) ? DecodeError::BodyTooShort : DecodeError::None;
}

}  // namespace

DecodeError decode_record(std::span<const std::byte> bytes, DecodedRecord& out) {
    out = DecodedRecord{};
    if (bytes.size() < sizeof(mw_event_header)) return DecodeError::TooShort;
    out.bytes = bytes.data();
    out.header = reinterpret_cast<const mw_event_header*>(bytes.data());
    // The ring buffer may round a record up; the header's size is authoritative but never past the end.
    if (out.header->size < sizeof(mw_event_header) || out.header->size > bytes.size()) return DecodeError::SizeMismatch;
    out.size = out.header->size;

    switch (out.header->type) {
    case MW_EVENT_PROCESS_FORK: return need<mw_fork_event>(out);
    case MW_EVENT_PROCESS_EXIT: return need<mw_exit_event>(out);
    case MW_EVENT_PROCESS_EXEC: {
        if (auto e = need<mw_exec_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_exec_event>();
        return take_strings(out, offsetof(mw_exec_event, data), {ev.filename_len, ev.args_len, ev.cwd_len}, 1);
    }
    case MW_EVENT_EXEC_ATTEMPT: {
        if (auto e = need<mw_exec_attempt_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_exec_attempt_event>();
        return take_strings(out, offsetof(mw_exec_attempt_event, data), {ev.filename_len});
    }
    case MW_EVENT_FILE_OPEN:
    case MW_EVENT_FILE_UNLINK:
    case MW_EVENT_FILE_RENAME:
    case MW_EVENT_FILE_CHMOD:
    case MW_EVENT_FILE_CHOWN:
    case MW_EVENT_MEMFD_CREATE: {
        if (auto e = need<mw_file_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_file_event>();
        return take_strings(out, offsetof(mw_file_event, data), {ev.path_len, ev.target_len});
    }
    case MW_EVENT_NET_CONNECT:
    case MW_EVENT_NET_BIND:
    case MW_EVENT_NET_LISTEN:
    case MW_EVENT_NET_ACCEPT:
    case MW_EVENT_NET_SEND: {
        if (auto e = need<mw_net_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_net_event>();
        return take_strings(out, offsetof(mw_net_event, data), {ev.unix_path_len});
    }
    case MW_EVENT_PRIV_CHANGE:
    case MW_EVENT_PTRACE:
    case MW_EVENT_PROCESS_VM:
    case MW_EVENT_MODULE_LOAD:
    case MW_EVENT_BPF_CALL: {
        if (auto e = need<mw_syscall_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_syscall_event>();
        return take_strings(out, offsetof(mw_syscall_event, data), {ev.text_len});
    }
    case MW_EVENT_SECCOMP: return need<mw_seccomp_event>(out);
    case MW_EVENT_SELF_PROTECT: {
        if (auto e = need<mw_self_protect_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_self_protect_event>();
        return take_strings(out, offsetof(mw_self_protect_event, data), {ev.text_len});
    }
    case MW_EVENT_ENFORCEMENT: {
        if (auto e = need<mw_enforcement_event>(out); e != DecodeError::None) return e;
        const auto& ev = out.as<mw_enforcement_event>();
        return take_strings(out, offsetof(mw_enforcement_event, data), {ev.text_len});
    }
    default: return DecodeError::UnknownType;
    }
}

}  // namespace mw
