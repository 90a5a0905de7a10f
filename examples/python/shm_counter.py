#!/usr/bin/python3
"""shm_counter: a counter in shared memory, guarded by a semaphore, across nodes, in Python.

    shm_counter.py init      create the semaphore (key 44, value 1) and the segment (key 45,
                             one page, the counter a native long at offset 0, set to 0)
    shm_counter.py run N     N times: lock; read the counter from the segment; write back
                             counter+1; unlock. Run it on several nodes at once: no update
                             is lost, because the segment is distributed shared memory with
                             strict consistency (every read sees the latest write).
    shm_counter.py result    print the counter
    shm_counter.py rm        remove both objects

Keys 44 and 45 must be distributed by configuration or by `dipc run --keys 44,45`
(sysv_ipc can't pass IPC_DIPC). The lock uses SEM_UNDO, so a process killed while holding it
releases it. Without DIPC it runs as it is on one machine.
"""
import struct
import sys

import sysv_ipc

SEM_KEY = 44
SHM_KEY = 45
COUNT = struct.Struct("l")  # a C long in native order and size


def die(what, e):
    sys.exit(f"shm_counter: {what}: {e}")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "init":
        try:
            sysv_ipc.Semaphore(SEM_KEY, sysv_ipc.IPC_CREX, mode=0o666, initial_value=1)
            shm = sysv_ipc.SharedMemory(SHM_KEY, sysv_ipc.IPC_CREX, mode=0o666, size=4096)
            shm.write(COUNT.pack(0), 0)
            shm.detach()
        except sysv_ipc.Error as e:
            die("init", e)
        return 0
    if cmd not in ("run", "result", "rm") or (cmd == "run" and len(argv) < 3):
        print("usage: shm_counter.py init | run N | result | rm", file=sys.stderr)
        return 2
    try:
        sem = sysv_ipc.Semaphore(SEM_KEY)
        shm = sysv_ipc.SharedMemory(SHM_KEY)
    except sysv_ipc.Error as e:
        die("semget/shmget (run 'shm_counter.py init' first)", e)
    sem.undo = True
    if cmd == "rm":
        shm.detach()
        shm.remove()
        sem.remove()
        return 0
    if cmd == "result":
        (count,) = COUNT.unpack(shm.read(COUNT.size, 0))
        print(f"count = {count}")
        return 0
    for _ in range(int(argv[2])):
        sem.acquire()
        (count,) = COUNT.unpack(shm.read(COUNT.size, 0))
        shm.write(COUNT.pack(count + 1), 0)
        sem.release()
    shm.detach()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
