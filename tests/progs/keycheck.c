/* keycheck: does a *get ask dipcd, or go straight to the kernel? For tests/shim/keys.sh.
 *
 *   keycheck KIND:KEY...   KIND msg (msgget(KEY, IPC_CREAT|0600)), sem (semget(KEY, 1,
 *                          IPC_CREAT|0600)) or msgdipc (msgget with IPC_DIPC as well);
 *                          KEY decimal or 0x hex. Prints one line per call:
 *                          "KIND:KEY quiet" when the call made no system call but its own,
 *                          "KIND:KEY asked" when the shim made others (it tried to reach
 *                          dipcd: the key was distributed), then "keycheck OK".
 *
 * How: after its set-up, the program installs a seccomp filter that lets through only the
 * System V calls, write, exit and rt_sigreturn; every other system call raises SIGSYS
 * (SECCOMP_RET_TRAP) and fails with ENOSYS, and the handler counts it. Without a dipcd
 * (the test runs none) a distributed *get then falls back to the local call, so every call
 * succeeds either way and only the count tells the two paths apart. x86_64 only (the
 * handler sets the return register). Exit status 0, 2 on bad usage, 4 on set-up failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <dipc/dipc.h>

static volatile sig_atomic_t g_trapped;

static void on_sigsys(int sig, siginfo_t* si, void* uc_) {
  (void)sig;
  (void)si;
  g_trapped++;
#ifdef __x86_64__
  ucontext_t* uc = uc_;
  uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#else
  (void)uc_;
#endif
}

static void say(const char* s) {
  size_t n = strlen(s);
  if (write(STDOUT_FILENO, s, n) != (ssize_t)n) _exit(4);
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                  BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void install_filter(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      ALLOW(SYS_msgget), ALLOW(SYS_semget), ALLOW(SYS_shmget),
      ALLOW(SYS_msgctl), ALLOW(SYS_semctl), ALLOW(SYS_shmctl),
      ALLOW(SYS_write), ALLOW(SYS_exit_group), ALLOW(SYS_exit), ALLOW(SYS_rt_sigreturn),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
    fprintf(stderr, "keycheck: seccomp: %s\n", strerror(errno));
    exit(4);
  }
}

int main(int argc, char** argv) {
#ifndef __x86_64__
  fprintf(stderr, "keycheck: x86_64 only\n");
  return 4;
#endif
  if (argc < 2) {
    fprintf(stderr, "usage: keycheck KIND:KEY... (KIND msg, sem or msgdipc)\n");
    return 2;
  }
  enum { kMax = 64 };
  int kinds[kMax];
  key_t keys[kMax];
  if (argc - 1 > kMax) return 2;
  for (int i = 1; i < argc; ++i) {
    const char* colon = strchr(argv[i], ':');
    char* end = NULL;
    if (colon == NULL) return 2;
    size_t len = (size_t)(colon - argv[i]);
    kinds[i - 1] = len == 3 && strncmp(argv[i], "msg", 3) == 0   ? 1
                   : len == 3 && strncmp(argv[i], "sem", 3) == 0 ? 2
                   : len == 7 && strncmp(argv[i], "msgdipc", 7) == 0 ? 3
                                                                     : 0;
    unsigned long k = strtoul(colon + 1, &end, 0);
    if (kinds[i - 1] == 0 || end == colon + 1 || *end || k > 0xffffffffUL) {
      fprintf(stderr, "keycheck: bad argument %s\n", argv[i]);
      return 2;
    }
    keys[i - 1] = (key_t)(unsigned)k;
  }
  install_filter();
  for (int i = 1; i < argc; ++i) {
    sig_atomic_t before = g_trapped;
    int r;
    if (kinds[i - 1] == 2)
      r = semget(keys[i - 1], 1, IPC_CREAT | 0600);
    else
      r = msgget(keys[i - 1], IPC_CREAT | 0600 | (kinds[i - 1] == 3 ? IPC_DIPC : 0));
    char line[160];
    if (r < 0)
      snprintf(line, sizeof line, "%s failed: %s\n", argv[i], strerror(errno));
    else
      snprintf(line, sizeof line, "%s %s\n", argv[i], g_trapped == before ? "quiet" : "asked");
    say(line);
  }
  say("keycheck OK\n");
  return 0;
}
