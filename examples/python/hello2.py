#!/usr/bin/python3
"""hello2: the sending half of the original DIPC example, in Python.

Finds the message queue with key 40 (made by hello1 on this node or any other: hello1.c,
hello1.py or hello1.pl) and sends "Hello, Distributed Programming!" as type 10. Key 40
must be distributed by configuration or by `dipc run --keys 40` (see hello1.py).
"""
import sys

import sysv_ipc

KEY = 40
TYPE = 10
TEXT = "Hello, Distributed Programming!"

try:
    mq = sysv_ipc.MessageQueue(KEY)
except sysv_ipc.Error as e:
    sys.exit(f"hello2: msgget: {e} (is hello1 running?)")
mq.send(TEXT.encode(), type=TYPE)
print(f'hello2: sent "{TEXT}"')
