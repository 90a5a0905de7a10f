/* msgsem: System V message-queue semantics, step by step, to compare DIPC with Linux.
 *
 *   msgsem create KEY   msgget(KEY, IPC_DIPC|IPC_CREAT|0666); prints nothing.
 *   msgsem run KEY      finds the queue with msgget(KEY, IPC_DIPC) and runs a fixed script
 *                       of msgsnd/msgrcv/msgctl/msgget cases against it, printing one line
 *                       per step: the call, its return value, the errno name (0 on success)
 *                       and what was received. It removes the queue at the end.
 *
 * Checks: msgrcv type selection (0, >0, <0, MSG_EXCEPT), MSG_NOERROR truncation, E2BIG
 * leaving the message queued, ENOMSG with IPC_NOWAIT, EINVAL for mtype <= 0, for negative
 * and oversized sizes and for bad ids, EAGAIN on a full queue (msg_qbytes shrunk with
 * IPC_SET), IPC_STAT counters, IPC_SET of mode and of msg_qbytes beyond the limit, EEXIST and
 * ENOENT from msgget, 4 KiB and 8 KiB round trips with every byte value, 0-byte messages,
 * FIFO order of 100 messages, and what happens on the id after IPC_RMID.
 *
 * The output holds nothing that may legitimately differ between runs (no ids, pids or
 * times), so "create on one node, run on another" must print exactly what "create and run"
 * prints on plain Linux. KEY+1 must be a key nobody uses. Exit status: 0 when the script
 * ran (whatever the results), 1 when the queue can't be found, 2 on bad usage. */
#define _GNU_SOURCE
#include <dipc/dipc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/types.h>
#include <unistd.h>

#define MAXTEXT 8192 /* MSGMAX, the default in every new IPC namespace */
#define BADID 0x7ffffffe

struct msgbuf_big {
  long mtype;
  char mtext[MAXTEXT + 16];
};

#include "errname.h"

static int step_no;

/* One output line: "NN what -> RET ERRNO[ extra]". */
static void report(const char* what, long ret, int err, const char* extra) {
  printf("%02d %s -> %ld %s%s%s\n", ++step_no, what, ret, ret < 0 ? errname(err) : "0",
         extra && *extra ? " " : "", extra ? extra : "");
  fflush(stdout);
}

/* Text received, printable characters as they are, anything else as \xHH. */
static void show_text(char* out, size_t outsz, const char* p, long n) {
  size_t o = 0;
  o += (size_t)snprintf(out + o, outsz - o, "text=\"");
  for (long i = 0; i < n && o + 8 < outsz; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out[o++] = (char)c;
    else
      o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", c);
  }
  snprintf(out + o, outsz - o, "\"");
}

static long snd(int id, long type, const void* text, size_t len, int flags, const char* what) {
  static struct msgbuf_big m;
  m.mtype = type;
  if (len <= sizeof m.mtext) memcpy(m.mtext, text, len);
  long r = msgsnd(id, &m, len, flags);
  int e = errno;
  report(what, r, e, NULL);
  return r;
}

static long snd_text(int id, long type, const char* text, int flags) {
  char what[128];
  snprintf(what, sizeof what, "msgsnd(type=%ld, \"%s\", %zu%s)", type, text, strlen(text),
           flags & IPC_NOWAIT ? ", IPC_NOWAIT" : "");
  return snd(id, type, text, strlen(text), flags, what);
}

static const char* flagnames(int flags) {
  static char s[64];
  s[0] = 0;
  if (flags & IPC_NOWAIT) strcat(s, "|IPC_NOWAIT");
  if (flags & MSG_NOERROR) strcat(s, "|MSG_NOERROR");
  if (flags & MSG_EXCEPT) strcat(s, "|MSG_EXCEPT");
  return s[0] ? s + 1 : "0";
}

static struct msgbuf_big rbuf;

static long rcv(int id, size_t sz, long type, int flags) {
  memset(&rbuf, 0x5a, sizeof rbuf);
  long r = msgrcv(id, &rbuf, sz, type, flags);
  int e = errno;
  char what[128], extra[600];
  snprintf(what, sizeof what, "msgrcv(size=%zu, type=%ld, %s)", sz, type, flagnames(flags));
  extra[0] = 0;
  if (r >= 0) {
    int n = snprintf(extra, sizeof extra, "mtype=%ld ", rbuf.mtype);
    show_text(extra + n, sizeof extra - (size_t)n, rbuf.mtext, r > 200 ? 200 : r);
  }
  report(what, r, e, extra);
  return r;
}

