#include "tools/ls.h"

#include <libsmartcols/libsmartcols.h>
#include <pwd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "proto/admin_rows.h"
#include "tools/admin_client.h"
#include "tools/exit_codes.h"

namespace dipc::tools {

namespace {

using proto::Kind;
using proto::ObjectRow;

struct LsOptions {
  bool queues = false, sems = false, shms = false;
  bool noheadings = false, raw = false, json = false, numeric_perms = false;
  std::vector<int32_t> ids;
  std::vector<std::string> keys;
  std::string output;
};

const char* type_name(Kind k) { return k == Kind::kMsg ? "msg" : k == Kind::kSem ? "sem" : "shm"; }

std::string user_name(uint32_t uid) {
  static std::map<uint32_t, std::string> cache;
  auto it = cache.find(uid);
  if (it != cache.end()) return it->second;
  passwd* pw = getpwuid(uid);
  return cache[uid] = pw ? pw->pw_name : std::to_string(uid);
}

std::string perms(uint32_t mode, bool numeric) {
  char b[16];
  if (numeric) {
    std::snprintf(b, sizeof b, "%04o", mode & 0777);
    return b;
  }
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) b[i] = (mode & (0400u >> i)) ? rwx[i] : '-';
  b[9] = 0;
  return b;
}

// A column: its name, what it shows, and how a row fills it ("" for unknown, shown as "-",
// or null in JSON).
struct Column {
  const char* name;
  const char* help;
  bool number;
  std::string (*cell)(const ObjectRow&, const LsOptions&);
};

std::string num(uint64_t v) { return std::to_string(v); }
bool known(const ObjectRow& r) { return r.stat_err == 0; }

const Column kColumns[] = {
    {"TYPE", "msg, sem or shm", false,
     [](auto& r, auto&) { return std::string(type_name(r.kind)); }},
    {"KEY", "the key, in hex as ipcs prints it", false,
     [](auto& r, auto&) {
       char b[16];
       std::snprintf(b, sizeof b, "0x%08x", uint32_t(r.key));
       return std::string(b);
     }},
    {"ID", "the id at the owner node", true, [](auto& r, auto&) { return num(uint32_t(r.id)); }},
    {"OWNER", "the owner node (where the object lives)", false,
     [](auto& r, auto&) { return std::string(r.owner); }},
    {"USER", "the owner user (the uid at the owner, named by this node's accounts)", false,
     [](auto& r, auto&) { return user_name(r.uid); }},
    {"UID", "the owner user's uid at the owner node", true,
     [](auto& r, auto&) { return num(r.uid); }},
    {"GID", "the owner group's gid at the owner node", true,
     [](auto& r, auto&) { return num(r.gid); }},
    {"PERMS", "permissions (octal with --numeric-perms)", false,
     [](auto& r, auto& o) { return perms(r.mode, o.numeric_perms); }},
    {"SIZE", "queue capacity in bytes (qbytes), semaphores in the set, or segment bytes", true,
     [](auto& r, auto&) { return num(r.size); }},
    {"MSGS", "messages in the queue", true,
     [](auto& r, auto&) { return r.kind == Kind::kMsg && known(r) ? num(r.qnum) : ""; }},
    {"USEDBYTES", "bytes used by the queue's messages", true,
     [](auto& r, auto&) { return r.kind == Kind::kMsg && known(r) ? num(r.cbytes) : ""; }},
    {"NATTCH", "processes attached to the segment, on every node", true,
     [](auto& r, auto&) { return r.kind == Kind::kShm && known(r) ? num(r.nattch) : ""; }},
    {"LSPID", "last sender (msg) or creator (shm), a pid at the owner", true,
     [](auto& r, auto&) { return r.kind != Kind::kSem && known(r) ? num(uint32_t(r.lspid)) : ""; }},
    {"LRPID", "last receiver (msg) or last shmat/shmdt (shm), a pid at the owner", true,
     [](auto& r, auto&) { return r.kind != Kind::kSem && known(r) ? num(uint32_t(r.lrpid)) : ""; }},
    {"CTIME", "last change (ISO 8601, UTC)", false,
     [](auto& r, auto&) {
       if (!known(r) || r.ctime <= 0) return std::string();
       time_t t = time_t(r.ctime);
       tm tmv{};
       gmtime_r(&t, &tmv);
       char b[32];
       std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tmv);
       return std::string(b);
     }},
    {"HOLDERS", "nodes holding a placeholder", false,
     [](auto& r, auto&) { return r.holders.empty() ? std::string() : std::string(r.holders); }},
};
const char* const kDefault = "TYPE,KEY,ID,OWNER,USER,PERMS,SIZE,MSGS,USEDBYTES,NATTCH,HOLDERS";

const Column* find_column(const std::string& name) {
  for (auto& c : kColumns)
    if (strcasecmp(c.name, name.c_str()) == 0) return &c;
  return nullptr;
}

