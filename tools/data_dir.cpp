#include "tools/data_dir.hpp"

#include "tools/commands.hpp"

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace fs = std::filesystem;

namespace {

std::string how_to_find(const std::string& data) {
  return std::string("; pass --data DIR (or set ") + k_data_env +
         ") to the server's data dir, or create one with ingot init --data " + data;
}

int cmd_init(const std::string& data) {
  if (cas::is_data_dir(data)) {
    std::printf("%s is already an Ingot data dir; serve it with: ingot serve --data %s\n",
                data.c_str(), data.c_str());
    return k_exit_ok;
  }
  cas::StoreOptions options;
  options.dir = data;
  // Created exactly as `ingot serve` creates it, then closed.
  auto store = cas::Store::open(options);
  if (!store) {
    return fail(store.error());
  }
  store->reset();
  std::error_code ec;
  const auto where = fs::canonical(data, ec);
  std::printf("created an Ingot data dir at %s; serve it with: ingot serve --data %s\n",
              ec ? data.c_str() : where.c_str(), data.c_str());
  return k_exit_ok;
}

} // namespace

CLI::Option* add_data_option(CLI::App* cmd, std::string& data, const std::string& help) {
  return cmd->add_option("--data", data, help + " (or set " + k_data_env + ")")
      ->envname(k_data_env)
      ->capture_default_str();
}

Result<void> require_data_dir(const std::string& data) {
  if (cas::is_data_dir(data)) {
    return {};
  }
  std::error_code ec;
  if (!fs::exists(data, ec)) {
    return make_error(Errc::invalid_argument, "no Ingot data dir at " + data + how_to_find(data));
  }
  return make_error(Errc::invalid_argument,
                    data + " is not an Ingot data dir (it has no FORMAT file)" + how_to_find(data));
}

Result<std::unique_ptr<cas::Store>> open_data_dir(cas::StoreOptions options,
                                                  std::string_view while_served) {
  INGOT_TRY(require_data_dir(options.dir.string()));
  options.create = cas::Create::no;
  auto store = cas::Store::open(options);
  if (!store && store.error().code == Errc::busy) {
    return make_error(Errc::busy, store.error().message + "; " + std::string(while_served));
  }
  if (!store && store.error().code == Errc::not_found) {
    // Removed between the check and the open.
    return make_error(Errc::invalid_argument,
                      store.error().message + how_to_find(options.dir.string()));
  }
  return store;
}

std::string stop_the_server_first(std::string_view command) {
  return "ingot " + std::string(command) +
         " works on a data dir no server is using: stop the server first";
}

void add_init_command(CLI::App& app, std::function<int()>& run) {
  static std::string data = k_default_data_dir;
  auto* init = app.add_subcommand(
      "init", "Create a data dir, as `ingot serve` would, and exit (an existing one is kept)");
  add_data_option(init, data, "Data directory to create");
  init->callback([&run] {
    run = [] {
      return cmd_init(data);
    };
  });
}

} // namespace ingot::tools
