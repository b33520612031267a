// Helpers shared by the policy tests: the passwd fixture and a policy-text builder.
#pragma once

#include <string>

#include "policy/parser.hpp"

namespace mw::policy::test {

inline ParseOptions fixture_options() {
    ParseOptions o;
    o.passwd_path = MW_POLICY_TEST_DIR "/passwd.fixture";
    return o;
}

// A minimal valid document whose spec is `spec_body` (indented by the caller, 2 spaces).
inline std::string doc(const std::string& name, const std::string& spec_body) {
    return "apiVersion: modelwarden/v1\nkind: WorkloadPolicy\nmetadata: {name: " + name + "}\nspec:\n" + spec_body;
}

inline const std::string kSelector = "  selector: {executable: [\"/usr/bin/python3*\"]}\n";

}  // namespace mw::policy::test
