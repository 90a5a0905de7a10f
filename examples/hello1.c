/* hello1: the receiving half of the original DIPC example.
 *
 * Creates the distributed message queue with key 40, waits for one message of type 10,
 * prints it and removes the queue. Plain System V IPC plus the IPC_DIPC flag: without
 * DIPC it runs as an ordinary local program. Start it first, then hello2 on any node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#ifndef IPC_DIPC
#define IPC_DIPC 00010000
#endif

#define MSG_KEY 40
#define MSG_TYPE 10
#define MSG_SIZE 512

struct message {
  long mtype;
  char mtext[MSG_SIZE];
};

int main(void) {
  int msgid = msgget(MSG_KEY, IPC_DIPC | IPC_EXCL | IPC_CREAT | 0777);
  if (msgid < 0) {
    fprintf(stderr, "hello1: msgget: %s\n", strerror(errno));
    return 1;
  }
  printf("hello1: waiting for a message on key %d\n", MSG_KEY);
  fflush(stdout);
  struct message msg;
  ssize_t n = msgrcv(msgid, &msg, MSG_SIZE, MSG_TYPE, MSG_NOERROR);
  if (n < 0) {
    fprintf(stderr, "hello1: msgrcv: %s\n", strerror(errno));
    msgctl(msgid, IPC_RMID, NULL);
    return 1;
  }
  printf("hello1: received \"%.*s\"\n", (int)n, msg.mtext);
  if (msgctl(msgid, IPC_RMID, NULL) < 0) {
    fprintf(stderr, "hello1: msgctl(IPC_RMID): %s\n", strerror(errno));
    return 1;
  }
  return 0;
}
