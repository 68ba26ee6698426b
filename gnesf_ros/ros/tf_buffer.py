"""A small TF buffer for when tf2_ros is not installed (pure numpy; no graph needed to test it).

It keeps, per child frame, the parent and a time-ordered cache of `T_parent_child` (translation and
quaternion) over a sliding window (`cache_time_s`); static transforms are timeless. `lookup(target,
source, stamp_ns)` walks both frames up to their common ancestor and composes the chain, each edge
interpolated at `stamp_ns` (lerp for translation, slerp for rotation). `stamp_ns == 0` means "the
latest time at which the whole chain is known", as in tf2.

`Tf2Adapter` gives a `tf2_ros.Buffer` the same `lookup` / `can_transform` shape and error types, so
the node does not care which one it has.
"""
from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from gnesf_ros.errors import InputError
from gnesf_ros.ros.conversions import QUATERNION_UNIT_TOLERANCE, stamp_to_ns

MAX_CHAIN = 100
"""Longest chain of frames walked before the tree is declared cyclic."""


class TransformLookupError(InputError):
    """A transform cannot be looked up (base of the specific errors below)."""


class UnknownFrameError(TransformLookupError):
    """A frame id was never seen in /tf or /tf_static."""


class DisconnectedFramesError(TransformLookupError):
    """Both frames are known but lie in different trees."""


class ExtrapolationError(TransformLookupError):
    """The requested stamp is outside the cached interval of some edge of the chain."""


def _normalise(frame_id: str) -> str:
    return frame_id.lstrip("/")


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (x, y, z, w), shortest path; t in [0, 1]."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: normalised lerp is exact enough and stable
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    s = np.sin(theta)
    return (np.sin((1.0 - t) * theta) * q0 + np.sin(t * theta) * q1) / s


