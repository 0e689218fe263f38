"""A worker that does nothing: what's left of a task's time is the engine's dispatch cost."""

from conductor.client.worker.worker_task import worker_task


@worker_task(task_definition_name="bench_noop", poll_interval_millis=10, thread_count=4)
def noop(n: int = 0) -> dict:
    return {"n": n}
