// Writes a Config as dipc.conf text (TOML): the inverse of parse_config in config.h.
//
// Programs that generate configurations (`dipc cluster up` writes one per node) build a
// Config value and write it here instead of assembling TOML by hand, so that the text
// always says what the parser reads: tests/unit/config_test.cc writes every field and
// parses it back equal. Each section is written by one function in config_writer.cc; a
// new key or section is added there, next to its reader in config.cc.
//
// config_table gives the document as a toml::table, for callers that change it before
// writing (`dipc cluster up --set`); the result should then be checked with parse_config.
// Pure functions on values: any thread. They throw only std::bad_alloc.
#pragma once

#include <toml++/toml.h>

#include <string>

#include "common/config.h"

namespace dipc {

// Every field of cfg that parse_config reads, in its section; optional keys whose value
// means "none" (an empty secret_file, an empty referee address) are left out. cfg.source
// is not part of the document.
toml::table config_table(const Config& cfg);

// A TOML document as text (toml++'s formatter: sections in name order, keys in name order).
std::string toml_text(const toml::table& doc);

// toml_text(config_table(cfg)).
std::string format_config(const Config& cfg);

}  // namespace dipc
