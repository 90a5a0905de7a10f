#!/usr/bin/python3
"""hello1: the receiving half of the original DIPC example, in Python.

Creates the message queue with key 40, waits for one message of type 10, prints it and
removes the queue: the same as examples/hello1.c, with Debian's python3-sysv-ipc and no
DIPC in the program. sysv_ipc masks the flags it passes to msgget, so IPC_DIPC can't be
given here: the key is made distributed from outside, by the node's configuration
([distribute] keys = [40] in dipc.conf) or per command:

    dipc run --keys 40 -- python3 hello1.py      # then hello2.py on any node
"""
import sys

import sysv_ipc

KEY = 40
TYPE = 10

try:
    mq = sysv_ipc.MessageQueue(KEY, sysv_ipc.IPC_CREX, mode=0o777)
except sysv_ipc.Error as e:
    sys.exit(f"hello1: msgget: {e}")
print(f"hello1: waiting for a message on key {KEY}", flush=True)
try:
    text, _ = mq.receive(type=TYPE)
except sysv_ipc.Error as e:
    mq.remove()
    sys.exit(f"hello1: msgrcv: {e}")
print(f'hello1: received "{text.decode()}"', flush=True)
mq.remove()
