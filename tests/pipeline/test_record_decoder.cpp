// Decoder: every length from the kernel is checked; a hostile record is refused, not read past.
#include <catch2/catch.hpp>

#include "pipeline/record_decoder.hpp"
#include "record_builder.hpp"

using namespace mw;

TEST_CASE("decodes an exec record's filename, argv and cwd", "[decoder]") {
    test::RecordBuilder b;
    auto& ev = b.start<mw_exec_event>(MW_EVENT_PROCESS_EXEC);
    ev.hdr.pid = 42;
    ev.argc = 3;
    const auto f = b.add_string("/bin/sh");
    const auto a = b.add_args({"/bin/sh", "-c", "exit 0"});
    const auto c = b.add_string("/tmp");
    auto& body = b.body<mw_exec_event>();
    body.filename_len = f;
    body.args_len = a;
    body.cwd_len = c;
    DecodedRecord rec;
    REQUIRE(decode_record(b.finish(), rec) == DecodeError::None);
    CHECK(rec.type() == MW_EVENT_PROCESS_EXEC);
    CHECK(rec.header->pid == 42);
    CHECK(rec.text[0] == "/bin/sh");
    CHECK(rec.text[2] == "/tmp");
    std::vector<std::string> args;
    for_each_arg(rec.args_blob, [&](std::string_view s) { args.emplace_back(s); });
    CHECK(args == std::vector<std::string>{"/bin/sh", "-c", "exit 0"});
}

TEST_CASE("refuses records whose lengths lie", "[decoder]") {
    test::RecordBuilder b;
    auto& ev = b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
    (void)ev;
    const auto p = b.add_string("/etc/passwd");
    b.body<mw_file_event>().path_len = static_cast<std::uint16_t>(p + 1);  // one byte past the end
    DecodedRecord rec;
    CHECK(decode_record(b.finish(), rec) == DecodeError::StringOverflow);

    b.body<mw_file_event>().path_len = p;
    auto bytes = b.finish();
    CHECK(decode_record(bytes.first(sizeof(mw_event_header) - 1), rec) == DecodeError::TooShort);
    CHECK(decode_record(bytes.first(bytes.size() - 1), rec) == DecodeError::SizeMismatch);
}

TEST_CASE("refuses unknown types and short bodies", "[decoder]") {
    test::RecordBuilder b;
    b.start<mw_fork_event>(999);
    DecodedRecord rec;
    CHECK(decode_record(b.finish(), rec) == DecodeError::UnknownType);

    b.start<mw_exit_event>(MW_EVENT_PROCESS_EXEC);  // an exit-sized body claiming to be an exec
    CHECK(decode_record(b.finish(), rec) == DecodeError::BodyTooShort);
}

TEST_CASE("a string without its NUL still ends at the record's end", "[decoder]") {
    test::RecordBuilder b;
    b.start<mw_file_event>(MW_EVENT_FILE_OPEN);
    // A path with an embedded NUL: only the part before it is the path.
    const auto p = b.add_string(std::string_view("/tmp/a\0/etc/shadow", 18));
    b.body<mw_file_event>().path_len = p;
    DecodedRecord rec;
    REQUIRE(decode_record(b.finish(), rec) == DecodeError::None);
    CHECK(rec.text[0] == "/tmp/a");
}
