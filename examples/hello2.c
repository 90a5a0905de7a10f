/* hello2: the sending half of the original DIPC example.
 *
 * Finds the distributed message queue with key 40 (made by hello1, on this node or any
 * other) and sends "Hello, Distributed Programming!" as a message of type 10. */
#include <errno.h>
#include <stdio.h>
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
  int msgid = msgget(MSG_KEY, IPC_DIPC | 0777);
  if (msgid < 0) {
    fprintf(stderr, "hello2: msgget: %s (is hello1 running?)\n", strerror(errno));
    return 1;
  }
  struct message msg;
  msg.mtype = MSG_TYPE;
  const char* text = "Hello, Distributed Programming!";
  size_t len = strlen(text);
  memcpy(msg.mtext, text, len);
  if (msgsnd(msgid, &msg, len, 0) < 0) {
    fprintf(stderr, "hello2: msgsnd: %s\n", strerror(errno));
    return 1;
  }
  printf("hello2: sent \"%s\"\n", text);
  return 0;
}
