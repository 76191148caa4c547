"""The hard and soft time limits of stylerec's Celery tasks, and the broker visibility timeout
they need. Plain numbers, importing nothing: project settings import this module.

With ``acks_late`` (every stylerec task), a Redis or SQS broker hands a message it has delivered
to another worker when it is still unacknowledged ``visibility_timeout`` seconds later. The clock
starts when a worker *reserves* the message, not when the task starts, so the timeout must cover
the task's run (at most its hard ``time_limit``) plus the time the message waits, reserved, in the
worker: behind a running task, or for an autoretry countdown (at most ``RETRY_BACKOFF_MAX``).
Shorter, a long task is run twice at once; much longer, a message of a worker killed whole
(OOM, SIGKILL, a lost machine) comes back only that much later (the sweep sends the artifact work
it held meanwhile, every 5 minutes).

    VISIBILITY_TIMEOUT = 2 × LONGEST_TIME_LIMIT    (960 s × 2 = 1920 s)

The margin (one more longest run) covers ``RETRY_BACKOFF_MAX`` too. The system check
``stylerec.W002`` warns when the configured timeout is shorter than the longest hard limit.
"""

from __future__ import annotations

# A batch of 32 style transfers on a CPU takes well under a minute; ten is a stuck worker.
GPU_LIMITS = {"soft_time_limit": 540, "time_limit": 600}
CPU_LIMITS = {"soft_time_limit": 60, "time_limit": 90}
# Deleting a year of events from a large store's table takes a while; it goes in batches that
# commit, so a run cut short by the limit is finished by the next.
PRUNE_LIMITS = {"soft_time_limit": 900, "time_limit": 960}
TASK_LIMITS = (GPU_LIMITS, CPU_LIMITS, PRUNE_LIMITS)

RETRY_BACKOFF_MAX = 600  # seconds: the longest autoretry countdown (``retry_backoff_max``)

LONGEST_TIME_LIMIT = max(limits["time_limit"] for limits in TASK_LIMITS)


def visibility_timeout_for(longest_time_limit: int) -> int:
    """The broker visibility timeout for tasks whose longest hard limit is ``longest_time_limit``:
    the run plus as long again waiting reserved in a worker."""
    return 2 * int(longest_time_limit)


VISIBILITY_TIMEOUT = visibility_timeout_for(LONGEST_TIME_LIMIT)
