// CLI subcommands of the model-artifact guard: `scan PATH...`, `model manifest|sign|verify`.
// The modelwarden binary and the mw-scan test driver both register them through this header.
#pragma once

namespace CLI {
class App;
}

namespace mw::scanner {

// Registers `scan` and `model {manifest,sign,verify,keygen}` on `app`.
void add_model_commands(CLI::App& app);

// Exit code of the command that ran: 0 clean / verified, 1 findings / not approved, 2 error.
int model_commands_exit_code();

}  // namespace mw::scanner
