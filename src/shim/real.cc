#include "shim/real.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cstring>

namespace dipc::shim {
namespace {

RealCalls g_real;
pthread_once_t g_once = PTHREAD_ONCE_INIT;

extern "C" {
// Our own wrappers, so that a lookup that found them (no libc below us) is caught.
int msgget(key_t, int);
int msgsnd(int, const void*, size_t, int);
ssize_t msgrcv(int, void*, size_t, long, int);
int msgctl(int, int, struct msqid_ds*);
int semget(key_t, int, int);
int semop(int, struct sembuf*, size_t);
int semtimedop(int, struct sembuf*, size_t, const struct timespec*);
int semctl(int, int, int, ...);
int shmget(key_t, size_t, int);
void* shmat(int, const void*, int);
int shmdt(const void*);
int shmctl(int, int, struct shmid_ds*);
}

[[noreturn]] void die(const char* name) {
  const char a[] = "libdipc: cannot find the real ";
  const char b[] = " in libc; refusing to run without it\n";
  (void)!write(2, a, sizeof a - 1);
  (void)!write(2, name, strlen(name));
  (void)!write(2, b, sizeof b - 1);
  _exit(127);
}

template <typename F>
void resolve(F& slot, const char* name, F self) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == nullptr || p == reinterpret_cast<void*>(self)) die(name);
  slot = reinterpret_cast<F>(p);
}

void resolve_all() {
  resolve(g_real.msgget, "msgget", &msgget);
  resolve(g_real.msgsnd, "msgsnd", &msgsnd);
  resolve(g_real.msgrcv, "msgrcv", &msgrcv);
  resolve(g_real.msgctl, "msgctl", &msgctl);
  resolve(g_real.semget, "semget", &semget);
  resolve(g_real.semop, "semop", &semop);
  resolve(g_real.semtimedop, "semtimedop", &semtimedop);
  resolve(g_real.semctl, "semctl", &semctl);
  resolve(g_real.shmget, "shmget", &shmget);
  resolve(g_real.shmat, "shmat", &shmat);
  resolve(g_real.shmdt, "shmdt", &shmdt);
  resolve(g_real.shmctl, "shmctl", &shmctl);
}

__attribute__((constructor)) void init_real() { pthread_once(&g_once, resolve_all); }

}  // namespace

const RealCalls& real() {
  if (__builtin_expect(g_real.shmctl == nullptr, 0)) pthread_once(&g_once, resolve_all);
  return g_real;
}

}  // namespace dipc::shim
