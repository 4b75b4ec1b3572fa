// ingot: one binary, thin subcommands over the libraries.
#include "tools/commands.hpp"
#include "tools/version.hpp"

#include <cstdio>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace {

// CLI11 says "A subcommand is required" or "The following arguments were not expected" for a
// misspelt command; this names it and where the list is. The walk stops at the first option:
// past one, which words are values is CLI11's to know.
bool unknown_command(CLI::App& app, int argc, char** argv) {
  const std::function<bool(CLI::App*)> every;
  CLI::App* at = &app;
  std::string path = "ingot";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word.front() == '-' || at->get_subcommands(every).empty()) {
      return false;
    }
    const auto matches = at->get_subcommands(
        std::function<bool(CLI::App*)>([&](CLI::App* sub) { return sub->check_name(word); }));
    if (matches.empty()) {
      const auto shown = path == "ingot" ? word : path.substr(6) + " " + word;
      std::fprintf(stderr, "ingot: unknown command '%s'; run '%s --help' for the list\n",
                   shown.c_str(), path.c_str());
      return true;
    }
    at = matches.front();
    path += " " + word;
  }
  return false;
}

} // namespace

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
  ingot::tools::add_ref_commands(app, run);
  ingot::tools::add_release_commands(app, run);
  ingot::tools::add_gc_commands(app, run);
  ingot::tools::add_nix_commands(app, run);
  ingot::tools::add_mirror_commands(app, run);
  ingot::tools::add_fsck_command(app, run);

  if (argc == 1) {
    std::fprintf(stderr, "ingot: give a command; run 'ingot --help' for the list\n");
    return ingot::tools::k_exit_usage;
  }
  if (unknown_command(app, argc, argv)) {
    return ingot::tools::k_exit_usage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : ingot::tools::k_exit_usage;
  }
  return run ? run() : ingot::tools::k_exit_usage;
}
