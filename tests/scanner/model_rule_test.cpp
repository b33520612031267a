// MW-MODEL-003: a watched server reading a model-extension file outside its models.dirs is a
// finding whatever the read allow list says; inside them (or without models.dirs) it is not.
#include <catch2/catch.hpp>

#include "policy/compile.hpp"
#include "policy/evaluate.hpp"

using namespace mw::policy;

namespace {

WorkloadPolicy server(Mode mode) {
    WorkloadPolicy w;
    w.name = "torch";
    w.mode = mode;
    w.models.dirs = {"/srv/models/", "/opt/weights"};
    w.read.allow.push_back(Glob::compile("/tmp/**").value());
    w.read.allow.push_back(Glob::compile("/srv/**").value());
    w.read.allow.push_back(Glob::compile("/opt/**").value());
    w.read.action = Action::deny;
    return w;
}

}  // namespace

TEST_CASE("model extensions are matched on the file name, case-insensitively", "[unit][model-rule]") {
    CHECK(model_file_extensions().size() == 15);
    for (const auto& ext : model_file_extensions()) CHECK(is_model_file("/tmp/x/model." + ext));
    CHECK(is_model_file("/opt/weights/resnet.pth"));
    CHECK_FALSE(is_model_file("/usr/lib/python3/dist-packages/distutils-precedence.pth"));
    CHECK_FALSE(is_model_file("/usr/local/lib/python3.11/site-packages/easy-install.pth"));
    CHECK(is_model_file("/tmp/Model.PT"));
    CHECK(is_model_file("/tmp/w.SafeTensors"));
    CHECK_FALSE(is_model_file("/tmp/model.pt/readme.txt"));
    CHECK_FALSE(is_model_file("/tmp/model.ptx"));
    CHECK_FALSE(is_model_file("/tmp/x/.pt"));
    CHECK_FALSE(is_model_file("/usr/lib/python3/dist-packages/torch/__init__.py"));
    CHECK_FALSE(is_model_file("/usr/bin"));
}

TEST_CASE("models.dirs match on path-component boundaries", "[unit][model-rule]") {
    auto w = server(Mode::enforce);
    CHECK(under_model_dirs(w, "/srv/models/a.pt"));
    CHECK(under_model_dirs(w, "/srv/models/sub/a.pt"));
    CHECK(under_model_dirs(w, "/opt/weights/a.bin"));
    CHECK_FALSE(under_model_dirs(w, "/srv/models2/a.pt"));
    CHECK_FALSE(under_model_dirs(w, "/opt/weightsX/a.bin"));
    CHECK_FALSE(under_model_dirs(w, "/tmp/a.pt"));
}

TEST_CASE("reading a model file outside models.dirs is MW-MODEL-003 even where reads are allowed", "[unit][model-rule]") {
    auto w = server(Mode::enforce);
    auto v = evaluate_open(w, "/tmp/x/model.pt", false);
    CHECK_FALSE(v.allowed);
    CHECK(v.rule_id() == "MW-MODEL-003");
    CHECK(v.rule->kind == RuleKind::model_outside_dirs);
    CHECK(v.configured == Action::deny);
    CHECK(v.action == Action::deny);

    auto m = evaluate_open(server(Mode::monitor), "/srv/models2/w.safetensors", false);
    CHECK(m.rule_id() == "MW-MODEL-003");
    CHECK(m.action == Action::alert);

    // Outside the read allow list too: still the model rule, the more specific finding.
    CHECK(evaluate_open(w, "/home/u/model.ckpt", false).rule_id() == "MW-MODEL-003");
}

TEST_CASE("model files inside models.dirs, other files and writes are not MW-MODEL-003", "[unit][model-rule]") {
    auto w = server(Mode::enforce);
    CHECK(evaluate_open(w, "/srv/models/resnet.pt", false).allowed);
    CHECK(evaluate_open(w, "/opt/weights/sub/w.bin", false).allowed);
    CHECK(evaluate_open(w, "/tmp/x/config.json", false).allowed);
    CHECK(evaluate_open(w, "/home/u/config.json", false).rule_id() == "MW-FILE-001");
    // Writes are the write rules' business (a training job saving a checkpoint is not a load).
    CHECK(evaluate_open(w, "/tmp/x/model.pt", true).rule_id() == "MW-FILE-002");
    // A workload that names no model directories has not opted into the model guard.
    auto plain = server(Mode::enforce);
    plain.models.dirs.clear();
    CHECK(evaluate_open(plain, "/tmp/x/model.pt", false).allowed);
}

TEST_CASE("MW-MODEL-003 is in the rule catalog", "[unit][model-rule]") {
    const auto& r = rule_info(RuleKind::model_outside_dirs);
    CHECK(r.id == "MW-MODEL-003");
    CHECK(r.severity == Severity::high);
    CHECK(r.mitre_id == "T1195");
}
