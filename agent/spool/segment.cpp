// Segment record framing and the reader that survives torn, flipped or zeroed segment bytes.
#include "spool/segment.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

namespace mw::spool {

std::uint32_t record_crc(const RecordHeader& h, const char* body) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(&h) + 8, static_cast<uInt>(kHeaderSize - 8));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(body), static_cast<uInt>(h.body_len));
    return static_cast<std::uint32_t>(crc);
}

void encode_record(std::string& out, EventKind kind, std::uint64_t seq, std::uint64_t ts, std::string_view id,
                   std::string_view json) {
    RecordHeader h{};
    h.magic = kRecordMagic;
    h.body_len = static_cast<std::uint32_t>(id.size() + json.size());
    h.id_len = static_cast<std::uint16_t>(id.size());
    h.kind = static_cast<std::uint8_t>(kind);
    h.sequence = seq;
    h.timestamp_ns = ts;
    out.resize(kHeaderSize + h.body_len);
    char* body = out.data() + kHeaderSize;
    std::memcpy(body, id.data(), id.size());
    std::memcpy(body + id.size(), json.data(), json.size());
    h.crc = record_crc(h, body);
    std::memcpy(out.data(), &h, kHeaderSize);
}

bool SegmentReader::open(const std::string& path, std::uint32_t max_record_bytes) {
    close();
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
        error = errno;
        return false;
    }
    max_record_ = max_record_bytes;
    pos_ = 0;
    buf_off_ = 0;
    buf_len_ = 0;
    return true;
}

void SegmentReader::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_len_ = 0;
}

std::size_t SegmentReader::fill(std::uint64_t pos, std::size_t n) {
    if (pos >= buf_off_ && pos + n <= buf_off_ + buf_len_) return n;
    std::size_t want = std::max<std::size_t>(n, 256 * 1024);
    if (buf_.size() < want) buf_.resize(want);
    buf_off_ = pos;
    buf_len_ = 0;
    while (buf_len_ < want) {
        ssize_t r = ::pread(fd_, buf_.data() + buf_len_, want - buf_len_, static_cast<off_t>(pos + buf_len_));
        if (r < 0) {
            if (errno == EINTR) continue;
            error = errno;
            break;
        }
        if (r == 0) break;
        buf_len_ += static_cast<std::size_t>(r);
    }
    return std::min(n, buf_len_);
}

SegmentReader::Status SegmentReader::next(bool live, RecordHeader& h, std::string_view& id, std::string_view& json) {
    if (fd_ < 0) return Status::Error;
    bool in_corrupt = false;
    std::uint64_t corrupt_start = 0;
    auto end_corrupt = [&](std::uint64_t at) {
        if (!in_corrupt) return;
        corrupt_regions++;
        corrupt_bytes += at - corrupt_start;
        last_corrupt_offset = corrupt_start;
        in_corrupt = false;
    };
    auto start_corrupt = [&] {
        if (!in_corrupt) {
            in_corrupt = true;
            corrupt_start = pos_;
        }
    };
    for (;;) {
        std::size_t avail = fill(pos_, kHeaderSize);
        if (error) return Status::Error;
        if (avail == 0) {
            end_corrupt(pos_);
            return Status::End;
        }
        if (avail < kHeaderSize) {
            // A short tail: the writer may be mid-write (live) or it was torn by a crash.
            if (live && !in_corrupt) return Status::End;
            start_corrupt();
            pos_ += avail;
            end_corrupt(pos_);
            return Status::End;
        }
        std::memcpy(&h, buf_.data() + (pos_ - buf_off_), kHeaderSize);
        bool plausible = h.magic == kRecordMagic && h.body_len <= max_record_ && h.id_len <= h.body_len &&
                         h.kind <= static_cast<std::uint8_t>(EventKind::Alert);
        if (plausible) {
            std::size_t total = kHeaderSize + h.body_len;
            avail = fill(pos_, total);
            if (error) return Status::Error;
            if (avail < total) {
                if (live && !in_corrupt) return Status::End;
                plausible = false;  // torn: the length points past the end of a sealed file
            } else {
                const char* body = buf_.data() + (pos_ - buf_off_) + kHeaderSize;
                if (record_crc(h, body) == h.crc) {
                    end_corrupt(pos_);
                    id = std::string_view(body, h.id_len);
                    json = std::string_view(body + h.id_len, h.body_len - h.id_len);
                    pos_ += total;
                    return Status::Record;
                }
                plausible = false;
            }
        }
        // Not a valid record here: resynchronise on the next magic.
        start_corrupt();
        std::uint64_t scan = pos_ + 1;
        for (;;) {
            std::size_t got = fill(scan, 64 * 1024);
            if (error) return Status::Error;
            if (got < 4) {
                pos_ = scan + got;
                end_corrupt(pos_);
                return Status::End;
            }
            const char* base = buf_.data() + (scan - buf_off_);
            static constexpr char magic[4] = {'M', 'W', 'R', '1'};
            const char* hit = std::search(base, base + got, magic, magic + 4);
            if (hit != base + got) {
                pos_ = scan + static_cast<std::uint64_t>(hit - base);
                break;
            }
            scan += got - 3;  // keep 3 bytes: the magic may straddle chunks
        }
    }
}

std::string segment_name(int lane, std::uint64_t first_seq) {
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%s-%020llu.seg", lane == 1 ? "alert" : "event",
                          static_cast<unsigned long long>(first_seq));
    return std::string(buf, static_cast<std::size_t>(n));
}

bool parse_segment_name(const std::string& name, int& lane, std::uint64_t& first_seq) {
    std::string_view s(name);
    if (s.size() != 6 + 20 + 4 || s.substr(s.size() - 4) != ".seg") return false;
    if (s.starts_with("alert-")) lane = 1;
    else if (s.starts_with("event-")) lane = 0;
    else return false;
    auto digits = s.substr(6, 20);
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), first_seq);
    return r.ec == std::errc() && r.ptr == digits.data() + digits.size();
}

}  // namespace mw::spool
