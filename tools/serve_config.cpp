#include "tools/serve_config.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string_view>

#include <CLI/CLI.hpp>

namespace ingot::tools {

namespace {

// The options of serve that are not settings: what to do rather than how to serve.
bool is_setting(const CLI::Option& opt) {
  const auto& names = opt.get_lnames();
  if (names.empty()) {
    return false;
  }
  const std::string& name = names.front();
  return name != "help" && name != "config" && name != "dump-config";
}

std::string env_name(const std::string& long_name) {
  std::string out = "INGOT_";
  for (const char c : long_name) {
    out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string setting_names(const CLI::App& serve) {
  std::string out;
  for (const auto* opt : serve.get_options()) {
    if (is_setting(*opt)) {
      out += (out.empty() ? "" : ", ") + opt->get_lnames().front();
    }
  }
  return out;
}

Error bad_config(const std::string& file, const std::string& what) {
  return make_error(Errc::invalid_argument, "config file " + file + ": " + what);
}

// A TOML value CLI11's reader gives back as it is: numbers bare, the rest quoted.
std::string toml_value(const std::string& value) {
  // A TOML number has digits on both sides of its point: "1." or "." go out quoted.
  const auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
  };
  const auto point = value.find('.');
  const bool number = point == std::string::npos
                          ? digits(value)
                          : digits(std::string_view(value).substr(0, point)) &&
                                digits(std::string_view(value).substr(point + 1));
  if (number) {
    return value;
  }
  const char quote = value.find('"') == std::string::npos ? '"' : '\'';
  return quote + value + quote;
}

} // namespace

void add_setting_env_names(CLI::App& serve) {
  for (auto* opt : serve.get_options()) {
    if (is_setting(*opt)) {
      opt->envname(env_name(opt->get_lnames().front()));
    }
  }
}

Result<void> apply_config_file(CLI::App& serve, const std::string& file, bool given) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    if (!given) {
      return {};
    }
    return make_error(Errc::invalid_argument,
                      "config file " + file +
                          " does not exist (or is not a file); fix --config (or INGOT_CONFIG)");
  }
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(file);
  } catch (const CLI::Error& e) {
    return bad_config(file, e.what());
  }
  for (const auto& item : items) {
    if (!item.parents.empty()) {
      const std::string section = CLI::detail::join(item.parents, ".");
      return bad_config(file, (item.name == "++" || item.name == "--"
                                   ? "unknown section [" + section + "]"
                                   : "unknown key '" + item.fullname() + "'") +
                                  "; serve's settings are top-level keys: " + setting_names(serve));
    }
    auto* opt = serve.get_option_no_throw("--" + item.name);
    if (opt == nullptr || !is_setting(*opt)) {
      return bad_config(file,
                        "unknown key '" + item.name + "'; the keys are " + setting_names(serve));
    }
    if (opt->count() > 0) {
      continue; // set on the command line or in the environment, which win
    }
    try {
      opt->add_result(item.inputs);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      return bad_config(file, item.name + ": " + e.what());
    }
  }
  return {};
}

std::string dump_settings(const CLI::App& serve) {
  std::string out =
      "# ingot serve's effective settings; read back with ingot serve --config FILE\n";
  for (const auto* opt : serve.get_options()) {
    if (!is_setting(*opt)) {
      continue;
    }
    const std::string& name = opt->get_lnames().front();
    std::vector<std::string> values = opt->results();
    if (opt->count() == 0 && !opt->get_default_str().empty()) {
      values = {opt->get_default_str()};
    }
    if (values.empty()) {
      out += "# " + name + " is not set\n";
    } else if (opt->get_expected_max() > 1) {
      std::string list;
      for (const auto& v : values) {
        list += (list.empty() ? "" : ", ") + toml_value(v);
      }
      out += name + " = [" + list + "]\n";
    } else {
      out += name + " = " + toml_value(values.back()) + "\n";
    }
  }
  return out;
}

} // namespace ingot::tools
