// The real System V IPC functions, resolved once with dlsym(RTLD_NEXT).
//
// The shim interposes every msg*, sem* and shm* call; anything it does not handle itself
// goes to these. They are resolved in a constructor (and on first use, for calls made by
// other constructors that run earlier), guarded by pthread_once. Thread safety: the table
// is written once, then only read.
#pragma once

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/types.h>
#include <time.h>

namespace dipc::shim {

struct RealCalls {
  int (*msgget)(key_t, int);
  int (*msgsnd)(int, const void*, size_t, int);
  ssize_t (*msgrcv)(int, void*, size_t, long, int);
  int (*msgctl)(int, int, struct msqid_ds*);
  int (*semget)(key_t, int, int);
  int (*semop)(int, struct sembuf*, size_t);
  int (*semtimedop)(int, struct sembuf*, size_t, const struct timespec*);
  int (*semctl)(int, int, int, ...);
  int (*shmget)(key_t, size_t, int);
  void* (*shmat)(int, const void*, int);
  int (*shmdt)(const void*);
  int (*shmctl)(int, int, struct shmid_ds*);
};

// Never returns a table with a null entry: a symbol that cannot be found aborts with a
// message, since running on without it would silently break the program.
const RealCalls& real();

}  // namespace dipc::shim
