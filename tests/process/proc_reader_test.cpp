// /proc parsing and entity_id derivation.
#include <catch2/catch.hpp>

#include "process/entity_id.hpp"
#include "process/proc_reader.hpp"

using namespace mw;

TEST_CASE("stat parsing handles hostile comm", "[process][proc]") {
    auto st = parse_proc_stat("4242 (a b) (c) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3\n");
    REQUIRE(st.ok());
    CHECK(st->pid == 4242);
    CHECK(st->comm == "a b) (c");
    CHECK(st->state == 'S');
    CHECK(st->ppid == 17);
    CHECK(st->start_ticks == 98765);
}

TEST_CASE("stat parsing rejects malformed text", "[process][proc]") {
    CHECK_FALSE(parse_proc_stat("").ok());
    CHECK_FALSE(parse_proc_stat("12 (x S 1").ok());
    CHECK_FALSE(parse_proc_stat("12 (x) S 1 2 3").ok());
    CHECK_FALSE(parse_proc_stat("abc (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").ok());
    CHECK_FALSE(parse_proc_stat("12 (x) S notanumber 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5").ok());
}

TEST_CASE("entity_id is SHA-256 of key, pid and start tick, base64url", "[process][entity]") {
    REQUIRE(proc_tick_ns() == 10'000'000ull);
    EntityIdGenerator ids("machine:boot");
    // Reference computed with Python hashlib: sha256(b"machine:boot" + pack("<IQ", 4242, 12345))[:16].
    CHECK(ids.make(4242, 12345ull * 10'000'000ull) == "2crm5GvTjvfpShUqvU4pfA");
    // Kernel ns and /proc ticks name the same process.
    CHECK(ids.make(4242, 12345ull * 10'000'000ull + 9'999'999ull) == "2crm5GvTjvfpShUqvU4pfA");
    CHECK(ids.make(4242, 12346ull * 10'000'000ull) != "2crm5GvTjvfpShUqvU4pfA");
    CHECK(ids.make(4243, 12345ull * 10'000'000ull) != "2crm5GvTjvfpShUqvU4pfA");
    CHECK(EntityIdGenerator("other:boot").make(4242, 12345ull * 10'000'000ull) != "2crm5GvTjvfpShUqvU4pfA");
}

TEST_CASE("read_proc_process fails cleanly for a missing pid", "[process][proc]") {
    auto r = read_proc_process("/proc", 0x7ffffff0u, proc_tick_ns());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ENOENT);
}