// "LIST" replaces the default columns, "+LIST" adds to them (as lsipc).
bool parse_columns(std::string spec, std::vector<const Column*>& out, std::string& why) {
  if (spec.empty()) spec = kDefault;
  if (spec[0] == '+') spec = std::string(kDefault) + "," + spec.substr(1);
  size_t at = 0;
  while (at <= spec.size()) {
    size_t comma = spec.find(',', at);
    std::string name = spec.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    const Column* c = find_column(name);
    if (!c) {
      why = "unknown column '" + name + "' (dipc ls --help lists them)";
      return false;
    }
    out.push_back(c);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return true;
}

int run_ls(const LsOptions& o) {
  std::vector<const Column*> cols;
  std::string why;
  if (!parse_columns(o.output, cols, why)) {
    std::cerr << "dipc ls: " << why << "\n";
    return kExitUsage;
  }
  std::vector<int32_t> keys;
  for (auto& k : o.keys) {
    int32_t v;
    if (!parse_key(k, v, why)) {
      std::cerr << "dipc ls: --key " << why << "\n";
      return kExitUsage;
    }
    keys.push_back(v);
  }
  AdminAnswer ans;
  std::vector<ObjectRow> all, rows;
  if (int rc = fetch_rows(ans, all); rc != kExitOk) return rc;
  bool any_type = !o.queues && !o.sems && !o.shms;
  for (auto& row : all) {
    bool type_ok = any_type || (row.kind == Kind::kMsg && o.queues) ||
                   (row.kind == Kind::kSem && o.sems) || (row.kind == Kind::kShm && o.shms);
    if (!type_ok) continue;
    if (!o.ids.empty() && std::find(o.ids.begin(), o.ids.end(), row.id) == o.ids.end()) continue;
    if (!keys.empty() && std::find(keys.begin(), keys.end(), row.key) == keys.end()) continue;
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ObjectRow& a, const ObjectRow& b) {
    return a.kind != b.kind ? a.kind < b.kind : uint32_t(a.key) < uint32_t(b.key);
  });
  if (!o.ids.empty() && rows.empty()) {
    std::cerr << "dipc ls: no distributed object has that id (ids are the owner node's)\n";
    return kExitFailed;
  }

  libscols_table* tb = scols_new_table();
  if (!tb) {
    std::cerr << "dipc ls: out of memory\n";
    return kExitFailed;
  }
  scols_table_set_name(tb, "dipc");
  scols_table_enable_raw(tb, o.raw);
  scols_table_enable_json(tb, o.json);
  scols_table_enable_noheadings(tb, o.noheadings);
  for (auto* c : cols) {
    libscols_column* cl = scols_table_new_column(tb, c->name, 1, c->number ? SCOLS_FL_RIGHT : 0);
    if (cl && c->number) scols_column_set_json_type(cl, SCOLS_JSON_NUMBER);
  }
  for (auto& row : rows) {
    libscols_line* ln = scols_table_new_line(tb, nullptr);
    if (!ln) break;
    for (size_t i = 0; i < cols.size(); ++i) {
      std::string v = cols[i]->cell(row, o);
      if (v.empty() && o.json) continue;  // null
      scols_line_set_data(ln, i, v.empty() ? "-" : v.c_str());
    }
  }
  int rc = scols_print_table(tb);
  scols_unref_table(tb);
  return rc == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int fetch_rows(AdminAnswer& ans, std::vector<ObjectRow>& rows) {
  std::string why;
  if (!admin_call("ls", Kind{}, 0, ans, why)) {
    std::cerr << "dipc: " << why << "\n";
    return kExitFailed;
  }
  if (ans.err != 0) {
    std::cerr << "dipc ls: " << strerror(ans.err) << (ans.text.empty() ? "\n" : ": " + ans.text);
    if (ans.err == ENOLINK)
      std::cerr << "(this node has no link to the referee: see dipc status)\n";
    return kExitFailed;
  }
  for (auto& p : ans.pages) {
    proto::AdminRows page;
    proto::Reader r(p.data(), p.size());
    if (!page.decode(r)) {
      std::cerr << "dipc: malformed listing from dipcd\n";
      return kExitFailed;
    }
    rows.insert(rows.end(), page.rows.begin(), page.rows.end());
  }
  return kExitOk;
}

void add_ls_command(CLI::App& app) {
  auto o = std::make_shared<LsOptions>();
  auto* ls = app.add_subcommand("ls", "list every distributed object of the cluster (like lsipc)");
  ls->add_flag("-q,--queues", o->queues, "message queues");
  ls->add_flag("-s,--semaphores", o->sems, "semaphore sets");
  ls->add_flag("-m,--shmems", o->shms, "shared memory segments");
  ls->add_option("-i,--id", o->ids, "only the object with this id (the owner node's id)")
      ->type_name("ID");
  ls->add_option("-k,--key", o->keys, "only the object with this key (decimal or 0x hex)")
      ->type_name("KEY");
  ls->add_option("-o,--output", o->output,
                 "the columns, separated by commas; +LIST adds to the default ones")
      ->type_name("LIST");
  ls->add_flag("-n,--noheadings", o->noheadings, "no header line");
  ls->add_flag("-r,--raw", o->raw, "raw output: cells separated by one space, no alignment");
  ls->add_flag("-J,--json", o->json, "JSON output");
  ls->add_flag("-P,--numeric-perms", o->numeric_perms, "permissions in octal");
  std::string foot = "Columns (default " + std::string(kDefault) + "):\n";
  for (auto& c : kColumns) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %s\n", c.name, c.help);
    foot += line;
  }
  foot +=
      "Content columns (MSGS, USEDBYTES, NATTCH, LSPID, LRPID, CTIME) come from the owner:\n"
      "this node's kernel for objects it owns, else an IPC_STAT at the owner as the caller;\n"
      "'-' (null in JSON) when the caller may not read the object there. Examples:\n"
      "  dipc ls -q                     the cluster's queues\n"
      "  dipc ls -o TYPE,KEY,OWNER -n   three columns, no header\n"
      "  dipc ls --json -k 0x28         the object with key 40, as JSON";
  ls->footer(foot);
  ls->callback([o] { std::exit(run_ls(*o)); });
}

}  // namespace dipc::tools