static struct msqid_ds stat_buf;

static long stat_q(int id) {
  memset(&stat_buf, 0, sizeof stat_buf);
  long r = msgctl(id, IPC_STAT, &stat_buf);
  int e = errno;
  char extra[256] = "";
  if (r >= 0)
    snprintf(extra, sizeof extra,
             "key=%d qnum=%lu cbytes=%lu qbytes=%lu mode=%04o uid=%u gid=%u cuid=%u cgid=%u",
             (int)stat_buf.msg_perm.__key, (unsigned long)stat_buf.msg_qnum,
             (unsigned long)stat_buf.__msg_cbytes, (unsigned long)stat_buf.msg_qbytes,
             (unsigned)stat_buf.msg_perm.mode, (unsigned)stat_buf.msg_perm.uid,
             (unsigned)stat_buf.msg_perm.gid, (unsigned)stat_buf.msg_perm.cuid,
             (unsigned)stat_buf.msg_perm.cgid);
  report("msgctl(IPC_STAT)", r, e, extra);
  return r;
}

static long set_q(int id, unsigned long qbytes, unsigned mode, const char* what) {
  struct msqid_ds ds;
  memset(&ds, 0, sizeof ds);
  if (msgctl(id, IPC_STAT, &ds) < 0) {
    report(what, -1, errno, "(IPC_STAT before IPC_SET failed)");
    return -1;
  }
  ds.msg_qbytes = qbytes;
  ds.msg_perm.mode = mode;
  long r = msgctl(id, IPC_SET, &ds);
  int e = errno;
  report(what, r, e, NULL);
  return r;
}

static void fill(char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (char)((i * 7 + seed) & 0xff);
}

/* Sends n bytes of pattern and receives them back, checking every byte. */
static void round_trip(int id, long type, size_t n) {
  static char data[MAXTEXT];
  char what[96];
  fill(data, n, (unsigned)n);
  snprintf(what, sizeof what, "msgsnd(type=%ld, %zu pattern bytes)", type, n);
  snd(id, type, data, n, 0, what);
  memset(&rbuf, 0, sizeof rbuf);
  long r = msgrcv(id, &rbuf, MAXTEXT, type, IPC_NOWAIT);
  int e = errno;
  char extra[96] = "";
  if (r >= 0)
    snprintf(extra, sizeof extra, "mtype=%ld content=%s", rbuf.mtype,
             (size_t)r == n && memcmp(rbuf.mtext, data, n) == 0 ? "match" : "MISMATCH");
  snprintf(what, sizeof what, "msgrcv(size=%d, type=%ld, IPC_NOWAIT)", MAXTEXT, type);
  report(what, r, e, extra);
}

static int cmd_create(key_t key) {
  if (msgget(key, IPC_DIPC | IPC_CREAT | 0666) < 0) {
    fprintf(stderr, "msgsem: msgget(%d, IPC_DIPC|IPC_CREAT|0666): %s\n", (int)key, errname(errno));
    return 1;
  }
  return 0;
}

