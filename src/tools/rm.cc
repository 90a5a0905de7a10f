#include "tools/rm.h"

#include <errno.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tools/admin_client.h"
#include "tools/exit_codes.h"
#include "tools/ls.h"

namespace dipc::tools {

namespace {

using proto::Kind;

const char* kind_word(Kind k) { return k == Kind::kMsg ? "msg" : k == Kind::kSem ? "sem" : "shm"; }

struct RmOptions {
  std::string type, key;                     // the older form: dipc rm TYPE KEY
  std::vector<std::string> ids[3], keys[3];  // -q/-s/-m and -Q/-S/-M, by kind - 1
  std::vector<std::string> all;              // -a [msg|sem|shm]...
  bool all_given = false;
};

// Removes one object by key; says why it failed. Returns true when it is gone.
bool remove_key(Kind kind, int32_t key) {
  AdminAnswer rep;
  std::string why;
  if (!admin_call("rm", kind, key, rep, why)) {
    std::cerr << "dipc: " << why << "\n";
    return false;
  }
  if (rep.err == 0) return true;
  std::cerr << "dipc rm: " << kind_word(kind) << " key 0x" << std::hex << uint32_t(key) << std::dec
            << ": " << strerror(rep.err);
  if (rep.err == ENOENT)
    std::cerr << " (no distributed object of that type has this key; dipc ls lists them)";
  else if (rep.err == EPERM || rep.err == EACCES)
    std::cerr << " (only the object's owner or creator, or root at the owner node, may remove "
                 "it; a remote root acts as nobody unless remote_root = true)";
  else if (rep.err == ENOLINK)
    std::cerr << " (this node has no link to the referee: see dipc status)";
  std::cerr << "\n";
  return false;
}

// The key of this node's object with that id, from the kernel here.
bool key_of_id(Kind kind, int id, int32_t& key) {
  int r;
  switch (kind) {
    case Kind::kMsg: {
      msqid_ds ds{};
      r = msgctl(id, IPC_STAT, &ds);
      key = ds.msg_perm.__key;
      break;
    }
    case Kind::kSem: {
      semid_ds ds{};
      r = semctl(id, 0, IPC_STAT, &ds);
      key = ds.sem_perm.__key;
      break;
    }
    default: {
      shmid_ds ds{};
      r = shmctl(id, IPC_STAT, &ds);
      key = ds.shm_perm.__key;
      break;
    }
  }
  if (r == 0 && key == IPC_PRIVATE) {
    errno = EINVAL;
    r = -1;
  }
  if (r < 0) {
    std::cerr << "dipc rm: " << kind_word(kind) << " id " << id << ": " << strerror(errno)
              << (errno == EINVAL ? " (no object of this node has that id, or it is private: "
                                    "ids are this node's, as ipcs shows them)"
                                  : "")
              << "\n";
    return false;
  }
  return true;
}

int run_rm(const RmOptions& o) {
  int rc = kExitOk;
  std::string why;
  bool any = false;
  if (!o.type.empty()) {
    any = true;
    int32_t key;
    if (!parse_key(o.key, key, why)) {
      std::cerr << "dipc rm: " << why << "\n";
      return kExitUsage;
    }
    Kind kind = o.type == "msg" ? Kind::kMsg : o.type == "sem" ? Kind::kSem : Kind::kShm;
    if (!remove_key(kind, key)) rc = kExitFailed;
  }
  for (int k = 0; k < 3; ++k) {
    Kind kind = Kind(k + 1);
    for (auto& s : o.keys[k]) {
      any = true;
      int32_t key;
      if (!parse_key(s, key, why)) {
        std::cerr << "dipc rm: " << why << "\n";
        return kExitUsage;
      }
      if (key == IPC_PRIVATE) {
        std::cerr << "dipc rm: key 0 is IPC_PRIVATE, never distributed\n";
        rc = kExitFailed;
        continue;
      }
      if (!remove_key(kind, key)) rc = kExitFailed;
    }
    for (auto& s : o.ids[k]) {
      any = true;
      char* end = nullptr;
      errno = 0;
      long id = strtol(s.c_str(), &end, 10);
      if (errno || end == s.c_str() || *end || id < 0 || id > INT32_MAX) {
        std::cerr << "dipc rm: '" << s << "' is not an id\n";
        return kExitUsage;
      }
      int32_t key;
      if (!key_of_id(kind, int(id), key) || !remove_key(kind, key)) rc = kExitFailed;
    }
  }
  if (o.all_given) {
    any = true;
    bool want[3] = {o.all.empty(), o.all.empty(), o.all.empty()};
    for (auto& t : o.all) want[t == "msg" ? 0 : t == "sem" ? 1 : 2] = true;
    AdminAnswer ans;
    std::vector<proto::ObjectRow> rows;
    if (int r = fetch_rows(ans, rows); r != kExitOk) return r;
    for (auto& row : rows)
      if (want[int(row.kind) - 1] && !remove_key(row.kind, row.key)) rc = kExitFailed;
  }
  if (!any) {
    std::cerr << "dipc rm: nothing to remove (dipc rm --help)\n";
    return kExitUsage;
  }
  return rc;
}

}  // namespace

void add_rm_command(CLI::App& app) {
  auto o = std::make_shared<RmOptions>();
  auto* rm = app.add_subcommand(
      "rm", "remove distributed objects cluster-wide, as IPC_RMID at the owner (like ipcrm)");
  rm->add_option("type", o->type, "older form: msg, sem or shm, then the key")
      ->check(CLI::IsMember({"msg", "sem", "shm"}));
  rm->add_option("key", o->key, "older form: the key (decimal or 0x hex)");
  rm->add_option("-q,--queue-id", o->ids[0], "the queue with this id on this node")
      ->type_name("ID");
  rm->add_option("-Q,--queue-key", o->keys[0], "the queue with this key")->type_name("KEY");
  rm->add_option("-s,--semaphore-id", o->ids[1], "the semaphore set with this id on this node")
      ->type_name("ID");
  rm->add_option("-S,--semaphore-key", o->keys[1], "the semaphore set with this key")
      ->type_name("KEY");
  rm->add_option("-m,--shmem-id", o->ids[2], "the segment with this id on this node")
      ->type_name("ID");
  rm->add_option("-M,--shmem-key", o->keys[2], "the segment with this key")->type_name("KEY");
  auto* all = rm->add_option("-a,--all", o->all,
                             "every distributed object (of these types: msg, sem, shm) the "
                             "caller may remove")
                  ->expected(0, 3)
                  ->check(CLI::IsMember({"msg", "sem", "shm"}));
  rm->footer(
      "Options may repeat and mix, as ipcrm's. Keys are decimal or 0x hex; ids are this\n"
      "node's (ipcs here). Unlike ipcrm on a node that holds a placeholder, which removes\n"
      "only the local placeholder (the object lives on, and dipcd drops the stale entry),\n"
      "dipc rm removes the object itself at its owner, for every node; blocked callers get\n"
      "EIDRM. Exit status 1 if any removal failed. Examples:\n"
      "  dipc rm -Q 0x28           the queue with key 40\n"
      "  dipc rm -s 3              the set with id 3 on this node\n"
      "  dipc rm -a msg            every distributed queue the caller may remove");
  rm->callback([o, all] {
    o->all_given = all->count() > 0;
    if (!o->type.empty() && o->key.empty()) {
      std::cerr << "dipc rm: " << o->type << " needs a key\n";
      std::exit(kExitUsage);
    }
    std::exit(run_rm(*o));
  });
}

}  // namespace dipc::tools
