"""Enqueues N no-op tasks (as fast as one producer can) while the workers run them; prints
tasks completed per second, end to end (first enqueue to last completion)."""
import sys
import time

from tasks import counter, noop

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
counter.set("bench:done", 0)
start = time.monotonic()
for i in range(n):
    noop.delay(i)
enqueued = time.monotonic() - start
while int(counter.get("bench:done") or 0) < n:
    time.sleep(0.01)
took = time.monotonic() - start
print(f"celery+redis: {n} no-op tasks in {took:.2f} s: {n / took:.0f} completed/s "
      f"(enqueue alone {n / enqueued:.0f}/s)")
