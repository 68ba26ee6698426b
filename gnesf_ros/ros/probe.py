"""An rclpy node of its own, in its own context, spun in a background thread: it keeps the mapping node's latest
/diagnostics and makes blocking service calls. `make demo` watches the node it starts with it; the node tests
observe the node under test with it."""
from __future__ import annotations

import threading
import time
from typing import Any


class GraphProbe:
    """Latest `<node>: mapping` diagnostics (`diag`), subscriptions that collect messages, service calls.

    handle_signals=False leaves SIGINT to the caller (the demo must clean up its child processes itself).
    """

    def __init__(self, node_name: str, handle_signals: bool = True) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.rclpy = rclpy
        self.context = rclpy.Context()
        options = {} if handle_signals else {"signal_handler_options": SignalHandlerOptions.NO}
        rclpy.init(context=self.context, **options)
        self.node = rclpy.create_node(node_name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.diag: dict[str, str] = {}
        self.diag_messages = 0  # mapping diagnostics received so far (tells a silent node from frozen counters)
        self.errors: list[str] = []  # exceptions raised in callbacks while spinning (see _spin)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        """Spin until the context ends. An exception in one callback is kept in `errors` and spinning goes on:
        a probe that silently stopped would leave `diag` frozen at its last message."""
        from rclpy.executors import ExternalShutdownException

        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.1)
            except ExternalShutdownException:
                return
            except Exception as exc:  # noqa: BLE001 - recorded, then the probe keeps listening
                if not self.context.ok():
                    return
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith(": mapping"):
                self.diag = {kv.key: kv.value for kv in status.values}
                self.diag_messages += 1

    def diag_int(self, key: str) -> int:
        """An integer counter of the latest diagnostics (0 before it is published)."""
        return int(self.diag.get(key, "0"))

    def subscribe(self, msg_type: Any, topic: str, qos: Any, callback: Any = None) -> list:
        """Collect every message on `topic` into the returned list (or hand each to `callback`)."""
        received: list = []
        self.node.create_subscription(msg_type, topic, callback or received.append, qos)
        return received

    def count_nodes(self, name: str) -> int:
        """How many nodes called `name` the graph holds."""
        return sum(n == name.strip("/") for n in self.node.get_node_names())

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float, appear_timeout_s: float | None = None
             ) -> Any:
        """Call service `name` and wait for the answer; TimeoutError when it does not appear within
        `appear_timeout_s` (default timeout_s) or does not answer within timeout_s."""
        client = self.node.create_client(srv_type, name)
        try:
            appear_s = timeout_s if appear_timeout_s is None else appear_timeout_s
            if not client.wait_for_service(timeout_sec=appear_s):
                raise TimeoutError(f"service {name} not available within {appear_s:g} s")
            future = client.call_async(request)
            deadline = time.monotonic() + timeout_s
            while not future.done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from {name} within {timeout_s:g} s")
                time.sleep(0.02)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
