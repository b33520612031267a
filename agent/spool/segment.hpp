// Segment file format and its defensive reader, shared by the Spool and the read-only query.
// A record: 32-byte header (magic, crc32 of everything after the crc, lengths, kind, seq, ts),
// then event id and JSON. Anything that does not validate is skipped by resynchronising on magic.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "spool/spool.hpp"

namespace mw::spool {

inline constexpr std::uint32_t kRecordMagic = 0x3152574d;  // "MWR1" little-endian
inline constexpr std::size_t kHeaderSize = 32;

struct RecordHeader {
    std::uint32_t magic;
    std::uint32_t crc;       // zlib crc32 over bytes [8, 32) of the header and the body
    std::uint32_t body_len;  // id_len + json length
    std::uint16_t id_len;
    std::uint8_t kind;
    std::uint8_t flags;
    std::uint64_t sequence;
    std::uint64_t timestamp_ns;
};
static_assert(sizeof(RecordHeader) == kHeaderSize);
static_assert(offsetof(RecordHeader, sequence) == 16);

std::uint32_t record_crc(const RecordHeader& h, const char* body);

// Builds the framed record into `out` (reusing its capacity).
void encode_record(std::string& out, EventKind kind, std::uint64_t seq, std::uint64_t ts, std::string_view id,
                   std::string_view json);

// Reads one segment file sequentially with a bounded buffer. `live` = the writer may still be
// appending (an incomplete last record is "not yet", not corruption).
class SegmentReader {
public:
    enum class Status { Record, End, Error };

    bool open(const std::string& path, std::uint32_t max_record_bytes);
    void close();
    bool is_open() const { return fd_ >= 0; }
    // Next valid record (header + body views valid until the next call). Corrupt ranges are
    // skipped and counted; `live` decides what a short tail means.
    Status next(bool live, RecordHeader& h, std::string_view& id, std::string_view& json);
    std::uint64_t offset() const { return pos_; }
    void seek(std::uint64_t pos) { pos_ = pos; }
    std::uint64_t corrupt_regions = 0;
    std::uint64_t corrupt_bytes = 0;
    std::uint64_t last_corrupt_offset = 0;
    int error = 0;

    SegmentReader() = default;
    SegmentReader(const SegmentReader&) = delete;
    SegmentReader& operator=(const SegmentReader&) = delete;
    ~SegmentReader() { close(); }

private:
    // Makes [pos, pos+n) available in buf_; returns the number of bytes actually available.
    std::size_t fill(std::uint64_t pos, std::size_t n);
    int fd_ = -1;
    std::uint32_t max_record_ = 0;
    std::uint64_t pos_ = 0;
    std::vector<char> buf_;
    std::uint64_t buf_off_ = 0;
    std::size_t buf_len_ = 0;
    std::uint64_t file_size_ = 0;
};

// "alert-00000000000000000042.seg" -> lane 1, first sequence 42.
bool parse_segment_name(const std::string& name, int& lane, std::uint64_t& first_seq);
std::string segment_name(int lane, std::uint64_t first_seq);

}  // namespace mw::spool
