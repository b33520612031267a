// EcsEncoder: exact output for fixed events, every field parsed back and compared.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "expected_open.hpp"
#include "fixtures.hpp"

using namespace mw;
using njson = nlohmann::json;

namespace {

njson encode(const SecurityEvent& e) {
    std::string out;
    test::fixed_encoder().encode(e, out);
    REQUIRE(out.find('\n') == std::string::npos);
    return njson::parse(out);
}

const njson kHost = njson::parse(R"j({"hostname":"gpu-node-1","name":"gpu-node-1","id":"0123456789abcdef0123456789abcdef",
  "architecture":"x86_64","boot":{"id":"6f1c3a52-8b1e-4f3e-9d7c-2a4b5c6d7e8f"},
  "os":{"type":"linux","family":"debian","name":"Debian GNU/Linux","version":"12",
        "full":"Debian GNU/Linux 12 (bookworm)","platform":"debian","kernel":"6.18.0"}})j");
const njson kAgent = njson::parse(R"j({"type":"modelwarden","version":"0.1.0","id":"5d2c4a8e-1f3b-5c7d-9e0f-123456789abc","name":"modelwarden"})j");
const njson kInitAncestor = njson::parse(R"j({"pid":1,"entity_id":"aW5pdC1lbnRpdHktaWQtMQ","executable":"/usr/lib/systemd/systemd","args":["/sbin/init"]})j");
const njson kServerAncestor = njson::parse(R"j({"pid":4100,"entity_id":"c2VydmVyLWVudGl0eS1pZA","executable":"/usr/bin/python3.11",
  "args":["python3","serve.py","--model","/opt/models/resnet.pt"]})j");

}  // namespace

TEST_CASE("open event encodes to the exact expected line", "[output][ecs]") {
    test::World w;
    std::string out;
    test::fixed_encoder().encode(w.open_event(), out);
    CHECK(out == kOpenEventJson);
}

TEST_CASE("exec alert carries rule, threat, chain, workload and enforcement", "[output][ecs]") {
    test::World w;
    njson j = encode(w.alert_event());
    njson expected = njson::parse(R"j({
      "@timestamp":"2025-11-22T00:00:00.123456789Z",
      "ecs":{"version":"9.4.0"},
      "event":{"id":"5d2c4a8e-1f3b-5c7d-9e0f-123456789abc-14","sequence":14,"kind":"alert",
               "category":["process","intrusion_detection"],"type":["start","info"],"action":"exec",
               "outcome":"success","severity":73,"module":"modelwarden","dataset":"modelwarden.alert",
               "created":"2025-11-22T00:00:00.500000000Z"},
      "message":"python3 (pid 4100) executed /usr/bin/dash",
      "process":{"pid":4242,"entity_id":"c2hlbGwtZW50aXR5LWlkLTQ","executable":"/usr/bin/dash","name":"sh",
                 "args":["/bin/sh","-c","id > /tmp/x"],"args_count":3,"command_line":"/bin/sh -c id > /tmp/x",
                 "start":"2025-11-21T04:41:01.250000000Z","working_directory":"/opt/serve",
                 "user":{"id":"1001"},"group":{"id":"1002"},
                 "parent":{"pid":4100,"entity_id":"c2VydmVyLWVudGl0eS1pZA","executable":"/usr/bin/python3.11",
                           "name":"python3","args":["python3","serve.py","--model","/opt/models/resnet.pt"],
                           "args_count":4,"command_line":"python3 serve.py --model /opt/models/resnet.pt",
                           "start":"2025-11-21T04:41:00.000000000Z"}},
      "user":{"id":"1001"},"group":{"id":"1002"},
      "rule":{"id":"MW-EXEC-001","name":"Model server spawned a process",
              "description":"A watched model server executed a program outside its exec allow list",
              "ruleset":"torchserve-prod","category":"Execution"},
      "threat":{"framework":"MITRE ATT&CK","technique":{"id":["T1059"],"name":["Command and Scripting Interpreter"]},
                "tactic":{"name":["Execution"]}},
      "container":{"id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
      "modelwarden":{"record_type":2,"result":0,"severity":"high",
                     "process":{"args_truncated":false,"cgroup":{"id":7777,
                        "path":"/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope"}},
                     "workload":{"name":"torchserve-prod","id":3,
                                 "root":{"pid":4100,"entity_id":"c2VydmVyLWVudGl0eS1pZA","executable":"/usr/bin/python3.11"}},
                     "enforcement":{"action":"alert","applied":true,"succeeded":true}}
    })j");
    expected["host"] = kHost;
    expected["agent"] = kAgent;
    expected["modelwarden"]["ancestors"] = njson::array({kServerAncestor, kInitAncestor});
    CHECK(j == expected);
}

TEST_CASE("connect event encodes IPv6 endpoints and network fields", "[output][ecs]") {
    test::World w;
    njson j = encode(w.connect_event());
    CHECK(j["event"]["category"] == njson::array({"network"}));
    CHECK(j["event"]["type"] == njson::array({"connection", "start"}));
    CHECK(j["event"]["outcome"] == "failure");
    CHECK(j["source"] == njson::parse(R"j({"address":"::1","ip":"::1","port":51000})j"));
    CHECK(j["destination"] == njson::parse(R"j({"address":"2001:db8::7","ip":"2001:db8::7","port":443})j"));
    CHECK(j["network"] == njson::parse(R"j({"transport":"tcp","type":"ipv6","direction":"egress"})j"));
    CHECK(j["modelwarden"]["result"] == -111);
    CHECK(j["modelwarden"]["network"] == njson::parse(R"j({"family":"ipv6","socket_type":1})j"));
    CHECK_FALSE(j.contains("rule"));
    CHECK_FALSE(j.contains("threat"));
    CHECK_FALSE(j.contains("file"));
    CHECK_FALSE(j["event"].contains("severity"));
}

