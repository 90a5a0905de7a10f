// The dipc tool's side of the admin protocol: one request to the node's dipcd over its Unix
// socket (RUN_DIR/dipcd.sock, RUN_DIR from $DIPC_RUNDIR or /run/dipc) and the whole
// answer: text parts (kAdminMore), record pages (kAdminRows), the final kAdminReply.
// Also the tool's parser for keys given on the command line. Single-threaded tool code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/wire.h"

namespace dipc::tools {

std::string run_dir();

struct AdminAnswer {
  int err = 0;                              // the final reply's errno, 0 for success
  std::string text;                         // every text part, in order
  std::vector<std::vector<uint8_t>> pages;  // kAdminRows payloads, in order
};

// Sends command and reads the answer. False when dipcd could not be reached or answered
// something malformed; why then says what happened, for the user.
// Whether a dipcd answers on this node's socket (a connect, nothing sent).
bool dipcd_reachable();

bool admin_call(const std::string& command, proto::Kind kind, int32_t key, AdminAnswer& out,
                std::string& why);

// A key as users write it: decimal (optionally negative, as a key_t), or 0x hex up to
// 0xffffffff. False with why on anything else.
bool parse_key(const std::string& s, int32_t& key, std::string& why);

}  // namespace dipc::tools
