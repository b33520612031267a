// mw-scan: a tiny driver around the same CLI registration the modelwarden binary uses, so the
// scanner's tests exercise the real command line.
#include <CLI/CLI.hpp>

#include "scanner/cli.hpp"

int main(int argc, char** argv) {
    CLI::App app{"modelwarden model-artifact scanner"};
    app.require_subcommand(1);
    mw::scanner::add_model_commands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    return mw::scanner::model_commands_exit_code();
}
