"""A no-op Celery task for scripts/bench-celery.sh: it only counts itself in Redis."""
import os

import redis
from celery import Celery

BROKER = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6399/0")
app = Celery("bench", broker=BROKER)
app.conf.update(task_ignore_result=True, worker_prefetch_multiplier=64, broker_pool_limit=16)
counter = redis.Redis.from_url(BROKER)


@app.task
def noop(n):
    counter.incr("bench:done")
