#!/usr/bin/python3
"""sem_mutex: mutual exclusion across nodes with a semaphore, in Python.

    sem_mutex.py init      create the semaphore (key 41, value 1) and the counter queue
                           (key 42, holding one message with the count 0)
    sem_mutex.py run N     N times: lock; take the count from the queue; put back
                           count+1; unlock. Run it on several nodes at once: no update
                           is lost.
    sem_mutex.py result    print the count
    sem_mutex.py rm        remove both objects

The same objects and message layout (a native long) as examples/sem_mutex.c and
examples/perl/sem_mutex.pl, so programs in all three languages can share one counter. Keys 41 and 42 must be distributed by
configuration or by `dipc run --keys 41,42` (sysv_ipc can't pass IPC_DIPC). The lock
uses SEM_UNDO, so a process killed while holding it releases it.
"""
import struct
import sys

import sysv_ipc

SEM_KEY = 41
COUNT_KEY = 42
COUNT = struct.Struct("l")  # a C long in native order and size, as in sem_mutex.c


def die(what, e):
    sys.exit(f"sem_mutex: {what}: {e}")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "init":
        try:
            sysv_ipc.Semaphore(SEM_KEY, sysv_ipc.IPC_CREX, mode=0o666, initial_value=1)
            q = sysv_ipc.MessageQueue(COUNT_KEY, sysv_ipc.IPC_CREX, mode=0o666)
            q.send(COUNT.pack(0), type=1)
        except sysv_ipc.Error as e:
            die("init", e)
        return 0
    if cmd not in ("run", "result", "rm") or (cmd == "run" and len(argv) < 3):
        print("usage: sem_mutex.py init | run N | result | rm", file=sys.stderr)
        return 2
    try:
        sem = sysv_ipc.Semaphore(SEM_KEY)
        q = sysv_ipc.MessageQueue(COUNT_KEY)
    except sysv_ipc.Error as e:
        die("semget/msgget (run 'sem_mutex.py init' first)", e)
    sem.undo = True
    if cmd == "rm":
        sem.remove()
        q.remove()
        return 0
    rounds = int(argv[2]) if cmd == "run" else 1
    for _ in range(rounds):
        sem.acquire()
        data, _ = q.receive(type=1)
        (count,) = COUNT.unpack(data)
        if cmd == "run":
            count += 1
        else:
            print(f"count = {count}")
        q.send(COUNT.pack(count), type=1)
        sem.release()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
