"""A small closed-loop HTTP load generator (standard library only), run as its own process
by the API benchmark so its work does not share the benchmark's interpreter:

    python -m portal.loadgen --port P --path /x --header "Authorization: Bearer …" \
        --concurrency 32 --seconds 8 --warmup 2

N threads each send one request at a time to 127.0.0.1 (and only there), for a bounded time;
prints JSON: requests, rps, p50_ms, p99_ms, statuses. The server (gunicorn's sync workers)
closes every connection, so each request opens its own.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time


def run(
    *,
    port: int,
    path: str,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    warmup: float,
) -> dict[str, object]:
    start = time.monotonic()
    measure_from = start + warmup
    stop = measure_from + seconds
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def worker() -> None:
        mine: list[float] = []
        codes: dict[int, int] = {}
        while True:
            began = time.monotonic()
            if began >= stop:
                break
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
            finally:
                conn.close()
            ended = time.monotonic()
            if began >= measure_from and ended <= stop:
                mine.append(ended - began)
                codes[status] = codes.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + warmup + 60)
    latencies.sort()
    count = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(count - 1, int(count * p))] * 1000, 2) if count else 0.0

    return {
        "requests": count,
        "rps": round(count / seconds, 1),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    args = parser.parse_args()
    headers = {"Host": "localhost"}
    for header in args.header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    print(
        json.dumps(
            run(
                port=args.port,
                path=args.path,
                headers=headers,
                concurrency=args.concurrency,
                seconds=args.seconds,
                warmup=args.warmup,
            )
        )
    )


if __name__ == "__main__":
    main()