TEST_CASE("enforcement alert encodes IPv4 destination, enforcement and syscall", "[output][ecs]") {
    test::World w;
    njson j = encode(w.enforcement_event());
    CHECK(j["event"]["kind"] == "alert");
    CHECK(j["event"]["severity"] == 47);
    CHECK(j["destination"] == njson::parse(R"j({"address":"203.0.113.9","ip":"203.0.113.9","port":4444})j"));
    CHECK_FALSE(j.contains("source"));
    CHECK(j["network"] == njson::parse(R"j({"transport":"tcp","type":"ipv4","direction":"egress"})j"));
    CHECK(j["rule"]["id"] == "MW-NET-001");
    CHECK(j["threat"]["technique"]["id"] == njson::array({"T1041"}));
    CHECK(j["threat"]["tactic"]["name"] == njson::array({"Exfiltration"}));
    CHECK(j["modelwarden"]["enforcement"] ==
          njson::parse(R"j({"action":"deny","applied":true,"succeeded":true,"detail":"cgroup/connect4 returned EPERM"})j"));
    CHECK(j["modelwarden"]["syscall"] == njson::parse(R"j({"name":"connect","nr":42,"args":[]})j"));
    CHECK(j["process"]["parent"]["pid"] == 1);
    CHECK(j["process"]["parent"]["executable"] == "/usr/lib/systemd/systemd");
    CHECK(j["modelwarden"]["ancestors"] == njson::array({kInitAncestor}));
}

TEST_CASE("ptrace alert carries syscall args and target pid", "[output][ecs]") {
    test::World w;
    njson j = encode(w.ptrace_event());
    CHECK(j["modelwarden"]["syscall"] == njson::parse(R"j({"name":"ptrace","nr":101,"args":[16,4242,0]})j"));
    CHECK(j["modelwarden"]["target"]["pid"] == 4100);
    CHECK(j["rule"]["ruleset"] == "modelwarden");
}

TEST_CASE("exit event decodes the wait status", "[output][ecs]") {
    test::World w;
    Process exited;
    njson j = encode(w.exit_event(exited));
    CHECK(j["process"]["exit_code"] == 137);  // 128 + SIGKILL
    CHECK(j["process"]["end"] == "2025-11-21T04:41:02.000000000Z");
    CHECK(j["modelwarden"]["process"]["exit_signal"] == 9);
    // No ancestors given: only the parent pid is known.
    CHECK(j["process"]["parent"] == njson::parse(R"j({"pid":4100})j"));
    CHECK_FALSE(j["modelwarden"].contains("ancestors"));

    SecurityEvent normal = w.exit_event(exited);
    exited.exit_code = 3 << 8;  // exit(3)
    j = encode(normal);
    CHECK(j["process"]["exit_code"] == 3);
    CHECK_FALSE(j["modelwarden"]["process"].contains("exit_signal"));
}

TEST_CASE("rename carries the target under modelwarden and the ECS octal mode", "[output][ecs]") {
    test::World w;
    njson j = encode(w.rename_unix_event());
    CHECK(j["file"] == njson::parse(R"j({"path":"/tmp/payload","name":"payload","directory":"/tmp","mode":"0755"})j"));
    CHECK(j["modelwarden"]["file"]["target_path"] == "/usr/local/bin/helper");
}

TEST_CASE("unix socket connect uses address, not ip", "[output][ecs]") {
    test::World w;
    SecurityEvent e = w.connect_event();
    e.source = {};
    e.destination = {};
    e.destination.family = AF_UNIX;
    e.destination.unix_path = "@/containerd-shim/abc.sock";
    njson j = encode(e);
    CHECK(j["destination"] == njson::parse(R"j({"address":"@/containerd-shim/abc.sock"})j"));
    CHECK(j["network"] == njson::parse(R"j({"direction":"egress"})j"));
    CHECK(j["modelwarden"]["network"]["family"] == "unix");
}

TEST_CASE("the output buffer is reused without growing once warm", "[output][ecs]") {
    test::World w;
    auto enc = test::fixed_encoder();
    mw::json::JsonLine out(4096);
    enc.encode(w.alert_event(), out);  // warm-up: may grow once
    const char* data = out.data();
    const std::size_t cap = out.capacity();
    for (int i = 0; i < 100; ++i) {
        enc.encode(w.alert_event(), out);
        enc.encode(w.open_event(), out);
    }
    CHECK(out.data() == data);
    CHECK(out.capacity() == cap);
    CHECK(out.view() == kOpenEventJson);

    std::string copy;
    enc.encode(w.open_event(), copy);
    CHECK(copy == kOpenEventJson);
}

TEST_CASE("pipeline errors report lost events and event ids match encode", "[output][ecs]") {
    test::World w;
    njson j = encode(w.pipeline_error_event());
    CHECK(j["event"]["kind"] == "pipeline_error");
    CHECK(j["event"]["dataset"] == "modelwarden.pipeline");
    CHECK(j["modelwarden"]["lost_events"] == 4096);
    CHECK_FALSE(j.contains("process"));
    std::string id;
    test::fixed_encoder().format_event_id(19, id);
    CHECK(id == "5d2c4a8e-1f3b-5c7d-9e0f-123456789abc-19");
    CHECK(j["event"]["id"] == id);
}
