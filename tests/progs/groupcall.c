/* groupcall: a process that changes only its supplementary groups between calls on one
 * queue, for tests/cluster/groups_per_call.sh. Run as root:
 *
 *   groupcall KEY GID
 *
 * makes queue KEY (IPC_DIPC; mode 0060, group GID: only members of GID may use it), then,
 * as euid/egid nobody/nogroup throughout, asks for read and write access to it three
 * times, msgget(KEY, IPC_DIPC|0666): without GID in its groups, with it, and without it
 * again (setgroups between the calls, as root for a moment: the effective ids at each call
 * are the same). Prints the three results on one line ("EACCES OK EACCES" on Linux) and
 * removes the queue. Exit status 0 when it printed the line, 4 when the set-up failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <dipc/dipc.h>

#include "errname.h"

static const char* get_rw(key_t key) {
  return msgget(key, IPC_DIPC | 0666) >= 0 ? "OK" : errname(errno);
}

static int as_nobody_with(int n, const gid_t* groups) {
  if (seteuid(0) != 0 || setgroups((size_t)n, groups) != 0 || setegid(65534) != 0 ||
      seteuid(65534) != 0) {
    perror("groupcall: changing ids");
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: groupcall KEY GID\n");
    return 2;
  }
  key_t key = (key_t)strtol(argv[1], NULL, 0);
  gid_t gid = (gid_t)strtoul(argv[2], NULL, 0);
  int id = msgget(key, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0060);
  if (id < 0) {
    printf("msgget %s\n", errname(errno));
    return 4;
  }
  struct msqid_ds ds;
  if (msgctl(id, IPC_STAT, &ds) != 0) {
    printf("IPC_STAT %s\n", errname(errno));
    return 4;
  }
  ds.msg_perm.gid = gid;
  ds.msg_perm.mode = 0060;
  if (msgctl(id, IPC_SET, &ds) != 0) {
    printf("IPC_SET %s\n", errname(errno));
    return 4;
  }
  const char* r[3];
  if (as_nobody_with(0, NULL) != 0) return 4;
  r[0] = get_rw(key);
  if (as_nobody_with(1, &gid) != 0) return 4;
  r[1] = get_rw(key);
  if (as_nobody_with(0, NULL) != 0) return 4;
  r[2] = get_rw(key);
  printf("%s %s %s\n", r[0], r[1], r[2]);
  if (seteuid(0) != 0 || setegid(0) != 0 || msgctl(id, IPC_RMID, NULL) != 0) return 4;
  return 0;
}
