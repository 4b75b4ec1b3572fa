// ingot: one binary, thin subcommands over the libraries.
#include "tools/commands.hpp"
#include "tools/version.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Ingot: a content-addressed artifact cache and signed binary store.\n"
               "Run `ingot COMMAND --help` for a command's options.",
               "ingot"};
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", ingot::tools::version_line());
  std::function<int()> run;

  app.add_subcommand("version", "Print the version and exit")->callback([&] {
    run = [] {
      std::printf("%s\n", ingot::tools::version_line());
      return ingot::tools::k_exit_ok;
    };
  });
  ingot::tools::add_serve_commands(app, run);
  ingot::tools::add_client_commands(app, run);
  ingot::tools::add_release_commands(app, run);
  ingot::tools::add_gc_commands(app, run);
  ingot::tools::add_nix_commands(app, run);
  ingot::tools::add_fsck_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : ingot::tools::k_exit_usage;
  }
  return run ? run() : ingot::tools::k_exit_usage;
}
