// The seccomp subcommands of the modelwarden binary: `seccomp learn`, `seccomp generate`, `exec`.
#pragma once

namespace CLI {
class App;
}

namespace mw {

// Registers the subcommands on `app`; each callback stores its exit status in `exit_code`.
void add_seccomp_commands(CLI::App& app, int& exit_code);

}  // namespace mw