def quat_to_R(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclass
class _Edge:
    """The transform parent <- child: one static value or a time-ordered cache."""

    parent: str
    static: bool
    stamps: list[int] = field(default_factory=list)  # sorted ns
    translations: list[np.ndarray] = field(default_factory=list)  # (3,)
    rotations: list[np.ndarray] = field(default_factory=list)  # (4,) x y z w

    def at(self, stamp_ns: int, child: str) -> tuple[np.ndarray, np.ndarray]:
        if self.static:
            return self.translations[0], self.rotations[0]
        stamps = self.stamps
        if stamp_ns == 0:
            return self.translations[-1], self.rotations[-1]
        if stamp_ns < stamps[0] or stamp_ns > stamps[-1]:
            when = "before the oldest" if stamp_ns < stamps[0] else "after the newest"
            raise ExtrapolationError(
                f"lookup of '{self.parent}' <- '{child}' at {stamp_ns * 1e-9:.3f} s would extrapolate: it is "
                f"{when} transform in the cache [{stamps[0] * 1e-9:.3f}, {stamps[-1] * 1e-9:.3f}] s")
        i = bisect.bisect_left(stamps, stamp_ns)
        if stamps[i] == stamp_ns:
            return self.translations[i], self.rotations[i]
        t0, t1 = stamps[i - 1], stamps[i]
        a = (stamp_ns - t0) / (t1 - t0)
        trans = (1.0 - a) * self.translations[i - 1] + a * self.translations[i]
        return trans, slerp(self.rotations[i - 1], self.rotations[i], a)

    def latest(self) -> int:
        return 0 if self.static else self.stamps[-1]

    def oldest(self) -> int:
        return 0 if self.static else self.stamps[0]


class _LookupSource:
    """What the node needs from a TF source: `lookup` (raises TransformLookupError), and `can_transform` on top."""

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        raise NotImplementedError

    def can_transform(self, target: str, source: str, stamp_ns: int) -> bool:
        try:
            self.lookup(target, source, stamp_ns)
            return True
        except TransformLookupError:
            return False


class TfBuffer(_LookupSource):
    """Transforms from /tf and /tf_static, looked up through the frame tree with interpolation.

    Thread-safe: subscriptions feed it while a worker thread looks up.
    """

    def __init__(self, cache_time_s: float = 10.0) -> None:
        if not cache_time_s > 0.0:
            raise ValueError(f"cache_time_s must be > 0, got {cache_time_s}")
        self.cache_time_ns = int(cache_time_s * 1e9)
        self._edges: dict[str, _Edge] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    # ------------------------------------------------------------------ feeding
    def set_transform(self, msg: Any, static: bool = False) -> None:
        """Add one geometry_msgs/TransformStamped (parent = header.frame_id, child = child_frame_id).

        NaN values, non-unit quaternions and empty / self-referencing frame ids raise InputError and leave the
        buffer unchanged.
        """
        parent, child = _normalise(msg.header.frame_id), _normalise(msg.child_frame_id)
        where = f"transform '{parent}' <- '{child}'"
        if not parent or not child or parent == child:
            raise InputError(f"{where}: frame ids must be non-empty and different")
        t, r = msg.transform.translation, msg.transform.rotation
        trans = np.array([t.x, t.y, t.z], dtype=np.float64)
        rot = np.array([r.x, r.y, r.z, r.w], dtype=np.float64)
        if not (np.all(np.isfinite(trans)) and np.all(np.isfinite(rot))):
            raise InputError(f"{where}: contains NaN or inf")
        norm = float(np.linalg.norm(rot))
        if abs(norm - 1.0) > QUATERNION_UNIT_TOLERANCE:
            raise InputError(f"{where}: quaternion norm {norm:.6f}, expected 1")
        rot = rot / norm
        stamp = stamp_to_ns(msg.header.stamp)
        with self._changed:
            edge = self._edges.get(child)
            if static or edge is None or edge.parent != parent or edge.static != static:
                edge = _Edge(parent=parent, static=static)
                self._edges[child] = edge
            if static:
                edge.stamps, edge.translations, edge.rotations = [0], [trans], [rot]
            else:
                i = bisect.bisect_left(edge.stamps, stamp)
                if i < len(edge.stamps) and edge.stamps[i] == stamp:  # same stamp: replace
                    edge.translations[i], edge.rotations[i] = trans, rot
                else:
                    edge.stamps.insert(i, stamp)
                    edge.translations.insert(i, trans)
                    edge.rotations.insert(i, rot)
                cut = bisect.bisect_left(edge.stamps, edge.stamps[-1] - self.cache_time_ns)
                if cut > 0:
                    del edge.stamps[:cut], edge.translations[:cut], edge.rotations[:cut]
            self._changed.notify_all()

    def set_transforms(self, msgs: Iterable[Any], static: bool = False) -> list[str]:
        """Add a list (e.g. a tf2_msgs/TFMessage's `transforms`); returns one error message per rejected item."""
        errors = []
        for msg in msgs:
            try:
                self.set_transform(msg, static)
            except InputError as exc:
                errors.append(str(exc))
        return errors

    def clear(self) -> None:
        with self._changed:
            self._edges.clear()

    # ------------------------------------------------------------------ lookups
    def frames(self) -> set[str]:
        with self._lock:
            return set(self._edges) | {e.parent for e in self._edges.values()}

    def _path_to_root(self, frame: str) -> list[str]:
        path = [frame]
        while path[-1] in self._edges:
            path.append(self._edges[path[-1]].parent)
            if len(path) > MAX_CHAIN:
                raise TransformLookupError(f"frame '{frame}': the TF tree has a cycle or is deeper than {MAX_CHAIN}")
        return path

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        """T_target_source (4, 4) at `stamp_ns` (0 = latest common time).

        Raises UnknownFrameError, DisconnectedFramesError or ExtrapolationError (all TransformLookupError).
        """
        target, source = _normalise(target), _normalise(source)
        with self._lock:
            return self._lookup_locked(target, source, int(stamp_ns))

    def _lookup_locked(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        if target == source:
            return np.eye(4)
        known = set(self._edges) | {e.parent for e in self._edges.values()}
        for frame in (target, source):
            if frame not in known:
                raise UnknownFrameError(f"frame '{frame}' does not exist in the TF tree (known: {sorted(known)[:12]})")
        up_source, up_target = self._path_to_root(source), self._path_to_root(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise DisconnectedFramesError(f"frames '{target}' and '{source}' are not connected: their roots are "
                                          f"'{up_target[-1]}' and '{up_source[-1]}'")
        chain_source = up_source[:up_source.index(common)]  # children below `common`, source first
        chain_target = up_target[:up_target.index(common)]
        if stamp_ns == 0:
            latest = [self._edges[c].latest() for c in chain_source + chain_target if not self._edges[c].static]
            stamp_ns = min(latest) if latest else 0
        T_common_source = self._compose(chain_source, stamp_ns)
        T_common_target = self._compose(chain_target, stamp_ns)
        return np.linalg.inv(T_common_target) @ T_common_source

    def _compose(self, chain: list[str], stamp_ns: int) -> np.ndarray:
        """T_top_chain[0] for the chain child -> ... -> (one below the top)."""
        T = np.eye(4)
        for child in chain:
            trans, rot = self._edges[child].at(stamp_ns, child)
            E = np.eye(4)
            E[:3, :3] = quat_to_R(rot)
            E[:3, 3] = trans
            T = E @ T
        return T

    def wait_for(self, target: str, source: str, stamp_ns: int, timeout_s: float,
                 stop: threading.Event | None = None) -> np.ndarray:
        """Like `lookup`, but waits up to `timeout_s` for the transform to arrive (never call from a callback).

        Returns early (raising the last lookup error) when `stop` is set.
        """
        import time

        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._changed:
            while True:
                try:
                    return self._lookup_locked(_normalise(target), _normalise(source), int(stamp_ns))
                except TransformLookupError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0.0 or (stop is not None and stop.is_set()):
                        raise
                    self._changed.wait(min(remaining, 0.05))


class Tf2Adapter(_LookupSource):
    """tf2_ros.Buffer behind the TfBuffer call shape (`lookup`, `can_transform`, `wait_for`)."""

    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer

    def _call(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> np.ndarray:
        import tf2_ros
        from rclpy.duration import Duration
        from rclpy.time import Time

        from gnesf_ros.ros.conversions import transform_to_matrix

        try:
            msg = self.buffer.lookup_transform(target, source, Time(nanoseconds=int(stamp_ns)),
                                               timeout=Duration(nanoseconds=int(timeout_s * 1e9)))
        except tf2_ros.ExtrapolationException as exc:
            raise ExtrapolationError(f"lookup '{target}' <- '{source}': {exc}") from exc
        except tf2_ros.ConnectivityException as exc:
            raise DisconnectedFramesError(f"lookup '{target}' <- '{source}': {exc}") from exc
        except (tf2_ros.LookupException, tf2_ros.TransformException) as exc:
            raise UnknownFrameError(f"lookup '{target}' <- '{source}': {exc}") from exc
        return transform_to_matrix(msg.transform, f"tf '{target}' <- '{source}'")

    def lookup(self, target: str, source: str, stamp_ns: int) -> np.ndarray:
        return self._call(target, source, stamp_ns, 0.0)

    def wait_for(self, target: str, source: str, stamp_ns: int, timeout_s: float,
                 stop: threading.Event | None = None) -> np.ndarray:
        return self._call(target, source, stamp_ns, timeout_s)