static int cmd_run(key_t key) {
  int id = msgget(key, IPC_DIPC);
  int e = errno;
  report("msgget(KEY, IPC_DIPC)", id < 0 ? -1 : 0, e, id < 0 ? "" : "id found");
  if (id < 0) return 1;
  int id0 = msgget(key, 0);
  e = errno;
  report("msgget(KEY, 0) without IPC_DIPC", id0 < 0 ? -1 : 0, e,
         id0 < 0 ? "" : (id0 == id ? "same id" : "OTHER id"));

  /* Initial state. */
  stat_q(id);

  /* Type selection. Queue: 1 a1, 2 b1, 3 c1, 5 e1, 2 b2, 1 a2. */
  snd_text(id, 1, "a1", 0);
  snd_text(id, 2, "b1", 0);
  snd_text(id, 3, "c1", 0);
  snd_text(id, 5, "e1", 0);
  snd_text(id, 2, "b2", 0);
  snd_text(id, 1, "a2", 0);
  stat_q(id);
  rcv(id, 64, 0, IPC_NOWAIT);              /* FIFO: a1 */
  rcv(id, 64, 3, IPC_NOWAIT);              /* first of type 3: c1 */
  rcv(id, 64, -2, IPC_NOWAIT);             /* lowest type <= 2: a2 (type 1) */
  rcv(id, 64, 2, IPC_NOWAIT | MSG_EXCEPT); /* first not of type 2: e1 */
  rcv(id, 64, 4, IPC_NOWAIT);              /* no type 4: ENOMSG */
  rcv(id, 64, -1, IPC_NOWAIT);             /* no type <= 1 left: ENOMSG */
  rcv(id, 64, 1, IPC_NOWAIT | MSG_EXCEPT); /* first not of type 1: b1 */
  rcv(id, 64, 0, 0);                       /* b2 (blocking call, message present) */
  rcv(id, 64, 0, IPC_NOWAIT);              /* empty: ENOMSG */
  rcv(id, 64, 0, IPC_NOWAIT | MSG_EXCEPT); /* empty: ENOMSG */
  rcv(id, 64, -5, IPC_NOWAIT);             /* empty: ENOMSG */
  stat_q(id);

  /* MSG_NOERROR truncates. */
  snd_text(id, 7, "truncate-me-please", 0);
  rcv(id, 8, 7, MSG_NOERROR);
  rcv(id, 64, 7, IPC_NOWAIT); /* the rest is gone: ENOMSG */
  stat_q(id);

  /* E2BIG: too long without MSG_NOERROR; the message stays queued. */
  snd_text(id, 8, "too-long-message", 0);
  rcv(id, 4, 8, IPC_NOWAIT);
  rcv(id, 4, 0, 0); /* blocking call: E2BIG at once, does not block */
  stat_q(id);
  rcv(id, 64, 8, IPC_NOWAIT); /* still there, whole */
  stat_q(id);

  /* Invalid arguments. */
  snd_text(id, 0, "type-zero", IPC_NOWAIT);
  snd_text(id, -3, "type-negative", IPC_NOWAIT);
  snd(id, 1, "x", (size_t)-1, IPC_NOWAIT, "msgsnd(type=1, size=-1, IPC_NOWAIT)");
  snd(id, 1, "x", (size_t)-4096, IPC_NOWAIT, "msgsnd(type=1, size=-4096, IPC_NOWAIT)");
  {
    static char big[MAXTEXT + 1];
    snd(id, 1, big, MAXTEXT + 1, IPC_NOWAIT, "msgsnd(type=1, size=MSGMAX+1, IPC_NOWAIT)");
  }
  rcv(id, (size_t)-1, 0, IPC_NOWAIT);
  stat_q(id); /* nothing was queued by the failures */
  {
    long r = msgsnd(-1, &rbuf, 1, IPC_NOWAIT);
    report("msgsnd(id=-1)", r, errno, NULL);
    r = msgrcv(-1, &rbuf, 64, 0, IPC_NOWAIT);
    report("msgrcv(id=-1)", r, errno, NULL);
    rbuf.mtype = 1;
    r = msgsnd(BADID, &rbuf, 1, IPC_NOWAIT);
    report("msgsnd(id=bad)", r, errno, NULL);
    r = msgrcv(BADID, &rbuf, 64, 0, IPC_NOWAIT);
    report("msgrcv(id=bad)", r, errno, NULL);
    r = msgrcv(BADID, &rbuf, 64, 0, 0);
    report("msgrcv(id=bad, blocking)", r, errno, NULL);
    struct msqid_ds ds;
    r = msgctl(BADID, IPC_STAT, &ds);
    report("msgctl(id=bad, IPC_STAT)", r, errno, NULL);
    r = msgctl(-1, IPC_STAT, &ds);
    report("msgctl(id=-1, IPC_STAT)", r, errno, NULL);
    r = msgctl(id, 12345, &ds);
    report("msgctl(cmd=12345)", r, errno, NULL);
  }

  /* Full queue: shrink msg_qbytes, fill it, EAGAIN with IPC_NOWAIT, restore. */
  stat_q(id);
  unsigned long qbytes = stat_buf.msg_qbytes;
  unsigned mode = stat_buf.msg_perm.mode & 0777;
  set_q(id, 64, mode, "msgctl(IPC_SET qbytes=64)");
  stat_q(id);
  {
    char forty[41], twentyfour[25];
    memset(forty, 'f', 40);
    forty[40] = 0;
    memset(twentyfour, 't', 24);
    twentyfour[24] = 0;
    snd_text(id, 1, forty, IPC_NOWAIT);
    snd_text(id, 2, forty, IPC_NOWAIT); /* 80 > 64: EAGAIN */
    stat_q(id);
    snd_text(id, 3, twentyfour, IPC_NOWAIT); /* 64 <= 64: fits exactly */
    snd_text(id, 4, "1", IPC_NOWAIT);        /* 65 > 64: EAGAIN */
    snd(id, 5, "", 0, IPC_NOWAIT, "msgsnd(type=5, 0 bytes, IPC_NOWAIT) on a full queue");
    stat_q(id);
    rcv(id, 64, 0, IPC_NOWAIT);
    rcv(id, 64, 0, IPC_NOWAIT);
    rcv(id, 64, 0, IPC_NOWAIT);
    rcv(id, 64, 0, IPC_NOWAIT);
  }
  set_q(id, qbytes, mode, "msgctl(IPC_SET qbytes=original)");
  stat_q(id);
  /* Beyond MSGMNB needs CAP_SYS_RESOURCE: EPERM for an ordinary user, 0 for root. */
  set_q(id, qbytes * 2, mode, "msgctl(IPC_SET qbytes=2*original)");
  set_q(id, qbytes, mode, "msgctl(IPC_SET qbytes=original)");
  set_q(id, qbytes, 0640, "msgctl(IPC_SET mode=0640)");
  stat_q(id);
  set_q(id, qbytes, mode, "msgctl(IPC_SET mode=original)");
  stat_q(id);

  /* msgget on the same key and on an absent one. */
  {
    int r = msgget(key, IPC_DIPC | IPC_CREAT | IPC_EXCL | 0666);
    report("msgget(KEY, IPC_DIPC|IPC_CREAT|IPC_EXCL|0666)", r < 0 ? -1 : 0, errno, NULL);
    r = msgget(key, IPC_DIPC | IPC_CREAT | 0666);
    e = errno;
    report("msgget(KEY, IPC_DIPC|IPC_CREAT|0666)", r < 0 ? -1 : 0, e,
           r < 0 ? "" : (r == id ? "same id" : "OTHER id"));
    r = msgget(key, IPC_DIPC | 0666);
    e = errno;
    report("msgget(KEY, IPC_DIPC|0666)", r < 0 ? -1 : 0, e,
           r < 0 ? "" : (r == id ? "same id" : "OTHER id"));
    r = msgget(key + 1, IPC_DIPC | 0666);
    report("msgget(KEY+1, IPC_DIPC|0666)", r < 0 ? -1 : 0, errno, NULL);
    r = msgget(key + 1, 0666);
    report("msgget(KEY+1, 0666)", r < 0 ? -1 : 0, errno, NULL);
  }

  /* Sizes: 4 KiB, MSGMAX, 1 byte, 0 bytes. */
  round_trip(id, 11, 4096);
  round_trip(id, 12, MAXTEXT);
  round_trip(id, 13, 1);
  snd(id, 9, "", 0, 0, "msgsnd(type=9, 0 bytes)");
  stat_q(id);
  rcv(id, 64, 9, IPC_NOWAIT);
  rcv(id, 0, 0, IPC_NOWAIT); /* empty again: ENOMSG */

  /* Order of 100 messages. */
  {
    int sent = 0, in_order = 0, first_bad = -1;
    char text[16];
    for (int i = 0; i < 100; i++) {
      rbuf.mtype = (i % 3) + 1;
      snprintf(text, sizeof text, "m%03d", i);
      memcpy(rbuf.mtext, text, 4);
      if (msgsnd(id, &rbuf, 4, IPC_NOWAIT) == 0) sent++;
    }
    char extra[64];
    snprintf(extra, sizeof extra, "sent=%d", sent);
    report("100 x msgsnd(type=1..3, \"mNNN\")", 0, 0, extra);
    stat_q(id);
    for (int i = 0; i < 100; i++) {
      long r = msgrcv(id, &rbuf, 64, 0, IPC_NOWAIT);
      snprintf(text, sizeof text, "m%03d", i);
      if (r == 4 && rbuf.mtype == (i % 3) + 1 && memcmp(rbuf.mtext, text, 4) == 0)
        in_order++;
      else if (first_bad < 0)
        first_bad = i;
    }
    snprintf(extra, sizeof extra, "in_order=%d first_bad=%d", in_order, first_bad);
    report("100 x msgrcv(type=0)", 0, 0, extra);
    stat_q(id);
  }

  /* Edges the differential fuzzer found (tests/difffuzz): bad pointers are EFAULT in the
   * kernel's order, a message over 1 MiB is EINVAL (above MSGMAX), a NULL buffer on an
   * empty queue is ENOMSG, and a message taken for a buffer that cannot be written is gone. */
  {
    static char huge[(1 << 20) + sizeof(long) + 8];
    long one = 1;
    memcpy(huge, &one, sizeof one);
    long r = msgsnd(id, huge, 1 << 20, IPC_NOWAIT);
    report("msgsnd(1 MiB)", r, errno, NULL);
    r = msgrcv(id, NULL, 16, 0, IPC_NOWAIT);
    report("msgrcv(NULL, 16, IPC_NOWAIT) on an empty queue", r, errno, NULL);
    r = msgsnd(id, NULL, 1, IPC_NOWAIT);
    report("msgsnd(NULL)", r, errno, NULL);
    char* page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page != MAP_FAILED && mprotect(page + 4096, 4096, PROT_NONE) == 0) {
      char* edge = page + 4096 - sizeof(long) - 4; /* type and 4 bytes of text readable */
      memcpy(edge, &one, sizeof one);
      r = msgsnd(id, edge, 100, IPC_NOWAIT);
      report("msgsnd(text runs into an unreadable page)", r, errno, NULL);
      r = msgsnd(id, edge, 4, IPC_NOWAIT);
      report("msgsnd(the readable 4 bytes of it)", r, errno, NULL);
      r = msgrcv(id, page + 4096, 16, 0, IPC_NOWAIT);
      report("msgrcv(into an unreadable page)", r, errno, NULL);
      stat_q(id); /* the message was taken all the same */
      munmap(page, 8192);
    }
    r = msgrcv(id, &rbuf, 64, 0, MSG_COPY);
    report("msgrcv(MSG_COPY without IPC_NOWAIT)", r, errno, NULL);
    r = msgctl(id, IPC_STAT, NULL);
    report("msgctl(IPC_STAT, NULL)", r, errno, NULL);
    r = msgctl(id, IPC_SET, NULL);
    report("msgctl(IPC_SET, NULL)", r, errno, NULL);
  }

  /* Removal, then the old id. */
  {
    struct msqid_ds ds;
    long r = msgctl(id, IPC_RMID, NULL);
    report("msgctl(IPC_RMID)", r, errno, NULL);
    rbuf.mtype = 1;
    r = msgsnd(id, &rbuf, 1, IPC_NOWAIT);
    report("msgsnd(removed id)", r, errno, NULL);
    r = msgsnd(id, &rbuf, 1, 0);
    report("msgsnd(removed id, blocking)", r, errno, NULL);
    r = msgrcv(id, &rbuf, 64, 0, IPC_NOWAIT);
    report("msgrcv(removed id)", r, errno, NULL);
    r = msgrcv(id, &rbuf, 64, 0, 0);
    report("msgrcv(removed id, blocking)", r, errno, NULL);
    r = msgctl(id, IPC_STAT, &ds);
    report("msgctl(removed id, IPC_STAT)", r, errno, NULL);
    r = msgctl(id, IPC_RMID, NULL);
    report("msgctl(removed id, IPC_RMID)", r, errno, NULL);
    int g = msgget(key, IPC_DIPC | 0666);
    report("msgget(KEY, IPC_DIPC|0666) after IPC_RMID", g < 0 ? -1 : 0, errno, NULL);
    g = msgget(key, 0666);
    report("msgget(KEY, 0666) after IPC_RMID", g < 0 ? -1 : 0, errno, NULL);
  }
  return 0;
}

static void on_alarm(int sig) {
  (void)sig;
  /* Async-signal-safe: no stdio here. */
  char msg[] = "TIMEOUT after step 000\n";
  int n = step_no % 1000;
  msg[19] = (char)('0' + n / 100);
  msg[20] = (char)('0' + n / 10 % 10);
  msg[21] = (char)('0' + n % 10);
  if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(3);
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "run") != 0)) {
    fprintf(stderr, "usage: msgsem create|run KEY\n");
    return 2;
  }
  char* end;
  long k = strtol(argv[2], &end, 0);
  if (*end || k <= 0) {
    fprintf(stderr, "msgsem: bad key %s\n", argv[2]);
    return 2;
  }
  /* Safety: nothing here should block; if a call does, say where and stop. */
  signal(SIGALRM, on_alarm);
  alarm(40);
  if (strcmp(argv[1], "create") == 0) return cmd_create((key_t)k);
  return cmd_run((key_t)k);
}
